"""The router: Sanic's, answering HEAD wherever GET is allowed (RFC 9110 §9.3.2), and naming
the allowed methods in every 405.

Sanic routes HEAD only to routes that list it, so probes and caches sending HEAD to a GET route
got 405. Here a HEAD without a route of its own runs the GET handler; Sanic's HTTP layer then
sends the status and headers (Content-Length included) without the body. Sanic's 405 carries an
Allow header for static paths only (sanic-routing does not say what a dynamic path allows), so
the methods are found by asking the router for each.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from sanic.constants import HTTP_METHODS
from sanic.exceptions import MethodNotAllowed, NotFound
from sanic.router import Router as SanicRouter


class Router(SanicRouter):
    def _get(self, path: str, method: str, host: str | None) -> Any:
        try:
            return super()._get(path, method, host)
        except MethodNotAllowed:
            if method == "HEAD":
                with suppress(MethodNotAllowed):
                    return super()._get(path, "GET", host)
            raise MethodNotAllowed(
                f"Method {method} not allowed for URL {path}",
                method=method,
                allowed_methods=self.allowed_methods(path, host),
            ) from None

    def allowed_methods(self, path: str, host: str | None) -> list[str]:
        allowed = set()
        for method in HTTP_METHODS:
            with suppress(MethodNotAllowed, NotFound):
                super()._get(path, method, host)
                allowed.add(str(method))
        if "GET" in allowed:
            allowed.add("HEAD")
        return sorted(allowed)
