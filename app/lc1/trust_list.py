"""The signed trust list an offline verifier needs: issuer keys and revoked licence identifiers.

The document is a JWS in flattened JSON serialisation (RFC 7515 §7.2.2), ES256, so any JOSE
library can check it too:

    {"protected": b64url({"alg": "ES256", "kid": <b64url>, "typ": "lc1-trust-list+json"}),
     "payload": b64url(<list JSON>), "signature": b64url(r || s)}

The list JSON holds `keys` (kid, alg, issuer, public key as base64 SubjectPublicKeyInfo DER,
validity, optional licence types the key may sign) and `revocations`: SHA-256 of the licence
identifier truncated to 16 bytes, hex, so the list never shows identifiers in clear. Times are
NumericDate (seconds since the epoch, UTC).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

FORMAT = "lc1-trust-list"
MEDIA_TYPE = "lc1-trust-list+json"
REVOCATION_HASH = "sha256-128"
REVOCATION_HASH_BYTES = 16
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024


class TrustListError(ValueError):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def revocation_hash(identifier: str) -> bytes:
    return hashlib.sha256(identifier.encode("utf-8")).digest()[:REVOCATION_HASH_BYTES]


@dataclass(frozen=True)
class IssuerKey:
    kid: bytes
    issuer: str  # credit code of the issuing authority; must equal the token's iss
    public_key: ec.EllipticCurvePublicKey
    not_before: int
    not_after: int
    alg: str = "ES256"
    licence_types: tuple[str, ...] = ()  # empty: the key may sign every licence type

    def valid_at(self, moment: int) -> bool:
        return self.not_before <= moment <= self.not_after

    def may_sign(self, licence_type: str | None) -> bool:
        return not self.licence_types or licence_type in self.licence_types


@dataclass(frozen=True)
class TrustList:
    keys: tuple[IssuerKey, ...]
    revoked: frozenset[bytes] = frozenset()
    sequence: int = 0
    issued_at: int = 0
    expires_at: int | None = None  # after this an offline verifier must fetch a new list
    _by_kid: dict[bytes, tuple[IssuerKey, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        grouped: dict[bytes, list[IssuerKey]] = {}
        for key in self.keys:
            grouped.setdefault(key.kid, []).append(key)
        self._by_kid.update({kid: tuple(keys) for kid, keys in grouped.items()})

    def keys_for(self, kid: bytes) -> tuple[IssuerKey, ...]:
        """Every key with this kid: kids are 8 bytes, so collisions must be tolerated."""
        return self._by_kid.get(kid, ())

    def is_revoked(self, identifier: str) -> bool:
        return bool(self.revoked) and revocation_hash(identifier) in self.revoked


# --------------------------------------------------------------------------- encoding
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not isinstance(text, str):
        raise TrustListError("bad_trust_list", "expected a base64url string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TrustListError("bad_trust_list", "bad base64url") from exc


def _key_to_json(key: IssuerKey) -> dict[str, Any]:
    spki = key.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    entry: dict[str, Any] = {
        "kid": _b64url(key.kid),
        "alg": key.alg,
        "issuer": key.issuer,
        "public_key": base64.b64encode(spki).decode("ascii"),
        "not_before": key.not_before,
        "not_after": key.not_after,
    }
    if key.licence_types:
        entry["licence_types"] = list(key.licence_types)
    return entry


def trust_list_payload(trust_list: TrustList) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": 1,
        "sequence": trust_list.sequence,
        "issued_at": trust_list.issued_at,
        "expires_at": trust_list.expires_at,
        "keys": [_key_to_json(key) for key in trust_list.keys],
        "revocations": {
            "hash": REVOCATION_HASH,
            "entries": sorted(entry.hex() for entry in trust_list.revoked),
        },
    }


def sign_trust_list(
    trust_list: TrustList, signing_key: ec.EllipticCurvePrivateKey, kid: bytes
) -> bytes:
    """The signed document, as served at /.well-known/licence-trust-list."""
    header = {"alg": "ES256", "kid": _b64url(kid), "typ": MEDIA_TYPE}
    protected = _b64url(json.dumps(header, separators=(",", ":")).encode())
    payload = _b64url(
        json.dumps(trust_list_payload(trust_list), separators=(",", ":"), sort_keys=True).encode()
    )
    der = signing_key.sign(f"{protected}.{payload}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    signature = _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    document = {"protected": protected, "payload": payload, "signature": signature}
    return json.dumps(document, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- decoding
def load_trust_list(
    document: bytes | str, anchors: Mapping[bytes, ec.EllipticCurvePublicKey]
) -> TrustList:
    """Check the document's signature against the pinned trust-list keys and parse it."""
    if isinstance(document, str):
        document = document.encode("utf-8")
    if len(document) > MAX_DOCUMENT_BYTES:
        raise TrustListError("bad_trust_list", "document too large")
    try:
        envelope = json.loads(document)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TrustListError("bad_trust_list", "not JSON") from exc
    if not isinstance(envelope, dict) or not {"protected", "payload", "signature"} <= set(envelope):
        raise TrustListError("bad_trust_list", "not a flattened JWS")
    protected, payload, signature = (
        envelope["protected"],
        envelope["payload"],
        envelope["signature"],
    )
    try:
        header = json.loads(_b64url_decode(protected))
    except ValueError as exc:
        raise TrustListError("bad_trust_list", "protected header is not JSON") from exc
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        raise TrustListError("bad_trust_list", "trust lists are signed with ES256")
    anchor = anchors.get(_b64url_decode(header.get("kid", "")))
    if anchor is None:
        raise TrustListError("untrusted_signer", "trust list signed by an unknown key")
    raw = _b64url_decode(signature)
    if len(raw) != 64:
        raise TrustListError("bad_trust_list_signature", "ES256 signatures are 64 bytes")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        anchor.verify(der, f"{protected}.{payload}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, UnicodeEncodeError) as exc:
        raise TrustListError("bad_trust_list_signature") from exc
    try:
        body = json.loads(_b64url_decode(payload))
        return parse_trust_list_payload(body)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, TrustListError):
            raise
        raise TrustListError("bad_trust_list", "malformed list") from exc


