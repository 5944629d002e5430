"""Connections to SQLite and PostgreSQL that the event loop awaits without blocking.

SQLite: Python's ``sqlite3``, each connection in a thread of its own (a statement and the fetch of
its rows are one trip to that thread). PostgreSQL: asyncpg's pool, on the loop's own sockets.

A connection starts a transaction with its first statement (SQLite: ``BEGIN``, or ``BEGIN
IMMEDIATE`` on a write connection, which takes the write lock at once) and rolls it back when
closed; ``async with conn.begin():`` commits on success. Connections go back to a pool.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from framework.sql import exc
from framework.sql.compiler import Compiled, compile_statement
from framework.sql.elements import ClauseElement
from framework.sql.result import Result, Rows, make_rows


class Dialect:
    def __init__(self, name: str) -> None:
        self.name = name


class URL:
    """A database URL: ``sqlite:///path`` or ``postgresql://user:password@host:port/db``."""

    def __init__(self, url: str) -> None:
        self.text = url
        parts = urllib.parse.urlsplit(url)
        self.backend = parts.scheme.split("+", 1)[0]
        if self.backend == "postgres":
            self.backend = "postgresql"
        if self.backend not in ("sqlite", "postgresql"):
            raise exc.InvalidRequestError(f"unsupported database {parts.scheme!r}: use sqlite:// or postgresql://")
        self.parts = parts

    def hide_password(self) -> str:
        parts = self.parts
        if parts.password is None:
            return self.text
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    def sqlite_target(self) -> tuple[str, bool]:
        """The file (or URI, with its query such as ``mode=ro``) for ``sqlite3.connect``."""
        path = self.text.split("://", 1)[1][1:] if "://" in self.text else ""
        path, _, query = path.partition("?")
        path = path or ":memory:"
        if not query:
            return path, False
        options = "&".join(p for p in query.split("&") if not p.startswith("uri="))
        if "uri=true" in query.split("&"):  # the path is a URI already (``file:...``)
            return f"{path}?{options}" if options else path, True
        return f"file:{urllib.parse.quote(path)}?{options}", True

    def asyncpg_dsn(self) -> str:
        return urllib.parse.urlunsplit(self.parts._replace(scheme="postgresql"))


def make_url(url: str) -> URL:
    return URL(url)


def create_engine(url: str, *, server_settings: dict[str, str] | None = None, busy_timeout: float = 5.0,
                  pool_size: int = 10) -> Engine:
    from framework.sql.drivers import PostgresEngine, SQLiteEngine  # they subclass Engine

    parsed = URL(url)
    if parsed.backend == "sqlite":
        return SQLiteEngine(parsed, busy_timeout=busy_timeout, pool_size=pool_size)
    return PostgresEngine(parsed, server_settings=server_settings or {}, pool_size=pool_size)


class Engine:
    def __init__(self, url: URL, pool_size: int) -> None:
        self.url = url
        self.dialect = Dialect(url.backend)
        self._slots = asyncio.Semaphore(pool_size)
        self.checked_out = 0
        """Connections in use now (taken from the pool and not yet given back)."""

    def connect(self, *, write: bool = False) -> Connection:
        """A pooled connection: ``async with engine.connect() as conn``. ``write``: its transactions
        take SQLite's write lock when they start (``BEGIN IMMEDIATE``)."""
        return Connection(self, write=write)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Connection]:
        async with self.connect() as conn, conn.begin():
            yield conn

    async def _acquire(self) -> Any:
        raise NotImplementedError

    async def _release(self, raw: Any) -> None:
        raise NotImplementedError

    async def _discard(self, raw: Any) -> None:
        """Close a broken connection instead of pooling it."""
        raise NotImplementedError

    async def dispose(self) -> None:
        raise NotImplementedError

    async def _tx_begin(self, raw: Any, write: bool) -> None:
        raise NotImplementedError

    async def _tx_commit(self, raw: Any) -> None:
        raise NotImplementedError

    async def _tx_rollback(self, raw: Any) -> None:
        raise NotImplementedError

    async def _execute(self, raw: Any, compiled: Compiled) -> tuple[Any, int, int | None, list[str]]:
        """Run ``compiled``: its rows (sequences), the row count, SQLite's last row id, the column names."""
        raise NotImplementedError

    async def _execute_many(self, raw: Any, sql: str, rows: list[list[Any]]) -> None:
        raise NotImplementedError

    async def _stream(self, raw: Any, compiled: Compiled) -> Rows:
        raise NotImplementedError


