"""Resident identity: WeChat login, sessions, real name, phone, face verification, roles."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import answers
from app.batching import Coalescer
from app.config import Settings
from app.context import Principal
from app.errors import (
    AppError,
    Conflict,
    FaceVerificationRequired,
    Forbidden,
    NotFound,
    RateLimited,
    TokenExpired,
    TokenInvalid,
    Unauthorized,
    UpstreamRejected,
    UpstreamUnavailable,
    ValidationFailed,
)
from app.ports import Cache, Clock, WeChatAnswerInvalid, WeChatError, WeChatMiniProgram
from app.services.catalogue.regions import unknown_regions
from app.services.identity.audit import AuditLog
from app.services.identity.idnumbers import InvalidIdNumber, validate_credit_code, validate_id_number
from app.services.identity.logins import LoggedIn, LoginRecord, RoleSubject, roles_of_users, write_logins
from app.services.identity.operators import check_password
from app.services.identity.protection import BlindIndex, FieldCipher, mask_id_number, mask_name, mask_phone
from app.services.identity.ratelimit import LoginLockout, RateLimiter
from app.services.identity.tokens import AccessClaims, AccessTokens
from models.identity import (
    AuditEvent,
    Enterprise,
    EnterpriseAgent,
    FaceVerification,
    InspectorScope,
    OperatorCredential,
    RefreshToken,
    User,
    UserRole,
)
from models.licences import LicenceType


# --------------------------------------------------------------------------- errors
class CodeInvalid(AppError):
    status, code, message = 400, "code_invalid", "The WeChat code is invalid or has expired."


class CodeUsed(AppError):
    status, code, message = 400, "code_used", "The WeChat code has already been used."


class LoginBlocked(AppError):
    status, code, message = 403, "login_blocked", "WeChat has blocked this account from logging in."


class RefreshTokenReused(Unauthorized):
    code, message = "refresh_token_reused", "This refresh token was already used; the session has been ended."


class InvalidCredentials(Unauthorized):
    code, message = "invalid_credentials", "Wrong username or password."


class IdNumberInvalid(ValidationFailed):
    code, message = "id_number_invalid", "The ID number is not valid."


class NameInvalid(ValidationFailed):
    code, message = "name_invalid", "The name is not valid."


class IdNumberTaken(Conflict):
    code, message = "id_number_taken", "This ID number is already bound to another account."


class RealNameAlreadyBound(Conflict):
    code, message = "realname_already_bound", "A different real name is already bound to this account."


class RealNameRequired(Forbidden):
    code, message = "realname_required", "Bind your real name first."


class VerifyIdInvalid(NotFound):
    code, message = "verify_id_invalid", "Unknown verify_id."


class VerifyIdUsed(Conflict):
    code, message = "verify_id_used", "This face verification has already been finished."


class VerifyIdExpired(Conflict):
    code, message = "verify_id_expired", "This face verification has expired; start again."


class FaceNotCompleted(Conflict):
    code, message = "face_not_completed", "The face verification has not been completed yet."


class FaceFailed(AppError):
    status, code, message = 422, "face_failed", "Face verification did not pass."


class EnterpriseExists(Conflict):
    code, message = "enterprise_exists", "This enterprise is already registered."


class CreditCodeInvalid(ValidationFailed):
    code, message = "credit_code_invalid", "The unified social credit code is not valid."


class UserNotFound(NotFound):
    code, message = "user_not_found", "No such user."


class EnterpriseNotFound(NotFound):
    message = "No such enterprise among yours."


class AgentNotFound(NotFound):
    message = "No such active agent."


class InspectorNotFound(NotFound):
    message = "This user is not an inspector."


class RegionNotKnown(ValidationFailed):
    code, message = "unknown_region", "A region code is not a known region."


class LicenceTypeNotKnown(NotFound):
    code, message = "licence_type_not_found", "No such licence type."


# WeChat verify_ret while the user has not finished the check on the phone.
FACE_NOT_FINISHED = 90199
# The errcode of "system busy", which the adapter also gives a call WeChat did not answer
# (network, timeout, 5xx): trying again may work.
WECHAT_NO_ANSWER = -1
# What errcodes mean for a code exchange; elsewhere (40226 on a face check) they are WeChat
# refusing the call like any errcode without an answer of ours: 502 upstream_error.
LOGIN_ERRCODES: dict[int, type[AppError]] = {40029: CodeInvalid, 40163: CodeUsed, 40226: LoginBlocked}
PHONE_ERRCODES: dict[int, type[AppError]] = {40029: CodeInvalid}
# How long a computed profile is served from the cache at most; writes drop it at once.
PROFILE_CACHE_SECONDS = 30.0
AGENT_SCOPES = frozenset({"licences", "payments", "services"})
# Han characters include the rare ones some names need (生僻字: 〇, compatibility ideographs,
# extensions B and later beyond the Basic Multilingual Plane); "·" joins transliterated names.
_NAME = re.compile(r"^[\u3007\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f\u00b7A-Za-z ]{2,30}$")
# An inspector's region: a GB/T 2260 code, or its province (2) or city (4) prefix for the area below.
_SCOPE_REGION = re.compile(r"[0-9]{2}([0-9]{2}([0-9]{2})?)?")


def cert_hash(cert_type: str, cert_name: str, cert_no: str) -> str:
    """WeChat face verification 2.0 cert_hash over the identity the check was started for."""

    def b64(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    message = f"cert_type={b64(cert_type)}&cert_name={b64(cert_name)}&cert_no={b64(cert_no)}"
    return hashlib.sha256(message.encode()).hexdigest()


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class EnterpriseRole:
    credit_code: str
    name: str
    region_code: str
    relation: str  # legal_representative | agent
    scopes: tuple[str, ...]
    expires_at: datetime | None = None


@dataclass
class IdentityService:
    settings: Settings
    clock: Clock
    cache: Cache
    wechat: WeChatMiniProgram
    tokens: AccessTokens
    audit: AuditLog
    limits: RateLimiter
    cipher: FieldCipher
    blind: BlindIndex
    _dummy_hash: str = field(default="", init=False)
    _write_login: Coalescer[LoginRecord, LoggedIn] = field(init=False, repr=False)
    _operator_lockout: LoginLockout = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._write_login = Coalescer(partial(write_logins, audit=self.audit))
        limits = self.settings.rate_limits
        self._operator_lockout = LoginLockout(
            self.cache,
            action="operator_login",
            limits={"username": limits.operator_login_per_username, "ip": limits.operator_login_per_ip},
            window_seconds=limits.operator_failure_window_seconds,
            lockout_seconds=limits.operator_lockout_seconds,
        )

    async def drain(self) -> None:
        """Finish the logins being written (at shutdown)."""
        await self._write_login.drain()

    # ----------------------------------------------------------------- sessions
    async def login(self, *, code: str, client_ip: str) -> dict[str, Any]:
        limits = self.settings.rate_limits
        await self.limits.hit("login", "ip", client_ip, limit=limits.login_per_ip)
        session = await self._wechat_call(self.wechat.code_to_session(code), errcodes=LOGIN_ERRCODES)
        await self.limits.hit("login", "openid", session.openid, limit=limits.login_per_openid)
        now = self.clock.now()
        family, refresh = secrets.token_hex(16), secrets.token_urlsafe(32)
        user = await self._write_login(
            LoginRecord(
                openid=session.openid,
                unionid=session.unionid,
                session_key_enc=self.cipher.encrypt(session.session_key, field="users.session_key"),
                client_ip=client_ip,
                family_id=family,
                refresh_hash=_hash_token(refresh),
                at=now,
                refresh_expires_at=now + timedelta(seconds=self.settings.security.refresh_token_ttl),
            )
        )
        access = self.tokens.issue(
            AccessClaims(user.user_id, user.roles, family, _epoch(user.face_verified_at)), now=now
        )
        return {
            **TokenPair(access, refresh, self.tokens.ttl).__dict__,
            "user": {
                "id": user.user_id,
                "roles": sorted(user.roles),
                "realname_verified": user.realname_verified_at is not None,
                "face_verified_at": user.face_verified_at,
            },
        }

    async def operator_login(self, *, username: str, password: str, client_ip: str) -> dict[str, Any]:
        """Failures count per username and per address; at the limit that one is locked out
        (429) for a while, whether the username exists or not. Successes are not counted."""
        subjects = {"username": username, "ip": client_ip}
        await self._operator_lockout.check(subjects)
        credential = await OperatorCredential.get_or_none(username=username)
        stored = credential.password_hash if credential else self._dummy_password_hash()
        if not check_password(password, stored) or credential is None:
            locked = await self._operator_lockout.failed(subjects)
            async with in_transaction() as conn:
                await self.audit.record(
                    "operator_login_failed", subject=f"operator:{username[:40]}", data={"ip": client_ip},
                    connection=conn,
                )
                for kind in locked:
                    await self.audit.record(
                        "operator_login_locked",
                        subject=f"operator:{username[:40]}" if kind == "username" else f"ip:{client_ip}",
                        data={"ip": client_ip, "seconds": self.settings.rate_limits.operator_lockout_seconds},
                        connection=conn,
                    )
            if locked:
                raise self._operator_lockout.locked_out()
            raise InvalidCredentials()
        await self._operator_lockout.succeeded("username", username)
        user = await User.get(id=credential.user_id)
        roles = await self.roles_of(user)
        pair = await self._start_session(user, self.clock.now(), roles=roles)
        await self.audit.record("operator_login", actor_id=user.id, subject=f"user:{user.id}", data={"ip": client_ip})
        return {**pair.__dict__, "user": self._summary(user, roles)}

    def _dummy_password_hash(self) -> str:
        # Checking a dummy hash keeps unknown usernames as slow as wrong passwords.
        if not self._dummy_hash:
            from app.services.identity.operators import hash_password

            self._dummy_hash = hash_password(secrets.token_hex(8))
        return self._dummy_hash

    async def refresh(self, *, refresh_token: str) -> dict[str, Any]:
        """A new pair and the user, as login answers them (the roles and face check may have changed)."""
        now = self.clock.now()
        record = await RefreshToken.get_or_none(token_hash=_hash_token(refresh_token))
        if record is None or record.revoked_at is not None:
            raise TokenInvalid()
        if record.used_at is not None:
            await self._revoke_family(record.family_id, now, reason="refresh_reuse", user_id=record.user_id)
            raise RefreshTokenReused()
        if record.expires_at <= now:
            raise TokenExpired()
        new_token = secrets.token_urlsafe(32)
        async with in_transaction() as conn:
            claimed = (
                await RefreshToken.filter(id=record.id, used_at=None, revoked_at=None)
                .using_db(conn)
                .update(used_at=now)
            )
            if claimed:
                await RefreshToken.create(
                    family_id=record.family_id,
                    user_id=record.user_id,
                    token_hash=_hash_token(new_token),
                    issued_at=now,
                    expires_at=now + timedelta(seconds=self.settings.security.refresh_token_ttl),
                    using_db=conn,
                )
        if not claimed:  # another request used it first: that is reuse too
            await self._revoke_family(record.family_id, now, reason="refresh_reuse", user_id=record.user_id)
            raise RefreshTokenReused()
        user = await User.get(id=record.user_id)
        roles = await self.roles_of(user)
        access = self._access_token(user, record.family_id, now, roles)
        return {**TokenPair(access, new_token, self.tokens.ttl).__dict__, "user": self._summary(user, roles)}

    async def logout(self, who: Principal) -> None:
        await self._revoke_family(who.session_id, self.clock.now(), reason="logout", user_id=who.user_id)

    async def authenticate(self, token: str) -> Principal:
        claims = self.tokens.verify(token, now=self.clock.now())
        revoked, profile, roles_cut = await self.cache.get_many(
            f"session_revoked:{claims.session_id}", _profile_key(claims.user_id), _roles_cut_key(claims.user_id)
        )
        if revoked is not None:
            raise TokenInvalid("This session has ended.")
        if roles_cut is not None and claims.issued_at < float(roles_cut):
            # A role was taken away after this token was signed: its roles claim is out of date.
            # token_expired makes the app refresh, and the new token carries the current roles.
            raise TokenExpired("Your roles have changed; refresh the token.")
        return Principal(
            user_id=claims.user_id,
            roles=claims.roles,
            session_id=claims.session_id,
            face_verified_at=claims.face_verified_at,
            profile_snapshot=profile,
        )

    def require_recent_face(self, who: Principal) -> None:
        window = self.settings.security.face_window_seconds
        now = self.clock.now().timestamp()
        if who.face_verified_at is None or now - who.face_verified_at > window:
            raise FaceVerificationRequired(context={"window_seconds": window})

    async def _start_session(
        self, user: User, now: datetime, *, roles: frozenset[str], connection: BaseDBAsyncClient | None = None
    ) -> TokenPair:
        family = secrets.token_hex(16)
        refresh = secrets.token_urlsafe(32)
        await RefreshToken.create(
            family_id=family,
            user=user,
            token_hash=_hash_token(refresh),
            issued_at=now,
            expires_at=now + timedelta(seconds=self.settings.security.refresh_token_ttl),
            using_db=connection,
        )
        return TokenPair(self._access_token(user, family, now, roles), refresh, self.tokens.ttl)

    def _access_token(self, user: User, session_id: str, now: datetime, roles: frozenset[str]) -> str:
        return self.tokens.issue(AccessClaims(user.id, roles, session_id, _epoch(user.face_verified_at)), now=now)

    async def restore_revocations(self) -> None:
        """Put back in the cache what it must still refuse: the sessions ended and the roles taken
        away within an access token's life. The cache may have forgotten them (the in-process
        stand-in at every restart, Redis after a flush or a restart without persistence), and
        their access tokens would otherwise work again until they expire."""
        now = self.clock.now()
        window = timedelta(seconds=self.tokens.ttl + 60)
        ended: dict[str, datetime] = dict(
            await RefreshToken.filter(revoked_at__gte=now - window).values_list("family_id", "revoked_at")
        )
        for family_id, revoked_at in ended.items():
            await self.cache.set(f"session_revoked:{family_id}", "restored",
                                 ttl=max((revoked_at + window - now).total_seconds(), 1))
        cuts: dict[int, datetime] = {}
        for subject, at in await AuditEvent.filter(
            kind="role_revoke", subject__startswith="user:", at__gte=now - window
        ).values_list("subject", "at"):
            user_id = int(subject.split(":", 1)[1])
            cuts[user_id] = max(at, cuts.get(user_id, at))
        for user_id, at in cuts.items():
            await self.cache.set(_roles_cut_key(user_id), repr(round(at.timestamp(), 3)),
                                 ttl=max((at + window - now).total_seconds(), 1))

    async def _revoke_family(self, family_id: str, now: datetime, *, reason: str, user_id: int) -> None:
        await RefreshToken.filter(family_id=family_id, revoked_at=None).update(revoked_at=now)
        # Access tokens of the session die with it, across workers.
        await self.cache.set(f"session_revoked:{family_id}", reason, ttl=self.tokens.ttl + 60)
        await self.audit.record(reason, actor_id=user_id, subject=f"session:{family_id}")

    # ----------------------------------------------------------------- profile
    async def roles_of(self, user: User) -> frozenset[str]:
        subject = RoleSubject(user.id, user.openid)
        return (await roles_of_users([subject], now=self.clock.now()))[user.id]

    def _summary(self, user: User, roles: frozenset[str]) -> dict[str, Any]:
        return {
            "id": user.id,
            "roles": sorted(roles),
            "realname_verified": user.realname_verified_at is not None,
            "face_verified_at": user.face_verified_at,
        }

    async def profile(self, who: Principal) -> dict[str, Any]:
        """The caller's profile; served from the cache (filled here, emptied by every write)."""
        if who.profile_snapshot is not None:
            return orjson.loads(who.profile_snapshot)
        profile = await self._build_profile(who)
        await self.cache.set(_profile_key(who.user_id), answers.dumps(profile), ttl=await self._profile_ttl(who.user_id))
        return profile

    async def _profile_ttl(self, user_id: int) -> float:
        # An agent authorisation that runs out must leave the cached profile when it does.
        soonest = (
            await EnterpriseAgent.filter(user_id=user_id, revoked_at=None, expires_at__gt=self.clock.now())
            .order_by("expires_at")
            .first()
        )
        if soonest is None:
            return PROFILE_CACHE_SECONDS
        return max(1.0, min(PROFILE_CACHE_SECONDS, (soonest.expires_at - self.clock.now()).total_seconds()))

    async def _profile_after_change(self, who: Principal) -> dict[str, Any]:
        await self.forget_profile(who.user_id)
        return await self._build_profile(who)

    async def forget_profile(self, *user_ids: int) -> None:
        """Drop cached profiles after a change that shows in them (called after commit)."""
        await self.cache.delete(*(_profile_key(uid) for uid in user_ids))

    async def _build_profile(self, who: Principal) -> dict[str, Any]:
        user = await self._user(who.user_id)
        enterprises = await self.acting_for(user.id, user=user)
        summary = self._summary(user, await self.roles_of(user))
        name = self._decrypt(user.real_name_enc, "users.real_name")
        id_number = self._decrypt(user.id_number_enc, "users.id_number")
        phone = self._decrypt(user.phone_enc, "users.phone")
        scope = await InspectorScope.get_or_none(user_id=user.id) if "inspector" in summary["roles"] else None
        return {
            **summary,
            "name_masked": mask_name(name) if name else None,
            "id_number_masked": mask_id_number(id_number) if id_number else None,
            "phone_masked": mask_phone(phone) if phone else None,
            "realname_verified_at": user.realname_verified_at,
            "notify_on_licence_check": user.notify_on_licence_check,
            "enterprises": [role.__dict__ for role in enterprises],
            "inspector_scope": {"licence_types": scope.licence_types, "regions": scope.regions} if scope else None,
        }

    async def set_preferences(self, who: Principal, *, notify_on_licence_check: bool) -> dict[str, Any]:
        await User.filter(id=who.user_id).update(notify_on_licence_check=notify_on_licence_check)
        return await self._profile_after_change(who)

    # ----------------------------------------------------------------- real name and phone
    async def bind_realname(self, who: Principal, *, name: str, id_number: str) -> dict[str, Any]:
        name = name.strip()
        if not _NAME.match(name):
            raise NameInvalid()
        try:
            number, _birth = validate_id_number(id_number, today=self.clock.now().date())
        except InvalidIdNumber as exc:
            raise IdNumberInvalid(context={"reason": exc.reason}) from None
        index = self.blind.of(number, field="id_number")
        user = await self._user(who.user_id)
        if user.id_number_index is not None:
            same = user.id_number_index == index and self._decrypt(user.real_name_enc, "users.real_name") == name
            if same:
                return await self.profile(who)
            raise RealNameAlreadyBound()
        now = self.clock.now()
        try:
            async with in_transaction() as conn:
                bound = (
                    await User.filter(id=user.id, id_number_index=None)
                    .using_db(conn)
                    .update(
                        id_number_index=index,
                        id_number_enc=self.cipher.encrypt(number, field="users.id_number"),
                        real_name_enc=self.cipher.encrypt(name, field="users.real_name"),
                        id_region_code=number[:6],
                        realname_verified_at=now,
                        face_verified_at=None,
                    )
                )
                if not bound:
                    raise RealNameAlreadyBound()
                await self.audit.record("realname_bound", actor_id=user.id, subject=f"user:{user.id}", connection=conn)
        except IntegrityError:
            raise IdNumberTaken() from None
        return await self._profile_after_change(who)

    async def bind_phone(self, who: Principal, *, code: str, client_ip: str) -> dict[str, Any]:
        limits = self.settings.rate_limits
        user = await self._user(who.user_id)
        await self.limits.hit("phone", "ip", client_ip, limit=limits.phone_per_ip)
        await self.limits.hit("phone", "openid", user.openid or f"user{user.id}", limit=limits.phone_per_openid)
        phone = await self._wechat_call(self.wechat.get_phone_number(code), errcodes=PHONE_ERRCODES)
        async with in_transaction() as conn:  # the number and its audit record, or neither
            await User.filter(id=user.id).using_db(conn).update(
                phone_enc=self.cipher.encrypt(phone, field="users.phone"), phone_index=self.blind.of(phone, field="phone")
            )
            await self.audit.record("phone_bound", actor_id=user.id, subject=f"user:{user.id}", connection=conn)
        await self.forget_profile(user.id)
        return {"phone_masked": mask_phone(phone)}

    # ----------------------------------------------------------------- face verification 2.0
    async def start_face_check(self, who: Principal, *, client_ip: str) -> dict[str, Any]:
        user = await self._user(who.user_id)
        if user.id_number_enc is None or not user.openid:
            raise RealNameRequired()
        limits = self.settings.rate_limits
        await self.limits.hit("face_start", "ip", client_ip, limit=limits.face_start_per_ip)
        await self.limits.hit("face_start", "openid", user.openid, limit=limits.face_start_per_openid)
        name = self.cipher.decrypt(user.real_name_enc or "", field="users.real_name")
        number = self.cipher.decrypt(user.id_number_enc, field="users.id_number")
        out_seq_no = secrets.token_hex(16)
        verify_id = await self._wechat_call(
            self.wechat.face_get_verify_id(out_seq_no=out_seq_no, cert_name=name, cert_no=number, openid=user.openid)
        )
        now = self.clock.now()
        await FaceVerification.create(
            verify_id=verify_id,
            out_seq_no=out_seq_no,
            user=user,
            cert_hash=cert_hash("IDENTITY_CARD", name, number),
            created_at=now,
            expires_at=now + timedelta(hours=1),
        )
        return {"verify_id": verify_id, "expires_in": 3600}

    async def finish_face_check(self, who: Principal, *, verify_id: str) -> dict[str, Any]:
        check = await FaceVerification.get_or_none(verify_id=verify_id, user_id=who.user_id)
        if check is None:  # unknown and someone else's look the same
            raise VerifyIdInvalid()
        if check.status != "pending":
            raise VerifyIdUsed()
        now = self.clock.now()
        if check.expires_at <= now:
            raise VerifyIdExpired()
        user = await self._user(who.user_id)
        name = self._decrypt(user.real_name_enc, "users.real_name") or ""
        number = self._decrypt(user.id_number_enc, "users.id_number") or ""
        if cert_hash("IDENTITY_CARD", name, number) != check.cert_hash:
            raise VerifyIdInvalid("This verification was started for another identity.")
        result = await self._wechat_call(
            self.wechat.face_query_verify_info(
                verify_id=verify_id, out_seq_no=check.out_seq_no, cert_hash=check.cert_hash, openid=user.openid or ""
            )
        )
        if result.verify_ret == FACE_NOT_FINISHED:
            raise FaceNotCompleted()
        status = "passed" if result.passed else "failed"
        async with in_transaction() as conn:
            finished = (
                await FaceVerification.filter(verify_id=verify_id, status="pending")
                .using_db(conn)
                .update(status=status, verify_ret=result.verify_ret, finished_at=now)
            )
            if not finished:
                raise VerifyIdUsed()
            if result.passed:
                await User.filter(id=user.id).using_db(conn).update(face_verified_at=now)
            await self.audit.record(
                "face_pass" if result.passed else "face_fail",
                actor_id=user.id,
                subject=f"user:{user.id}",
                data={"verify_ret": result.verify_ret},
                connection=conn,
            )
        if not result.passed:
            raise FaceFailed(context={"verify_ret": result.verify_ret})
        await self.forget_profile(user.id)
        user.face_verified_at = now
        access = self._access_token(user, who.session_id, now, await self.roles_of(user))
        return {"access_token": access, "expires_in": self.tokens.ttl, "face_verified_at": now}

    # ----------------------------------------------------------------- enterprises and roles
    async def register_enterprise(
        self,
        who: Principal,
        *,
        credit_code: str,
        name: str,
        region_code: str,
        legal_rep_name: str,
        legal_rep_id_number: str,
    ) -> dict[str, Any]:
        try:
            code = validate_credit_code(credit_code)
        except InvalidIdNumber as exc:
            raise CreditCodeInvalid(context={"reason": exc.reason}) from None
        try:
            number, _ = validate_id_number(legal_rep_id_number, today=self.clock.now().date())
        except InvalidIdNumber as exc:
            raise IdNumberInvalid(context={"reason": exc.reason}) from None
        if await unknown_regions([region_code]):
            raise RegionNotKnown(context={"regions": [region_code[:20]]})
        try:
            async with in_transaction() as conn:
                await Enterprise.create(
                    credit_code=code,
                    name=name,
                    region_code=region_code,
                    legal_rep_index=self.blind.of(number, field="id_number"),
                    legal_rep_name_enc=self.cipher.encrypt(legal_rep_name, field="enterprises.legal_rep_name"),
                    using_db=conn,
                )
                await self.audit.record(
                    "enterprise_registered", actor_id=who.user_id, subject=f"enterprise:{code}", connection=conn
                )
        except IntegrityError:
            raise EnterpriseExists() from None
        legal_rep = await User.get_or_none(id_number_index=self.blind.of(number, field="id_number"))
        if legal_rep is not None:
            await self.forget_profile(legal_rep.id)
        return {"credit_code": code, "name": name, "region_code": region_code}

    async def acting_for(self, user_id: int, *, user: User | None = None) -> list[EnterpriseRole]:
        """Enterprises the user may act for: as legal representative, or as an unexpired agent."""
        user = user or await self._user(user_id)
        roles: list[EnterpriseRole] = []
        if user.id_number_index:
            for ent in await Enterprise.filter(legal_rep_index=user.id_number_index):
                roles.append(
                    EnterpriseRole(
                        ent.credit_code, ent.name, ent.region_code, "legal_representative", tuple(sorted(AGENT_SCOPES))
                    )
                )
        now = self.clock.now()
        for grant in await EnterpriseAgent.filter(user_id=user_id, revoked_at=None, expires_at__gt=now).select_related(
            "enterprise"
        ):
            ent = grant.enterprise
            roles.append(
                EnterpriseRole(
                    ent.credit_code, ent.name, ent.region_code, "agent", tuple(grant.scopes), grant.expires_at
                )
            )
        return roles

    async def may_act_for(self, user_id: int, credit_code: str, scope: str) -> bool:
        return any(r.credit_code == credit_code and scope in r.scopes for r in await self.acting_for(user_id))

    async def _enterprise_of_legal_rep(self, who: Principal, credit_code: str) -> Enterprise:
        user = await self._user(who.user_id)
        ent = await Enterprise.get_or_none(credit_code=credit_code.strip().upper())
        if ent is None or not user.id_number_index or ent.legal_rep_index != user.id_number_index:
            raise EnterpriseNotFound()
        return ent

    async def grant_agent(
        self, who: Principal, *, credit_code: str, name: str, id_number: str, scopes: list[str], expires_at: datetime
    ) -> dict[str, Any]:
        ent = await self._enterprise_of_legal_rep(who, credit_code)
        unknown = set(scopes) - AGENT_SCOPES
        if not scopes or unknown:
            raise ValidationFailed(
                context={"fields": [{"field": "scopes", "problem": f"allowed: {sorted(AGENT_SCOPES)}"}]}
            )
        now = self.clock.now()
        if not now < expires_at <= now + timedelta(days=366):
            raise ValidationFailed(
                context={"fields": [{"field": "expires_at", "problem": "must be within the next year"}]}
            )
        try:
            number, _ = validate_id_number(id_number, today=now.date())
        except InvalidIdNumber as exc:
            raise IdNumberInvalid(context={"reason": exc.reason}) from None
        agent = await User.get_or_none(id_number_index=self.blind.of(number, field="id_number"))
        if agent is None or self._decrypt(agent.real_name_enc, "users.real_name") != name.strip():
            raise UserNotFound("No account has bound this name and ID number.")
        async with in_transaction() as conn:
            grant = await EnterpriseAgent.create(
                enterprise=ent,
                user=agent,
                scopes=sorted(set(scopes)),
                expires_at=expires_at,
                granted_by_id=who.user_id,
                using_db=conn,
            )
            await self.audit.record(
                "role_grant",
                actor_id=who.user_id,
                subject=f"user:{agent.id}",
                data={"role": "agent", "enterprise": ent.credit_code, "scopes": sorted(set(scopes))},
                connection=conn,
            )
        await self.forget_profile(agent.id)
        return _agent_view(grant, ent.credit_code)

    async def list_agents(self, who: Principal, *, credit_code: str) -> list[dict[str, Any]]:
        ent = await self._enterprise_of_legal_rep(who, credit_code)
        return [
            _agent_view(g, ent.credit_code)
            for g in await EnterpriseAgent.filter(enterprise_id=ent.credit_code).order_by("id")
        ]

    async def revoke_agent(self, who: Principal, *, credit_code: str, agent_id: int) -> None:
        ent = await self._enterprise_of_legal_rep(who, credit_code)
        async with in_transaction() as conn:
            revoked = (
                await EnterpriseAgent.filter(id=agent_id, enterprise_id=ent.credit_code, revoked_at=None)
                .using_db(conn)
                .update(revoked_at=self.clock.now())
            )
            if not revoked:
                raise AgentNotFound()
            await self.audit.record(
                "role_revoke",
                actor_id=who.user_id,
                subject=f"agent:{agent_id}",
                data={"role": "agent"},
                connection=conn,
            )
        grant = await EnterpriseAgent.get(id=agent_id)
        await self.forget_profile(grant.user_id)

    async def grant_inspector(
        self, who: Principal, *, user_id: int, licence_types: list[str], regions: list[str]
    ) -> dict[str, Any]:
        """Make the user an inspector of these licence types in these regions (repeats collapsed)."""
        licence_types, regions = list(dict.fromkeys(licence_types)), list(dict.fromkeys(regions))
        if not await User.exists(id=user_id):
            raise UserNotFound()
        as_codes = {region: region.ljust(6, "0") for region in regions if _SCOPE_REGION.fullmatch(region)}
        unknown = set(await unknown_regions(as_codes.values()))
        if bad := [region for region in regions if region not in as_codes or as_codes[region] in unknown]:
            raise RegionNotKnown(context={"regions": [region[:20] for region in bad[:20]]})
        known = {str(code) for code in await LicenceType.filter(code__in=licence_types).values_list("code", flat=True)}
        if missing := [code for code in licence_types if code not in known]:
            raise LicenceTypeNotKnown(context={"codes": [code[:30] for code in missing[:20]]})
        async with in_transaction() as conn:
            await UserRole.get_or_create(
                user_id=user_id, role="inspector", defaults={"granted_by_id": who.user_id}, using_db=conn
            )
            _, created = await InspectorScope.get_or_create(
                user_id=user_id, defaults={"licence_types": licence_types, "regions": regions}, using_db=conn
            )
            if not created:
                await (
                    InspectorScope.filter(user_id=user_id)
                    .using_db(conn)
                    .update(licence_types=licence_types, regions=regions)
                )
            await self.audit.record(
                "role_grant",
                actor_id=who.user_id,
                subject=f"user:{user_id}",
                data={"role": "inspector", "licence_types": licence_types, "regions": regions},
                connection=conn,
            )
        await self.forget_profile(user_id)
        return {"user_id": user_id, "licence_types": licence_types, "regions": regions}

    async def revoke_inspector(self, who: Principal, *, user_id: int) -> None:
        async with in_transaction() as conn:
            removed = await UserRole.filter(user_id=user_id, role="inspector").using_db(conn).delete()
            if not removed:
                raise InspectorNotFound()
            await InspectorScope.filter(user_id=user_id).using_db(conn).delete()
            await self.audit.record(
                "role_revoke",
                actor_id=who.user_id,
                subject=f"user:{user_id}",
                data={"role": "inspector"},
                connection=conn,
            )
        await self._cut_roles(user_id)
        await self.forget_profile(user_id)

    async def _cut_roles(self, user_id: int) -> None:
        """After a role is revoked: the user's access tokens signed until now stop working (on
        every worker), so the role goes at once rather than when those tokens expire."""
        cut = round(self.clock.now().timestamp(), 3)
        await self.cache.set(_roles_cut_key(user_id), repr(cut), ttl=self.tokens.ttl + 60)

    async def inspector_scope(self, user_id: int) -> InspectorScope | None:
        if not await UserRole.exists(user_id=user_id, role="inspector"):
            return None
        return await InspectorScope.get_or_none(user_id=user_id)

    async def list_inspectors(self, *, limit: int, offset: int) -> dict[str, Any]:
        """Inspectors with their scope, by user id; names masked (three queries, however many rows)."""
        roles = UserRole.filter(role="inspector")
        total = await roles.count()
        page = roles.order_by("user_id").offset(offset).limit(limit)
        user_ids = [int(row["user_id"]) for row in await page.values("user_id")]
        names: dict[int, str | None] = {}
        scopes: dict[int, dict[str, Any]] = {}
        if user_ids:
            for user_id, name_enc in await User.filter(id__in=user_ids).values_list("id", "real_name_enc"):
                names[int(user_id)] = self._decrypt(name_enc, "users.real_name")
            for row in await InspectorScope.filter(user_id__in=user_ids).values("user_id", "licence_types", "regions"):
                scopes[int(row["user_id"])] = row
        items = []
        for user_id in user_ids:
            name, scope = names.get(user_id), scopes.get(user_id, {})
            items.append(
                {
                    "user_id": user_id,
                    "name_masked": mask_name(name) if name else None,
                    "licence_types": scope.get("licence_types") or [],
                    "regions": scope.get("regions") or [],
                }
            )
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    async def list_enterprises(
        self, *, region_code: str | None, text: str | None, limit: int, offset: int
    ) -> dict[str, Any]:
        """Registered enterprises by credit code; the legal representative only by masked name."""
        query = Enterprise.all()
        if region_code:
            query = query.filter(region_code=region_code)
        if text and text.strip():
            query = query.filter(name__icontains=text.strip())
        total = await query.count()
        rows = await query.order_by("credit_code").offset(offset).limit(limit)
        items = []
        for enterprise in rows:
            legal_rep = self._decrypt(enterprise.legal_rep_name_enc, "enterprises.legal_rep_name")
            items.append(
                {
                    "credit_code": enterprise.credit_code,
                    "name": enterprise.name,
                    "region_code": enterprise.region_code,
                    "legal_rep_name_masked": mask_name(legal_rep) if legal_rep else None,
                    "registered_at": enterprise.created_at,
                }
            )
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    async def audit_events(self, *, before_seq: int | None, limit: int) -> list[dict[str, Any]]:
        from models.identity import AuditEvent

        query = AuditEvent.all().order_by("-seq").limit(limit)
        if before_seq:
            query = query.filter(seq__lt=before_seq)
        return [
            {
                "seq": e.seq,
                "at": e.at,
                "kind": e.kind,
                "actor_id": e.actor_id,
                "subject": e.subject,
                "data": e.data,
                "hash": e.hash,
            }
            for e in await query
        ]

    # ----------------------------------------------------------------- helpers
    async def holder_index(self, user_id: int) -> str | None:
        """The blind index of the user's bound ID number (how licences find their holder)."""
        user = await self._user(user_id)
        return user.id_number_index

    async def _user(self, user_id: int) -> User:
        user = await User.get_or_none(id=user_id)
        if user is None:
            raise TokenInvalid("The account no longer exists.")
        return user

    def _decrypt(self, value: str | None, field_name: str) -> str | None:
        return self.cipher.decrypt(value, field=field_name) if value else None

    async def _wechat_call(self, call: Any, *, errcodes: Mapping[int, type[AppError]] | None = None) -> Any:
        """`errcodes`: what WeChat's errcodes mean for this call, beyond those of every call."""
        try:
            return await call
        except WeChatError as exc:
            raise _wechat_error(exc, errcodes or {}) from None