def parse_trust_list_payload(body: Any) -> TrustList:
    if not isinstance(body, dict) or body.get("format") != FORMAT or body.get("version") != 1:
        raise TrustListError("bad_trust_list", "unknown format or version")
    revocations = body["revocations"]
    if revocations.get("hash") != REVOCATION_HASH:
        raise TrustListError("bad_trust_list", "unknown revocation hash")
    revoked = frozenset(bytes.fromhex(entry) for entry in revocations["entries"])
    if any(len(entry) != REVOCATION_HASH_BYTES for entry in revoked):
        raise TrustListError("bad_trust_list", "revocation entries are 16 bytes")
    return TrustList(
        keys=tuple(_parse_key(entry) for entry in body["keys"]),
        revoked=revoked,
        sequence=int(body["sequence"]),
        issued_at=int(body["issued_at"]),
        expires_at=None if body.get("expires_at") is None else int(body["expires_at"]),
    )


def _parse_key(entry: Mapping[str, Any]) -> IssuerKey:
    public_key = serialization.load_der_public_key(base64.b64decode(entry["public_key"]))
    if entry["alg"] != "ES256" or not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise TrustListError("bad_trust_list", "issuer keys are ES256 (P-256)")
    return IssuerKey(
        kid=_b64url_decode(entry["kid"]),
        issuer=str(entry["issuer"]),
        public_key=public_key,
        not_before=int(entry["not_before"]),
        not_after=int(entry["not_after"]),
        alg="ES256",
        licence_types=tuple(str(t) for t in entry.get("licence_types", ())),
    )


def revocations_from_identifiers(identifiers: Iterable[str]) -> frozenset[bytes]:
    return frozenset(revocation_hash(identifier) for identifier in identifiers)
