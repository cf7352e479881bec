"""The real entry point: `python -m app serve`, graceful shutdown, and several workers."""

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ON_POSTGRES, free_port


def wait_healthy(base_url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"service exited early: {process.stdout.read() if process.stdout else ''}")
        try:
            if httpx.get(base_url + "/healthz", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("service did not become healthy")


def helper_processes(pid: int) -> list[int]:
    """The LC1 verifier processes among the children of `pid` (Linux /proc)."""
    found = []
    for children in os.scandir(f"/proc/{pid}/task"):
        with open(f"{children.path}/children") as listing:
            for child in listing.read().split():
                with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                    if b"app.lc1.worker" in cmdline.read():
                        found.append(int(child))
    return found


def alive(pid: int) -> bool:
    """Running or sleeping; gone or a zombie (exited, not yet reaped by whoever adopted it) is not."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def login_flow(base_url: str, sandbox_url: str) -> dict:
    with httpx.Client(base_url=base_url, trust_env=False, timeout=10) as client:
        code = httpx.post(sandbox_url + "/sandbox/wechat/login-code", json={}, trust_env=False).json()["code"]
        response = client.post("/api/v1/auth/login", json={"code": code})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.mark.slow
def test_serve_on_the_embedded_default_and_stop_gracefully(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env |= {"APP_DATABASE_URL": f"sqlite://{tmp_path}/serve.sqlite3", "APP_SERVICE_LOG_LEVEL": "INFO"}
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, process)
        body = login_flow(base_url, base_url)
        me = httpx.get(
            base_url + "/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}, trust_env=False
        )
        assert me.status_code == 200
        helpers = helper_processes(process.pid)
        assert len(helpers) == 1  # the worker's LC1 verifier (licences.verify_in_helper_process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        deadline = time.monotonic() + 5
        while alive(helpers[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(helpers[0]), "the verifier helper outlived its worker"
    finally:
        if process.poll() is None:
            process.kill()
    output = process.stdout.read() if process.stdout else ""
    lines = [line for line in output.splitlines() if line.startswith("{")]
    assert any('"path":"/api/v1/me"' in line or '"path": "/api/v1/me"' in line for line in lines)
    assert body["access_token"] not in output


@pytest.mark.slow
def test_a_running_server_picks_up_a_catalogue_seeded_by_another_process(tmp_path):
    """The embedded default: the server's cache is private to its process, so `seed-demo` can
    reach it only through the catalogue version in the database, which the server polls."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env |= {"APP_DATABASE_URL": f"sqlite://{tmp_path}/seeded.sqlite3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, process, timeout=60)  # generous: a loaded CI machine starts slowly
        with httpx.Client(base_url=base_url, trust_env=False, timeout=10) as client:

            def social_insurance() -> int:
                return client.get("/api/v1/search", params={"q": "社保"}).json()["total"]

            assert social_insurance() == 0
            assert client.get("/api/v1/regions").json()["regions"] == []
            empty = client.get("/api/v1/zones")  # the home page of a fresh install: empty, not an error
            assert empty.status_code == 200 and empty.json()["zones"] == []
            seed = subprocess.run(
                [sys.executable, "-m", "app", "seed-demo", "--scale", "120"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert seed.returncode == 0, seed.stderr
            deadline = time.monotonic() + 20  # a poll a second; the index build takes ~0.1 s
            while social_insurance() == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert social_insurance() > 0
            regions = client.get("/api/v1/regions").json()["regions"]
            assert [r["code"] for r in regions] == ["440000"] and len(regions[0]["children"]) == 21
            zones = client.get("/api/v1/zones", params={"region": "440106"}).json()["zones"]
            assert zones
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.slow
@pytest.mark.skipif(not ON_POSTGRES, reason="several workers need PostgreSQL and Redis (the CI's second pass)")
def test_several_workers_share_sessions_through_redis(live):
    """Uses the schema the `live` fixture migrated."""
    sandbox_port, port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()}
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "app", "sandbox", "--port", str(sandbox_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env |= {"APP_SANDBOX_ENABLED": "false", "APP_WECHAT_API_BASE": f"http://127.0.0.1:{sandbox_port}/sandbox/wechat"}
    service = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url, sandbox_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    try:
        wait_healthy(base_url, service, timeout=60)
        sessions = [login_flow(base_url, sandbox_url) for _ in range(6)]
        with httpx.Client(base_url=base_url, trust_env=False) as client:
            for body in sessions:
                headers = {"Authorization": f"Bearer {body['access_token']}"}
                assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
                # Whichever worker answers next knows the session has ended.
                for _ in range(4):
                    assert client.get("/api/v1/me", headers=headers).status_code == 401
    finally:
        for process in (service, sandbox):
            process.send_signal(signal.SIGTERM)
        for process in (service, sandbox):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def embedded_env(database: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    return env | {"APP_DATABASE_URL": f"sqlite://{database}", "APP_SERVICE_PORT": str(free_port())}


@pytest.fixture(scope="module")
def migrated_file(tmp_path_factory) -> Path:
    """A migrated SQLite file with a few hundred pages of data, checkpointed into the file."""
    path = tmp_path_factory.mktemp("store") / "app.sqlite3"
    subprocess.run([sys.executable, "-m", "app", "migrate"], env=embedded_env(path), check=True, timeout=120)
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)")
        db.executemany("INSERT INTO filler (body) VALUES (?)", [("x" * 500,)] * 4000)
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def damage(path: Path, kind: str) -> None:
    size = path.stat().st_size
    if kind == "not a database":
        path.write_bytes(os.urandom(20_000))
    elif kind == "garbage in the middle":  # pages no start-up read touches
        with open(path, "r+b") as file:
            file.seek(size // 2 // 4096 * 4096)
            file.write(b"\xde\xad\xbe\xef" * 4096)
    else:  # truncated, as by a full disk or an interrupted copy
        with open(path, "r+b") as file:
            file.truncate(size // 2)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["serve", "migrate"])
@pytest.mark.parametrize("kind", ["not a database", "garbage in the middle", "truncated"])
def test_a_damaged_database_file_is_refused_at_once_with_one_line(tmp_path, migrated_file, command, kind):
    """`serve` used to hang for ever on such a file (a failed start left aiosqlite's thread
    running), which a supervisor takes for a running service; `migrate` wrote to it."""
    broken = tmp_path / "broken.sqlite3"
    shutil.copyfile(migrated_file, broken)
    damage(broken, kind)
    before = broken.read_bytes()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "app", command], env=embedded_env(broken), capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{command}` on a damaged file neither answered nor exited")
    assert done.returncode == 1
    assert done.stdout == ""  # refused before the service or the migrations began
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"refusing to start: the SQLite database file {broken} is damaged (")
    assert line.endswith("restore it from a backup")
    assert broken.read_bytes() == before


@pytest.mark.slow
def test_serve_exits_when_its_start_fails_after_opening_the_database(tmp_path, migrated_file):
    """Another process holds SQLite's write lock longer than the start waits: the start fails
    after the ORM opened the file, and the process must exit rather than wait for ever on the
    ORM's thread (Sanic runs no stop listener after a failed start)."""
    store = tmp_path / "locked.sqlite3"
    shutil.copyfile(migrated_file, store)
    with contextlib.closing(sqlite3.connect(store, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        try:
            done = subprocess.run(
                [sys.executable, "-m", "app", "serve"], env=embedded_env(store), capture_output=True, text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            pytest.fail("a service whose start failed did not exit")
    assert done.returncode != 0
    assert "database is locked" in done.stderr
