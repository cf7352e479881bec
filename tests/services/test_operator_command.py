"""`python -m app create-operator NAME` takes the password from the environment variable its
--help names, which must not be one the settings loader claims (APP_<SECTION>_<KEY>)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import OPERATOR_PASSWORD_VARIABLE, build_parser
from app.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_help_names_a_variable_the_settings_leave_alone(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["create-operator", "--help"])
    assert f"${OPERATOR_PASSWORD_VARIABLE} " in capsys.readouterr().out
    load_settings(env={OPERATOR_PASSWORD_VARIABLE: "operator-password-1"})


def test_create_operator_reads_the_password_from_the_environment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env |= {"APP_DATABASE_URL": f"sqlite://{tmp_path}/ops.sqlite3", OPERATOR_PASSWORD_VARIABLE: "operator-password-1"}
    done = subprocess.run([sys.executable, "-m", "app", "create-operator", "alice"], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "operator 'alice' created" in done.stdout
    with sqlite3.connect(tmp_path / "ops.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM operator_credentials WHERE username = 'alice'").fetchone() == (1,)


def test_create_operator_refuses_short_passwords_and_taken_names_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env |= {"APP_DATABASE_URL": f"sqlite://{tmp_path}/ops.sqlite3"}

    def create(name: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app", "create-operator", name, "--password", password],
                              cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)

    short = create("bob", "short")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr and "Traceback" not in short.stderr
    assert create("bob", "operator-password-1").returncode == 0
    again = create("bob", "operator-password-2")
    assert again.returncode == 1 and "exists already" in again.stderr and "Traceback" not in again.stderr
