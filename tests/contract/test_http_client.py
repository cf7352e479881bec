"""app.adapters.http against a real local HTTP/1.1 server: answers, exact targets, failures, pooling."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from app.adapters.http import HttpClient, HttpError, HttpFailure, HttpTimeout, exact_url
from tests.conftest import free_port


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    base_url: str
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0


def _answer(status: int, body: bytes, headers: dict[str, str]) -> bytes:
    reason = {200: "OK", 302: "Found", 503: "Service Unavailable"}.get(status, "Status")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _route(seen: Seen) -> bytes:
    path = seen.target.split("?", 1)[0]
    if path == "/hang":
        await asyncio.sleep(30)
    if path == "/redirect":
        return _answer(302, b"", {"Location": "/hello"})
    if path == "/busy":
        return _answer(503, b"busy", {"Content-Type": "text/plain"})
    if path == "/gbk":
        return _answer(200, "成功".encode("gbk"), {"Content-Type": "text/plain; charset=GBK"})
    body = json.dumps({"ok": True, "name": "张三", "target": seen.target}, ensure_ascii=False).encode()
    return _answer(200, body, {"Content-Type": "application/json", "Wechatpay-Serial": "ABC123"})


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    port = free_port()
    state = Server(base_url=f"http://127.0.0.1:{port}")

    handlers: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen = Seen(method, target, headers, body)
                state.seen.append(seen)
                writer.write(await _route(seen))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            handlers.discard(task)

    listener = await asyncio.start_server(serve, "127.0.0.1", port)
    yield state
    listener.close()
    for task in list(handlers):
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    await listener.wait_closed()


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    client = HttpClient()
    yield client
    await client.close()


async def test_an_answer_has_status_case_insensitive_headers_and_the_whole_body(server: Server, http: HttpClient):
    response = await http.request("GET", server.base_url + "/hello", timeout=2)
    assert response.status == 200
    assert response.headers["wechatpay-serial"] == response.headers["WECHATPAY-SERIAL"] == "ABC123"
    assert response.json() == {"ok": True, "name": "张三", "target": "/hello"}
    assert "张三" in response.text and response.content.startswith(b"{")


async def test_text_follows_the_declared_charset(server: Server, http: HttpClient):
    assert (await http.request("GET", server.base_url + "/gbk", timeout=2)).text == "成功"


async def test_body_headers_and_params_are_sent_without_inventions(server: Server, http: HttpClient):
    await http.request("POST", server.base_url + "/hello", params={"access_token": "t k"}, content=b'{"a":1}',
                       headers={"Content-Type": "application/json", "X-Trace": "1"}, timeout=2)
    await http.request("PUT", server.base_url + "/hello", content=b"\x00raw", timeout=2)
    posted, put = server.seen
    assert (posted.method, posted.body, posted.headers["content-type"], posted.headers["x-trace"]) == (
        "POST", b'{"a":1}', "application/json", "1")
    assert posted.target in ("/hello?access_token=t+k", "/hello?access_token=t%20k")
    assert put.body == b"\x00raw" and "content-type" not in put.headers
    assert "cookie" not in posted.headers


async def test_an_exact_url_goes_out_byte_for_byte(server: Server, http: HttpClient):
    target = "/v3/pay/transactions/out-trade-no/A%2FB%7E?mchid=1900&x=%41"
    await http.request("GET", exact_url(server.base_url + target), timeout=2)
    assert server.seen[-1].target == target
    await http.request("GET", exact_url(server.base_url + "/fines/粤B 1"), timeout=2)  # not encoded yet: encoded
    assert server.seen[-1].target == "/fines/%E7%B2%A4B%201"


async def test_error_statuses_and_redirects_are_answers_not_exceptions(server: Server, http: HttpClient):
    busy = await http.request("GET", server.base_url + "/busy", timeout=2)
    assert (busy.status, busy.content) == (503, b"busy")
    moved = await http.request("GET", server.base_url + "/redirect", timeout=2)
    assert (moved.status, moved.headers["location"]) == (302, "/hello")
    assert [s.target for s in server.seen] == ["/busy", "/redirect"]  # not followed


async def test_no_answer_in_time_is_an_http_timeout(server: Server, http: HttpClient):
    started = asyncio.get_running_loop().time()
    with pytest.raises(HttpTimeout) as caught:
        await http.request("GET", server.base_url + "/hang?secret=s3cr3t", timeout=0.2)
    assert asyncio.get_running_loop().time() - started < 2
    assert isinstance(caught.value, HttpError) and "s3cr3t" not in str(caught.value)


async def test_a_refused_connection_is_an_http_failure(http: HttpClient):
    with pytest.raises(HttpFailure) as caught:
        await http.request("GET", f"http://127.0.0.1:{free_port()}/x", timeout=2)
    assert isinstance(caught.value, HttpError) and not isinstance(caught.value, HttpTimeout)
    assert caught.value.reason


async def test_one_session_and_one_kept_alive_connection_serve_every_call(server: Server, http: HttpClient):
    await http.request("GET", server.base_url + "/hello", timeout=2)
    session = http._session
    for _ in range(5):
        await http.request("GET", server.base_url + "/hello", timeout=2)
    assert http._session is session
    assert server.connections == 1


async def test_a_closed_client_opens_a_new_session_when_used_again(server: Server, http: HttpClient):
    await http.request("GET", server.base_url + "/hello", timeout=2)
    await http.close()
    assert (await http.request("GET", server.base_url + "/hello", timeout=2)).status == 200
