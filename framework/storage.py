"""The database: SQLite (WAL) under the data root by default, PostgreSQL to share it between processes.

:mod:`framework.sql` with ``sqlite3`` (queries in a thread per connection) or asyncpg (non-blocking
sockets): never on the event loop's time. Plugins own their tables: they declare
``framework.sql.Table`` objects on their own ``MetaData`` and register :class:`Migration` steps
through the ``register_migrations`` hook. Each step runs once, in version order, inside a
transaction, and is recorded in ``schema_migrations``. The same migrations and queries run on both
backends (``[storage] url = "postgresql://…"`` or ``DATABASE_URL``); what differs is confined to this module:

- a write transaction that reads, then writes: SQLite locks the whole database when it starts
  (``BEGIN IMMEDIATE``); on PostgreSQL the read takes row locks (``select(...).with_for_update()``,
  which SQLite ignores) or, where no row exists yet, :func:`lock` (a transaction advisory lock);
- "insert or replace": :func:`upsert` (``INSERT … ON CONFLICT`` on both);
- times: stored and read back as UTC (PostgreSQL sessions run in UTC; :func:`as_record` marks them);
- numbers past a signed BIGINT (2**63-1) are refused with :class:`NumberTooLarge`, not a driver error.

A database that refuses writes — read-only, full, or locked by another program — is something
users cannot fix and admins must: a write transaction that fails so raises
:class:`StorageUnavailable`, a ``UserError`` saying which and who must act, and the cause is
logged once (not once per command) until a write succeeds again. Start-up checks that the
database takes writes and says so; a read-only one still serves reads (``hi``, listings).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from framework import sql as sa
from framework.errors import UserError
from framework.portable import NumberTooLarge as NumberTooLarge
from framework.portable import as_record as as_record
from framework.portable import lock, too_large
from framework.portable import upsert as upsert
from framework.portable import utc as utc
from framework.sql import add_missing_columns as add_missing_columns

log = logging.getLogger(__name__)

PROBLEMS = {
    "read-only": "the bot's database is read-only; an admin must fix that (the database file's or its folder's "
                 "permissions, a read-only disk, or `mode=ro` in `[storage] url`), then restart the bot.",
    "full": "the bot's database is full: its disk has no space left; an admin must free space.",
    "locked": "the bot's database is locked by another program (another bot on the same data folder?); an admin "
              "must stop it. Try again later.",
}
"""What users are told for each way a database refuses writes (they can fix none of them)."""


class StorageUnavailable(UserError):
    """The database refuses writes; the message says why and that an admin must act. ``problem``
    is the kind (a key of :data:`PROBLEMS`), for code that reacts to one."""

    log_level = logging.DEBUG
    """The pipeline logs each command it refused at this level: the cause is logged once, by Storage."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"Sorry, that could not be saved: {PROBLEMS[problem]}")
        self.problem = problem


def write_problem(error: BaseException) -> str | None:
    """Which way the database refuses writes, if ``error`` says it does (SQLite's error names,
    PostgreSQL's SQLSTATEs, or their messages); ``None`` for any other error."""
    if not isinstance(error, sa.exc.DBAPIError):
        return None
    cause = error.orig
    name = str(getattr(cause, "sqlite_errorname", "") or "")
    state = str(getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None) or "")
    text = str(cause).lower()
    if name.startswith("SQLITE_READONLY") or state in ("25006", "42501") or "readonly database" in text:
        return "read-only"
    if name.startswith("SQLITE_FULL") or state in ("53100", "53200") or "disk is full" in text:
        return "full"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or state == "55P03" or "database is locked" in text:
        return "locked"
    return None


class _Probe(Exception):
    """Rolls the start-up write probe back."""

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
    """One schema step of a plugin: ``await up(connection)`` runs inside a transaction.

    The simplest first step creates the plugin's tables: ``Migration(1, "create", my_metadata.create_all)``.
    """

    version: int
    name: str
    up: Callable[[sa.Connection], Awaitable[Any]]
    plugin: str = ""


def default_url(data_root: Path) -> str:
    return f"sqlite:///{data_root / 'trainerbot.sqlite3'}"


def normalize_url(url: str) -> str:
    """``postgres://`` (as hosting services hand them out) is ``postgresql://``; the driver names of
    earlier versions' URLs (``sqlite+aiosqlite://``, ``postgresql+asyncpg://``) still work."""
    for given, plain in (("postgres://", "postgresql://"), ("postgresql+asyncpg://", "postgresql://"),
                         ("sqlite+aiosqlite://", "sqlite://"), ("sqlite+pysqlite://", "sqlite://")):
        if url.startswith(given):
            return plain + url[len(given):]
    return url


def configured_url(config: Any, data_root: Path) -> tuple[str, str | None]:
    """The database URL and PostgreSQL schema a config and the environment pick: ``[storage] url``,
    ``DATABASE_URL``, ``[bot] database_url``, else SQLite under the data root; the schema from
    ``[storage] schema`` or ``TRAINERBOT_DATABASE_SCHEMA``."""
    import os

    url = (config.storage.url or os.environ.get("DATABASE_URL") or config.bot.database_url
           or default_url(data_root))
    schema = config.storage.schema_name or os.environ.get("TRAINERBOT_DATABASE_SCHEMA") or None
    return normalize_url(url), schema


