"""Access-token attacks: every variant must be refused with its own code."""

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.config import SecuritySettings
from app.errors import TokenExpired, TokenInvalid
from app.services.identity.tokens import AccessClaims, AccessTokens, TokenKeys

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CLAIMS = AccessClaims(user_id=42, roles=frozenset({"resident"}), session_id="s1", face_verified_at=None)


def write_key(directory, name, *, public_only=False):
    key = ec.generate_private_key(ec.SECP256R1())
    if public_only:
        data = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (directory / f"{name}.pub.pem").write_bytes(data)
    else:
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (directory / f"{name}.pem").write_bytes(data)
    return key


@pytest.fixture
def tokens(tmp_path):
    write_key(tmp_path, "k1")
    return AccessTokens(SecuritySettings(), TokenKeys.from_directory(str(tmp_path)))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_round_trip(tokens):
    token = tokens.issue(CLAIMS, now=NOW)
    assert jwt.get_unverified_header(token)["kid"] == "k1"
    assert tokens.verify(token, now=NOW) == CLAIMS
    # To the millisecond, so a role revocation can tell tokens signed just before it from after.
    later = NOW + timedelta(milliseconds=250)
    assert tokens.verify(tokens.issue(CLAIMS, now=later), now=later).issued_at == round(later.timestamp(), 3)


def test_tampered_payload_rejected(tokens):
    header, payload, signature = tokens.issue(CLAIMS, now=NOW).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["operator"]
    forged = ".".join([header, b64(json.dumps(claims).encode()), signature])
    with pytest.raises(TokenInvalid):
        tokens.verify(forged, now=NOW)


def test_expired_rejected_with_its_own_code(tokens):
    old = tokens.issue(CLAIMS, now=NOW - timedelta(hours=2))
    with pytest.raises(TokenExpired):
        tokens.verify(old, now=NOW)


def test_wrong_audience_and_issuer_rejected(tmp_path):
    write_key(tmp_path, "k1")
    keys = TokenKeys.from_directory(str(tmp_path))
    other = AccessTokens(SecuritySettings(jwt_audience="another-app"), keys)
    ours = AccessTokens(SecuritySettings(), keys)
    with pytest.raises(TokenInvalid):
        ours.verify(other.issue(CLAIMS, now=NOW), now=NOW)
    foreign_issuer = AccessTokens(SecuritySettings(jwt_issuer="https://evil.example"), keys)
    with pytest.raises(TokenInvalid):
        ours.verify(foreign_issuer.issue(CLAIMS, now=NOW), now=NOW)


def test_wrong_type_rejected(tmp_path):
    key = write_key(tmp_path, "k1")
    tokens = AccessTokens(SecuritySettings(), TokenKeys.from_directory(str(tmp_path)))
    good = jwt.decode(tokens.issue(CLAIMS, now=NOW), options={"verify_signature": False})
    id_token = jwt.encode(good, key, algorithm="ES256", headers={"kid": "k1", "typ": "JWT"})
    with pytest.raises(TokenInvalid):
        tokens.verify(id_token, now=NOW)


def test_alg_none_rejected(tokens):
    payload = jwt.decode(tokens.issue(CLAIMS, now=NOW), options={"verify_signature": False})
    header = {"alg": "none", "typ": "at+jwt", "kid": "k1"}
    unsigned = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}."
    with pytest.raises(TokenInvalid):
        tokens.verify(unsigned, now=NOW)


def test_hs256_with_the_public_key_as_secret_rejected(tmp_path):
    """Key confusion: an HMAC token 'signed' with our public key must not verify."""
    import hashlib
    import hmac

    key = write_key(tmp_path, "k1")
    tokens = AccessTokens(SecuritySettings(), TokenKeys.from_directory(str(tmp_path)))
    payload = jwt.decode(tokens.issue(CLAIMS, now=NOW), options={"verify_signature": False})
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'at+jwt', 'kid': 'k1'}).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    with pytest.raises(TokenInvalid):
        tokens.verify(f"{signing_input}.{signature}", now=NOW)


def test_unknown_kid_and_garbage_rejected(tokens, tmp_path):
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    write_key(other_dir, "stranger")
    stranger = AccessTokens(SecuritySettings(), TokenKeys.from_directory(str(other_dir)))
    with pytest.raises(TokenInvalid):
        tokens.verify(stranger.issue(CLAIMS, now=NOW), now=NOW)
    for garbage in ("", "abc", "a.b.c", "eyJhbGciOiJFUzI1NiJ9..", "x" * 5000):
        with pytest.raises(TokenInvalid):
            tokens.verify(garbage, now=NOW)


def test_rotation_with_overlap(tmp_path):
    """Old key demoted to verify-only still accepts its tokens; the new key signs."""
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    old_dir.mkdir()
    new_dir.mkdir()
    old_key = write_key(old_dir, "2026-01")
    old = AccessTokens(SecuritySettings(), TokenKeys.from_directory(str(old_dir)))
    token_from_old = old.issue(CLAIMS, now=NOW)

    (new_dir / "2026-01.pub.pem").write_bytes(
        old_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    write_key(new_dir, "2026-07")
    rotated = AccessTokens(SecuritySettings(), TokenKeys.from_directory(str(new_dir)))
    assert rotated.verify(token_from_old, now=NOW).user_id == 42
    assert jwt.get_unverified_header(rotated.issue(CLAIMS, now=NOW))["kid"] == "2026-07"


def test_non_p256_keys_refused(tmp_path):
    from app.config import ConfigError

    key = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    with pytest.raises(ConfigError):
        TokenKeys.from_directory(str(tmp_path))


def test_a_token_checked_before_still_expires_and_still_needs_its_signature(tokens):
    token = tokens.issue(CLAIMS, now=NOW)
    assert tokens.verify(token, now=NOW) == CLAIMS  # now remembered as checked
    with pytest.raises(TokenExpired):
        tokens.verify(token, now=NOW + timedelta(hours=2))
    with pytest.raises(TokenInvalid):
        tokens.verify(token, now=NOW - timedelta(hours=2))  # not yet valid
    header, payload, signature = token.split(".")
    with pytest.raises(TokenInvalid):
        tokens.verify(f"{header}.{payload}.{signature[:-4]}AAAA", now=NOW)
    assert tokens.verify(token, now=NOW) == CLAIMS
