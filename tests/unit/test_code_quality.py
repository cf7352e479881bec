"""The project's own rules, checked with every test run: ruff lint and mypy on app/ and handlers/."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    result = run("ruff", "check", "--quiet", "app", "handlers", "models", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing_in_app_and_handlers():
    result = run("mypy", "--no-error-summary")
    assert result.returncode == 0, result.stdout + result.stderr
