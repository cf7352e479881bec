"""A store going away: `python -m app serve` answers 503 `store_unavailable`, then recovers.

Redis and PostgreSQL are reached through a TCP proxy the test can cut (every connection dropped,
new ones refused) and restore, as a network partition or a restarting server would look.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.conftest import ON_POSTGRES, free_port
from tests.e2e.test_serve import wait_healthy

REDIS_URL = os.environ.get("APP_REDIS_URL", "")


class TcpProxy:
    """127.0.0.1:<port> forwarded to host:port, on an event loop of its own thread."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self.restore()
        return self

    def __exit__(self, *_: object) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def cut(self) -> None:
        """Stop listening (connections are refused) and drop every open connection."""
        self._call(self._cut())

    def restore(self) -> None:
        self._call(self._listen())

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self._writers -= {writer, upstream_writer}


def through(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def target_of(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


@pytest.fixture
def serve(tmp_path) -> Iterator:
    processes: list[subprocess.Popen] = []

    def start(**settings: str) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
        env |= {"APP_DATABASE_URL": f"sqlite://{tmp_path}/outage.sqlite3", **settings}
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        processes.append(process)
        base_url = f"http://127.0.0.1:{port}"
        wait_healthy(base_url, process)
        return base_url

    yield start
    for process in processes:
        process.kill()
        process.wait(10)


def log_in(client: httpx.Client) -> dict[str, str]:
    code = client.post("/sandbox/wechat/login-code", json={}).json()["code"]
    response = client.post("/api/v1/auth/login", json={"code": code})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def assert_store_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    body = response.json()
    assert body["error"]["code"] == "store_unavailable"
    assert body["request_id"] == response.headers["X-Request-ID"]


def eventually(call, status: int = 200, seconds: float = 10) -> httpx.Response:
    """Health answers are reused for a second, and a pool may try a dead connection once first."""
    deadline = time.monotonic() + seconds
    while True:
        response = call()
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.skipif(not REDIS_URL, reason="needs Redis (APP_REDIS_URL), as the CI's second pass has")
def test_redis_going_away_is_a_503_and_the_service_recovers(serve, live):
    """On PostgreSQL, uses the schema the `live` fixture migrated."""
    with TcpProxy(*target_of(REDIS_URL, 6379)) as proxy:
        base_url = serve(APP_REDIS_URL=through(REDIS_URL, proxy), APP_REDIS_KEY_PREFIX=f"outage{proxy.port}:",
                         **({"APP_DATABASE_URL": os.environ["APP_DATABASE_URL"]} if ON_POSTGRES else {}))
        with httpx.Client(base_url=base_url, trust_env=False, timeout=15) as client:
            headers = log_in(client)
            code = client.post("/sandbox/wechat/login-code", json={}).json()["code"]
            proxy.cut()
            assert_store_unavailable(client.get("/api/v1/me", headers=headers))
            assert_store_unavailable(client.post("/api/v1/auth/login", json={"code": code}))
            assert eventually(lambda: client.get("/healthz"), 503).status_code == 503
            proxy.restore()
            assert eventually(lambda: client.get("/api/v1/me", headers=headers)).status_code == 200
            # The login refused during the outage wrote nothing: its code still works once.
            assert client.post("/api/v1/auth/login", json={"code": code}).status_code == 200


@pytest.mark.slow
@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (APP_DATABASE_URL), as the CI's second pass has")
def test_postgres_going_away_is_a_503_and_the_service_recovers(serve, live):
    """Uses the schema the `live` fixture migrated."""
    database_url = os.environ["APP_DATABASE_URL"]
    with TcpProxy(*target_of(database_url, 5432)) as proxy:
        base_url = serve(APP_DATABASE_URL=through(database_url, proxy),
                         **({"APP_REDIS_URL": REDIS_URL, "APP_REDIS_KEY_PREFIX": f"outage{proxy.port}:"}
                            if REDIS_URL else {}))
        with httpx.Client(base_url=base_url, trust_env=False, timeout=15) as client:
            headers = log_in(client)
            assert client.get("/api/v1/licences", headers=headers).status_code == 200
            proxy.cut()
            assert_store_unavailable(client.get("/api/v1/licences", headers=headers))
            code = client.post("/sandbox/wechat/login-code", json={}).json()["code"]
            assert_store_unavailable(client.post("/api/v1/auth/login", json={"code": code}))
            assert eventually(lambda: client.get("/healthz"), 503).status_code == 503
            proxy.restore()
            assert eventually(lambda: client.get("/api/v1/licences", headers=headers)).status_code == 200
            assert eventually(lambda: client.get("/healthz")).status_code == 200


@pytest.mark.slow
def test_a_sqlite_file_damaged_under_the_running_service_is_unhealthy(serve, tmp_path):
    """`SELECT 1` reads no page, and the service's connection answers from its page cache: both
    kept /healthz at 200 over a file overwritten with garbage. Runs on SQLite on both passes."""
    base_url = serve()
    with httpx.Client(base_url=base_url, trust_env=False, timeout=15) as client:
        assert client.get("/healthz").status_code == 200
        database = tmp_path / "outage.sqlite3"
        size = database.stat().st_size
        with open(database, "r+b") as file:
            file.seek(size // 2)
            file.write(b"\xde\xad\xbe\xef" * (size // 16))
        answer = eventually(lambda: client.get("/healthz"), 503)
    assert answer.status_code == 503
    # The documented unhealthy answer, naming neither the file nor what SQLite said about it.
    assert answer.json() == {"status": "unavailable", "checks": {"database": False, "redis": True}}
