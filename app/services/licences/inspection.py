"""Inspection (扫码核验): an inspector checks a presented code online and the holder sees it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
from tortoise.exceptions import IntegrityError

from app.batching import Coalescer, SharedCall
from app.config import LicenceSettings
from app.db import insert_rows, text_in
from app.lc1.verifier import InspectorScope, Reason, VerificationResult
from app.ports import Cache, Clock, PresentationVerifier, WeChatAnswerInvalid, WeChatError, WeChatMiniProgram
from app.services.identity.protection import mask_name
from app.services.identity.service import IdentityService
from app.services.licences.service import SHANGHAI, effective_status
from app.services.licences.states import LicenceStatus
from app.services.licences.trust import UNKNOWN_KID_RECHECK_SECONDS, TrustStore
from models.identity import Enterprise, User
from models.identity import InspectorScope as InspectorScopeRow
from models.licences import Inspection, Licence

log = logging.getLogger("app.licences")

# Refusals after the signature check: the code is genuine, so the attempt belongs to its licence.
GENUINE_REFUSALS = frozenset({Reason.NOT_YET_VALID, Reason.EXPIRED})
LICENCE_EXPIRED = "licence_expired"  # the licence is past its validity (the code may be fresh)
REPLAY_KEY = "licences:cti:"
NOTIFIED_KEY = "licences:notified:"
NOTIFY_RECHECK_SECONDS = 5.0  # another worker holds the slot: ask Redis again after this
# A scope change reaches every worker within this many seconds.
SCOPE_CACHE_SECONDS = 5.0
LOCAL_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class InspectedLicence:
    """What an inspection reads of a licence and its type: one raw query per group of inspections."""

    id: int
    identifier: str
    type_code: str
    type_name: str
    inspector_fields: frozenset[str]  # the type's visible_fields["inspector"]
    issuer_code: str
    holder_kind: str
    holder_index: str | None
    holder_credit_code: str | None
    holder_name: str
    region_code: str
    data: dict[str, Any]
    valid_until: date | None
    status: str


@dataclass(frozen=True, slots=True)
class InspectionRow:
    """One inspection record, as written (in groups) to licence_inspections."""

    licence_id: int | None
    inspector_id: int
    at: datetime
    valid: bool
    reason: str | None
    token_id: str | None
    location: dict[str, Any] | None
    accepted_token_id: str | None = None


@dataclass(frozen=True, slots=True)
class VerifiedCode:
    """An inspection whose code has been checked, waiting for its licence, its cti and its record."""

    inspector_id: int
    scope: InspectorScope
    result: VerificationResult
    at: datetime
    location: dict[str, Any] | None

    @property
    def genuine(self) -> bool:
        """Signed by a trusted key: the attempt belongs to the licence, even when refused for time."""
        return self.result.valid or self.result.reason in GENUINE_REFUSALS


# The licence the code names (when genuine and known), and why it was refused (None: accepted).
Outcome = tuple[InspectedLicence | None, str | None]


@dataclass
class InspectionService:
    settings: LicenceSettings
    clock: Clock
    cache: Cache
    identity: IdentityService
    wechat: WeChatMiniProgram
    trust: TrustStore
    verifier: PresentationVerifier
    template_id: str
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    _scopes: dict[int, tuple[float, InspectorScope]] = field(default_factory=dict, repr=False)
    _notified: dict[int, float] = field(default_factory=dict, repr=False)  # licence id -> skip until
    # Inspections whose codes were checked together are settled together: one licence query,
    # one pipelined round of cti claims and one insert for the group (app/batching.py).
    _settle: Coalescer[VerifiedCode, Outcome] = field(init=False, repr=False)
    _read_scope: SharedCall[int, InspectorScope] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._settle = Coalescer(self._settle_group, in_flight=2)
        self._read_scope = SharedCall(self._read_scope_row)

    async def inspect(self, *, inspector_id: int, payload: str, location: dict[str, Any] | None) -> dict[str, Any]:
        now = self.clock.now()
        scope = await self._scope(inspector_id)
        result = await self._verify(payload, now)
        licence, reason = await self._settle(VerifiedCode(inspector_id, scope, result, now, location))
        if licence is not None:
            self._notify_later(licence, valid=reason is None, at=now)
        checked_at = now.astimezone(SHANGHAI)
        if reason is not None or licence is None:
            return {"valid": False, "reason": str(reason), "checked_at": checked_at}
        return {"valid": True, "licence": self._inspector_view(licence, now), "checked_at": checked_at}

    async def _verify(self, payload: str, now: datetime) -> VerificationResult:
        skew = self.settings.clock_skew
        trust_list = await self.trust.online()
        result = await self.verifier.verify(payload, trust_list, now, skew=skew)
        if result.reason == Reason.UNKNOWN_KID:
            fresh = await self.trust.online(max_age=UNKNOWN_KID_RECHECK_SECONDS)
            if fresh is not trust_list:
                result = await self.verifier.verify(payload, fresh, now, skew=skew)
        return result

    async def _settle_group(self, codes: list[VerifiedCode]) -> list[Outcome]:
        """Read the licences of a group of checked codes, decide each inspection, claim the cti of
        each code that passes (the first SET NX wins, across workers), and record them all."""
        licences = await _licences_by_identifier(
            [code.result.claims.identifier or "" for code in codes if code.genuine and code.result.claims]
        )
        outcomes: list[Outcome] = []
        for code in codes:
            claims = code.result.claims
            licence = licences.get(claims.identifier or "") if code.genuine and claims else None
            reason = self._licence_refusal(licence, code.scope, code.at) if code.result.valid else code.result.reason
            outcomes.append((licence, reason))
        accepted = [index for index, (_, reason) in enumerate(outcomes) if reason is None]
        replay_guards = [self._token_claim(codes[index]) for index in accepted]
        fresh = await self.cache.claim_many(replay_guards)
        for index, first in zip(accepted, fresh, strict=True):
            if not first:
                outcomes[index] = (outcomes[index][0], Reason.REPLAYED)
        claimed = [key for (key, _), first in zip(replay_guards, fresh, strict=True) if first]
        try:
            outcomes = await _record_inspections(codes, outcomes)
        except BaseException:
            # Nothing was recorded: give the claims back, so the retry of each call alone (or the
            # holder's next scan) is not refused as a replay of itself.
            with contextlib.suppress(Exception):
                await self.cache.delete(*claimed)
            raise
        return outcomes

    async def _scope(self, inspector_id: int) -> InspectorScope:
        """The inspector's scope; each worker reuses it for a few seconds (the route's policy has
        already checked the inspector role in the access token)."""
        cached = self._scopes.get(inspector_id)
        if cached is not None and time.monotonic() - cached[0] < SCOPE_CACHE_SECONDS:
            return cached[1]
        return await self._read_scope(inspector_id)  # one read for the inspector's calls in flight

    async def _read_scope_row(self, inspector_id: int) -> InspectorScope:
        row = await InspectorScopeRow.get_or_none(user_id=inspector_id)
        scope = InspectorScope(
            licence_types=frozenset(row.licence_types if row else ()),
            regions=frozenset(row.regions if row else ()),
        )
        if len(self._scopes) >= LOCAL_CACHE_SIZE:
            self._scopes.clear()
        self._scopes[inspector_id] = (time.monotonic(), scope)
        return scope

    def _licence_refusal(self, licence: InspectedLicence | None, scope: InspectorScope, now: datetime) -> str | None:
        if licence is None:
            return "unknown_licence"
        # Scope before status: an inspector out of scope learns nothing about the licence.
        if not scope.covers(licence_type=licence.type_code, region=licence.region_code):
            return "out_of_scope"
        status = effective_status(licence, now)
        if status == LicenceStatus.EXPIRED:
            return LICENCE_EXPIRED  # not "expired": that one says the code ran out, and to refresh it
        if status != LicenceStatus.ACTIVE:
            return str(status)
        return None

    def _token_claim(self, code: VerifiedCode) -> tuple[str, float]:
        """The replay guard of an accepted code: its cti, kept while the code could still pass."""
        claims = code.result.claims
        assert claims is not None
        ttl = claims.expires_at + self.settings.clock_skew - int(code.at.timestamp()) + 1
        return REPLAY_KEY + claims.token_id.hex(), max(ttl, 1)

    def _inspector_view(self, licence: InspectedLicence, now: datetime) -> dict[str, Any]:
        visible = licence.inspector_fields
        person = licence.holder_kind == "person"
        return {
            "identifier": licence.identifier,
            "type": {"code": licence.type_code, "name": licence.type_name},
            "issuer": licence.issuer_code,
            "holder": {
                "kind": licence.holder_kind,
                "name": mask_name(licence.holder_name) if person else licence.holder_name,
                "credit_code": licence.holder_credit_code,
            },
            "region_code": licence.region_code,
            "status": effective_status(licence, now),
            "valid_until": licence.valid_until,
            "data": {name: value for name, value in licence.data.items() if name in visible},
        }

    # ----------------------------------------------------------------- holder notification
    def _notify_later(self, licence: InspectedLicence, *, valid: bool, at: datetime) -> None:
        """After the inspection is stored: the inspector's answer does not wait for WeChat."""
        if self._notified.get(licence.id, 0.0) > time.monotonic():
            return  # this worker itself claimed the licence's notification slot a moment ago
        task = asyncio.create_task(self._notify(licence, valid=valid, at=at))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self, licence: InspectedLicence, *, valid: bool, at: datetime) -> None:
        # Each message uses up one of the holder's subscribe credits, and the usage log lists
        # every check: one message per licence per interval is enough to alert the holder.
        interval = self.settings.notify_interval_seconds
        first = await self.cache.set(NOTIFIED_KEY + str(licence.id), b"1", ttl=interval, only_if_absent=True)
        if len(self._notified) >= LOCAL_CACHE_SIZE:
            self._notified.clear()
        self._notified[licence.id] = time.monotonic() + (interval if first else NOTIFY_RECHECK_SECONDS)
        if not first:
            return
        try:
            if licence.holder_kind == "person":
                index = licence.holder_index
            else:
                enterprise = await Enterprise.get_or_none(credit_code=licence.holder_credit_code)
                index = enterprise.legal_rep_index if enterprise else None
            if not index:
                return
            for user in await User.filter(id_number_index=index, notify_on_licence_check=True):
                if not user.openid:
                    continue
                await self.wechat.send_subscribe_message(
                    openid=user.openid,
                    template_id=self.template_id,
                    data={
                        "thing1": licence.type_name[:20],
                        "time2": at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
                        "thing3": "执法人员扫码核验",
                        "phrase4": "通过" if valid else "未通过",
                    },
                    page=f"pages/licences/usage?id={licence.id}",
                )
        except WeChatAnswerInvalid as exc:  # errmsg names the field, never a value
            log.info("licence check not notified: WeChat's answer was not understood (%s)", exc.errmsg,
                     extra={"licence_id": licence.id})
        except WeChatError as exc:  # e.g. 43101: the holder has no subscribe credit left
            log.info("licence check not notified: WeChat errcode %s", exc.errcode, extra={"licence_id": licence.id})
        except Exception:  # a failed notification must never affect the inspection
            log.warning("licence check notification failed", extra={"licence_id": licence.id}, exc_info=True)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self._settle.drain()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


