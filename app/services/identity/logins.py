"""What a login writes, for many logins at once; and the roles of many users in one query.

A login stores the user (created on the first one), its encrypted session_key, a refresh token
and an audit record. Logins that arrive together are written in one transaction by a Coalescer
(app/batching.py): about a dozen queries per group instead of per login, which is what lets one
worker keep up with a morning rush of residents opening the mini-program.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.db import insert_rows, markers, raw_sql
from app.services.identity.audit import AuditEntry, AuditLog
from models.identity import User


@dataclass(frozen=True)
class LoginRecord:
    openid: str
    unionid: str | None
    session_key_enc: str
    client_ip: str
    family_id: str
    refresh_hash: str
    at: datetime
    refresh_expires_at: datetime


@dataclass(frozen=True)
class LoggedIn:
    user_id: int
    created: bool
    roles: frozenset[str]
    realname_verified_at: datetime | None
    face_verified_at: datetime | None


@dataclass(frozen=True)
class RoleSubject:
    user_id: int
    openid: str | None


async def roles_of_users(
    users: Sequence[RoleSubject], *, now: datetime, connection: BaseDBAsyncClient | None = None
) -> dict[int, frozenset[str]]:
    """Granted roles (operator, inspector); resident for a WeChat user; business for the legal
    representative of an enterprise (by the bound ID number) or an unexpired agent. One query."""
    if not users:
        return {}
    ids = [user.user_id for user in users]
    these = markers(len(ids))
    rows = await _rows(
        connection or User._meta.db,
        f"SELECT user_id, role FROM user_roles WHERE user_id IN ({these})"  # noqa: S608
        " UNION ALL SELECT user_id, 'business' FROM enterprise_agents"
        f" WHERE user_id IN ({these}) AND revoked_at IS NULL AND expires_at > ?"
        " UNION ALL SELECT u.id, 'business' FROM users u JOIN enterprises e ON e.legal_rep_index = u.id_number_index"
        f" WHERE u.id IN ({these})",
        [*ids, *ids, now, *ids],
    )
    held: dict[int, set[str]] = {user.user_id: {"resident"} if user.openid else set() for user in users}
    for row in rows:
        held[row["user_id"]].add(row["role"])
    return {user_id: frozenset(roles) for user_id, roles in held.items()}


# Logins are the busiest write path, so they are written in raw parameterised SQL: Tortoise
# spent ~0.3-1 ms of CPU per query building SQL and models, a dozen times per group.
_USER_COLUMNS = "id, openid, unionid, realname_verified_at, face_verified_at"
_AT = User._meta.fields_map["face_verified_at"]
_NEW_USER_COLUMNS = {
    "openid": "text",
    "unionid": "text",
    "session_key_enc": "text",
    "last_login_at": "timestamptz",
    "created_at": "timestamptz",
    "notify_on_licence_check": "bool",
}
_REFRESH_TOKEN_COLUMNS = {
    "family_id": "text", "user_id": "bigint", "token_hash": "text", "issued_at": "timestamptz", "expires_at": "timestamptz"
}


async def write_logins(logins: list[LoginRecord], *, audit: AuditLog) -> list[LoggedIn]:
    """Store a group of logins in one transaction; answers in the order given. The same
    openid may appear twice (two taps): its last login's session_key wins, as it would one by one."""
    latest = {login.openid: login for login in logins}
    now = max(login.at for login in logins)
    async with in_transaction() as conn:
        users = {row["openid"]: row for row in await _users_by_openid(conn, list(latest))}
        new = [openid for openid in latest if openid not in users]
        if new:
            # Another worker may create the same user at the same moment: its row is kept.
            await insert_rows(
                conn,
                "users",
                _NEW_USER_COLUMNS,
                [[o, latest[o].unionid, latest[o].session_key_enc, latest[o].at, latest[o].at, True] for o in new],
                suffix="ON CONFLICT (openid) DO NOTHING",
            )
            users.update((row["openid"], row) for row in await _users_by_openid(conn, new))
        returning = [openid for openid in latest if openid not in new]
        if returning:
            await conn.execute_many(
                raw_sql(conn, "UPDATE users SET session_key_enc = ?, unionid = ?, last_login_at = ? WHERE id = ?"),
                [
                    [latest[o].session_key_enc, latest[o].unionid or users[o]["unionid"], latest[o].at, users[o]["id"]]
                    for o in returning
                ],
            )
        # A first login has no grants or enterprises yet: only returning users are read.
        roles = await roles_of_users([RoleSubject(users[o]["id"], o) for o in returning], now=now, connection=conn)
        await insert_rows(
            conn,
            "refresh_tokens",
            _REFRESH_TOKEN_COLUMNS,
            [
                [login.family_id, users[login.openid]["id"], login.refresh_hash, login.at, login.refresh_expires_at]
                for login in logins
            ],
        )
        await audit.append(
            conn,
            [
                AuditEntry(
                    "login", users[login.openid]["id"], f"user:{users[login.openid]['id']}", {"ip": login.client_ip}
                )
                for login in logins
            ],
        )
    return [
        LoggedIn(
            user_id=users[login.openid]["id"],
            created=login.openid in new,
            roles=roles.get(users[login.openid]["id"], frozenset({"resident"})),
            realname_verified_at=_AT.to_python_value(users[login.openid]["realname_verified_at"]),
            face_verified_at=_AT.to_python_value(users[login.openid]["face_verified_at"]),
        )
        for login in logins
    ]


async def _users_by_openid(conn: BaseDBAsyncClient, openids: list[str]) -> list[Any]:
    return await _rows(conn, f"SELECT {_USER_COLUMNS} FROM users WHERE openid IN ({markers(len(openids))})", openids)  # noqa: S608


async def _rows(conn: BaseDBAsyncClient, text: str, values: list[Any]) -> list[Any]:
    _, rows = await conn.execute_query(raw_sql(conn, text), values)
    return list(rows)
