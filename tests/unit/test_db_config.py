"""How the service connects to its database."""

import os

import asyncpg
import pytest

from app.config import DatabaseSettings
from app.db import PooledConnection, is_database_outage, tortoise_config
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
