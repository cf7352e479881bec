"""Issuer and trust-list signing keys: where private keys come from, and how new ones are made.

Private keys never live in the database. They come from a secrets mount (a directory of PEM
files, `licences.keys_dir`) and/or the environment (`APP_LICENCES_PRIVATE_KEYS`, PEM blocks
concatenated). The database holds each issuer key's certificate; the matching private key is
found by its public key, so file names carry no meaning. The sandbox keys under
certs/sandbox/licences/ are for development and tests only.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.lc1.codec import kid_for_certificate

_PEM_KEY = re.compile(
    rb"-----BEGIN (?:EC |)PRIVATE KEY-----.+?-----END (?:EC |)PRIVATE KEY-----", re.DOTALL
)


def public_key_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class KeyRing:
    """Private keys by their public key (SubjectPublicKeyInfo DER)."""

    _keys: dict[bytes, ec.EllipticCurvePrivateKey] = field(default_factory=dict)

    def add(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._keys[public_key_der(key.public_key())] = key

    def private_key_for(self, public_key: ec.EllipticCurvePublicKey) -> ec.EllipticCurvePrivateKey | None:
        return self._keys.get(public_key_der(public_key))

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:  # never show key material
        return f"KeyRing({len(self._keys)} keys)"


def _private_keys_in(pem: bytes) -> Iterable[ec.EllipticCurvePrivateKey]:
    for block in _PEM_KEY.findall(pem):
        key = serialization.load_pem_private_key(block, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise ValueError("licence signing keys must be P-256 (ES256)")
        yield key


def load_key_ring(keys_dir: str | Path | None, pem_from_env: str = "") -> KeyRing:
    """Every private key in `keys_dir/*.key.pem` and in the PEM text from the environment."""
    ring = KeyRing()
    if keys_dir:
        for path in sorted(Path(keys_dir).glob("*.key.pem")):
            for key in _private_keys_in(path.read_bytes()):
                ring.add(key)
    if pem_from_env:
        for key in _private_keys_in(pem_from_env.encode()):
            ring.add(key)
    return ring


def load_certificates(keys_dir: str | Path | None) -> list[x509.Certificate]:
    if not keys_dir:
        return []
    return [
        x509.load_pem_x509_certificate(path.read_bytes())
        for path in sorted(Path(keys_dir).glob("*.cert.pem"))
    ]


def certificate_kid(certificate: x509.Certificate) -> bytes:
    return kid_for_certificate(certificate.public_bytes(serialization.Encoding.DER))


def certificate_credit_code(certificate: x509.Certificate) -> str | None:
    """The issuing authority's credit code, carried as the subject's organizationIdentifier."""
    values = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    return str(values[0].value) if values else None


def make_self_signed_certificate(
    private_key: ec.EllipticCurvePrivateKey,
    *,
    common_name: str,
    credit_code: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    """A self-signed issuer (or trust-list) certificate; its DER hash gives the kid."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, credit_code),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(private_key, hashes.SHA256())
    )


def write_key_pair(
    directory: Path, stem: str, private_key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stem}.key.pem").write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (directory / f"{stem}.cert.pem").write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
    )
