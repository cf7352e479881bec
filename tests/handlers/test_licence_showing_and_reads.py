"""What a holder may show and what they see of its reads: a code is drawn only while its licence
may be shown (and an identity licence's only after a face check), signing keys outlive the codes
they sign, codes arrive with a scanner's CR/LF or oversize and are answered as codes, consents
are neither granted nor read for a licence that may not be shown, a reader's retry is the same
read, each read appears once in the usage log, and an issuer's changed licence types reach the
trust list at once."""

from __future__ import annotations

import asyncio
import io
import secrets
import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest
import zxingcpp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from app.lc1 import codec
from app.lc1.identifier import LicenceIdentifier
from app.lc1.trust_list import load_trust_list
from app.lc1.verifier import MAX_PAYLOAD_CHARS
from app.services.licences.keys import certificate_kid, make_self_signed_certificate
from models.identity import AuditEvent
from models.licences import ConsentGrant, Inspection, Licence
from tests.conftest import Session, bind_realname, login, pass_face
from tests.factories import make_credit_code
from tests.handlers.test_licences import (  # noqa: F401  (world: the shared module fixture)
    FOOD,
    KEYS,
    PERMIT,
    PSB,
    World,
    inspect,
    issue_food,
    issue_residence_permit,
    make_business,
    present,
    world,
)


def _png_url(licence_id: int, payload: str) -> str:
    return f"/api/v1/licences/{licence_id}/presentations/{quote(payload, safe='')}.png"


