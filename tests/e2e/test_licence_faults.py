"""Fault campaign on licences: a store that fails part-way through a write, and duplicates at once.

README: on a store outage "what it wrote was one transaction or nothing, so sending it again is
safe". Each write here fails at its audit record (the last statement) as PostgreSQL or Redis going
away would: the caller gets 503 `store_unavailable`, nothing is half-written, and the retry
succeeds with exactly one change, one licence event and one audit record.
Runs on both stores (the embedded default, and PostgreSQL + Redis in CI's second pass).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.services.identity.audit import AuditLog
from app.services.licences.keys import make_self_signed_certificate
from models.identity import AuditEvent
from models.licences import ConsentGrant, LicenceEvent, LicenceIssuer, LicenceIssuerKey, LicenceType
from tests.conftest import ON_POSTGRES, OPERATOR_PASSWORD, Session, free_port, login, make_inspector, pass_face
from tests.e2e.test_serve import wait_healthy
from tests.e2e.test_store_outages import assert_store_unavailable
from tests.factories import make_credit_code
from tests.handlers.test_licence_rotation_and_trust_list import _throwaway_key
from tests.handlers.test_licences import (  # noqa: F401
    FOOD,
    KEYS,
    SAMR,
    World,
    inspect,
    make_business,
    present,
    world,
)

FOOD_TYPE = {
    "name": "食品经营许可证", "department": "市场监督管理局", "holder_kind": "enterprise",
    "field_schema": {name: {"label": name, "required": True} for name in ("licence_no", "legal_rep", "address", "scope")}
    | {"phone": {"label": "电话"}},
    "qr_fields": ["licence_no", "scope"],
    "visible_fields": {"inspector": ["licence_no", "scope", "address"], "department": ["licence_no", "legal_rep"]},
}


@pytest.fixture
def audit_outage(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Kinds of audit record whose next append fails as an unreachable store would (once each)."""
    failing: set[str] = set()
    append = AuditLog.append

    async def flaky(self: AuditLog, conn, entries):  # type: ignore[no-untyped-def]
        for entry in entries:
            if entry.kind in failing:
                failing.discard(entry.kind)
                raise ConnectionRefusedError(111, "store cut by the test")
        return await append(self, conn, entries)

    monkeypatch.setattr(AuditLog, "append", flaky)
    yield failing


async def audit_count(kind: str, subject: str) -> int:
    return await AuditEvent.filter(kind=kind, subject=subject).count()


async def test_a_consent_redemption_cut_part_way_leaves_the_code_usable(api, world, audit_outage):  # noqa: F811
    business = await make_business(api, world)
    owner = await pass_face(api, business.owner)
    subject = f"licence:{business.licence_id}"
    consents = f"/api/v1/licences/{business.licence_id}/consents"

    # A grant cut part-way stores nothing: the holder never saw a code, and none is left open.
    audit_outage.add("licence_consent_granted")
    assert_store_unavailable(await api.post(consents, json={"department": "天河区税务局", "purpose": "办理登记"},
                                            headers=owner.headers))
    assert (await api.get(consents, headers=owner.headers)).json()["consents"] == []
    granted = await api.post(consents, json={"department": "天河区税务局", "purpose": "办理登记"}, headers=owner.headers)
    assert granted.status_code == 201, granted.text
    assert await audit_count("licence_consent_granted", subject) == 1

    # A redemption cut part-way leaves the code unused: the department's retry reads the licence.
    code = granted.json()["code"]
    audit_outage.add("licence_consent_used")
    assert_store_unavailable(await api.post("/api/v1/consents/redeem", json={"code": code},
                                            headers=world.inspector.headers))
    assert (await ConsentGrant.get(id=granted.json()["id"])).used_at is None
    read = await api.post("/api/v1/consents/redeem", json={"code": code}, headers=world.inspector.headers)
    assert read.status_code == 200, read.text
    again = await api.post("/api/v1/consents/redeem", json={"code": code}, headers=world.other_inspector.headers)
    assert again.status_code == 404 and again.json()["error"]["code"] == "consent_not_found"
    assert await audit_count("licence_consent_used", subject) == 1

    # The reader's own repeat cut part-way answers nothing; asking again answers the same read.
    audit_outage.add("licence_consent_repeated")
    assert_store_unavailable(await api.post("/api/v1/consents/redeem", json={"code": code},
                                            headers=world.inspector.headers))
    repeated = await api.post("/api/v1/consents/redeem", json={"code": code}, headers=world.inspector.headers)
    assert repeated.status_code == 200 and repeated.json() == read.json()
    assert await audit_count("licence_consent_used", subject) == 1
    assert await audit_count("licence_consent_repeated", subject) == 1


