"""Text, compression, COSE_Sign1 and CWT layers of LC1 (and of EU DCC HC1) codes.

Every decoding failure raises `DecodeError` with a stable reason code, so a verifier can say
exactly which layer refused a code.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import base45  # type: ignore[import-untyped]
import cbor2
import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

LC1_PREFIX = "LC1:"
HC1_PREFIX = "HC1:"

# COSE algorithm identifiers (IANA "COSE Algorithms")
ES256 = -7
PS256 = -37
ALGORITHM_NAMES = {ES256: "ES256", PS256: "PS256"}

HEADER_ALG = 1
HEADER_KID = 4

COSE_SIGN1_TAG = 18
CWT_TAG = 61

CLAIM_ISS = 1
CLAIM_EXP = 4
CLAIM_IAT = 6
CLAIM_CTI = 7
CLAIM_LICENCE = -70001  # private-use claim: the licence fields the type puts in the QR
CLAIM_HCERT = -260  # EU DCC health certificate claim

KID_LENGTH = 8
# A compressed LC1/HC1 code never legitimately inflates past this; anything larger is a bomb.
MAX_INFLATED_BYTES = 64 * 1024
ES256_SIGNATURE_LENGTH = 64


class DecodeError(ValueError):
    """A code was refused by one of the layers; `reason` is a stable snake_case code."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Profile:
    """What a family of codes (LC1, HC1) allows at each layer."""

    prefix: str
    compression: Literal["optional", "required"]
    # LC1 insists on alg and kid under the signature; DCC also accepts them unprotected (CO19/CO20).
    headers_must_be_protected: bool
    algorithms: frozenset[int] = field(default_factory=lambda: frozenset({ES256}))


LC1 = Profile(prefix=LC1_PREFIX, compression="optional", headers_must_be_protected=True)
HC1 = Profile(
    prefix=HC1_PREFIX,
    compression="required",
    headers_must_be_protected=False,
    algorithms=frozenset({ES256, PS256}),
)


# --------------------------------------------------------------------------- text layer
def strip_prefix(text: str, profile: Profile) -> str:
    if not text.startswith(profile.prefix):
        raise DecodeError("bad_prefix", f"expected {profile.prefix!r}")
    return text[len(profile.prefix) :]


_B45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_INVALID = 255
# bytes.translate table: an alphabet character to its value, anything else to _B45_INVALID.
_B45_VALUES = bytes(
    _B45_ALPHABET.index(chr(byte)) if chr(byte) in _B45_ALPHABET else _B45_INVALID for byte in range(256)
)
_B45_WEIGHTS = np.array([1, 45, 45 * 45], dtype=np.uint32)


def b45_decode(text: str) -> bytes:
    """RFC 9285 base45, vectorised: every inspection decodes a ~600-character code, and the
    base45 package's per-character Python loop took ~55 µs of it (this takes ~7 µs)."""
    try:
        raw = text.encode("ascii")
    except (UnicodeEncodeError, AttributeError) as exc:
        raise DecodeError("bad_encoding", "not base45") from exc
    if len(raw) % 3 == 1:
        raise DecodeError("bad_encoding", "not base45: bad length")
    values = raw.translate(_B45_VALUES)
    if _B45_INVALID in values:
        raise DecodeError("bad_encoding", "not base45: character outside the alphabet")
    whole = len(raw) - len(raw) % 3
    numbers = np.frombuffer(values, dtype=np.uint8, count=whole).reshape(-1, 3) @ _B45_WEIGHTS
    if numbers.max(initial=0) > 0xFFFF:
        raise DecodeError("bad_encoding", "not base45: group out of range")
    decoded = numbers.astype(">u2").tobytes()
    if whole < len(raw):
        last = values[whole] + values[whole + 1] * 45
        if last > 0xFF:
            raise DecodeError("bad_encoding", "not base45: last group out of range")
        decoded += bytes((last,))
    return decoded


def b45_encode(data: bytes) -> str:
    return base45.b45encode(data).decode("ascii")


# --------------------------------------------------------------------------- compression layer
def is_zlib(data: bytes) -> bool:
    # 0x78 is the zlib CMF byte for deflate with a 32 KiB window; a COSE message never starts
    # with it (in CBOR it would be a text string, not a tag or an array).
    return data[:1] == b"\x78"


