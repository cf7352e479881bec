"""`python -m app reconcile` when a channel or agency does not answer (on the embedded default:
no service running at APP_SERVICE_PORT to serve the sandboxes): one line, exit 1, no traceback,
nothing stored."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_reconcile_without_the_sandboxes_says_so_without_a_traceback(tmp_path: Path) -> None:
    port = _unused_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env |= {"APP_DATABASE_URL": f"sqlite://{tmp_path}/rec.sqlite3", "APP_SERVICE_PORT": str(port)}
    done = subprocess.run([sys.executable, "-m", "app", "reconcile", "--date", "2026-11-21"], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "nothing was stored" in done.stderr
    assert f"http://127.0.0.1:{port}" in done.stderr and "APP_SERVICE_PORT" in done.stderr
    assert done.stdout == ""
    with sqlite3.connect(tmp_path / "rec.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM payment_reconciliation_runs").fetchone() == (0,)
