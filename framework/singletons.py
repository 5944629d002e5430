"""Background work that must run in exactly one process, however many share the database.

``app.singleton_task(name, coro_factory)`` runs ``coro_factory()`` in this process once it holds
the lease ``name`` (:mod:`framework.leases`), renews the lease while the coroutine runs, and gives
it back when the coroutine ends. A process that does not get the lease tries again every third of
the lease's time; when the holder dies its lease lapses and one of them takes over (at most the
lease's time plus one retry later). A holder that cannot renew (the lease lapsed, the database is
gone) cancels its coroutine at once: two processes never run the same singleton knowingly.

On SQLite the single process owns everything: no lease is taken (the database is one process's).
A coroutine that ends, normally or with an error (logged), is over: no other process reruns it
unless a process asks again (the coroutine should find its work done and return).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from framework import sql as sa
from framework.errors import UserError
from framework.leases import Leases

log = logging.getLogger(__name__)

CoroFactory = Callable[[], Coroutine[Any, Any, Any]]


class Singleton:
    """One named singleton task in this process: waiting for its lease, or running."""

    def __init__(self, name: str, task: asyncio.Task[None]) -> None:
        self.name = name
        self.task = task
        self.running = asyncio.Event()
        """Set while this process holds the lease and runs the coroutine."""

    def cancel(self) -> None:
        """Stop waiting, or stop the coroutine; the lease is given back."""
        self.task.cancel()

    def done(self) -> bool:
        return self.task.done()


class Singletons:
    """The singleton tasks of one process."""

    def __init__(self, leases: Leases | None) -> None:
        """``leases``: ``None`` when this process owns everything (SQLite)."""
        self.leases = leases
        self.tasks: dict[str, Singleton] = {}

    def start(self, name: str, factory: CoroFactory) -> Singleton:
        """Run ``factory()`` in exactly one process; returns this process's handle. Asking again for
        a name this process is already waiting for or running returns the same handle."""
        current = self.tasks.get(name)
        if current is not None and not current.done():
            return current
        task = asyncio.get_running_loop().create_task(self._hold(name, factory), name=f"singleton:{name}")
        handle = Singleton(name, task)
        self.tasks[name] = handle
        task.add_done_callback(lambda _t: self._forget(handle))
        return handle

    def _forget(self, handle: Singleton) -> None:
        if self.tasks.get(handle.name) is handle:
            del self.tasks[handle.name]

    async def _hold(self, name: str, factory: CoroFactory) -> None:
        handle = self.tasks[name]
        if self.leases is None:
            handle.running.set()
            await _run(name, factory)
            return
        retry = self.leases.seconds / 3
        while True:
            if not await self._try(self.leases.take, name):
                await asyncio.sleep(retry)
                continue
            log.info("singleton %s runs in this process (%s)", name, self.leases.owner)
            handle.running.set()
            work = asyncio.get_running_loop().create_task(_run(name, factory))
            try:
                while not work.done():
                    await asyncio.wait({work}, timeout=retry)
                    if not work.done() and not await self._try(self.leases.renew, name):
                        log.warning("singleton %s: lost its lease (expired or taken); stopping it here", name)
                        work.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await work
                        break
                else:
                    return  # the work is over: the lease is given back below
            finally:
                handle.running.clear()
                if not work.done():
                    work.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await work
                await asyncio.shield(self._give_back(name))

    async def _try(self, step: Callable[[str], Coroutine[Any, Any, bool]], name: str) -> bool:
        try:
            return await step(name)
        except (sa.exc.SQLError, OSError, UserError) as exc:  # the database is gone or refuses writes
            log.warning("singleton %s: the lease table cannot be reached (%s)", name, exc)
            return False

    async def _give_back(self, name: str) -> None:
        assert self.leases is not None
        try:
            await self.leases.give_back(name)
        except (sa.exc.SQLError, OSError, UserError) as exc:
            log.warning("singleton %s: could not give its lease back (%s); it lapses by itself", name, exc)

    async def close(self) -> None:
        """Stop every singleton of this process and give their leases back (a clean shutdown)."""
        handles = list(self.tasks.values())
        for handle in handles:
            handle.cancel()
        for handle in handles:
            with contextlib.suppress(asyncio.CancelledError):
                await handle.task


async def _run(name: str, factory: CoroFactory) -> None:
    try:
        await factory()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("singleton %s failed", name)
