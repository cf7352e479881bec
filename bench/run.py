"""Benchmark the service against a bare Sanic reference on this machine, in one run.

    python bench/run.py [--duration S] [--connections N] [--threads T] [--only name,...]
                        [--database sqlite|postgres] [--markdown]

Starts the service with one worker (fresh SQLite under var/bench/, or PostgreSQL database
`bench` + Redis db 9), the outside parties' sandbox in a process of its own, and bench/bare_app.py, measures every scenario of bench/scenarios/*.py
with wrk, the reference at the start and the end, and prints requests/s, p50, p99, the ratio
to the reference and the verdict against each target. The same goes to
var/bench/results-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import math
import os
import pkgutil
import platform
import sys
import traceback
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench import counters, profile, wrk
from bench.harness import BenchContext, Request, Scenario, call_hook
from bench.servers import (
    BENCH_VAR,
    BareProcess,
    SandboxProcess,
    ServiceProcess,
    reset_postgres_and_redis,
    service_env,
)

REFERENCE = "reference"
MAX_SINGLE_USE = 200_000
ERROR_TOLERANCE = 0.01  # more failed answers than this and the numbers mean nothing


@dataclass
class Outcome:
    scenario: str
    feature: str
    method: str
    path: str
    note: str
    connections: int
    target: str
    rps: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    requests: int | None = None
    cpu_us_per_request: float | None = None  # server CPU time (all threads, helper processes) per answered request
    loop_cpu_us_per_request: float | None = None  # the event-loop thread's share: what bounds one worker
    sandbox_cpu_us_per_request: float | None = None  # the outside parties' share, not billed to the service
    # --instructions: thousands of instructions per request, the service process and its helpers
    kilo_instructions_per_request: float | None = None
    helper_kilo_instructions_per_request: float | None = None
    socket_errors: int = 0
    status_errors: int = 0
    ratio: float | None = None
    reference_rps: float | None = None  # the reference this row's ratio is taken against
    target_ratio: float | None = None
    target_p99_ms: float | None = None
    verdict: str = "-"
    error: str | None = None
    profile: dict[str, Any] | None = None


# ---------------------------------------------------------------------------- discovery
def load_scenarios(ctx: BenchContext, only: set[str]) -> tuple[list[Scenario], list[Outcome]]:
    """Every bench/scenarios/<feature>.py, foundation first; a module that fails to load is
    reported as a failed row instead of stopping the run."""
    import bench.scenarios as package

    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))
    names.sort(key=lambda name: name != "foundation")
    found: list[Scenario] = []
    broken: list[Outcome] = []
    for name in names:
        try:
            module = importlib.import_module(f"bench.scenarios.{name}")
            listed = list(module.scenarios(ctx))
        except Exception as exc:  # one feature's broken module must not hide the others
            broken.append(Outcome(name, name, "", "", "", 0, "-", verdict="error", error=_short(exc)))
            continue
        for scenario in listed:
            scenario.feature = scenario.feature or name
            if not only or scenario.name in only or name in only:
                found.append(scenario)
    return found, broken


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()[:500]


# ---------------------------------------------------------------------------- measuring
class Runner:
    def __init__(self, args: argparse.Namespace, ctx: BenchContext, bare: BareProcess, run_dir: Path):
        self.args = args
        self.ctx = ctx
        self.bare = bare
        self.run_dir = run_dir

    async def measure(self, scenario: Scenario) -> Outcome:
        connections = scenario.connections or self.args.connections
        duration = scenario.duration or self.args.duration
        outcome = Outcome(
            scenario.name, scenario.feature, scenario.method, scenario.path, scenario.note, connections,
            scenario.target_text(), target_ratio=scenario.target_ratio, target_p99_ms=scenario.target_p99_ms,
        )
        print(f"-- {scenario.name} ({scenario.feature}): {scenario.method} {scenario.path}", flush=True)
        try:
            await call_hook(scenario.setup, self.ctx)
            base_url = self.bare.base_url if scenario.server == "bare" else self.ctx.base_url
            result = await self._run(scenario, base_url, connections, duration, outcome)
        except Exception as exc:
            traceback.print_exc()
            outcome.verdict, outcome.error = "error", _short(exc)
            return outcome
        finally:
            try:
                await call_hook(scenario.teardown, self.ctx)
            except Exception:
                traceback.print_exc()
        outcome.rps = round(result.rps, 1)
        outcome.p50_ms, outcome.p90_ms, outcome.p99_ms, outcome.max_ms = (
            result.p50_ms, result.p90_ms, result.p99_ms, result.max_ms,
        )
        outcome.requests = result.requests
        outcome.socket_errors, outcome.status_errors = result.socket_errors, result.status_errors
        print(
            f"   {result.rps:,.0f} req/s  p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms"
            f"  CPU {outcome.cpu_us_per_request or 0:,.0f} µs/req (event loop {outcome.loop_cpu_us_per_request or 0:,.0f},"
            f" sandbox {outcome.sandbox_cpu_us_per_request or 0:,.0f})"
            + (f"  k instructions/req {outcome.kilo_instructions_per_request:,.0f}"
               f" (+ helpers {outcome.helper_kilo_instructions_per_request or 0:,.0f})"
               if outcome.kilo_instructions_per_request is not None else "")
            + f"  errors {result.socket_errors} socket / {result.status_errors} status",
            flush=True,
        )
        return outcome

    async def _run(
        self, scenario: Scenario, base_url: str, connections: int, duration: float, outcome: Outcome
    ) -> wrk.WrkResult:
        file = self.run_dir / f"{scenario.feature}-{_slug(scenario.name)}.requests"
        profile_to = (
            self.run_dir / f"{scenario.feature}-{_slug(scenario.name)}.pyspy.txt"
            if self.args.profile and scenario.server == "service" else None
        )
        generator = Path(scenario.lua) if scenario.lua else None
        warmup = self.args.warmup
        if scenario.single_use:
            # Warm up on a first batch, then size the measured batch from the rate seen.
            first = await self._requests(scenario, max(connections * 10, 500))
            wrk.write_requests(file, scenario, first)
            seen = await self._wrk(base_url, file, max(warmup, 2), connections, partition=True)
            # Answers to used-up requests come back faster than real ones: counting them
            # overestimates the rate, which errs on the safe side.
            wanted = max(len(first), math.ceil(seen.rps * duration * 1.5) + connections * 4)
            wanted = min(MAX_SINGLE_USE, wanted)
            wrk.write_requests(file, scenario, await self._requests(scenario, wanted))
            return await self._measured(outcome, profile_to, base_url, file, duration, connections, partition=True)
        requests = await self._requests(scenario, connections * 4) if scenario.requests is not None else None
        if generator is None:
            wrk.write_requests(file, scenario, requests)
            await self._smoke(scenario, base_url, requests[0] if requests else None)
        else:
            file = None if requests is None else file
            if file is not None:
                wrk.write_requests(file, scenario, requests)
        if warmup > 0:
            await self._wrk(base_url, file, warmup, connections, generator=generator)
        return await self._measured(outcome, profile_to, base_url, file, duration, connections, generator=generator)

    async def _measured(
        self, outcome: Outcome, profile_to: Path | None, base_url: str, file: Path | None, duration: float,
        connections: int, **options: Any,
    ) -> wrk.WrkResult:
        """The timed wrk run, with py-spy sampling the service meanwhile when --profile is on."""
        bare = base_url == self.bare.base_url
        cpu_seconds = self.bare.cpu_seconds if bare else self.ctx.service_cpu_seconds
        loop_seconds = self.bare.loop_cpu_seconds if bare else self.ctx.service_loop_cpu_seconds
        cpu_before, loop_before, sandbox_before = cpu_seconds(), loop_seconds(), self.ctx.sandbox_cpu_seconds()
        service_pid = self.ctx.service_pid
        sampler = profile.start(service_pid, duration - 1, profile_to) if profile_to and service_pid else None
        counted_pid = self.bare.pid if bare else service_pid
        counting = counters.start(counted_pid) if self.args.instructions and counted_pid else None
        try:
            result = await self._wrk(base_url, file, duration, connections, **options)
        finally:
            if sampler is not None:
                await asyncio.to_thread(sampler.wait, 60)
            counted = await asyncio.to_thread(counting.stop) if counting is not None else {}
        if result.requests and "service" in counted:
            outcome.kilo_instructions_per_request = round(counted["service"] / result.requests / 1000, 1)
            outcome.helper_kilo_instructions_per_request = round(counted.get("helpers", 0) / result.requests / 1000, 1)
        cpu_after, loop_after, sandbox_after = cpu_seconds(), loop_seconds(), self.ctx.sandbox_cpu_seconds()
        if cpu_before is not None and cpu_after is not None and result.requests:
            outcome.cpu_us_per_request = round((cpu_after - cpu_before) / result.requests * 1e6, 1)
        if loop_before is not None and loop_after is not None and result.requests:
            outcome.loop_cpu_us_per_request = round((loop_after - loop_before) / result.requests * 1e6, 1)
        if sandbox_before is not None and sandbox_after is not None and result.requests:
            outcome.sandbox_cpu_us_per_request = round((sandbox_after - sandbox_before) / result.requests * 1e6, 1)
        if sampler is None or profile_to is None:
            return result
        breakdown = profile.summarise(profile_to)
        print(profile.format_breakdown(breakdown), flush=True)
        outcome.profile = asdict(breakdown)
        return result

    async def _requests(self, scenario: Scenario, count: int) -> list[Request] | None:
        source = scenario.requests
        if source is None:
            return None
        if callable(source):
            made = source(self.ctx, count)
            source = await made if asyncio.iscoroutine(made) else made
        listed = list(source)
        if not listed:
            raise RuntimeError("the scenario's request factory returned no requests")
        return listed

    async def _smoke(self, scenario: Scenario, base_url: str, request: Request | None) -> None:
        """One request through httpx first: a scenario answering errors is reported, not timed."""
        request = request or Request()
        headers = {**scenario.headers, **request.headers}
        body = request.body if request.body is not None else scenario.body
        kwargs: dict[str, Any] = {"headers": headers}
        if isinstance(body, (bytes, str)):
            kwargs["content"] = body
        elif body is not None:
            kwargs["json"] = body
        async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as client:
            response = await client.request(request.method or scenario.method, request.path or scenario.path, **kwargs)
        if response.status_code >= 400 and not scenario.expect_errors:
            if response.status_code == 503 and scenario.server == "service":
                await self._dump_stacks(scenario)
            raise RuntimeError(f"first request answered {response.status_code}: {response.text[:300]}")

    async def _dump_stacks(self, scenario: Scenario) -> None:
        """A 503 is usually Sanic's response timeout: keep where the service is stuck."""
        pid = self.ctx.service_pid
        if pid is None or profile.py_spy() is None:
            return
        stacks = await asyncio.to_thread(profile.dump, pid)
        target = self.run_dir / f"{scenario.feature}-{_slug(scenario.name)}.stacks.txt"
        target.write_text(stacks)
        print(f"   the service's stacks are in {target}", flush=True)

    async def _wrk(
        self, base_url: str, file: Path | None, duration: float, connections: int, *,
        partition: bool = False, generator: Path | None = None,
    ) -> wrk.WrkResult:
        return await asyncio.to_thread(
            wrk.run, base_url=base_url, requests_file=file, duration=duration, connections=connections,
            threads=self.args.threads, partition=partition, generator=generator,
        )


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")


