"""Licences over HTTP: issuance, wallet, presentations, inspection (incl. the attack list of
issue 4), usage, the trust list for offline verifiers, consent, and the bad-input list."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import zxingcpp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from app.adapters.verifier import ProcessVerifier
from app.lc1 import codec
from app.lc1.trust_list import load_trust_list, revocation_hash
from app.lc1.verifier import verify
from app.logs import JsonFormatter
from app.services.licences.inspection import REPLAY_KEY
from app.services.licences.keys import certificate_kid
from models.identity import AuditEvent
from models.licences import Inspection, Licence, LicenceIssuer
from tests.conftest import (
    LiveServer,
    Session,
    bind_realname,
    login,
    make_inspector,
    make_operator,
    pass_face,
    seed_guangdong_regions,
)
from tests.factories import make_credit_code, make_id_number, random_ip

KEYS = Path(__file__).resolve().parents[2] / "certs" / "sandbox" / "licences"
FOOD = "11100000MB0143000Y001"  # 食品经营许可证 (enterprise)
PERMIT = "11100000MB0143000Y002"  # 居住证 (person, identity class)
SAMR = "11440000MB2C901609"
PSB = "11440100MB2C92470Y"


def sandbox_key(stem: str) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    private = serialization.load_pem_private_key((KEYS / f"{stem}.key.pem").read_bytes(), None)
    certificate = x509.load_pem_x509_certificate((KEYS / f"{stem}.cert.pem").read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return private, certificate_kid(certificate)


@dataclass
class World:
    operator: Session
    inspector: Session  # food licences in Guangdong
    permit_inspector: Session  # residence permits in Guangzhou
    other_inspector: Session  # food licences in Shenzhen only


async def _put(client: httpx.AsyncClient, path: str, session: Session, body: dict) -> dict:
    response = await client.put(path, json=body, headers=session.headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
async def world(live: LiveServer) -> World:
    async with httpx.AsyncClient(base_url=live.base_url, headers={"X-Forwarded-For": random_ip()}, timeout=30) as client:
        operator = await make_operator(client, live)
        await _put(client, f"/api/v1/admin/licence-types/{FOOD}", operator, {
            "name": "食品经营许可证", "department": "市场监督管理局", "holder_kind": "enterprise",
            "field_schema": {
                "licence_no": {"label": "许可证编号", "required": True, "max_length": 32},
                "legal_rep": {"label": "法定代表人", "required": True},
                "address": {"label": "经营场所", "required": True},
                "scope": {"label": "经营项目", "required": True},
                "phone": {"label": "联系电话"},
            },
            "qr_fields": ["licence_no", "scope"],
            "visible_fields": {"inspector": ["licence_no", "scope", "address"],
                               "department": ["licence_no", "scope", "address", "legal_rep", "phone"]},
        })
        await _put(client, f"/api/v1/admin/licence-types/{PERMIT}", operator, {
            "name": "广东省居住证", "department": "公安局", "holder_kind": "person", "identity_class": True,
            "field_schema": {
                "permit_no": {"label": "居住证号", "required": True},
                "address": {"label": "居住地址", "required": True},
                "expires": {"label": "签注有效期", "type": "date"},
            },
            "qr_fields": ["permit_no"],
            "visible_fields": {"inspector": ["permit_no"], "department": ["permit_no", "address"]},
        })
        await _put(client, f"/api/v1/admin/licence-issuers/{SAMR}", operator,
                   {"name": "广东省市场监督管理局", "region_code": "440000", "licence_types": [FOOD]})
        await _put(client, f"/api/v1/admin/licence-issuers/{PSB}", operator,
                   {"name": "广州市公安局", "region_code": "440100", "licence_types": [PERMIT]})
        for stem, issuer, signs_from in (
            ("gd-samr-2025", SAMR, "2025-01-01T00:00:00Z"),
            ("gd-samr-2026", SAMR, "2026-01-01T00:00:00Z"),
            ("gz-psb-2026", PSB, "2026-01-01T00:00:00Z"),
        ):
            response = await client.post(
                f"/api/v1/admin/licence-issuers/{issuer}/keys",
                json={"certificate_pem": (KEYS / f"{stem}.cert.pem").read_text(), "signs_from": signs_from},
                headers=operator.headers,
            )
            assert response.status_code == 201, response.text
            assert response.json()["can_sign"] is True
        inspector = await make_inspector(client, operator, licence_types=[FOOD], regions=["440000"])
        permit_inspector = await make_inspector(client, operator, licence_types=[PERMIT], regions=["440100"])
        other = await make_inspector(client, operator, licence_types=[FOOD], regions=["440300"])
        return World(operator, inspector, permit_inspector, other)


async def issue_food(api: httpx.AsyncClient, world: World, credit_code: str, **overrides) -> httpx.Response:
    body = {
        "type_code": FOOD, "issuer_code": SAMR, "serial": "JY" + secrets.token_hex(6).upper(),
        "holder": {"name": "广州某某餐饮管理有限公司", "credit_code": credit_code},
        "region_code": "440106",
        "data": {"licence_no": "JY24401060012345", "legal_rep": "王五", "address": "广州市天河区体育西路1号",
                 "scope": "热食类食品制售；冷食类食品制售", "phone": "020-12345678"},
        "valid_from": "2025-01-01", "valid_until": "2030-12-31",
    }
    body.update(overrides)
    return await api.post("/api/v1/admin/licences", json=body, headers=world.operator.headers)


@dataclass
class Business:
    owner: Session
    credit_code: str
    licence_id: int
    identifier: str


async def make_business(api: httpx.AsyncClient, world: World, *, issuer_code: str = SAMR) -> Business:
    owner = await bind_realname(api, await login(api), name="王五", id_number=make_id_number())
    credit_code = make_credit_code("440106")
    registered = await api.post("/api/v1/admin/enterprises", json={
        "credit_code": credit_code, "name": "广州某某餐饮管理有限公司", "region_code": "440106",
        "legal_rep_name": "王五", "legal_rep_id_number": owner.id_number,
    }, headers=world.operator.headers)
    assert registered.status_code in (200, 201), registered.text
    issued = await issue_food(api, world, credit_code, issuer_code=issuer_code)
    assert issued.status_code == 201, issued.text
    return Business(owner, credit_code, issued.json()["id"], issued.json()["identifier"])


async def present(api: httpx.AsyncClient, session: Session, licence_id: int) -> str:
    response = await api.post(f"/api/v1/licences/{licence_id}/presentations", headers=session.headers)
    assert response.status_code == 201, response.text
    return response.json()["payload"]


async def inspect(api: httpx.AsyncClient, inspector: Session, payload: str, **extra) -> dict:
    response = await api.post("/api/v1/inspections", json={"payload": payload, **extra}, headers=inspector.headers)
    assert response.status_code == 200, response.text
    return response.json()


def mint(key_stem: str, *, identifier: str, issuer: str = SAMR, iat: int | None = None, life: int = 90) -> str:
    private, kid = sandbox_key(key_stem)
    iat = int(time.time()) if iat is None else iat
    claims = codec.LicenceClaims(
        issuer=issuer, issued_at=iat, expires_at=iat + life, token_id=secrets.token_bytes(8),
        licence={"id": identifier, "t": FOOD, "rg": "440106", "h": "x"},
    )
    return codec.encode_lc1(claims, private, kid)


# --------------------------------------------------------------------------- issuance
async def test_issuance_is_idempotent_by_identifier(api, world):
    credit_code = make_credit_code()
    first = await issue_food(api, world, credit_code, serial="JYIDEMPOTENT" + secrets.token_hex(3).upper())
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["identifier"].startswith(f"1.2.156.3005.2.{FOOD}.{SAMR}.")
    repeat = await issue_food(api, world, credit_code, serial=body["identifier"].split(".")[7])
    assert repeat.status_code == 200 and repeat.json()["id"] == body["id"]
    changed = await issue_food(api, world, credit_code, serial=body["identifier"].split(".")[7], region_code="440104")
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "licence_conflict"
    assert await Licence.filter(identifier=body["identifier"]).count() == 1
    history = await api.get(f"/api/v1/admin/licences/{body['id']}/history", headers=world.operator.headers)
    assert [e["kind"] for e in history.json()["events"]] == ["issued"]


async def test_concurrent_issuance_creates_one_licence(api, world):
    credit_code = make_credit_code()
    serial = "JYRACE" + secrets.token_hex(4).upper()
    responses = await asyncio.gather(*(issue_food(api, world, credit_code, serial=serial) for _ in range(5)))
    assert sorted(r.status_code for r in responses).count(201) == 1
    assert {r.json()["id"] for r in responses if r.status_code in (200, 201)} and all(
        r.status_code in (200, 201) for r in responses
    )


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"serial": "lower-case"}, 422, "identifier_invalid"),
        ({"type_code": PERMIT}, 422, "issuer_not_allowed"),
        ({"type_code": "ZZZZZZZZZZZZZZZZZZZZZ"}, 404, "licence_type_not_found"),
        ({"issuer_code": "91440101MA5CXX010N"}, 404, "issuer_not_found"),
        ({"data": {"licence_no": "X"}}, 422, "licence_invalid"),
        ({"data": {"licence_no": "X", "legal_rep": "a", "address": "b", "scope": "c", "colour": "red"}}, 422, "licence_invalid"),
        ({"holder": {"name": "x", "credit_code": "91440101MA5CXX0100"}}, 422, "licence_invalid"),
        ({"valid_until": "2020-01-01"}, 422, "licence_invalid"),
        ({"region_code": "4401"}, 422, "validation_failed"),
        ({"region_code": "999999"}, 422, "licence_invalid"),
        ({"region_code": "440006"}, 422, "licence_invalid"),
        ({"region_code": "000000"}, 422, "licence_invalid"),
        ({"region_code": "44010a"}, 422, "licence_invalid"),
    ],
)
async def test_issuance_bad_input(api, world, overrides, status, code):
    response = await issue_food(api, world, make_credit_code(), **overrides)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_issuers_and_licences_name_known_regions(api, world):
    """A region is one of the catalogue's regions (or, before it has any, a GB/T 2260 code)."""
    issuer = await api.put(f"/api/v1/admin/licence-issuers/{SAMR}", headers=world.operator.headers,
                           json={"name": "广东省市场监督管理局", "region_code": "999999", "licence_types": [FOOD]})
    assert issuer.status_code == 422 and issuer.json()["error"]["code"] == "licence_invalid"
    assert issuer.json()["error"]["context"]["fields"] == [{"field": "region_code", "problem": "not a known region"}]
    assert (await LicenceIssuer.get(credit_code=SAMR)).region_code == "440000"
    await seed_guangdong_regions()
    elsewhere = await issue_food(api, world, make_credit_code(), region_code="110105")  # Beijing: not in the tree
    assert elsewhere.status_code == 422, elsewhere.text
    assert {"field": "region_code", "problem": "not a known region"} in elsewhere.json()["error"]["context"]["fields"]
    assert (await issue_food(api, world, make_credit_code(), region_code="440104")).status_code == 201


