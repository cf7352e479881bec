"""What a login writes, for many logins at once; and the roles of many users in three queries.

A login stores the user (created on the first one), its encrypted session_key, a refresh token
and an audit record. Logins that arrive together are written in one transaction by a Coalescer
(app/batching.py): about a dozen queries per group instead of per login, which is what lets one
worker keep up with a morning rush of residents opening the mini-program.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.services.identity.audit import AuditEntry, AuditLog
from models.identity import Enterprise, EnterpriseAgent, RefreshToken, User, UserRole


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
    """What roles are derived from: granted roles by id, resident by openid, business by the
    bound ID number (legal representative) or by an unexpired agent authorisation."""

    user_id: int
    openid: str | None
    id_number_index: str | None


async def roles_of_users(
    users: Sequence[RoleSubject], *, now: datetime, connection: BaseDBAsyncClient | None = None
) -> dict[int, frozenset[str]]:
    if not users:
        return {}
    ids = [user.user_id for user in users]
    grants: dict[int, set[str]] = {user_id: set() for user_id in ids}
    for user_id, role in await UserRole.filter(user_id__in=ids).using_db(connection).values_list("user_id", "role"):
        grants[user_id].add(role)
    indexes = [user.id_number_index for user in users if user.id_number_index]
    represented = set(
        await Enterprise.filter(legal_rep_index__in=indexes)
        .using_db(connection)
        .values_list("legal_rep_index", flat=True)
        if indexes
        else ()
    )
    agents = set(
        await EnterpriseAgent.filter(user_id__in=ids, revoked_at=None, expires_at__gt=now)
        .using_db(connection)
        .values_list("user_id", flat=True)
    )
    roles: dict[int, frozenset[str]] = {}
    for user in users:
        held = grants[user.user_id]
        if user.openid:
            held.add("resident")
        if user.user_id in agents or (user.id_number_index and user.id_number_index in represented):
            held.add("business")
        roles[user.user_id] = frozenset(held)
    return roles


_USER_FIELDS = ("id", "openid", "unionid", "id_number_index", "realname_verified_at", "face_verified_at")


async def write_logins(logins: list[LoginRecord], *, audit: AuditLog) -> list[LoggedIn]:
    """Store a group of logins in one transaction; answers in the order given. The same
    openid may appear twice (two taps): its last login's session_key wins, as it would one by one."""
    latest = {login.openid: login for login in logins}
    now = max(login.at for login in logins)
    async with in_transaction() as conn:
        users = {
            row["openid"]: row
            for row in await User.filter(openid__in=list(latest)).using_db(conn).values(*_USER_FIELDS)
        }
        new = [openid for openid in latest if openid not in users]
        if new:
            # Another worker may create the same user at the same moment: its row is kept.
            await User.bulk_create(
                [
                    User(
                        openid=o,
                        unionid=latest[o].unionid,
                        session_key_enc=latest[o].session_key_enc,
                        last_login_at=latest[o].at,
                    )
                    for o in new
                ],
                ignore_conflicts=True,
                using_db=conn,
            )
            for row in await User.filter(openid__in=new).using_db(conn).values(*_USER_FIELDS):
                users[row["openid"]] = row
        returning = [openid for openid in latest if openid not in new]
        if returning:
            await User.bulk_update(
                [
                    User(
                        id=users[o]["id"],
                        session_key_enc=latest[o].session_key_enc,
                        unionid=latest[o].unionid or users[o]["unionid"],
                        last_login_at=latest[o].at,
                    )
                    for o in returning
                ],
                fields=["session_key_enc", "unionid", "last_login_at"],
                using_db=conn,
            )
        # A first login has no grants or enterprises yet: only returning users are read.
        roles = await roles_of_users(
            [RoleSubject(users[o]["id"], o, users[o]["id_number_index"]) for o in returning], now=now, connection=conn
        )
        await RefreshToken.bulk_create(
            [
                RefreshToken(
                    family_id=login.family_id,
                    user_id=users[login.openid]["id"],
                    token_hash=login.refresh_hash,
                    issued_at=login.at,
                    expires_at=login.refresh_expires_at,
                )
                for login in logins
            ],
            using_db=conn,
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
            realname_verified_at=users[login.openid]["realname_verified_at"],
            face_verified_at=users[login.openid]["face_verified_at"],
        )
        for login in logins
    ]
