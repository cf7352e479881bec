"""Bulk import and export of service items, as JSON or CSV.

An import is all-or-nothing: every row is checked first and the per-row report comes back;
one bad row and nothing is written. A good file is written in one transaction.
CSV columns: code, basic_code, name, item_type, department_code, region_code, audiences and
aliases ("|"-separated), guide (a JSON object); export adds status and revision.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from tortoise.transactions import in_transaction

from app.characters import UNSTORABLE, unstorable_fields
from app.ports import Clock
from app.services.catalogue.content import ITEM_FIELDS, changed_fields, item_content, problems_with_item
from app.services.catalogue.errors import ImportRejected, ImportUnreadable
from app.services.catalogue.search_sync import CatalogueSearch
from models.catalogue import CatalogueChange, Department, Region, ServiceItem, ServiceItemVersion

CSV_COLUMNS = ("code", *ITEM_FIELDS)
MAX_ROWS = 20_000
_LIST_COLUMNS = ("audiences", "aliases")


def parse_rows(payload: bytes, fmt: str) -> list[Any]:
    """Rows as dicts (or whatever the file held, for the report to complain about)."""
    try:
        if fmt == "json":
            data = orjson.loads(payload)
            rows = data.get("items") if isinstance(data, dict) else data
            if not isinstance(rows, list):
                raise ImportUnreadable('A JSON import is a list of items or {"items": [...]}.')
            return rows
        text = payload.decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "code" not in reader.fieldnames:
            raise ImportUnreadable("The CSV needs a header row with at least a code column.")
        rows = []
        for raw in reader:
            row: dict[str, Any] = {k: v for k, v in raw.items() if k in CSV_COLUMNS}
            for column in _LIST_COLUMNS:
                if column in row:
                    row[column] = [part for part in (row[column] or "").split("|") if part]
            if "guide" in row:
                try:
                    row["guide"] = orjson.loads(row["guide"] or "{}")
                except orjson.JSONDecodeError:
                    row["guide"] = "not JSON"
            rows.append(row)
        return rows
    except (UnicodeDecodeError, orjson.JSONDecodeError, csv.Error):
        raise ImportUnreadable(context={"format": fmt}) from None


class CatalogueTransfer:
    def __init__(self, *, clock: Clock, search: CatalogueSearch) -> None:
        self._clock = clock
        self._search = search

    async def import_items(self, *, actor_id: int, payload: bytes, fmt: str, publish: bool) -> dict[str, Any]:
        rows = parse_rows(payload, fmt)
        if not rows:
            raise ImportUnreadable("The file holds no rows.")
        if len(rows) > MAX_ROWS:
            raise ImportUnreadable(f"At most {MAX_ROWS} rows per import.", context={"rows": len(rows)})
        departments = {str(code) for code in await Department.all().values_list("code", flat=True)}
        regions = {str(code) for code in await Region.all().values_list("code", flat=True)}
        report: list[dict[str, Any]] = []
        seen: set[str] = set()
        for number, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                report.append(
                    {"row": number, "code": None, "problems": [{"field": "(row)", "problem": "not an object"}]}
                )
                continue
            code = row.get("code")
            # Every text must be storable, as in any request body (handlers/_endpoint.py).
            problems = [{"field": field, "problem": UNSTORABLE} for field in unstorable_fields(row)]
            if not isinstance(code, str) or not 6 <= len(code) <= 40 or not (code.isascii() and code.isalnum()):
                problems.append({"field": "code", "problem": "must be 6 to 40 letters or digits"})
            elif code in seen:
                problems.append({"field": "code", "problem": "appears twice in this file"})
            seen.add(code if isinstance(code, str) else "")
            content = {k: v for k, v in row.items() if k != "code"}
            content.setdefault("aliases", [])
            problems.extend(problems_with_item(content, departments=departments, regions=regions))
            if problems:
                report.append({"row": number, "code": code if isinstance(code, str) else None, "problems": problems})
        if report:
            raise ImportRejected(context={"rows": len(rows), "invalid_rows": len(report), "report": report[:200]})
        return await self._write(actor_id, rows, publish)

    async def _write(self, actor_id: int, rows: list[dict[str, Any]], publish: bool) -> dict[str, Any]:
        now = self._clock.now()
        codes = [row["code"] for row in rows]
        created = updated = unchanged = 0
        async with in_transaction() as conn:
            existing = {i.code: i for i in await ServiceItem.filter(code__in=codes).using_db(conn).select_for_update()}
            new_items, changes, versions = [], [], []
            for row in rows:
                content = {name: row.get(name, []) if name == "aliases" else row[name] for name in ITEM_FIELDS}
                item = existing.get(row["code"])
                if item is None:
                    created += 1
                    new_items.append(
                        ServiceItem(
                            code=row["code"],
                            status="published" if publish else "draft",
                            revision=1,
                            published_revision=1 if publish else None,
                            published_at=now if publish else None,
                            **content,
                        )
                    )
                    if publish:
                        versions.append(
                            ServiceItemVersion(
                                item_code=row["code"],
                                revision=1,
                                content=content,
                                published_by=actor_id,
                                published_at=now,
                            )
                        )
                    changes.append(self._change(actor_id, row["code"], "import", {"created": [None, True]}, now))
                    continue
                diff = changed_fields(item_content(item), content)
                if not diff and not (publish and item.has_unpublished_changes):
                    unchanged += 1
                    continue
                updated += 1
                revision = item.revision + 1 if diff else item.revision
                if publish:
                    values: dict[str, Any] = {
                        **content,
                        "draft": None,
                        "status": "published",
                        "published_revision": revision,
                        "published_at": now,
                    }
                    versions.append(
                        ServiceItemVersion(
                            item_code=item.code,
                            revision=revision,
                            content=content,
                            published_by=actor_id,
                            published_at=now,
                        )
                    )
                elif item.published_revision is None:
                    values = dict(content)
                else:
                    values = {"draft": content}
                await (
                    ServiceItem.filter(code=item.code)
                    .using_db(conn)
                    .update(revision=revision, updated_at=now, **values)
                )
                changes.append(self._change(actor_id, item.code, "import", diff, now))
            await ServiceItem.bulk_create(new_items, batch_size=500, using_db=conn)
            await ServiceItemVersion.bulk_create(versions, batch_size=500, using_db=conn)
            await CatalogueChange.bulk_create(changes, batch_size=500, using_db=conn)
        if publish and (created or updated):
            await self._search.changed()
        return {"rows": len(rows), "created": created, "updated": updated, "unchanged": unchanged, "published": publish}

    def _change(self, actor_id: int, code: str, action: str, changes: dict[str, Any], now: Any) -> CatalogueChange:
        return CatalogueChange(
            at=now, actor_id=actor_id, entity="item", entity_key=code, action=action, changes=changes
        )

    async def export_items(self, *, fmt: str, status: str | None) -> bytes:
        query = ServiceItem.all() if status is None else ServiceItem.filter(status=status)
        items = await query.order_by("code")
        rows = [{"code": i.code, **item_content(i), "status": i.status, "revision": i.revision} for i in items]
        if fmt == "json":
            return orjson.dumps({"items": rows})
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=[*CSV_COLUMNS, "status", "revision"])
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    **row,
                    "audiences": "|".join(row["audiences"]),
                    "aliases": "|".join(row["aliases"]),
                    "guide": orjson.dumps(row["guide"]).decode(),
                }
            )
        return buffer.getvalue().encode("utf-8")
