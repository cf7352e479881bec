"""What the sandboxes' helper routes share: a JSON object body read field by field, and bad input
answered in the service's error envelope `{"error": {"code", "message", "context"}, "request_id"}`.

Helper routes play the phone, the user or an agency's back office. The protocol routes beside them
answer in each party's own format (WeChat's errcode/errmsg, WeChat Pay's code/message, Alipay's
gateway response, the agencies' signed errors) and never use this module.

The renderer is registered on each sandbox blueprint, not on an app, so a helper route answers the
same wherever its blueprint is mounted: in the service (the embedded default), in
`python -m app sandbox`, or in a test's bare Sanic app.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Mapping
from datetime import date
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from app.errors import AppError

MAX_TEXT = 200
MAX_ITEMS = 1000


class HelperError(AppError):
    """Bad input to a helper route; the status and stable code are chosen where it is raised."""

    def __init__(self, status: int, code: str, message: str, *, context: dict[str, Any] | None = None) -> None:
        super().__init__(message, context=context)
        self.status, self.code = status, code


def not_found(code: str, message: str, **context: Any) -> HelperError:
    return HelperError(404, code, message, context=context)


def conflict(code: str, message: str, **context: Any) -> HelperError:
    return HelperError(409, code, message, context=context)


def answer_errors_in_envelope(bp: Blueprint) -> None:
    """Render HelperError from this blueprint's routes as the service renders its own errors."""
    bp.exception(HelperError)(_render)


def _render(request: Request, exc: HelperError) -> HTTPResponse:
    # The service's request middleware has set the id when the blueprint is mounted there.
    request_id = getattr(request.ctx, "request_id", None) or os.urandom(16).hex()
    error: dict[str, Any] = {"code": exc.code, "message": exc.detail}
    if exc.context:
        error["context"] = exc.context
    return json_response(
        {"error": error, "request_id": request_id}, status=exc.status, headers={"X-Request-ID": request_id}
    )


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body reads as {}. Anything else (malformed JSON, an
    array, a string, a number, NaN, nesting too deep to parse) is 400 invalid_json."""
    if not request.body:
        return {}
    try:
        data = json.loads(request.body, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise HelperError(400, "invalid_json", "Send the body as a JSON object.")
    return data


class Fields:
    """Typed reads of one helper body. The first bad field raises 422 with the route's `code`
    and names the field in the context: {"field": "items[0].amount", "problem": "..."}."""

    def __init__(self, body: Mapping[str, Any], *, code: str, prefix: str = "") -> None:
        self.body, self.code, self.prefix = body, code, prefix

    def invalid(self, name: str, problem: str) -> HelperError:
        where = self.prefix + name
        return HelperError(422, self.code, f"{where}: {problem}.", context={"field": where, "problem": problem})

    def optional_text(self, name: str, *, pattern: re.Pattern[str] | None = None, problem: str = "",
                      max_length: int = MAX_TEXT) -> str | None:
        """A string, or None when the field is absent, null or empty."""
        value = self.body.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.invalid(name, "must be a string")
        if len(value) > max_length:
            raise self.invalid(name, f"at most {max_length} characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.invalid(name, problem or f"must match {pattern.pattern}")
        return value

    def text(self, name: str, *, pattern: re.Pattern[str] | None = None, problem: str = "",
             max_length: int = MAX_TEXT) -> str:
        value = self.optional_text(name, pattern=pattern, problem=problem, max_length=max_length)
        if value is None:
            raise self.invalid(name, "required")
        return value

    def choice(self, name: str, options: Collection[str], *, default: str | None = None) -> str:
        value = self.body.get(name, default)
        if not isinstance(value, str) or value not in options:
            raise self.invalid(name, "one of " + ", ".join(options))
        return value

    def integer(self, name: str, *, default: int | None = None, minimum: int | None = None,
                maximum: int | None = None) -> int:
        value = self.body.get(name, default)
        if value is None:
            raise self.invalid(name, "required")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.invalid(name, "must be an integer")
        if minimum is not None and value < minimum:
            raise self.invalid(name, f"at least {minimum}")
        if maximum is not None and value > maximum:
            raise self.invalid(name, f"at most {maximum}")
        return value

    def flag(self, name: str, *, default: bool) -> bool:
        value = self.body.get(name, default)
        if not isinstance(value, bool):
            raise self.invalid(name, "true or false")
        return value

    def optional_day(self, name: str) -> date | None:
        value = self.optional_text(name, max_length=10)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.invalid(name, "a date as YYYY-MM-DD") from None

    def objects(self, name: str, *, max_items: int = MAX_ITEMS) -> list[Fields]:
        """A list of JSON objects (absent or null: empty), each readable as Fields of its own."""
        value = self.body.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > max_items:
            raise self.invalid(name, f"a list of at most {max_items} objects")
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.invalid(f"{name}[{index}]", "must be an object")
        return [Fields(item, code=self.code, prefix=f"{self.prefix}{name}[{index}].") for index, item in enumerate(value)]
