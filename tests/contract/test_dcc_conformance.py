"""EU DCC test vectors (dgc-testdata) run against the app.lc1 codec layers.

Reads the vectors in place (../shared/dcc-testdata, or $DCC_TESTDATA); they are never copied into
this repository. Every JSON under common/ and each country folder, including the PL/PT
version-nested folders, is checked for each expectation it carries, except the vectors that the
suite's own known_issues.csv lists. Run with `-s` to see the passed/failed figures per check.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from cryptography import x509
from PIL import Image

from app.lc1 import codec

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("DCC_TESTDATA", REPO_ROOT.parent / "shared" / "dcc-testdata"))

# known_issues.csv names upstream pytest functions; these are the expectations they test.
KNOWN_ISSUE_CHECKS = {
    "test_verification_check": "EXPECTEDVERIFY",
    "test_expiration_check": "EXPECTEDEXPIRATIONCHECK",
    "test_expected_key_usage": "EXPECTEDKEYUSAGE",
    "test_cose_schema": "EXPECTEDSCHEMAVALIDATION",
    "test_cose_json": "EXPECTEDDECODE",
    "test_cbor_json": "EXPECTEDVALIDJSON",
}
# DSC extended key usages per certificate type (hcert_spec App. A.4), with the early typo'd arc.
KEY_USAGE_OIDS = {
    "t": {"1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.0.1847.2021.1.1"},
    "v": {"1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.0.1847.2021.1.2"},
    "r": {"1.3.6.1.4.1.1847.2021.1.3", "1.3.6.1.4.1.0.1847.2021.1.3"},
}


def vector_files() -> list[Path]:
    if not DATA.is_dir():
        return []
    files = sorted(DATA.glob("*/2DCode/raw/*.json")) + sorted(DATA.glob("*/*/2DCode/raw/*.json"))
    return files


@cache
def known_issues() -> frozenset[tuple[str, str, str]]:
    """(check, country, test set or '' for the whole country)."""
    with open(DATA / "known_issues.csv", encoding="utf-8") as handle:
        return frozenset(
            (KNOWN_ISSUE_CHECKS[row["test_name"]], row["country"], row["test_set"])
            for row in csv.DictReader(handle)
        )


def is_known_issue(check: str, path: Path) -> bool:
    country = path.relative_to(DATA).parts[0]
    return (check, country, path.stem) in known_issues() or (check, country, "") in known_issues()


# --------------------------------------------------------------------------- the checks
def _certificate(vector: Mapping[str, Any]) -> tuple[bytes, x509.Certificate]:
    der = base64.b64decode(vector["TESTCTX"]["CERTIFICATE"])
    return der, x509.load_der_x509_certificate(der)


def _normalise(value: Any) -> Any:
    """Order-insensitive, date-format-insensitive form, as the upstream suite compares."""
    if isinstance(value, Mapping):
        return sorted(((str(k), _normalise(v)) for k, v in value.items()), key=repr)
    if isinstance(value, (list, tuple)):
        return sorted((_normalise(v) for v in value), key=repr)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%dT00:00:00Z")
    if isinstance(value, str):
        try:
            return _normalise(datetime.fromisoformat(value))
        except ValueError:
            return value
    return value


def _hcert(payload_claims: Mapping[Any, Any]) -> Any:
    hcert = payload_claims[codec.CLAIM_HCERT]
    assert len(hcert) == 1
    return hcert[1]


def check_unprefix(v: Mapping[str, Any]) -> bool:
    return codec.strip_prefix(v["PREFIX"], codec.HC1) == v["BASE45"]


def check_b45decode(v: Mapping[str, Any]) -> bool:
    return codec.b45_decode(v["BASE45"]) == bytes.fromhex(v["COMPRESSED"])


def check_compression(v: Mapping[str, Any]) -> bool:
    return codec.inflate(bytes.fromhex(v["COMPRESSED"]), codec.HC1) == bytes.fromhex(v["COSE"])


def check_verify(v: Mapping[str, Any]) -> bool:
    cose = codec.parse_cose_sign1(bytes.fromhex(v["COSE"]))
    der, certificate = _certificate(v)
    algorithm = cose.algorithm(codec.HC1)
    if cose.kid(codec.HC1) != codec.kid_for_certificate(der):
        return False
    if algorithm not in codec.HC1.algorithms:
        return False
    return codec.verify_signature(cose, certificate.public_key(), algorithm)


def _validity_points(v: Mapping[str, Any]) -> tuple[datetime, ...]:
    """DSC notBefore, iat, validation clock, exp, DSC notAfter."""
    cose = codec.parse_cose_sign1(bytes.fromhex(v["COSE"]))
    claims = codec.decode_cwt(cose.payload)
    _, certificate = _certificate(v)
    clock = datetime.fromisoformat(v["TESTCTX"]["VALIDATIONCLOCK"])
    if clock.tzinfo is None:  # the suite's rule: no zone means UTC
        clock = clock.replace(tzinfo=UTC)
    return (
        certificate.not_valid_before_utc,
        datetime.fromtimestamp(claims[codec.CLAIM_IAT], tz=UTC),
        clock,
        datetime.fromtimestamp(claims[codec.CLAIM_EXP], tz=UTC),
        certificate.not_valid_after_utc,
    )


def check_expiration(v: Mapping[str, Any]) -> bool:
    not_before, issued, clock, expires, not_after = _validity_points(v)
    return not_before <= issued <= clock <= expires <= not_after


def check_decode(v: Mapping[str, Any]) -> bool:
    cose = codec.parse_cose_sign1(bytes.fromhex(v["COSE"]))
    return _normalise(_hcert(codec.decode_cwt(cose.payload))) == _normalise(v["JSON"])


def check_valid_json(v: Mapping[str, Any]) -> bool:
    item = codec.cbor_loads_strict(bytes.fromhex(v["CBOR"]))
    # Some vectors hold the whole CWT claims map, others only hcert[1].
    if isinstance(item, Mapping) and codec.CLAIM_HCERT in item:
        item = _hcert(item)
    return _normalise(item) == _normalise(v["JSON"])


def check_key_usage(v: Mapping[str, Any]) -> bool:
    cose = codec.parse_cose_sign1(bytes.fromhex(v["COSE"]))
    hcert = _hcert(codec.decode_cwt(cose.payload))
    kinds = [kind for kind in ("v", "t", "r") if kind in hcert]
    if len(kinds) != 1:
        return False
    _, certificate = _certificate(v)
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        granted = {oid.dotted_string for oid in usages}
    except x509.ExtensionNotFound:
        granted = set()
    except ValueError:
        granted = set()  # CO15: an EKU extension with no OIDs at all, which cryptography rejects
    # A DSC without key usages may sign every kind of certificate.
    return not granted or bool(granted & KEY_USAGE_OIDS[kinds[0]])


def check_picture_decode(v: Mapping[str, Any]) -> bool:
    image = Image.open(io.BytesIO(base64.b64decode(v["2DCODE"])))
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return len(results) == 1 and results[0].text == v["PREFIX"]


def json_disagrees_with_signed_payload(v: Mapping[str, Any]) -> bool:
    """The CBOR and the signed COSE payload agree, only the JSON side names someone else."""
    cose = codec.parse_cose_sign1(bytes.fromhex(v["COSE"]))
    signed = _normalise(_hcert(codec.decode_cwt(cose.payload)))
    return signed == _normalise(codec.cbor_loads_strict(bytes.fromhex(v["CBOR"]))) and (
        signed != _normalise(v["JSON"])
    )


def expiry_after_certificate(v: Mapping[str, Any]) -> bool:
    """Everything in order except that exp lies past the DSC's notAfter."""
    not_before, issued, clock, expires, not_after = _validity_points(v)
    return not_before <= issued <= clock <= expires and expires > not_after