class Connection:
    def __init__(self, engine: Engine, *, write: bool = False) -> None:
        self.engine, self.write = engine, write
        self.dialect = engine.dialect
        self.wrote = False
        """Whether a statement that changes something ran on this connection."""
        self._raw: Any = None
        self._in_transaction = False

    async def start(self) -> Connection:
        if self._raw is not None:
            raise exc.InvalidRequestError("the connection is already started")
        await self.engine._slots.acquire()
        try:
            self._raw = await self.engine._acquire()
        except BaseException:
            self.engine._slots.release()
            raise
        self.engine.checked_out += 1
        return self

    def __await__(self) -> Any:
        return self.start().__await__()

    async def __aenter__(self) -> Connection:
        return await self.start()

    async def __aexit__(self, kind: type[BaseException] | None, value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await _to_completion(self.close())

    @property
    def raw(self) -> Any:
        if self._raw is None:
            raise exc.InvalidRequestError("the connection is not started: use `async with` or await it")
        return self._raw

    async def close(self) -> None:
        raw, self._raw = self._raw, None
        if raw is None:
            return
        try:
            if self._in_transaction:
                self._in_transaction = False
                try:
                    await self.engine._tx_rollback(raw)
                except Exception:  # a connection that cannot even roll back is not pooled again
                    await self.engine._discard(raw)
                    return
            await self.engine._release(raw)
        finally:
            self.engine.checked_out -= 1
            self.engine._slots.release()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Connection]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        if self._in_transaction:
            raise exc.InvalidRequestError("a transaction is already begun on this connection")
        await self._begin()
        try:
            yield self
        except BaseException:
            if self._in_transaction:
                await _to_completion(self.rollback())
            raise
        await self.commit()

    async def _begin(self) -> None:
        await self._run_driver(lambda raw: self.engine._tx_begin(raw, self.write), "BEGIN")
        self._in_transaction = True

    async def commit(self) -> None:
        if self._in_transaction:
            self._in_transaction = False
            await self._run_driver(self.engine._tx_commit, "COMMIT")

    async def rollback(self) -> None:
        if self._in_transaction:
            self._in_transaction = False
            await self._run_driver(self.engine._tx_rollback, "ROLLBACK")

    async def _run_driver(self, fn: Any, what: str) -> Any:
        with exc.translated(what, None):
            return await fn(self.raw)

    async def execute(self, statement: ClauseElement, parameters: dict[str, Any] | Sequence[dict[str, Any]] | None
                      = None) -> Result:
        """Run a statement; its rows are fetched before this returns. A list of dicts runs an
        INSERT or UPDATE once per dict."""
        if isinstance(parameters, (list, tuple)):
            return await self._execute_many(statement, parameters)
        compiled = compile_statement(statement, self.dialect.name, parameters)  # type: ignore[arg-type]
        if not self._in_transaction:
            await self._begin()
        if compiled.kind in ("insert", "update", "delete", "ddl"):
            self.wrote = True
        with exc.translated(compiled.sql, compiled.params):
            raw_rows, rowcount, lastrowid, found = await self.engine._execute(self.raw, compiled)
        names = [name for name, _ in compiled.columns] or found
        rows = make_rows(names, [p for _, p in compiled.columns] or [None] * len(names), raw_rows)
        key = None
        if compiled.autoincrement is not None:
            key = (rows[0][0],) if self.dialect.name == "postgresql" and rows else (lastrowid,)
            if self.dialect.name == "postgresql":
                rows = []
        return Result(rows, rowcount, key, names)

    async def _execute_many(self, statement: ClauseElement, parameters: Sequence[dict[str, Any]]) -> Result:
        """One statement per dict, sent to the driver in one batch per SQL text (``executemany``)."""
        batches: dict[str, list[list[Any]]] = {}
        for params in parameters:
            compiled = compile_statement(statement, self.dialect.name, params)
            if compiled.returns_rows and self.dialect.name == "postgresql":  # RETURNING: one at a time
                compiled.sql = compiled.sql.rsplit(" RETURNING ", 1)[0]
            batches.setdefault(compiled.sql, []).append(compiled.params)
        if not batches:
            return Result([], 0)
        if not self._in_transaction:
            await self._begin()
        self.wrote = True
        for sql, rows in batches.items():
            with exc.translated(sql, rows[:1]):
                await self.engine._execute_many(self.raw, sql, rows)
        return Result([], len(parameters))

    async def scalar(self, statement: ClauseElement, parameters: dict[str, Any] | None = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def stream(self, statement: ClauseElement, parameters: dict[str, Any] | None = None) -> Rows:
        """Run a query whose rows are fetched as they are read."""
        compiled = compile_statement(statement, self.dialect.name, parameters)
        if not self._in_transaction:
            await self._begin()
        with exc.translated(compiled.sql, compiled.params):
            return await self.engine._stream(self.raw, compiled)


async def _to_completion(coro: Any) -> Any:
    """Run ``coro`` (a clean-up, such as returning a connection to its pool) to its end even if
    the caller is cancelled meanwhile, then re-raise the cancellation."""
    task = asyncio.ensure_future(coro)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError as err:
            if task.done():
                raise
            cancelled = err
        else:
            break
    if cancelled is not None:
        raise cancelled
    return result