def _wechat_error(exc: WeChatError, errcodes: Mapping[int, type[AppError]]) -> AppError:
    if isinstance(exc, WeChatAnswerInvalid):  # a proxy's page, `{}`: not WeChat, and not busy
        return UpstreamRejected("WeChat's answer could not be read.", context={"partner": "wechat"})
    if exc.errcode is not None and exc.errcode in errcodes:
        return errcodes[exc.errcode]()
    if exc.errcode == 45011:
        return RateLimited(retry_after=60, message="WeChat is limiting this account; try again in a minute.")
    if exc.errcode == WECHAT_NO_ANSWER:
        return UpstreamUnavailable(context={"partner": "wechat"})
    # Any other errcode is WeChat refusing the call: sending it again would not help.
    return UpstreamRejected(f"WeChat refused the request (errcode {exc.errcode}).", context={"partner": "wechat"})


def _agent_view(grant: EnterpriseAgent, credit_code: str) -> dict[str, Any]:
    return {
        "id": grant.id,
        "credit_code": credit_code,
        "user_id": grant.user_id,
        "scopes": grant.scopes,
        "expires_at": grant.expires_at,
        "revoked": grant.revoked_at is not None,
    }


def _profile_key(user_id: int) -> str:
    return f"profile:{user_id}"


def _roles_cut_key(user_id: int) -> str:
    return f"roles_cut:{user_id}"


def _epoch(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
