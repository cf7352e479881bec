"""Crypto and money primitives the payment channels share (WeChat Pay v3, Alipay RSA2).

Pure functions over `cryptography`; the channel adapters and the channel sandboxes both use them,
so a signature made on one side is checked by exactly the same code on the other.
"""

from __future__ import annotations

import base64
import functools
import secrets
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.config import Secret, project_path

WECHATPAY_AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
WECHATPAY_SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"


class CryptoError(ValueError):
    """Key material or a ciphertext could not be used."""


# --------------------------------------------------------------------------- keys
def key_text(secret: Secret, path: str) -> str:
    """A key given as text (environment) wins over the file at path (a secrets mount)."""
    return secret.reveal() or project_path(path).read_text()


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    return _load_private_key(pem.encode() if isinstance(pem, str) else pem)


@functools.lru_cache(maxsize=16)
def _load_private_key(data: bytes) -> rsa.RSAPrivateKey:
    # Loading checks the RSA key, which takes a noticeable fraction of a second; keys are immutable.
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise CryptoError("not a PEM RSA private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CryptoError("not an RSA private key")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """An RSA public key from a PEM public key, a PEM certificate, or bare base64 (Alipay style)."""
    data = pem.encode() if isinstance(pem, str) else pem
    key: object
    if b"BEGIN CERTIFICATE" in data:
        key = load_certificate(data).public_key()
    else:
        if b"-----BEGIN" not in data:
            data = b"-----BEGIN PUBLIC KEY-----\n" + data.strip() + b"\n-----END PUBLIC KEY-----\n"
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise CryptoError("not a PEM RSA public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise CryptoError("not an RSA public key")
    return key


def load_certificate(pem: str | bytes) -> x509.Certificate:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise CryptoError("not a PEM certificate") from exc


def certificate_public_key(certificate: x509.Certificate) -> rsa.RSAPublicKey:
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise CryptoError("the certificate does not hold an RSA key")
    return key


def certificate_serial(certificate: x509.Certificate) -> str:
    """The serial as WeChat Pay writes it: upper-case hex without leading zeros."""
    return format(certificate.serial_number, "X")


# --------------------------------------------------------------------------- RSA-SHA256
def rsa_sign(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    """base64(SHA256withRSA PKCS#1 v1.5) — WeChat Pay v3 and Alipay RSA2 alike."""
    return base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(public_key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        return False
    try:
        public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


# --------------------------------------------------------------------------- AES-256-GCM
def aes_gcm_encrypt(key: str, nonce: str, plaintext: bytes, associated_data: str) -> str:
    """base64(ciphertext || tag) as WeChat Pay puts it in a notify resource or a certificate."""
    sealed = AESGCM(_aes_key(key)).encrypt(nonce.encode(), plaintext, associated_data.encode())
    return base64.b64encode(sealed).decode()


def aes_gcm_decrypt(key: str, nonce: str, ciphertext: str, associated_data: str) -> bytes:
    try:
        sealed = base64.b64decode(ciphertext, validate=True)
        return AESGCM(_aes_key(key)).decrypt(nonce.encode(), sealed, associated_data.encode())
    except (InvalidTag, ValueError) as exc:
        raise CryptoError("the resource does not decrypt with this key") from exc


def _aes_key(key: str) -> bytes:
    raw = key.encode()
    if len(raw) != 32:
        raise CryptoError("the APIv3 key must be 32 bytes")
    return raw


# --------------------------------------------------------------------------- WeChat Pay v3
def wechatpay_request_message(method: str, url: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n over the exact bytes sent (URL = path?query)."""
    return b"".join(
        [method.upper().encode(), b"\n", url.encode(), b"\n", timestamp.encode(), b"\n",
         nonce.encode(), b"\n", body, b"\n"]
    )


def wechatpay_response_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """TIMESTAMP\\nNONCE\\nBODY\\n — what signs a response or a notify."""
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


def wechatpay_pay_sign_message(app_id: str, timestamp: str, nonce: str, package: str) -> bytes:
    """appId\\ntimeStamp\\nnonceStr\\npackage\\n — what paySign covers for wx.requestPayment."""
    return f"{app_id}\n{timestamp}\n{nonce}\n{package}\n".encode()


def wechatpay_authorization(
    *, mchid: str, serial_no: str, private_key: rsa.RSAPrivateKey, method: str, url: str,
    timestamp: str, nonce: str, body: bytes,
) -> str:
    signature = rsa_sign(private_key, wechatpay_request_message(method, url, timestamp, nonce, body))
    return (
        f'{WECHATPAY_AUTH_SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def parse_wechatpay_authorization(header: str) -> dict[str, str]:
    """The key="value" pairs of a WECHATPAY2-SHA256-RSA2048 header; {} for another scheme."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme != WECHATPAY_AUTH_SCHEME:
        return {}
    pairs: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if sep and len(value) >= 2 and value[0] == value[-1] == '"':
            pairs[key] = value[1:-1]
    return pairs


def nonce_str(length: int = 32) -> str:
    return secrets.token_hex(length // 2).upper()


# --------------------------------------------------------------------------- Alipay RSA2
def alipay_sign_content(params: Mapping[str, str], *, exclude: tuple[str, ...] = ("sign",)) -> bytes:
    """Sorted k=v joined by &, unencoded, skipping empty values and the excluded keys.

    Requests are signed over everything but `sign`; notifies are verified over everything but
    `sign` and `sign_type`.
    """
    pairs = sorted((k, v) for k, v in params.items() if k not in exclude and v not in ("", None))
    return "&".join(f"{k}={v}" for k, v in pairs).encode()


# --------------------------------------------------------------------------- money
def fen_to_yuan(fen: int) -> str:
    """12345 -> "123.45"; channels that speak yuan get exactly two decimals."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def yuan_to_fen(yuan: str) -> int:
    """"123.45" -> 12345; refuses anything that is not a whole number of fen."""
    try:
        value = Decimal(yuan.strip().lstrip("`").replace(",", ""))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount in yuan: {yuan!r}") from exc
    fen = value * 100
    if fen != fen.to_integral_value(rounding=ROUND_HALF_UP):
        raise ValueError(f"amount has fractions of a fen: {yuan!r}")
    return int(fen)
