"""Key retirement keeps live codes verifiable (README: "a retired key still verifies until its last
presentation has expired"), and revalidating the trust list never pins a verifier to an expiring copy."""

from __future__ import annotations

import dataclasses
import secrets
import time
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.adapters.cache import MemoryCache
from app.lc1 import codec
from app.services.licences.keys import make_self_signed_certificate
from tests.handlers.test_licences import FOOD, SAMR, inspect, make_business, world  # noqa: F401

GRACE_SLACK = 5  # seconds: what a worker's signer cache may still sign with after retirement


async def _throwaway_key(api, world) -> tuple[ec.EllipticCurvePrivateKey, bytes]:  # noqa: F811
    """An issuer key whose private half only the test holds (the service never signs with it)."""
    private = ec.generate_private_key(ec.SECP256R1())
    certificate = make_self_signed_certificate(
        private, common_name="rotation test", credit_code=SAMR,
        not_before=datetime.now(UTC) - timedelta(days=1), not_after=datetime.now(UTC) + timedelta(days=30),
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    added = await api.post(f"/api/v1/admin/licence-issuers/{SAMR}/keys",
                           json={"certificate_pem": pem}, headers=world.operator.headers)
    assert added.status_code == 201, added.text
    return private, bytes.fromhex(added.json()["kid"])


def _code(private: ec.EllipticCurvePrivateKey, kid: bytes, identifier: str, *, iat: int) -> str:
    claims = codec.LicenceClaims(
        issuer=SAMR, issued_at=iat, expires_at=iat + 90, token_id=secrets.token_bytes(8),
        licence={"id": identifier, "t": FOOD, "rg": "440106", "h": "x"},
    )
    return codec.encode_lc1(claims, private, kid)


async def test_a_code_minted_before_its_key_was_retired_still_verifies(api, world, live):  # noqa: F811
    business = await make_business(api, world)
    private, kid = await _throwaway_key(api, world)
    shown = _code(private, kid, business.identifier, iat=int(time.time()))
    retired = await api.post(f"/api/v1/admin/licence-issuers/{SAMR}/keys/{kid.hex()}/retire",
                             headers=world.operator.headers)
    assert retired.status_code == 200 and retired.json()["retired_at"]

    result = await inspect(api, world.inspector, shown)
    assert result["valid"] is True, result
    usage = (await api.get(f"/api/v1/licences/{business.licence_id}/usage", headers=business.owner.headers)).json()
    assert [entry["valid"] for entry in usage["inspections"]] == [True]

    # Signed after the retirement reached every signer: refused, though the key is still listed.
    late = _code(private, kid, business.identifier, iat=int(time.time()) + GRACE_SLACK + 20)
    assert (await inspect(api, world.inspector, late))["reason"] == "key_not_valid"

    # Once its last codes are dead, the key leaves the trusted keys.
    catalogue = live.app.ctx.services.licences.catalogue
    now = datetime.now(UTC)
    assert kid in {key.kid for key in await catalogue.trusted_keys(now)}
    later = now + catalogue.retirement_grace + timedelta(seconds=1)
    assert kid not in {key.kid for key in await catalogue.trusted_keys(later)}


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@dataclasses.dataclass
class _FixedKeys:
    """The catalogue's keys frozen, so only the signing time moves between builds."""

    keys: tuple

    async def trusted_keys(self, now: datetime) -> tuple:
        return self.keys


async def test_an_unchanged_trust_list_is_revalidated_only_while_the_copy_has_life_left(api, world, live):  # noqa: F811
    trust = live.app.ctx.services.licences.trust
    half = trust.document_ttl // 2
    clock = _Clock(datetime.fromtimestamp(time.time() // half * half + 1, UTC))  # early in a half
    keys = _FixedKeys(await trust.catalogue.trusted_keys(datetime.now(UTC)))
    store = dataclasses.replace(trust, clock=clock, cache=MemoryCache(), catalogue=keys, _online=None)
    first = await store._build()
    clock.at += timedelta(seconds=10)
    assert (await store._build()).etag == first.etag  # re-signed, same content: 304 is right
    # Past half its lifetime, the verifier's copy (expires_at fixed when it was signed) gets a
    # fresh one, not a 304 that would leave it holding a list about to go stale.
    clock.at += timedelta(seconds=half)
    assert (await store._build()).etag != first.etag
