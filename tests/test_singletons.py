"""One owner per background job: leases on both backends (a portable table on the database's own
clock), and ``singleton_task`` on top of them: exactly one process runs the work, and when its
holder stops renewing (it died) another takes over once the lease lapses."""

from __future__ import annotations

import asyncio

import pytest

from framework.leases import Leases, leases
from framework.singletons import Singletons
from framework.storage import Storage


async def eventually(probe, timeout: float = 10.0):
    """Re-check an async condition until it holds (the lease's expiry is on the database's clock)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := await probe()):
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting for the condition"
        await asyncio.sleep(0.02)
    return result


@pytest.fixture
async def two_processes(database, tmp_path):
    """Two storages on one database, as two processes would have (SQLite: one file, two engines)."""
    first: Storage = database.storage(tmp_path)
    await first.migrate([])
    second: Storage = database.storage(tmp_path)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_a_lease_has_one_holder_until_it_lapses(two_processes) -> None:
    first, second = two_processes
    a, b = Leases(first, "process-a", 0.5), Leases(second, "process-b", 0.5)
    assert await a.take("job:1") and not await b.take("job:1")
    assert await a.take("job:1"), "the holder takes its own lease again (a renewal)"
    assert await b.take("job:2"), "other names are free"
    assert await a.holder("job:1") == "process-a"
    # process-a dies: it stops renewing; process-b takes the lease once it lapses, and a's renewal fails
    await eventually(lambda: b.take("job:1"))
    assert not await a.renew("job:1")
    assert await b.renew("job:1") and await b.holder("job:1") == "process-b"
    await b.give_back("job:1")
    assert await b.holder("job:1") is None and await a.take("job:1")


async def test_concurrent_takers_get_one_holder(two_processes) -> None:
    first, second = two_processes
    takers = [Leases(first if i % 2 else second, f"process-{i}", 5) for i in range(8)]
    results = await asyncio.gather(*(t.take("reminders") for t in takers))
    assert sum(results) == 1


@pytest.mark.backends("postgresql")  # SQLite: one process owns everything, no lease is taken
async def test_a_singleton_runs_in_one_process_and_moves_when_its_holder_stops(two_processes) -> None:
    first, second = two_processes
    ran: list[str] = []
    release = asyncio.Event()

    def work(who: str):
        async def run() -> None:
            ran.append(who)
            await release.wait()
        return run

    one, two = Singletons(Leases(first, "one", 0.6)), Singletons(Leases(second, "two", 0.6))
    handle_one = one.start("poller", work("one"))
    await asyncio.wait_for(handle_one.running.wait(), 10)
    handle_two = two.start("poller", work("two"))
    assert two.start("poller", work("again")) is handle_two, "one handle per name and process"
    assert await Leases(first, "x", 1).holder("poller") == "one"
    assert ran == ["one"] and not handle_two.running.is_set()
    handle_one.cancel()  # a clean stop gives the lease back: the other process takes it at its next try
    await asyncio.wait_for(handle_two.running.wait(), 10)
    assert ran == ["one", "two"]
    release.set()
    await asyncio.wait_for(handle_two.task, 10)
    assert await Leases(first, "x", 1).holder("poller") is None, "finished work gives its lease back"
    await one.close()
    await two.close()


@pytest.mark.backends("postgresql")
async def test_a_holder_that_cannot_renew_stops_its_work(two_processes) -> None:
    """Someone else holds the lease now (ours lapsed while we were paused): our work is cancelled."""
    first, second = two_processes
    stopped = asyncio.Event()

    async def run() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    mine = Singletons(Leases(first, "paused", 0.6))
    handle = mine.start("poller", run)
    await asyncio.wait_for(handle.running.wait(), 10)
    thief = Leases(second, "other", 30)
    async with second.begin() as conn:  # the lease lapsed and another process took it
        await conn.execute(leases.update().values(owner="other"))
    await asyncio.wait_for(stopped.wait(), 10)
    assert await thief.holder("poller") == "other"
    await mine.close()


@pytest.mark.backends("sqlite")
async def test_on_sqlite_the_process_owns_every_singleton(database, tmp_path) -> None:
    singletons = Singletons(None)
    done = asyncio.Event()

    async def run() -> None:
        done.set()

    handle = singletons.start("anything", run)
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.wait_for(handle.task, 5)
