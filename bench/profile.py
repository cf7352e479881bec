"""`--profile`: sample the service with py-spy while a scenario is measured, and say where the
time goes (JWT, cache/Redis, ORM and database, JSON, logging, outbound HTTP, the server itself).

py-spy is not a dependency of the service: `pip install py-spy` into the venv to use this.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# First match from the innermost frame outwards names the sample's category.
CATEGORIES = (
    ("sandbox party handlers (in-process)", ("app/sandbox/",)),
    ("JWT (pyjwt, cryptography)", ("jwt/", "cryptography/")),
    ("cache / Redis client", ("redis/", "app/adapters/cache.py")),
    ("SQLite (aiosqlite thread)", ("aiosqlite/core.py", "sqlite3")),
    ("ORM (tortoise, pypika)", ("tortoise/", "pypika_tortoise/")),
    ("PostgreSQL driver (asyncpg)", ("asyncpg/",)),
    ("outbound HTTP (aiohttp)", ("aiohttp/", "yarl/", "multidict/", "aiohappyeyeballs/", "app/adapters/http.py")),
    ("validation (pydantic)", ("pydantic/", "pydantic_core/")),
    ("JSON", ("orjson", "json/", "ujson")),
    ("logging", ("logging/", "app/logs.py")),
    ("field encryption / hashing", ("app/services/identity/protection.py", "hashlib", "hmac")),
)
APP_PREFIXES = ("app/", "handlers/", "models/")
# Innermost frames of helper threads waiting for work: py-spy cannot always tell they are idle.
IDLE_LEAVES = ("(aiosqlite/core.py:59)", "_worker (concurrent/futures/thread.py", "wait (threading.py")


def py_spy() -> str | None:
    return shutil.which("py-spy")


def start(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """Sample `pid` for `seconds` into a collapsed-stack file (py-spy's raw format)."""
    binary = py_spy()
    if binary is None:
        raise SystemExit("--profile needs py-spy: `pip install py-spy` (it is not a service dependency)")
    return subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))), "--rate", "200",
         "--format", "raw", "--nonblocking", "--output", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def dump(pid: int) -> str:
    """Every thread's stack of `pid` right now (py-spy dump), with local variables."""
    binary = py_spy()
    if binary is None:
        return "py-spy is not installed"
    completed = subprocess.run(
        [binary, "dump", "--pid", str(pid), "--locals"], capture_output=True, text=True, timeout=60
    )
    return completed.stdout + completed.stderr


@dataclass(frozen=True)
class Breakdown:
    samples: int
    categories: list[tuple[str, float]]  # share of all samples
    app_functions: list[tuple[str, float]]  # inclusive share of the busiest app/handlers functions


def _category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, needles in CATEGORIES:
            if any(needle in frame for needle in needles):
                return name
        if any(f"({prefix}" in frame for prefix in APP_PREFIXES):
            return "application code (app/, handlers/)"
    if any("sanic/" in frame for frame in frames):
        return "server (sanic, uvloop, waiting for CPU)"
    return "other"


def summarise(raw: Path, *, top: int = 12) -> Breakdown:
    categories: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        if any(needle in frames[-1] for needle in IDLE_LEAVES):
            continue
        total += samples
        categories[_category(frames)] += samples
        for frame in set(frames):
            if any(f"({prefix}" in frame for prefix in APP_PREFIXES) and "app/__main__" not in frame and "app/cli.py" not in frame:
                functions[frame] += samples
    share = (lambda n: round(n / total, 4)) if total else (lambda n: 0.0)
    return Breakdown(
        total,
        [(name, share(n)) for name, n in categories.most_common()],
        [(name, share(n)) for name, n in functions.most_common(top)],
    )


def format_breakdown(breakdown: Breakdown) -> str:
    lines = [f"   profile: {breakdown.samples} samples"]
    lines += [f"     {share:6.1%}  {name}" for name, share in breakdown.categories]
    lines.append("   busiest application functions (inclusive):")
    lines += [f"     {share:6.1%}  {name}" for name, share in breakdown.app_functions]
    return "\n".join(lines)