async def _change_status(api, world: World, licence_id: int, action: str) -> dict:  # noqa: F811
    response = await api.post(f"/api/v1/admin/licences/{licence_id}/status",
                              json={"action": action, "reason": "整改"}, headers=world.operator.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _new_issuer(api, world: World, licence_types: list[str]) -> str:  # noqa: F811
    credit_code = make_credit_code("440000")
    await _put_issuer(api, world, credit_code, licence_types)
    return credit_code


async def _put_issuer(api, world: World, credit_code: str, licence_types: list[str]) -> None:  # noqa: F811
    response = await api.put(f"/api/v1/admin/licence-issuers/{credit_code}", headers=world.operator.headers,
                             json={"name": "某某市场监督管理局", "region_code": "440000", "licence_types": licence_types})
    assert response.status_code == 200, response.text


async def _add_key(
    api, world: World, issuer: str, *, not_after: datetime, signs_from: datetime,  # noqa: F811
) -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    certificate = make_self_signed_certificate(
        private, common_name="key test", credit_code=issuer,
        not_before=signs_from - timedelta(days=1), not_after=not_after,
    )
    added = await api.post(f"/api/v1/admin/licence-issuers/{issuer}/keys", headers=world.operator.headers, json={
        "certificate_pem": certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "signs_from": signs_from.isoformat(),
    })
    assert added.status_code == 201, added.text
    return private, added.json()["kid"]


def _code(private: ec.EllipticCurvePrivateKey, kid: str, issuer: str, identifier: str) -> str:
    now = int(time.time())
    claims = codec.LicenceClaims(
        issuer=issuer, issued_at=now, expires_at=now + 90, token_id=secrets.token_bytes(8),
        licence={"id": identifier, "t": FOOD, "rg": "440106", "h": "x"},
    )
    return codec.encode_lc1(claims, private, bytes.fromhex(kid))


# --------------------------------------------------------------------------- drawing a code
@pytest.mark.parametrize("action", ["suspend", "revoke"])
async def test_a_code_is_not_drawn_once_its_licence_may_not_be_shown(api, world, action):  # noqa: F811
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    url = _png_url(business.licence_id, payload)
    assert (await api.get(url, headers=business.owner.headers)).status_code == 200
    status = (await _change_status(api, world, business.licence_id, action))["status"]
    minted = await api.post(f"/api/v1/licences/{business.licence_id}/presentations", headers=business.owner.headers)
    assert minted.status_code == 409
    for response in (await api.get(url, headers=business.owner.headers),
                     await api.get(url, params={"format": "svg"}, headers=business.owner.headers)):
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == minted.json()["error"]["code"] == "licence_not_active"
        assert response.json()["error"]["context"] == minted.json()["error"]["context"] == {"status": status}


async def test_an_identity_licences_code_is_drawn_only_after_a_recent_face_check(api, world):  # noqa: F811
    person = await bind_realname(api, await login(api), name="赵六")
    licence_id = await issue_residence_permit(api, world, person)
    without_face = dict(person.headers)
    payload = await present(api, await pass_face(api, person), licence_id)
    url = _png_url(licence_id, payload)
    assert (await api.get(url, headers=person.headers)).status_code == 200
    minted = await api.post(f"/api/v1/licences/{licence_id}/presentations", headers=without_face)
    assert minted.status_code == 403, minted.text
    for response in (await api.get(url, headers=without_face),
                     await api.get(url, params={"format": "svg"}, headers=without_face)):
        assert response.status_code == 403, response.text
        assert response.json()["error"] == minted.json()["error"]
        assert response.json()["error"]["code"] == "face_verification_required"


async def test_the_refusals_are_documented(api):
    paths = (await api.get("/openapi.json")).json()["paths"]
    render = paths["/api/v1/licences/{licence_id}/presentations/{payload}.png"]["get"]
    redeem = paths["/api/v1/consents/redeem"]["post"]
    for operation, code in ((render, "licence_not_active"), (render, "face_verification_required"),
                            (redeem, "licence_not_active")):
        assert code in operation["responses"]["4XX"]["description"], (operation["summary"], code)


# --------------------------------------------------------------------------- signing keys
async def test_a_key_whose_certificate_ends_within_a_codes_life_does_not_sign(api, world, live):  # noqa: F811
    settings = live.settings.licences
    ring = live.app.ctx.services.licences.trust.keys  # the server's private keys (a secrets mount)
    issuer = await _new_issuer(api, world, [FOOD])
    business = await make_business(api, world, issuer_code=issuer)
    now = datetime.now(UTC)
    # The newest key, but its certificate ends before a code minted now stops being accepted.
    ending, _ = await _add_key(
        api, world, issuer, signs_from=now - timedelta(minutes=1),
        not_after=now + timedelta(seconds=settings.presentation_ttl + settings.clock_skew - 10),
    )
    ring.add(ending)
    url = f"/api/v1/licences/{business.licence_id}/presentations"
    refused = await api.post(url, headers=business.owner.headers)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "signing_key_unavailable"

    lasting, lasting_kid = await _add_key(
        api, world, issuer, signs_from=now - timedelta(hours=1), not_after=now + timedelta(days=30),
    )
    ring.add(lasting)
    payload = await present(api, business.owner, business.licence_id)
    assert codec.decode_text(payload, codec.LC1).kid(codec.LC1).hex() == lasting_kid
    assert (await inspect(api, world.inspector, payload))["valid"] is True


# --------------------------------------------------------------------------- scanned payloads
async def test_a_scanners_whitespace_around_a_code_is_ignored(api, world):  # noqa: F811
    business = await make_business(api, world)
    for scanned in ("{}\n", "{}\r\n", " \t{}\r\n "):
        payload = await present(api, business.owner, business.licence_id)
        result = await inspect(api, world.inspector, scanned.format(payload))
        assert result["valid"] is True, (scanned, result)
        png = await api.get(_png_url(business.licence_id, scanned.format(payload)), headers=business.owner.headers)
        assert png.status_code == 200, png.text
        assert [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)), formats=zxingcpp.BarcodeFormat.QRCode)] == [payload]
    svg = await api.get(f"/api/v1/licences/{business.licence_id}/presentations/{quote(payload + chr(10), safe='')}",
                        params={"format": "svg"}, headers=business.owner.headers)
    assert svg.status_code == 200 and svg.text.startswith("<svg")


async def test_whitespace_inside_a_code_is_still_refused(api, world):  # noqa: F811
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    broken = payload[:40] + "\r\n" + payload[40:]
    before = await Inspection.filter(inspector_id=world.inspector.user_id).count()
    assert (await inspect(api, world.inspector, broken))["reason"] == "bad_encoding"
    assert await Inspection.filter(inspector_id=world.inspector.user_id).count() == before + 1
    png = await api.get(_png_url(business.licence_id, broken), headers=business.owner.headers)
    assert png.status_code == 400 and png.json()["error"]["code"] == "payload_invalid"
    assert (await inspect(api, world.inspector, payload))["valid"] is True  # not used up


async def test_an_oversize_code_is_refused_as_too_large_and_recorded(api, world):  # noqa: F811
    rows = Inspection.filter(inspector_id=world.inspector.user_id, reason="too_large")
    before = await rows.count()
    for length in (MAX_PAYLOAD_CHARS + 1, 64 * 1024):
        result = await inspect(api, world.inspector, "LC1:" + "A" * (length - 4))
        assert result == {"valid": False, "reason": "too_large", "checked_at": result["checked_at"]}
    assert await rows.count() == before + 2


