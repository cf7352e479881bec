"""Tortoise ORM configuration: one app label per feature, each with its own migrations."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.sqlite import executor as _sqlite_executor  # noqa: F401  (registers its adapters first)
from tortoise.exceptions import DBConnectionError

from app.config import DatabaseSettings

# Every table's id is a BigIntField: a signed 64-bit integer. A larger number names no row, and
# neither SQLite nor asyncpg will take it as a parameter (OverflowError), so lookups check first.
MAX_ID = 2**63 - 1


def _utc_text(value: datetime) -> str:
    return (value.astimezone(UTC) if value.tzinfo is not None else value).isoformat(" ")


# SQLite keeps a time as text and compares it as text, so every stored time must be in one
# offset: a channel's +08:00 success_time written as given sorted after UTC bounds it was
# earlier than (a Beijing day's reconciliation lost its last eight hours). Tortoise's own
# adapter writes the offset a value came with; this one, registered after it, writes UTC.
sqlite3.register_adapter(datetime, _utc_text)

# label -> models module. Migrations live in models/migrations/<label>/.
FEATURE_APPS = {
    "identity": "models.identity",
    "catalogue": "models.catalogue",
    "licences": "models.licences",
    "payments": "models.payments",
}


def _installed_apps() -> dict[str, str]:
    import importlib.util

    # A feature counts once it has both its models and its migrations package.
    return {
        label: module
        for label, module in FEATURE_APPS.items()
        if importlib.util.find_spec(module) and importlib.util.find_spec(f"models.migrations.{label}")
    }


def raw_sql(connection: BaseDBAsyncClient, text: str) -> str:
    """Raw SQL for the few hot paths where the ORM's CPU mattered, written once with `?`
    markers and given to this connection in its own style ($1, $2, ... on PostgreSQL). Values
    always go as parameters; `?` must not appear in the text otherwise."""
    if not is_postgres(connection):
        return text
    numbers = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(numbers)}", text)


def markers(count: int) -> str:
    """`?, ?, ?` for an IN list of `count` values."""
    return ", ".join("?" * count)


def is_postgres(connection: BaseDBAsyncClient) -> bool:
    return connection.capabilities.dialect == "postgres"


def text_in(connection: BaseDBAsyncClient, values: list[str]) -> tuple[str, list[Any]]:
    """A condition and its parameters for `column <condition>`, one of `values`: on PostgreSQL
    `= ANY($1::text[])`, one prepared plan for any count; elsewhere an IN list."""
    if is_postgres(connection):
        return "= ANY($1::text[])", [values]
    return f"IN ({markers(len(values))})", list(values)


async def insert_rows(
    connection: BaseDBAsyncClient, table: str, columns: dict[str, str], rows: Sequence[Sequence[Any]], *, suffix: str = ""
) -> None:
    """Insert many rows in one statement (atomic on its own). `columns` maps each column to its
    PostgreSQL type: there every column goes as one array, through `unnest`, which is one
    prepared plan for any count and about half the client CPU of executemany (asyncpg encodes
    and sends a Bind per row). `suffix` follows the rows (e.g. an ON CONFLICT clause)."""
    if not rows:
        return
    names = ", ".join(columns)
    if is_postgres(connection):
        arrays = ", ".join(f"${number}::{kind}[]" for number, kind in enumerate(columns.values(), start=1))
        text = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {suffix}"  # noqa: S608
        await connection.execute_query(text, [list(column) for column in zip(*rows, strict=True)])
        return
    one_row = f"({markers(len(columns))})"
    text = f"INSERT INTO {table} ({names}) VALUES {', '.join([one_row] * len(rows))} {suffix}"  # noqa: S608
    await connection.execute_query(text, [value for row in rows for value in row])


# The database did not answer, or not in time: nothing about the request was wrong.
_OUTAGES: tuple[type[BaseException], ...] = (
    DBConnectionError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08: the connection failed or broke
    asyncpg.ConnectionDoesNotExistError,  # the server closed it mid-query
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
)
_SQLITE_OUTAGES = ("locked", "busy", "unable to open", "disk i/o")
# asyncpg's InterfaceError when the connection broke between the pool handing it out and the
# query: a lost connection detaches the pool's proxy ("released back to the pool") or closes it.
_ASYNCPG_LOST = ("connection has been released back to the pool", "connection is closed")


def is_database_outage(error: BaseException) -> bool:
    """The database was unreachable, shut down, overloaded or (SQLite) locked, rather than the
    statement being wrong: such a request may simply be tried again."""
    if isinstance(error, _OUTAGES):
        return True
    if isinstance(error, asyncpg.InterfaceError) and any(sign in str(error) for sign in _ASYNCPG_LOST):
        return True
    return isinstance(error, sqlite3.OperationalError) and any(sign in str(error).lower() for sign in _SQLITE_OUTAGES)


def outage_in(
    error: BaseException, is_outage: Callable[[BaseException], bool] = is_database_outage
) -> BaseException | None:
    """The outage behind `error`, if any: the ORM wraps driver errors, so the cause chain is read."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return None
        if is_outage(seen):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """asyncpg sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` each
    time a connection goes back to the pool: a round trip after every query outside a
    transaction. The service never leaves session state behind (no SET, LISTEN, session-level
    advisory locks or held cursors), so there is nothing to reset."""

    def get_reset_query(self) -> str:
        return ""


