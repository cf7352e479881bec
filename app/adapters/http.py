"""Outbound HTTP for every adapter: one pooled aiohttp session, whole answers, two failure kinds.

aiohttp rather than httpx because the service pays for each outside call in CPU on its one
event loop: a small request costs ~135 µs of client CPU here against ~1,550 µs with httpx.
The session is opened lazily inside the running loop (so per worker, never at import), keeps
connections alive, ignores proxy environment variables and keeps no cookies. Redirects are not
followed (a signed answer must come from the party asked). The whole body is read inside the call.

`timeout` counts as httpx counted it: getting a connection (a wait for the pool included) and
each read may take that long; it is not a deadline for the whole call.

aiohttp re-quotes a `str` URL (e.g. %7E becomes ~) and encodes `params` itself. Where a
signature covers the request target, build the URL with `exact_url` (already percent-encoded,
sent byte for byte) or as a `yarl.URL` and sign its `raw_path_qs`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from yarl import URL

__all__ = ["URL", "HttpClient", "HttpError", "HttpFailure", "HttpResponse", "HttpTimeout", "exact_url"]


class HttpError(Exception):
    """The call got no HTTP answer; whether the party acted on it is unknown.

    `reason` names what went wrong in a word (the transport's exception class), for messages.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class HttpTimeout(HttpError):
    """No connection, or no answer, within the timeout."""


class HttpFailure(HttpError):
    """Refused, reset or broken: a network or protocol failure other than a timeout."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: CIMultiDictProxy[str]  # case-insensitive: headers["wechatpay-serial"] == headers["Wechatpay-Serial"]
    content: bytes

    @property
    def text(self) -> str:
        """The body decoded with the Content-Type charset (UTF-8 when none or unknown)."""
        charset = "utf-8"
        for part in self.headers.get("Content-Type", "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        return orjson.loads(self.content)


def exact_url(url: str) -> URL:
    """A percent-encoded URL, sent exactly as written (one with spaces or non-ASCII gets encoded)."""
    if url.isascii() and url.isprintable() and " " not in url:
        return URL(url, encoded=True)
    return URL(url)


class HttpClient:
    """One aiohttp session for a process's adapters; `close()` it when the process stops."""

    def __init__(self, *, max_connections: int = 100, keepalive_seconds: float = 15.0) -> None:
        self._max_connections = max_connections
        self._keepalive_seconds = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=self._keepalive_seconds)
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
            # No invented Content-Type for a bare bytes body (aiohttp would say octet-stream).
            skip_auto_headers=("Content-Type",),
        )
        return self._session

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(total=None, connect=seconds, sock_read=seconds)
        return timeout

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float,  # noqa: ASYNC109 (per connect and per read, which asyncio.timeout cannot say)
    ) -> HttpResponse:
        session = self._session
        if session is None or session.closed:
            session = self._open()
        try:
            async with session.request(
                method, url, params=params, data=content, headers=headers, timeout=self._timeout(timeout),
                allow_redirects=False,
            ) as response:
                body = await response.read()
                return HttpResponse(status=response.status, headers=response.headers, content=body)
        except TimeoutError as exc:  # aiohttp's own timeouts subclass it too
            reason = type(exc).__name__
            raise HttpTimeout(f"{method} {_where(url)} timed out ({reason})", reason=reason) from exc
        except (aiohttp.ClientError, OSError) as exc:
            reason = type(exc).__name__
            raise HttpFailure(f"{method} {_where(url)} failed: {reason}", reason=reason) from exc

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
            await asyncio.sleep(0)  # let the transports finish closing before the loop may stop


def _where(url: str | URL) -> str:
    """Scheme, host and path only: query strings may carry secrets (WeChat's appsecret)."""
    return str(url).split("?", 1)[0].split("#", 1)[0]