async def test_a_status_change_cut_part_way_changes_nothing(api, world, audit_outage):  # noqa: F811
    business = await make_business(api, world)
    url = f"/api/v1/admin/licences/{business.licence_id}/status"
    body = {"action": "suspend", "reason": "现场检查不合格"}
    audit_outage.add("licence_suspend")
    assert_store_unavailable(await api.post(url, json=body, headers=world.operator.headers))
    # Still active (a presentation is minted), and the retry is not a transition_not_allowed.
    assert (await api.post(f"/api/v1/licences/{business.licence_id}/presentations",
                           headers=business.owner.headers)).status_code == 201
    suspended = await api.post(url, json=body, headers=world.operator.headers)
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended", suspended.text
    kinds = await LicenceEvent.filter(licence_id=business.licence_id).values_list("kind", flat=True)
    assert kinds == ["issued", "suspend"]
    assert await audit_count("licence_suspend", f"licence:{business.licence_id}") == 1


async def test_a_key_retirement_cut_part_way_is_retried_whole(api, world, audit_outage):  # noqa: F811
    _, kid = await _throwaway_key(api, world)
    url = f"/api/v1/admin/licence-issuers/{SAMR}/keys/{kid.hex()}/retire"
    audit_outage.add("licence_key_retired")
    assert_store_unavailable(await api.post(url, headers=world.operator.headers))
    assert (await LicenceIssuerKey.get(kid=kid.hex())).retired_at is None
    # Two retirements at once (an operator's double click and the retry): one, recorded once.
    answers = await asyncio.gather(*(api.post(url, headers=world.operator.headers) for _ in range(2)))
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert answers[0].json()["retired_at"] == answers[1].json()["retired_at"]
    assert await _retirements(kid.hex()) == 1


async def _retirements(kid: str) -> int:
    rows = await AuditEvent.filter(kind="licence_key_retired", subject=f"issuer:{SAMR}").values_list("data", flat=True)
    return sum(1 for data in rows if isinstance(data, dict) and data.get("kid") == kid)


async def test_catalogue_saves_cut_part_way_store_nothing_and_are_retried_whole(api, world, audit_outage):  # noqa: F811
    """Saving a licence type or an issuer, and adding an issuer key, cut at the audit record:
    503, nothing saved, and the retry saves it with exactly one audit record."""
    headers = world.operator.headers
    code = "T" + secrets.token_hex(10).upper()
    type_url, type_subject = f"/api/v1/admin/licence-types/{code}", f"licence_type:{code}"
    audit_outage.add("licence_type_saved")
    assert_store_unavailable(await api.put(type_url, json=FOOD_TYPE, headers=headers))
    assert not await LicenceType.exists(code=code)
    assert (await api.put(type_url, json=FOOD_TYPE, headers=headers)).status_code == 200
    assert await audit_count("licence_type_saved", type_subject) == 1
    # An update cut part-way leaves the type as it was.
    audit_outage.add("licence_type_saved")
    assert_store_unavailable(await api.put(type_url, json=FOOD_TYPE | {"name": "改名"}, headers=headers))
    assert (await LicenceType.get(code=code)).name == FOOD_TYPE["name"]
    assert (await api.put(type_url, json=FOOD_TYPE | {"name": "改名"}, headers=headers)).json()["name"] == "改名"
    assert await audit_count("licence_type_saved", type_subject) == 2

    credit_code = make_credit_code("440100")
    issuer_url, issuer_subject = f"/api/v1/admin/licence-issuers/{credit_code}", f"issuer:{credit_code}"
    issuer = {"name": "测试发证机关", "region_code": "440100", "licence_types": [code]}
    audit_outage.add("licence_issuer_saved")
    assert_store_unavailable(await api.put(issuer_url, json=issuer, headers=headers))
    assert not await LicenceIssuer.exists(credit_code=credit_code)
    assert (await api.put(issuer_url, json=issuer, headers=headers)).status_code == 200
    assert await audit_count("licence_issuer_saved", issuer_subject) == 1

    certificate = make_self_signed_certificate(
        ec.generate_private_key(ec.SECP256R1()), common_name="fault test", credit_code=credit_code,
        not_before=datetime.now(UTC) - timedelta(days=1), not_after=datetime.now(UTC) + timedelta(days=30),
    )
    key = {"certificate_pem": certificate.public_bytes(serialization.Encoding.PEM).decode()}
    audit_outage.add("licence_key_added")
    assert_store_unavailable(await api.post(f"{issuer_url}/keys", json=key, headers=headers))
    assert not await LicenceIssuerKey.exists(issuer_id=credit_code)
    # The retry adds it with its record (a key stored by the cut try would be found and never
    # recorded); sending it once more finds it and records nothing more.
    for _ in range(2):
        added = await api.post(f"{issuer_url}/keys", json=key, headers=headers)
        assert added.status_code == 201, added.text
    rows = await AuditEvent.filter(kind="licence_key_added", subject=issuer_subject).values_list("data", flat=True)
    assert [data["kid"] for data in rows] == [added.json()["kid"]]


