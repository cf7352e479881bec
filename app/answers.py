"""JSON for answers: the one place that decides how an answer's values are written.

Times are stored in UTC and shown in Asia/Shanghai (STYLE.md: "Asia/Shanghai only at the
edges"), so every aware datetime in an answer goes out as ISO 8601 with +08:00, whichever
service produced it; dates as ISO dates. Handlers, and the services that keep answers rendered
in a cache (the profile, the catalogue), write through `dumps`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _time(value: datetime | date) -> str:
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # stored times are UTC
        if _SHOWN_YEARS[0] <= aware.year <= _SHOWN_YEARS[1]:
            return aware.astimezone(SHANGHAI).isoformat()
        # Requests only take times in 2000-2099 (handlers/_fields.py), but a row stored before
        # may hold any: 9999-12-31 in +08:00 overflows, and before 1901 the zone's offset is the
        # local mean time (+08:05:43). Such a time goes out as it is, so the answer still does.
        return aware.isoformat()
    return value.isoformat()


# Years whose times convert to Beijing time without overflow, at a whole-minute offset.
_SHOWN_YEARS = (1901, 9998)


def dumps(data: Any, *, default: Any = None) -> bytes:
    """`data` as JSON bytes; `default` handles further types (pydantic models, at the edge)."""

    def fallback(value: Any) -> Any:
        if isinstance(value, (datetime, date)):
            return _time(value)
        if default is not None:
            return default(value)
        raise TypeError(f"cannot serialise {type(value).__name__}")

    return orjson.dumps(data, default=fallback, option=orjson.OPT_PASSTHROUGH_DATETIME)
