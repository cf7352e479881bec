"""`python -m app <command>`: serve, migrate, and the operator commands.

Each command is a function taking the parsed arguments; build_parser() lists them.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from tortoise.exceptions import DBConnectionError

from app.config import ConfigError, Settings, load_settings
from app.db import DamagedSqliteFile

SQLITE_SWITCH_INTERVAL = 0.0005  # seconds; Python's default is 0.005


def _with_orm(settings: Settings, work: Callable[[], Awaitable[Any]]) -> Any:
    """Run `work` with the ORM initialised (after applying migrations on SQLite)."""

    async def run() -> Any:
        from tortoise import Tortoise

        from app.db import migrate, tortoise_config

        if settings.database.is_sqlite:
            await migrate(settings.database)
        await Tortoise.init(config=tortoise_config(settings.database))
        try:
            return await work()
        finally:
            await Tortoise.close_connections()

    return asyncio.run(run())


# --------------------------------------------------------------------------- commands
def cmd_serve(args: argparse.Namespace) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    # Workers are new processes that build the app from the environment, so overrides go there.
    for key, value in (("HOST", args.host), ("PORT", args.port), ("WORKERS", args.workers)):
        if value is not None:
            os.environ[f"APP_SERVICE_{key}"] = str(value)
    settings = load_settings()
    if settings.database.is_sqlite:
        from app.db import migrate

        asyncio.run(migrate(settings.database))
        # SQLite runs in aiosqlite's thread, which needs the GIL for every statement; with the
        # event loop busy it waited up to the default 5 ms switch interval each time.
        sys.setswitchinterval(SQLITE_SWITCH_INTERVAL)
    from app.factory import main_factory

    loader = AppLoader(factory=main_factory)
    app = loader.load()
    app.prepare(
        host=settings.service.host,
        port=settings.service.port,
        workers=settings.service.workers,
        single_process=settings.service.workers == 1,
        access_log=False,
        motd=False,
    )
    if settings.service.workers == 1:
        Sanic.serve_single(primary=app)
    else:
        Sanic.serve(primary=app, app_loader=loader)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.db import migrate

    asyncio.run(migrate(load_settings().database))
    print("migrations applied")
    return 0


def cmd_makemigrations(args: argparse.Namespace) -> int:
    from tortoise.cli.cli import run_cli_async

    os.environ.setdefault("APP_DATABASE_URL", "sqlite://var/makemigrations.sqlite3")
    argv = ["-c", "app.migrations_config.TORTOISE_ORM", "makemigrations", *args.labels]
    if args.name:
        argv += ["--name", args.name]
    return asyncio.run(run_cli_async(argv))


# Not APP_...: every APP_<SECTION>_<KEY> variable is a setting, and config refuses unknown ones.
OPERATOR_PASSWORD_VARIABLE = "OPERATOR_PASSWORD"


def cmd_create_operator(args: argparse.Namespace) -> int:
    settings = load_settings()
    password = args.password or os.environ.get(OPERATOR_PASSWORD_VARIABLE) or getpass.getpass("Password: ")

    async def work() -> int:
        from tortoise.exceptions import IntegrityError

        from app.services.identity.operators import create_operator

        try:
            user_id = await create_operator(
                username=args.username, password=password, blind_key=settings.security.blind_index_key
            )
        except ValueError as exc:  # the password rule
            print(f"not created: {exc}", file=sys.stderr)
            return 2
        except IntegrityError:
            print(f"not created: an operator named {args.username!r} exists already", file=sys.stderr)
            return 1
        print(f"operator {args.username!r} created (user id {user_id})")
        return 0

    return _with_orm(settings, work)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def work() -> int:
        from app.services.identity.audit import verify_chain

        report = await verify_chain()
        print(report.summary())
        return 0 if report.intact else 1

    return _with_orm(settings, work)


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Run every sandbox party as a standalone server (for multi-worker or multi-host set-ups).

    The licence feed pushes to APP_SERVICE_PUBLIC_BASE_URL (the service's address); payment notifies
    go to the notify URL each order names."""
    from sanic import Sanic

    from app.sandbox import create_sandbox_app

    os.environ["APP_SERVICE_PORT"] = str(args.port)
    settings = load_settings()
    app = create_sandbox_app(settings)
    app.prepare(host=args.host, port=args.port, single_process=True, motd=False, access_log=False)
    Sanic.serve_single(primary=app)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="Government services mini-program backend.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    make = sub.add_parser("makemigrations", help="write migrations for model changes (developers)")
    make.add_argument("labels", nargs="*", help="feature app labels, e.g. identity")
    make.add_argument("--name")
    make.set_defaults(func=cmd_makemigrations)

    operator = sub.add_parser("create-operator", help="create an operator account for the console")
    operator.add_argument("username")
    operator.add_argument("--password", help=f"default: ${OPERATOR_PASSWORD_VARIABLE} or a prompt")
    operator.set_defaults(func=cmd_create_operator)

    sub.add_parser("audit-verify", help="check the audit log's hash chain").set_defaults(func=cmd_audit_verify)

    sandbox = sub.add_parser("sandbox", help="run the outside parties' sandboxes standalone")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=9100)
    sandbox.set_defaults(func=cmd_sandbox)

    for register in FEATURE_COMMANDS:
        register(sub)
    return parser


def _feature_commands() -> list[Callable[[Any], None]]:
    """Commands that features contribute: each module has register(subparsers)."""
    import importlib

    registered = []
    for module in (
        "app.services.catalogue.commands",
        "app.services.licences.commands",
        "app.services.payments.commands",
    ):
        try:
            registered.append(importlib.import_module(module).register)
        except ModuleNotFoundError as exc:
            if not (exc.name and module.startswith(exc.name)):
                raise
    return registered


FEATURE_COMMANDS = _feature_commands()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except DamagedSqliteFile as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 1
    except (sqlite3.DatabaseError, DBConnectionError, ConnectionError) as exc:
        # A store cannot be reached or read (not a database, connection refused): say so and
        # exit, so a supervisor sees the failure instead of a process that serves nothing.
        print(f"could not reach or read a data store: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