async def test_duplicates_at_once_are_accepted_once(api, world):  # noqa: F811
    """The same code from two inspectors, the same consent code twice, at the same moment."""
    business = await make_business(api, world)
    second = await make_inspector(api, world.operator, licence_types=[FOOD], regions=["440000"])
    for _ in range(3):
        payload = await present(api, business.owner, business.licence_id)
        results = await asyncio.gather(inspect(api, world.inspector, payload), inspect(api, second, payload))
        assert sorted(r["valid"] for r in results) == [False, True], results
        assert [r.get("reason") for r in results if not r["valid"]] == ["replayed"]
    usage = (await api.get(f"/api/v1/licences/{business.licence_id}/usage", headers=business.owner.headers)).json()
    assert sorted(entry["valid"] for entry in usage["inspections"]) == [False] * 3 + [True] * 3

    owner = await pass_face(api, business.owner)
    code = (await api.post(f"/api/v1/licences/{business.licence_id}/consents",
                           json={"department": "某局", "purpose": "核验"}, headers=owner.headers)).json()["code"]
    redeemed = await asyncio.gather(*(
        api.post("/api/v1/consents/redeem", json={"code": code}, headers=who.headers) for who in (world.inspector, second)
    ))
    assert sorted(r.status_code for r in redeemed) == [200, 404]
    assert await audit_count("licence_consent_used", f"licence:{business.licence_id}") == 1


async def test_presentations_minted_while_keys_rotate_all_verify(api, world):  # noqa: F811
    """A new key added and the old one retired while holders mint codes: every code verifies."""
    business = await make_business(api, world)
    _, kid = await _throwaway_key(api, world)  # listed, never signs (the service lacks its private key)
    codes: list[str] = []

    async def mint_many() -> None:
        for _ in range(15):
            codes.append(await present(api, business.owner, business.licence_id))

    async def rotate() -> None:
        await asyncio.sleep(0.05)
        retired = await api.post(f"/api/v1/admin/licence-issuers/{SAMR}/keys/{kid.hex()}/retire",
                                 headers=world.operator.headers)
        assert retired.status_code == 200, retired.text

    await asyncio.gather(mint_many(), mint_many(), rotate())
    results = await asyncio.gather(*(inspect(api, world.inspector, code) for code in codes))
    assert all(r["valid"] for r in results), [r for r in results if not r["valid"]]


