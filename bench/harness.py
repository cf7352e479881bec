"""What a scenario module sees: Scenario, Request, Session and BenchContext.

A feature's bench/scenarios/<feature>.py exposes `scenarios(ctx: BenchContext) -> list[Scenario]`.
Data preparation happens in the scenarios' async setup hooks and request factories, which run
against the live service just before that scenario is measured.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import itertools
import secrets
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from bench.servers import SandboxProcess, ServiceProcess

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Request:
    """One request of a per-request list; a field left None takes the scenario's value."""

    method: str | None = None
    path: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None  # bytes, str, or anything JSON-serialisable (sent as JSON)


Hook = Callable[["BenchContext"], Awaitable[Any] | Any]
# (ctx, count) -> requests; count is how many the harness wants (it matters for single-use ones).
RequestFactory = Callable[["BenchContext", int], Awaitable[Sequence[Request]] | Sequence[Request]]


@dataclass
class Scenario:
    """One measured endpoint.

    The request sent is, in order of precedence: a Lua generator (`lua`), a list of per-request
    variants (`requests`, cycled through; each wrk thread gets its own slice when `single_use`),
    or the constant method/path/headers/body.
    """

    name: str
    path: str = "/"
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    requests: Sequence[Request] | RequestFactory | None = None
    # Each request may be sent only once (e.g. wx.login codes): the harness measures the rate in
    # the warm-up and asks the factory for enough of them for the whole run.
    single_use: bool = False
    lua: str | Path | None = None  # a Lua file defining generate(n) -> wrk.format(...) string
    target_ratio: float | None = None  # pass when rps >= target_ratio * reference rps
    target_p99_ms: float | None = None  # pass when p99 <= this
    connections: int | None = None  # default: --connections
    duration: float | None = None  # default: --duration
    setup: Hook | None = None
    teardown: Hook | None = None
    expect_errors: bool = False  # 4xx/5xx answers are the point (e.g. rejected notifies)
    feature: str = ""  # filled in from the module name
    note: str = ""  # shown in the JSON output, e.g. "100,000 items"
    server: str = "service"  # "bare" only for the reference

    def target_text(self) -> str:
        parts = []
        if self.target_ratio is not None:
            parts.append(f">={self.target_ratio:.0%} ref")
        if self.target_p99_ms is not None:
            parts.append(f"p99<={self.target_p99_ms:g}ms")
        return ", ".join(parts) or "-"


@dataclass
class Session:
    """A logged-in caller of the service under test."""

    user_id: int
    access_token: str
    refresh_token: str
    openid: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


_ip_counter = itertools.count(1)


def client_ip() -> str:
    """A distinct client address per call (from 10.0.0.0/8), sent as X-Forwarded-For so per-IP
    rate limits see many clients."""
    return str(ipaddress.IPv4Address(0x0A000000 + next(_ip_counter) % 0xFFFFFE + 1))