# Defects in vectors that the upstream runner never reaches (its glob skips PL/x.y.z), so they
# are not in known_issues.csv. Each entry is re-proven on every run: if the vector changes so
# the defect is gone, the check counts as failed and this table must be updated.
VECTOR_DEFECTS: dict[tuple[str, str], Callable[[Mapping[str, Any]], bool]] = {
    ("PL/1.3.0/2DCode/raw/1.json", "EXPECTEDDECODE"): json_disagrees_with_signed_payload,
    ("PL/1.3.0/2DCode/raw/1.json", "EXPECTEDVALIDJSON"): json_disagrees_with_signed_payload,
    ("PL/1.3.0/2DCode/raw/5.json", "EXPECTEDDECODE"): json_disagrees_with_signed_payload,
    ("PL/1.3.0/2DCode/raw/5.json", "EXPECTEDVALIDJSON"): json_disagrees_with_signed_payload,
    # exp is 47 s past the DSC's notAfter, yet the vector expects the check to pass.
    ("PL/1.3.0/2DCode/raw/6.json", "EXPECTEDEXPIRATIONCHECK"): expiry_after_certificate,
}


CHECKS: dict[str, tuple[tuple[str, ...], Callable[[Mapping[str, Any]], bool]]] = {
    "EXPECTEDUNPREFIX": (("PREFIX", "BASE45"), check_unprefix),
    "EXPECTEDB45DECODE": (("BASE45", "COMPRESSED"), check_b45decode),
    "EXPECTEDCOMPRESSION": (("COMPRESSED", "COSE"), check_compression),
    "EXPECTEDVERIFY": (("COSE", "TESTCTX"), check_verify),
    "EXPECTEDEXPIRATIONCHECK": (("COSE", "TESTCTX"), check_expiration),
    "EXPECTEDDECODE": (("COSE", "JSON"), check_decode),
    "EXPECTEDVALIDJSON": (("CBOR", "JSON"), check_valid_json),
    "EXPECTEDKEYUSAGE": (("COSE", "TESTCTX"), check_key_usage),
    "EXPECTEDPICTUREDECODE": (("2DCODE", "PREFIX"), check_picture_decode),
}