def inflate(data: bytes, profile: Profile) -> bytes:
    """The COSE bytes inside `data`: inflated when zlib-framed, else passed through if allowed."""
    if not is_zlib(data):
        if profile.compression == "required":
            raise DecodeError("bad_compression", "not zlib-compressed")
        return data
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_INFLATED_BYTES)
    except zlib.error as exc:
        raise DecodeError("bad_compression", "broken zlib stream") from exc
    if inflater.unconsumed_tail:
        raise DecodeError("bad_compression", "inflates beyond the size limit")
    if not inflater.eof:
        raise DecodeError("bad_compression", "truncated zlib stream")
    if inflater.unused_data:
        raise DecodeError("bad_compression", "data after the zlib stream")
    return out


def deflate_if_smaller(data: bytes) -> bytes:
    compressed = zlib.compress(data, 9)
    return compressed if len(compressed) < len(data) else data


# --------------------------------------------------------------------------- CBOR helpers
def cbor_loads_strict(data: bytes) -> Any:
    """Decode exactly one CBOR item; trailing bytes are an error, not something to ignore."""
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise DecodeError("bad_cbor", str(exc)) from exc
    if stream.tell() != len(data):
        raise DecodeError("bad_cbor", "trailing bytes after the CBOR item")
    return value


# --------------------------------------------------------------------------- COSE_Sign1
@dataclass(frozen=True)
class CoseSign1:
    protected_bytes: bytes
    protected: Mapping[Any, Any]
    unprotected: Mapping[Any, Any]
    payload: bytes
    signature: bytes

    def algorithm(self, profile: Profile) -> int | None:
        return self._header(HEADER_ALG, profile)

    def kid(self, profile: Profile) -> bytes | None:
        return self._header(HEADER_KID, profile)

    def _header(self, label: int, profile: Profile) -> Any:
        # DCC: the protected value wins when both are present (hcert_spec §3.3.3).
        if label in self.protected:
            return self.protected[label]
        if profile.headers_must_be_protected:
            return None
        return self.unprotected.get(label)

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected_bytes, self.payload)


def sig_structure(protected_bytes: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected_bytes, b"", payload])


def parse_cose_sign1(data: bytes) -> CoseSign1:
    """Parse a COSE_Sign1: tagged 18, untagged, or wrapped as CWT 61(18(...))."""
    try:
        item = cbor_loads_strict(data)
    except DecodeError as exc:
        raise DecodeError("bad_cose", exc.detail) from exc
    if isinstance(item, cbor2.CBORTag) and item.tag == CWT_TAG:
        item = item.value
        if not (isinstance(item, cbor2.CBORTag) and item.tag == COSE_SIGN1_TAG):
            raise DecodeError("bad_cose", "CWT tag must wrap a COSE_Sign1")
    if isinstance(item, cbor2.CBORTag):
        if item.tag != COSE_SIGN1_TAG:
            raise DecodeError("bad_cose", f"unexpected tag {item.tag}")
        item = item.value
    if not isinstance(item, (list, tuple)) or len(item) != 4:
        raise DecodeError("bad_cose", "COSE_Sign1 must be an array of four")
    protected_bytes, unprotected, payload, signature = item
    if not isinstance(protected_bytes, bytes) or not isinstance(unprotected, Mapping):
        raise DecodeError("bad_cose", "malformed headers")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise DecodeError("bad_cose", "payload and signature must be byte strings")
    if protected_bytes:
        try:
            protected = cbor_loads_strict(protected_bytes)
        except DecodeError as exc:
            raise DecodeError("bad_cose", "protected header is not CBOR") from exc
        if not isinstance(protected, Mapping):
            raise DecodeError("bad_cose", "protected header must be a map")
    else:
        protected = {}
    return CoseSign1(
        protected_bytes=protected_bytes,
        protected=protected,
        unprotected=unprotected,
        payload=payload,
        signature=signature,
    )


def sign_es256(payload: bytes, private_key: ec.EllipticCurvePrivateKey, kid: bytes) -> bytes:
    """A tagged COSE_Sign1 with alg and kid in the protected header and a raw r||s signature."""
    protected_bytes = cbor2.dumps({HEADER_ALG: ES256, HEADER_KID: kid})
    der = private_key.sign(sig_structure(protected_bytes, payload), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected_bytes, {}, payload, signature]))


