"""A pooled PostgreSQL transaction that breaks as it begins must leave the task as it found it.

Tortoise 1.1.9 makes the transaction the task's connection and then sends BEGIN; when BEGIN failed
(PostgreSQL cut at that moment) or the task was cancelled there, the task kept the broken
transaction as its connection and the pool never got the connection back. In Sanic every later
request on that keep-alive connection then failed with asyncpg's "connection has been released
back to the pool", long after PostgreSQL was back. The work-around is in app/db.py, installed
with the ORM config.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.connection import get_connections
from tortoise.transactions import in_transaction

from app.config import DatabaseSettings
from app.db import outage_in, tortoise_config
from tests.conftest import ON_POSTGRES
from tests.e2e.test_store_outages import TcpProxy, target_of, through

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="needs the PostgreSQL of the CI's second pass")

ALIAS = "begin_probe"


class CutOnAcquire:
    """The client's pool, cutting the network once just after handing out a connection: the
    transaction's BEGIN then meets a dead connection."""

    def __init__(self, pool: Any, proxy: TcpProxy) -> None:
        self._pool, self._proxy, self.armed = pool, proxy, False

    async def acquire(self, *args: Any, **kwargs: Any) -> Any:
        connection = await self._pool.acquire(*args, **kwargs)
        if self.armed:
            self.armed = False
            self._proxy.cut()
        return connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


@contextlib.asynccontextmanager
async def probe_client(url: str) -> AsyncIterator[AsyncpgDBClient]:
    """A client of its own (one pooled connection), as the task's connection under ALIAS."""
    config = tortoise_config(DatabaseSettings(url=url, pool_max_size=1))["connections"]["default"]
    client = AsyncpgDBClient(connection_name=ALIAS, **config["credentials"])
    await client.create_connection(with_db=True)
    token = get_connections().set(ALIAS, client)
    try:
        yield client
    finally:
        get_connections().reset(token)
        await client.close()


async def test_a_transaction_cut_as_it_begins_leaves_the_task_its_connection(live):
    database_url = os.environ["APP_DATABASE_URL"]
    with TcpProxy(*target_of(database_url, 5432)) as proxy:
        async with probe_client(through(database_url, proxy)) as client:
            pool = client._pool = CutOnAcquire(client._pool, proxy)
            pool.armed = True
            with pytest.raises(Exception) as broken:
                async with in_transaction(ALIAS) as tx:
                    await tx.execute_query("SELECT 1")
            assert outage_in(broken.value) is not None, broken.value  # a 503, not a 500
            proxy.restore()
            # The task's connection is the client again, and works at once.
            assert get_connections().get(ALIAS) is client
            async with asyncio.timeout(5):
                async with in_transaction(ALIAS) as tx:
                    _, rows = await tx.execute_query("SELECT 1 AS one")
                assert rows[0]["one"] == 1
                assert (await client.execute_query("SELECT 2 AS two"))[1][0]["two"] == 2


async def test_cancelling_transactions_as_they_begin_gives_the_connection_back(live):
    # Sanic cancels the handler of a client that hung up. One pooled connection: a cancellation
    # that kept it would leave the next transaction waiting for ever.
    async with probe_client(os.environ["APP_DATABASE_URL"]) as client:
        for steps in range(12):

            async def transaction() -> None:
                async with in_transaction(ALIAS) as tx:
                    await tx.execute_query("SELECT pg_sleep(0.01)")

            task = asyncio.create_task(transaction())
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with asyncio.timeout(5):
            async with in_transaction(ALIAS) as tx:
                _, rows = await tx.execute_query("SELECT 1 AS one")
        assert rows[0]["one"] == 1
        assert get_connections().get(ALIAS) is client