# --------------------------------------------------------------------------- consent reads
async def test_a_consent_read_is_in_the_usage_log(api, world):  # noqa: F811
    business = await make_business(api, world)
    owner = await pass_face(api, business.owner)
    assert (await inspect(api, world.inspector, await present(api, owner, business.licence_id)))["valid"] is True
    granted = await api.post(f"/api/v1/licences/{business.licence_id}/consents", headers=owner.headers,
                             json={"department": "天河区税务局", "purpose": "办理税务登记"})
    assert granted.status_code == 201, granted.text
    read = await api.post("/api/v1/consents/redeem", json={"code": granted.json()["code"]},
                          headers=world.inspector.headers)
    assert read.status_code == 200, read.text
    usage = await api.get(f"/api/v1/licences/{business.licence_id}/usage", headers=owner.headers)
    consent_read, inspection = usage.json()["inspections"]  # newest first
    assert consent_read == {
        "kind": "consent", "at": consent_read["at"], "valid": True, "reason": None, "location": None,
        "inspector": {"id": world.inspector.user_id, "name": "*四"},
        "consent": {"id": granted.json()["id"], "department": "天河区税务局", "purpose": "办理税务登记"},
    }
    used_at = datetime.fromisoformat(read.json()["consent"]["used_at"])
    assert abs(datetime.fromisoformat(consent_read["at"]) - used_at) < timedelta(seconds=1)
    assert consent_read["at"].endswith("+08:00")
    assert inspection["kind"] == "inspection" and inspection["valid"] is True and "consent" not in inspection


