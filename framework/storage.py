"""The database: SQLite (WAL) under the data root by default, any SQLAlchemy URL otherwise.

SQLAlchemy 2 Core on its synchronous engine, driven from the event loop by :class:`DbConnection`:
every statement runs in the storage's own threads, never on the event loop, and its rows come
back buffered. Not ``sqlalchemy.ext.asyncio``: that layer imports the ORM, greenlet and aiosqlite
(about 7 MiB resident and 100 modules) for the two calls plugins use, ``execute`` and ``run_sync``.
Plugins own their tables: they declare ``sqlalchemy.Table`` objects on their own ``MetaData``
and register :class:`Migration` steps through the ``register_migrations`` hook. Each step runs
once, in version order, inside a transaction, and is recorded in ``schema_migrations``.
The same code speaks PostgreSQL given ``[bot] database_url = "postgresql+psycopg://…"``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime
import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, Result

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
    return f"sqlite:///{data_root / 'trainerbot.sqlite3'}"


POOL_SIZE = 5
"""Connections (and threads that run their statements) at once; more callers wait their turn."""

_ASYNC_DRIVERS = {"aiosqlite": "pysqlite", "asyncpg": "psycopg", "aiomysql": "pymysql", "asyncmy": "pymysql"}
"""Drivers for SQLAlchemy's asyncio layer, and the synchronous driver used in their place."""


def sync_url(url: str) -> sa.URL:
    """``url`` with its async driver swapped for the synchronous one (``sqlite+aiosqlite`` was the default)."""
    parsed = sa.make_url(url)
    if parsed.get_driver_name() in _ASYNC_DRIVERS:
        parsed = parsed.set(drivername=f"{parsed.get_backend_name()}+{_ASYNC_DRIVERS[parsed.get_driver_name()]}")
    return parsed


def _execute(conn: Connection, statement: Any, parameters: Any, options: dict[str, Any] | None) -> Result[Any]:
    """Run a statement; rows are fetched here, in the storage thread, so reading them never touches the database."""
    result = conn.execute(statement, parameters, **({"execution_options": options} if options else {}))
    return result.freeze()() if result.returns_rows else result


class DbConnection:
    """A Core connection for async code: ``await conn.execute(stmt)`` returns a buffered result,
    ``await conn.run_sync(fn, ...)`` calls ``fn(connection, ...)`` (DDL, inspection, migrations).
    Calls on one connection run one after another in a storage thread."""

    def __init__(self, storage: Storage, sync: Connection) -> None:
        self._storage = storage
        self.sync_connection = sync
        self._last: concurrent.futures.Future[Any] | None = None

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._last = self._storage._submit(fn, *args, **kwargs)
        return await asyncio.wrap_future(self._last)

    async def settle(self) -> None:
        """Wait for a statement still running in its thread (its caller was cancelled) before reuse."""
        last = self._last
        if last is not None and not last.done():
            await asyncio.wait([asyncio.wrap_future(last)])

    async def execute(self, statement: Any, parameters: Any = None, *,
                      execution_options: dict[str, Any] | None = None) -> Result[Any]:
        result: Result[Any] = await self._call(_execute, self.sync_connection, statement, parameters,
                                               execution_options)
        return result

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def scalars(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalars()

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self._call(fn, self.sync_connection, *args, **kwargs)

    async def execution_options(self, **options: Any) -> DbConnection:
        await self._call(self.sync_connection.execution_options, **options)
        return self


class Storage:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = sa.create_engine(sync_url(url), pool_size=POOL_SIZE, max_overflow=0)
        self._threads = concurrent.futures.ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="trainerbot-db")
        self._slots = asyncio.Semaphore(POOL_SIZE)
        """Taken before a connection is checked out, so no thread ever waits on the pool."""
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)

    def _submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        return self._threads.submit(functools.partial(fn, *args, **kwargs))

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[DbConnection]:
        """A connection inside a write transaction, committed on success, rolled back on error.

        On SQLite the transaction takes the write lock when it starts (``BEGIN IMMEDIATE``), so a
        transaction that reads and then writes waits for other writers (``busy_timeout``) instead
        of failing with "database is locked" when another connection wrote in between.
        """
        async with self.connect() as conn:
            await conn.execution_options(trainerbot_write=True)
            transaction = await conn._call(conn.sync_connection.begin)
            try:
                yield conn
            except BaseException:
                await conn.settle()
                await conn._call(transaction.rollback)
                raise
            await conn._call(transaction.commit)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[DbConnection]:
        async with self._slots:
            conn = DbConnection(self, await asyncio.wrap_future(self._submit(self.engine.connect)))
            try:
                yield conn
            finally:
                await conn.settle()
                await asyncio.wrap_future(self._submit(conn.sync_connection.close))

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
        await asyncio.wrap_future(self._submit(self.engine.dispose))
        self._threads.shutdown(wait=False)


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
