"""What residents read: the region tree, zones, item guides, bundles and search.

Rendered answers are cached in the Cache port under keys that carry the catalogue version, so a
publish (which bumps the version) makes every older entry unreachable at once; a small
per-worker memo in front saves the round trip for the hottest keys. ETags are the body hash.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app import answers
from app.characters import shows_what_it_says
from app.db import MAX_ID
from app.ports import Cache, Clock
from app.search import MAX_QUERY_CHARS
from app.search import UnknownAudience as IndexUnknownAudience
from app.search import UnknownRegion as IndexUnknownRegion
from app.services.catalogue.bundles import merged_flow, merged_materials
from app.services.catalogue.errors import (
    BundleNotFound,
    SearchQueryEmpty,
    SearchQueryInvalid,
    SearchQueryTooLong,
    ServiceItemNotFound,
    UnknownAudience,
    UnknownRegion,
    ZoneNotFound,
)
from app.services.catalogue.regions import RegionTree
from app.services.catalogue.search_sync import CatalogueSearch
from models.catalogue import Bundle, Department, ServiceItem, Zone

AUDIENCES = ("individual", "enterprise")
log = logging.getLogger("app.catalogue")
_MEMO_SIZE = 1024
HOME_TILES_PER_ZONE = 6
_HOME_TILE_FIELDS = ("kind", "title", "code", "bundle_id")


@dataclass(frozen=True)
class Rendered:
    """A JSON answer ready to send, with its entity tag."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, data: Any) -> Rendered:
        body = answers.dumps(data)
        return cls(body=body, etag=f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"')


class RenderedCache:
    def __init__(self, cache: Cache, *, ttl: int) -> None:
        self._cache = cache
        self._ttl = ttl
        self._memo: OrderedDict[str, Rendered] = OrderedDict()

    def remembered(self, key: str) -> Rendered | None:
        memo = self._memo.get(key)
        if memo is not None:
            self._memo.move_to_end(key)
        return memo

    async def get_or_render(self, key: str, render: Callable[[], Awaitable[Any]]) -> Rendered:
        memo = self.remembered(key)
        if memo is not None:
            return memo
        raw = await self._shared_get(key)
        if raw is not None:
            rendered = Rendered(body=raw, etag=f'"{hashlib.blake2b(raw, digest_size=16).hexdigest()}"')
        else:
            rendered = Rendered.of(await render())
            await self._shared_set(key, rendered.body)
        self._memo[key] = rendered
        if len(self._memo) > _MEMO_SIZE:
            self._memo.popitem(last=False)
        return rendered

    # Redis being down makes reads slower, not broken: render from the database instead.
    async def _shared_get(self, key: str) -> bytes | None:
        try:
            return await self._cache.get(key)
        except Exception:
            log.warning("catalogue cache read failed", exc_info=True)
            return None

    async def _shared_set(self, key: str, body: bytes) -> None:
        try:
            await self._cache.set(key, body, ttl=self._ttl)
        except Exception:
            log.warning("catalogue cache write failed", exc_info=True)


class CatalogueReader:
    def __init__(self, *, cache: Cache, clock: Clock, search: CatalogueSearch, regions: RegionTree, ttl: int) -> None:
        self._clock = clock
        self._search = search
        self._regions = regions
        self._rendered = RenderedCache(cache, ttl=ttl)
        self._search_answers: OrderedDict[tuple[Any, ...], Rendered] = OrderedDict()
        self._answers_for: Any = None

    def _key(self, *parts: object) -> str:
        return "catalogue:v" + self._search.known_version + ":" + ":".join(str(p) for p in parts)

    # ------------------------------------------------------------------ regions
    async def region_tree(self) -> Rendered:
        return await self._rendered.get_or_render(self._key("regions"), self._render_regions)

    async def _render_regions(self) -> dict[str, Any]:
        tree = await self._regions.current()
        return {"regions": tree.as_tree()}

    # ------------------------------------------------------------------ zones
    async def zones(self, *, region: str | None, audience: str | None) -> Rendered:
        """Published zones shown in the region (or above it) for the audience, with their entries."""
        # The publish window is checked per minute, so one cache entry serves a minute.
        minute = int(self._clock.now().timestamp()) // 60
        key = f"catalogue:v{self._search.known_version}:zones:{region or '-'}:{audience or '-'}:{minute}"
        # The home page is the hottest read: answer from this worker's memo before anything else
        # (only checked requests ever reach the memo).
        remembered = self._rendered.remembered(key)
        if remembered is not None:
            return remembered
        tree = await self._regions.current()
        if not region and not tree.root_code:
            # No region tree yet (a fresh install before seed-demo or an import): nothing to show,
            # which is not the caller's mistake.
            _check_audience(audience)
            return Rendered.of({"region": None, "audience": audience, "zones": []})
        chosen = region or tree.root_code
        tree.require(chosen)
        _check_audience(audience)
        return await self._rendered.get_or_render(key, lambda: self._render_zones(chosen, audience))

    async def _render_zones(self, region: str, audience: str | None) -> dict[str, Any]:
        tree = await self._regions.current()
        now = self._clock.now()
        zones = [
            zone
            for zone in await Zone.filter(status="published", region_code__in=tree.chain(region))
            .order_by("position", "id")
            .prefetch_related("entries")
            if (zone.publish_from is None or zone.publish_from <= now)
            and (zone.publish_until is None or now < zone.publish_until)
            and (audience is None or audience in zone.audiences)
        ]
        entries = {zone.id: sorted(zone.entries, key=lambda e: e.position) for zone in zones}
        resolved = await self._resolve_entries([e for es in entries.values() for e in es], region)
        views = []
        for zone in zones:
            view = self._zone_view(zone, entries[zone.id], resolved)
            # The home page shows a few tiles per zone, just enough to draw and open them; the
            # zone's own page has them all, with their details.
            view["entry_count"] = len(view["entries"])
            view["entries"] = [
                {key: tile[key] for key in _HOME_TILE_FIELDS if key in tile}
                for tile in view["entries"][:HOME_TILES_PER_ZONE]
            ]
            del view["audiences"]
            views.append(view)
        return {"region": tree.view(region), "audience": audience, "zones": views}

    async def zone(self, *, zone_ref: str, region: str | None) -> Rendered:
        tree = await self._regions.current()
        region = region or tree.root_code
        tree.require(region)
        minute = int(self._clock.now().timestamp()) // 60  # the publish window, as for listings
        key = self._key("zone", zone_ref, region, minute)
        return await self._rendered.get_or_render(key, lambda: self._render_zone(zone_ref, region))

    async def _render_zone(self, zone_ref: str, region: str) -> dict[str, Any]:
        tree = await self._regions.current()
        zone = await _find_by_ref(Zone, zone_ref, status="published")
        now = self._clock.now()
        outside_window = (zone is not None) and (
            (zone.publish_from is not None and now < zone.publish_from)
            or (zone.publish_until is not None and zone.publish_until <= now)
        )
        if zone is None or outside_window:
            raise ZoneNotFound(context={"zone": zone_ref})
        entries = sorted(await zone.entries.all(), key=lambda e: e.position)
        resolved = await self._resolve_entries(entries, region)
        view = self._zone_view(zone, entries, resolved)
        view["region"] = tree.view(region)
        view["available_in_region"] = zone.region_code in tree.chain(region)
        return view

    def _zone_view(self, zone: Zone, entries: list[Any], resolved: dict[tuple[str, str], Any]) -> dict[str, Any]:
        tiles = []
        for entry in entries:
            target = resolved.get((entry.kind, entry.basic_code or entry.bundle_slug or ""))
            if target is None:
                continue
            tile = dict(target)
            if entry.title:
                tile["title"] = entry.title
            tiles.append(tile)
        return {
            "id": zone.id,
            "slug": zone.slug,
            "title": zone.title,
            "icon": zone.icon,
            "description": zone.description,
            "audiences": zone.audiences,
            "entries": tiles,
        }

    async def _resolve_entries(self, entries: list[Any], region: str) -> dict[tuple[str, str], Any]:
        basic_codes = {e.basic_code for e in entries if e.kind == "service" and e.basic_code}
        slugs = {e.bundle_slug for e in entries if e.kind == "bundle" and e.bundle_slug}
        resolved: dict[tuple[str, str], Any] = {}
        for basic_code, item in (await self._implementations(basic_codes, region)).items():
            resolved[("service", basic_code)] = {
                "kind": "service",
                "title": item["name"],
                "code": item["code"],
                "basic_code": basic_code,
                "region_code": item["region_code"],
            }
        if slugs:
            for bundle in await Bundle.filter(slug__in=slugs, status="published"):
                resolved[("bundle", bundle.slug)] = {
                    "kind": "bundle",
                    "title": bundle.title,
                    "bundle_id": bundle.id,
                    "slug": bundle.slug,
                }
        return resolved

    async def _implementations(self, basic_codes: set[str], region: str) -> dict[str, dict[str, Any]]:
        """For each standard item, the published implementation that serves the region: the
        closest one at or above it, else the most viewed one below it."""
        if not basic_codes:
            return {}
        tree = await self._regions.current()
        chain = tree.chain(region)
        rows = await ServiceItem.filter(status="published", basic_code__in=basic_codes).values(
            "code", "basic_code", "name", "region_code", "views"
        )
        best: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}
        for row in rows:
            code = row["region_code"]
            if code in chain:
                rank = (0, chain.index(code))
            elif tree.is_within(code, region):
                rank = (1, -int(row["views"] or 0))
            else:
                continue
            current = best.get(row["basic_code"])
            if current is None or rank < current[0]:
                best[row["basic_code"]] = (rank, row)
        return {basic_code: row for basic_code, (_, row) in best.items()}

    # ------------------------------------------------------------------ items
    async def item(self, *, code: str) -> Rendered:
        rendered = await self._rendered.get_or_render(self._key("item", code), lambda: self._render_item(code))
        await self._search.count_view(code)
        return rendered

    async def _render_item(self, code: str) -> dict[str, Any]:
        item = await ServiceItem.get_or_none(code=code, status="published")
        if item is None:
            raise ServiceItemNotFound(context={"code": code})
        tree = await self._regions.current()
        department = await Department.get_or_none(code=item.department_code)
        return {
            "code": item.code,
            "basic_code": item.basic_code,
            "name": item.name,
            "item_type": item.item_type,
            "department": {"code": item.department_code, "name": department.name if department else ""},
            "region": tree.view(item.region_code) if tree.knows(item.region_code) else {"code": item.region_code},
            "audiences": item.audiences,
            "aliases": item.aliases,
            "guide": item.guide,
            "revision": item.published_revision,
            "published_at": item.published_at,
        }

    # ------------------------------------------------------------------ bundles
    async def bundle(self, *, bundle_ref: str, region: str | None) -> Rendered:
        tree = await self._regions.current()
        region = region or tree.root_code
        tree.require(region)
        key = self._key("bundle", bundle_ref, region)
        return await self._rendered.get_or_render(key, lambda: self._render_bundle(bundle_ref, region))

    async def _render_bundle(self, bundle_ref: str, region: str) -> dict[str, Any]:
        tree = await self._regions.current()
        bundle = await _find_by_ref(Bundle, bundle_ref, status="published")
        if bundle is None:
            raise BundleNotFound(context={"bundle": bundle_ref})
        chosen = await self._implementations(set(bundle.basic_codes), region)
        codes = [chosen[b]["code"] for b in bundle.basic_codes if b in chosen]
        items = {i.code: i for i in await ServiceItem.filter(code__in=codes)}
        departments = dict(
            await Department.filter(code__in={i.department_code for i in items.values()}).values_list("code", "name")
        )
        ordered = [items[chosen[b]["code"]] for b in bundle.basic_codes if b in chosen]
        return {
            "id": bundle.id,
            "slug": bundle.slug,
            "title": bundle.title,
            "description": bundle.description,
            "audiences": bundle.audiences,
            "region": tree.view(region),
            "items": [
                {
                    "code": item.code,
                    "basic_code": item.basic_code,
                    "name": item.name,
                    "department": {"code": item.department_code, "name": departments.get(item.department_code, "")},
                    "region_code": item.region_code,
                }
                for item in ordered
            ],
            "unavailable_in_region": [b for b in bundle.basic_codes if b not in chosen],
            "materials": merged_materials(ordered),
            "flow": merged_flow(ordered, departments),
        }

    # ------------------------------------------------------------------ search
    async def search(
        self, *, query: str, region: str | None, audience: str | None, page: int, page_size: int
    ) -> Rendered:
        check_query(query)
        _check_audience(audience)
        if region is not None:
            (await self._regions.current()).require(region)
        index = await self._search.index()
        if self._answers_for is not index:
            self._search_answers.clear()
            self._answers_for = index
        key = (index.generation, query, region, audience, page, page_size)
        answer = self._search_answers.get(key)
        if answer is not None:
            self._search_answers.move_to_end(key)
            return answer
        try:
            result = index.search(query, region=region, audience=audience, page=page, page_size=page_size)
        except IndexUnknownRegion:
            raise UnknownRegion(context={"region": region}) from None
        except IndexUnknownAudience:
            raise UnknownAudience(context={"audience": audience}) from None
        answer = Rendered.of(
            {
                "query": query,
                "region": region,
                "audience": audience,
                "page": result.page,
                "page_size": result.page_size,
                "total": result.total,
                "has_more": result.has_more,
                "items": [{**hit.payload, "score": hit.score} for hit in result.hits],
            }
        )
        # Rendered answers of this worker's current index; a new index or new view counts
        # change the key, so nothing stale is served.
        self._search_answers[key] = answer
        if len(self._search_answers) > _MEMO_SIZE:
            self._search_answers.popitem(last=False)
        return answer


def check_query(query: str) -> None:
    """Reject what no resident types: nothing at all, essays, control characters."""
    if len(query) > MAX_QUERY_CHARS:
        raise SearchQueryTooLong(context={"max_chars": MAX_QUERY_CHARS})
    if not shows_what_it_says(query):
        raise SearchQueryInvalid()
    if not query.strip():
        raise SearchQueryEmpty()


def _check_audience(audience: str | None) -> None:
    if audience is not None and audience not in AUDIENCES:
        raise UnknownAudience(context={"allowed": list(AUDIENCES)})


async def _find_by_ref(model: Any, ref: str, **filters: Any) -> Any:
    """Zones and bundles are addressed by numeric id or by slug."""
    if ref.isascii() and ref.isdigit() and len(ref) <= len(str(MAX_ID)) and int(ref) <= MAX_ID:
        found = await model.get_or_none(id=int(ref), **filters)
        if found is not None:
            return found
    return await model.get_or_none(slug=ref, **filters)
