"""Storage on a real SQLite file: write transactions serialise, so read-then-write never loses an
update nor fails with "database is locked" when several run at once."""

from __future__ import annotations

import asyncio
import threading

import sqlalchemy as sa

from framework.storage import Migration, Storage, default_url

meta = sa.MetaData()
counter = sa.Table("counter", meta, sa.Column("id", sa.Integer, primary_key=True),
                   sa.Column("value", sa.Integer, nullable=False))


async def test_concurrent_read_then_write_transactions_all_apply(tmp_path) -> None:
    storage = Storage(default_url(tmp_path))
    try:
        await storage.migrate([Migration(1, "counter", meta.create_all, "t")])
        async with storage.begin() as conn:
            await conn.execute(counter.insert().values(id=1, value=0))

        async def increment() -> None:
            async with storage.begin() as conn:
                value = (await conn.execute(sa.select(counter.c.value))).scalar_one()
                await asyncio.sleep(0)  # let the others start their transactions in between
                await conn.execute(counter.update().values(value=value + 1))

        await asyncio.gather(*(increment() for _ in range(40)))
        async with storage.connect() as conn:
            assert (await conn.execute(sa.select(counter.c.value))).scalar_one() == 40
    finally:
        await storage.close()


async def test_a_failed_write_transaction_leaves_nothing(tmp_path) -> None:
    storage = Storage(default_url(tmp_path))
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


async def test_columns_added_later_reach_older_databases(tmp_path) -> None:
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
    storage = Storage(default_url(tmp_path))
    try:
        async with storage.begin() as conn:
            await conn.run_sync(old.create_all)
            await conn.execute(sa.text("INSERT INTO trained_models (provider, model_id) VALUES ('local', 'local-1')"))
        await storage.migrate([])
        async with storage.connect() as conn:
            row = (await conn.execute(sa.select(trained_models))).one()
        assert (row.model_id, row.instruction, row.job_id) == ("local-1", "", None)
        async with storage.begin() as conn:
            assert await conn.run_sync(add_missing_columns, trained_models) == []
    finally:
        await storage.close()


async def test_statements_run_in_storage_threads_and_rows_come_back_buffered(tmp_path) -> None:
    """Never on the event loop: each statement runs in a storage thread, which also fetches the rows."""
    storage = Storage(default_url(tmp_path))
    try:
        await storage.migrate([Migration(1, "counter", meta.create_all, "t")])
        async with storage.begin() as conn:
            await conn.execute(counter.insert(), [{"id": i, "value": i * i} for i in range(1, 4)])
            ran_in = await conn.run_sync(lambda _connection: threading.current_thread().name)
        async with storage.connect() as conn:
            result = await conn.execute(sa.select(counter).order_by(counter.c.id))
        assert ran_in.startswith("trainerbot-db") and ran_in != threading.current_thread().name
        assert [(row.id, row.value) for row in result.all()] == [(1, 1), (2, 4), (3, 9)], "read after closing"
        async with storage.begin() as conn:
            assert (await conn.execute(counter.delete().where(counter.c.value > 1))).rowcount == 2
            assert await conn.scalar(sa.select(sa.func.count()).select_from(counter)) == 1
    finally:
        await storage.close()
