"""The catalogue version lives in the database, so every process follows every other's changes.

Each CatalogueSearch here gets its own in-process cache, as a separate process (another worker,
`seed-demo`) has: whatever it learns of a change, it learns through the database.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

import pytest

from app.adapters.cache import MemoryCache
from app.search import SearchIndex
from app.services.catalogue import search_sync
from app.services.catalogue.regions import RegionTree
from app.services.catalogue.search_sync import CatalogueSearch, bump_version, read_version
from models.catalogue import Region, ServiceItem
from tests.conftest import LiveServer


def _worker(poll_seconds: float = 0.05) -> CatalogueSearch:
    return CatalogueSearch(cache=MemoryCache(), poll_seconds=poll_seconds)


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(250):  # five seconds, at a poll every 0.05 s
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the worker did not follow")


async def _published_item(name: str) -> str:
    code = "T" + secrets.token_hex(8).upper()
    await ServiceItem.create(
        code=code,
        basic_code="9" + secrets.token_hex(4),
        name=name,
        item_type="公共服务",
        department_code="11440000TEST00000X",
        region_code="440000",
        audiences=["individual"],
        status="published",
        published_revision=1,
    )
    return code


def _finds(index: SearchIndex, query: str, code: str) -> bool:
    return code in {hit.code for hit in index.search(query, page_size=50).hits}


async def test_a_change_made_by_another_process_reaches_this_workers_index(live: LiveServer) -> None:
    this = _worker()
    await this.start()
    try:
        code = await _published_item("测试版本跨进程事项")
        assert not _finds(await this.index(), "测试版本跨进程事项", code)  # stored, not yet announced
        version = await _worker().changed()  # another process, with its own cache, announces it
        await _until(lambda: int(this.known_version) >= int(version))
        assert _finds(await this.index(), "测试版本跨进程事项", code)
    finally:
        await this.stop()


async def test_the_region_tree_reloads_when_another_process_moves_the_version(live: LiveServer) -> None:
    this = _worker()
    await this.start()
    tree = RegionTree(lambda: this.known_version)
    code = "99" + str(secrets.randbelow(10_000)).zfill(4)
    try:
        assert not (await tree.current()).knows(code)
        await Region.create(code=code, name="测试区", level="province", parent_code=None)
        version = await _worker().changed()
        await _until(lambda: int(this.known_version) >= int(version))
        assert (await tree.current()).knows(code)
    finally:
        await this.stop()
        await Region.filter(code=code).delete()
        await bump_version()  # the live server drops the test region again


async def test_concurrent_bumps_each_get_their_own_version(live: LiveServer) -> None:
    """On PostgreSQL the bumps run on several pooled connections at once."""
    versions = await asyncio.gather(*(bump_version() for _ in range(20)))
    assert sorted(versions) == list(range(min(versions), min(versions) + 20))
    assert await read_version() >= max(versions)


async def test_a_worker_only_moves_forward_and_keeps_its_own_change(live: LiveServer) -> None:
    this = _worker()
    await this.start()
    try:
        mine = await this.changed()
        await asyncio.sleep(0.2)  # a few polls: they read the same version and leave it alone
        assert this.known_version == mine
    finally:
        await this.stop()


async def test_a_version_that_went_back_is_pushed_past_what_the_worker_used(live: LiveServer) -> None:
    """As after restoring the database from a backup: this worker has used versions the
    database no longer knows of, and must neither stop following nor reuse them."""
    this = _worker()
    await this.start()
    try:
        ahead = await read_version() + 1000
        this._newest, this._wanted_version = ahead, str(ahead)  # what it had seen before the restore
        await _until(lambda: int(this.known_version) > ahead)
        assert await read_version() == int(this.known_version)
        later = await _worker().changed()  # and it follows the next change as usual
        await _until(lambda: int(this.known_version) >= int(later))
    finally:
        await this.stop()


async def test_a_failed_bump_still_moves_this_worker_on(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    this = _worker()
    await this.start()

    async def database_gone() -> int:
        raise ConnectionResetError("the database went away")

    try:
        before = this.known_version
        monkeypatch.setattr(search_sync, "bump_version", database_gone)
        with caplog.at_level(logging.WARNING, logger="app.catalogue.search"):
            version = await this.changed()
        assert version != before and version.startswith(before + "+local")
        assert "could not bump the catalogue version" in caplog.text
        await asyncio.sleep(0.2)  # the polls still read the old version: they must not go back to it
        assert this.known_version == version
        monkeypatch.undo()
        later = await _worker().changed()  # the next real change moves it on as usual
        await _until(lambda: this.known_version.isdigit() and int(this.known_version) >= int(later))
    finally:
        await this.stop()


async def test_requests_keep_the_current_index_while_the_next_one_is_built(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    this = _worker()
    await this.start()
    building = asyncio.Event()
    release = asyncio.Event()
    load = search_sync._load_published

    async def slow_load():  # type: ignore[no-untyped-def]
        building.set()
        await release.wait()
        return await load()

    try:
        before, current = this.known_version, await this.index()
        monkeypatch.setattr(search_sync, "_load_published", slow_load)
        version = await _worker().changed()
        await asyncio.wait_for(building.wait(), 5)  # the poll has started the next build
        # Meanwhile searches and cache keys stay on the current catalogue, without waiting.
        assert await asyncio.wait_for(this.index(), 0.5) is current
        assert this.known_version == before
        release.set()
        await _until(lambda: this.known_version == version)
        assert await this.index() is not current
    finally:
        release.set()
        await this.stop()


async def test_a_failed_build_is_tried_again_at_the_next_poll(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    this = _worker()
    await this.start()
    load = search_sync._load_published
    failures = []

    async def flaky_load():  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(1)
            raise ConnectionResetError("the database went away for a moment")
        return await load()

    try:
        monkeypatch.setattr(search_sync, "_load_published", flaky_load)
        version = await _worker().changed()
        await _until(lambda: this.known_version == version)
        assert failures == [1]
    finally:
        await this.stop()