def outcome(check: Callable[[Mapping[str, Any]], bool], vector: Mapping[str, Any]) -> bool:
    """A check's verdict; a layer refusing the input (DecodeError and the like) is False."""
    try:
        return bool(check(vector))
    except (codec.DecodeError, ValueError, KeyError, TypeError, AssertionError, OSError):
        return False


@cache
def run_vector(path: Path) -> tuple[tuple[str, str], ...]:
    """(check, verdict) for every expectation the vector carries.

    The verdict is passed, failed, known_issue (skipped: listed upstream) or vector_defect (the
    expectation is wrong and the defect was proven again on this run).
    """
    vector = json.loads(path.read_text(encoding="utf-8"))
    expected = vector.get("EXPECTEDRESULTS", {})
    rows = []
    for name, (fields, check) in CHECKS.items():
        if name not in expected or not all(field in vector for field in fields):
            continue
        if name == "EXPECTEDVERIFY" or name == "EXPECTEDEXPIRATIONCHECK":
            if "CERTIFICATE" not in vector["TESTCTX"]:
                continue
        if name == "EXPECTEDEXPIRATIONCHECK" and "VALIDATIONCLOCK" not in vector["TESTCTX"]:
            continue
        if is_known_issue(name, path):
            rows.append((name, "known_issue"))
            continue
        defect = VECTOR_DEFECTS.get((path.relative_to(DATA).as_posix(), name))
        if defect is not None:
            rows.append((name, "vector_defect" if outcome(defect, vector) else "failed"))
            continue
        passed = outcome(check, vector) == bool(expected[name])
        rows.append((name, "passed" if passed else "failed"))
    return tuple(rows)


FILES = vector_files()


@pytest.mark.skipif(not FILES, reason=f"DCC test vectors not found at {DATA}")
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(DATA)))
def test_vector(path: Path) -> None:
    failed = [name for name, verdict in run_vector(path) if verdict == "failed"]
    assert not failed, f"{path.relative_to(DATA)}: unexpected results for {failed}"


@pytest.mark.skipif(not FILES, reason=f"DCC test vectors not found at {DATA}")
def test_report(capsys: pytest.CaptureFixture[str]) -> None:
    totals: Counter[tuple[str, str]] = Counter()
    for path in FILES:
        for name, verdict in run_vector(path):
            totals[(name, verdict)] += 1
    passed = sum(n for (_, verdict), n in totals.items() if verdict == "passed")
    failed = sum(n for (_, verdict), n in totals.items() if verdict == "failed")
    skipped = sum(n for (_, verdict), n in totals.items() if verdict == "known_issue")
    defects = sum(n for (_, verdict), n in totals.items() if verdict == "vector_defect")
    with capsys.disabled():
        print(f"\nDCC conformance: {len(FILES)} vector files")
        for name in CHECKS:
            row = {v: totals[(name, v)] for v in ("passed", "failed", "known_issue", "vector_defect")}
            print(
                f"  {name:<26} passed {row['passed']:>4}  failed {row['failed']:>3}"
                f"  known issue {row['known_issue']:>3}  vector defect {row['vector_defect']:>2}"
            )
        print(
            f"  checks passed {passed}, failed {failed}, skipped as known issues {skipped},"
            f" proven vector defects {defects}"
        )
    assert failed == 0
    assert len(FILES) >= 577