def describe_url(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return sa.make_url(url).hide_password()


class Storage:
    def __init__(self, url: str, *, schema: str | None = None, busy_timeout: float = 5.0) -> None:
        """``schema``: PostgreSQL only, the schema the tables live in (made by :meth:`migrate` if
        missing). ``busy_timeout``: how long a SQLite write waits for another writer before "locked"."""
        self.url = normalize_url(url)
        self.schema = schema
        settings: dict[str, str] = {}
        if self.url.startswith("postgresql"):
            try:
                import asyncpg  # noqa: F401
            except ImportError:
                raise UserError("PostgreSQL storage needs asyncpg: pip install 'trainerbot[postgres]'") from None
            settings = {"timezone": "UTC", "application_name": "trainerbot"}
            if schema:
                settings["search_path"] = schema
        self.engine: sa.Engine = sa.create_engine(self.url, server_settings=settings, busy_timeout=busy_timeout)
        self.problem: str | None = None
        """How the database refuses writes, as last seen (``None``: it took the last write)."""
        self._checked = False

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``: for the few places that must know (tests, bench, the CLI)."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[sa.Connection]:
        """A connection inside a write transaction, committed on success, rolled back on error.

        On SQLite the transaction takes the write lock when it starts (``BEGIN IMMEDIATE``), so a
        transaction that reads and then writes waits for other writers (``busy_timeout``) instead
        of failing with "database is locked" when another connection wrote in between. A database
        that refuses the write raises :class:`StorageUnavailable`.
        """
        try:
            async with self.engine.connect(write=True) as conn:
                async with conn.begin():
                    yield conn
                wrote = conn.wrote
        except (sa.exc.DBAPIError, OverflowError) as exc:
            if too_large(exc):
                raise NumberTooLarge() from exc
            problem = write_problem(exc)
            if problem is None or isinstance(exc, OverflowError):
                raise
            self._refused(problem, exc)
            raise StorageUnavailable(problem) from exc
        if wrote and self.problem is not None:  # a transaction that only read proves nothing
            log.warning("the database takes writes again (it was %s)", self.problem)
            self.problem = None

    def _refused(self, problem: str, exc: sa.exc.DBAPIError) -> None:
        """Log the cause once per episode: the first refusal, not every command after it."""
        if self.problem != problem:
            log.error("the database refuses writes (%s): %s — %s", problem, exc.orig, PROBLEMS[problem])
        self.problem = problem

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[sa.Connection]:
        """A connection to read with (its transaction is rolled back at the end)."""
        try:
            async with self.engine.connect() as conn:
                yield conn
        except (sa.exc.DBAPIError, OverflowError) as exc:
            if too_large(exc):
                raise NumberTooLarge() from exc
            raise

    async def check_writable(self) -> str | None:
        """Try a write (a delete of nothing from ``schema_migrations``, rolled back: databases refuse
        it as any write when they refuse writes) and say whether the database took it; returns the
        problem, or ``None``. Run at start-up, so a read-only database is reported before the first
        user meets it."""
        try:
            async with self.begin() as conn:
                await conn.execute(schema_migrations.delete().where(sa.false()))
                raise _Probe
        except _Probe:
            log.info("the database takes writes")
            return None
        except StorageUnavailable as exc:
            log.warning("the bot starts with a database that refuses writes: commands that save anything will "
                        "say so until an admin fixes it")
            return exc.problem
        raise AssertionError("unreachable: the probe always raises")  # pragma: no cover

    async def migrate(self, migrations: list[Migration]) -> list[Migration]:
        """Apply the steps not yet applied; returns those applied now. The first call (start-up)
        checks that the database takes writes; one that does not still works if nothing is to do."""
        if self.schema and self.backend == "postgresql":
            async with self.begin() as conn:
                await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
        async with self.begin() as conn:
            await lock(conn, "trainerbot:migrations")  # processes starting together migrate one at a time
            await metadata.create_all(conn)
            for table in metadata.sorted_tables:
                await add_missing_columns(conn, table)
            rows = await conn.execute(sa.select(schema_migrations.c.plugin, schema_migrations.c.version))
            done = {(r.plugin, r.version) for r in rows}
        if not self._checked:
            self._checked = True
            await self.check_writable()
        applied = []
        for step in sorted(migrations, key=lambda m: (m.plugin, m.version)):
            if (step.plugin, step.version) in done:
                continue
            async with self.begin() as conn:
                await lock(conn, "trainerbot:migrations")  # another process may be applying it right now
                if (await conn.execute(sa.select(schema_migrations.c.version).where(
                        (schema_migrations.c.plugin == step.plugin)
                        & (schema_migrations.c.version == step.version)))).first():
                    continue
                await step.up(conn)
                await conn.execute(schema_migrations.insert().values(plugin=step.plugin, version=step.version,
                                                                     name=step.name))
            log.info("migration %s %d (%s) applied", step.plugin, step.version, step.name)
            applied.append(step)
        return applied

    async def close(self) -> None:
        await self.engine.dispose()


def inserted_id(result: Any) -> int:
    """The primary key of the row an ``INSERT`` just made (in a table the database numbers)."""
    key = result.inserted_primary_key
    if not key:
        raise RuntimeError("the insert returned no primary key")
    return int(key[0])
