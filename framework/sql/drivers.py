"""The two backends under :mod:`framework.sql.engine`: SQLite through ``sqlite3`` in a thread per
connection, PostgreSQL through asyncpg's pool."""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from framework.sql import exc
from framework.sql.compiler import Compiled
from framework.sql.engine import URL, Engine
from framework.sql.result import Row, Rows, make_rows

T = TypeVar("T")

IDLE = 5
"""Connections a pool keeps open while nobody uses them."""


class _SQLiteConnection:
    """One ``sqlite3`` connection and the one thread it is used from."""

    def __init__(self) -> None:
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self.db: sqlite3.Connection | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.thread, functools.partial(fn, *args))

    def open(self, target: str, uri: bool, busy_timeout: float,
             hooks: list[Callable[[sqlite3.Connection], Any]]) -> None:
        # isolation_level=None: the driver opens no transaction on its own; Connection says BEGIN, and how
        db = sqlite3.connect(target, uri=uri, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            for hook in hooks:
                hook(db)
        except BaseException:
            db.close()
            raise
        self.db = db

    def execute(self, sql: str, params: list[Any]) -> tuple[list[Any], int, int | None, list[str]]:
        assert self.db is not None
        cursor = self.db.execute(sql, params)
        try:
            if cursor.description is None:
                return [], cursor.rowcount, cursor.lastrowid, []
            return cursor.fetchall(), cursor.rowcount, cursor.lastrowid, [d[0] for d in cursor.description]
        finally:
            cursor.close()

    def execute_many(self, sql: str, rows: list[list[Any]]) -> None:
        assert self.db is not None
        self.db.executemany(sql, rows).close()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


class SQLiteEngine(Engine):
    def __init__(self, url: URL, *, busy_timeout: float, pool_size: int) -> None:
        super().__init__(url, pool_size)
        self.target, self.uri = url.sqlite_target()
        self.busy_timeout = busy_timeout
        self.on_connect: list[Callable[[sqlite3.Connection], Any]] = []
        """Called with each new ``sqlite3`` connection, in its thread (settings of one's own, tests)."""
        self._idle: list[_SQLiteConnection] = []

    async def _acquire(self) -> _SQLiteConnection:
        if self._idle:
            return self._idle.pop()
        conn = _SQLiteConnection()
        try:
            await conn.run(conn.open, self.target, self.uri, self.busy_timeout, list(self.on_connect))
        except BaseException:
            conn.thread.shutdown(wait=False)
            raise
        return conn

    async def _release(self, raw: _SQLiteConnection) -> None:
        if len(self._idle) < IDLE and raw.db is not None and not raw.db.in_transaction:
            self._idle.append(raw)
        else:
            await self._close(raw)

    async def _discard(self, raw: _SQLiteConnection) -> None:
        await self._close(raw)

    async def _close(self, raw: _SQLiteConnection) -> None:
        try:
            await raw.run(raw.close)
        finally:
            raw.thread.shutdown(wait=False)

    async def dispose(self) -> None:
        idle, self._idle = self._idle, []
        for raw in idle:
            await self._close(raw)

    async def _tx_begin(self, raw: _SQLiteConnection, write: bool) -> None:
        await raw.run(raw.execute, "BEGIN IMMEDIATE" if write else "BEGIN", [])

    async def _tx_commit(self, raw: _SQLiteConnection) -> None:
        await raw.run(raw.execute, "COMMIT", [])

    async def _tx_rollback(self, raw: _SQLiteConnection) -> None:
        if raw.db is not None and raw.db.in_transaction:
            await raw.run(raw.execute, "ROLLBACK", [])

    async def _execute(self, raw: _SQLiteConnection, compiled: Compiled) -> tuple[Any, int, int | None, list[str]]:
        return await raw.run(raw.execute, compiled.sql, compiled.params)

    async def _execute_many(self, raw: _SQLiteConnection, sql: str, rows: list[list[Any]]) -> None:
        await raw.run(raw.execute_many, sql, rows)

    async def _stream(self, raw: _SQLiteConnection, compiled: Compiled) -> Rows:
        assert raw.db is not None
        cursor = await raw.run(raw.db.execute, compiled.sql, compiled.params)
        names = [name for name, _ in compiled.columns] or [d[0] for d in cursor.description or ()]
        processors = [p for _, p in compiled.columns] or [None] * len(names)

        async def fetch(size: int) -> list[Row]:
            return make_rows(names, processors, await raw.run(cursor.fetchmany, size))

        async def close() -> None:
            await raw.run(cursor.close)

        return Rows(fetch, close)


_STATUS = re.compile(r"(\d+)$")


def _closed(raw: Any) -> bool:
    """Whether an asyncpg connection is closed: by us, by the server (a restart, an admin), or lost,
    in which case asyncpg has detached it from its pool and any call on it raises."""
    import asyncpg

    try:
        return bool(raw.is_closed())
    except asyncpg.InterfaceError:
        return True


class PostgresEngine(Engine):
    def __init__(self, url: URL, *, server_settings: dict[str, str], pool_size: int) -> None:
        super().__init__(url, pool_size)
        self.server_settings = server_settings
        self.pool_size = pool_size
        self._pool: Any = None
        self._creating = asyncio.Lock()

    async def _acquire(self) -> Any:
        import asyncpg

        with exc.translated(None, None):
            async with self._creating:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(self.url.asyncpg_dsn(), min_size=0, max_size=self.pool_size,
                                                           max_inactive_connection_lifetime=60.0,
                                                           server_settings=self.server_settings)
            raw = await self._pool.acquire()
            if raw.is_closed():  # the server closed it (a restart): take a fresh one
                await self._pool.release(raw)
                raw = await self._pool.acquire()
        return raw

    async def _release(self, raw: Any) -> None:
        import asyncpg

        if self._pool is not None:
            try:
                await self._pool.release(raw)
            except asyncpg.InterfaceError:  # asyncpg took it back itself when the connection closed
                pass

    async def _discard(self, raw: Any) -> None:
        import asyncpg

        try:
            raw.terminate()
        except asyncpg.InterfaceError:  # already closed and detached by asyncpg
            pass
        await self._release(raw)

    async def dispose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _tx_begin(self, raw: Any, write: bool) -> None:
        await raw.execute("BEGIN")

    async def _tx_commit(self, raw: Any) -> None:
        await raw.execute("COMMIT")

    async def _tx_rollback(self, raw: Any) -> None:
        if not _closed(raw) and raw.is_in_transaction():
            await raw.execute("ROLLBACK")

    async def _execute(self, raw: Any, compiled: Compiled) -> tuple[Any, int, int | None, list[str]]:
        if compiled.returns_rows:
            records = await raw.fetch(compiled.sql, *compiled.params)
            names = list(records[0].keys()) if records else []
            return records, len(records), None, names
        if compiled.params:
            status = await raw.execute(compiled.sql, *compiled.params)
        else:
            status = await raw.execute(compiled.sql)
        match = _STATUS.search(status or "")
        return [], int(match.group(1)) if match else -1, None, []

    async def _execute_many(self, raw: Any, sql: str, rows: list[list[Any]]) -> None:
        await raw.executemany(sql, rows)

    async def _stream(self, raw: Any, compiled: Compiled) -> Rows:
        cursor = await raw.cursor(compiled.sql, *compiled.params)
        names = [name for name, _ in compiled.columns]
        processors = [p for _, p in compiled.columns]

        async def fetch(size: int) -> list[Row]:
            records = await cursor.fetch(size)
            found = names or (list(records[0].keys()) if records else [])
            return make_rows(found, processors or [None] * len(found), records)

        async def close() -> None:
            return None

        return Rows(fetch, close)
