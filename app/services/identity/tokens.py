"""Access tokens: short-lived ES256 JWTs with `kid`, checked strictly (typ, iss, aud, alg).

Keys come from a directory: each `<kid>.pem` private key signs and verifies, each
`<kid>.pub.pem` public key only verifies. Rotation with overlap: add the new key, make it active
(jwt_active_kid, or the newest name), keep the old one as .pub.pem until its tokens have expired.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.config import ConfigError, SecuritySettings, project_path
from app.errors import TokenExpired, TokenInvalid

ACCESS_TOKEN_TYPE = "at+jwt"
_LEEWAY = 5  # seconds of clock skew tolerated between workers
_ALGORITHMS = ["ES256"]  # explicit: never "none", never an HMAC algorithm
_CHECKED_TOKENS_KEPT = 10_000  # oldest forgotten first; about 10 MB at most


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    roles: frozenset[str]
    session_id: str
    face_verified_at: int | None
    # iat of a verified token (ignored when issuing, where the clock decides; not part of equality)
    issued_at: float = field(default=0.0, compare=False)


class TokenKeys:
    def __init__(self, signing_kid: str, signing_key: ec.EllipticCurvePrivateKey, verify_keys: dict[str, Any]):
        self.signing_kid = signing_kid
        self.signing_key = signing_key
        self.verify_keys = verify_keys

    @classmethod
    def from_directory(cls, directory: str, active_kid: str = "") -> TokenKeys:
        path = project_path(directory)
        private: dict[str, ec.EllipticCurvePrivateKey] = {}
        public: dict[str, Any] = {}
        for file in sorted(path.glob("*.pem")):
            data = file.read_bytes()
            if file.name.endswith(".pub.pem"):
                public[file.name.removesuffix(".pub.pem")] = serialization.load_pem_public_key(data)
            else:
                key = serialization.load_pem_private_key(data, password=None)
                if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
                    raise ConfigError(f"{file.name}: JWT keys must be EC P-256")
                private[file.stem] = key
        if not private:
            raise ConfigError(f"no JWT signing key (*.pem) in {directory}")
        kid = active_kid or sorted(private)[-1]
        if kid not in private:
            raise ConfigError(f"jwt_active_kid {kid!r} has no private key in {directory}")
        verify = {k: v.public_key() for k, v in private.items()} | public
        return cls(kid, private[kid], verify)


class AccessTokens:
    def __init__(self, settings: SecuritySettings, keys: TokenKeys):
        self._settings = settings
        self._keys = keys
        # A client sends the same token for its whole life: the ES256 check (about a fifth of
        # an authenticated request's CPU) is done once per token. Keys are fixed for the life of
        # this object and the time checks run on every call, so the answer is the same.
        self._checked: dict[str, tuple[AccessClaims, float, float]] = {}

    @property
    def ttl(self) -> int:
        return self._settings.access_token_ttl

    def issue(self, claims: AccessClaims, *, now: datetime) -> str:
        issued = int(now.timestamp())
        payload: dict[str, Any] = {
            "iss": self._settings.jwt_issuer,
            "aud": self._settings.jwt_audience,
            "sub": str(claims.user_id),
            # To the millisecond (RFC 7519 allows fractions): a role revocation cuts the tokens
            # signed before it, and the one refreshed a moment later must not be taken for one.
            "iat": round(now.timestamp(), 3),
            "nbf": issued,
            "exp": issued + self._settings.access_token_ttl,
            "jti": secrets.token_hex(8),
            "sid": claims.session_id,
            "roles": sorted(claims.roles),
        }
        if claims.face_verified_at is not None:
            payload["fva"] = claims.face_verified_at
        headers = {"kid": self._keys.signing_kid, "typ": ACCESS_TOKEN_TYPE}
        return jwt.encode(payload, self._keys.signing_key, algorithm="ES256", headers=headers)

    def verify(self, token: str, *, now: datetime) -> AccessClaims:
        checked = self._checked.get(token)
        if checked is None:
            checked = self._check_signature(token)
            if len(self._checked) >= _CHECKED_TOKENS_KEPT:
                del self._checked[next(iter(self._checked))]
            self._checked[token] = checked
        claims, expires, not_before = checked
        moment = now.timestamp()
        if expires < moment - _LEEWAY:
            raise TokenExpired()
        if not_before > moment + _LEEWAY:
            raise TokenInvalid()
        return claims

    def _check_signature(self, token: str) -> tuple[AccessClaims, float, float]:
        """Everything but the time: the claims with the token's exp and nbf."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenInvalid() from None
        if header.get("typ") != ACCESS_TOKEN_TYPE or header.get("alg") not in _ALGORITHMS:
            raise TokenInvalid()
        key = self._keys.verify_keys.get(header.get("kid", ""))
        if key is None:
            raise TokenInvalid()
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=_ALGORITHMS,
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                # Time is checked in verify() against the injected clock, not the library's.
                options={
                    "require": ["exp", "iat", "sub", "iss", "aud", "sid"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidTokenError:
            raise TokenInvalid() from None
        try:
            fva = payload.get("fva")
            claims = AccessClaims(
                user_id=int(payload["sub"]),
                roles=frozenset(str(r) for r in payload.get("roles", [])),
                session_id=str(payload["sid"]),
                face_verified_at=int(fva) if fva is not None else None,
                issued_at=float(payload["iat"]),
            )
            return claims, float(payload["exp"]), float(payload.get("nbf", payload["iat"]))
        except (TypeError, ValueError):
            raise TokenInvalid() from None
