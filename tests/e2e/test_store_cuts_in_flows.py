"""A store cut in the middle of a burst of identity and licence calls: `python -m app serve`
answers 503 `store_unavailable` (or succeeds) while it is gone, recovers within seconds of its
return on every keep-alive connection, and has written nothing by halves.

PostgreSQL or Redis is reached through a TCP proxy the test cuts (every connection dropped, new
ones refused) and restores. Runs in the CI's second pass only: the embedded default has no
server to cut.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from app.lc1 import codec
from app.services.identity.audit import verify_chain
from models.identity import AuditEvent
from models.licences import Inspection
from tests.conftest import ON_POSTGRES, LiveServer, Session, free_port, login, make_inspector, make_operator
from tests.e2e.test_licence_faults import FOOD_TYPE
from tests.e2e.test_serve import wait_healthy
from tests.e2e.test_store_outages import TcpProxy, target_of, through
from tests.factories import make_id_number
from tests.handlers.test_licences import FOOD, KEYS, SAMR, World, make_business, present

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (APP_DATABASE_URL), as the CI's second pass has"),
]

DATABASE_URL = os.environ.get("APP_DATABASE_URL", "")
REDIS_URL = os.environ.get("APP_REDIS_URL", "")
CUT_AFTER, CUT_FOR = 0.5, 1.5  # seconds into the burst, and how long the store stays away
RECOVERY_SECONDS = 5.0
CALLERS = 12  # concurrent callers sharing one keep-alive client, as a busy gateway would
CONNECTIONS = 16
KINDS = ("login", "me", "realname", "wallet", "present", "inspect")
SUCCESS = {"login": 200, "me": 200, "realname": 200, "wallet": 200, "present": 201, "inspect": 200, "healthz": 200}
# A round after the restore: every kind of call on more connections than the client keeps open.
ROUND = (*KINDS * 3, "healthz", "healthz")


@dataclass
class Service:
    base_url: str
    log: Path

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """`python -m app serve` with the given APP_* settings; its log goes to a file, so a chatty
    outage can never fill a pipe and stall the service."""
    processes: list[subprocess.Popen] = []

    def start(**settings: str) -> Service:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")} | {
            "APP_DATABASE_URL": DATABASE_URL,
            "APP_REDIS_KEY_PREFIX": f"cuts{port}:",
            "APP_SERVICE_LOG_LEVEL": "WARNING",
            # Every call comes from 127.0.0.1: the burst must not meet the per-address login limit.
            "APP_RATE_LIMITS_LOGIN_PER_IP": "100000",
        } | ({"APP_REDIS_URL": REDIS_URL} if REDIS_URL else {}) | settings
        log = tmp_path / f"serve-{port}.log"
        with log.open("w") as out:
            process = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)], env=env,
                                       stdout=out, stderr=subprocess.STDOUT)
        processes.append(process)
        base_url = f"http://127.0.0.1:{port}"
        wait_healthy(base_url, process)
        return Service(base_url, log)

    yield start
    for process in processes:
        process.kill()
        process.wait(10)


@dataclass
class Cast:
    """Who takes part: an operator, an inspector, a business with a food licence, a resident."""

    operator: Session
    inspector: Session
    owner: Session
    licence_id: int
    resident: Session
    unbound: list[tuple[Session, str]]  # logged in, with the ID number each is about to bind
    codes: list[str]  # presentations minted before the burst: one per inspection


async def set_up(api: httpx.AsyncClient, live: LiveServer) -> Cast:
    operator = await make_operator(api, live)
    for path, body in ((f"/api/v1/admin/licence-types/{FOOD}", FOOD_TYPE),
                       (f"/api/v1/admin/licence-issuers/{SAMR}",
                        {"name": "广东省市场监督管理局", "region_code": "440000", "licence_types": [FOOD]})):
        saved = await api.put(path, json=body, headers=operator.headers)
        assert saved.status_code == 200, saved.text
    # 201 the first time in a database, 200 or 409 when an earlier test added it already.
    await api.post(f"/api/v1/admin/licence-issuers/{SAMR}/keys", headers=operator.headers,
                   json={"certificate_pem": (KEYS / "gd-samr-2026.cert.pem").read_text(),
                         "signs_from": "2026-01-01T00:00:00Z"})
    inspector = await make_inspector(api, operator, licence_types=[FOOD], regions=["440000"])
    business = await make_business(api, World(operator, inspector, inspector, inspector))
    unbound = [(await login(api), make_id_number(birth=f"19{50 + n % 45}0{1 + n % 9}1{n % 10}")) for n in range(30)]
    codes = [await present(api, business.owner, business.licence_id) for _ in range(60)]
    return Cast(operator, inspector, business.owner, business.licence_id, await login(api), unbound, codes)


@dataclass
class Answer:
    kind: str
    status: int | None  # None: no HTTP answer at all (timeout, connection dropped)
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Burst:
    """Everything the callers saw, for the checks afterwards."""

    answers: list[Answer] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)  # logins answered 200
    binds: dict[int, tuple[Session, str]] = field(default_factory=dict)  # user id: (who, id number)
    minted: list[str] = field(default_factory=list)  # presentations answered 201
    inspected: list[tuple[str, int, dict | None]] = field(default_factory=list)  # (code, status, body)

    def record(self, kind: str, response: httpx.Response) -> None:
        expected = response.status_code == SUCCESS[kind] or (
            response.json()["status"] == "unavailable" if kind == "healthz" else is_store_unavailable(response))
        self.answers.append(Answer(kind, response.status_code, "" if expected else response.text[:500],
                                   response.elapsed.total_seconds()))

    def unexpected(self) -> list[Answer]:
        return [a for a in self.answers if a.status is None or a.detail]


def is_store_unavailable(response: httpx.Response) -> bool:
    if response.status_code != 503:
        return False
    body = response.json()
    return (body["error"]["code"] == "store_unavailable" and response.headers.get("Retry-After") == "1"
            and body["request_id"] == response.headers.get("X-Request-ID"))


class Calls:
    """One call of each kind, recording what it saw in `burst`."""

    def __init__(self, api: httpx.AsyncClient, cast: Cast, burst: Burst) -> None:
        self.api, self.cast, self.burst = api, cast, burst

    async def login(self) -> None:
        code = await self.api.post("/sandbox/wechat/login-code", json={})
        if code.status_code != 200:  # the sandbox WeChat keeps its codes in the store too
            return self.burst.record("login", code)
        response = await self.api.post("/api/v1/auth/login", json={"code": code.json()["code"]})
        self.burst.record("login", response)
        if response.status_code == 200:
            body = response.json()
            self.burst.sessions.append(Session(body["user"]["id"], None, body["access_token"], body["refresh_token"]))

    async def me(self) -> None:
        self.burst.record("me", await self.api.get("/api/v1/me", headers=self.cast.resident.headers))

    async def realname(self) -> None:
        if not self.cast.unbound:
            return await self.me()
        who, id_number = self.cast.unbound.pop()
        self.burst.binds[who.user_id] = (who, id_number)
        response = await self.api.post("/api/v1/me/realname", json={"name": "赵六", "id_number": id_number},
                                       headers=who.headers)
        self.burst.record("realname", response)
        if response.status_code != 200:  # the mini-program's retry, a moment later
            self.cast.unbound.insert(0, (who, id_number))

    async def wallet(self) -> None:
        self.burst.record("wallet", await self.api.get("/api/v1/licences", headers=self.cast.owner.headers))

    async def present(self) -> None:
        response = await self.api.post(f"/api/v1/licences/{self.cast.licence_id}/presentations",
                                       headers=self.cast.owner.headers)
        self.burst.record("present", response)
        if response.status_code == 201:
            self.burst.minted.append(response.json()["payload"])

    async def inspect(self) -> None:
        if not self.cast.codes:
            await self.present()
            if not self.burst.minted:
                return
            self.cast.codes.append(self.burst.minted.pop())
        code = self.cast.codes.pop()
        response = await self.api.post("/api/v1/inspections", json={"payload": code}, headers=self.cast.inspector.headers)
        self.burst.record("inspect", response)
        self.burst.inspected.append((code, response.status_code, response.json() if response.status_code == 200 else None))

    async def healthz(self) -> None:
        self.burst.record("healthz", await self.api.get("/healthz"))

    def of(self, kind: str) -> Callable[[], Awaitable[None]]:
        return getattr(self, kind)


async def run_burst(
    calls: Calls, cut: Callable[[], None], restore: Callable[[], None]
) -> tuple[float, asyncio.Future[list[None]]]:
    """Callers loop over every kind of call; the store is cut and restored under them. Returns
    when the store came back (monotonic), and the callers, told to stop half a second later."""
    stop = asyncio.Event()

    async def caller(offset: int) -> None:
        for kind in itertools.islice(itertools.cycle(KINDS), offset, None):
            if stop.is_set():
                return
            try:
                await calls.of(kind)()
            except httpx.HTTPError as exc:
                calls.burst.answers.append(Answer(kind, None, repr(exc)))

    callers = [asyncio.create_task(caller(n)) for n in range(CALLERS)]
    await asyncio.sleep(CUT_AFTER)
    await asyncio.to_thread(cut)
    await asyncio.sleep(CUT_FOR)
    await asyncio.to_thread(restore)
    restored = time.monotonic()
    asyncio.get_running_loop().call_later(0.5, stop.set)
    return restored, asyncio.gather(*callers)


async def one_round(calls: Calls) -> list[Answer]:
    """A ROUND of calls at once; returns the answers that were not successes."""
    round_ = Burst()
    await asyncio.gather(*(Calls(calls.api, calls.cast, round_).of(kind)() for kind in ROUND))
    calls.burst.answers += round_.answers
    calls.burst.sessions += round_.sessions
    calls.burst.binds |= round_.binds
    calls.burst.minted += round_.minted
    calls.burst.inspected += round_.inspected
    return [a for a in round_.answers if a.status != SUCCESS[a.kind]]


async def recovered(calls: Calls, restored: float) -> float:
    """Seconds after the restore until a whole round succeeds; fails past RECOVERY_SECONDS. Then
    three rounds more must all succeed: a broken connection kept by the service would show."""
    while failed := await one_round(calls):
        took = time.monotonic() - restored
        print(f"{took:.2f}s after the restore, failing: {Counter((a.kind, a.status) for a in failed)}")
        assert took < RECOVERY_SECONDS, f"not recovered {took:.1f}s after the restore: {failed}"
        await asyncio.sleep(0.2)
    took = time.monotonic() - restored
    assert took < RECOVERY_SECONDS, f"recovered only {took:.1f}s after the restore"
    for _ in range(3):
        failed = await one_round(calls)
        assert not failed, f"failing again after recovering {took:.1f}s after the restore: {failed}"
    return took


async def assert_nothing_half_written(api: httpx.AsyncClient, cast: Cast, burst: Burst, *, cut: str) -> None:
    # Every login answered 200 stored its session: the refresh token is there to be used.
    for session in burst.sessions[:20]:
        refreshed = await api.post("/api/v1/auth/refresh", json={"refresh_token": session.refresh_token})
        assert refreshed.status_code == 200, refreshed.text
    # A real name answered 503 was bound or not; either way binding it again (the mini-program's
    # retry) answers 200, and then it is bound, once.
    for who, id_number in burst.binds.values():
        again = await api.post("/api/v1/me/realname", json={"name": "赵六", "id_number": id_number},
                               headers=who.headers)
        assert again.status_code == 200, again.text
        me = await api.get("/api/v1/me", headers=who.headers)
        assert me.status_code == 200 and me.json()["realname_verified"] is True, me.text
        assert await AuditEvent.filter(kind="realname_bound", subject=f"user:{who.user_id}").count() == 1
    # Each presentation answered 201 is a code of its own, and genuine.
    assert len(set(burst.minted)) == len(burst.minted)
    for code in burst.minted[:10]:
        checked = await api.post("/api/v1/inspections", json={"payload": code}, headers=cast.inspector.headers)
        assert checked.status_code == 200 and checked.json()["valid"] is True, checked.text
    # Each inspection is recorded at most once, and once whenever it was answered: accepted
    # codes are refused as replays from now on; a code refused for the outage was given back,
    # unless Redis itself was cut: a claim Redis took as it went, or could not give back, keeps
    # that code refused (it fails closed; the holder's next code works).
    for code, status, body in burst.inspected:
        token_id = codec.decode_licence_claims(codec.decode_text(code, codec.LC1).payload).token_id.hex()
        rows = await Inspection.filter(token_id=token_id).values_list("valid", flat=True)
        again = await api.post("/api/v1/inspections", json={"payload": code}, headers=cast.inspector.headers)
        assert again.status_code == 200, again.text
        if status == 200:
            assert body is not None and body["valid"] is True, body
            assert rows == [True], (status, rows)
            assert again.json() == {"valid": False, "reason": "replayed", "checked_at": again.json()["checked_at"]}
        else:
            assert len(rows) <= 1, (status, rows)
            if rows or cut != "redis":
                assert again.json()["valid"] is (rows == []), (rows, again.json())
    report = await verify_chain()
    assert report.intact, report.summary()


async def cut_in_the_middle_of_a_burst(service: Service, proxy: TcpProxy, live: LiveServer, *, cut: str) -> None:
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=15, limits=limits, trust_env=False) as api:
        began = time.monotonic()
        cast = await set_up(api, live)
        set_up_took = time.monotonic() - began
        burst = Burst()
        calls = Calls(api, cast, burst)
        restored, callers = await run_burst(calls, proxy.cut, proxy.restore)
        took = await recovered(calls, restored)
        await callers
        checking = time.monotonic()
        unexpected = burst.unexpected()
        assert not unexpected, [(a.kind, a.status, a.detail) for a in unexpected[:10]]
        seen = Counter((a.kind, a.status) for a in burst.answers)
        assert any(status == 503 for _, status in seen), f"the cut was never seen: {seen}"
        assert all(seen[kind, SUCCESS[kind]] for kind in KINDS), seen
        await assert_nothing_half_written(api, cast, burst, cut=cut)
        slowest = max(burst.answers, key=lambda a: a.seconds)
        print(f"set up {set_up_took:.1f}s, recovered {took:.2f}s after the restore, checked in"
              f" {time.monotonic() - checking:.1f}s; slowest answer {slowest}; answers {sorted(seen.items())}")


async def test_postgres_cut_mid_burst_recovers_and_writes_nothing_by_halves(serve, live):
    """Uses the schema the `live` fixture migrated."""
    with TcpProxy(*target_of(DATABASE_URL, 5432)) as proxy:
        service = await asyncio.to_thread(serve, APP_DATABASE_URL=through(DATABASE_URL, proxy))
        try:
            await cut_in_the_middle_of_a_burst(service, proxy, live, cut="postgres")
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n--- service log ---\n{service.tail()}") from None


@pytest.mark.skipif(not REDIS_URL, reason="needs Redis (APP_REDIS_URL), as the CI's second pass has")
async def test_redis_cut_mid_burst_recovers_and_writes_nothing_by_halves(serve, live):
    with TcpProxy(*target_of(REDIS_URL, 6379)) as proxy:
        service = await asyncio.to_thread(serve, APP_REDIS_URL=through(REDIS_URL, proxy))
        try:
            await cut_in_the_middle_of_a_burst(service, proxy, live, cut="redis")
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n--- service log ---\n{service.tail()}") from None
