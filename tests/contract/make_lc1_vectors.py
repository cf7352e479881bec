"""Write the LC1 conformance vectors (tests/contract/lc1_vectors/*.json).

Same JSON shape as the EU DCC test data (JSON, CBOR, COSE, COMPRESSED, BASE45, PREFIX, 2DCODE,
TESTCTX, EXPECTEDRESULTS), with the LC1 prefix and these additions:

- TESTCTX: SKEW (seconds), HOLDER (the holder an inspector expects), SCOPE (inspector licence
  types and regions), REVOKED (licence identifiers on the revocation list), SEEN_CTI (hex token
  ids already accepted), TRUSTED_ISSUER (credit code the certificate belongs to).
- EXPECTEDRESULTS: EXPECTEDREPLAY, EXPECTEDREVOCATION, EXPECTEDHOLDERBINDING, EXPECTEDSCOPE
  (true = that check passes) and EXPECTEDREASON (what app.lc1.verifier.verify answers: null for
  a valid code, otherwise its reason code).

The keys are fixed (derived from constants), so anyone can regenerate the set:
    python -m tests.contract.make_lc1_vectors
ECDSA signatures are randomised, so a regeneration changes the signatures, not the outcomes.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.adapters.qr_render import render_png
from app.lc1 import codec
from app.lc1.identifier import LicenceIdentifier
from app.services.licences.keys import certificate_kid, make_self_signed_certificate

OUT = Path(__file__).resolve().parent / "lc1_vectors"
UTC = dt.UTC
ISSUER = "11440000MB2C901609"
FOOD = "11100000MB0143000Y001"
ISSUER_KEY = ec.derive_private_key(0x1C1_0001, ec.SECP256R1())
ROGUE_KEY = ec.derive_private_key(0x1C1_0BAD, ec.SECP256R1())
CERTIFICATE = make_self_signed_certificate(
    ISSUER_KEY, common_name="LC1 vector issuer", credit_code=ISSUER,
    not_before=dt.datetime(2026, 1, 1, tzinfo=UTC), not_after=dt.datetime(2027, 12, 31, tzinfo=UTC),
)
CERT_DER = CERTIFICATE.public_bytes(serialization.Encoding.DER)
KID = certificate_kid(CERTIFICATE)
CLOCK = dt.datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
T = int(CLOCK.timestamp())
IDENTIFIER = str(LicenceIdentifier(FOOD, ISSUER, "JY24401060012345", "001"))
HOLDER = "广州某某餐饮管理有限公司"
SCOPE = {"licence_types": [FOOD], "regions": ["440000"]}


def licence_claim(**overrides: Any) -> dict[str, Any]:
    claim = {
        "id": IDENTIFIER, "t": FOOD, "rg": "440106", "h": HOLDER, "hc": "91440106MA9W3R7K05",
        "vu": "20301231", "licence_no": "JY24401060012345", "scope": "热食类食品制售；冷食类食品制售",
    }
    claim.update(overrides)
    return claim


def claims(*, iat: int = T - 10, life: int = 90, cti: bytes = bytes.fromhex("0011223344556677"),
           licence: dict[str, Any] | None = None) -> codec.LicenceClaims:
    return codec.LicenceClaims(ISSUER, iat, iat + life, cti, licence or licence_claim())


def vector(
    description: str,
    expected: dict[str, Any],
    *,
    claim_set: codec.LicenceClaims | None = None,
    cose: bytes | None = None,
    compress: bool | None = None,
    prefix: str = "LC1:",
    base45_override: str | None = None,
    compressed_override: bytes | None = None,
    **context: Any,
) -> dict[str, Any]:
    claim_set = claim_set or claims()
    cbor = codec.encode_claims(claim_set)
    cose = cose if cose is not None else codec.sign_es256(cbor, ISSUER_KEY, KID)
    if compressed_override is not None:
        compressed = compressed_override
    elif compress is None:
        compressed = codec.deflate_if_smaller(cose)
    else:
        compressed = zlib.compress(cose, 9) if compress else cose
    base45 = base45_override if base45_override is not None else codec.b45_encode(compressed)
    text = prefix + base45
    ctx = {
        "VERSION": 1, "SCHEMA": "lc1/1", "CERTIFICATE": base64.b64encode(CERT_DER).decode(),
        "VALIDATIONCLOCK": CLOCK.isoformat().replace("+00:00", "Z"), "DESCRIPTION": description,
        "SKEW": 60, "HOLDER": HOLDER, "SCOPE": SCOPE, "REVOKED": [], "SEEN_CTI": [],
        "TRUSTED_ISSUER": ISSUER,
    }
    ctx.update(context)
    document = {
        "JSON": claim_set.licence, "CBOR": cbor.hex(), "COSE": cose.hex(), "COMPRESSED": compressed.hex(),
        "BASE45": base45, "PREFIX": text, "TESTCTX": ctx, "EXPECTEDRESULTS": expected,
    }
    try:
        document["2DCODE"] = base64.b64encode(render_png(text)).decode()
        expected.setdefault("EXPECTEDPICTUREDECODE", True)
    except ValueError:
        pass  # not renderable (e.g. a lower-case prefix): no picture to decode
    return document


PASS = {
    "EXPECTEDUNPREFIX": True, "EXPECTEDB45DECODE": True, "EXPECTEDCOMPRESSION": True, "EXPECTEDVERIFY": True,
    "EXPECTEDEXPIRATIONCHECK": True, "EXPECTEDDECODE": True, "EXPECTEDREPLAY": True,
    "EXPECTEDREVOCATION": True, "EXPECTEDHOLDERBINDING": True, "EXPECTEDSCOPE": True, "EXPECTEDREASON": None,
}


def expect(**changes: Any) -> dict[str, Any]:
    return {**PASS, **{f"EXPECTED{k.upper()}": v for k, v in changes.items()}}


def unprotected_kid_cose() -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    protected = cbor2.dumps({codec.HEADER_ALG: codec.ES256})
    payload = codec.encode_claims(claims())
    r, s = decode_dss_signature(ISSUER_KEY.sign(codec.sig_structure(protected, payload), ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {codec.HEADER_KID: KID}, payload, signature]))


def tampered_signature_cose() -> bytes:
    item = cbor2.loads(codec.sign_es256(codec.encode_claims(claims()), ISSUER_KEY, KID))
    protected, unprotected, payload, signature = item.value
    return cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, payload, bytes([signature[0] ^ 1]) + signature[1:]]))


def build() -> dict[str, dict[str, Any]]:
    compressed_ok = zlib.compress(codec.sign_es256(codec.encode_claims(claims()), ISSUER_KEY, KID), 9)
    return {
        "V1": vector("VALID: food-business licence, zlib because it is smaller", expect()),
        "V2": vector("VALID: uncompressed (zlib would not help)", expect(),
                     claim_set=claims(licence={"id": IDENTIFIER, "t": FOOD, "rg": "440106", "h": HOLDER}), compress=False),
        "P1": vector("INVALID: another prefix (LC2:)", expect(unprefix=False, reason="bad_prefix"), prefix="LC2:"),
        "P2": vector("INVALID: a DCC prefix (HC1:)", expect(unprefix=False, reason="bad_prefix"), prefix="HC1:"),
        "B1": vector("INVALID: not base45", expect(b45decode=False, reason="bad_encoding"),
                     base45_override="LC1ABC:::"),
        "Z1": vector("INVALID: broken zlib stream", expect(compression=False, reason="bad_compression"),
                     compressed_override=compressed_ok[:-6]),
        "S1": vector("INVALID: signature altered", expect(verify=False, reason="bad_signature"), cose=tampered_signature_cose()),
        "S2": vector("INVALID: signed by a key that is not in the trust list, under the trusted kid",
                     expect(verify=False, reason="bad_signature"),
                     cose=codec.sign_es256(codec.encode_claims(claims()), ROGUE_KEY, KID)),
        "S3": vector("INVALID: kid only in the unprotected header (LC1 requires it protected)",
                     expect(verify=False, reason="bad_header"), cose=unprotected_kid_cose()),
        "S4": vector("INVALID: unknown kid", expect(verify=False, reason="unknown_kid"),
                     cose=codec.sign_es256(codec.encode_claims(claims()), ISSUER_KEY, bytes(8))),
        "T1": vector("INVALID: expired (clock 61 s after exp)", expect(expirationcheck=False, reason="expired"),
                     claim_set=claims(iat=T - 90 - 61)),
        "T2": vector("VALID: expired 60 s ago, inside the clock skew", expect(), claim_set=claims(iat=T - 90 - 60)),
        "T3": vector("INVALID: not yet valid (iat 61 s after the clock)",
                     expect(expirationcheck=False, reason="not_yet_valid"), claim_set=claims(iat=T + 61)),
        "T4": vector("INVALID: lives longer than 90 s", expect(expirationcheck=False, reason="bad_claims"),
                     claim_set=claims(life=3600)),
        "R1": vector("INVALID: licence revoked after minting", expect(revocation=False, reason="revoked"),
                     REVOKED=[IDENTIFIER]),
        "R2": vector("INVALID: token id already accepted (replay)", expect(replay=False, reason="replayed"),
                     SEEN_CTI=["0011223344556677"]),
        "H1": vector("VALID code, presented by someone else: the holder does not match",
                     expect(holderbinding=False), HOLDER="深圳另一家公司"),
        "C1": vector("VALID code, inspector of another region: out of scope",
                     expect(scope=False), SCOPE={"licence_types": [FOOD], "regions": ["440300"]}),
        "C2": vector("VALID code, inspector of another licence type: out of scope",
                     expect(scope=False), SCOPE={"licence_types": ["11100000MB0143000Y002"], "regions": ["440000"]}),
    }


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    for name, document in build().items():
        (OUT / f"{name}.json").write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(list(OUT.glob('*.json')))} vectors to {OUT}")


if __name__ == "__main__":
    main()
