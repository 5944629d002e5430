"""Storage on both backends (a real SQLite file; PostgreSQL in a schema of the test's own when
TRAINERBOT_TEST_DATABASE_URL is set): read-then-write transactions that lock what they read never
lose an update nor fail with "database is locked" when several run at once; upserts, times and
numbers past 64 bits behave the same on both."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from framework import sql as sa
from framework.storage import Migration, NumberTooLarge, as_record, lock, upsert

meta = sa.MetaData()
counter = sa.Table("counter", meta, sa.Column("id", sa.Integer, primary_key=True),
                   sa.Column("value", sa.Integer, nullable=False))


async def test_concurrent_read_then_write_transactions_all_apply(database, tmp_path) -> None:
    storage = database.storage(tmp_path)
    try:
        await storage.migrate([Migration(1, "counter", meta.create_all, "t")])
        async with storage.begin() as conn:
            await conn.execute(counter.insert().values(id=1, value=0))

        async def increment() -> None:
            async with storage.begin() as conn:
                value = (await conn.execute(sa.select(counter.c.value).with_for_update())).scalar_one()
                await asyncio.sleep(0)  # let the others start their transactions in between
                await conn.execute(counter.update().values(value=value + 1))

        await asyncio.gather(*(increment() for _ in range(40)))
        async with storage.connect() as conn:
            assert (await conn.execute(sa.select(counter.c.value))).scalar_one() == 40
    finally:
        await storage.close()


async def test_a_failed_write_transaction_leaves_nothing(database, tmp_path) -> None:
    storage = database.storage(tmp_path)
    try:
        await storage.migrate([Migration(1, "counter", meta.create_all, "t")])
        try:
            async with storage.begin() as conn:
                await conn.execute(counter.insert().values(id=1, value=1))
                raise RuntimeError("half-way")
        except RuntimeError:
            pass
        async with storage.connect() as conn:
            assert (await conn.execute(sa.select(sa.func.count()).select_from(counter))).scalar_one() == 0
    finally:
        await storage.close()


async def test_columns_added_later_reach_older_databases(database, tmp_path) -> None:
    """A database made before a column existed gets it (host tables at start-up, plugin tables by a
    migration step); a new database already has it, and the step changes nothing there."""
    from framework.providers import trained_models
    from framework.storage import add_missing_columns

    old = sa.MetaData()
    sa.Table("trained_models", old, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("provider", sa.String(50), nullable=False),
             sa.Column("model_id", sa.String(300), nullable=False, unique=True),
             sa.Column("job_id", sa.Integer), sa.Column("dataset", sa.String(100)),
             sa.Column("labels", sa.Text, nullable=False, server_default="[]"),
             sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
             sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()))
    storage = database.storage(tmp_path)
    try:
        async with storage.begin() as conn:
            await old.create_all(conn)
            await conn.execute(sa.text("INSERT INTO trained_models (provider, model_id) VALUES ('local', 'local-1')"))
        await storage.migrate([])
        async with storage.connect() as conn:
            row = (await conn.execute(sa.select(trained_models))).one()
        assert (row.model_id, row.instruction, row.job_id) == ("local-1", "", None)
        async with storage.begin() as conn:
            assert await add_missing_columns(conn, trained_models) == []
    finally:
        await storage.close()


settings = sa.Table("settings_test", meta, sa.Column("guild_id", sa.BigInteger, primary_key=True),
                    sa.Column("value", sa.String(50), nullable=False),
                    sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()))
notes = sa.Table("notes_lock_test", meta, sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                 sa.Column("key", sa.String(50), nullable=False), sqlite_autoincrement=True)


async def test_concurrent_upserts_of_one_key_leave_one_row(database, tmp_path) -> None:
    """"Insert or replace" is one statement on both backends: writers of the same key never collide."""
    storage = database.storage(tmp_path)
    try:
        await storage.migrate([Migration(1, "tables", meta.create_all, "t")])

        async def put(value: str) -> None:
            async with storage.begin() as conn:
                await upsert(conn, settings, {"guild_id": 7, "value": value}, ["guild_id"])

        await asyncio.gather(*(put(f"v{i}") for i in range(20)))
        async with storage.begin() as conn:  # DO NOTHING keeps what is there
            await upsert(conn, settings, {"guild_id": 7, "value": "ignored"}, ["guild_id"], update=False)
        async with storage.connect() as conn:
            rows = (await conn.execute(sa.select(settings.c.value))).scalars().all()
        assert len(rows) == 1 and rows[0] in {f"v{i}" for i in range(20)}
    finally:
        await storage.close()


async def test_insert_if_absent_under_a_lock_inserts_once(database, tmp_path) -> None:
    """Where no row exists yet to lock, :func:`lock` serialises the check and the insert."""
    storage = database.storage(tmp_path)
    try:
        await storage.migrate([Migration(1, "tables", meta.create_all, "t")])

        async def add_once() -> None:
            async with storage.begin() as conn:
                await lock(conn, "notes:a")
                found = (await conn.execute(sa.select(notes.c.id).where(notes.c.key == "a"))).first()
                await asyncio.sleep(0)
                if found is None:
                    await conn.execute(notes.insert().values(key="a"))

        await asyncio.gather(*(add_once() for _ in range(10)))
        async with storage.connect() as conn:
            assert (await conn.execute(sa.select(sa.func.count()).select_from(notes))).scalar_one() == 1
    finally:
        await storage.close()


async def test_numbers_past_64_bits_are_refused_cleanly(database, tmp_path) -> None:
    """A number no BIGINT holds is a user-facing refusal on both backends, and nothing is stored."""
    storage = database.storage(tmp_path)
    try:
        await storage.migrate([Migration(1, "tables", meta.create_all, "t")])
        with pytest.raises(NumberTooLarge, match="too large"):
            async with storage.begin() as conn:
                await conn.execute(settings.insert().values(guild_id=2**63 - 1, value="fits"))
                await conn.execute(settings.insert().values(guild_id=2**63, value="does not"))
        with pytest.raises(NumberTooLarge):
            async with storage.connect() as conn:
                await conn.execute(sa.select(settings).where(settings.c.guild_id == 2**64))
        async with storage.connect() as conn:
            assert (await conn.execute(sa.select(sa.func.count()).select_from(settings))).scalar_one() == 0
    finally:
        await storage.close()


async def test_times_read_back_as_utc_on_both_backends(database, tmp_path) -> None:
    """A server-default time and a time written by the bot come back as the same UTC instant; exports
    write them alike on both backends."""
    storage = database.storage(tmp_path)
    try:
        await storage.migrate([Migration(1, "tables", meta.create_all, "t")])
        written = datetime.datetime(2026, 3, 1, 12, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
        before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        async with storage.begin() as conn:
            await conn.execute(settings.insert().values(guild_id=1, value="now"))
            await conn.execute(settings.insert().values(guild_id=2, value="set", at=written))
        async with storage.connect() as conn:
            rows = {r.guild_id: r for r in await conn.execute(sa.select(settings))}
        assert as_record(rows[2])["at"] == "2026-03-01T10:30:00"
        stamped = datetime.datetime.fromisoformat(as_record(rows[1])["at"]).replace(tzinfo=datetime.UTC)
        assert before - datetime.timedelta(seconds=1) <= stamped <= datetime.datetime.now(datetime.UTC)
    finally:
        await storage.close()
