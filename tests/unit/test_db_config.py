"""How the service connects to its database."""

from app.config import DatabaseSettings
from app.db import PooledConnection, tortoise_config


def settings(url: str) -> DatabaseSettings:
    return DatabaseSettings(url=url, pool_max_size=7)


def test_postgres_connections_skip_the_reset_round_trip_on_release():
    connection = tortoise_config(settings("postgres://app@db.internal:5432/gov"))["connections"]["default"]
    assert connection["engine"] == "tortoise.backends.asyncpg"
    credentials = connection["credentials"]
    assert credentials["connection_class"] is PooledConnection
    assert (credentials["host"], credentials["database"], int(credentials["maxsize"])) == ("db.internal", "gov", 7)
    assert PooledConnection.get_reset_query(None) == ""  # type: ignore[arg-type]


def test_sqlite_keeps_its_url_with_normal_sync():
    connection = tortoise_config(settings("sqlite://var/app.sqlite3"))["connections"]["default"]
    assert connection == "sqlite://var/app.sqlite3?synchronous=NORMAL"
