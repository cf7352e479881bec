"""Offline verification of LC1 presentations: needs only the code, a trust list and a clock.

`verify` runs every check in a fixed order and returns the first failure as a stable reason
code, so an inspector app (or the online inspection service) can show why a code was refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

from app.lc1 import codec
from app.lc1.identifier import InvalidIdentifier, LicenceIdentifier
from app.lc1.trust_list import IssuerKey, TrustList

CLOCK_SKEW_SECONDS = 60
MAX_LIFETIME_SECONDS = 90
# A version-40 QR holds 4296 alphanumeric characters; anything longer was never a QR code.
MAX_PAYLOAD_CHARS = 4296


class Reason(StrEnum):
    TOO_LARGE = "too_large"
    STALE_TRUST_LIST = "stale_trust_list"
    BAD_PREFIX = "bad_prefix"
    BAD_ENCODING = "bad_encoding"
    BAD_COMPRESSION = "bad_compression"
    BAD_COSE = "bad_cose"
    BAD_HEADER = "bad_header"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    UNKNOWN_KID = "unknown_kid"
    BAD_SIGNATURE = "bad_signature"
    BAD_CLAIMS = "bad_claims"
    ISSUER_MISMATCH = "issuer_mismatch"
    KEY_NOT_VALID = "key_not_valid"
    KEY_USAGE = "key_usage"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REPLAYED = "replayed"


class ReplayGuard(Protocol):
    def remember(self, token_id: bytes, *, until: int, now: int) -> bool:
        """Record a token id until `until`; False when it was already recorded and still live."""
        ...


class MemoryReplayGuard:
    """Replay cache for a single offline inspector device (the server keeps its own in Redis)."""

    def __init__(self) -> None:
        self._seen: dict[bytes, int] = {}

    def remember(self, token_id: bytes, *, until: int, now: int) -> bool:
        self._seen = {cti: end for cti, end in self._seen.items() if end >= now}
        if token_id in self._seen:
            return False
        self._seen[token_id] = until
        return True


@dataclass(frozen=True)
class VerificationResult:
    valid: bool
    reason: Reason | None = None
    claims: codec.LicenceClaims | None = None
    key: IssuerKey | None = None

    @property
    def licence(self) -> Mapping[str, Any]:
        return self.claims.licence if self.claims else {}


# Codes of the same licence repeat all day; parsing (with its check character) is done once each.
# Only codes with a genuine signature get this far, so the cache holds real identifiers.
_parse_identifier = lru_cache(maxsize=4096)(LicenceIdentifier.parse)


def _refuse(reason: Reason, claims: codec.LicenceClaims | None = None) -> VerificationResult:
    return VerificationResult(valid=False, reason=reason, claims=claims)


def _signing_key(
    cose: codec.CoseSign1, candidates: Iterable[IssuerKey]
) -> IssuerKey | None:
    for key in candidates:
        if codec.verify_signature(cose, key.public_key, codec.ES256):
            return key
    return None


def verify(
    payload: str,
    trust_list: TrustList,
    now: datetime,
    *,
    seen_cti: ReplayGuard | None = None,
    skew: int = CLOCK_SKEW_SECONDS,
    max_lifetime: int = MAX_LIFETIME_SECONDS,
) -> VerificationResult:
    """Verify an LC1 code offline. With `seen_cti`, a code is accepted once within its window."""
    moment = int(now.timestamp())
    if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD_CHARS:
        return _refuse(Reason.TOO_LARGE)
    if trust_list.expires_at is not None and moment > trust_list.expires_at + skew:
        return _refuse(Reason.STALE_TRUST_LIST)
    try:
        cose = codec.decode_text(payload, codec.LC1)
    except codec.DecodeError as exc:
        return _refuse(Reason(exc.reason))

    algorithm = cose.algorithm(codec.LC1)
    kid = cose.kid(codec.LC1)
    if not isinstance(algorithm, int) or not isinstance(kid, bytes) or len(kid) != codec.KID_LENGTH:
        return _refuse(Reason.BAD_HEADER)
    if algorithm not in codec.LC1.algorithms:
        return _refuse(Reason.UNSUPPORTED_ALGORITHM)
    candidates = trust_list.keys_for(kid)
    if not candidates:
        return _refuse(Reason.UNKNOWN_KID)
    key = _signing_key(cose, candidates)
    if key is None:
        return _refuse(Reason.BAD_SIGNATURE)

    try:
        claims = codec.decode_licence_claims(cose.payload)
        identifier_text = claims.identifier or ""
        identifier = _parse_identifier(identifier_text)
    except (codec.DecodeError, InvalidIdentifier):
        return _refuse(Reason.BAD_CLAIMS)
    if not 0 < claims.expires_at - claims.issued_at <= max_lifetime:
        return _refuse(Reason.BAD_CLAIMS, claims)
    if claims.issuer != key.issuer or identifier.issuer_code != key.issuer:
        return _refuse(Reason.ISSUER_MISMATCH, claims)
    if not key.valid_at(claims.issued_at):
        return _refuse(Reason.KEY_NOT_VALID, claims)
    if not key.may_sign(claims.licence_type):
        return _refuse(Reason.KEY_USAGE, claims)
    if moment + skew < claims.issued_at:
        return _refuse(Reason.NOT_YET_VALID, claims)
    if moment - skew > claims.expires_at:
        return _refuse(Reason.EXPIRED, claims)
    # Parsing accepts only the canonical form, so the text is what the revocation hash covers.
    if trust_list.is_revoked(identifier_text):
        return _refuse(Reason.REVOKED, claims)
    # Last, so that a code refused for any other reason does not use up its one acceptance.
    if seen_cti is not None and not seen_cti.remember(
        claims.token_id, until=claims.expires_at + skew, now=moment
    ):
        return _refuse(Reason.REPLAYED, claims)
    return VerificationResult(valid=True, claims=claims, key=key)


# --------------------------------------------------------------------------- inspector scope
@dataclass(frozen=True)
class InspectorScope:
    """What an inspector may check: licence type codes and administrative division codes."""

    licence_types: frozenset[str]
    regions: frozenset[str]

    def covers(self, *, licence_type: str | None, region: str | None) -> bool:
        if licence_type not in self.licence_types:
            return False
        return any(region_within(region, scope_region) for scope_region in self.regions)


def region_within(region: str | None, scope_region: str) -> bool:
    """Whether a 6-digit division code lies inside another (440000 ⊇ 440100 ⊇ 440106)."""
    if not region or not scope_region:
        return False
    stem = scope_region
    while stem.endswith("00") and len(stem) > 2:
        stem = stem[:-2]
    return region.startswith(stem)


def check_scope(claims: codec.LicenceClaims, scope: InspectorScope) -> bool:
    region = claims.licence.get("rg")
    return scope.covers(
        licence_type=claims.licence_type, region=region if isinstance(region, str) else None
    )
