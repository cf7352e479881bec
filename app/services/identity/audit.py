"""The audit log: append-only security events, each chained to the previous one by SHA-256.

Appends lock the single head row, so the chain stays linear across workers; `audit-verify`
recomputes every link and compares the end with the head, so an edited, inserted or deleted
record (including the last one) is detected.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.db import insert_rows, is_postgres, raw_sql
from app.ports import Clock
from models.identity import AuditEvent, AuditHead

GENESIS = "0" * 64
_DATA = AuditEvent._meta.fields_map["data"]
_EVENT_COLUMNS = {
    "seq": "bigint",
    "at": "timestamptz",
    "kind": "text",
    "actor_id": "bigint",
    "subject": "text",
    "data": "jsonb",
    "prev_hash": "text",
    "hash": "text",
}


def link_hash(
    prev_hash: str, *, seq: int, at: datetime, kind: str, actor_id: int | None, subject: str, data: dict[str, Any]
) -> str:
    canonical = orjson.dumps(
        {"seq": seq, "at": at.isoformat(), "kind": kind, "actor": actor_id, "subject": subject, "data": data},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(prev_hash.encode() + canonical).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    kind: str
    actor_id: int | None = None
    subject: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class AuditLog:
    def __init__(self, clock: Clock):
        self._clock = clock

    async def ensure_head(self) -> None:
        """Create the head row once, at start, so concurrent first appends find it to lock."""
        if await AuditHead.exists(id=1):
            return
        try:
            await AuditHead.create(id=1, seq=0, hash=GENESIS)
        except IntegrityError:  # another worker created it first
            pass

    async def record(
        self,
        kind: str,
        *,
        actor_id: int | None = None,
        subject: str = "",
        data: dict[str, Any] | None = None,
        connection: BaseDBAsyncClient | None = None,
    ) -> int:
        """Append one event (inside the caller's transaction when given one); returns its seq."""
        entry = AuditEntry(kind, actor_id, subject, data or {})
        if connection is not None:
            return (await self.append(connection, [entry]))[0]
        async with in_transaction() as conn:
            return (await self.append(conn, [entry]))[0]

    async def append(self, conn: BaseDBAsyncClient, entries: list[AuditEntry]) -> list[int]:
        """Append events in order inside the caller's transaction (one head lock for all of
        them, which is what lets batched logins share one); returns their seqs. Raw SQL: this
        runs with every login."""
        # SQLite has one writer at a time already; PostgreSQL locks the head row.
        lock = " FOR UPDATE" if is_postgres(conn) else ""
        _, rows = await conn.execute_query(f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}")  # noqa: S608
        if rows:
            seq, prev_hash = rows[0]["seq"], rows[0]["hash"]
        else:  # ensure_head() makes it at start; a store emptied since gets it back here
            await conn.execute_query(
                raw_sql(conn, "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ?)"), [GENESIS]
            )
            seq, prev_hash = 0, GENESIS
        now = self._clock.now()
        at = now.replace(microsecond=(now.microsecond // 1000) * 1000)
        values: list[list[Any]] = []
        for entry in entries:
            seq += 1
            digest = link_hash(
                prev_hash,
                seq=seq,
                at=at,
                kind=entry.kind,
                actor_id=entry.actor_id,
                subject=entry.subject,
                data=entry.data,
            )
            values.append(
                [
                    seq,
                    at,
                    entry.kind,
                    entry.actor_id,
                    entry.subject,
                    _DATA.to_db_value(entry.data, AuditEvent),
                    prev_hash,
                    digest,
                ]
            )
            prev_hash = digest
        await insert_rows(conn, "audit_events", _EVENT_COLUMNS, values)
        await conn.execute_query(
            raw_sql(conn, "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1"), [seq, prev_hash]
        )
        return [row[0] for row in values]


@dataclass
class ChainReport:
    records: int
    intact: bool
    first_bad_seq: int | None = None
    problem: str = ""

    def summary(self) -> str:
        if self.intact:
            return f"audit chain intact: {self.records} records"
        return f"audit chain BROKEN at seq {self.first_bad_seq}: {self.problem} ({self.records} records read)"


async def verify_chain(batch: int = 1000) -> ChainReport:
    prev_hash, expected_seq, count = GENESIS, 1, 0
    last_seq = 0
    while True:
        rows = await AuditEvent.filter(seq__gt=last_seq).order_by("seq").limit(batch)
        if not rows:
            break
        for row in rows:
            count += 1
            if row.seq != expected_seq:
                return ChainReport(count, False, expected_seq, "record missing")
            if row.prev_hash != prev_hash:
                return ChainReport(count, False, row.seq, "link to the previous record broken")
            digest = link_hash(
                prev_hash,
                seq=row.seq,
                at=row.at,
                kind=row.kind,
                actor_id=row.actor_id,
                subject=row.subject,
                data=row.data,
            )
            if digest != row.hash:
                return ChainReport(count, False, row.seq, "record edited")
            prev_hash, expected_seq, last_seq = row.hash, row.seq + 1, row.seq
    head = await AuditHead.get_or_none(id=1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != last_seq or head_hash != prev_hash:
        return ChainReport(count, False, last_seq + 1, "records after the last one were deleted")
    return ChainReport(count, True)