# Raw SQL on the inspection path: Tortoise spent ~1 ms of CPU building a select_related query
# and its models per batch, and building full models still cost ~70 µs per licence; these read
# and write only the columns an inspection uses.
_INSPECTION_COLUMNS = {
    "licence_id": "bigint",
    "inspector_id": "bigint",
    "at": "timestamptz",
    "valid": "bool",
    "reason": "text",
    "token_id": "text",
    "accepted_token_id": "text",
    "location": "jsonb",
}
_LICENCE_QUERY = (
    "SELECT l.id, l.identifier, l.licence_type_id, t.name, t.visible_fields, l.issuer_id, l.holder_kind,"
    " l.holder_index, l.holder_credit_code, l.holder_name, l.region_code, l.data, l.valid_until, l.status"
    " FROM licences l JOIN licence_types t ON t.code = l.licence_type_id WHERE l.identifier "  # + text_in()
)

def _json(value: Any) -> Any:
    """JSON columns: text on SQLite and from asyncpg (no codec registered), already parsed elsewhere."""
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def _date(value: Any) -> date | None:
    """Date columns: ISO text on SQLite, `date` from asyncpg."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def _inspected_licence(row: Any) -> InspectedLicence:
    """From a row read by position (sqlite3.Row or asyncpg Record, in _LICENCE_QUERY's order)."""
    visible = _json(row[4]) or {}
    return InspectedLicence(
        id=row[0],
        identifier=row[1],
        type_code=row[2],
        type_name=row[3],
        inspector_fields=frozenset(visible.get("inspector", ())),
        issuer_code=row[5],
        holder_kind=row[6],
        holder_index=row[7],
        holder_credit_code=row[8],
        holder_name=row[9],
        region_code=row[10],
        data=_json(row[11]) or {},
        valid_until=_date(row[12]),
        status=row[13],
    )


async def _licences_by_identifier(identifiers: list[str]) -> dict[str, InspectedLicence]:
    wanted = list(dict.fromkeys(identifiers))
    if not wanted:
        return {}
    connection = Licence._meta.db
    condition, values = text_in(connection, wanted)
    _, rows = await connection.execute_query(_LICENCE_QUERY + condition, values)
    return {licence.identifier: licence for licence in map(_inspected_licence, rows)}


async def _record_inspections(codes: list[VerifiedCode], outcomes: list[Outcome]) -> list[Outcome]:
    """Insert one row per inspection. An accepted cti the database already holds (the cache lost
    it: restart, eviction) is recorded, and answered, as a replay."""
    rows = [_inspection_row(code, licence, reason) for code, (licence, reason) in zip(codes, outcomes, strict=True)]
    try:
        await _insert_inspections(rows)
        return outcomes
    except IntegrityError:
        known = await _accepted_token_ids([row.accepted_token_id for row in rows if row.accepted_token_id])
        if not known:
            raise
    outcomes = [
        (licence, Reason.REPLAYED) if row.accepted_token_id in known else (licence, reason)
        for row, (licence, reason) in zip(rows, outcomes, strict=True)
    ]
    await _insert_inspections(
        [_inspection_row(code, licence, reason) for code, (licence, reason) in zip(codes, outcomes, strict=True)]
    )
    return outcomes


def _inspection_row(code: VerifiedCode, licence: InspectedLicence | None, reason: str | None) -> InspectionRow:
    token_id = code.result.claims.token_id.hex() if code.result.claims else None
    return InspectionRow(
        licence_id=licence.id if licence else None,
        inspector_id=code.inspector_id,
        at=code.at,
        valid=reason is None,
        reason=reason,
        token_id=token_id,
        location=code.location,
        accepted_token_id=token_id if reason is None else None,
    )


async def _accepted_token_ids(token_ids: list[str]) -> set[str]:
    if not token_ids:
        return set()
    connection = Inspection._meta.db
    condition, values = text_in(connection, token_ids)
    _, rows = await connection.execute_query(
        # The condition holds markers only; the ids go as parameters.
        "SELECT accepted_token_id FROM licence_inspections WHERE accepted_token_id " + condition,  # noqa: S608
        values,
    )
    return {row[0] for row in rows}


async def _insert_inspections(rows: list[InspectionRow]) -> None:
    """The group's rows in one statement: atomic on its own, so no transaction round trips."""
    location = Inspection._meta.fields_map["location"]
    values = [
        (
            row.licence_id,
            row.inspector_id,
            row.at,
            row.valid,
            row.reason,
            row.token_id,
            row.accepted_token_id,
            location.to_db_value(row.location, Inspection),
        )
        for row in rows
    ]
    await insert_rows(Inspection._meta.db, "licence_inspections", _INSPECTION_COLUMNS, values)
