"""The sandboxes' helper routes (the phone, the payer, the agencies' back office) refuse bad bodies
with a 4xx in the service's error envelope, mounted in the service and standalone alike, and
their fault knobs store nothing when any part of a request is wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sanic import Sanic

from app.sandbox import create_sandbox_app
from tests.conftest import LiveServer, free_port

# Every helper route that takes a body, with the fields it reads.
HELPER_ROUTES: dict[str, tuple[str, ...]] = {
    "/sandbox/wechat/login-code": ("openid",),
    "/sandbox/wechat/phone-code": ("phone",),
    "/sandbox/wechat/face": ("verify_id", "outcome"),
    "/sandbox/wechat/subscribe": ("openid", "template_id", "count"),
    "/sandbox/wechat/faults": ("api", "errcodes", "answers"),
    "/sandbox/wechatpay/confirm": ("order_no", "prepay_id", "outcome", "pay_params"),
    "/sandbox/wechatpay/faults": (
        "calls", "notifies", "bill", "refund_outcome", "notify_signing", "rotate_platform_certificate",
    ),
    "/sandbox/alipay/confirm": ("order_no", "trade_no", "outcome"),
    "/sandbox/alipay/faults": ("calls", "notifies", "bill"),
    "/sandbox/traffic/fines": (
        "plate", "party_name", "fine", "due_date", "decision_no", "violation", "reversible",
    ),
    "/sandbox/traffic/faults": ("lookup", "settle", "reverse", "seed"),
    "/sandbox/tax/notices": ("kind", "payer_name", "items", "due_date", "notice_code", "description", "reversible"),
    "/sandbox/tax/faults": ("lookup", "settle", "reverse", "seed"),
    "/sandbox/licence-feed/publish": ("issuer", "records"),
}
NOT_OBJECTS = [b"[1,2,3]", b'"text"', b"5", b"null", b"true", b"{not json", b"NaN", b'{"a": NaN}',
               b"[" * 100_000 + b"]" * 100_000, b'{"order_no": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
               "{\"phone\": \"\xff\"}".encode("latin-1")]
WRONG_VALUES: list[Any] = [["x"], 5, -1, 1.5, True, "x", {"a": 1}, [[["x"]]], [{"mode": "timeout"}]]
# A route for which an empty object is a complete, valid request.
EMPTY_IS_VALID = {"/sandbox/wechat/login-code", "/sandbox/wechatpay/faults", "/sandbox/alipay/faults",
                  "/sandbox/traffic/faults", "/sandbox/tax/faults"}


def assert_envelope(response: httpx.Response, *, status: int | None = None) -> dict[str, Any]:
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code} {response.text[:300]}"
    assert 400 <= response.status_code < 500, where
    if status is not None:
        assert response.status_code == status, where
    assert response.headers["content-type"].startswith("application/json"), where
    body = response.json()
    assert set(body) == {"error", "request_id"}, where
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str), where
    assert set(body["error"]) <= {"code", "message", "context"}, where
    assert body["request_id"] == response.headers["x-request-id"], where
    return body["error"]


async def post_garbage_everywhere(client: httpx.AsyncClient) -> None:
    for path, names in HELPER_ROUTES.items():
        for raw in NOT_OBJECTS:
            response = await client.post(path, content=raw, headers={"Content-Type": "application/json"})
            assert assert_envelope(response, status=400)["code"] == "invalid_json"
        for value in WRONG_VALUES:
            error = assert_envelope(await client.post(path, json=dict.fromkeys(names, value)), status=422)
            field = error["context"].get("field", "")
            assert not field or field.split("[")[0].split(".")[0] in names, error
        if path not in EMPTY_IS_VALID:
            assert_envelope(await client.post(path, json={}), status=422)
    for path in ("/sandbox/wechatpay/orders/NOPE", "/sandbox/alipay/orders/NOPE", "/sandbox/traffic/fines/1",
                 "/sandbox/tax/notices/1"):
        assert_envelope(await client.get(path), status=404)


async def test_every_helper_route_refuses_garbage_in_the_envelope(api: httpx.AsyncClient, live: LiveServer) -> None:
    wechat = live.sandbox("wechat")
    faults_before = {api_: list(codes) for api_, codes in wechat.faults.items()}
    await post_garbage_everywhere(api)
    assert wechat.faults == faults_before
    assert live.sandbox("traffic").knobs.rules == {} and live.sandbox("tax").knobs.rules == {}


@pytest.fixture
async def standalone(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """`python -m app sandbox`: the same parties in their own app, without the service's renderer."""
    Sanic.test_mode = True
    app = create_sandbox_app(live.settings)
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False) as client:
            yield client
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()


