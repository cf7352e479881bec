"""Answers agree with /openapi.json: their status is documented, in the documented content type
and shape (what a contract fuzzer such as schemathesis checks)."""

import inspect
import itertools
import re
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import orjson
import pytest
from sanic import Request
from sanic.exceptions import ServerError

from app.ports import AgencyError, ChannelError
from tests.conftest import LiveServer, Session, bind_realname, login, pass_face
from tests.factories import make_id_number
from tests.handlers.test_catalogue import demo_catalogue  # noqa: F401  (the shared `demo` fixture)
from tests.handlers.test_licences import World, make_business, world  # noqa: F401  (the shared `world` fixture)
from tests.test_payment_support import (
    make_fine,
    make_notice,
    open_payment,
    paid_unsettled_order,
    pay_in_sandbox,
    wait_for_status,
)

ADMIN = "/api/v1/admin/catalogue"


def _documented(operation: dict[str, Any], status: int) -> dict[str, Any]:
    responses = operation["responses"]
    found = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
    assert found is not None, (status, sorted(responses))
    return found


def _resolve(document: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in found:
        section, name = found["$ref"].split("/")[-2:]
        found = document["components"][section][name]
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
    documented = _resolve(document, _documented(operation, status))
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


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]


async def test_the_document_is_valid_openapi_3_1(api: httpx.AsyncClient) -> None:
    definitions = pytest.importorskip("schemathesis.specs.openapi.definitions")
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    document = (await api.get("/openapi.json")).json()
    errors = [str(e) for e in jsonschema_rs.validator_for(definitions.OPENAPI_31).iter_errors(document)]
    assert errors == [], errors[:5]


