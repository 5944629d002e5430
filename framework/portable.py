"""What differs between SQLite and PostgreSQL, behind one portable surface (see :mod:`framework.storage`):
row-less locks, upserts, times in UTC, and numbers past 64 bits refused as a user error."""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_types

from framework.async_db import AsyncConnection
from framework.errors import MAX_ID, BadArgument


class NumberTooLarge(BadArgument):
    """A number no database column can hold reached a query (SQLite and PostgreSQL stop at 2**63-1)."""

    def __init__(self) -> None:
        super().__init__(f"That number is too large: ids and numbers stop at {MAX_ID}.")


def too_large(error: BaseException) -> bool:
    """Whether ``error`` is a driver's refusal of an integer past 64 bits (SQLite's OverflowError,
    asyncpg's "out of int64 range", PostgreSQL's "bigint out of range")."""
    if isinstance(error, OverflowError):
        return "sqlite integer" in str(error).lower()
    if isinstance(error, sa.exc.DBAPIError):
        text = str(error.orig).lower()
        return "out of int64 range" in text or "bigint out of range" in text or "int too large" in text
    return False


def utc(value: datetime.datetime) -> datetime.datetime:
    """A stored time as an aware UTC time: SQLite hands times back without a zone (they are stored
    in UTC), PostgreSQL with one."""
    return value.replace(tzinfo=datetime.UTC) if value.tzinfo is None else value.astimezone(datetime.UTC)


def as_record(row: Any) -> dict[str, Any]:
    """A result row as a plain dict fit for JSON (dates as ISO 8601 text, times in UTC without a zone
    suffix, the same on both backends): exports and user data."""
    def plain(v: Any) -> Any:
        if isinstance(v, datetime.datetime):
            return utc(v).replace(tzinfo=None).isoformat()
        return v.isoformat() if isinstance(v, datetime.date) else v

    return {k: plain(v) for k, v in row._mapping.items()}


class UTCDateTime(sqlite_types.DATETIME):
    """SQLite stores times as text without a zone: an aware time is converted to UTC first (the
    plain type would keep its wall clock and drop the zone), so both backends store the same instant."""

    def bind_processor(self, dialect: Any) -> Any:
        process = super().bind_processor(dialect)

        def bind(value: Any) -> Any:
            if isinstance(value, datetime.datetime) and value.tzinfo is not None:
                value = value.astimezone(datetime.UTC).replace(tzinfo=None)
            return process(value) if process else value

        return bind


async def lock(conn: AsyncConnection, key: str) -> None:
    """Serialise the write transactions that take the same ``key`` until they end, where no row
    exists yet to lock (insert-if-absent). PostgreSQL: a transaction advisory lock; SQLite: nothing
    to do, a write transaction already holds the database's one write lock."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))


async def upsert(conn: AsyncConnection, table: sa.Table, values: dict[str, Any], keys: list[str], *,
                 update: bool = True) -> Any:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` (``DO NOTHING`` without ``update``) in the
    connection's dialect: one statement, so concurrent writers of the same key never collide."""
    from sqlalchemy.dialects import postgresql, sqlite

    inserts: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
    if conn.dialect.name not in inserts:  # pragma: no cover - the two backends the project supports
        raise NotImplementedError(f"no upsert for the {conn.dialect.name} dialect")
    stmt = inserts[conn.dialect.name](table).values(**values)
    changed = {k: v for k, v in values.items() if k not in keys}
    if update and changed:
        return await conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=changed))
    return await conn.execute(stmt.on_conflict_do_nothing(index_elements=keys))
