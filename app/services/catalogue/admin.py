"""What operators do: create and edit items, preview, publish, retire; zones, bundles, imports.

Every change is one transaction with a conditional update on the revision the operator saw
(an edit racing a publish makes exactly one of them work on the revision it expected), plus a
CatalogueChange row saying who changed what. Changes residents can see bump the catalogue
version after commit, which invalidates the read caches and every worker's search index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.functions import Count
from tortoise.transactions import in_transaction

from app.errors import ValidationFailed
from app.ports import Clock
from app.services.catalogue.bundles import merged_materials
from app.services.catalogue.content import ITEM_FIELDS, changed_fields, item_content, problems_with_item
from app.services.catalogue.errors import (
    AlreadyExists,
    BundleNotFound,
    InvalidEntries,
    RevisionConflict,
    ServiceItemNotFound,
    TransitionNotAllowed,
    UnknownAudience,
    UnknownDepartment,
    UnknownRegion,
    ZoneNotFound,
)
from app.services.catalogue.search_sync import CatalogueSearch
from models.catalogue import (
    Bundle,
    CatalogueChange,
    Department,
    Region,
    ServiceItem,
    ServiceItemVersion,
    Zone,
    ZoneEntry,
)

# (status, action) -> new status; anything else is refused. Zones and bundles use the same
# table (they are edited in place, so "edit" only matters for items).
TRANSITIONS = {
    ("draft", "edit"): "draft",
    ("published", "edit"): "published",
    ("draft", "publish"): "published",
    ("published", "publish"): "published",
    ("retired", "publish"): "published",
    ("draft", "retire"): "retired",
    ("published", "retire"): "retired",
}
AUDIENCES = ("individual", "enterprise")


def _transition(status: str, action: str, key: str) -> str:
    target = TRANSITIONS.get((status, action))
    if target is None:
        raise TransitionNotAllowed(context={"status": status, "action": action, "key": key})
    return target


class CatalogueAdmin:
    def __init__(self, *, clock: Clock, search: CatalogueSearch) -> None:
        self._clock = clock
        self._search = search

    # ------------------------------------------------------------------ helpers
    async def _record(self, conn: Any, actor_id: int, entity: str, key: str, action: str, changes: dict) -> None:
        await CatalogueChange.create(
            at=self._clock.now(),
            actor_id=actor_id,
            entity=entity,
            entity_key=key,
            action=action,
            changes=changes,
            using_db=conn,
        )

    async def _known(self) -> tuple[set[str], set[str]]:
        departments = {str(code) for code in await Department.all().values_list("code", flat=True)}
        regions = {str(code) for code in await Region.all().values_list("code", flat=True)}
        return departments, regions

    async def _check_item(self, content: dict[str, Any], *, partial: bool = False) -> None:
        departments, regions = await self._known()
        problems = problems_with_item(content, departments=departments, regions=regions, partial=partial)
        if not problems:
            return
        fields = {p["field"] for p in problems}
        if fields == {"department_code"}:
            raise UnknownDepartment(context={"department_code": content.get("department_code")})
        if fields == {"region_code"}:
            raise UnknownRegion(context={"region": content.get("region_code")})
        raise ValidationFailed(context={"fields": problems})

    # ------------------------------------------------------------------ items
    async def create_item(self, *, actor_id: int, code: str, content: dict[str, Any]) -> dict[str, Any]:
        content = {"aliases": [], **content}
        await self._check_item({"code": code, **content})
        async with in_transaction() as conn:
            if await ServiceItem.filter(code=code).using_db(conn).exists():
                raise AlreadyExists(context={"code": code})
            item = await ServiceItem.create(code=code, status="draft", revision=1, using_db=conn, **content)
            await self._record(conn, actor_id, "item", code, "create", {"name": [None, item.name]})
        return item_admin_view(item)

    async def preview_item(self, *, code: str) -> dict[str, Any]:
        """The working copy as residents would see it once published, and what would change."""
        item = await _item(code)
        view = item_admin_view(item)
        live = {name: getattr(item, name) for name in ITEM_FIELDS} if item.published_revision else {}
        view["pending_changes"] = changed_fields(live, item_content(item)) if item.has_unpublished_changes else {}
        return view

    async def update_item(self, *, actor_id: int, code: str, revision: int, changes: dict[str, Any]) -> dict[str, Any]:
        _refuse_nulls(changes, clearable=frozenset())
        item = await _item(code)
        _transition(item.status, "edit", code)
        if item.revision != revision:
            raise RevisionConflict(context={"expected": revision, "current": item.revision})
        before = item_content(item)
        after = {**before, **changes}
        await self._check_item(after)
        diff = changed_fields(before, after)
        if not diff:
            return item_admin_view(item)
        # The working copy goes to the columns while nothing is live, else to `draft`.
        values: dict[str, Any]
        if item.published_revision is None:
            values = {name: after[name] for name in ITEM_FIELDS}
        else:
            values = {"draft": after}
        # Also conditional on what was live when we read it: a publish that slipped in between
        # would otherwise see this edit land in the columns residents read.
        live_filter = (
            {"published_revision__isnull": True}
            if item.published_revision is None
            else {"published_revision": item.published_revision}
        )
        async with in_transaction() as conn:
            updated = (
                await ServiceItem.filter(code=code, revision=revision, **live_filter)
                .using_db(conn)
                .update(revision=revision + 1, updated_at=self._clock.now(), **values)
            )
            if updated != 1:
                raise RevisionConflict(context={"expected": revision})
            await self._record(conn, actor_id, "item", code, "update", diff)
        return item_admin_view(await _item(code))

    async def publish_item(self, *, actor_id: int, code: str, revision: int) -> dict[str, Any]:
        item = await _item(code)
        if item.revision != revision:
            raise RevisionConflict(context={"expected": revision, "current": item.revision})
        if item.status == "published" and item.published_revision == revision:
            return item_admin_view(item)
        _transition(item.status, "publish", code)
        content = item_content(item)
        await self._check_item(content)
        now = self._clock.now()
        async with in_transaction() as conn:
            updated = (
                await ServiceItem.filter(code=code, revision=revision, status=item.status)
                .using_db(conn)
                .update(
                    status="published",
                    published_revision=revision,
                    published_at=now,
                    draft=None,
                    updated_at=now,
                    **{name: content[name] for name in ITEM_FIELDS},
                )
            )
            if updated != 1:
                raise RevisionConflict(context={"expected": revision})
            if not await ServiceItemVersion.filter(item_code=code, revision=revision).using_db(conn).exists():
                await ServiceItemVersion.create(
                    item_code=code,
                    revision=revision,
                    content=content,
                    published_by=actor_id,
                    published_at=now,
                    using_db=conn,
                )
            await self._record(
                conn, actor_id, "item", code, "publish", {"revision": [item.published_revision, revision]}
            )
        await self._search.changed()
        return item_admin_view(await _item(code))

    async def retire_item(self, *, actor_id: int, code: str, revision: int) -> dict[str, Any]:
        item = await _item(code)
        if item.revision != revision:
            raise RevisionConflict(context={"expected": revision, "current": item.revision})
        _transition(item.status, "retire", code)
        async with in_transaction() as conn:
            updated = (
                await ServiceItem.filter(code=code, revision=revision, status=item.status)
                .using_db(conn)
                .update(status="retired", updated_at=self._clock.now())
            )
            if updated != 1:
                raise RevisionConflict(context={"expected": revision})
            await self._record(conn, actor_id, "item", code, "retire", {"status": [item.status, "retired"]})
        await self._search.changed()
        return item_admin_view(await _item(code))

    async def item_versions(self, *, code: str) -> dict[str, Any]:
        await _item(code)
        versions = await ServiceItemVersion.filter(item_code=code).order_by("-revision")
        return {
            "code": code,
            "versions": [
                {
                    "revision": v.revision,
                    "published_by": v.published_by,
                    "published_at": v.published_at,
                    "content": v.content,
                }
                for v in versions
            ],
        }

    async def list_items(self, *, status: str | None, page: int, page_size: int) -> dict[str, Any]:
        query = ServiceItem.all() if status is None else ServiceItem.filter(status=status)
        total = await query.count()
        rows = await query.order_by("code").offset((page - 1) * page_size).limit(page_size)
        return {"page": page, "page_size": page_size, "total": total, "items": [item_summary(i) for i in rows]}

    async def changes(self, *, entity: str | None, key: str | None, limit: int) -> dict[str, Any]:
        query = CatalogueChange.all()
        if entity:
            query = query.filter(entity=entity)
        if key:
            query = query.filter(entity_key=key)
        rows = await query.order_by("-id").limit(limit)
        return {
            "changes": [
                {
                    "at": row.at,
                    "actor_id": row.actor_id,
                    "entity": row.entity,
                    "key": row.entity_key,
                    "action": row.action,
                    "changes": row.changes,
                }
                for row in rows
            ]
        }

    # ------------------------------------------------------------------ departments
    async def create_department(
        self, *, actor_id: int, code: str, name: str, kind: str, region_code: str
    ) -> dict[str, Any]:
        if not await Region.filter(code=region_code).exists():
            raise UnknownRegion(context={"region": region_code})
        async with in_transaction() as conn:
            if await Department.filter(code=code).using_db(conn).exists():
                raise AlreadyExists(context={"code": code})
            await Department.create(code=code, name=name, kind=kind, region_code=region_code, using_db=conn)
            await self._record(conn, actor_id, "department", code, "create", {"name": [None, name]})
        return {"code": code, "name": name, "kind": kind, "region_code": region_code}

    # ------------------------------------------------------------------ zones
    async def create_zone(self, *, actor_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        await self._check_zone_fields(fields)
        async with in_transaction() as conn:
            if await Zone.filter(slug=fields["slug"]).using_db(conn).exists():
                raise AlreadyExists(context={"slug": fields["slug"]})
            position = await Zone.all().using_db(conn).count()
            zone = await Zone.create(status="draft", position=position, using_db=conn, **fields)
            await self._record(conn, actor_id, "zone", zone.slug, "create", {"title": [None, zone.title]})
        return await self.zone_admin_view(zone.id)

    async def update_zone(
        self, *, actor_id: int, zone_id: int, revision: int, fields: dict[str, Any]
    ) -> dict[str, Any]:
        zone = await _zone(zone_id)
        await self._check_zone_fields(fields)
        diff = {k: [_jsonable(getattr(zone, k)), _jsonable(v)] for k, v in fields.items() if getattr(zone, k) != v}
        async with in_transaction() as conn:
            updated = (
                await Zone.filter(id=zone_id, revision=revision).using_db(conn).update(revision=revision + 1, **fields)
            )
            if updated != 1:
                raise RevisionConflict(context={"expected": revision, "current": zone.revision})
            await self._record(conn, actor_id, "zone", zone.slug, "update", diff)
        if zone.status == "published":
            await self._search.changed()
        return await self.zone_admin_view(zone_id)

    async def set_zone_entries(
        self, *, actor_id: int, zone_id: int, revision: int, entries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Replace the zone's tiles with this ordered list (reordering is sending a new order)."""
        zone = await _zone(zone_id)
        await _check_entries(entries)
        before = [(e.kind, e.basic_code or e.bundle_slug) for e in await zone.entries.all().order_by("position")]
        async with in_transaction() as conn:
            updated = await Zone.filter(id=zone_id, revision=revision).using_db(conn).update(revision=revision + 1)
            if updated != 1:
                raise RevisionConflict(context={"expected": revision, "current": zone.revision})
            await ZoneEntry.filter(zone_id=zone_id).using_db(conn).delete()
            await ZoneEntry.bulk_create(
                [
                    ZoneEntry(
                        zone_id=zone_id,
                        position=index,
                        kind=entry["kind"],
                        basic_code=entry.get("basic_code"),
                        bundle_slug=entry.get("bundle_slug"),
                        title=entry.get("title") or "",
                    )
                    for index, entry in enumerate(entries)
                ],
                using_db=conn,
            )
            after = [(e["kind"], e.get("basic_code") or e.get("bundle_slug")) for e in entries]
            await self._record(conn, actor_id, "zone", zone.slug, "reorder", {"entries": [before, after]})
        if zone.status == "published":
            await self._search.changed()
        return await self.zone_admin_view(zone_id)

    async def order_zones(self, *, actor_id: int, zone_ids: list[int]) -> dict[str, Any]:
        known = set(await Zone.all().values_list("id", flat=True))
        if set(zone_ids) != known or len(zone_ids) != len(known):
            raise InvalidEntries("Send every zone id exactly once.", context={"known": sorted(known)})
        async with in_transaction() as conn:
            for position, zone_id in enumerate(zone_ids):
                await Zone.filter(id=zone_id).using_db(conn).update(position=position)
            await self._record(conn, actor_id, "zone", "*", "reorder", {"order": [None, zone_ids]})
        await self._search.changed()
        return {"order": zone_ids}

    async def set_zone_status(self, *, actor_id: int, zone_id: int, revision: int, action: str) -> dict[str, Any]:
        zone = await _zone(zone_id)
        target = _transition(zone.status, action, zone.slug)
        async with in_transaction() as conn:
            updated = (
                await Zone.filter(id=zone_id, revision=revision, status=zone.status)
                .using_db(conn)
                .update(status=target)
            )
            if updated != 1:
                raise RevisionConflict(context={"expected": revision, "current": zone.revision})
            await self._record(conn, actor_id, "zone", zone.slug, action, {"status": [zone.status, target]})
        await self._search.changed()
        return await self.zone_admin_view(zone_id)

    async def list_zones(self, *, status: str | None, limit: int, offset: int) -> dict[str, Any]:
        """Every zone, drafts and retired ones too, in home-page order, with how many entries each has."""
        query = Zone.all() if status is None else Zone.filter(status=status)
        total = await query.count()
        zones = await query.order_by("position", "id").offset(offset).limit(limit)
        counts: dict[int, int] = {}
        if zones:
            rows = (
                await ZoneEntry.filter(zone_id__in=[z.id for z in zones])
                .annotate(entries=Count("id"))
                .group_by("zone_id")
                .values("zone_id", "entries")
            )
            counts = {int(row["zone_id"]): int(row["entries"]) for row in rows}
        return {
            "total": total,
            "limit": limit,
            "offset": offset,
            "zones": [
                {**_zone_summary(zone), "entry_count": counts.get(zone.id, 0)}
                for zone in zones
            ],
        }

    async def zone_admin_view(self, zone_id: int) -> dict[str, Any]:
        zone = await _zone(zone_id)
        entries = await zone.entries.all().order_by("position")
        return {
            **_zone_summary(zone),
            "icon": zone.icon,
            "description": zone.description,
            "entries": [
                {"kind": e.kind, "basic_code": e.basic_code, "bundle_slug": e.bundle_slug, "title": e.title}
                for e in entries
            ],
        }

    async def _check_zone_fields(self, fields: dict[str, Any]) -> None:
        _refuse_nulls(fields, clearable=ZONE_CLEARABLE)
        if "region_code" in fields and not await Region.filter(code=fields["region_code"]).exists():
            raise UnknownRegion(context={"region": fields["region_code"]})
        if "audiences" in fields and any(a not in AUDIENCES for a in fields["audiences"]):
            raise UnknownAudience(context={"allowed": list(AUDIENCES)})
        start, end = fields.get("publish_from"), fields.get("publish_until")
        if isinstance(start, datetime) and isinstance(end, datetime) and end <= start:
            raise ValidationFailed(
                context={"fields": [{"field": "publish_until", "problem": "must be after publish_from"}]}
            )

    # ------------------------------------------------------------------ bundles
    async def create_bundle(self, *, actor_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        await self._check_bundle_fields(fields)
        async with in_transaction() as conn:
            if await Bundle.filter(slug=fields["slug"]).using_db(conn).exists():
                raise AlreadyExists(context={"slug": fields["slug"]})
            bundle = await Bundle.create(status="draft", using_db=conn, **fields)
            await self._record(conn, actor_id, "bundle", bundle.slug, "create", {"title": [None, bundle.title]})
        return bundle_admin_view(bundle)

    async def update_bundle(
        self, *, actor_id: int, bundle_id: int, revision: int, fields: dict[str, Any]
    ) -> dict[str, Any]:
        bundle = await _bundle(bundle_id)
        await self._check_bundle_fields(fields)
        diff = {k: [getattr(bundle, k), v] for k, v in fields.items() if getattr(bundle, k) != v}
        async with in_transaction() as conn:
            updated = (
                await Bundle.filter(id=bundle_id, revision=revision)
                .using_db(conn)
                .update(revision=revision + 1, **fields)
            )
            if updated != 1:
                raise RevisionConflict(context={"expected": revision, "current": bundle.revision})
            await self._record(conn, actor_id, "bundle", bundle.slug, "update", diff)
        if bundle.status == "published":
            await self._search.changed()
        return bundle_admin_view(await _bundle(bundle_id))

    async def set_bundle_status(self, *, actor_id: int, bundle_id: int, revision: int, action: str) -> dict[str, Any]:
        bundle = await _bundle(bundle_id)
        target = _transition(bundle.status, action, bundle.slug)
        async with in_transaction() as conn:
            updated = (
                await Bundle.filter(id=bundle_id, revision=revision, status=bundle.status)
                .using_db(conn)
                .update(status=target)
            )
            if updated != 1:
                raise RevisionConflict(context={"expected": revision, "current": bundle.revision})
            await self._record(conn, actor_id, "bundle", bundle.slug, action, {"status": [bundle.status, target]})
        await self._search.changed()
        return bundle_admin_view(await _bundle(bundle_id))

    async def list_bundles(self, *, status: str | None, limit: int, offset: int) -> dict[str, Any]:
        query = Bundle.all() if status is None else Bundle.filter(status=status)
        total = await query.count()
        bundles = await query.order_by("id").offset(offset).limit(limit)
        return {
            "total": total,
            "limit": limit,
            "offset": offset,
            "bundles": [bundle_admin_view(bundle) for bundle in bundles],
        }

    async def bundle_detail(self, *, bundle_id: int) -> dict[str, Any]:
        """The bundle with every implementation of its items (drafts too) and the materials merged
        over one implementation per standard item: the one in the bundle's region, if any."""
        bundle = await _bundle(bundle_id)
        items = await ServiceItem.filter(basic_code__in=list(bundle.basic_codes)).order_by("code")
        by_basic: dict[str, list[ServiceItem]] = {}
        for item in items:
            by_basic.setdefault(item.basic_code, []).append(item)

        def representative(candidates: list[ServiceItem]) -> ServiceItem:
            return min(
                candidates,
                key=lambda i: (i.region_code != bundle.region_code, i.status != "published", i.code),
            )

        chosen = [representative(by_basic[code]) for code in bundle.basic_codes if code in by_basic]
        return {
            **bundle_admin_view(bundle),
            "items": [
                {
                    "basic_code": code,
                    "implementations": [
                        {**item_summary(item), "region_code": item.region_code} for item in by_basic.get(code, [])
                    ],
                }
                for code in bundle.basic_codes
            ],
            "missing_basic_codes": [code for code in bundle.basic_codes if code not in by_basic],
            "materials": merged_materials(chosen),
        }

    async def _check_bundle_fields(self, fields: dict[str, Any]) -> None:
        _refuse_nulls(fields, clearable=frozenset())
        if "region_code" in fields and not await Region.filter(code=fields["region_code"]).exists():
            raise UnknownRegion(context={"region": fields["region_code"]})
        if "audiences" in fields and any(a not in AUDIENCES for a in fields["audiences"]):
            raise UnknownAudience(context={"allowed": list(AUDIENCES)})
        if "basic_codes" in fields:
            wanted = list(fields["basic_codes"])
            known = set(await ServiceItem.filter(basic_code__in=wanted).values_list("basic_code", flat=True))
            missing = [code for code in wanted if code not in known]
            if missing or len(set(wanted)) != len(wanted):
                raise InvalidEntries(
                    context={"unknown_basic_codes": missing, "duplicates": len(wanted) - len(set(wanted))}
                )


def item_summary(item: ServiceItem) -> dict[str, Any]:
    return {
        "code": item.code,
        "basic_code": item.basic_code,
        "name": item.name,
        "status": item.status,
        "revision": item.revision,
        "published_revision": item.published_revision,
        "has_unpublished_changes": item.has_unpublished_changes,
    }


def item_admin_view(item: ServiceItem) -> dict[str, Any]:
    return {
        **item_summary(item),
        "content": item_content(item),
        "updated_at": item.updated_at,
        "published_at": item.published_at,
    }


def bundle_admin_view(bundle: Bundle) -> dict[str, Any]:
    return {
        "id": bundle.id,
        "slug": bundle.slug,
        "title": bundle.title,
        "description": bundle.description,
        "audiences": bundle.audiences,
        "region_code": bundle.region_code,
        "basic_codes": bundle.basic_codes,
        "status": bundle.status,
        "revision": bundle.revision,
    }


async def _item(code: str) -> ServiceItem:
    item = await ServiceItem.get_or_none(code=code)
    if item is None:
        raise ServiceItemNotFound(context={"code": code})
    return item


# A zone's publishing window may be cleared with null; no other zone or bundle field may be empty.
ZONE_CLEARABLE = frozenset({"publish_from", "publish_until"})


def _refuse_nulls(fields: dict[str, Any], *, clearable: frozenset[str]) -> None:
    """An edit that sends null for a field that must hold a value is refused (422), not stored."""
    problems = [
        {"field": name, "problem": "must not be null"}
        for name, value in fields.items()
        if value is None and name not in clearable
    ]
    if problems:
        raise ValidationFailed(context={"fields": problems})


async def _zone(zone_id: int) -> Zone:
    zone = await Zone.get_or_none(id=zone_id)
    if zone is None:
        raise ZoneNotFound(context={"zone": zone_id})
    return zone


async def _bundle(bundle_id: int) -> Bundle:
    bundle = await Bundle.get_or_none(id=bundle_id)
    if bundle is None:
        raise BundleNotFound(context={"bundle": bundle_id})
    return bundle


async def _check_entries(entries: list[dict[str, Any]]) -> None:
    basic_codes = [e["basic_code"] for e in entries if e.get("kind") == "service" and e.get("basic_code")]
    slugs = [e["bundle_slug"] for e in entries if e.get("kind") == "bundle" and e.get("bundle_slug")]
    malformed = [
        i
        for i, e in enumerate(entries)
        if (e.get("kind") == "service" and not e.get("basic_code"))
        or (e.get("kind") == "bundle" and not e.get("bundle_slug"))
        or e.get("kind") not in ("service", "bundle")
    ]
    known_codes = set(await ServiceItem.filter(basic_code__in=basic_codes).values_list("basic_code", flat=True))
    known_slugs = set(await Bundle.filter(slug__in=slugs).values_list("slug", flat=True))
    unknown_codes = [c for c in basic_codes if c not in known_codes]
    unknown_slugs = [s for s in slugs if s not in known_slugs]
    if malformed or unknown_codes or unknown_slugs:
        raise InvalidEntries(
            context={"malformed": malformed, "unknown_basic_codes": unknown_codes, "unknown_bundles": unknown_slugs}
        )


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _zone_summary(zone: Zone) -> dict[str, Any]:
    """What the operator sees of a zone in the list and at the top of its page."""
    return {
        "id": zone.id,
        "slug": zone.slug,
        "title": zone.title,
        "audiences": zone.audiences,
        "region_code": zone.region_code,
        "publish_from": zone.publish_from,
        "publish_until": zone.publish_until,
        "status": zone.status,
        "position": zone.position,
        "revision": zone.revision,
    }