@pytest.mark.parametrize("action", ["suspend", "revoke"])
async def test_a_consent_is_not_redeemed_for_a_licence_no_longer_active(api, world, action):  # noqa: F811
    business = await make_business(api, world)
    owner = await pass_face(api, business.owner)
    url = f"/api/v1/licences/{business.licence_id}/consents"
    granted = (await api.post(url, json={"department": "某局", "purpose": "核验"}, headers=owner.headers)).json()
    status = (await _change_status(api, world, business.licence_id, action))["status"]
    refused = await api.post("/api/v1/consents/redeem", json={"code": granted["code"]}, headers=world.inspector.headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "licence_not_active"
    assert refused.json()["error"]["context"] == {"status": status}
    # Nothing was read: the consent is still open and neither the usage log nor the audit shows a read.
    assert (await api.get(url, headers=owner.headers)).json()["consents"][0]["state"] == "open"
    assert (await api.get(f"/api/v1/licences/{business.licence_id}/usage", headers=owner.headers)).json() == {
        "inspections": []}
    assert not await AuditEvent.filter(kind="licence_consent_used", subject=f"licence:{business.licence_id}").exists()
    if action == "suspend":
        await _change_status(api, world, business.licence_id, "reinstate")
        read = await api.post("/api/v1/consents/redeem", json={"code": granted["code"]},
                              headers=world.inspector.headers)
        assert read.status_code == 200, read.text


async def _redeem(api, reader: Session, code: str) -> httpx.Response:
    return await api.post("/api/v1/consents/redeem", json={"code": code}, headers=reader.headers)


async def test_the_readers_retry_of_a_consent_gets_the_same_read_and_counts_once(api, world):  # noqa: F811
    business = await make_business(api, world)
    owner = await pass_face(api, business.owner)
    url = f"/api/v1/licences/{business.licence_id}/consents"
    granted = (await api.post(url, json={"department": "天河区税务局", "purpose": "办理税务登记"},
                              headers=owner.headers)).json()
    read = await _redeem(api, world.inspector, granted["code"])
    assert read.status_code == 200, read.text
    # The answer was lost on the way: the same reader asks again, and again.
    for _ in range(2):
        retry = await _redeem(api, world.inspector, granted["code"])
        assert retry.status_code == 200, retry.text
        assert retry.json() == read.json()
    assert read.json()["licence"]["data"]["legal_rep"] == "王五"  # the department's fields, as the first time
    # Anyone else is told nothing about a used code.
    stranger = await _redeem(api, world.other_inspector, granted["code"])
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "consent_not_found"

    # The holder sees one read, at the first read's time, in the consent list and the usage log.
    [listed] = (await api.get(url, headers=owner.headers)).json()["consents"]
    assert (listed["state"], listed["used_by"], listed["used_at"]) == (
        "used", world.inspector.user_id, read.json()["consent"]["used_at"])
    usage = (await api.get(f"/api/v1/licences/{business.licence_id}/usage", headers=owner.headers)).json()
    [entry] = usage["inspections"]
    assert entry["kind"] == "consent" and entry["inspector"]["id"] == world.inspector.user_id
    assert datetime.fromisoformat(entry["at"]) == datetime.fromisoformat(listed["used_at"])
    # The audit log has one use and each repeated answer.
    kinds = [e.kind for e in await AuditEvent.filter(subject=f"licence:{business.licence_id}",
                                                     kind__startswith="licence_consent_").order_by("seq")]
    assert kinds == ["licence_consent_granted", "licence_consent_used"] + ["licence_consent_repeated"] * 2

    # Not once the consent's time is over, nor while the licence may not be shown.
    await _change_status(api, world, business.licence_id, "suspend")
    refused = await _redeem(api, world.inspector, granted["code"])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "licence_not_active"
    await _change_status(api, world, business.licence_id, "reinstate")
    await ConsentGrant.filter(id=granted["id"]).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    expired = await _redeem(api, world.inspector, granted["code"])
    assert expired.status_code == 404 and expired.json()["error"]["code"] == "consent_not_found"


async def test_one_readers_retries_at_once_read_the_consent_once(api, world):  # noqa: F811
    business = await make_business(api, world)
    owner = await pass_face(api, business.owner)
    url = f"/api/v1/licences/{business.licence_id}/consents"
    code = (await api.post(url, json={"department": "某局", "purpose": "核验"}, headers=owner.headers)).json()["code"]
    answers = await asyncio.gather(*(_redeem(api, world.inspector, code) for _ in range(5)))
    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
    assert len({a.json()["consent"]["used_at"] for a in answers}) == 1
    kinds = [e.kind for e in await AuditEvent.filter(subject=f"licence:{business.licence_id}",
                                                     kind__in=["licence_consent_used", "licence_consent_repeated"])]
    assert sorted(kinds) == ["licence_consent_repeated"] * 4 + ["licence_consent_used"]
    assert len((await api.get(f"/api/v1/licences/{business.licence_id}/usage", headers=owner.headers)).json()[
        "inspections"]) == 1


async def test_no_consent_is_granted_or_read_for_a_licence_not_yet_valid(api, world):  # noqa: F811
    business = await make_business(api, world)
    owner = await pass_face(api, business.owner)
    future = await issue_food(api, world, business.credit_code, valid_from="2099-01-01", valid_until="2099-12-31")
    assert future.status_code == 201, future.text
    refused = await api.post(f"/api/v1/licences/{future.json()['id']}/consents",
                             json={"department": "某局", "purpose": "核验"}, headers=owner.headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "licence_not_active"
    assert refused.json()["error"]["context"] == {"status": "active", "valid_from": "2099-01-01"}
    assert not await ConsentGrant.filter(licence_id=future.json()["id"]).exists()

    # A consent granted while valid, for a licence whose validity the issuer has since moved on.
    url = f"/api/v1/licences/{business.licence_id}/consents"
    granted = (await api.post(url, json={"department": "某局", "purpose": "核验"}, headers=owner.headers)).json()
    await Licence.filter(id=business.licence_id).update(valid_from=date(2099, 1, 1))
    unread = await _redeem(api, world.inspector, granted["code"])
    assert unread.status_code == 409, unread.text
    assert unread.json()["error"] == refused.json()["error"]
    assert (await api.get(url, headers=owner.headers)).json()["consents"][0]["state"] == "open"


# --------------------------------------------------------------------------- issuer changes
async def test_an_issuers_changed_licence_types_reach_the_trust_list_at_once(api, world):  # noqa: F811
    issuer = await _new_issuer(api, world, [FOOD])
    now = datetime.now(UTC)
    private, kid = await _add_key(api, world, issuer, signs_from=now - timedelta(hours=1),
                                  not_after=now + timedelta(days=30))
    identifier = str(LicenceIdentifier(FOOD, issuer, "JY" + secrets.token_hex(6).upper(), "001"))
    # Past the key check (this issuer may sign food licences); there is no such licence.
    assert (await inspect(api, world.inspector, _code(private, kid, issuer, identifier)))["reason"] == "unknown_licence"
    anchor = x509.load_pem_x509_certificate((KEYS / "trust-list-2026.cert.pem").read_bytes())
    anchors = {certificate_kid(anchor): anchor.public_key()}

    async def listed_types() -> tuple[str, ...]:
        document = (await api.get("/.well-known/licence-trust-list")).content
        [key] = [key for key in load_trust_list(document, anchors).keys if key.kid.hex() == kid]
        return key.licence_types

    assert await listed_types() == (FOOD,)
    await _put_issuer(api, world, issuer, [PERMIT])
    assert await listed_types() == (PERMIT,)
    refused = await inspect(api, world.inspector, _code(private, kid, issuer, identifier))
    assert refused["reason"] == "key_usage"
