"""seed-demo: stores the demo catalogue once, however often it runs; the CLI shows progress."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.adapters.clock import SystemClock
from app.services.catalogue.seeding import seed_demo
from models.catalogue import ServiceItem, ServiceItemVersion, Zone
from tests.conftest import LiveServer

ROOT = Path(__file__).resolve().parents[2]


async def test_seeding_twice_creates_nothing_new(live: LiveServer) -> None:
    await seed_demo(clock=SystemClock(), scale=200)
    again = await seed_demo(clock=SystemClock(), scale=200)
    assert again == {"regions": 0, "departments": 0, "items": 0, "bundles": 0, "zones": 0}
    assert await ServiceItem.filter(status="published").count() >= 200
    assert await ServiceItemVersion.all().count() >= 200
    assert await Zone.filter(status="published").count() >= 10


def test_seed_demo_command_scales_and_shows_progress(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env["APP_DATABASE_URL"] = f"sqlite://{tmp_path}/seed.sqlite3"
    command = [sys.executable, "-m", "app", "seed-demo", "--scale", "120"]
    first = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "120 items" in first.stdout and "10 zones" in first.stdout
    assert "items" in first.stderr and "120/120" in first.stderr  # the progress bar
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert "0 items" in second.stdout