def verify_signature(cose: CoseSign1, public_key: Any, algorithm: int) -> bool:
    """True when `public_key` made `cose.signature` with `algorithm`; False on any mismatch."""
    message = cose.to_be_signed()
    try:
        if algorithm == ES256:
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                return False
            if not isinstance(public_key.curve, ec.SECP256R1):
                return False
            if len(cose.signature) != ES256_SIGNATURE_LENGTH:
                return False
            r = int.from_bytes(cose.signature[:32], "big")
            s = int.from_bytes(cose.signature[32:], "big")
            public_key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
            return True
        if algorithm == PS256:
            if not isinstance(public_key, rsa.RSAPublicKey):
                return False
            public_key.verify(
                cose.signature,
                message,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                hashes.SHA256(),
            )
            return True
    except InvalidSignature:
        return False
    return False


def kid_for_certificate(certificate_der: bytes) -> bytes:
    """DCC key identifier: the first 8 bytes of SHA-256 over the certificate in DER."""
    return hashlib.sha256(certificate_der).digest()[:KID_LENGTH]


# --------------------------------------------------------------------------- CWT claims
@dataclass(frozen=True)
class LicenceClaims:
    """The CWT claims of an LC1 presentation."""

    issuer: str  # unified social credit code of the issuing authority
    issued_at: int
    expires_at: int
    token_id: bytes  # cti: the replay-cache key
    licence: Mapping[str, Any]  # only the QR fields of the licence type

    @property
    def identifier(self) -> str | None:
        value = self.licence.get("id")
        return value if isinstance(value, str) else None

    @property
    def licence_type(self) -> str | None:
        value = self.licence.get("t")
        return value if isinstance(value, str) else None


def encode_claims(claims: LicenceClaims) -> bytes:
    return cbor2.dumps(
        {
            CLAIM_ISS: claims.issuer,
            CLAIM_IAT: claims.issued_at,
            CLAIM_EXP: claims.expires_at,
            CLAIM_CTI: claims.token_id,
            CLAIM_LICENCE: dict(claims.licence),
        }
    )


def decode_cwt(payload: bytes) -> Mapping[Any, Any]:
    try:
        claims = cbor_loads_strict(payload)
    except DecodeError as exc:
        raise DecodeError("bad_claims", exc.detail) from exc
    if not isinstance(claims, Mapping):
        raise DecodeError("bad_claims", "CWT claims must be a map")
    return claims


def decode_licence_claims(payload: bytes) -> LicenceClaims:
    claims = decode_cwt(payload)
    issuer = claims.get(CLAIM_ISS)
    issued_at = claims.get(CLAIM_IAT)
    expires_at = claims.get(CLAIM_EXP)
    token_id = claims.get(CLAIM_CTI)
    licence = claims.get(CLAIM_LICENCE)
    if not isinstance(issuer, str) or not issuer:
        raise DecodeError("bad_claims", "iss missing")
    if not isinstance(issued_at, int) or isinstance(issued_at, bool):
        raise DecodeError("bad_claims", "iat must be an integer NumericDate")
    if not isinstance(expires_at, int) or isinstance(expires_at, bool):
        raise DecodeError("bad_claims", "exp must be an integer NumericDate")
    if not isinstance(token_id, bytes) or not 8 <= len(token_id) <= 32:
        raise DecodeError("bad_claims", "cti must be 8 to 32 bytes")
    if not isinstance(licence, Mapping) or not all(isinstance(k, str) for k in licence):
        raise DecodeError("bad_claims", "licence claim must be a map with text keys")
    return LicenceClaims(
        issuer=issuer,
        issued_at=issued_at,
        expires_at=expires_at,
        token_id=token_id,
        licence=dict(licence),
    )


# --------------------------------------------------------------------------- whole codes
def encode_lc1(
    claims: LicenceClaims, private_key: ec.EllipticCurvePrivateKey, kid: bytes
) -> str:
    """`LC1:` + base45(zlib?(COSE_Sign1)); zlib only when it makes the code shorter."""
    cose = sign_es256(encode_claims(claims), private_key, kid)
    return LC1_PREFIX + b45_encode(deflate_if_smaller(cose))


def decode_text(text: str, profile: Profile) -> CoseSign1:
    """Prefix, base45, compression and COSE layers; raises DecodeError naming the layer."""
    body = strip_prefix(text, profile)
    return parse_cose_sign1(inflate(b45_decode(body), profile))
