"""Answers agree with /openapi.json: their status is documented, in the documented content type
and shape (what a contract fuzzer such as schemathesis checks)."""

import secrets
from typing import Any

import httpx
import orjson

from tests.conftest import LiveServer, Session
from tests.handlers.test_catalogue import demo_catalogue  # noqa: F401  (the shared `demo` fixture)

ADMIN = "/api/v1/admin/catalogue"


def _documented(operation: dict[str, Any], status: int) -> dict[str, Any]:
    responses = operation["responses"]
    found = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
    assert found is not None, (status, sorted(responses))
    return found


def _matches(value: Any, schema: dict[str, Any], document: dict[str, Any]) -> bool:
    """The few JSON Schema keywords these answers need."""
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "const" in schema and value != schema["const"]:
        return False
    if schema.get("type") == "string" and not isinstance(value, str):
        return False
    if schema.get("type") == "object":
        if not isinstance(value, dict) or not set(schema.get("required", ())) <= set(value):
            return False
        properties = schema.get("properties", {})
        return all(_matches(value[key], properties[key], document) for key in value.keys() & properties.keys())
    return True


def _assert_conforms(
    document: dict[str, Any], operation: dict[str, Any], status: int, content_type: str, body: bytes
) -> None:
    documented = _documented(operation, status)
    if not body:
        return
    media = content_type.split(";")[0].strip()
    content = documented.get("content", {})
    assert media in content, (status, media, sorted(content))
    value = orjson.loads(body) if media == "application/json" else body.decode()
    assert _matches(value, content[media]["schema"], document), (status, value, content[media]["schema"])


async def test_channel_callbacks_document_the_channels_own_answers(api: httpx.AsyncClient, live: LiveServer) -> None:
    """API.md: the notify routes are answered in each channel's own format (WeChat Pay: a 2xx
    without a body, or {"code": "FAIL", ...}; Alipay: text `success` or `fail`), and that is
    what the document says, not our JSON error envelope."""
    document = (await api.get("/openapi.json")).json()
    channels = live.app.ctx.services.payments.notifies.channels
    for name in ("wechatpay", "alipay"):
        operation = document["paths"][f"/notify/{name}"]["post"]
        rejected = await api.post(f"/notify/{name}", content=b"not a notify")
        assert rejected.status_code == 400, rejected.text
        _assert_conforms(document, operation, rejected.status_code, rejected.headers["content-type"], rejected.content)
        accepted = channels[name].answer_notify(accepted=True)
        _assert_conforms(document, operation, accepted.status, accepted.content_type, accepted.body)
        too_large = await api.post(f"/notify/{name}", content=b"x" * (live.settings.service.max_body_bytes + 1))
        assert too_large.status_code == 413
        _assert_conforms(document, operation, 413, too_large.headers["content-type"], too_large.content)


async def test_null_in_a_zone_or_bundle_edit_is_refused_not_a_500(
    api: httpx.AsyncClient, operator: Session, demo: dict
) -> None:
    """PATCH sends null for a field that must hold a value: 422 naming the fields, nothing
    stored (it was a 500 from the audience check or the database). A zone's publishing window
    can still be cleared with null."""
    codes = demo["catalogue"].basic_codes
    zone = await api.post(f"{ADMIN}/zones", headers=operator.headers, json={
        "slug": "null-zone-" + secrets.token_hex(3), "title": "空值专区", "audiences": ["individual"],
        "region_code": "440100", "publish_until": "2030-01-01T00:00:00+08:00",
    })
    assert zone.status_code == 201, zone.text
    bundle = await api.post(f"{ADMIN}/bundles", headers=operator.headers, json={
        "slug": "null-bundle-" + secrets.token_hex(3), "title": "空值一件事", "audiences": ["individual"],
        "region_code": "440000", "basic_codes": [codes["内地居民结婚登记"], codes["生育登记"]],
    })
    assert bundle.status_code == 201, bundle.text
    for path, nulls in (
        (f"{ADMIN}/zones/{zone.json()['id']}", ("title", "icon", "description", "audiences", "region_code")),
        (f"{ADMIN}/bundles/{bundle.json()['id']}", ("title", "description", "audiences", "region_code", "basic_codes")),
    ):
        before = (await api.get(path, headers=operator.headers)).json()
        for name in nulls:
            refused = await api.patch(path, headers=operator.headers, json={"revision": 1, name: None})
            assert refused.status_code == 422, (name, refused.text)
            assert refused.json()["error"]["code"] == "validation_failed"
            assert refused.json()["error"]["context"]["fields"] == [{"field": name, "problem": "must not be null"}]
        assert (await api.get(path, headers=operator.headers)).json() == before
    cleared = await api.patch(f"{ADMIN}/zones/{zone.json()['id']}", headers=operator.headers,
                              json={"revision": 1, "publish_until": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["publish_until"] is None