def tortoise_config(database: DatabaseSettings) -> dict[str, Any]:
    url = database.url
    if url.startswith(("postgres://", "postgresql://")):
        url = "asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://"):
        _release_sqlite_lock_when_begin_fails()
    _release_connection_lock_when_connect_fails()
    _restore_task_connection_when_begin_fails()
    if url.startswith("sqlite://") and "synchronous=" not in url:
        # WAL (Tortoise's default) with NORMAL sync survives a crash of the process; only an OS
        # crash can lose the last commits. The embedded default is for one process; production
        # runs on PostgreSQL.
        url += ("&" if "?" in url else "?") + "synchronous=NORMAL"
    if url.startswith("asyncpg://") and "maxsize=" not in url:
        url += ("&" if "?" in url else "?") + f"maxsize={database.pool_max_size}"
    connection: str | dict[str, Any] = url
    if url.startswith("asyncpg://"):
        connection = expand_db_url(url)
        connection["credentials"]["connection_class"] = PooledConnection
    return {
        "connections": {"default": connection},
        "apps": {
            label: {
                "models": [module],
                "default_connection": "default",
                "migrations": f"models.migrations.{label}",
            }
            for label, module in _installed_apps().items()
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _release_sqlite_lock_when_begin_fails() -> None:
    """Work around Tortoise 1.1.9: its SQLite transaction takes the connection's only lock, then
    awaits BEGIN. A task cancelled there (Sanic cancels the handler of a client that hung up)
    never gives the lock back and every later query waits for ever. Enter the same way, but on
    any failure roll back whatever BEGIN started in aiosqlite's thread and release the lock."""
    from tortoise.backends.sqlite.client import SqliteTransactionContext
    from tortoise.connection import get_connections

    if getattr(SqliteTransactionContext, "_releases_lock_when_begin_fails", False):
        return

    async def enter(self: Any) -> Any:
        await self._trxlock.acquire()
        token = None
        try:
            await self.ensure_connection()
            token = get_connections().set(self.connection_name, self.connection)
            await self.connection.begin()
        except BaseException:
            try:
                if self.connection._connection is not None:
                    await self.connection._connection.rollback()
            finally:
                if token is not None:
                    get_connections().reset(token)
                self._trxlock.release()
            raise
        self.token = token
        return self.connection

    SqliteTransactionContext.__aenter__ = enter  # type: ignore[method-assign]
    SqliteTransactionContext._releases_lock_when_begin_fails = True  # type: ignore[attr-defined]


def _release_connection_lock_when_connect_fails() -> None:
    """Work around Tortoise 1.1.9: a query on a client not yet connected takes the connection's
    lock, then connects. When connecting fails (a file that is not a database, a directory it
    may not write to) the lock is never given back, and the next query, or closing the client,
    waits for ever: `python -m app serve` hung at start instead of exiting with the error."""
    from tortoise.backends.base.client import ConnectionWrapper

    if getattr(ConnectionWrapper, "_releases_lock_when_connect_fails", False):
        return

    async def enter(self: Any) -> Any:
        await self._lock.acquire()
        try:
            await self.ensure_connection()
        except BaseException:
            self._lock.release()
            raise
        return self.connection

    ConnectionWrapper.__aenter__ = enter  # type: ignore[method-assign]
    ConnectionWrapper._releases_lock_when_connect_fails = True  # type: ignore[attr-defined]


def _restore_task_connection_when_begin_fails() -> None:
    """Work around Tortoise 1.1.9: a pooled (PostgreSQL) transaction makes itself the task's
    connection (a context variable), then awaits BEGIN. When BEGIN fails (PostgreSQL cut just
    then) or is cancelled, nothing undoes that: the task keeps the broken transaction, and every
    later query in it fails with "connection has been released back to the pool" long after
    PostgreSQL is back; in Sanic, every later request on that keep-alive connection and the tasks
    they start (health check, batch runners). A cancelled BEGIN also kept the pooled connection
    for ever. Same steps, but undo both on failure; and on leaving, restore the task's connection
    before the release, which may raise."""
    from tortoise.backends.base.client import TransactionContextPooled
    from tortoise.connection import get_connections
    from tortoise.exceptions import TransactionManagementError

    if getattr(TransactionContextPooled, "_restores_task_connection", False):
        return

    async def enter(self: Any) -> Any:
        await self.ensure_connection()
        pool = self.client._parent._pool
        self.client._connection = await pool.acquire()
        self.token = get_connections().set(self.connection_name, self.client)
        try:
            await self.client.begin()
        except BaseException:
            get_connections().reset(self.token)
            # asyncpg rolls back or terminates what it cannot reset; the BEGIN error is the news.
            with contextlib.suppress(Exception):
                await pool.release(self.client._connection)
            raise
        return self.client

    async def leave(self: Any, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        try:
            if not self.client._finalized:
                if exc_type:
                    # Can't roll back a transaction that already failed.
                    if exc_type is not TransactionManagementError:
                        await self.client.rollback()
                else:
                    await self.client.commit()
        finally:
            get_connections().reset(self.token)
            if self.client._parent._pool:
                await self.client._parent._pool.release(self.client._connection)

    TransactionContextPooled.__aenter__ = enter  # type: ignore[method-assign]
    TransactionContextPooled.__aexit__ = leave  # type: ignore[method-assign]
    TransactionContextPooled._restores_task_connection = True  # type: ignore[attr-defined]


async def migrate(database: DatabaseSettings) -> None:
    """Apply every pending migration of every feature; on SQLite, after checking the whole file
    (every command that opens the store comes through here, `serve` included)."""
    from tortoise import Tortoise
    from tortoise.migrations.api.migrate import migrate as run_migrations

    if database.is_sqlite:
        _ensure_sqlite_dir(database.url)
        path = sqlite_file(database.url)
        if path is not None and path.exists():
            await asyncio.to_thread(check_sqlite_file, path)
    try:
        await run_migrations(config=tortoise_config(database))
    finally:
        await Tortoise.close_connections()


def _ensure_sqlite_dir(url: str) -> None:
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def sqlite_file(url: str) -> Path | None:
    """The file a `sqlite://` URL names (None for an in-memory database)."""
    path = url.split("://", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


# The health check's read: a real table, whose pages must be read. `SELECT 1` reads none, so it
# answered on a database file damaged beyond use.
HEALTH_READ = "SELECT 1 FROM tortoise_migrations LIMIT 1"


class DamagedSqliteFile(sqlite3.DatabaseError):
    """The SQLite file is not a database, or some of its pages are damaged. Nothing in the
    service repairs a file, and writing to it can spread the damage."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"the SQLite database file {path.resolve()} is damaged ({problem}); stop every process "
            "using it and restore it from a backup"
        )


# SQLite's result codes for a damaged file, as opposed to one it could not open or lock.
_DAMAGE_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def check_sqlite_file(path: Path) -> None:
    """Read every page of the file (`PRAGMA quick_check`: 0.2-1.5 s for the 100 MB demo
    catalogue) through a fresh read-only connection; raises DamagedSqliteFile when it is damaged.
    Before migrating or serving: a damaged page met later fails a start half-way or a request."""
    try:
        with contextlib.closing(sqlite3.connect(_read_only_uri(path), uri=True)) as connection:
            _quick_check(connection, path)
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, DamagedSqliteFile) or getattr(exc, "sqlite_errorcode", None) not in _DAMAGE_CODES:
            raise
        raise DamagedSqliteFile(path, str(exc)) from exc


def _quick_check(connection: sqlite3.Connection, path: Path) -> None:
    problems = [row[0] for row in connection.execute("PRAGMA quick_check(1)")]
    if problems != ["ok"]:
        raise DamagedSqliteFile(path, "quick_check: " + " ".join(problems[0].split()))


def _read_only_uri(path: Path) -> str:
    return path.resolve().as_uri() + "?mode=ro"


class SqliteFileCheck:
    """Whether the SQLite file itself can be read, through a fresh read-only connection: the
    service's own connection answers from its page cache, which hides a file damaged under it.

    The first check reads every page (the same quick_check as at start, off the event loop at
    the first /healthz, which also covers a service started without `python -m app serve`);
    damage found then is remembered, as nothing in the process repairs a file. Later checks
    parse the schema and read one table (1-2 ms, off the event loop), at most once a second per
    worker (handlers/service.py reuses each answer)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._whole_file_read = False
        self._damage: str | None = None

    async def __call__(self) -> None:
        """Raises sqlite3.Error when the file cannot be read."""
        await asyncio.to_thread(self._read)

    def _read(self) -> None:
        if self._damage is not None:
            raise sqlite3.DatabaseError(self._damage)
        with contextlib.closing(sqlite3.connect(_read_only_uri(self._path), uri=True)) as connection:
            if not self._whole_file_read:
                self._whole_file_read = True
                try:
                    _quick_check(connection, self._path)
                except DamagedSqliteFile as damage:
                    self._damage = str(damage)
                    raise
            connection.execute(HEALTH_READ).fetchall()