async def test_the_standalone_sandbox_answers_the_same(standalone: httpx.AsyncClient) -> None:
    await post_garbage_everywhere(standalone)
    refused = await standalone.post("/sandbox/wechat/phone-code", json={"phone": "12345"})
    assert assert_envelope(refused, status=422) == {
        "code": "invalid_phone", "message": "phone: an 11-digit mainland number.",
        "context": {"field": "phone", "problem": "an 11-digit mainland number"},
    }
    assert (await standalone.post("/sandbox/wechat/phone-code", json={"phone": "13800138000"})).status_code == 200


async def test_wechat_faults_store_only_whole_valid_requests(api: httpx.AsyncClient, live: LiveServer) -> None:
    wechat = live.sandbox("wechat")
    before = {name: list(codes) for name, codes in wechat.faults.items()}
    for body in ({"api": 5, "errcodes": 5}, {"api": "jscode2session", "errcodes": 5},
                 {"api": "jscode2session", "errcodes": [-1, "x"]}, {"api": "jscode2session", "errcodes": [0]},
                 {"api": "jscode2session", "errcodes": [True]}, {"api": "jscode2session", "errcodes": []},
                 {"api": "not_an_api", "errcodes": [-1]}, {"api": ["jscode2session"], "errcodes": [-1]},
                 {"errcodes": [-1]}, {"api": "jscode2session"}, {"api": "jscode2session", "answers": []},
                 {"api": "jscode2session", "answers": ["html", "teapot"]}, {"api": "jscode2session", "answers": "html"},
                 {"api": "jscode2session", "answers": [1]}, {"api": "jscode2session", "errcodes": [-1], "answers": [None]},
                 {"api": "jscode2session", "errcodes": [], "answers": ["html"]}):
        error = assert_envelope(await api.post("/sandbox/wechat/faults", json=body), status=422)
        assert error["code"] == "invalid_fault" and error["context"]["field"] in {"api", "errcodes", "answers"}
    assert wechat.faults == before
    stored = await api.post("/sandbox/wechat/faults", json={"api": "getverifyid", "errcodes": [-1, 45011]})
    both = await api.post("/sandbox/wechat/faults",
                          json={"api": "queryverifyinfo", "errcodes": [40001], "answers": ["html", "list"]})
    try:
        assert stored.status_code == 200 and stored.json()["faults"]["getverifyid"][-2:] == [-1, 45011]
        assert both.status_code == 200 and both.json()["faults"]["queryverifyinfo"][-3:] == [40001, "html", "list"]
    finally:
        wechat.faults.pop("getverifyid", None)
        wechat.faults.pop("queryverifyinfo", None)


@pytest.mark.parametrize("agency", ["traffic", "tax"])
async def test_agency_faults_store_only_whole_valid_requests(api: httpx.AsyncClient, live: LiveServer,
                                                             agency: str) -> None:
    knobs = live.sandbox(agency).knobs
    for body in ({"junk": {"mode": "timeout"}},
                 {"settle": {"mode": "timeout"}, "junk": {"mode": "timeout"}},
                 {"settle": {"mode": "timeout"}, "lookup": {"mode": "explode"}},
                 {"settle": {"mode": "timeout", "times": "2"}}, {"settle": {"mode": "timeout", "times": 0}},
                 {"settle": {"mode": "timeout", "rate": 2}}, {"settle": {"mode": "timeout", "delay": -1}},
                 {"lookup": {"mode": "refuse"}}, {"settle": "timeout"}, {"seed": "x"}):
        error = assert_envelope(await api.post(f"/sandbox/{agency}/faults", json=body), status=422)
        assert error["code"] == "invalid_fault"
        assert knobs.rules == {}, body
    stored = await api.post(f"/sandbox/{agency}/faults", json={"reverse": {"mode": "refuse", "times": 1}})
    try:
        assert stored.status_code == 200 and set(stored.json()["faults"]) == {"reverse"}
    finally:
        await api.delete(f"/sandbox/{agency}/faults")
