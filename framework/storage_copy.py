"""``trainerbot storage migrate --to URL``: move a database (the embedded SQLite) to another, such as
a shared PostgreSQL, when a bot outgrows one process.

The target's tables are made by the same migrations the bot runs at start-up (so it gets the
declared types, keys and indexes), then every row of every table, read and written as the installed
plugins declare it, is copied in one transaction, in foreign-key order, with its primary key. PostgreSQL's id
sequences are moved past the highest id SQLite ever handed out (``sqlite_sequence``), so a removed
row's number is never reused. Then both sides are read again, ordered by primary key, and compared
value by value. A target that holds any row is refused: a copy never merges.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from typing import Any

from framework import sql as sa
from framework.errors import UserError
from framework.storage import Migration, Storage, describe_url, schema_migrations, utc

log = logging.getLogger(__name__)

BATCH = 1000


@dataclasses.dataclass
class CopyReport:
    tables: dict[str, int]
    """Rows copied (and verified) per table."""

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


async def _counts(conn: sa.Connection) -> dict[str, int]:
    """Rows per table in the database."""
    return {name: int((await conn.execute(sa.text(f'SELECT count(*) FROM "{name}"'))).scalar_one())
            for name in await sa.get_table_names(conn)}


async def _columns(conn: sa.Connection) -> dict[str, set[str]]:
    return {name: set(await sa.get_columns(conn, name)) for name in await sa.get_table_names(conn)}


async def copy_database(source: Storage, target: Storage, migrations: list[Migration]) -> CopyReport:
    """Copy every row of ``source`` into an empty ``target`` migrated with ``migrations``; verify it."""
    async with target.connect() as conn:
        filled = {name: n for name, n in (await _counts(conn)).items() if n}
    if filled:
        shown = ", ".join(f"{k}: {v} rows" for k, v in filled.items())
        raise UserError(f"{describe_url(target.url)} is not empty ({shown}); a copy never merges: give an empty "
                        "database or schema")
    await source.migrate(migrations)  # the source is up to date before it is copied
    await target.migrate(migrations)
    async with source.connect() as src:
        source_tables = await _columns(src)
        applied = {(r.plugin, r.version) for r in await src.execute(sa.select(schema_migrations))}
        sequences = await _sqlite_sequences(src)
    async with target.connect() as conn:
        target_tables = await _columns(conn)
        done = {(r.plugin, r.version) for r in await conn.execute(sa.select(schema_migrations))}
    if missing := sorted(applied - done):
        raise UserError("the source has migrations no installed plugin provides (install those plugins first): "
                        + ", ".join(f"{p} {v}" for p, v in missing))
    if missing_tables := sorted(set(source_tables) - set(target_tables)):
        raise UserError(f"the target lacks tables the source has: {', '.join(missing_tables)}")
    declared = sa.declared_tables()
    if unknown := sorted(set(source_tables) - set(declared) - {"sqlite_sequence"}):
        raise UserError(f"the source has tables no installed plugin declares (install those plugins first): "
                        f"{', '.join(unknown)}")
    order = [t for t in sa.sort_tables(list(declared.values()))
             if t.name in source_tables and t.name != "schema_migrations"]
    counts: dict[str, int] = {}
    async with target.begin() as dst:
        for table in order:
            names = [c.name for c in table.c if c.name in source_tables[table.name] & target_tables[table.name]]
            counts[table.name] = await _copy_table(source, table, names, dst)
        if target.backend == "postgresql":
            for table in order:
                await _move_sequence(dst, table, sequences.get(table.name, 0))
    for table in order:
        names = [c.name for c in table.c if c.name in source_tables[table.name] & target_tables[table.name]]
        await _verify(source, target, table, names)
    log.info("copied %d rows in %d tables to %s", sum(counts.values()), len(counts), describe_url(target.url))
    return CopyReport(counts)


async def _sqlite_sequences(conn: Any) -> dict[str, int]:
    """The highest id SQLite handed out per AUTOINCREMENT table (deleted rows included)."""
    if conn.dialect.name != "sqlite":
        return {}
    exists = (await conn.execute(sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"))).first()
    if not exists:
        return {}
    return {r[0]: int(r[1]) for r in await conn.execute(sa.text("SELECT name, seq FROM sqlite_sequence"))}


def _key(table: sa.Table, dialect: str) -> list[Any]:
    """The order rows are copied and compared in: the primary key, text in byte order on both
    backends (PostgreSQL's "C" collation is SQLite's default)."""
    columns = list(table.primary_key.columns) or list(table.c)
    if dialect != "postgresql":
        return columns
    return [c.collate("C") if isinstance(c.type, sa.String) else c for c in columns]


async def _copy_table(source: Storage, table: sa.Table, names: list[str], dst: Any) -> int:
    copied = 0
    async with source.connect() as src:
        query = sa.select(*[table.c[n] for n in names]).order_by(*_key(table, source.backend))
        result = await src.stream(query)
        async for batch in result.partitions(BATCH):
            await dst.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in batch])
            copied += len(batch)
    return copied


async def _move_sequence(dst: Any, table: sa.Table, highest: int) -> None:
    """Set the table's id sequence (if it has one) past both its highest row and SQLite's counter."""
    for column in table.primary_key.columns:
        sequence = (await dst.execute(sa.select(sa.func.pg_get_serial_sequence(table.name, column.name)))).scalar()
        if sequence is None:
            continue
        top = (await dst.execute(sa.select(sa.func.max(column)))).scalar() or 0
        value = max(int(top), highest)
        if value:
            await dst.execute(sa.select(sa.func.setval(sequence, value)))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, datetime.datetime) and isinstance(b, datetime.datetime):
        return utc(a) == utc(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) if a is not None and b is not None else a is b
    return bool(a == b)


async def _verify(source: Storage, target: Storage, table: sa.Table, names: list[str]) -> None:
    """Both sides, ordered by primary key, are equal row by row and value by value."""
    dst_table = table
    async with source.connect() as src, target.connect() as dst:
        left = await src.stream(sa.select(*[table.c[n] for n in names]).order_by(*_key(table, source.backend)))
        right = await dst.stream(sa.select(*[table.c[n] for n in names]).order_by(*_key(table, target.backend)))
        number = 0
        async for a in left:
            b = await anext(right, None)
            number += 1
            if b is None:
                raise RuntimeError(f"verification failed: {dst_table.name} has fewer rows than the source")
            for name, x, y in zip(names, a, b, strict=True):
                if not _same(x, y):
                    raise RuntimeError(f"verification failed: {dst_table.name} row {number} column {name} differs")
        if await anext(right, None) is not None:
            raise RuntimeError(f"verification failed: {dst_table.name} has more rows than the source")
