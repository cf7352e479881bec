"""JSON logs. Every line is one JSON object; access lines carry the request id.

Query strings are never logged (they can carry decision numbers, plates, ID fragments).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    for name in ("", "sanic.root", "sanic.error", "sanic.server", "app", "tortoise"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = name == ""
        logger.setLevel(level)
    logging.getLogger("sanic.access").disabled = True
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    logging.getLogger("tortoise").setLevel(max(logging.getLevelName(level), logging.WARNING))


access_log = logging.getLogger("app.access")
error_log = logging.getLogger("app.error")