def judge(outcome: Outcome, reference_rps: float | None, expect_errors: bool) -> None:
    if outcome.error is not None or outcome.rps is None:
        return
    if reference_rps:
        outcome.ratio = round(outcome.rps / reference_rps, 4)
    if not outcome.requests:
        outcome.verdict = "FAIL (no answers)"
        return
    failed_share = (outcome.socket_errors + outcome.status_errors) / max(outcome.requests or 0, 1)
    if failed_share > ERROR_TOLERANCE and not expect_errors:
        outcome.verdict = "FAIL (errors)"
        return
    checks = []
    if outcome.target_ratio is not None:
        checks.append(outcome.ratio is not None and outcome.ratio >= outcome.target_ratio)
    if outcome.target_p99_ms is not None:
        checks.append(outcome.p99_ms is not None and outcome.p99_ms <= outcome.target_p99_ms)
    if checks:
        outcome.verdict = "pass" if all(checks) else "FAIL"


def remove_sqlite_files(url: str) -> None:
    """The run's own SQLite database (with its WAL files): seeded datasets make it gigabytes."""
    if not url.startswith("sqlite://"):
        return
    path = Path(url.removeprefix("sqlite://").split("?", 1)[0])
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def reference_scenario(duration: float) -> Scenario:
    return Scenario(
        name=REFERENCE, path="/", server="bare", feature="reference", duration=duration,
        note="bare Sanic, constant JSON",
    )


