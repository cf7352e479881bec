"""The online trust snapshot: one read for every request in flight when it runs out, and never an
answer read before an invalidation to a caller after it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec

from app.adapters.cache import MemoryCache
from app.lc1.trust_list import IssuerKey
from app.services.licences.trust import TrustStore

NEW_KEY = IssuerKey(kid=b"\x01" * 8, issuer="11440000MB2C901609",
                    public_key=ec.derive_private_key(7, ec.SECP256R1()).public_key(), not_before=0, not_after=2**40)


class _Clock:
    def now(self) -> datetime:
        return datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


class _Catalogue:
    """trusted_keys() that counts its reads and answers when the test lets it."""

    def __init__(self) -> None:
        self.reads = 0
        self.keys: tuple = ()
        self.gates: list[asyncio.Event] = []

    async def trusted_keys(self, now: datetime) -> tuple:
        self.reads += 1
        keys = self.keys  # what the database held when the read began
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        return keys


async def _turns() -> None:
    for _ in range(3):  # the callers start, then the shared read starts
        await asyncio.sleep(0)


def _store(catalogue: _Catalogue) -> TrustStore:
    return TrustStore(clock=_Clock(), cache=MemoryCache(), catalogue=catalogue, keys=None,  # type: ignore[arg-type]
                      signer_certificate=None, document_ttl=3600, cache_seconds=60,
                      revocation_window=timedelta(minutes=5))


async def test_requests_in_flight_when_the_snapshot_runs_out_share_one_read():
    catalogue = _Catalogue()
    store = _store(catalogue)
    callers = [asyncio.create_task(store.online()) for _ in range(50)]
    await _turns()
    for gate in catalogue.gates:
        gate.set()
    lists = await asyncio.wait_for(asyncio.gather(*callers), 5)
    assert catalogue.reads == 1
    assert all(trust_list is lists[0] for trust_list in lists)
    assert await store.online() is lists[0] and catalogue.reads == 1  # the snapshot is kept


async def test_a_caller_after_invalidate_waits_for_a_read_begun_after_it():
    catalogue = _Catalogue()
    store = _store(catalogue)
    before = asyncio.create_task(store.online())
    await _turns()
    catalogue.keys = (NEW_KEY,)  # committed, then invalidate() as the admin routes do
    await store.invalidate()
    after = asyncio.create_task(store.online())
    await _turns()
    assert catalogue.reads == 2
    catalogue.gates[1].set()  # the read begun after the invalidation ends first
    assert (await after).keys == (NEW_KEY,)
    catalogue.gates[0].set()
    assert (await before).keys == ()
    assert (await store.online()).keys == (NEW_KEY,)  # the stale read was not kept
