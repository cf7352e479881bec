"""Our own LC1 vector set (tests/contract/lc1_vectors, made by make_lc1_vectors.py), checked
layer by layer like the DCC vectors, plus replay, revocation, holder and scope expectations and
the verifier's overall reason code."""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from cryptography import x509
from PIL import Image

from app.lc1 import codec
from app.lc1.trust_list import IssuerKey, TrustList, revocation_hash
from app.lc1.verifier import InspectorScope, MemoryReplayGuard, check_scope, verify

VECTORS = sorted((Path(__file__).resolve().parent / "lc1_vectors").glob("*.json"))


def _certificate(v: Mapping[str, Any]) -> tuple[bytes, x509.Certificate]:
    der = base64.b64decode(v["TESTCTX"]["CERTIFICATE"])
    return der, x509.load_der_x509_certificate(der)


def _clock(v: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(v["TESTCTX"]["VALIDATIONCLOCK"]).astimezone(UTC)


def _claims(v: Mapping[str, Any]) -> codec.LicenceClaims:
    return codec.decode_licence_claims(codec.parse_cose_sign1(bytes.fromhex(v["COSE"])).payload)


def _guard(v: Mapping[str, Any]) -> MemoryReplayGuard:
    guard = MemoryReplayGuard()
    now = int(_clock(v).timestamp())
    for cti in v["TESTCTX"]["SEEN_CTI"]:
        guard.remember(bytes.fromhex(cti), until=now + 3600, now=now)
    return guard


def _trust_list(v: Mapping[str, Any]) -> TrustList:
    der, certificate = _certificate(v)
    key = IssuerKey(
        kid=codec.kid_for_certificate(der), issuer=v["TESTCTX"]["TRUSTED_ISSUER"],
        public_key=certificate.public_key(),  # type: ignore[arg-type]
        not_before=int(certificate.not_valid_before_utc.timestamp()),
        not_after=int(certificate.not_valid_after_utc.timestamp()),
    )
    return TrustList(keys=(key,), revoked=frozenset(revocation_hash(i) for i in v["TESTCTX"]["REVOKED"]))


def check_unprefix(v):
    return codec.strip_prefix(v["PREFIX"], codec.LC1) == v["BASE45"]


def check_b45decode(v):
    return codec.b45_decode(v["BASE45"]) == bytes.fromhex(v["COMPRESSED"])


def check_compression(v):
    return codec.inflate(bytes.fromhex(v["COMPRESSED"]), codec.LC1) == bytes.fromhex(v["COSE"])


def check_verify(v):
    cose = codec.parse_cose_sign1(bytes.fromhex(v["COSE"]))
    der, certificate = _certificate(v)
    return (
        cose.kid(codec.LC1) == codec.kid_for_certificate(der)
        and cose.algorithm(codec.LC1) == codec.ES256
        and codec.verify_signature(cose, certificate.public_key(), codec.ES256)
    )


def check_expiration(v):
    claims = _claims(v)
    _, certificate = _certificate(v)
    clock, skew = int(_clock(v).timestamp()), v["TESTCTX"]["SKEW"]
    return (
        certificate.not_valid_before_utc.timestamp() <= claims.issued_at
        and claims.issued_at - skew <= clock <= claims.expires_at + skew
        and claims.expires_at <= certificate.not_valid_after_utc.timestamp()
        and 0 < claims.expires_at - claims.issued_at <= 90
    )


def check_decode(v):
    return dict(_claims(v).licence) == v["JSON"]


def check_picture(v):
    image = Image.open(io.BytesIO(base64.b64decode(v["2DCODE"])))
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return [r.text for r in results] == [v["PREFIX"]]


def check_replay(v):
    claims = _claims(v)
    now = int(_clock(v).timestamp())
    return _guard(v).remember(claims.token_id, until=claims.expires_at, now=now)


def check_revocation(v):
    return not _trust_list(v).is_revoked(_claims(v).identifier or "")


def check_holder(v):
    return _claims(v).licence.get("h") == v["TESTCTX"]["HOLDER"]


def check_scope_expectation(v):
    scope = v["TESTCTX"]["SCOPE"]
    return check_scope(_claims(v), InspectorScope(frozenset(scope["licence_types"]), frozenset(scope["regions"])))


CHECKS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "EXPECTEDUNPREFIX": check_unprefix,
    "EXPECTEDB45DECODE": check_b45decode,
    "EXPECTEDCOMPRESSION": check_compression,
    "EXPECTEDVERIFY": check_verify,
    "EXPECTEDEXPIRATIONCHECK": check_expiration,
    "EXPECTEDDECODE": check_decode,
    "EXPECTEDPICTUREDECODE": check_picture,
    "EXPECTEDREPLAY": check_replay,
    "EXPECTEDREVOCATION": check_revocation,
    "EXPECTEDHOLDERBINDING": check_holder,
    "EXPECTEDSCOPE": check_scope_expectation,
}


def outcome(check: Callable[[Mapping[str, Any]], bool], vector: Mapping[str, Any]) -> bool:
    try:
        return bool(check(vector))
    except (codec.DecodeError, ValueError, KeyError):
        return False


def run_vector(vector: Mapping[str, Any]) -> list[tuple[str, bool]]:
    expected = vector["EXPECTEDRESULTS"]
    rows = [(name, outcome(check, vector) == expected[name]) for name, check in CHECKS.items() if name in expected]
    result = verify(vector["PREFIX"], _trust_list(vector), _clock(vector), seen_cti=_guard(vector),
                    skew=vector["TESTCTX"]["SKEW"])
    rows.append(("EXPECTEDREASON", (None if result.valid else str(result.reason)) == expected["EXPECTEDREASON"]))
    return rows


def test_vector_set_exists():
    assert len(VECTORS) >= 15


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_lc1_vector(path: Path):
    vector = json.loads(path.read_text(encoding="utf-8"))
    failed = [name for name, ok in run_vector(vector) if not ok]
    assert not failed, f"{path.name} ({vector['TESTCTX']['DESCRIPTION']}): {failed}"


def test_lc1_report(capsys):
    totals: Counter[tuple[str, bool]] = Counter()
    for path in VECTORS:
        for name, ok in run_vector(json.loads(path.read_text(encoding="utf-8"))):
            totals[(name, ok)] += 1
    with capsys.disabled():
        print(f"\nLC1 vectors: {len(VECTORS)} files, checks passed {sum(n for (_, ok), n in totals.items() if ok)},"
              f" failed {sum(n for (_, ok), n in totals.items() if not ok)}")
    assert not any(not ok for (_, ok) in totals)
