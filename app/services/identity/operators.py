"""Operator accounts for the console: username and scrypt-hashed password."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from tortoise.transactions import in_transaction

from app.config import Secret
from models.identity import OperatorCredential, User, UserRole

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, salt, digest = stored.split("$")
        computed = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=_R, p=_P, dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))


async def create_operator(*, username: str, password: str, blind_key: Secret) -> int:
    if len(password) < 12:
        raise ValueError("operator passwords need at least 12 characters")
    async with in_transaction() as conn:
        user = await User.create(using_db=conn)
        await OperatorCredential.create(
            user=user, username=username, password_hash=hash_password(password), using_db=conn
        )
        await UserRole.create(user=user, role="operator", using_db=conn)
    return user.id
