"""`python -m app licences-bulk-generate`: fill the licence table for benchmarks and load tests."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
from datetime import UTC, date, datetime
from typing import Any

BATCH = 20_000


def register(subparsers: Any) -> None:
    bulk = subparsers.add_parser(
        "licences-bulk-generate",
        help="make sure at least COUNT generated licences exist (benchmark data; never in production)",
    )
    bulk.add_argument("--count", type=int, required=True)
    bulk.add_argument("--type-code", required=True)
    bulk.add_argument("--issuer-code", required=True)
    bulk.add_argument("--region", default="440106")
    bulk.add_argument("--serial-prefix", default="BULK")
    bulk.set_defaults(func=cmd_bulk_generate)


def cmd_bulk_generate(args: argparse.Namespace) -> int:
    from app.cli import _with_orm
    from app.config import load_settings

    settings = load_settings()
    if settings.service.is_production:
        print("refusing to generate benchmark licences in production")
        return 2

    async def work() -> int:
        started = time.monotonic()
        added = await bulk_generate(
            count=args.count, type_code=args.type_code, issuer_code=args.issuer_code,
            region=args.region, serial_prefix=args.serial_prefix,
        )
        print(json.dumps({"added": added, "seconds": round(time.monotonic() - started, 1)}))
        return 0

    return int(_with_orm(settings, work))


def _row(n: int, *, type_code: str, issuer_code: str, region: str, serial_prefix: str, issued: datetime) -> dict[str, Any]:
    from app.lc1.identifier import LicenceIdentifier, credit_code_check_character

    first17 = f"91{region}{n:09d}"
    holder = first17 + credit_code_check_character(first17)
    identifier = str(LicenceIdentifier(type_code, issuer_code, f"{serial_prefix}{n:010d}", "001"))
    # One in a hundred is revoked, as a real register would have some.
    status = "revoked" if n % 100 == 99 else "active"
    return {
        "identifier": identifier, "licence_type_id": type_code, "issuer_id": issuer_code,
        "holder_kind": "enterprise", "holder_index": None, "holder_credit_code": holder,
        "holder_name": f"生成的企业{n}", "region_code": region,
        "data": {"licence_no": f"JY{n:014d}", "legal_rep": "张三", "address": f"广州市某区某路{n % 1000}号",
                 "scope": "热食类食品制售"},
        "valid_from": date(2025, 1, 1), "valid_until": date(2030, 12, 31), "status": status,
        "status_changed_at": issued, "source": "api",
        "content_hash": hashlib.sha256(identifier.encode()).hexdigest(), "issued_at": issued,
    }


async def bulk_generate(*, count: int, type_code: str, issuer_code: str, region: str, serial_prefix: str) -> int:
    """Insert generated enterprise licences until `count` exist under this serial prefix."""
    from tortoise import connections

    from app.db import is_postgres
    from models.licences import Licence

    existing = await Licence.filter(identifier__contains=f".{issuer_code}.{serial_prefix}").count()
    client = connections.get("default")
    postgres = is_postgres(client)
    # Issued (and, for the revoked ones, revoked) long ago, like most of a real register.
    issued = datetime(2025, 1, 1, tzinfo=UTC)
    added = 0
    for start in range(existing, count, BATCH):
        rows = [
            _row(n, type_code=type_code, issuer_code=issuer_code, region=region, serial_prefix=serial_prefix, issued=issued)
            for n in range(start, min(start + BATCH, count))
        ]
        if postgres:
            # COPY rather than INSERTs: a million rows take minutes instead of much longer.
            columns = list(rows[0])
            records = [tuple(json.dumps(r[c], ensure_ascii=False) if c == "data" else r[c] for c in columns) for r in rows]
            async with client.acquire_connection() as raw:
                await raw.copy_records_to_table("licences", records=records, columns=columns)
        else:
            await Licence.bulk_create([Licence(**row) for row in rows], batch_size=5000)
        added += len(rows)
        await asyncio.sleep(0)
    if postgres and added:
        # What a bulk load should end with: fresh statistics and a visibility map now, rather
        # than autovacuum reading the whole table later, in the middle of whatever runs then.
        await client.execute_script("VACUUM ANALYZE licences")
    return added