class BenchContext:
    """The live service under test and helpers to prepare data for it."""

    def __init__(
        self, service: ServiceProcess, sandbox: SandboxProcess, *, connections: int, duration: float, database: str
    ):
        self._service = service
        self._sandbox = sandbox
        self.connections = connections
        self.duration = duration
        self.database = database  # "sqlite" or "postgres"
        self.state: dict[str, Any] = {}  # shared by every scenario of this run
        self.project_root = PROJECT_ROOT
        self.http = self._new_client()
        # The outside parties run in their own process: their /sandbox/<party>/... helpers are there.
        self.sandbox = httpx.AsyncClient(base_url=sandbox.base_url, timeout=60, trust_env=False)
        self._once_locks: dict[str, asyncio.Lock] = {}

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url, timeout=60, trust_env=False,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )

    @property
    def base_url(self) -> str:
        return self._service.base_url

    @property
    def sandbox_url(self) -> str:
        return self._sandbox.base_url

    @property
    def env(self) -> dict[str, str]:
        """The environment of the service process (APP_* settings included); read-only."""
        return dict(self._service.env)

    @property
    def service_pid(self) -> int | None:
        return self._service.pid

    def service_cpu_seconds(self) -> float | None:
        return self._service.cpu_seconds()

    def service_loop_cpu_seconds(self) -> float | None:
        return self._service.loop_cpu_seconds()

    def sandbox_cpu_seconds(self) -> float | None:
        return self._sandbox.cpu_seconds()

    def sync_http(self) -> httpx.Client:
        """A synchronous client for the service (use it as a context manager)."""
        return httpx.Client(base_url=self.base_url, timeout=60, trust_env=False)

    # ------------------------------------------------------------------ shared set-up
    async def once(self, key: str, make: Callable[[], Awaitable[Any]]) -> Any:
        """Run `make` once per run (and per service restart) and keep its result in ctx.state."""
        lock = self._once_locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self.state:
                self.state[key] = await make()
            return self.state[key]

    async def restart_service(self, env: Mapping[str, str] | None = None) -> None:
        """Restart the service with extra environment (e.g. a bigger dataset read at start).
        The database is kept; ctx.state is cleared because tokens and caches may be stale."""
        await self.http.aclose()
        await asyncio.to_thread(self._service.restart, dict(env or {}))
        self.state.clear()
        self.http = self._new_client()

    async def run_app(self, *args: str, time_limit: float = 1800) -> str:
        """`python -m app <args>` with the service's environment; returns its output."""
        return await asyncio.to_thread(self.run_app_sync, *args, time_limit=time_limit)

    def run_app_sync(self, *args: str, time_limit: float = 1800) -> str:
        completed = subprocess.run(
            [sys.executable, "-m", "app", *args], cwd=PROJECT_ROOT, env=self._service.full_env(),
            capture_output=True, text=True, timeout=time_limit,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"python -m app {' '.join(args)} failed:\n{completed.stdout}{completed.stderr}")
        return completed.stdout

    # ------------------------------------------------------------------ identity helpers
    async def login_codes(self, count: int, *, openids: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """`count` fresh wx.login codes from the sandbox as (code, openid); with `openids`, the
        codes cycle through those returning users, otherwise each is a new user."""
        semaphore = asyncio.Semaphore(24)

        async def one(index: int) -> tuple[str, str]:
            payload = {"openid": openids[index % len(openids)]} if openids else {}
            async with semaphore:
                response = await self.sandbox.post("/sandbox/wechat/login-code", json=payload)
            response.raise_for_status()
            body = response.json()
            return body["code"], body["openid"]

        return list(await asyncio.gather(*(one(i) for i in range(count))))

    async def login(self, openid: str | None = None) -> Session:
        (code, openid), = await self.login_codes(1, openids=[openid] if openid else None)
        response = await self.http.post(
            "/api/v1/auth/login", json={"code": code}, headers={"X-Forwarded-For": client_ip()}
        )
        if response.status_code != 200:
            raise RuntimeError(f"login failed: {response.status_code} {response.text}")
        body = response.json()
        return Session(body["user"]["id"], body["access_token"], body["refresh_token"], openid)

    async def login_many(self, count: int) -> list[Session]:
        if count <= 0:
            return []
        # The first one alone: on a fresh database it creates the audit chain's head row.
        first = await self.login()
        semaphore = asyncio.Semaphore(8)

        async def one() -> Session:
            async with semaphore:
                return await self.login()

        return [first, *await asyncio.gather(*(one() for _ in range(count - 1)))]

    async def operator(self) -> Session:
        """An operator account (made with `python -m app create-operator`), logged in; one per run."""

        async def make() -> Session:
            username = f"bench_op_{secrets.token_hex(4)}"
            password = secrets.token_urlsafe(16)
            await self.run_app("create-operator", username, f"--password={password}")  # it may start with "-"
            response = await self.http.post(
                "/api/v1/auth/operator-login", json={"username": username, "password": password},
                headers={"X-Forwarded-For": client_ip()},
            )
            if response.status_code != 200:
                raise RuntimeError(f"operator login failed: {response.status_code} {response.text}")
            body = response.json()
            return Session(body["user"]["id"], body["access_token"], body["refresh_token"])

        return await self.once("bench:operator", make)

    async def close(self) -> None:
        await self.http.aclose()
        await self.sandbox.aclose()


async def call_hook(hook: Hook | None, ctx: BenchContext) -> Any:
    if hook is None:
        return None
    result = hook(ctx)
    return await result if inspect.isawaitable(result) else result
