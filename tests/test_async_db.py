"""framework/async_db.py, the awaitable SQLAlchemy Core layer under Storage, on both backends:
streamed rows, transactions, run_sync, and a cancelled task's connection going back to its pool."""

from __future__ import annotations

import asyncio
import sys

import pytest
import sqlalchemy as sa

from framework.lazy import release_free_memory
from framework.storage import Migration

meta = sa.MetaData()
numbers = sa.Table("numbers", meta, sa.Column("n", sa.Integer, primary_key=True))


async def test_streamed_rows_come_in_order_by_partition_and_by_row(database, tmp_path) -> None:
    storage = database.storage(tmp_path)
    try:
        await storage.migrate([Migration(1, "numbers", meta.create_all, "t")])
        async with storage.begin() as conn:
            await conn.execute(numbers.insert(), [{"n": n} for n in range(25)])
        async with storage.connect() as conn:
            result = await conn.stream(sa.select(numbers.c.n).order_by(numbers.c.n))
            sizes = [[row.n for row in batch] async for batch in result.partitions(10)]
            assert sizes == [list(range(10)), list(range(10, 20)), list(range(20, 25))]
            rows = await conn.stream(sa.select(numbers.c.n).where(numbers.c.n < 3).order_by(numbers.c.n))
            assert [row.n async for row in rows] == [0, 1, 2]
            assert await conn.scalar(sa.select(sa.func.count()).select_from(numbers)) == 25
    finally:
        await storage.close()


async def test_run_sync_passes_arguments_and_an_error_rolls_the_transaction_back(database, tmp_path) -> None:
    storage = database.storage(tmp_path)
    try:
        await storage.migrate([Migration(1, "numbers", meta.create_all, "t")])

        def insert(connection: sa.Connection, first: int, *, count: int) -> int:
            connection.execute(numbers.insert(), [{"n": first + i} for i in range(count)])
            return int(connection.execute(sa.select(sa.func.count()).select_from(numbers)).scalar_one())

        async with storage.begin() as conn:
            assert await conn.run_sync(insert, 100, count=3) == 3
        with pytest.raises(RuntimeError, match="boom"):
            async with storage.begin() as conn:
                assert await conn.run_sync(insert, 200, count=2) == 5
                raise RuntimeError("boom")
        async with storage.connect() as conn:
            assert [r.n for r in await conn.execute(sa.select(numbers.c.n).order_by(numbers.c.n))] == [100, 101, 102]
    finally:
        await storage.close()


async def test_a_cancelled_task_returns_its_connection_to_the_pool(database, tmp_path) -> None:
    storage = database.storage(tmp_path)
    try:
        await storage.migrate([Migration(1, "numbers", meta.create_all, "t")])
        inside = asyncio.Event()

        async def hold() -> None:
            async with storage.begin() as conn:
                await conn.execute(numbers.insert().values(n=1))
                inside.set()
                await asyncio.sleep(60)

        task = asyncio.create_task(hold())
        await inside.wait()
        assert storage.engine.sync_engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert storage.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        async with storage.connect() as conn:  # the cancelled transaction was rolled back
            assert (await conn.execute(sa.select(sa.func.count()).select_from(numbers))).scalar_one() == 0
    finally:
        await storage.close()


def test_free_memory_goes_back_to_the_os_where_the_c_library_can() -> None:
    assert release_free_memory() is sys.platform.startswith("linux")
