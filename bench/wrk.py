"""Driving wrk: the request file for bench/lua/bench.lua, the run, and its result."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import PROJECT_ROOT, Request, Scenario

LUA_SCRIPT = PROJECT_ROOT / "bench" / "lua" / "bench.lua"
INSTALL_HINT = "wrk is not installed: on Debian/Ubuntu run `apt-get install -y wrk` (macOS: `brew install wrk`)."
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"}


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit(INSTALL_HINT)
    return found


def wrk_version() -> str:
    completed = subprocess.run([wrk_binary(), "--version"], capture_output=True, text=True)
    return (completed.stdout or completed.stderr).splitlines()[0].strip()


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int  # connect, read, write and timeout errors
    status_errors: int  # answers with status >= 400

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_ratio(self) -> float:
        return (self.socket_errors + self.status_errors) / self.requests if self.requests else 1.0


def encode_body(body: Any, headers: dict[str, str]) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        text = body.decode("latin-1")  # wrk sends the Lua string's bytes as they are
    elif isinstance(body, str):
        text = body.encode().decode("latin-1")
    else:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode().decode("latin-1")
        headers.setdefault("Content-Type", "application/json")
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def request_line(scenario: Scenario, request: Request | None = None) -> str:
    request = request or Request()
    headers = {**scenario.headers, **request.headers}
    body = encode_body(request.body if request.body is not None else scenario.body, headers)
    method = request.method or scenario.method
    path = request.path or scenario.path
    plain = [method, path, *(f"{name}: {value}" for name, value in headers.items())]
    if any(ch in value for value in plain for ch in "\t\r\n"):
        raise ValueError(f"{scenario.name}: a tab or line break in the method, path or a header")
    return "\t".join([method, path, body, *plain[2:]])


def write_requests(path: Path, scenario: Scenario, requests: Sequence[Request] | None) -> None:
    lines = [request_line(scenario, r) for r in requests] if requests else [request_line(scenario)]
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")


def run(
    *,
    base_url: str,
    requests_file: Path | None,
    duration: float,
    connections: int,
    threads: int,
    partition: bool = False,
    generator: Path | None = None,
    timeout: float = 10,
) -> WrkResult:
    threads = max(1, min(threads, connections))
    args = [f"threads={threads}"]
    if requests_file is not None:
        args.append(f"requests={requests_file}")
    if partition:
        args.append("partition=1")
    if generator is not None:
        args.append(f"generator={generator}")
    command = [
        wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
        f"--timeout={timeout:g}s", "-s", str(LUA_SCRIPT), base_url, "--", *args,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return parse_result(json.loads(line.removeprefix("BENCH_RESULT ")))
    raise RuntimeError(f"wrk gave no result (exit {completed.returncode}):\n{completed.stdout}{completed.stderr}")


def parse_result(raw: Mapping[str, Any]) -> WrkResult:
    def ms(key: str) -> float:
        return round(float(raw[key]) / 1000, 3)

    return WrkResult(
        requests=int(raw["requests"]),
        seconds=float(raw["duration_us"]) / 1e6,
        mean_ms=ms("mean_us"),
        p50_ms=ms("p50_us"),
        p90_ms=ms("p90_us"),
        p99_ms=ms("p99_us"),
        max_ms=ms("max_us"),
        socket_errors=sum(int(raw[k]) for k in ("errors_connect", "errors_read", "errors_write", "errors_timeout")),
        status_errors=int(raw["errors_status"]),
    )
