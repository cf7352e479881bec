"""`--instructions`: count the CPU instructions the service executes while a scenario is measured.

CPU seconds per request move with whatever else the machine runs (caches, frequency, a busy
sibling core); instructions per request barely do, so two versions of a handler can be compared
on a busy machine. Counted with Linux `perf stat` (Debian's linux-perf) on the service process,
all its threads, and apart on its helper processes (the LC1 verifier), user and kernel mode.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path


def perf() -> str | None:
    return shutil.which("perf")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return found


@dataclass
class Counting:
    """perf stat runs, one per group of processes, until stop()."""

    groups: dict[str, subprocess.Popen[str]]

    def stop(self) -> dict[str, int]:
        """Instructions per group ('service', 'helpers'); a group perf could not count is left out."""
        counts: dict[str, int] = {}
        for name, process in self.groups.items():
            process.send_signal(signal.SIGINT)
            try:
                _, report = process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                continue
            # CSV lines (-x,): value,unit,event,...; "<not counted>" when the processes never ran
            # in the window, "<not supported>" when this machine cannot count (left out)
            for line in report.splitlines():
                value, _, rest = line.partition(",")
                if ",instructions" not in "," + rest:
                    continue
                if value.strip().isdigit():
                    counts[name] = int(value)
                elif value.strip() == "<not counted>":
                    counts[name] = 0
        return counts


def start(pid: int) -> Counting:
    binary = perf()
    if binary is None:
        raise SystemExit("--instructions needs perf: `apt-get install -y linux-perf`")
    groups = {"service": [pid], "helpers": children(pid)}
    return Counting({
        name: subprocess.Popen(
            [binary, "stat", "-x", ",", "-e", "instructions", "-p", ",".join(map(str, pids))],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for name, pids in groups.items() if pids
    })
