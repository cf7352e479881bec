"""The processes of a run: the service (one worker), the outside parties' sandbox, the bare reference."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.harness import PROJECT_ROOT

BENCH_VAR = PROJECT_ROOT / "var" / "bench"
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/bench"
REDIS_URL = "redis://127.0.0.1:6379/9"
_UNLIMITED = "1000000000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(database: str, run_id: str, sandbox_url: str) -> dict[str, str]:
    """APP_* settings for the service under test: quiet logs, the load generator's per-request
    X-Forwarded-For taken as the client address, rate limits out of the way, and every outside
    party reached at the standalone sandbox (`sandbox_url`) instead of mounted in the service."""
    env = {
        "APP_SERVICE_ENVIRONMENT": "development",
        "APP_SERVICE_LOG_LEVEL": "WARNING",
        "APP_SERVICE_REAL_IP_HEADER": "X-Forwarded-For",
        "APP_SERVICE_PROXIES_COUNT": "1",
        "APP_SANDBOX_ENABLED": "false",
        "APP_WECHAT_API_BASE": f"{sandbox_url}/sandbox/wechat",
        "APP_WECHATPAY_BASE_URL": f"{sandbox_url}/sandbox/wechatpay",
        "APP_ALIPAY_GATEWAY_URL": f"{sandbox_url}/sandbox/alipay/gateway.do",
        "APP_PAYMENTS_TRAFFIC_BASE_URL": f"{sandbox_url}/sandbox/traffic",
        "APP_PAYMENTS_TAX_BASE_URL": f"{sandbox_url}/sandbox/tax",
    }
    for key in (
        "LOGIN_PER_IP", "LOGIN_PER_OPENID", "FACE_START_PER_IP", "FACE_START_PER_OPENID",
        "PHONE_PER_IP", "PHONE_PER_OPENID", "OPERATOR_LOGIN_PER_IP",
    ):
        env[f"APP_RATE_LIMITS_{key}"] = _UNLIMITED
    if database == "postgres":
        env["APP_DATABASE_URL"] = POSTGRES_URL
        env["APP_REDIS_URL"] = REDIS_URL
    else:
        env["APP_DATABASE_URL"] = f"sqlite://{BENCH_VAR / f'bench-{run_id}.sqlite3'}"
        env["APP_REDIS_URL"] = ""
    return env


def reset_postgres_and_redis() -> None:
    """Database `bench` (created if missing) with an empty public schema; Redis db 9 flushed."""
    import asyncio

    async def reset() -> None:
        import asyncpg
        import redis.asyncio as redis

        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = 'bench'"):
                await admin.execute("CREATE DATABASE bench")
        finally:
            await admin.close()
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/bench")
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()
        client = redis.from_url(REDIS_URL)
        await client.flushdb()
        await client.aclose()

    asyncio.run(reset())


class Process:
    """A server subprocess on a free loopback port, logging to a file under var/bench/."""

    name = "process"
    health_path = "/healthz"

    def __init__(self, *, log_path: Path, env: dict[str, str] | None = None):
        self.env = dict(env or {})
        self.port = 0
        self.log_path = log_path
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def choose_port(self) -> int:
        """A free port, chosen once: restarts keep it, so whoever was told the address still reaches us."""
        if not self.port:
            self.port = free_port()
            self._port_chosen()
        return self.port

    def start(self, timeout: float = 60) -> None:
        self.choose_port()
        with open(self.log_path, "ab") as log:
            self._popen = subprocess.Popen(
                self.command(), cwd=PROJECT_ROOT, env=self.full_env(),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._wait_healthy(timeout)

    def _port_chosen(self) -> None:
        pass

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self._popen is not None and self._popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._popen.returncode}; see {self.log_path}")
            try:
                response = httpx.get(self.base_url + self.health_path, timeout=2, trust_env=False)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not healthy after {timeout:.0f}s ({last}); see {self.log_path}")

    def full_env(self) -> dict[str, str]:
        """This process's environment: ours, without any APP_* setting of the caller's shell."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
        return {**inherited, **self.env}

    def cpu_seconds(self) -> float | None:
        """User + system CPU time used so far (Linux /proc), all threads, including helper
        processes (the service's LC1 verifier): live ones and those already reaped."""
        if self.pid is None:
            return None
        ticks = _cpu_ticks(self.pid)
        return None if ticks is None else ticks / os.sysconf("SC_CLK_TCK")

    def loop_cpu_seconds(self) -> float | None:
        """CPU time of the main thread alone: the event loop, which bounds one worker's rate."""
        if self.pid is None:
            return None
        fields = _stat_fields(Path(f"/proc/{self.pid}/task/{self.pid}/stat"))
        return None if fields is None else (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def stop(self) -> None:
        if self._popen is None or self._popen.poll() is not None:
            return
        self._popen.send_signal(signal.SIGINT)  # Sanic shuts down gracefully on SIGINT
        try:
            self._popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()


class ServiceProcess(Process):
    name = "service"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]

    def _port_chosen(self) -> None:
        # create-operator, seed and other commands run with this env: keep their settings in step.
        self.env["APP_SERVICE_PORT"] = str(self.port)

    def migrate(self) -> None:
        completed = subprocess.run(
            [sys.executable, "-m", "app", "migrate"], cwd=PROJECT_ROOT, env=self.full_env(),
            capture_output=True, text=True, timeout=600,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"python -m app migrate failed:\n{completed.stdout}{completed.stderr}")

    def restart(self, extra_env: dict[str, str]) -> None:
        self.stop()
        self.env.update(extra_env)
        self.start()


class SandboxProcess(Process):
    """`python -m app sandbox`: every outside party (WeChat, WeChat Pay, Alipay, the agencies, the
    licence feed) in a process of its own, as a remote party is in production, so its work is not
    billed to the one service worker being measured."""

    name = "sandbox"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "app", "sandbox", "--host", "127.0.0.1", "--port", str(self.port)]

    def serve_for(self, service: ServiceProcess) -> None:
        """Take the service's settings (keys, secrets, ids) and its address, to which the sandbox
        pushes (payment notifies go to the URL each order names; the licence feed to this one)."""
        self.env = {**service.env, "APP_SANDBOX_ENABLED": "true",
                    "APP_SERVICE_PUBLIC_BASE_URL": f"http://127.0.0.1:{service.choose_port()}"}
        self.env.pop("APP_SERVICE_PORT", None)  # `python -m app sandbox --port` sets its own


class BareProcess(Process):
    name = "bare reference"
    health_path = "/"

    def command(self) -> list[str]:
        return [sys.executable, str(PROJECT_ROOT / "bench" / "bare_app.py"), "--port", str(self.port)]


def _stat_fields(path: Path) -> list[str] | None:
    """The fields of a /proc stat file after the command name (field 11 is utime)."""
    try:
        return path.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cpu_ticks(pid: int) -> int | None:
    """utime + stime + cutime + cstime of `pid`, plus the same for its live descendants."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    if fields is None:
        return None
    ticks = sum(int(value) for value in fields[11:15])
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except OSError:
            continue
        ticks += sum(_cpu_ticks(int(child)) or 0 for child in children)
    return ticks
