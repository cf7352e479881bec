"""The mini-program's and the console's own JavaScript tests (node's built-in runner, no packages)."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_node_tests(folder: str) -> str:
    node = shutil.which("node")
    assert node, "node (20 or newer) is needed for the front-end tests"
    result = subprocess.run(
        [node, "--test", folder], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def test_mini_program():
    output = run_node_tests("miniprogram/tests/")
    assert "# fail 0" in output


def test_operator_console():
    output = run_node_tests("app/console/tests/")
    assert "# fail 0" in output
