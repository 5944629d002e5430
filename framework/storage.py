"""The database: SQLite (WAL) under the data root by default, any SQLAlchemy async URL otherwise.

SQLAlchemy 2 Core with aiosqlite: queries run in aiosqlite's thread, never on the event loop.
Plugins own their tables: they declare ``sqlalchemy.Table`` objects on their own ``MetaData``
and register :class:`Migration` steps through the ``register_migrations`` hook. Each step runs
once, in version order, inside a transaction, and is recorded in ``schema_migrations``.
The same code speaks PostgreSQL given ``[bot] database_url = "postgresql+asyncpg://…"``.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

metadata = sa.MetaData()
schema_migrations = sa.Table(
    "schema_migrations", metadata,
    sa.Column("plugin", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
)

plugin_guild_state = sa.Table(
    "plugin_guild_state", metadata,
    sa.Column("plugin", sa.String(100), primary_key=True),
    sa.Column("guild_id", sa.BigInteger, primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
)
"""Per-guild plugin switches set from Discord (``/plugins disable NAME scope:server``)."""


@dataclasses.dataclass(frozen=True)
class Migration:
    """One schema step of a plugin: ``up(connection)`` runs synchronously inside a transaction.

    The simplest first step creates the plugin's tables: ``Migration(1, "create", my_metadata.create_all)``.
    """

    version: int
    name: str
    up: Callable[[Connection], Any]
    plugin: str = ""


def add_missing_columns(connection: Connection, table: sa.Table) -> list[str]:
    """Add the columns ``table`` declares but the database's table lacks; returns their names.

    For migrations that add a column to a table whose first step was ``metadata.create_all``:
    a new database already has the column, an older one gets it, and both end up the same. New
    columns must be nullable or have a constant server default (``ALTER TABLE … ADD COLUMN`` rules).
    """
    existing = {c["name"] for c in sa.inspect(connection).get_columns(table.name)}
    added = []
    for column in table.columns:
        if column.name in existing:
            continue
        if not column.nullable and column.server_default is None:
            raise ValueError(f"{table.name}.{column.name}: a column added later needs a server default or NULLs")
        ddl = sa.schema.CreateColumn(column).compile(dialect=connection.dialect)
        connection.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")
        added.append(column.name)
    return added


def as_record(row: Any) -> dict[str, Any]:
    """A result row as a plain dict fit for JSON (dates as ISO 8601 text): exports and user data."""
    return {k: (v.isoformat() if isinstance(v, (datetime.datetime, datetime.date)) else v)
            for k, v in row._mapping.items()}


def default_url(data_root: Path) -> str:
    return f"sqlite+aiosqlite:///{data_root / 'trainerbot.sqlite3'}"


class Storage:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a write transaction, committed on success, rolled back on error.

        On SQLite the transaction takes the write lock when it starts (``BEGIN IMMEDIATE``), so a
        transaction that reads and then writes waits for other writers (``busy_timeout``) instead
        of failing with "database is locked" when another connection wrote in between.
        """
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(trainerbot_write=True)
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    async def migrate(self, migrations: list[Migration]) -> list[Migration]:
        """Apply the steps not yet applied; returns those applied now."""
        async with self.begin() as conn:
            await conn.run_sync(metadata.create_all)
            for table in metadata.sorted_tables:
                await conn.run_sync(add_missing_columns, table)
            rows = await conn.execute(sa.select(schema_migrations.c.plugin, schema_migrations.c.version))
            done = {(r.plugin, r.version) for r in rows}
        applied = []
        for step in sorted(migrations, key=lambda m: (m.plugin, m.version)):
            if (step.plugin, step.version) in done:
                continue
            async with self.begin() as conn:
                await conn.run_sync(step.up)
                await conn.execute(schema_migrations.insert().values(plugin=step.plugin, version=step.version,
                                                                     name=step.name))
            log.info("migration %s %d (%s) applied", step.plugin, step.version, step.name)
            applied.append(step)
        return applied

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not open transactions on its own: _sqlite_begin says BEGIN, and how.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """Write transactions (:meth:`Storage.begin`) lock at once; reads start a deferred one."""
    immediate = conn.get_execution_options().get("trainerbot_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def inserted_id(result: Any) -> int:
    """The primary key of the row an ``INSERT`` just made (SQLAlchemy types it as optional)."""
    key = result.inserted_primary_key
    if not key:
        raise RuntimeError("the insert returned no primary key")
    return int(key[0])
