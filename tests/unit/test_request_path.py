"""The shared request path's shortcuts answer exactly what the slower originals did."""

import asyncio
import random
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import pytest
from pydantic import BaseModel, model_validator
from sanic.response import HTTPResponse

from app.errors import ValidationFailed
from handlers._endpoint import Response, parse_query, query_values
from handlers.service import RecentHealth


def args_first_values(query_string: str) -> dict[str, str]:
    """What parse_query used to build from request.args (Sanic's parse_qs defaults)."""
    parsed = parse_qs(query_string, keep_blank_values=False, strict_parsing=False, encoding="utf-8", errors="replace")
    return {key: values[0] for key, values in parsed.items() if values}


def test_query_values_match_request_args():
    pieces = ["a", "q", "=", "&", "+", " ", ";", "%", "%2", "%20", "%2B", "%E9", "%E9%A9%BE", "%zz", "驾", "x=", "=y"]
    rng = random.Random(7)
    samples = [
        "",
        "region=440106&audience=individual",
        "q=%E9%A9%BE%E9%A9%B6%E8%AF%81&page=2",
        "q=a+b&q=second",
        "flag&blank=&=anonymous",
        *("".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(20_000)),
    ]
    for query_string in samples:
        assert query_values(query_string) == args_first_values(query_string), query_string


class Meddling(BaseModel):
    page: int = 1
    seen: int = 0

    @model_validator(mode="before")
    @classmethod
    def count(cls, data: Any) -> Any:
        data["seen"] = data.get("seen", 0) + 1  # changes the dict it is given
        return data


def test_remembered_query_strings_answer_like_fresh_ones():
    request: Any = SimpleNamespace(query_string="page=2")
    assert [parse_query(request, Meddling).seen for _ in range(3)] == [1, 1, 1]
    assert parse_query(request, Meddling).page == 2
    bad: Any = SimpleNamespace(query_string="page=x")
    for _ in range(2):
        with pytest.raises(ValidationFailed) as raised:
            parse_query(bad, Meddling)
        assert [problem["field"] for problem in raised.value.context["fields"]] == ["page"]


def test_response_headers_are_scrubbed_like_sanic_does():
    headers = {"ETag": '"abc"', "X-Name": "驾驶证", "X-Bad": "one\r\ntwo\x00three", "X-Tab": "a\tb"}
    ours = Response(b"{}", headers=headers, content_type="application/json")
    sanic = HTTPResponse(b"{}", headers=headers, content_type="application/json")
    assert list(ours.processed_headers) == list(sanic.processed_headers)
    assert (b"X-Bad", b"onetwothree") in list(ours.processed_headers)


class Checks:
    def __init__(self) -> None:
        self.answers = [{"database": True, "redis": True}]
        self.calls = 0

    async def __call__(self) -> dict[str, bool]:
        self.calls += 1
        await asyncio.sleep(0)
        return self.answers[min(self.calls, len(self.answers)) - 1]


async def test_recent_health_is_reused_for_a_second_then_checked_again():
    now = [100.0]
    checks = Checks()
    checks.answers.append({"database": True, "redis": False})
    recent = RecentHealth(checks, reuse_seconds=1.0, clock=lambda: now[0])
    assert await recent() == {"database": True, "redis": True}
    now[0] += 0.9
    assert await recent() == {"database": True, "redis": True}
    assert checks.calls == 1
    now[0] += 0.2
    assert await recent() == {"database": True, "redis": False}  # the store went down: seen within the second
    assert checks.calls == 2


async def test_recent_health_callers_share_one_running_check():
    checks = Checks()
    recent = RecentHealth(checks, reuse_seconds=1.0)
    answers = await asyncio.gather(*(recent() for _ in range(20)))
    assert checks.calls == 1
    assert all(answer == {"database": True, "redis": True} for answer in answers)