async def test_every_route_documents_store_unavailable_and_limited_ones_429(
    api: httpx.AsyncClient, live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README "The API": a store outage answers 503 `store_unavailable` with Retry-After on any
    route (the shared renderer), and a rate-limited route answers 429 with Retry-After."""
    document = (await api.get("/openapi.json")).json()
    for path, method, operation in _operations(document):
        unavailable = _resolve(document, _documented(operation, 503))
        if path == "/healthz":  # its own answer: which store is down
            assert unavailable["content"]["application/json"]["schema"]["required"] == ["status", "checks"]
            continue
        assert "store_unavailable" in unavailable["description"], (method, path)
        assert _resolve(document, unavailable["headers"]["Retry-After"])["schema"]["type"] == "integer"
        if "rate_limited" in operation["responses"]["4XX"]["description"]:
            limited = _resolve(document, operation["responses"]["429"])
            assert limited["headers"]["Retry-After"]["required"] is True, (method, path)
    limited_routes = {(p, m) for p, m, op in _operations(document) if "429" in op["responses"]}
    assert {("/api/v1/auth/login", "post"), ("/api/v1/auth/operator-login", "post"),
            ("/api/v1/auth/face/start", "post"), ("/api/v1/me/phone", "post")} <= limited_routes
    # The 503 a store outage gives is the documented one.
    async def cut(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError(111, "store cut by the test")

    monkeypatch.setattr(live.app.ctx.services.catalogue.reader, "region_tree", cut)
    answer = await api.get("/api/v1/regions")
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "store_unavailable", answer.text
    operation = document["paths"]["/api/v1/regions"]["get"]
    _assert_conforms(document, operation, 503, answer.headers["content-type"], answer.content)
    assert "Retry-After" in _resolve(document, operation["responses"]["503"])["headers"]
    assert int(answer.headers["Retry-After"]) >= 1


def _allows_null(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or any(_allows_null(choice) for choice in schema.get("anyOf", ()))


async def test_patch_bodies_offer_null_only_where_the_service_takes_it(
    api: httpx.AsyncClient, operator: Session, demo: dict
) -> None:
    """Each PATCH body field the document lets be null is taken as null, and each other field
    sent as null is refused with 422 (so a fuzzer following the document meets no surprise)."""
    from tests.handlers.test_catalogue_admin import item_payload

    document = (await api.get("/openapi.json")).json()
    codes = demo["catalogue"].basic_codes
    item = await api.post(f"{ADMIN}/items", headers=operator.headers, json=item_payload(demo))
    zone = await api.post(f"{ADMIN}/zones", headers=operator.headers, json={
        "slug": "patch-zone-" + secrets.token_hex(3), "title": "编辑专区", "audiences": ["individual"],
        "region_code": "440100", "publish_from": "2024-01-01T00:00:00+08:00",
    })
    bundle = await api.post(f"{ADMIN}/bundles", headers=operator.headers, json={
        "slug": "patch-bundle-" + secrets.token_hex(3), "title": "编辑一件事", "audiences": ["individual"],
        "region_code": "440000", "basic_codes": [codes["内地居民结婚登记"], codes["生育登记"]],
    })
    assert [r.status_code for r in (item, zone, bundle)] == [201] * 3, (item.text, zone.text, bundle.text)
    targets = {
        "/api/v1/admin/catalogue/items/{code}": f"{ADMIN}/items/{item.json()['code']}",
        "/api/v1/admin/catalogue/zones/{zone_id}": f"{ADMIN}/zones/{zone.json()['id']}",
        "/api/v1/admin/catalogue/bundles/{bundle_id}": f"{ADMIN}/bundles/{bundle.json()['id']}",
    }
    patched = {path for path, method, _ in _operations(document) if method == "patch"}
    assert patched == set(targets)
    nullable = {}
    for path, url in targets.items():
        body = _resolve(document, document["paths"][path]["patch"]["requestBody"]["content"]["application/json"]["schema"])
        nullable[path] = {name for name, prop in body["properties"].items() if _allows_null(prop)}
        for name in sorted(set(body["properties"]) - {"revision"}):
            revision = (await api.get(url, headers=operator.headers)).json()["revision"]
            answer = await api.patch(url, headers=operator.headers, json={"revision": revision, name: None})
            assert (answer.status_code == 200) is (name in nullable[path]), (path, name, answer.text)
            if answer.status_code != 200:
                assert answer.status_code == 422, (path, name, answer.text)
                assert answer.json()["error"]["context"]["fields"] == [{"field": name, "problem": "must not be null"}]
    assert nullable == {
        "/api/v1/admin/catalogue/items/{code}": set(),
        "/api/v1/admin/catalogue/zones/{zone_id}": {"publish_from", "publish_until"},
        "/api/v1/admin/catalogue/bundles/{bundle_id}": set(),
    }


async def test_sandbox_routes_are_not_in_the_contract(api: httpx.AsyncClient, live: LiveServer) -> None:
    """The sandbox plays outside parties in development and tests; production never serves it,
    so /openapi.json (the contract) leaves its routes out even while they are mounted."""
    assert live.settings.sandbox.enabled
    assert (await api.post("/sandbox/wechat/login-code", json={})).status_code == 200
    document = (await api.get("/openapi.json")).json()
    assert [path for path in document["paths"] if path.startswith("/sandbox")] == []
    assert all("sandbox" not in op.get("tags", ()) for _, _, op in _operations(document))


_ROUTE_PARAM = re.compile(r"<([a-zA-Z_][a-zA-Z0-9_]*)(?::[^>]+)?>")


class _Recorded:
    """An outside party's adapter that notes which route called it: the request being answered
    when the call was made (background work such as the payment worker answers none)."""

    def __init__(self, party: Any, calls: set[tuple[str, str]]) -> None:
        self._party = party
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._party, name)
        if not inspect.iscoroutinefunction(value):
            return value

        async def recorded(*args: Any, **kwargs: Any) -> Any:
            try:
                request = Request.get_current()
            except ServerError:
                request = None
            if request is not None and request.route is not None:
                path = "/" + _ROUTE_PARAM.sub(r"{\1}", request.route.path.lstrip("/"))
                self._calls.add((path, request.method.lower()))
            return await value(*args, **kwargs)

        return recorded


def _outside_parties(live: LiveServer) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Where the services hold WeChat, the pay channels and the billing agencies."""
    services = live.app.ctx.services
    payments = services.payments
    channels, agencies = payments.orders.channels, payments.orders.agencies
    # One dict each, shared by every desk: replacing an entry reaches all of them.
    assert payments.refunds.channels is channels and payments.reconciler.channels is channels
    assert payments.reversals.agencies is agencies and payments.reconciler.agencies is agencies
    return services.identity, channels, agencies


def _documents_bad_gateway(document: dict[str, Any], operation: dict[str, Any]) -> bool:
    documented = operation["responses"].get("502")
    if documented is None:
        return False
    schema = _resolve(document, documented)["content"]["application/json"]["schema"]
    return schema == {"$ref": "#/components/schemas/Error"} and "upstream_error" in documented["description"]


async def test_routes_that_call_an_outside_party_document_502(
    api: httpx.AsyncClient, live: LiveServer, operator: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A route that calls WeChat, a pay channel or a billing agency while it answers may answer
    502 upstream_error (README "The API"): each such route documents it with the Error envelope.
    Which routes call out is observed here, not taken from the routes' own declarations."""
    calls: set[tuple[str, str]] = set()
    identity, channels, agencies = _outside_parties(live)
    monkeypatch.setattr(identity, "wechat", _Recorded(identity.wechat, calls))
    for parties in (channels, agencies):
        for name, party in list(parties.items()):
            monkeypatch.setitem(parties, name, _Recorded(party, calls))

    resident = await pass_face(api, await bind_realname(api, await login(api)))
    phone_code = (await api.post("/sandbox/wechat/phone-code", json={"phone": "13800138000"})).json()["code"]
    assert (await api.post("/api/v1/me/phone", json={"code": phone_code}, headers=resident.headers)).status_code == 200
    fine = await make_fine(api)
    found = await api.get("/api/v1/fines", params={"decision_no": fine["decision_no"], "plate": fine["plate"]},
                          headers=resident.headers)
    assert found.status_code == 200, found.text
    notice = await make_notice(api)
    assert (await api.get(f"/api/v1/bills/{notice['notice_code']}", headers=resident.headers)).status_code == 200
    assert (await open_payment(api, resident.headers, fine)).status_code == 201
    long_ago = (date.today() - timedelta(days=400)).isoformat()  # a day no other test reconciles
    reconciled = await api.post("/api/v1/admin/reconciliations", json={"date": long_ago}, headers=operator.headers)
    assert reconciled.status_code == 201, reconciled.text

    assert calls >= {
        ("/api/v1/auth/login", "post"), ("/api/v1/auth/face/start", "post"), ("/api/v1/auth/face/finish", "post"),
        ("/api/v1/me/phone", "post"), ("/api/v1/fines", "get"), ("/api/v1/bills/{notice_code}", "get"),
        ("/api/v1/payments", "post"), ("/api/v1/admin/reconciliations", "post"),
    }
    document = (await api.get("/openapi.json")).json()
    undocumented = sorted(
        (path, method) for path, method in calls
        if not _documents_bad_gateway(document, document["paths"][path][method])
    )
    assert undocumented == []


async def test_every_declared_5xx_code_is_documented_with_its_status(api: httpx.AsyncClient, live: LiveServer) -> None:
    """A code a route declares in `errors` is documented under its own status: a 502 code
    (upstream_error, channel_refused) under 502, not dropped with the 4XX list."""
    from handlers._openapi import _codes_by_status, _concrete_paths

    statuses = _codes_by_status()
    document = (await api.get("/openapi.json")).json()
    declared_502 = set()
    for route in live.app.router.routes:
        spec = getattr(route.handler, "__endpoint__", None)
        if spec is None or spec.responses:  # a channel callback documents its own answers
            continue
        paths = [path for path, _, _ in _concrete_paths("/" + route.path.lstrip("/"), spec)]
        for path, method in itertools.product(paths, route.methods - {"HEAD", "OPTIONS"}):
            operation = document["paths"][path][method.lower()]
            for code in spec.errors:
                status = statuses.get(code, 400)
                if status < 500:
                    assert code in operation["responses"]["4XX"]["description"], (path, method, code)
                    continue
                documented = _resolve(document, operation["responses"][str(status)])
                assert code in documented["description"], (path, method, code, status)
                if status == 502:
                    declared_502.add((path, method.lower()))
    assert ("/api/v1/payments", "post") in declared_502


class _Failing:
    """An outside party whose calls named in `failures` raise; the rest go to the real one."""

    def __init__(self, party: Any, failures: dict[str, Exception]) -> None:
        self._party = party
        self._failures = failures

    def __getattr__(self, name: str) -> Any:
        if name in self._failures:
            failure = self._failures[name]

            async def fail(*args: Any, **kwargs: Any) -> Any:
                raise failure

            return fail
        return getattr(self._party, name)


async def test_outside_failures_answer_what_the_document_says(
    api: httpx.AsyncClient, live: LiveServer, resident: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pay channel refusing an order answers 502 channel_refused, and an agency that does not
    answer 503 agency_unavailable: both as the document describes them."""
    document = (await api.get("/openapi.json")).json()
    _, channels, agencies = _outside_parties(live)
    fine = await make_fine(api)
    refused = ChannelError("the channel refused the order", code="channel_rejected", retryable=False)
    monkeypatch.setitem(channels, "wechatpay", _Failing(channels["wechatpay"], {"create": refused}))
    answer = await open_payment(api, resident.headers, fine)
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "channel_refused", answer.text
    operation = document["paths"]["/api/v1/payments"]["post"]
    _assert_conforms(document, operation, 502, answer.headers["content-type"], answer.content)
    assert "channel_refused" in operation["responses"]["502"]["description"]

    silent = AgencyError("the agency did not answer", code="agency_timeout", retryable=True)
    for name in list(agencies):
        monkeypatch.setitem(agencies, name, _Failing(agencies[name], {"lookup": silent}))
    answer = await api.get("/api/v1/fines", params={"decision_no": fine["decision_no"], "plate": fine["plate"]},
                           headers=resident.headers)
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "agency_unavailable", answer.text
    operation = document["paths"]["/api/v1/fines"]["get"]
    _assert_conforms(document, operation, 503, answer.headers["content-type"], answer.content)
    assert "agency_unavailable" in _resolve(document, operation["responses"]["503"])["description"]


async def test_a_reconciliation_whose_bills_cannot_be_fetched_answers_502_or_503_and_stores_nothing(
    api: httpx.AsyncClient, live: LiveServer, operator: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A channel or agency failing the bill download is the outside party's failure (it was a
    500): 503 when trying again may work, 502 when it refused; no run is stored either way."""
    document = (await api.get("/openapi.json")).json()
    operation = document["paths"]["/api/v1/admin/reconciliations"]["post"]
    _, channels, agencies = _outside_parties(live)
    day = (date.today() - timedelta(days=401)).isoformat()
    failures = [
        (channels, "download_bill", ChannelError("timed out", code="channel_timeout"), 503, "channel_unavailable"),
        (channels, "download_bill", ChannelError("no", code="bill_unavailable", retryable=False), 502,
         "channel_refused"),
        (agencies, "settlements_on", AgencyError("timed out", code="agency_timeout"), 503, "agency_unavailable"),
        (agencies, "settlements_on", AgencyError("no", code="agency_refused", retryable=False), 502, "upstream_error"),
    ]
    for parties, call, failure, status, code in failures:
        with monkeypatch.context() as patch:
            name = sorted(parties)[0]
            patch.setitem(parties, name, _Failing(parties[name], {call: failure}))
            answer = await api.post("/api/v1/admin/reconciliations", json={"date": day}, headers=operator.headers)
        assert answer.status_code == status and answer.json()["error"]["code"] == code, answer.text
        _assert_conforms(document, operation, status, answer.headers["content-type"], answer.content)
    runs = await api.get("/api/v1/admin/reconciliations", params={"date": day}, headers=operator.headers)
    assert runs.status_code == 200 and runs.json()["runs"] == []


async def test_a_refund_the_channel_refuses_answers_201_failed_as_documented(
    api: httpx.AsyncClient, live: LiveServer, resident: Session, operator: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refund route documented a 502 it never answers: a channel's refusal is the refund's
    recorded outcome (201, the refund `failed`, the order `paid` and refundable again)."""
    document = (await api.get("/openapi.json")).json()
    responses = document["paths"]["/api/v1/admin/payments/{order_no}/refunds"]["post"]["responses"]
    assert "201" in responses and "502" not in responses
    order = await paid_unsettled_order(api, live, resident)
    _, channels, _ = _outside_parties(live)
    refused = ChannelError("the channel refused the refund", code="refund_rejected", retryable=False)
    monkeypatch.setitem(channels, "wechatpay", _Failing(channels["wechatpay"], {"refund": refused}))
    answer = await api.post(f"/api/v1/admin/payments/{order['order_no']}/refunds",
                            json={"amount": order["amount"], "reason": "多缴"}, headers=operator.headers)
    assert answer.status_code == 201 and answer.json()["status"] == "failed", answer.text
    shown = (await api.get(f"/api/v1/admin/payments/{order['order_no']}", headers=operator.headers)).json()
    assert shown["status"] == "paid" and [r["status"] for r in shown["refunds"]] == ["failed"]


def _schema_validator(document: dict[str, Any], name: str) -> Any:
    """A JSON Schema validator for components/schemas/<name>, its $refs resolved in the document."""
    jsonschema = pytest.importorskip("jsonschema")
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    )


async def test_the_guide_is_documented_with_the_services_own_schema(
    api: httpx.AsyncClient, operator: Session, demo: dict
) -> None:
    """Bodies that carry a guide (create, edit, import) and the service item answer show the
    service's guide schema (GUIDE_SCHEMA), not "any object"; what the service takes and answers
    validates against it."""
    from app.services.catalogue.content import GUIDE_SCHEMA, guide_json_schema
    from tests.handlers.test_catalogue_admin import item_payload

    document = (await api.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    guide = schemas["Guide"]
    assert set(guide["properties"]) == set(GUIDE_SCHEMA.fields) and guide["additionalProperties"] is False
    assert {k: v for k, v in guide.items() if k != "title"} == guide_json_schema()
    ref = {"$ref": "#/components/schemas/Guide"}
    assert schemas["NewItem"]["properties"]["guide"] == ref
    assert schemas["ItemPatch"]["properties"]["guide"] == ref  # null is refused, so not offered
    admin = "/api/v1/admin/catalogue"
    imported = document["paths"][f"{admin}/import"]["post"]["requestBody"]["content"]
    assert imported["application/json"]["schema"] == {"$ref": "#/components/schemas/ImportFile"}
    assert "text/csv" in imported
    answer_schema = document["paths"]["/api/v1/services/{code}"]["get"]["responses"]["200"]["content"]
    assert answer_schema["application/json"]["schema"] == {"$ref": "#/components/schemas/ServiceItemAnswer"}
    assert schemas["ServiceItemAnswer"]["properties"]["guide"] == ref

    jsonschema = pytest.importorskip("jsonschema")
    for name in ("Guide", "NewItem", "ItemPatch", "ImportFile", "ServiceItemAnswer"):
        jsonschema.Draft202012Validator.check_schema(schemas[name])
    payload = item_payload(demo)
    assert list(_schema_validator(document, "NewItem").iter_errors(payload)) == []
    assert list(_schema_validator(document, "ImportFile").iter_errors({"items": [payload]})) == []
    created = await api.post(f"{admin}/items", json=payload, headers=operator.headers)
    assert created.status_code == 201, created.text
    published = await api.post(f"{admin}/items/{payload['code']}/publish", json={"revision": 1},
                               headers=operator.headers)
    assert published.status_code == 200, published.text
    for code in (payload["code"], demo["catalogue"].items[0].code):
        shown = await api.get(f"/api/v1/services/{code}")
        assert shown.status_code == 200, shown.text
        errors = [e.message for e in _schema_validator(document, "ServiceItemAnswer").iter_errors(shown.json())]
        assert errors == [], errors[:5]
    wrong = {**payload, "guide": {**payload["guide"], "colour": "blue"}}
    assert not _schema_validator(document, "NewItem").is_valid(wrong)
    refused = await api.post(f"{admin}/items", json={**wrong, "code": payload["code"] + "X"}, headers=operator.headers)
    assert refused.status_code == 422 and {"field": "guide.colour", "problem": "unknown field"} in (
        refused.json()["error"]["context"]["fields"]
    ), refused.text


IDENTITY_PREFIXES = ("/api/v1/auth/", "/api/v1/me")
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def _assert_error_documented(document: dict[str, Any], path: str, method: str, answer: httpx.Response) -> None:
    """The answer's error code is named where the document describes its status (401 and 403
    of an authenticated route, 429, 502, 503, else 4XX), and the body is the Error envelope."""
    operation = document["paths"][path][method]
    documented = _resolve(document, _documented(operation, answer.status_code))
    code = answer.json()["error"]["code"]
    named = re.findall(r"[a-z][a-z0-9_]*", documented.get("description", ""))
    assert code in named, (method, path, answer.status_code, code, documented.get("description"))
    _assert_conforms(document, operation, answer.status_code, answer.headers["content-type"], answer.content)


async def test_identity_routes_document_every_error_they_answer(api: httpx.AsyncClient, live: LiveServer) -> None:
    """Every error an identity route (/api/v1/auth/*, /api/v1/me*) answers, WeChat's included
    (refusing, busy, blocked, limiting, answering garbage), is declared for that route in
    /openapi.json under the status it comes with. Each route is made to give each error."""
    from models.identity import FaceVerification, RefreshToken
    from tests.handlers.test_wechat_answers import forget_wechat_token

    await forget_wechat_token(live)
    document = (await api.get("/openapi.json")).json()
    answered: list[tuple[str, str, httpx.Response]] = []

    async def call(method: str, path: str, session: Session | None = None, **kwargs: Any) -> httpx.Response:
        if session is not None:
            kwargs["headers"] = session.headers
        answer = await api.request(method.upper(), path, **kwargs)
        assert answer.status_code >= 400, (method, path, answer.text)
        answered.append((path, method, answer))
        return answer

    async def fault(wechat_api: str, failure: int | str) -> None:
        kind = "errcodes" if isinstance(failure, int) else "answers"
        assert (await api.post("/sandbox/wechat/faults", json={"api": wechat_api, kind: [failure]})).status_code == 200

    async def login_code() -> str:
        return (await api.post("/sandbox/wechat/login-code", json={})).json()["code"]

    async def named() -> Session:
        return await bind_realname(api, await login(api))

    async def started(session: Session) -> str:
        answer = await api.post("/api/v1/auth/face/start", headers=session.headers)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["verify_id"])

    # WeChat busy (-1), limiting (45011), refusing (40013), answering what it never would.
    wechat_failures: tuple[int | str, ...] = (-1, 45011, 40013, "empty_object", "html", "proxy_error")

    login_path = "/api/v1/auth/login"
    await call("post", login_path, json={"code": "never-issued"})
    used = await login_code()
    assert (await api.post(login_path, json={"code": used})).status_code == 200
    await call("post", login_path, json={"code": used})
    for failure in (40226, *wechat_failures):
        await fault("jscode2session", failure)
        await call("post", login_path, json={"code": await login_code()})

    await call("post", "/api/v1/auth/operator-login", json={"username": "nobody_" + secrets.token_hex(4),
                                                             "password": "wrong"})

    refresh_path = "/api/v1/auth/refresh"
    await call("post", refresh_path, json={"refresh_token": "not-a-token"})
    reused = await login(api)
    assert (await api.post(refresh_path, json={"refresh_token": reused.refresh_token})).status_code == 200
    await call("post", refresh_path, json={"refresh_token": reused.refresh_token})
    expired = await login(api)
    await RefreshToken.filter(user_id=expired.user_id).update(expires_at=LONG_AGO)
    await call("post", refresh_path, json={"refresh_token": expired.refresh_token})

    await call("post", "/api/v1/auth/face/start", await login(api))
    for failure in wechat_failures:
        await fault("getverifyid", failure)
        await call("post", "/api/v1/auth/face/start", await named())

    finish_path = "/api/v1/auth/face/finish"
    face_user = await named()
    await call("post", finish_path, face_user, json={"verify_id": "vf_never_started"})
    verify_id = await started(face_user)
    await call("post", finish_path, face_user, json={"verify_id": verify_id})
    await api.post("/sandbox/wechat/face", json={"verify_id": verify_id, "outcome": "fail"})
    await call("post", finish_path, face_user, json={"verify_id": verify_id})
    await call("post", finish_path, face_user, json={"verify_id": verify_id})
    stale = await started(face_user)
    await FaceVerification.filter(verify_id=stale).update(expires_at=LONG_AGO)
    await call("post", finish_path, face_user, json={"verify_id": stale})
    for failure in wechat_failures:
        session = await named()
        verify_id = await started(session)
        await api.post("/sandbox/wechat/face", json={"verify_id": verify_id, "outcome": "pass"})
        await fault("queryverifyinfo", failure)
        await call("post", finish_path, session, json={"verify_id": verify_id})

    realname_path = "/api/v1/me/realname"
    bound = await named()
    await call("post", realname_path, bound, json={"name": "李四", "id_number": bound.id_number[:-1] + (
        "0" if bound.id_number[-1] != "0" else "1")})
    await call("post", realname_path, await login(api), json={"name": "李4", "id_number": bound.id_number})
    await call("post", realname_path, bound, json={"name": "李四", "id_number": bound.id_number})
    await call("post", realname_path, await login(api), json={"name": bound.name, "id_number": bound.id_number})

    phone_path = "/api/v1/me/phone"
    await call("post", phone_path, await login(api), json={"code": "never-issued"})
    for failure in wechat_failures:
        await fault("getuserphonenumber", failure)
        code = (await api.post("/sandbox/wechat/phone-code", json={"phone": "13800138000"})).json()["code"]
        await call("post", phone_path, await login(api), json={"code": code})

    for path, method, _ in _operations(document):
        if path.startswith(IDENTITY_PREFIXES) and document["paths"][path][method].get("security"):
            await call(method, path)  # no token
            await call(method, path, headers={"Authorization": "Bearer not-a-token"})

    identity_routes = {(p, m) for p, m, _ in _operations(document) if p.startswith(IDENTITY_PREFIXES)}
    assert {(p, m) for p, m, _ in answered} == identity_routes
    for path, method, answer in answered:
        _assert_error_documented(document, path, method, answer)
    codes = {answer.json()["error"]["code"] for _, _, answer in answered}
    assert {"login_blocked", "upstream_error", "upstream_unavailable", "rate_limited", "realname_required",
            "face_failed", "verify_id_expired", "id_number_taken", "refresh_token_reused"} <= codes



async def _contract_answers(
    api: httpx.AsyncClient, demo: dict, world: World  # noqa: F811  (the shared `world` fixture)
) -> list[tuple[str, str, httpx.Response]]:
    """Real answers from each route of /work/shared/API.md (and the resident routes beside
    them), with the documented path and method each answers for: every success status, and
    both sides of an answer that has two shapes (a valid and a refused code, a bill with and
    without a receipt, a user with and without a real name, enterprises or a scope)."""
    answers: list[tuple[str, str, httpx.Response]] = []

    async def call(method: str, documented: str, url: str | None = None, **kwargs: Any) -> httpx.Response:
        answer = await api.request(method.upper(), url or documented, **kwargs)
        assert answer.status_code < 400, (method, url or documented, answer.text)
        answers.append((documented, method, answer))
        return answer

    await call("get", "/healthz")
    await call("get", "/openapi.json")
    await call("get", "/docs")

    code = (await api.post("/sandbox/wechat/login-code", json={})).json()["code"]
    signed_in = (await call("post", "/api/v1/auth/login", json={"code": code})).json()
    user = Session(signed_in["user"]["id"], None, signed_in["access_token"], signed_in["refresh_token"])
    await call("get", "/api/v1/me", headers=user.headers)
    await call("post", "/api/v1/me/realname", headers=user.headers, json={"name": "张三", "id_number": make_id_number()})
    phone_code = (await api.post("/sandbox/wechat/phone-code", json={"phone": "13800138000"})).json()["code"]
    await call("post", "/api/v1/me/phone", headers=user.headers, json={"code": phone_code})
    await call("put", "/api/v1/me/preferences", headers=user.headers, json={"notify_on_licence_check": True})
    verify_id = (await call("post", "/api/v1/auth/face/start", headers=user.headers)).json()["verify_id"]
    await api.post("/sandbox/wechat/face", json={"verify_id": verify_id, "outcome": "pass"})
    await call("post", "/api/v1/auth/face/finish", headers=user.headers, json={"verify_id": verify_id})
    await call("post", "/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    await call("get", "/api/v1/me", headers=world.inspector.headers)  # with an inspector scope
    await call("post", "/api/v1/auth/logout", headers=(await login(api)).headers)

    regions = await call("get", "/api/v1/regions")
    await call("get", "/api/v1/regions", headers={"If-None-Match": regions.headers["etag"]})
    await call("get", "/api/v1/zones")
    zones = await call("get", "/api/v1/zones", params={"region": "440106", "audience": "individual"})
    zone = zones.json()["zones"][0]
    for ref in (str(zone["id"]), zone["slug"]):
        await call("get", "/api/v1/zones/{zone_ref}", f"/api/v1/zones/{ref}", params={"region": "440106"})
    await call("get", "/api/v1/services/{code}", f"/api/v1/services/{demo['catalogue'].items[0].code}")
    for params in ({"q": "结婚"}, {"q": "jiehun", "region": "440106", "audience": "individual", "page": 2}):
        await call("get", "/api/v1/search", params=params)
    for bundle in demo["catalogue"].bundles[:2]:
        await call("get", "/api/v1/bundles/{bundle_ref}", f"/api/v1/bundles/{bundle.slug}", params={"region": "440106"})
        await call("get", "/api/v1/bundles/{bundle_ref}", f"/api/v1/bundles/{bundle.slug}")

    business = await make_business(api, world)
    owner, licence = business.owner.headers, f"/api/v1/licences/{business.licence_id}"
    await call("get", "/api/v1/me", headers=owner)  # a legal representative: enterprises
    await call("get", "/api/v1/licences", headers=owner)
    await call("get", "/api/v1/licences/{licence_id}", licence, headers=owner)
    presented = await call("post", "/api/v1/licences/{licence_id}/presentations", f"{licence}/presentations",
                           headers=owner)
    payload = presented.json()["payload"]
    image = f"{licence}/presentations/{quote(payload, safe='')}.png"
    for params in ({}, {"format": "svg"}):
        await call("get", "/api/v1/licences/{licence_id}/presentations/{payload}.png", image, headers=owner,
                   params=params)
    location = {"latitude": 23.1, "longitude": 113.3, "address": "天河区"}
    for scanned in (payload, payload, "not a code"):  # valid, then replayed, then not a code at all
        await call("post", "/api/v1/inspections", headers=world.inspector.headers,
                   json={"payload": scanned, "location": location})
    # A department's read through a consent shows in the usage log too.
    owner = (await pass_face(api, business.owner)).headers
    granted = await api.post(f"{licence}/consents", headers=owner, json={"department": "市场监管局", "purpose": "年检"})
    assert granted.status_code == 201, granted.text
    read = await api.post("/api/v1/consents/redeem", json={"code": granted.json()["code"]},
                          headers=world.inspector.headers)
    assert read.status_code == 200, read.text
    usage = await call("get", "/api/v1/licences/{licence_id}/usage", f"{licence}/usage", headers=owner)
    assert {entry["kind"] for entry in usage.json()["inspections"]} == {"inspection", "consent"}
    trust = await call("get", "/.well-known/licence-trust-list")
    await call("get", "/.well-known/licence-trust-list", headers={"If-None-Match": trust.headers["etag"]})

    payer = (await login(api)).headers
    fine = await make_fine(api, overdue_days=3)
    await call("get", "/api/v1/fines", headers=payer, params={"decision_no": fine["decision_no"], "plate": fine["plate"]})
    notice = await make_notice(api, kind="tax", amounts=(5_000, 1_200))
    await call("get", "/api/v1/bills/{notice_code}", f"/api/v1/bills/{notice['notice_code']}", headers=payer)
    body = {"bill_type": "fine", "bill_ref": fine["decision_no"], "plate": fine["plate"], "channel": "wechatpay"}
    key = {"Idempotency-Key": secrets.token_hex(8)}
    opened = await call("post", "/api/v1/payments", headers=payer | key, json=body)
    await call("post", "/api/v1/payments", headers=payer | key, json=body)  # the stored answer
    resumed = await call("post", "/api/v1/payments", headers=payer | {"Idempotency-Key": secrets.token_hex(8)}, json=body)
    assert resumed.status_code == 200 and resumed.json()["order_no"] == opened.json()["order_no"], resumed.text
    alipay = await call("post", "/api/v1/payments", headers=payer | {"Idempotency-Key": secrets.token_hex(8)},
                        json={"bill_type": "tax", "bill_ref": notice["notice_code"], "channel": "alipay"})
    order_no = opened.json()["order_no"]
    await pay_in_sandbox(api, order_no)
    await wait_for_status(api, payer, order_no, "settled")
    for paid in (order_no, alipay.json()["order_no"]):  # with a receipt, and still paying
        await call("get", "/api/v1/payments/{order_no}", f"/api/v1/payments/{paid}", headers=payer)
    await call("get", "/api/v1/payments", headers=payer)
    return answers


# The public contract's routes (/work/shared/API.md), as the document names them.
CONTRACT_ROUTES = {
    ("/healthz", "get"), ("/openapi.json", "get"), ("/docs", "get"),
    ("/api/v1/auth/login", "post"), ("/api/v1/auth/refresh", "post"), ("/api/v1/auth/logout", "post"),
    ("/api/v1/auth/face/start", "post"), ("/api/v1/auth/face/finish", "post"),
    ("/api/v1/me", "get"), ("/api/v1/me/realname", "post"), ("/api/v1/me/phone", "post"),
    ("/api/v1/regions", "get"), ("/api/v1/zones", "get"), ("/api/v1/zones/{zone_ref}", "get"),
    ("/api/v1/services/{code}", "get"), ("/api/v1/search", "get"), ("/api/v1/bundles/{bundle_ref}", "get"),
    ("/api/v1/licences", "get"), ("/api/v1/licences/{licence_id}/presentations", "post"),
    ("/api/v1/licences/{licence_id}/presentations/{payload}.png", "get"), ("/api/v1/inspections", "post"),
    ("/api/v1/licences/{licence_id}/usage", "get"), ("/.well-known/licence-trust-list", "get"),
    ("/api/v1/fines", "get"), ("/api/v1/bills/{notice_code}", "get"), ("/api/v1/payments", "post"),
    ("/api/v1/payments/{order_no}", "get"),
}


def _format_checker() -> jsonschema.FormatChecker:
    """`date-time` as API.md has it: ISO 8601 with its zone (jsonschema checks no date-time by itself)."""
    checker = jsonschema.FormatChecker(["date"])

    @checker.checks("date-time", raises=ValueError)
    def with_zone(value: object) -> bool:
        return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None

    return checker


def _schema_errors(document: dict[str, Any], schema: dict[str, Any], value: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(
        {**schema, "components": document["components"]}, format_checker=_format_checker()
    )
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]


async def test_contract_answers_validate_against_the_documented_schemas(
    api: httpx.AsyncClient, demo: dict, world: World  # noqa: F811
) -> None:
    """Each API.md route, driven over HTTP: every answer's status is documented, a success
    answer with a body has a schema for its content type, and the body validates against it
    (times with their zone); a route that answers 304 documents If-None-Match and the ETag."""
    document = (await api.get("/openapi.json")).json()
    answers = await _contract_answers(api, demo, world)
    assert {(path, method) for path, method, _ in answers} >= CONTRACT_ROUTES
    problems = []
    for path, method, answer in answers:
        operation = document["paths"][path][method]
        documented = _resolve(document, _documented(operation, answer.status_code))
        if "etag" in answer.headers:
            assert "ETag" in documented.get("headers", {}), (method, path, answer.status_code)
            assert "If-None-Match" in [p.get("name") for p in operation["parameters"]], (method, path)
        if not answer.content:
            assert answer.status_code in (204, 304) and "content" not in documented, (method, path)
            continue
        media = answer.headers["content-type"].split(";")[0].strip()
        assert media in documented.get("content", {}), (method, path, answer.status_code, media)
        schema = documented["content"][media]["schema"]
        if media != "application/json":
            assert schema["type"] == "string", (method, path)
            continue
        errors = _schema_errors(document, schema, answer.json())
        problems += [(method, path, answer.status_code, error) for error in errors[:3]]
    assert problems == [], problems


async def test_documented_headers_and_query_limits_are_what_the_service_takes(
    api: httpx.AsyncClient, resident: Session
) -> None:
    """POST /api/v1/payments requires Idempotency-Key by the pattern the service checks, and
    GET /api/v1/search's q is required, 1 to 100 characters with one not blank (the service
    answers 400 search_query_empty or search_query_too_long, not what a default of "" and 4000
    characters promised); every route honours X-Request-ID by its documented pattern."""
    document = (await api.get("/openapi.json")).json()
    create = {p["name"]: p for p in document["paths"]["/api/v1/payments"]["post"]["parameters"]}
    key = create["Idempotency-Key"]
    assert key["in"] == "header" and key["required"] is True
    fine = await make_fine(api)
    for sent, accepted in (("k" * 255, True), ("a-Z_09", True), ("k" * 256, False), ("bad key", False),
                           ("key.1", False), (None, False)):
        assert jsonschema.Draft202012Validator(key["schema"]).is_valid(sent) is accepted, sent
        headers = resident.headers | ({} if sent is None else {"Idempotency-Key": sent})
        answer = await api.post("/api/v1/payments", headers=headers, json={
            "bill_type": "fine", "bill_ref": fine["decision_no"], "plate": fine["plate"], "channel": "wechatpay"})
        if accepted:
            assert answer.status_code in (200, 201), (sent, answer.text)
        else:
            assert (answer.status_code, answer.json()["error"]["code"]) == (400, "idempotency_key_required"), sent

    search = {p["name"]: p for p in document["paths"]["/api/v1/search"]["get"]["parameters"]}
    q = search["q"]
    assert q["required"] is True and "default" not in q["schema"]
    checks = jsonschema.Draft202012Validator(q["schema"])
    for sent, code in (("", "search_query_empty"), ("  ", "search_query_empty"), ("结" * 101, "search_query_too_long"),
                       ("结" * 100, None), ("结婚", None)):
        answer = await api.get("/api/v1/search", params={"q": sent})
        assert checks.is_valid(sent) is (code is None), sent
        assert answer.status_code == (200 if code is None else 400), (sent, answer.text)
        if code is not None:
            assert answer.json()["error"]["code"] == code, sent
    assert (await api.get("/api/v1/search")).json()["error"]["code"] == "search_query_empty"

    request_ids = [[p for p in op["parameters"] if p["name"] == "X-Request-ID"] for _, _, op in _operations(document)]
    assert all(len(found) == 1 and found[0]["in"] == "header" for found in request_ids)
    pattern = jsonschema.Draft202012Validator(request_ids[0][0]["schema"])
    for sent in ("client-req.0001", "short", "with space in it", "x" * 65):
        echoed = (await api.get("/healthz", headers={"X-Request-ID": sent})).headers["x-request-id"]
        assert (echoed == sent) is pattern.is_valid(sent), sent
