"""How the service connects to its database."""

import contextlib
import os
import sqlite3

import asyncpg
import pytest

from app.config import DatabaseSettings
from app.db import (
    HEALTH_READ,
    DamagedSqliteFile,
    PooledConnection,
    SqliteFileCheck,
    check_sqlite_file,
    is_database_outage,
    tortoise_config,
)
from tests.conftest import ON_POSTGRES


def settings(url: str) -> DatabaseSettings:
    return DatabaseSettings(url=url, pool_max_size=7)


def test_postgres_connections_skip_the_reset_round_trip_on_release():
    connection = tortoise_config(settings("postgres://app@db.internal:5432/gov"))["connections"]["default"]
    assert connection["engine"] == "tortoise.backends.asyncpg"
    credentials = connection["credentials"]
    assert credentials["connection_class"] is PooledConnection
    assert (credentials["host"], credentials["database"], int(credentials["maxsize"])) == ("db.internal", "gov", 7)
    assert PooledConnection.get_reset_query(None) == ""  # type: ignore[arg-type]


def test_sqlite_keeps_its_url_with_normal_sync():
    connection = tortoise_config(settings("sqlite://var/app.sqlite3"))["connections"]["default"]
    assert connection == "sqlite://var/app.sqlite3?synchronous=NORMAL"


@pytest.mark.skipif(not ON_POSTGRES, reason="needs the PostgreSQL of the CI's second pass")
async def test_a_pooled_connection_lost_under_a_query_counts_as_an_outage():
    # What asyncpg raises when a connection broke between the pool handing it out and the query
    # (a cut network detaches the proxy): a store outage (503 store_unavailable), not a 500.
    pool = await asyncpg.create_pool(os.environ["APP_DATABASE_URL"], min_size=1, max_size=1)
    try:
        connection = await pool.acquire()
        await pool.release(connection)
        with pytest.raises(asyncpg.InterfaceError) as released:
            await connection.fetchval("SELECT 1")
    finally:
        await pool.close()
    assert is_database_outage(released.value)
    assert not is_database_outage(asyncpg.InterfaceError("cannot perform operation: another operation is in progress"))


# Not a b-tree page type, so SQLite cannot take it for one.
GARBAGE_PAGE = b"\xde\xad\xbe\xef" * 1024


def sqlite_database(path, *, filler_rows: int) -> None:
    """A small database in the service's shape: the migrations table, then a table of data."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE tortoise_migrations (id INTEGER PRIMARY KEY, name TEXT)")
        db.executemany("INSERT INTO tortoise_migrations (name) VALUES (?)", [(f"0001_{n}",) for n in range(5)])
        db.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)")
        db.executemany("INSERT INTO filler (body) VALUES (?)", [("x" * 500,)] * filler_rows)
        db.commit()


def overwrite_page(path, page: int) -> None:
    with open(path, "r+b") as file:
        file.seek((page - 1) * len(GARBAGE_PAGE))
        file.write(GARBAGE_PAGE)


async def test_the_sqlite_file_check_sees_damage_the_services_cached_connection_hides(tmp_path):
    path = tmp_path / "app.sqlite3"
    sqlite_database(path, filler_rows=10)
    service = sqlite3.connect(path)  # the service's long-lived connection, its page cache warm
    try:
        service.execute(HEALTH_READ).fetchall()
        check = SqliteFileCheck(path)
        await check()
        root = service.execute("SELECT rootpage FROM sqlite_master WHERE name = 'tortoise_migrations'").fetchone()[0]
        overwrite_page(path, root)
        assert service.execute(HEALTH_READ).fetchall()  # still answers, from its cache
        with pytest.raises(sqlite3.DatabaseError):
            await check()
    finally:
        service.close()


async def test_the_first_sqlite_file_check_reads_every_page_and_remembers_damage(tmp_path):
    path = tmp_path / "app.sqlite3"
    sqlite_database(path, filler_rows=2_000)  # about 250 pages
    with contextlib.closing(sqlite3.connect(path)) as db:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    overwrite_page(path, pages // 2)  # a page of data, which no cheap read touches
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute(HEALTH_READ).fetchall()
    check = SqliteFileCheck(path)
    for _ in range(2):  # the damage found at first stays found
        with pytest.raises(sqlite3.DatabaseError, match="quick_check"):
            await check()


def test_the_start_check_refuses_a_damaged_file_and_names_it(tmp_path):
    path = tmp_path / "app.sqlite3"
    sqlite_database(path, filler_rows=2_000)
    check_sqlite_file(path)  # healthy: nothing to say
    with contextlib.closing(sqlite3.connect(path)) as db:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    overwrite_page(path, pages // 2)
    with pytest.raises(DamagedSqliteFile, match="quick_check") as damaged:
        check_sqlite_file(path)
    assert str(path) in str(damaged.value) and "restore it from a backup" in str(damaged.value)
    path.write_bytes(os.urandom(20_000))
    with pytest.raises(DamagedSqliteFile, match="not a database"):
        check_sqlite_file(path)


def test_a_file_that_cannot_be_opened_is_not_called_damaged(tmp_path):
    # A wrong path or a missing permission: restoring a backup would not help.
    with pytest.raises(sqlite3.OperationalError) as refused:
        check_sqlite_file(tmp_path)
    assert not isinstance(refused.value, DamagedSqliteFile)
