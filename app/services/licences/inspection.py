"""Inspection (扫码核验): an inspector checks a presented code online and the holder sees it."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any

import orjson
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.batching import Coalescer
from app.config import LicenceSettings
from app.db import markers, raw_sql
from app.lc1.verifier import InspectorScope, Reason, VerificationResult, verify
from app.ports import Cache, Clock, WeChatError, WeChatMiniProgram
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


@dataclass
class InspectionService:
    settings: LicenceSettings
    clock: Clock
    cache: Cache
    identity: IdentityService
    wechat: WeChatMiniProgram
    trust: TrustStore
    template_id: str
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    _scopes: dict[int, tuple[float, InspectorScope]] = field(default_factory=dict, repr=False)
    _notified: dict[int, float] = field(default_factory=dict, repr=False)  # licence id -> skip until
    # Inspections arriving together share one licence query and one insert (app/batching.py).
    _load_licence: Coalescer[str, InspectedLicence | None] = field(init=False, repr=False)
    _store_inspection: Coalescer[InspectionRow, None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._load_licence = Coalescer(_licences_by_identifier)
        self._store_inspection = Coalescer(_insert_inspections)

    async def inspect(self, *, inspector_id: int, payload: str, location: dict[str, Any] | None) -> dict[str, Any]:
        now = self.clock.now()
        scope = await self._scope(inspector_id)
        result = verify(payload, await self.trust.online(), now, skew=self.settings.clock_skew)
        if result.reason == Reason.UNKNOWN_KID:
            fresh = await self.trust.online(max_age=UNKNOWN_KID_RECHECK_SECONDS)
            result = verify(payload, fresh, now, skew=self.settings.clock_skew)
        licence: InspectedLicence | None = None
        reason: str | None = result.reason
        if result.claims is not None and (result.valid or result.reason in GENUINE_REFUSALS):
            licence = await self._load_licence(result.claims.identifier or "")
        if result.valid:
            reason = self._licence_refusal(licence, scope, now)
            if reason is None:
                reason = await self._claim_token(result, now)
        token_id = result.claims.token_id.hex() if result.claims else None
        record = partial(
            InspectionRow,
            licence_id=licence.id if licence else None,
            inspector_id=inspector_id,
            at=now,
            token_id=token_id,
            location=location,
        )
        try:
            await self._store_inspection(
                record(valid=reason is None, reason=reason, accepted_token_id=token_id if reason is None else None)
            )
        except IntegrityError:
            # The cache lost the cti (restart, eviction) but the database remembers the acceptance.
            reason = Reason.REPLAYED
            await self._store_inspection(record(valid=False, reason=reason))
        if licence is not None:
            self._notify_later(licence, valid=reason is None, at=now)
        checked_at = now.astimezone(SHANGHAI)
        if reason is not None or licence is None:
            return {"valid": False, "reason": str(reason), "checked_at": checked_at}
        return {"valid": True, "licence": self._inspector_view(licence, now), "checked_at": checked_at}

    async def _scope(self, inspector_id: int) -> InspectorScope:
        """The inspector's scope; each worker reuses it for a few seconds (the route's policy has
        already checked the inspector role in the access token)."""
        cached = self._scopes.get(inspector_id)
        if cached is not None and time.monotonic() - cached[0] < SCOPE_CACHE_SECONDS:
            return cached[1]
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
        if status != LicenceStatus.ACTIVE:
            return str(status)
        return None

    async def _claim_token(self, result: VerificationResult, now: datetime) -> str | None:
        """Accept a cti once within its window: the first SET NX wins across all workers."""
        assert result.claims is not None
        ttl = result.claims.expires_at + self.settings.clock_skew - int(now.timestamp()) + 1
        fresh = await self.cache.set(
            REPLAY_KEY + result.claims.token_id.hex(), b"1", ttl=max(ttl, 1), only_if_absent=True
        )
        return None if fresh else Reason.REPLAYED

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
        except WeChatError as exc:  # e.g. 43101: the holder has no subscribe credit left
            log.info("licence check not notified: WeChat errcode %s", exc.errcode, extra={"licence_id": licence.id})
        except Exception:  # a failed notification must never affect the inspection
            log.warning("licence check notification failed", extra={"licence_id": licence.id}, exc_info=True)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self._store_inspection.drain()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


# Raw SQL on the inspection path: Tortoise spent ~1 ms of CPU building a select_related query
# and its models per batch, and building full models still cost ~70 µs per licence; these read
# and write only the columns an inspection uses.
_INSPECTION_COLUMNS = (
    "licence_id",
    "inspector_id",
    "at",
    "valid",
    "reason",
    "token_id",
    "accepted_token_id",
    "location",
)
_LICENCE_QUERY = (
    "SELECT l.id, l.identifier, l.licence_type_id, t.name, t.visible_fields, l.issuer_id, l.holder_kind,"
    " l.holder_index, l.holder_credit_code, l.holder_name, l.region_code, l.data, l.valid_until, l.status"
    " FROM licences l JOIN licence_types t ON t.code = l.licence_type_id WHERE l.identifier IN "
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


async def _licences_by_identifier(identifiers: list[str]) -> list[InspectedLicence | None]:
    wanted = list(dict.fromkeys(identifiers))
    connection = Licence._meta.db
    _, rows = await connection.execute_query(
        raw_sql(connection, _LICENCE_QUERY + f"({markers(len(wanted))})"), wanted
    )
    found = {licence.identifier: licence for licence in map(_inspected_licence, rows)}
    return [found.get(identifier) for identifier in identifiers]


async def _insert_inspections(rows: list[InspectionRow]) -> list[None]:
    location = Inspection._meta.fields_map["location"]
    async with in_transaction() as connection:
        await connection.execute_many(
            raw_sql(
                connection,
                f"INSERT INTO licence_inspections ({', '.join(_INSPECTION_COLUMNS)})"  # noqa: S608
                f" VALUES ({markers(len(_INSPECTION_COLUMNS))})",
            ),
            [
                [
                    row.licence_id,
                    row.inspector_id,
                    row.at,
                    row.valid,
                    row.reason,
                    row.token_id,
                    row.accepted_token_id,
                    location.to_db_value(row.location, Inspection),
                ]
                for row in rows
            ],
        )
    return [None] * len(rows)
