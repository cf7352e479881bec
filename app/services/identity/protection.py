"""Protection of personal data at rest: AES-GCM encryption and an HMAC blind index.

The associated data names the field, so a ciphertext copied into another column or row type
does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.config import Secret

_VERSION = b"\x01"


class FieldCipher:
    def __init__(self, key: Secret):
        self._aead = AESGCM(base64.b64decode(key.reveal())[:32])

    def encrypt(self, value: str, *, field: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), field.encode())
        return base64.b64encode(_VERSION + nonce + sealed).decode()

    def decrypt(self, token: str, *, field: str) -> str:
        raw = base64.b64decode(token)
        if raw[:1] != _VERSION:
            raise ValueError("unknown ciphertext version")
        try:
            return self._aead.decrypt(raw[1:13], raw[13:], field.encode()).decode()
        except InvalidTag:
            raise ValueError("ciphertext does not verify") from None


class BlindIndex:
    def __init__(self, key: Secret):
        self._key = base64.b64decode(key.reveal())

    def of(self, value: str, *, field: str) -> str:
        message = f"{field}:{value.strip().upper()}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def mask_name(name: str) -> str:
    """张三丰 -> *三丰 style: enough for the owner to recognise, not to identify."""
    return "*" + name[1:] if len(name) > 1 else "*"


def mask_id_number(id_number: str) -> str:
    return id_number[:1] + "*" * 16 + id_number[-1:]


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"
