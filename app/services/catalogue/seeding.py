"""`seed-demo`: store the demo catalogue. Idempotent: what exists (by code or slug) is kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tortoise.transactions import in_transaction

from app.ports import Clock
from app.services.catalogue.demo_data import DEFAULT_SEED, DemoCatalogue, generate
from models.catalogue import Bundle, Department, Region, ServiceItem, ServiceItemVersion, Zone, ZoneEntry

Progress = Callable[[str, int, int], None]
_BATCH = 1000


async def seed_demo(
    *, clock: Clock, scale: int | None = None, seed: int = DEFAULT_SEED, progress: Progress | None = None
) -> dict[str, int]:
    report = progress or (lambda stage, done, total: None)
    catalogue = generate(seed=seed, scale=scale)
    now = clock.now()
    counts = {"regions": 0, "departments": 0, "items": 0, "bundles": 0, "zones": 0}

    have = set(await Region.all().values_list("code", flat=True))
    regions = [
        Region(code=r.code, name=r.name, level=r.level, parent_code=r.parent_code, phone_area_code=r.phone_area_code)
        for r in catalogue.regions
        if r.code not in have
    ]
    await Region.bulk_create(regions, batch_size=_BATCH)
    counts["regions"] = len(regions)
    report("regions", len(catalogue.regions), len(catalogue.regions))

    have = set(await Department.all().values_list("code", flat=True))
    departments = [
        Department(code=d.code, name=d.name, kind=d.kind, region_code=d.region_code)
        for d in catalogue.departments
        if d.code not in have
    ]
    await Department.bulk_create(departments, batch_size=_BATCH)
    counts["departments"] = len(departments)
    report("departments", len(catalogue.departments), len(catalogue.departments))

    have = set(await ServiceItem.all().values_list("code", flat=True))
    missing = [item for item in catalogue.items if item.code not in have]
    total = len(catalogue.items)
    done = total - len(missing)
    report("items", done, total)
    for start in range(0, len(missing), _BATCH):
        batch = missing[start : start + _BATCH]
        async with in_transaction() as conn:
            await ServiceItem.bulk_create([_item_row(item, now) for item in batch], using_db=conn)
            await ServiceItemVersion.bulk_create(
                [
                    ServiceItemVersion(
                        item_code=item.code, revision=1, content=_content(item), published_by=None, published_at=now
                    )
                    for item in batch
                ],
                using_db=conn,
            )
        done += len(batch)
        counts["items"] += len(batch)
        report("items", done, total)

    counts["bundles"] = await _bundles(catalogue)
    counts["zones"] = await _zones(catalogue)
    report("zones and bundles", 1, 1)
    return counts


def _content(item: Any) -> dict[str, Any]:
    return {
        "basic_code": item.basic_code,
        "name": item.name,
        "item_type": item.item_type,
        "department_code": item.department_code,
        "region_code": item.region_code,
        "audiences": list(item.audiences),
        "aliases": list(item.aliases),
        "guide": item.guide,
    }


def _item_row(item: Any, now: Any) -> ServiceItem:
    return ServiceItem(
        code=item.code,
        status="published",
        revision=1,
        published_revision=1,
        published_at=now,
        views=item.popularity,
        **_content(item),
    )


async def _bundles(catalogue: DemoCatalogue) -> int:
    have = set(await Bundle.all().values_list("slug", flat=True))
    created = 0
    for bundle in catalogue.bundles:
        if bundle.slug in have:
            continue
        await Bundle.create(
            slug=bundle.slug,
            title=bundle.title,
            description=bundle.description,
            audiences=list(bundle.audiences),
            region_code=bundle.region_code,
            basic_codes=list(bundle.basic_codes),
            status="published",
        )
        created += 1
    return created


async def _zones(catalogue: DemoCatalogue) -> int:
    have = set(await Zone.all().values_list("slug", flat=True))
    position = len(have)
    created = 0
    for zone in catalogue.zones:
        if zone.slug in have:
            continue
        async with in_transaction() as conn:
            row = await Zone.create(
                slug=zone.slug,
                title=zone.title,
                icon=zone.icon,
                description=zone.description,
                audiences=list(zone.audiences),
                region_code=zone.region_code,
                status="published",
                position=position,
                using_db=conn,
            )
            await ZoneEntry.bulk_create(
                [
                    ZoneEntry(
                        zone_id=row.id,
                        position=index,
                        kind=entry["kind"],
                        basic_code=entry.get("basic_code"),
                        bundle_slug=entry.get("slug"),
                    )
                    for index, entry in enumerate(zone.entries)
                ],
                using_db=conn,
            )
        position += 1
        created += 1
    return created