def judge_all(rows: list[tuple[Scenario | None, Outcome]]) -> float | None:
    """Judge each scenario against the references measured just before and after its module;
    reference rows get their ratio to the mean of all of them (how much the machine drifted).
    Returns that overall mean."""
    references = [i for i, (scenario, _) in enumerate(rows) if scenario is None]
    rates = [rows[i][1].rps for i in references if rows[i][1].rps]
    overall = sum(rates) / len(rates) if rates else None
    for position, (scenario, outcome) in enumerate(rows):
        if scenario is None:
            judge(outcome, overall, False)
            continue
        before = max((i for i in references if i < position), default=None)
        after = min((i for i in references if i > position), default=None)
        around = [rows[i][1].rps for i in (before, after) if i is not None and rows[i][1].rps]
        outcome.reference_rps = round(sum(around) / len(around), 1) if around else overall
        judge(outcome, outcome.reference_rps, scenario.expect_errors)
    return overall


# ---------------------------------------------------------------------------- report
COLUMNS = ("scenario", "req/s", "p50 ms", "p99 ms", "ratio", "CPU µs/req", "target", "result")


def table_rows(outcomes: list[Outcome]) -> list[tuple[str, ...]]:
    def num(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    rows = []
    for o in outcomes:
        verdict = o.verdict if o.error is None else f"error: {o.error[:60]}"
        rows.append((
            o.scenario, num(o.rps, ",.0f"), num(o.p50_ms, ".2f"), num(o.p99_ms, ".2f"),
            "-" if o.ratio is None else f"{o.ratio:.1%}", num(o.cpu_us_per_request, ",.0f"), o.target, verdict,
        ))
    return rows


def print_table(outcomes: list[Outcome], *, markdown: bool) -> None:
    rows = table_rows(outcomes)
    if markdown:
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "|".join("---" for _ in COLUMNS) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    right = {1, 2, 3, 4, 5}
    for row in (COLUMNS, tuple("-" * w for w in widths), *rows):
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    import sanic

    return {
        "nproc": os.cpu_count(), "cpu": cpu, "platform": platform.platform(),
        "python": platform.python_version(), "sanic": sanic.__version__, "wrk": wrk.wrk_version(),
    }


# ---------------------------------------------------------------------------- main
async def run(args: argparse.Namespace) -> int:
    wrk.wrk_binary()
    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    run_id = started.strftime("%Y-%m-%dT%H%M%SZ")
    run_dir = BENCH_VAR / run_id
    run_dir.mkdir()
    sandbox = SandboxProcess(log_path=run_dir / "sandbox.log")
    sandbox.choose_port()
    env = service_env(args.database, run_id, sandbox.base_url)
    own_database = env["APP_DATABASE_URL"]
    env.update(dict(item.split("=", 1) for item in args.env))
    service = ServiceProcess(log_path=run_dir / "service.log", env=env)
    sandbox.serve_for(service)
    bare = BareProcess(log_path=run_dir / "bare.log")
    if args.database == "postgres":
        print("resetting PostgreSQL database `bench` and Redis db 9", flush=True)
        await asyncio.to_thread(reset_postgres_and_redis)
        await asyncio.to_thread(service.migrate)
    print(f"starting the sandbox, the service and the bare reference (logs in {run_dir})", flush=True)
    rows: list[tuple[Scenario | None, Outcome]] = []  # None: a reference row
    ctx: BenchContext | None = None
    try:
        await asyncio.to_thread(sandbox.start)
        await asyncio.to_thread(service.start)
        await asyncio.to_thread(bare.start)
        ctx = BenchContext(service, sandbox, connections=args.connections, duration=args.duration,
                           database=args.database)
        runner = Runner(args, ctx, bare, run_dir)
        only = set(filter(None, args.only.split(",")))
        scenarios, broken = load_scenarios(ctx, only)
        unknown = only - {s.name for s in scenarios} - {s.feature for s in scenarios} - {b.feature for b in broken}
        if unknown:
            print(f"no scenario or module named {', '.join(sorted(unknown))}", flush=True)
        rows.append((None, await runner.measure(reference_scenario(args.duration))))
        rows[-1][1].scenario = "reference (start)"
        for index, scenario in enumerate(scenarios):
            rows.append((scenario, await runner.measure(scenario)))
            module_done = index + 1 == len(scenarios) or scenarios[index + 1].feature != scenario.feature
            if module_done and index + 1 < len(scenarios):
                # Load on a shared machine drifts: re-measure the reference between modules.
                rows.append((None, await runner.measure(reference_scenario(min(args.duration, 5)))))
                rows[-1][1].scenario = f"reference (after {scenario.feature})"
        rows.append((None, await runner.measure(reference_scenario(args.duration))))
        rows[-1][1].scenario = "reference (end)"
    finally:
        if ctx is not None:
            await ctx.close()
        await asyncio.to_thread(bare.stop)
        await asyncio.to_thread(service.stop)
        await asyncio.to_thread(sandbox.stop)
        if not args.keep_data and env["APP_DATABASE_URL"] == own_database:
            remove_sqlite_files(own_database)  # a database given with --env is the caller's
    reference_rps = judge_all(rows)
    outcomes = [o for _, o in rows[:-1]] + broken + [rows[-1][1]]

    print()
    print(f"{started:%Y-%m-%d %H:%M} UTC, {args.database}, {args.duration:g}s per scenario, "
          f"{args.connections} connections, {args.threads} wrk thread(s); ratio = req/s / the mean of the "
          f"reference runs before and after the scenario's module (overall mean {reference_rps or 0:,.0f} req/s)")
    print_table(outcomes, markdown=args.markdown)
    report = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "database": args.database, "duration_s": args.duration, "connections": args.connections,
            "threads": args.threads, "warmup_s": args.warmup, "service_workers": 1, "extra_env": args.env,
        },
        "reference_rps": reference_rps,
        "results": [asdict(o) for o in outcomes],
    }
    output = BENCH_VAR / f"results-{run_id}.json"
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten to {output.relative_to(Path.cwd()) if output.is_relative_to(Path.cwd()) else output}")
    return 1 if any(o.verdict.startswith(("FAIL", "error")) for o in outcomes) else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds measured per scenario (default 10)")
    parser.add_argument("--connections", type=int, default=50, help="concurrent connections (default 50)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before each scenario (default 2)")
    parser.add_argument("--only", default="", help="comma-separated scenario or feature names")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--keep-data", action="store_true", help="keep the run's SQLite database under var/bench/")
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE",
        help="extra environment for the service, e.g. APP_DATABASE_POOL_MAX_SIZE=20 (repeatable)",
    )
    parser.add_argument(
        "--instructions", action="store_true",
        help="count the service's CPU instructions per request with perf stat (steady on a busy machine)",
    )
    parser.add_argument(
        "--profile", action="store_true",
        help="sample the service with py-spy during each scenario and print where the time goes",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.instructions and counters.perf() is None:
        raise SystemExit("--instructions needs perf: `apt-get install -y linux-perf`")
    if args.profile and profile.py_spy() is None:
        raise SystemExit("--profile needs py-spy: `pip install py-spy` (it is not a service dependency)")
    os.chdir(Path(__file__).resolve().parent.parent)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
