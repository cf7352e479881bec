"""The operator console's static files: content types, security headers, caching, no escapes."""

from __future__ import annotations

import re

import httpx
import pytest

pytestmark = pytest.mark.asyncio

IMPORT = re.compile(r"""^import\s.*?from\s+['"](\.{1,2}/[^'"]+)['"];?$""", re.MULTILINE)


def assert_locked_down(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_index_is_html_with_a_strict_csp(api: httpx.AsyncClient) -> None:
    response = await api.get("/console/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert_locked_down(response)
    assert '<script type="module" src="./main.js"></script>' in response.text
    # The CSP forbids inline code, so the page must not rely on any.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text)
    assert " style=" not in response.text


async def test_javascript_and_css_have_their_content_types(api: httpx.AsyncClient) -> None:
    script = await api.get("/console/api.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert_locked_down(script)
    assert "/api/v1/auth/operator-login" in script.text
    style = await api.get("/console/console.css")
    assert style.headers["content-type"] == "text/css; charset=utf-8"


async def test_every_module_the_app_imports_is_served(api: httpx.AsyncClient) -> None:
    seen: set[str] = set()
    pending = ["main.js"]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        response = await api.get(f"/console/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith("text/javascript"), name
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        for target in IMPORT.findall(response.text):
            parts = (folder + target).split("/")
            resolved: list[str] = []
            for part in parts:
                if part == "..":
                    resolved.pop()
                elif part not in (".", ""):
                    resolved.append(part)
            pending.append("/".join(resolved))
    assert {"main.js", "api.js", "ui.js", "views/catalogue.js", "views/payments.js"} <= seen


async def test_an_unchanged_file_answers_304(api: httpx.AsyncClient) -> None:
    first = await api.get("/console/main.js")
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    again = await api.get("/console/main.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    other = await api.get("/console/main.js", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200
    assert (await api.get("/console/main.js", headers={"If-None-Match": "*"})).status_code == 304
    assert (await api.get("/console/main.js", headers={"If-None-Match": f'"stale", {etag}'})).status_code == 304


async def test_the_bare_path_redirects_to_the_app(api: httpx.AsyncClient) -> None:
    response = await api.get("/console", follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == "/console/"


@pytest.mark.parametrize(
    "path",
    [
        "/console/missing.js",
        "/console/../app/config.py",
        "/console/%2e%2e/%2e%2e/config.toml",
        "/console/..%2f..%2fconfig.toml",
        "/console/views/",
        "/console/assets.py",
    ],
)
async def test_unknown_paths_are_404_and_reveal_nothing(api: httpx.AsyncClient, path: str) -> None:
    response = await api.get(path)
    assert response.status_code == 404, path
    body = response.json()
    assert body["error"]["code"] == "not_found"
    assert "request_id" in body