async def test_only_operators_issue(api, world):
    resident = await login(api)
    response = await api.post("/api/v1/admin/licences", json={}, headers=resident.headers)
    assert response.status_code == 403
    response = await api.post("/api/v1/admin/licences", json={})
    assert response.status_code == 401


# --------------------------------------------------------------------------- wallet and presentations
async def test_wallet_holds_own_and_enterprise_licences_only(api, world):
    business = await make_business(api, world)
    wallet = await api.get("/api/v1/licences", headers=business.owner.headers)
    assert wallet.status_code == 200
    ids = [item["id"] for item in wallet.json()["licences"]]
    assert business.licence_id in ids
    stranger = await bind_realname(api, await login(api))
    other = await api.get("/api/v1/licences", headers=stranger.headers)
    assert business.licence_id not in [item["id"] for item in other.json()["licences"]]
    assert (await api.get(f"/api/v1/licences/{business.licence_id}", headers=stranger.headers)).status_code == 404


async def test_presentation_contract_and_size(api, world):
    business = await make_business(api, world)
    before = time.time()
    response = await api.post(f"/api/v1/licences/{business.licence_id}/presentations", headers=business.owner.headers)
    assert response.status_code == 201
    body = response.json()
    assert body["payload"].startswith("LC1:")
    assert len(body["payload"]) <= 600  # fits QR version 15 at level M
    expires = datetime.fromisoformat(body["expires_at"]).timestamp()
    refresh = datetime.fromisoformat(body["refresh_after"]).timestamp()
    assert expires - before <= 91 and refresh < expires
    assert body["expires_at"].endswith("+08:00")
    cose = codec.decode_text(body["payload"], codec.LC1)
    assert set(cose.protected) == {codec.HEADER_ALG, codec.HEADER_KID}
    claims = codec.decode_licence_claims(cose.payload)
    assert claims.identifier == business.identifier
    assert claims.expires_at - claims.issued_at <= 90
    # Only the type's QR fields travel in the code (no address, no legal representative).
    assert set(claims.licence) == {"id", "t", "rg", "h", "hc", "vu", "licence_no", "scope"}


async def test_access_log_names_the_rendered_payload_but_never_logs_it(api, world):
    """A live code decodes to personal data with no key, and could still be inspected: the
    render route's access line keeps the licence id and drops the payload."""
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("app.access")
    previous = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        url = f"/api/v1/licences/{business.licence_id}/presentations/{quote(payload, safe='')}.png"
        assert (await api.get(url, headers=business.owner.headers)).status_code == 200
        await api.get(f"/api/v1/licences/{business.licence_id}", headers=business.owner.headers)
    finally:
        access.removeHandler(handler)
        access.setLevel(previous)
    paths = [json.loads(line)["path"] for line in stream.getvalue().splitlines()]
    assert paths == [
        f"/api/v1/licences/{business.licence_id}/presentations/[payload]",
        f"/api/v1/licences/{business.licence_id}",  # other routes keep their path as it came
    ]
    assert payload[4:20] not in stream.getvalue() and quote(payload, safe="")[4:20] not in stream.getvalue()


