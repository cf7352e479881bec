"""Each worker's in-process search index of published items, kept in step across processes.

The catalogue version is one row in the database (catalogue_version), the one store every
process reaches, on SQLite as on PostgreSQL: whatever commits a change residents can see (an
operator's publish, retire, reorder or import in any worker, `seed-demo`, ...) then bumps it with
one atomic statement. Each worker polls it (`catalogue.index_poll_seconds`); when it moves, the
worker reloads the published items and rebuilds its index off the event loop, serving the
current one meanwhile, then switches: the new index, and its read caches, whose keys carry the
version. The worker that made a change waits for its own rebuild, so an operator sees their own
publish; the others switch after their next poll and rebuild.
A worker's version only moves forward; should the database's go back (a restore), the worker
pushes it past every version it has used, so a cache key never stands for two catalogues.

Views are counted in the Cache port (one counter per item, shared by all workers). Each worker
folds the counts it has seen into its index's popularity and into the items' `views` column from
time to time; both only ever grow (popularity is the larger of the stored and the counted views).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from typing import Any

from tortoise import connections

from app.db import raw_sql
from app.ports import Cache
from app.search import Analyzer, Region, SearchDocument, SearchIndex
from models.catalogue import Department, ServiceItem
from models.catalogue import Region as RegionRow

log = logging.getLogger("app.catalogue.search")

VIEWS_KEY = "catalogue:views:{code}"
_VIEWS_TTL = 180 * 86_400
_FLUSH_BATCH = 500


class CatalogueSearch:
    def __init__(self, *, cache: Cache, poll_seconds: float = 1.0, flush_seconds: float = 15.0) -> None:
        self._cache = cache
        self._poll_seconds = poll_seconds
        self._flush_seconds = flush_seconds
        self._analyzer = Analyzer.default()
        self._index: SearchIndex | None = None
        self._index_version: str | None = None
        self._wanted_version = "0"
        self._newest = 0  # the highest database version this worker has seen
        self._bumps = 0  # how many times changed() has moved _newest (a poll's read may race one)
        self._lock = asyncio.Lock()
        self._pending_views: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_flush = time.monotonic()
        self._failing = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        try:
            self._newest = await read_version()
            self._wanted_version = str(self._newest)
        except Exception:  # the next poll catches up; serve what the database holds meanwhile
            log.warning("catalogue version unavailable at start", exc_info=True)
        await self._rebuild()
        self._task = asyncio.create_task(self._follow(), name="catalogue-search-follow")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self._flush_views()
        except Exception:  # shutting down: a few unsaved view counts are not worth a traceback
            log.warning("could not save view counts at shutdown", exc_info=True)

    # ------------------------------------------------------------------ versions
    @property
    def known_version(self) -> str:
        """The newest catalogue version this worker knows of (cache keys include it)."""
        return self._wanted_version

    async def changed(self) -> str:
        """Call after committing a change residents can see; returns the new version."""
        try:
            # A poll may have seen a later bump already; that one includes this change too.
            bumped = await bump_version()
            self._newest = max(self._newest, bumped)
            self._bumps += 1
            version = str(self._newest)
        except Exception:  # committed already: at least this worker must move on
            log.warning("could not bump the catalogue version; other workers stay stale", exc_info=True)
            version = f"{self._newest}+local{time.monotonic_ns()}"
        self._wanted_version = version
        return version

    # ------------------------------------------------------------------ reading
    async def index(self) -> SearchIndex:
        if self._index is None or self._index_version != self._wanted_version:
            await self._rebuild()
        assert self._index is not None
        return self._index

    async def count_view(self, code: str) -> None:
        try:
            count = await self._cache.incr(VIEWS_KEY.format(code=code), ttl=_VIEWS_TTL)
        except Exception:  # a lost view count must not cost the resident the guide
            log.warning("could not count a view", exc_info=True)
            return
        self._pending_views[code] = max(count, self._pending_views.get(code, 0))

    # ------------------------------------------------------------------ internals
    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                bumps = self._bumps
                version = await read_version()
                if bumps != self._bumps:  # read before this worker's own bump landed: stale
                    continue
                if version < self._newest:
                    # The database went back (restored, or the row emptied). Push it past every
                    # version this worker has used, so no cache key ever means two catalogues.
                    log.warning("catalogue version went back", extra={"seen": self._newest, "found": version})
                    version = await raise_version(self._newest + 1)
                if version > self._newest:
                    # Requests keep the current index (and cache keys) while the next one is
                    # built, then this worker switches at once; a failed build is tried again
                    # at the next poll.
                    current = self._wanted_version
                    await self._rebuild(str(version))
                    self._newest = max(self._newest, version)
                    if self._wanted_version == current:  # changed() here may have moved on meanwhile
                        self._wanted_version = str(version)
                if time.monotonic() - self._last_flush >= self._flush_seconds:
                    await self._flush_views()
                self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception:  # keep following: one failed poll must not stop the loop
                if not self._failing:  # once per outage, not once a second
                    log.warning("catalogue index refresh failed", exc_info=True)
                self._failing = True

    async def _rebuild(self, version: str | None = None) -> None:
        """Build the index of `version` (default: the wanted one) unless it is built already."""
        async with self._lock:
            version = version if version is not None else self._wanted_version
            if self._index is not None and self._index_version == version:
                return
            started = time.perf_counter()
            documents, regions = await _load_published()
            index = await asyncio.to_thread(SearchIndex.build, documents, regions=regions, analyzer=self._analyzer)
            self._index, self._index_version = index, version
            # A 100,000-item index is about half a million long-lived objects, and a full
            # collection over them stalls the loop for ~400 ms. Freezing moves them out of the
            # collector's sight; they are still freed by reference counting when replaced.
            gc.freeze()
            log.info(
                "catalogue index rebuilt",
                extra={"items": len(index), "version": version, "seconds": round(time.perf_counter() - started, 3)},
            )

    async def _flush_views(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending_views:
            return
        pending, self._pending_views = self._pending_views, {}
        if self._index is not None:
            self._index.set_popularity(pending)
        for code, count in list(pending.items())[:_FLUSH_BATCH]:
            await ServiceItem.filter(code=code, views__lt=count).update(views=count)


async def read_version() -> int:
    """The catalogue version in the database: 0 until the first change."""
    rows = await connections.get("default").execute_query_dict(_READ_VERSION)
    return int(rows[0]["version"]) if rows else 0


async def bump_version() -> int:
    """Move the catalogue version on for every process; returns the new one. One statement, so
    concurrent bumps from any number of connections each get their own version."""
    rows = await connections.get("default").execute_query_dict(_BUMP_VERSION)
    return int(rows[0]["version"])


async def raise_version(at_least: int) -> int:
    """Move the catalogue version up to `at_least` unless it is there already; returns it."""
    connection = connections.get("default")
    rows = await connection.execute_query_dict(raw_sql(connection, _RAISE_VERSION), [at_least])
    return int(rows[0]["version"])


_READ_VERSION = "SELECT version FROM catalogue_version WHERE id = 1"
# An upsert rather than a bare UPDATE so that a database without the row (a fresh or emptied
# one) gets it back here; on PostgreSQL the row lock orders concurrent bumps, on SQLite the
# single writer does.
_BUMP_VERSION = (
    "INSERT INTO catalogue_version (id, version) VALUES (1, 1)"
    " ON CONFLICT (id) DO UPDATE SET version = catalogue_version.version + 1 RETURNING version"
)
_RAISE_VERSION = (
    "INSERT INTO catalogue_version (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version ="
    " CASE WHEN catalogue_version.version < excluded.version THEN excluded.version"
    " ELSE catalogue_version.version END RETURNING version"
)


async def _load_published() -> tuple[list[SearchDocument], list[Region]]:
    regions = [
        Region(code, name, parent)
        for code, name, parent in await RegionRow.all().values_list("code", "name", "parent_code")
    ]
    region_names = {r.code: r.name for r in regions}
    departments = dict(await Department.all().values_list("code", "name"))
    rows: list[Any] = await ServiceItem.filter(status="published").values_list(
        "code", "basic_code", "name", "item_type", "department_code", "region_code", "audiences", "aliases", "views"
    )
    known_regions = set(region_names)
    documents = []
    for code, basic_code, name, item_type, department_code, region_code, audiences, aliases, views in rows:
        department = departments.get(department_code, "")
        documents.append(
            SearchDocument(
                code=code,
                name=name,
                basic_code=basic_code,
                aliases=tuple(aliases or ()),
                department=department,
                item_type=item_type,
                region_code=region_code if region_code in known_regions else None,
                audiences=tuple(audiences or ("individual",)),
                popularity=int(views or 0),
                payload={
                    "code": code,
                    "basic_code": basic_code,
                    "name": name,
                    "item_type": item_type,
                    "department": {"code": department_code, "name": department},
                    "region": {"code": region_code, "name": region_names.get(region_code, "")},
                },
            )
        )
    return documents, regions
