"""What differs between SQLite and PostgreSQL, behind one portable surface (see :mod:`framework.storage`):
row-less locks, upserts, times in UTC, and numbers past 64 bits refused as a user error."""

from __future__ import annotations

import datetime
from typing import Any

from framework import sql as sa
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


async def lock(conn: sa.Connection, key: str) -> None:
    """Serialise the write transactions that take the same ``key`` until they end, where no row
    exists yet to lock (insert-if-absent). PostgreSQL: a transaction advisory lock; SQLite: nothing
    to do, a write transaction already holds the database's one write lock."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))


async def upsert(conn: sa.Connection, table: sa.Table, values: dict[str, Any], keys: list[str], *,
                 update: bool = True) -> Any:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` (``DO NOTHING`` without ``update``), the same on
    both backends: one statement, so concurrent writers of the same key never collide."""
    stmt = table.insert().values(**values)
    changed = {k: v for k, v in values.items() if k not in keys}
    if update and changed:
        return await conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=changed))
    return await conn.execute(stmt.on_conflict_do_nothing(index_elements=keys))