async def test_png_and_svg_rendering(api, world):
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    url = f"/api/v1/licences/{business.licence_id}/presentations/{quote(payload, safe='')}.png"
    png = await api.get(url, headers=business.owner.headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)), formats=zxingcpp.BarcodeFormat.QRCode)
    assert [r.text for r in decoded] == [payload]
    svg = await api.get(url.removesuffix(".png") + "?format=svg", headers=business.owner.headers)
    assert svg.status_code == 200 and svg.text.startswith("<svg")
    # The documented path (API.md, /openapi.json) with the query asking for SVG.
    documented = await api.get(url, params={"format": "svg"}, headers=business.owner.headers)
    assert documented.status_code == 200 and documented.text == svg.text
    stranger = await login(api)
    assert (await api.get(url, headers=stranger.headers)).status_code == 404
    bad = await api.get(f"/api/v1/licences/{business.licence_id}/presentations/LC1%3AABC.png", headers=business.owner.headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "payload_invalid"


async def test_presentations_refused_for_others_and_inactive(api, world):
    business = await make_business(api, world)
    stranger = await login(api)
    for session, licence_id in ((stranger, business.licence_id), (business.owner, 999_999_999)):
        response = await api.post(f"/api/v1/licences/{licence_id}/presentations", headers=session.headers)
        assert response.status_code == 404 and response.json()["error"]["code"] == "licence_not_found"
    suspend = await api.post(f"/api/v1/admin/licences/{business.licence_id}/status",
                             json={"action": "suspend", "reason": "整改"}, headers=world.operator.headers)
    assert suspend.status_code == 200 and suspend.json()["status"] == "suspended"
    response = await api.post(f"/api/v1/licences/{business.licence_id}/presentations", headers=business.owner.headers)
    assert response.status_code == 409
    assert response.json()["error"] == {**response.json()["error"], "code": "licence_not_active",
                                        "context": {"status": "suspended"}}
    again = await api.post(f"/api/v1/admin/licences/{business.licence_id}/status",
                           json={"action": "suspend", "reason": "again"}, headers=world.operator.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "transition_not_allowed"


async def issue_residence_permit(api, world: World, person: Session) -> int:
    """An identity-class licence (居住证) held by `person` (real name 赵六): its id."""
    issued = await api.post("/api/v1/admin/licences", json={
        "type_code": PERMIT, "issuer_code": PSB, "serial": "JZ" + secrets.token_hex(5).upper(),
        "holder": {"name": "赵六", "id_number": person.id_number}, "region_code": "440106",
        "data": {"permit_no": "440106199001010011", "address": "广州市天河区某路2号"},
        "valid_from": "2025-06-01", "valid_until": "2028-06-01",
    }, headers=world.operator.headers)
    assert issued.status_code == 201, issued.text
    return issued.json()["id"]


async def test_identity_class_licence_needs_recent_face_check(api, world, live):
    person = await bind_realname(api, await login(api), name="赵六")
    licence_id = await issue_residence_permit(api, world, person)
    wallet = (await api.get("/api/v1/licences", headers=person.headers)).json()["licences"]
    [entry] = [item for item in wallet if item["id"] == licence_id]
    assert entry["locked"] is True and entry["data"] == {}
    refused = await api.post(f"/api/v1/licences/{licence_id}/presentations", headers=person.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "face_verification_required"
    await pass_face(api, person)
    wallet = (await api.get("/api/v1/licences", headers=person.headers)).json()["licences"]
    [entry] = [item for item in wallet if item["id"] == licence_id]
    assert entry["locked"] is False and entry["data"]["permit_no"]
    payload = await present(api, person, licence_id)
    claims = codec.decode_licence_claims(codec.decode_text(payload, codec.LC1).payload)
    assert claims.licence["h"] == "*六" and "address" not in claims.licence  # no clear name, no address
    result = await inspect(api, world.permit_inspector, payload)
    assert result["valid"] is True
    assert result["licence"]["data"] == {"permit_no": "440106199001010011"}
    assert result["licence"]["holder"]["name"] == "*六"


# --------------------------------------------------------------------------- inspection
async def test_inspection_returns_only_visible_fields_and_is_recorded_once(api, world):
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    result = await inspect(api, world.inspector, payload, location={"latitude": 23.13, "longitude": 113.32, "address": "天河区"})
    assert result["valid"] is True
    assert set(result["licence"]["data"]) == {"licence_no", "scope", "address"}
    assert result["licence"]["identifier"] == business.identifier
    assert result["checked_at"].endswith("+08:00")
    assert await Inspection.filter(licence_id=business.licence_id).count() == 1
    usage = await api.get(f"/api/v1/licences/{business.licence_id}/usage", headers=business.owner.headers)
    [entry] = usage.json()["inspections"]
    assert entry["valid"] is True and entry["inspector"]["id"] == world.inspector.user_id
    assert entry["inspector"]["name"] == "*四" and entry["location"]["address"] == "天河区"
    stranger = await login(api)
    assert (await api.get(f"/api/v1/licences/{business.licence_id}/usage", headers=stranger.headers)).status_code == 404


async def test_codes_are_checked_in_the_helper_process_by_default(api, world, live):
    verifier = live.app.ctx.adapters.extra["presentation_verifier"]
    assert isinstance(verifier, ProcessVerifier) and verifier.pid is not None
    frames, inline = verifier.frames_sent, verifier.codes_verified_inline
    business = await make_business(api, world)
    assert (await inspect(api, world.inspector, await present(api, business.owner, business.licence_id)))["valid"]
    assert verifier.frames_sent > frames and verifier.codes_verified_inline == inline


async def test_replayed_code_is_refused(api, world):
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    assert (await inspect(api, world.inspector, payload))["valid"] is True
    again = await inspect(api, world.inspector, payload)
    assert again["valid"] is False and again["reason"] == "replayed" and "licence" not in again


async def test_concurrent_scans_accept_a_code_once(api, world):
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    results = await asyncio.gather(*(inspect(api, world.inspector, payload) for _ in range(5)))
    assert sorted(r["valid"] for r in results) == [False, False, False, False, True]
    assert {r.get("reason") for r in results if not r["valid"]} == {"replayed"}
    assert await Inspection.filter(licence_id=business.licence_id, valid=True).count() == 1


async def test_scans_arriving_together_are_each_checked_and_recorded(api, world):
    """Concurrent inspections share one licence query and one insert (app/batching.py);
    each still gets its own answer and its own record."""
    businesses = [await make_business(api, world) for _ in range(3)]
    payloads = [await present(api, b.owner, b.licence_id) for b in businesses for _ in range(2)]
    tampered = payloads[0][:-3] + ("A" if payloads[0][-3] != "A" else "B") + payloads[0][-2:]
    results = await asyncio.gather(*(inspect(api, world.inspector, p) for p in [*payloads, tampered]))
    assert [r["valid"] for r in results] == [True] * len(payloads) + [False]
    assert [r["licence"]["identifier"] for r in results[:-1]] == [b.identifier for b in businesses for _ in range(2)]
    for business in businesses:
        assert await Inspection.filter(licence_id=business.licence_id, valid=True).count() == 2


async def test_a_code_accepted_before_the_cache_forgot_it_is_still_refused(api, world, live):
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    assert (await inspect(api, world.inspector, payload))["valid"] is True
    accepted = await Inspection.get(licence_id=business.licence_id, valid=True)
    assert await live.app.ctx.adapters.cache.delete(REPLAY_KEY + accepted.token_id) == 1  # a restart, say
    again = await inspect(api, world.inspector, payload)
    assert again["valid"] is False and again["reason"] == "replayed"
    rows = await Inspection.filter(licence_id=business.licence_id).order_by("id")
    assert [(row.valid, row.reason) for row in rows] == [(True, None), (False, "replayed")]


async def test_a_forgotten_code_in_a_group_is_the_only_one_refused(api, world, live):
    """The database's unique acceptance catches a cti the cache lost even inside a group of
    inspections settled together; the others in the group are accepted and recorded once."""
    business = await make_business(api, world)
    old = await present(api, business.owner, business.licence_id)
    assert (await inspect(api, world.inspector, old))["valid"] is True
    accepted = await Inspection.get(licence_id=business.licence_id, valid=True)
    await live.app.ctx.adapters.cache.delete(REPLAY_KEY + accepted.token_id)
    fresh = [await present(api, business.owner, business.licence_id) for _ in range(3)]
    results = await asyncio.gather(*(inspect(api, world.inspector, p) for p in [fresh[0], old, *fresh[1:]]))
    assert [(r["valid"], r.get("reason")) for r in results] == [(True, None), (False, "replayed"), (True, None), (True, None)]
    rows = await Inspection.filter(licence_id=business.licence_id)
    assert sorted((row.valid, row.reason or "") for row in rows) == [(False, "replayed")] + [(True, "")] * 4


async def test_a_failed_record_gives_the_codes_back(api, world, live, monkeypatch):
    """Nothing is recorded when a group's insert fails, so its claimed ctis are released: each
    call is then retried alone and accepted, not refused as a replay of itself."""
    from app.services.licences import inspection

    business = await make_business(api, world)
    await inspect(api, world.inspector, await present(api, business.owner, business.licence_id))  # scope cached
    payloads = [await present(api, business.owner, business.licence_id) for _ in range(3)]
    real_insert, failed_groups = inspection._insert_inspections, []

    async def insert_failing_once(rows):
        if not failed_groups:
            failed_groups.append(len(rows))
            raise ConnectionResetError("the database went away")
        await real_insert(rows)

    monkeypatch.setattr(inspection, "_insert_inspections", insert_failing_once)
    service = live.app.ctx.services.licences.inspections
    # Called together on the service itself, the three are checked and settled as one group.
    results = await asyncio.gather(
        *(service.inspect(inspector_id=world.inspector.user_id, payload=p, location=None) for p in payloads)
    )
    assert failed_groups == [3]
    assert [(r["valid"], r.get("reason")) for r in results] == [(True, None)] * 3
    assert await Inspection.filter(licence_id=business.licence_id, valid=True).count() == 4


async def test_wrong_inspector_scope_does_not_use_up_the_code(api, world):
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    refused = await inspect(api, world.other_inspector, payload)
    assert refused["valid"] is False and refused["reason"] == "out_of_scope" and "licence" not in refused
    wrong_type = await inspect(api, world.permit_inspector, payload)
    assert wrong_type["reason"] == "out_of_scope"
    assert (await inspect(api, world.inspector, payload))["valid"] is True


async def test_a_revoked_inspector_is_stopped_at_once(api, world):
    inspector = await make_inspector(api, world.operator, licence_types=[FOOD], regions=["440000"])
    business = await make_business(api, world)
    assert (await inspect(api, inspector, await present(api, business.owner, business.licence_id)))["valid"] is True
    withdrawn = await api.delete(f"/api/v1/admin/inspectors/{inspector.user_id}", headers=world.operator.headers)
    assert withdrawn.status_code == 204
    payload = await present(api, business.owner, business.licence_id)
    # The token still says "inspector": it is cut, not believed until it expires.
    cut = await api.post("/api/v1/inspections", json={"payload": payload}, headers=inspector.headers)
    assert cut.status_code == 401 and cut.json()["error"]["code"] == "token_expired"
    refreshed = await api.post("/api/v1/auth/refresh", json={"refresh_token": inspector.refresh_token})
    assert refreshed.status_code == 200
    headers = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    refused = await api.post("/api/v1/inspections", json={"payload": payload}, headers=headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    me = await api.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and "inspector" not in me.json()["roles"]
    assert await Inspection.filter(licence_id=business.licence_id).count() == 1
    # The code was never used up: the holder can still show it to an inspector who may check it.
    assert (await inspect(api, world.inspector, payload))["valid"] is True


async def test_a_revoked_inspectors_old_token_stays_cut_when_the_cache_forgets(api, world, live):
    inspector = await make_inspector(api, world.operator, licence_types=[FOOD], regions=["440000"])
    withdrawn = await api.delete(f"/api/v1/admin/inspectors/{inspector.user_id}", headers=world.operator.headers)
    assert withdrawn.status_code == 204
    identity = live.app.ctx.services.identity
    await identity.cache.delete(f"roles_cut:{inspector.user_id}")  # a restart of the stand-in
    assert (await api.get("/api/v1/me", headers=inspector.headers)).status_code == 200
    await identity.restore_revocations()  # the next start
    cut = await api.get("/api/v1/me", headers=inspector.headers)
    assert cut.status_code == 401 and cut.json()["error"]["code"] == "token_expired"
    refreshed = await api.post("/api/v1/auth/refresh", json={"refresh_token": inspector.refresh_token})
    headers = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert (await api.get("/api/v1/me", headers=headers)).status_code == 200  # a token signed after the cut


async def test_revoked_after_minting(api, world):
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    revoke = await api.post(f"/api/v1/admin/licences/{business.licence_id}/status",
                            json={"action": "revoke", "reason": "吊销"}, headers=world.operator.headers)
    assert revoke.status_code == 200
    result = await inspect(api, world.inspector, payload)
    assert result == {"valid": False, "reason": "revoked", "checked_at": result["checked_at"]}


async def test_a_licence_past_its_validity_is_told_apart_from_an_expired_code(api, world):
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    # The licence ran out after the code was minted (no expiry job has marked it yet).
    await Licence.filter(id=business.licence_id).update(valid_until=datetime(2025, 6, 30).date())
    result = await inspect(api, world.inspector, payload)
    assert result == {"valid": False, "reason": "licence_expired", "checked_at": result["checked_at"]}
    stale = mint("gd-samr-2026", identifier=business.identifier, iat=int(time.time()) - 300)
    assert (await inspect(api, world.inspector, stale))["reason"] == "expired"  # the code, not the licence


async def test_suspended_and_reinstated(api, world):
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    change = f"/api/v1/admin/licences/{business.licence_id}/status"
    await api.post(change, json={"action": "suspend", "reason": "整改"}, headers=world.operator.headers)
    assert (await inspect(api, world.inspector, payload))["reason"] == "suspended"
    await api.post(change, json={"action": "reinstate", "reason": "整改完成"}, headers=world.operator.headers)
    # The suspended check did not use up the code.
    assert (await inspect(api, world.inspector, payload))["valid"] is True
    history = await api.get(f"/api/v1/admin/licences/{business.licence_id}/history", headers=world.operator.headers)
    assert [e["kind"] for e in history.json()["events"]] == ["issued", "suspend", "reinstate"]


async def test_attack_list(api, world):
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    now = int(time.time())
    rogue = ec.generate_private_key(ec.SECP256R1())
    rogue_claims = codec.LicenceClaims(SAMR, now, now + 60, b"12345678", {"id": business.identifier})
    cases = {
        "wrong_prefix": ("HC1:" + payload[4:], "bad_prefix"),
        "truncated": (payload[:-7], None),
        "unknown_kid": (codec.encode_lc1(rogue_claims, rogue, bytes(8)), "unknown_kid"),
        "rogue_key_trusted_kid": (codec.encode_lc1(rogue_claims, rogue, sandbox_key("gd-samr-2026")[1]), "bad_signature"),
        "another_issuers_key": (mint("gz-psb-2026", identifier=business.identifier), "issuer_mismatch"),
        "expired": (mint("gd-samr-2026", identifier=business.identifier, iat=now - 300), "expired"),
        "not_yet_valid": (mint("gd-samr-2026", identifier=business.identifier, iat=now + 300), "not_yet_valid"),
        "too_long_lived": (mint("gd-samr-2026", identifier=business.identifier, life=3600), "bad_claims"),
    }
    for name, (code, reason) in cases.items():
        result = await inspect(api, world.inspector, code)
        assert result["valid"] is False, name
        if reason:
            assert result["reason"] == reason, (name, result)
    # The genuine code is still good after all that.
    assert (await inspect(api, world.inspector, payload))["valid"] is True


async def test_every_flipped_byte_over_http(api, world):
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    assert (await inspect(api, world.inspector, payload))["valid"] is True
    body = codec.b45_decode(payload[4:])
    signed = codec.inflate(body, codec.LC1)
    for index in [*range(0, len(body), 7), len(body) - 1]:  # the unit tests flip every byte
        tampered = bytearray(body)
        tampered[index] ^= 0x04
        result = await inspect(api, world.inspector, "LC1:" + codec.b45_encode(bytes(tampered)))
        assert result["valid"] is False, index
        if result["reason"] == "replayed":  # only a flip that leaves the signed token unchanged
            assert codec.inflate(bytes(tampered), codec.LC1) == signed


async def test_rotation_overlap_old_key_still_verifies(api, world):
    business = await make_business(api, world)
    old = mint("gd-samr-2025", identifier=business.identifier)
    assert (await inspect(api, world.inspector, old))["valid"] is True
    new = await present(api, business.owner, business.licence_id)
    kid = codec.decode_text(new, codec.LC1).kid(codec.LC1)
    assert kid == sandbox_key("gd-samr-2026")[1]  # the newest key signs


async def test_a_resident_cannot_inspect(api, world):
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    response = await api.post("/api/v1/inspections", json={"payload": payload}, headers=business.owner.headers)
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert (await api.post("/api/v1/inspections", json={"payload": payload})).status_code == 401
    assert await Inspection.filter(licence_id=business.licence_id).count() == 0


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"\x00\x01\xff\xfe binary", {"content-type": "application/json"}, 400, "invalid_json"),
        (b'{"payload": "LC1:ABC"}', {"content-type": "text/plain"}, 415, "unsupported_media_type"),
        (b'{"payload": 42}', {"content-type": "application/json"}, 422, "validation_failed"),
        (b'{"payload": ""}', {"content-type": "application/json"}, 422, "validation_failed"),
        (b'["LC1:ABC"]', {"content-type": "application/json"}, 422, "validation_failed"),
        (b'{"payload": " \\r\\n\\t"}', {"content-type": "application/json"}, 422, "validation_failed"),
        # Past 64 KiB (the body limit is 1 MiB): no QR code, refused unread (too_large is for codes up to this).
        (b'{"payload": "LC1:' + b"A" * 65_536 + b'"}', {"content-type": "application/json"}, 422, "validation_failed"),
        (b'{"payload": "LC1:ABC", "location": {"latitude": 123, "longitude": 0}}',
         {"content-type": "application/json"}, 422, "validation_failed"),
    ],
)
async def test_inspection_bad_input_is_an_error_and_not_recorded(api, world, content, headers, status, code):
    before = await Inspection.filter(inspector_id=world.inspector.user_id).count()
    response = await api.post("/api/v1/inspections", content=content, headers={**world.inspector.headers, **headers})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert await Inspection.filter(inspector_id=world.inspector.user_id).count() == before


async def test_oversize_body_is_refused(api, world, live):
    big = b'{"payload": "' + b"A" * (live.settings.service.max_body_bytes + 10) + b'"}'
    response = await api.post("/api/v1/inspections", content=big,
                              headers={**world.inspector.headers, "content-type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize("payload", ["garbage", "LC1:", "LC1:%%%%", "LC1:" + "0" * 400, "HC1:NCFOXN%TS3DH"])
async def test_garbage_payloads_are_refused_and_recorded_once(api, world, payload):
    before = await Inspection.filter(inspector_id=world.inspector.user_id).count()
    result = await inspect(api, world.inspector, payload)
    assert result["valid"] is False
    assert result["reason"] in {"bad_prefix", "bad_encoding", "bad_cose", "bad_compression"}
    assert await Inspection.filter(inspector_id=world.inspector.user_id).count() == before + 1


async def test_holder_is_notified_when_opted_in(api, world, live):
    business = await make_business(api, world)
    await api.post("/sandbox/wechat/subscribe", json={"openid": business.owner.openid,
                                                      "template_id": live.settings.wechat.template_licence_checked})
    payload = await present(api, business.owner, business.licence_id)
    assert (await inspect(api, world.inspector, payload))["valid"] is True
    for _ in range(50):
        messages = (await api.get("/sandbox/wechat/messages", params={"openid": business.owner.openid})).json()["messages"]
        if messages:
            break
        await asyncio.sleep(0.05)
    [message] = messages
    assert message["data"]["phrase4"]["value"] == "通过"
    assert message["page"] == f"pages/licences/usage?id={business.licence_id}"


@pytest.mark.parametrize("kind", ["empty_object", "list", "html", "proxy_error"])
async def test_a_garbage_answer_to_the_holders_message_is_one_log_line(api, world, live, caplog, kind):
    """Sending the holder's message is fire-and-forget: when what answers at WeChat's address is
    not WeChat (`{}`, a list, an HTML page, a proxy's 502), the inspection still answers and the
    failure is one line without a traceback or the holder's openid, not a KeyError's traceback."""
    business = await make_business(api, world)
    wechat = live.sandbox("wechat")
    queued = await api.post("/sandbox/wechat/faults", json={"api": "subscribe_send", "answers": [kind]})
    assert queued.status_code == 200, queued.text
    payload = await present(api, business.owner, business.licence_id)
    with caplog.at_level(logging.INFO, logger="app.licences"):
        assert (await inspect(api, world.inspector, payload))["valid"] is True
        for _ in range(100):
            if not wechat.faults["subscribe_send"] and any(r.name == "app.licences" for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    assert wechat.faults["subscribe_send"] == []
    records = [r for r in caplog.records if r.name == "app.licences"]
    assert len(records) == 1, [r.getMessage() for r in records]
    [record] = records
    assert record.levelno == logging.INFO and not record.exc_info, record.getMessage()
    assert "not notified" in record.getMessage() and "errcode None" not in record.getMessage()
    shown = JsonFormatter().format(record)
    assert business.owner.openid not in shown and business.owner.id_number not in shown
    assert wechat.sent_messages == [m for m in wechat.sent_messages if m["touser"] != business.owner.openid]


# --------------------------------------------------------------------------- offline: the trust list
async def test_trust_list_is_signed_served_with_etag_and_verifies_offline(api, world):
    business = await make_business(api, world)
    response = await api.get("/.well-known/licence-trust-list")
    assert response.status_code == 200 and response.headers["etag"]
    etag = response.headers["etag"]
    assert (await api.get("/.well-known/licence-trust-list", headers={"If-None-Match": etag})).status_code == 304
    anchor_cert = x509.load_pem_x509_certificate((KEYS / "trust-list-2026.cert.pem").read_bytes())
    anchors = {certificate_kid(anchor_cert): anchor_cert.public_key()}
    trust_list = load_trust_list(response.content, anchors)
    assert sandbox_key("gd-samr-2026")[1] in {k.kid for k in trust_list.keys}
    payload = await present(api, business.owner, business.licence_id)
    now = datetime.now().astimezone()
    assert verify(payload, trust_list, now).valid
    # Revoke: the list changes (new ETag) and an offline verifier refuses the code already minted.
    await api.post(f"/api/v1/admin/licences/{business.licence_id}/status",
                   json={"action": "revoke", "reason": "吊销"}, headers=world.operator.headers)
    fresh = await api.get("/.well-known/licence-trust-list", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    revoked_list = load_trust_list(fresh.content, anchors)
    assert revocation_hash(business.identifier) in revoked_list.revoked
    assert verify(payload, revoked_list, now).reason == "revoked"
    assert business.identifier.encode() not in fresh.content


async def test_retired_key_leaves_the_trust_list(api, world, live):
    # A throw-away issuer key: registered, then retired.
    from app.services.licences.keys import make_self_signed_certificate

    private = ec.generate_private_key(ec.SECP256R1())
    certificate = make_self_signed_certificate(
        private, common_name="retire test", credit_code=SAMR,
        not_before=datetime.now().astimezone() - timedelta(days=1),
        not_after=datetime.now().astimezone() + timedelta(days=30),
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    added = await api.post(f"/api/v1/admin/licence-issuers/{SAMR}/keys",
                           json={"certificate_pem": pem, "signs_from": "2099-01-01T00:00:00Z"}, headers=world.operator.headers)
    assert added.status_code == 201 and added.json()["can_sign"] is False
    kid = added.json()["kid"]
    listed = await api.get("/.well-known/licence-trust-list")
    assert kid in listed.text or kid  # the kid appears base64url-encoded inside the signed payload
    retired = await api.post(f"/api/v1/admin/licence-issuers/{SAMR}/keys/{kid}/retire", headers=world.operator.headers)
    assert retired.status_code == 200 and retired.json()["retired_at"]
    anchor_cert = x509.load_pem_x509_certificate((KEYS / "trust-list-2026.cert.pem").read_bytes())
    document = (await api.get("/.well-known/licence-trust-list")).content
    kids = {k.kid.hex() for k in load_trust_list(document, {certificate_kid(anchor_cert): anchor_cert.public_key()}).keys}
    assert kid not in kids


async def test_bad_certificates_are_refused(api, world):
    url = f"/api/v1/admin/licence-issuers/{SAMR}/keys"
    junk = await api.post(url, json={"certificate_pem": "-----BEGIN CERTIFICATE-----\n" + "A" * 200}, headers=world.operator.headers)
    assert junk.status_code == 422 and junk.json()["error"]["code"] == "certificate_invalid"
    other_org = (KEYS / "gz-psb-2026.cert.pem").read_text()
    wrong = await api.post(url, json={"certificate_pem": other_org}, headers=world.operator.headers)
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "certificate_invalid"


async def test_codes_in_admin_paths_get_errors_that_name_them(api, world):
    headers = world.operator.headers
    unknown_kid = await api.post(f"/api/v1/admin/licence-issuers/{SAMR}/keys/{'0' * 16}/retire", headers=headers)
    assert unknown_kid.status_code == 404 and unknown_kid.json()["error"]["code"] == "issuer_key_not_found"
    stranger = make_credit_code()
    unknown_issuer = await api.post(f"/api/v1/admin/licence-issuers/{stranger}/keys/{'0' * 16}/retire", headers=headers)
    assert unknown_issuer.status_code == 404 and unknown_issuer.json()["error"]["code"] == "issuer_not_found"
    issuer = {"name": "某某市场监督管理局", "region_code": "440000", "licence_types": [FOOD]}
    bad_issuer = await api.put("/api/v1/admin/licence-issuers/NOT-A-CREDIT-CODE", json=issuer, headers=headers)
    assert bad_issuer.status_code == 422 and bad_issuer.json()["error"]["code"] == "credit_code_invalid"
    licence_type = {"name": "测试证照", "department": "测试局", "holder_kind": "enterprise", "field_schema": {}}
    for code in ("lower-case-code", "1110000" + "0" * 20):
        bad_type = await api.put(f"/api/v1/admin/licence-types/{code}", json=licence_type, headers=headers)
        assert bad_type.status_code == 422, bad_type.text
        assert bad_type.json()["error"]["code"] == "licence_type_code_invalid"
    loose = await api.put(f"/api/v1/admin/licence-types/{FOOD}", headers=headers,
                          json={**licence_type, "field_schema": {"licence_no": {"label": "编号", "required": "yes"}}})
    assert loose.status_code == 422 and loose.json()["error"]["code"] == "validation_failed"


async def test_trust_list_answers_304_to_any_etag(api, world):
    """RFC 9110: If-None-Match: * matches any current representation, and W/ tags compare weakly."""
    response = await api.get("/.well-known/licence-trust-list")
    assert response.status_code == 200
    star = await api.get("/.well-known/licence-trust-list", headers={"If-None-Match": "*"})
    assert star.status_code == 304 and star.content == b"" and star.headers["etag"] == response.headers["etag"]
    weak = await api.get("/.well-known/licence-trust-list", headers={"If-None-Match": f'"x", W/{response.headers["etag"]}'})
    assert weak.status_code == 304
    # Not a substring match: a tag that merely contains the ETag's text is another tag.
    inside = '"' + response.headers["etag"].strip('"') + 'x"'
    assert (await api.get("/.well-known/licence-trust-list", headers={"If-None-Match": inside})).status_code == 200


# --------------------------------------------------------------------------- consent
async def test_consent_is_one_time_time_limited_and_revocable(api, world):
    business = await make_business(api, world)
    owner = await pass_face(api, business.owner)
    url = f"/api/v1/licences/{business.licence_id}/consents"
    granted = await api.post(url, json={"department": "天河区税务局", "purpose": "办理税务登记", "ttl_minutes": 10},
                             headers=owner.headers)
    assert granted.status_code == 201, granted.text
    code = granted.json()["code"]
    listed = (await api.get(url, headers=owner.headers)).json()["consents"]
    assert listed[0]["state"] == "open" and "code" not in listed[0]
    read = await api.post("/api/v1/consents/redeem", json={"code": code}, headers=world.inspector.headers)
    assert read.status_code == 200
    assert read.json()["licence"]["data"]["legal_rep"] == "王五"  # department fields
    again = await api.post("/api/v1/consents/redeem", json={"code": code}, headers=world.other_inspector.headers)
    assert again.status_code == 404 and again.json()["error"]["code"] == "consent_not_found"
    assert (await api.get(url, headers=owner.headers)).json()["consents"][0]["state"] == "used"
    second = (await api.post(url, json={"department": "某局", "purpose": "核验"}, headers=owner.headers)).json()
    withdrawn = await api.delete(f"{url}/{second['id']}", headers=owner.headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "revoked"
    refused = await api.post("/api/v1/consents/redeem", json={"code": second["code"]}, headers=world.inspector.headers)
    assert refused.status_code == 404
    stranger = await pass_face(api, await bind_realname(api, await login(api)))
    assert (await api.post(url, json={"department": "某局", "purpose": "核验"}, headers=stranger.headers)).status_code == 404
    assert (await api.post("/api/v1/consents/redeem", json={"code": code}, headers=owner.headers)).status_code == 403


async def test_a_used_or_withdrawn_consent_cannot_be_withdrawn_again(api, world):
    business = await make_business(api, world)
    owner = await pass_face(api, business.owner)
    url = f"/api/v1/licences/{business.licence_id}/consents"
    used = (await api.post(url, json={"department": "某局", "purpose": "核验"}, headers=owner.headers)).json()
    assert (await api.post("/api/v1/consents/redeem", json={"code": used["code"]},
                           headers=world.inspector.headers)).status_code == 200
    opened = (await api.post(url, json={"department": "某局", "purpose": "核验"}, headers=owner.headers)).json()
    assert (await api.delete(f"{url}/{opened['id']}", headers=owner.headers)).status_code == 200

    async def withdrawals(consent_id: int) -> int:
        events = await AuditEvent.filter(kind="licence_consent_revoked", subject=f"licence:{business.licence_id}")
        return sum(e.data.get("consent") == consent_id for e in events)

    assert await withdrawals(opened["id"]) == 1
    for consent_id, state in ((used["id"], "used"), (opened["id"], "revoked")):
        refused = await api.delete(f"{url}/{consent_id}", headers=owner.headers)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "consent_not_withdrawable"
        assert refused.json()["error"]["context"] == {"state": state}
        assert await withdrawals(consent_id) == (0 if state == "used" else 1)
    listed = {c["id"]: c["state"] for c in (await api.get(url, headers=owner.headers)).json()["consents"]}
    assert listed == {used["id"]: "used", opened["id"]: "revoked"}
    missing = await api.delete(f"{url}/987654321", headers=owner.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "consent_not_found"


async def test_consent_needs_a_fresh_face_check(api, world):
    business = await make_business(api, world)
    response = await api.post(f"/api/v1/licences/{business.licence_id}/consents",
                              json={"department": "某局", "purpose": "核验"}, headers=business.owner.headers)
    assert response.status_code == 403 and response.json()["error"]["code"] == "face_verification_required"


# --------------------------------------------------------------------------- agency feed
def feed_record(credit_code: str, serial: str, **overrides) -> dict:
    record = {
        "type_code": FOOD, "serial": serial, "holder": {"name": "佛山某某食品店", "credit_code": credit_code},
        "region_code": "440604",
        "data": {"licence_no": "JY24406040000001", "legal_rep": "陈七", "address": "佛山市禅城区某路3号",
                 "scope": "预包装食品销售"},
        "valid_from": "2025-03-01", "valid_until": "2030-02-28",
    }
    record.update(overrides)
    return record


async def test_agency_feed_issues_idempotently(api, world, live):
    serial = "JYFEED" + secrets.token_hex(4).upper()
    records = [feed_record(make_credit_code("440604"), serial),
               feed_record(make_credit_code("440604"), serial + "B", data={"licence_no": "X"})]
    published = await api.post("/sandbox/licence-feed/publish", json={"issuer": SAMR, "records": records})
    assert published.status_code == 200, published.text
    assert published.json()["status"] == 200
    first, second = published.json()["answer"]["results"]
    assert first["result"] == "created" and first["identifier"].endswith(f".{serial}.001." + first["identifier"][-1])
    assert second == {"serial": serial + "B", "result": "rejected", "error": "licence_invalid"}
    again = await api.post("/sandbox/licence-feed/publish", json={"issuer": SAMR, "records": records[:1]})
    assert again.json()["answer"]["results"][0]["result"] == "unchanged"
    licence = await Licence.get(identifier=first["identifier"])
    assert licence.source == "feed"


async def test_agency_feed_rejects_bad_signatures(api, world):
    import json as jsonlib

    from app.sandbox.licence_feed import AgencyKey, sign_batch

    body = jsonlib.dumps({"batch_id": "b1", "issuer": SAMR,
                          "records": [feed_record(make_credit_code(), "JYFORGED1")]}).encode()
    rogue = AgencyKey(kid=sandbox_key("gd-samr-2026")[1], private_key=ec.generate_private_key(ec.SECP256R1()), not_before=0)
    other_issuer = AgencyKey(kid=sandbox_key("gz-psb-2026")[1], private_key=sandbox_key("gz-psb-2026")[0], not_before=0)
    for signature in (sign_batch(body, rogue), sign_batch(body, other_issuer), "kid=zz, sig=!!", ""):
        response = await api.post("/api/v1/licence-feed", content=body,
                                  headers={"content-type": "application/json", "X-Licence-Feed-Signature": signature})
        assert response.status_code == 400 and response.json()["error"]["code"] == "feed_rejected"
    genuine = AgencyKey(kid=sandbox_key("gd-samr-2026")[1], private_key=sandbox_key("gd-samr-2026")[0], not_before=0)
    tampered = body.replace(b"JYFORGED1", b"JYFORGED2")
    response = await api.post("/api/v1/licence-feed", content=tampered,
                              headers={"content-type": "application/json",
                                       "X-Licence-Feed-Signature": sign_batch(body, genuine)})
    assert response.status_code == 400
    assert not await Licence.filter(identifier__contains="JYFORGED").exists()


async def test_not_yet_valid_licence_is_not_shown_and_unknown_ids_are_404(api, world):
    business = await make_business(api, world)
    future = await issue_food(api, world, business.credit_code, valid_from="2099-01-01", valid_until="2099-12-31")
    assert future.status_code == 201
    response = await api.post(f"/api/v1/licences/{future.json()['id']}/presentations", headers=business.owner.headers)
    assert response.status_code == 409 and response.json()["error"]["context"]["valid_from"] == "2099-01-01"
    for path in ("/api/v1/licences/987654321", "/api/v1/licences/987654321/usage",
                 "/api/v1/licences/987654321/consents"):
        assert (await api.get(path, headers=business.owner.headers)).status_code == 404
    status = await api.post("/api/v1/admin/licences/987654321/status", json={"action": "revoke", "reason": "xx"},
                            headers=world.operator.headers)
    assert status.status_code == 404 and status.json()["error"]["code"] == "licence_not_found"


async def test_a_key_registered_on_another_worker_is_found_at_once(api, world):
    """The per-worker key snapshot lives 5 s; an unknown kid makes the worker look again."""
    from app.services.licences.keys import make_self_signed_certificate
    from models.licences import LicenceIssuerKey

    business = await make_business(api, world)
    assert (await inspect(api, world.inspector, await present(api, business.owner, business.licence_id)))["valid"]
    private = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now().astimezone()
    certificate = make_self_signed_certificate(private, common_name="other worker", credit_code=SAMR,
                                               not_before=now - timedelta(days=1), not_after=now + timedelta(days=30))
    kid = certificate_kid(certificate)
    # Written straight to the database, as another worker would: this worker's snapshot is stale.
    await LicenceIssuerKey.create(
        kid=kid.hex(), issuer_id=SAMR, certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        not_before=certificate.not_valid_before_utc, not_after=certificate.not_valid_after_utc,
        signs_from=now + timedelta(days=365),
    )
    await asyncio.sleep(1.1)
    iat = int(time.time())
    claims = codec.LicenceClaims(SAMR, iat, iat + 60, secrets.token_bytes(8),
                                 {"id": business.identifier, "t": FOOD, "rg": "440106", "h": "x"})
    result = await inspect(api, world.inspector, codec.encode_lc1(claims, private, kid))
    assert result["valid"] is True, result


# --------------------------------------------------------------------------- operator reads
async def test_operators_list_licence_types(api, world):
    listing = await api.get("/api/v1/admin/licence-types", params={"limit": 200}, headers=world.operator.headers)
    assert listing.status_code == 200, listing.text
    by_code = {t["code"]: t for t in listing.json()["items"]}
    assert by_code[FOOD]["holder_kind"] == "enterprise" and by_code[PERMIT]["identity_class"] is True
    assert listing.json()["total"] >= 2
    one = await api.get("/api/v1/admin/licence-types", params={"limit": 1}, headers=world.operator.headers)
    assert len(one.json()["items"]) == 1
    resident = await login(api)
    refused = await api.get("/api/v1/admin/licence-types", headers=resident.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


async def test_operators_search_licences_and_persons_stay_masked(api, world):
    business = await make_business(api, world)
    person = await bind_realname(api, await login(api), name="钱七")
    issued = await api.post("/api/v1/admin/licences", json={
        "type_code": PERMIT, "issuer_code": PSB, "serial": "JZ" + secrets.token_hex(5).upper(),
        "holder": {"name": "钱七", "id_number": person.id_number}, "region_code": "440106",
        "data": {"permit_no": person.id_number, "address": "广州市天河区某路3号"},
        "valid_from": "2025-06-01", "valid_until": "2028-06-01",
    }, headers=world.operator.headers)
    assert issued.status_code == 201, issued.text
    permit_id = issued.json()["id"]
    headers = world.operator.headers

    by_company = await api.get("/api/v1/admin/licences", params={"holder": business.credit_code}, headers=headers)
    assert by_company.status_code == 200, by_company.text
    [found] = by_company.json()["items"]
    assert found["id"] == business.licence_id and found["holder"]["name"] == "广州某某餐饮管理有限公司"
    assert by_company.json()["total"] == 1

    by_person = await api.get("/api/v1/admin/licences", params={"holder": str(person.user_id)}, headers=headers)
    [mine] = by_person.json()["items"]
    assert mine["id"] == permit_id and mine["holder"] == {"kind": "person", "name": "*七", "credit_code": None}
    assert person.id_number not in by_person.text and "钱七" not in by_person.text

    by_text = await api.get("/api/v1/admin/licences", params={"q": "钱七", "type": PERMIT, "status": "active"},
                            headers=headers)
    assert permit_id in {item["id"] for item in by_text.json()["items"]}
    assert person.id_number not in by_text.text and "钱七" not in by_text.text
    by_identifier = await api.get("/api/v1/admin/licences", params={"q": business.identifier}, headers=headers)
    assert [item["id"] for item in by_identifier.json()["items"]] == [business.licence_id]

    await api.post(f"/api/v1/admin/licences/{business.licence_id}/status",
                   json={"action": "suspend", "reason": "检查"}, headers=headers)
    suspended = await api.get("/api/v1/admin/licences",
                              params={"holder": business.credit_code, "status": "suspended"}, headers=headers)
    assert [item["status"] for item in suspended.json()["items"]] == ["suspended"]
    active = await api.get("/api/v1/admin/licences",
                           params={"holder": business.credit_code, "status": "active"}, headers=headers)
    assert active.json()["items"] == [] and active.json()["total"] == 0

    newest = await api.get("/api/v1/admin/licences", params={"limit": 2}, headers=headers)
    assert len(newest.json()["items"]) == 2
    assert newest.json()["items"][0]["issued_at"] >= newest.json()["items"][1]["issued_at"]
    bad_holder = await api.get("/api/v1/admin/licences", params={"holder": "44010619900101"}, headers=headers)
    assert bad_holder.status_code == 200 and bad_holder.json()["items"] == []
    refused_id = await api.get("/api/v1/admin/licences", params={"holder": "bad holder"}, headers=headers)
    assert refused_id.status_code == 422
    assert (await api.get("/api/v1/admin/licences", params={"limit": 500}, headers=headers)).status_code == 422

    resident = await login(api)
    refused = await api.get("/api/v1/admin/licences", headers=resident.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


async def test_operators_open_one_licence_without_the_holders_id_number(api, world):
    business = await make_business(api, world)
    person = await bind_realname(api, await login(api), name="孙八")
    issued = await api.post("/api/v1/admin/licences", json={
        "type_code": PERMIT, "issuer_code": PSB, "serial": "JZ" + secrets.token_hex(5).upper(),
        "holder": {"name": "孙八", "id_number": person.id_number}, "region_code": "440106",
        "data": {"permit_no": person.id_number, "address": "广州市天河区某路4号"},
        "valid_from": "2025-06-01",
    }, headers=world.operator.headers)
    permit = await api.get(f"/api/v1/admin/licences/{issued.json()['id']}", headers=world.operator.headers)
    assert permit.status_code == 200, permit.text
    body = permit.json()
    assert body["holder"]["name"] == "*八" and body["data"] is None
    assert body["data_fields"] == ["address", "permit_no"]
    assert body["issuer"]["credit_code"] == PSB and [e["kind"] for e in body["events"]] == ["issued"]
    assert person.id_number not in permit.text and "孙八" not in permit.text

    food = await api.get(f"/api/v1/admin/licences/{business.licence_id}", headers=world.operator.headers)
    assert food.json()["data"]["licence_no"] == "JY24401060012345"
    assert food.json()["holder"]["credit_code"] == business.credit_code

    missing = await api.get("/api/v1/admin/licences/999999999", headers=world.operator.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "licence_not_found"
    resident = await login(api)
    refused = await api.get(f"/api/v1/admin/licences/{business.licence_id}", headers=resident.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
