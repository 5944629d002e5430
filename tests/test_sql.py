"""framework/sql, the database layer under Storage, on both backends: the tables it makes are the
ones SQLAlchemy made (databases of earlier versions stay as they are), values are always bound as
parameters, times and booleans come back as they went in, streamed rows, transactions, and a
cancelled task's connection going back to its pool.

``tests/sqlalchemy_schema/*.sql`` is the DDL SQLAlchemy 2.1.9 emitted for every table of the
default plugins at trainerbot 8ef1466, the last version built on it.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import re
import sqlite3
import sys
from pathlib import Path

import pytest

from framework import sql as sa
from framework.lazy import release_free_memory
from framework.sql.compiler import compile_statement
from framework.storage import Migration

meta = sa.MetaData()
numbers = sa.Table("numbers", meta, sa.Column("n", sa.Integer, primary_key=True))
things = sa.Table(
    "sql_things", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False),
    sa.Column("big", sa.BigInteger),
    sa.Column("ok", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("ratio", sa.Float),
    sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
    sqlite_autoincrement=True,
)

DEFAULT_TABLES = ("framework.storage", "framework.leases", "framework.state_sync", "framework.providers",
                  "plugins.evaluation", "plugins.training.schema", "plugins.voice_listen.schema", "plugins.chat",
                  "plugins.voice_messages", "plugins.feedback", "plugins.corrections")


@pytest.fixture
async def storage(database, tmp_path):
    """A Storage on the test's database (each backend), with this file's tables made."""
    made = database.storage(tmp_path)
    try:
        await made.migrate([Migration(1, "numbers and things", meta.create_all, "t")])
        yield made
    finally:
        await made.close()


def _normal(statement: str) -> str:
    return re.sub(r"\s+", " ", statement.replace('"', "").replace("IF NOT EXISTS ", "")).strip()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_tables_made_now_are_those_sqlalchemy_made(dialect: str) -> None:
    declared = {table.name: table for name in DEFAULT_TABLES for table in vars(importlib.import_module(name)).values()
                if isinstance(table, sa.Table)}
    ours = {_normal(s) for table in declared.values() for s in table.ddl(dialect)}
    text = (Path(__file__).parent / "sqlalchemy_schema" / f"{dialect}.sql").read_text("utf-8")
    theirs = {_normal(s) for s in text.split(";") if s.strip()}
    assert ours == theirs


def test_values_are_bound_never_written_into_the_sql() -> None:
    evil = "x'); DROP TABLE sql_things; --"
    for dialect in ("sqlite", "postgresql"):
        compiled = compile_statement(sa.select(things).where(things.c.name == evil), dialect)
        assert evil not in compiled.sql and compiled.params == [evil]
        compiled = compile_statement(things.insert().values(name=evil, big=2**40), dialect)
        assert evil not in compiled.sql and compiled.params == [evil, 2**40]
    pg = compile_statement(sa.select(things.c.id).where(things.c.big.in_([1, 2])), "postgresql")
    assert "$1::BIGINT" in pg.sql and "$2::BIGINT" in pg.sql, "asyncpg is told each parameter's type"
    assert compile_statement(sa.select(things).where(things.c.id.in_([])), "sqlite").params == []


def test_parameters_follow_their_places_in_the_sql() -> None:
    inner = sa.select(things.c.id).where(things.c.name == "inner")
    statement = things.delete().where((things.c.name == "first") & (things.c.id - 1).in_(inner))
    compiled = compile_statement(statement, "sqlite")
    assert compiled.params == ["first", 1, "inner"]
    assert compiled.sql.index("- ?") < compiled.sql.index("IN (SELECT")


async def test_values_come_back_as_they_went_in(storage) -> None:
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    moment = datetime.datetime(2026, 11, 30, 12, 34, 56, 789000, tzinfo=plus_two)
    async with storage.begin() as conn:
        first = await conn.execute(things.insert().values(name="a", big=2**62, ok=True, ratio=0.5, at=moment))
        second = await conn.execute(things.insert().values(name="b"))
        assert (first.inserted_primary_key, second.inserted_primary_key) == ((1,), (2,))
    async with storage.connect() as conn:
        rows = (await conn.execute(sa.select(things).order_by(things.c.id))).all()
    a, b = rows
    assert (a.name, a.big, a.ok, a.ratio) == ("a", 2**62, True, 0.5) and a._mapping["name"] == "a"
    assert a.at.replace(tzinfo=a.at.tzinfo or datetime.UTC) == moment, "the same instant, stored in UTC"
    assert (b.ok, b.big) == (False, None) and isinstance(b.at, datetime.datetime)
    async with storage.connect() as conn:
        assert (await conn.execute(sa.select(things.c.name).where(things.c.ok))).scalars().all() == ["a"]
        assert (await conn.execute(sa.select(things.c.name).where(~things.c.ok))).scalars().all() == ["b"]
        assert (await conn.execute(sa.select(things.c.id).where(things.c.big.is_(None)))).scalar_one() == 2


async def test_streamed_rows_come_in_order_by_partition_and_by_row(storage) -> None:
    async with storage.begin() as conn:
        await conn.execute(numbers.insert(), [{"n": n} for n in range(25)])
    async with storage.connect() as conn:
        result = await conn.stream(sa.select(numbers.c.n).order_by(numbers.c.n))
        sizes = [[row.n for row in batch] async for batch in result.partitions(10)]
        assert sizes == [list(range(10)), list(range(10, 20)), list(range(20, 25))]
        rows = await conn.stream(sa.select(numbers.c.n).where(numbers.c.n < 3).order_by(numbers.c.n))
        assert [row.n async for row in rows] == [0, 1, 2]
        assert await conn.scalar(sa.select(sa.func.count()).select_from(numbers)) == 25


async def test_an_error_rolls_the_transaction_back(storage) -> None:
    async with storage.begin() as conn:
        await conn.execute(numbers.insert(), [{"n": 100 + i} for i in range(3)])
    with pytest.raises(RuntimeError, match="boom"):
        async with storage.begin() as conn:
            await conn.execute(numbers.insert(), [{"n": 200 + i} for i in range(2)])
            assert await conn.scalar(sa.select(sa.func.count()).select_from(numbers)) == 5
            raise RuntimeError("boom")
    async with storage.connect() as conn:
        assert [r.n for r in await conn.execute(sa.select(numbers.c.n).order_by(numbers.c.n))] == [100, 101, 102]


async def test_a_cancelled_task_returns_its_connection_to_the_pool(storage) -> None:
    inside = asyncio.Event()

    async def hold() -> None:
        async with storage.begin() as conn:
            await conn.execute(numbers.insert().values(n=1))
            inside.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(hold())
    await inside.wait()
    assert storage.engine.checked_out == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert storage.engine.checked_out == 0
    async with storage.connect() as conn:  # the cancelled transaction was rolled back
        assert (await conn.execute(sa.select(sa.func.count()).select_from(numbers))).scalar_one() == 0


@pytest.mark.backends("postgresql")  # a server that drops a connection: PostgreSQL's (a restart, an admin)
async def test_a_connection_the_server_dropped_is_replaced(storage) -> None:
    async with storage.connect() as doomed:
        pid = await doomed.scalar(sa.text("SELECT pg_backend_pid()"))
        async with storage.connect() as admin:
            assert await admin.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    assert storage.engine.checked_out == 0
    for _ in range(3):  # whichever pooled connection comes next works
        async with storage.connect() as conn:
            assert await conn.scalar(sa.select(sa.func.count()).select_from(numbers)) == 0
            assert await conn.scalar(sa.text("SELECT pg_backend_pid()")) != pid


@pytest.mark.backends("sqlite")  # the old data folder is written as a SQLite file; PostgreSQL's DDL is compared above
async def test_a_database_made_by_sqlalchemy_is_used_as_it_is(tb_factory, tmp_path) -> None:
    """A data folder of the last SQLAlchemy version (its tables, its migrations recorded, its way of
    storing times) starts without a migration to run and its rows read back."""
    fresh = await tb_factory(data_root=tmp_path / "fresh")
    async with fresh.app.storage.connect() as conn:
        applied = [(r.plugin, r.version, r.name) for r in await conn.execute(sa.text(
            "SELECT plugin, version, name FROM schema_migrations"))]
    await fresh.app.close()
    root = tmp_path / "old"
    root.mkdir()
    with sqlite3.connect(root / "trainerbot.sqlite3") as db:
        db.executescript((Path(__file__).parent / "sqlalchemy_schema" / "sqlite.sql").read_text("utf-8"))
        db.executemany("INSERT INTO schema_migrations (plugin, version, name, applied_at) VALUES (?, ?, ?, ?)",
                       [(*step, "2026-11-01 10:00:00") for step in applied])
        db.execute("INSERT INTO feedback (user_id, kind, text, created_at) VALUES (?, 'text', 'old and fine', "
                   "'2026-11-02 09:08:07.654321')", (int(fresh.user.id),))
    old = await tb_factory(data_root=root)
    async with old.app.storage.connect() as conn:
        row = (await conn.execute(sa.select(importlib.import_module("plugins.feedback").feedback_table))).one()
        assert row.text == "old and fine"
        assert row.created_at == datetime.datetime(2026, 11, 2, 9, 8, 7, 654321)
        assert (await conn.execute(sa.text("SELECT count(*) FROM schema_migrations"))).scalar() == len(applied)
    assert "#2" in (await old.say("!feedback newer")).content, "ids go on after the old rows"


def test_free_memory_goes_back_to_the_os_where_the_c_library_can() -> None:
    assert release_free_memory() is sys.platform.startswith("linux")
