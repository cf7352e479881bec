"""A request cancelled while its SQLite transaction begins must not leave the database locked.

Sanic cancels the handler of a client that hangs up; Tortoise 1.1.9 then kept the SQLite
connection's lock for ever (the work-around is in app/db.py, installed with the ORM config)."""

import asyncio
import contextlib

import pytest
from tortoise.backends.sqlite.client import SqliteClient

from tests.conftest import ON_POSTGRES

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="the SQLite connection lock only")


async def test_cancelling_transactions_as_they_begin_leaves_the_database_usable(live, tmp_path):
    # A connection of our own: nothing else competes for its lock, so each cancellation lands
    # exactly `steps` turns of the loop into entering the transaction.
    client = SqliteClient(file_path=str(tmp_path / "cancel.sqlite3"), connection_name="cancel_probe")
    await client.create_connection(with_db=True)
    try:
        for steps in range(12):

            async def transaction() -> None:
                async with client._in_transaction() as tx:
                    await tx.execute_query("SELECT 1")

            task = asyncio.create_task(transaction())
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with asyncio.timeout(5):
            async with client._in_transaction() as tx:
                await tx.execute_query("CREATE TABLE probe (id INTEGER PRIMARY KEY)")
            _, rows = await client.execute_query("SELECT count(*) AS n FROM probe")
        assert rows[0]["n"] == 0
    finally:
        await client.close()
