"""The harness's own tests: `python -m pytest bench/tests` (wrk needed for the wire test)."""

from __future__ import annotations

import asyncio
import shutil
import threading

import pytest

from bench import wrk
from bench.harness import Request, Scenario
from bench.run import Outcome, judge, judge_all
from bench.servers import service_env


def outcome(name: str, rps: float | None, *, requests: int = 1000, status_errors: int = 0) -> Outcome:
    return Outcome(name, "f", "GET", "/", "", 50, "-", rps=rps, requests=requests, status_errors=status_errors)


def test_ratio_target_passes_and_fails_on_the_reference_around_it():
    fast = Scenario(name="fast", target_ratio=0.5, feature="a")
    slow = Scenario(name="slow", target_ratio=0.5, feature="b")
    rows = [
        (None, outcome("reference (start)", 1000)),
        (fast, outcome("fast", 900)),
        (None, outcome("reference (after a)", 2000)),
        (slow, outcome("slow", 600)),
        (None, outcome("reference (end)", 2000)),
    ]
    for _, row in rows[1::2]:
        row.target_ratio = 0.5
    overall = judge_all(rows)
    assert overall == pytest.approx(5000 / 3)
    assert rows[1][1].reference_rps == 1500 and rows[1][1].verdict == "pass"  # 60%
    assert rows[3][1].reference_rps == 2000 and rows[3][1].verdict == "FAIL"  # 30%
    assert rows[0][1].ratio == pytest.approx(0.6)  # the reference rows show the drift


def test_errors_fail_a_scenario_whatever_its_speed():
    row = outcome("fast but wrong", 5000, requests=1000, status_errors=11)
    row.target_ratio = 0.1
    judge(row, 1000, expect_errors=False)
    assert row.verdict == "FAIL (errors)"
    expected = outcome("rejections", 5000, requests=1000, status_errors=1000)
    judge(expected, 1000, expect_errors=True)
    assert expected.verdict == "-"


def test_a_scenario_that_got_no_answer_fails():
    row = outcome("stuck", 0, requests=0)
    judge(row, 1000, expect_errors=True)
    assert row.verdict == "FAIL (no answers)"


def test_p99_target():
    row = outcome("search", 100)
    row.p99_ms, row.target_p99_ms = 31.0, 30.0
    judge(row, 1000, expect_errors=False)
    assert row.verdict == "FAIL"
    row.p99_ms = 29.0
    judge(row, 1000, expect_errors=False)
    assert row.verdict == "pass"


def test_the_service_reaches_every_outside_party_at_the_standalone_sandbox():
    from app.config import load_settings
    from app.sandbox import PARTIES

    sandbox_url = "http://127.0.0.1:9"
    settings = load_settings(env=service_env("sqlite", "test", sandbox_url))
    assert not settings.sandbox.enabled  # nothing of the sandbox runs (or is billed) in the service
    urls = {settings.wechat.api_base, settings.wechatpay.base_url, settings.alipay.gateway_url,
            settings.payments.traffic_base_url, settings.payments.tax_base_url}
    assert all(url.startswith(f"{sandbox_url}/sandbox/") for url in urls)
    called = {url.removeprefix(f"{sandbox_url}/sandbox/").split("/")[0] for url in urls}
    assert called == set(PARTIES) - {"licence-feed"}  # the feed pushes to the service; nothing calls it


def test_request_lines_merge_scenario_defaults_and_escape_bodies():
    scenario = Scenario(name="s", method="POST", path="/x", headers={"X-A": "1"})
    line = wrk.request_line(scenario, Request(headers={"X-B": "2"}, body={"q": "a\tb"}))
    method, path, body, *headers = line.split("\t")
    assert (method, path) == ("POST", "/x")
    assert body == '{"q":"a\\\\tb"}'  # JSON's own escape, then the file's
    assert headers == ["X-A: 1", "X-B: 2", "Content-Type: application/json"]
    with pytest.raises(ValueError):
        wrk.request_line(scenario, Request(headers={"X-C": "bad\nvalue"}))


# ------------------------------------------------------------------ through wrk and the Lua script
class RecordingServer:
    """A minimal HTTP/1.1 server on a thread that keeps every request body it receives."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                self.paths.append(lines[0].split(" ")[1])
                length = next((int(v) for k, _, v in (x.partition(": ") for x in lines) if k.lower() == "content-length"), 0)
                self.bodies.append(await reader.readexactly(length) if length else b"")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_bodies_reach_the_server_byte_for_byte_and_single_use_lines_are_split_per_thread(tmp_path):
    tricky = 'tab\there, line\nbreak, back\\slash, 中文, nul\0'
    scenario = Scenario(name="echo", method="POST", path="/echo")
    requests = [Request(body=tricky.encode()), Request(path="/second", body={"中": "文\t"})]
    file = tmp_path / "echo.requests"
    wrk.write_requests(file, scenario, requests)
    with RecordingServer() as server:
        result = wrk.run(
            base_url=f"http://127.0.0.1:{server.port}", requests_file=file, duration=1, connections=2, threads=2,
            partition=True,
        )
    assert result.requests > 0 and result.status_errors == 0
    assert set(server.bodies) == {tricky.encode(), '{"中":"文\\t"}'.encode()}
    assert set(server.paths) == {"/echo", "/second"}


@pytest.mark.skipif(shutil.which("perf") is None, reason="perf (Debian linux-perf) is not installed")
def test_instruction_counts_come_apart_for_a_process_and_its_helpers():
    import subprocess
    import sys
    import time

    from bench import counters

    busy = "import subprocess, sys; c = subprocess.Popen([sys.executable, '-c', 'while True: sum(range(1000))']);"
    parent = subprocess.Popen([sys.executable, "-c", busy + " import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while not counters.children(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        counting = counters.start(parent.pid)
        time.sleep(0.5)
        counts = counting.stop()
    finally:
        for child in counters.children(parent.pid):
            subprocess.run(["kill", str(child)], check=False)
        parent.kill()
        parent.wait()
    if not counts:
        pytest.skip("perf cannot count instructions on this machine")
    assert counts["helpers"] > 50 * counts["service"]  # the busy child, not the sleeping parent
    assert counts["helpers"] > 10_000_000