# --------------------------------------------------------------------------- kill -9 mid-burst
def _start(env: dict[str, str], port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(f"http://127.0.0.1:{port}", process, timeout=60)
    return process


def run_app(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
async def test_kill_9_in_a_burst_loses_and_doubles_nothing(tmp_path, live):
    """SIGKILL while logins, issuance, presentations, inspections and consents are under way:
    what a client saw succeed is still there after the restart, and nothing happened twice."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")} | {"APP_SERVICE_LOG_LEVEL": "ERROR"}
    if ON_POSTGRES:  # the schema `live` migrated; a Redis key prefix of its own
        env |= {"APP_DATABASE_URL": os.environ["APP_DATABASE_URL"], "APP_REDIS_KEY_PREFIX": f"kill{os.getpid()}:"}
        env |= {"APP_REDIS_URL": os.environ["APP_REDIS_URL"]} if os.environ.get("APP_REDIS_URL") else {}
    else:
        env |= {"APP_DATABASE_URL": f"sqlite://{tmp_path}/kill.sqlite3"}
    port = free_port()
    process = _start(env, port)
    username = "op_" + secrets.token_hex(4)
    created = await asyncio.to_thread(run_app, "create-operator", username,
                                      env=env | {"OPERATOR_PASSWORD": OPERATOR_PASSWORD})
    assert created.returncode == 0, created.stderr
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False) as api:
            answer = (await api.post("/api/v1/auth/operator-login",
                                     json={"username": username, "password": OPERATOR_PASSWORD})).json()
            operator = Session(answer["user"]["id"], None, answer["access_token"], answer["refresh_token"])
            for path, body in ((f"/api/v1/admin/licence-types/{FOOD}", FOOD_TYPE),
                               (f"/api/v1/admin/licence-issuers/{SAMR}",
                                {"name": "广东省市场监督管理局", "region_code": "440000", "licence_types": [FOOD]})):
                assert (await api.put(path, json=body, headers=operator.headers)).status_code == 200
            await api.post(f"/api/v1/admin/licence-issuers/{SAMR}/keys", headers=operator.headers,
                           json={"certificate_pem": (KEYS / "gd-samr-2026.cert.pem").read_text(),
                                 "signs_from": "2026-01-01T00:00:00Z"})
            inspector = await make_inspector(api, operator, licence_types=[FOOD], regions=["440000"])
            business = await make_business(api, World(operator, inspector, inspector, inspector))
            owner = await pass_face(api, business.owner)
            seen: dict[str, list] = {"issued": [], "accepted": [], "redeemed": [], "sessions": [], "open": []}
            enough = asyncio.Event()

            async def one(n: int) -> None:
                try:
                    if n % 4 == 0:
                        body = {"type_code": FOOD, "issuer_code": SAMR, "serial": f"KILL{os.getpid()}{n:04d}",
                                "holder": {"name": "某公司", "credit_code": business.credit_code},
                                "region_code": "440106", "data": {"licence_no": "JY1", "legal_rep": "王五",
                                                                  "address": "某地", "scope": "热食"},
                                "valid_from": "2025-01-01"}
                        issued = await api.post("/api/v1/admin/licences", json=body, headers=operator.headers)
                        if issued.status_code == 201:
                            seen["issued"].append((body, issued.json()["id"]))
                    elif n % 4 == 1:
                        payload = await present(api, business.owner, business.licence_id)
                        if (await inspect(api, inspector, payload))["valid"]:
                            seen["accepted"].append(payload)
                    elif n % 4 == 2:
                        granted = await api.post(f"/api/v1/licences/{business.licence_id}/consents",
                                                 json={"department": "某局", "purpose": "核验"}, headers=owner.headers)
                        code = granted.json()["code"]
                        seen["open"].append(code)
                        if (await api.post("/api/v1/consents/redeem", json={"code": code},
                                           headers=inspector.headers)).status_code == 200:
                            seen["redeemed"].append(code)
                    else:
                        seen["sessions"].append(await login(api))
                except (httpx.HTTPError, AssertionError, KeyError, ValueError):
                    pass  # the service died under this call: it saw no success
                if sum(map(len, seen.values())) > 8:
                    enough.set()

            burst = [asyncio.create_task(one(n)) for n in range(160)]
            # Killed once a few calls have succeeded, with most of the burst still in flight (a
            # fixed delay saw none succeed on a loaded machine).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(enough.wait(), 20)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            await asyncio.gather(*burst)
            process = _start(env, port)
            assert sum(map(len, seen.values())) > 8, {k: len(v) for k, v in seen.items()}

            for body, licence_id in seen["issued"]:  # durable, idempotent, one "issued" event
                again = await api.post("/api/v1/admin/licences", json=body, headers=operator.headers)
                assert again.status_code == 200 and again.json()["id"] == licence_id, again.text
                history = (await api.get(f"/api/v1/admin/licences/{licence_id}/history", headers=operator.headers))
                assert [e["kind"] for e in history.json()["events"]] == ["issued"]
            for payload in seen["accepted"]:  # still refused as replayed after the restart
                assert (await inspect(api, inspector, payload))["reason"] == "replayed"
            other = await make_inspector(api, operator, licence_types=[FOOD], regions=["440000"])
            for code in seen["redeemed"]:  # used for good: nobody else reads it
                assert (await api.post("/api/v1/consents/redeem", json={"code": code},
                                       headers=other.headers)).status_code == 404
            for code in seen["open"]:  # the reader's retry reads it, whether or not the killed call had
                assert (await api.post("/api/v1/consents/redeem", json={"code": code},
                                       headers=inspector.headers)).status_code == 200
            for session in seen["sessions"]:  # refresh tokens survive
                refreshed = await api.post("/api/v1/auth/refresh", json={"refresh_token": session.refresh_token})
                assert refreshed.status_code == 200, refreshed.text
            verified = await asyncio.to_thread(run_app, "audit-verify", env=env)
            assert verified.returncode == 0 and "intact" in verified.stdout + verified.stderr, verified
    finally:
        process.kill()
        process.wait(10)
