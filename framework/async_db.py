"""SQLAlchemy Core for asyncio without ``sqlalchemy.ext.asyncio``: the few awaitable methods the
bot uses, over a synchronous :class:`~sqlalchemy.engine.Engine` built on an asyncio driver
(aiosqlite, asyncpg).

This is what ``sqlalchemy.ext.asyncio`` does inside: each call runs the synchronous Core method
in a greenlet (``sqlalchemy.util.greenlet_spawn``), where the asyncio dialect awaits the driver
without blocking the event loop. The package itself is not imported because importing it loads
its ORM session classes and, with them, most of ``sqlalchemy.orm`` (about 6 MiB of memory the
bot never uses: its storage is Core only). Results are buffered as ``ext.asyncio``'s are; only
:meth:`AsyncConnection.stream` fetches rows as they are read.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, TypeVarTuple, overload

import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult, Dialect, Engine, Result, RootTransaction, Row
from sqlalchemy.sql import Executable
from sqlalchemy.util import greenlet_spawn

if TYPE_CHECKING:
    from sqlalchemy.sql.selectable import TypedReturnsRows

P = ParamSpec("P")
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def create_async_engine(url: str | sa.URL, **options: Any) -> AsyncEngine:
    """An engine for an asyncio driver URL (``sqlite+aiosqlite://``, ``postgresql+asyncpg://``),
    with ``create_engine``'s options: as ``sqlalchemy.ext.asyncio.create_async_engine`` makes it."""
    return AsyncEngine(sa.create_engine(url, _is_async=True, **options))


async def _to_completion(coro: Coroutine[Any, Any, T]) -> T:
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


class AsyncEngine:
    """An engine whose connections are awaited: ``async with engine.connect() as conn``."""

    def __init__(self, sync_engine: Engine) -> None:
        self.sync_engine = sync_engine
        """The synchronous engine underneath, for event listeners."""

    @property
    def dialect(self) -> Dialect:
        return self.sync_engine.dialect

    def connect(self) -> AsyncConnection:
        """A connection, checked out of the pool on ``async with`` (or ``await``)."""
        return AsyncConnection(self)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a transaction, committed on success, rolled back on error."""
        async with self.connect() as conn, conn.begin():
            yield conn

    async def dispose(self) -> None:
        """Close the pool's connections."""
        await greenlet_spawn(self.sync_engine.dispose)


class AsyncConnection:
    """One pooled connection: ``execute`` and friends return buffered results."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sync: Connection | None = None

    @property
    def sync_connection(self) -> Connection:
        """The synchronous connection underneath (once started)."""
        if self._sync is None:
            raise sa.exc.InvalidRequestError("the connection is not started: use `async with` or await it")
        return self._sync

    @property
    def dialect(self) -> Dialect:
        return self.engine.dialect

    async def start(self) -> AsyncConnection:
        if self._sync is not None:
            raise sa.exc.InvalidRequestError("connection is already started")
        self._sync = await greenlet_spawn(self.engine.sync_engine.connect)
        return self

    def __await__(self) -> Any:
        return self.start().__await__()

    async def __aenter__(self) -> AsyncConnection:
        return await self.start()

    async def __aexit__(self, kind: type[BaseException] | None, value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await _to_completion(self.close())

    async def close(self) -> None:
        if self._sync is not None:
            await greenlet_spawn(self._sync.close)

    def begin(self) -> AsyncTransaction:
        """A transaction: ``async with conn.begin():`` commits on success, rolls back on error."""
        return AsyncTransaction(self)

    async def commit(self) -> None:
        await greenlet_spawn(self.sync_connection.commit)

    async def rollback(self) -> None:
        await greenlet_spawn(self.sync_connection.rollback)

    async def execution_options(self, **options: Any) -> AsyncConnection:
        """Set execution options on this connection (as ``Connection.execution_options``); returns it."""
        await greenlet_spawn(self.sync_connection.execution_options, **options)
        return self

    @overload
    async def execute(self, statement: TypedReturnsRows[*Ts], parameters: Any = None, *,
                      execution_options: Any = None) -> CursorResult[*Ts]: ...

    @overload
    async def execute(self, statement: Executable, parameters: Any = None, *,
                      execution_options: Any = None) -> CursorResult[*tuple[Any, ...]]: ...

    async def execute(self, statement: Executable, parameters: Any = None, *,
                      execution_options: Any = None) -> CursorResult[*tuple[Any, ...]]:
        """Run a statement; its rows are fetched before this returns."""
        return await greenlet_spawn(self.sync_connection.execute, statement, parameters,
                                    execution_options=execution_options, _require_await=True)

    async def exec_driver_sql(self, statement: str, parameters: Any = None, *,
                              execution_options: Any = None) -> CursorResult[Any]:
        return await greenlet_spawn(self.sync_connection.exec_driver_sql, statement, parameters,
                                    execution_options=execution_options, _require_await=True)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        """The first column of the first row, or ``None``."""
        return (await self.execute(statement, parameters)).scalar()

    async def stream(self, statement: Any, parameters: Any = None) -> AsyncRows:
        """Run a query whose rows are fetched as they are read (a server-side cursor)."""
        result = await greenlet_spawn(self.sync_connection.execute, statement, parameters,
                                      execution_options={"stream_results": True}, _require_await=True)
        return AsyncRows(result)

    async def run_sync(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn(connection, *args, **kwargs)`` with the synchronous connection (its queries
        still await the driver: do not block in it)."""
        return await greenlet_spawn(functools.partial(fn, self.sync_connection, *args, **kwargs))


class AsyncTransaction:
    """The connection's transaction, as an async context manager."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self._sync: RootTransaction | None = None

    async def __aenter__(self) -> AsyncTransaction:
        self._sync = await greenlet_spawn(self.connection.sync_connection.begin)
        self._sync.__enter__()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        if self._sync is not None:
            await greenlet_spawn(self._sync.__exit__, kind, value, traceback)


class AsyncRows:
    """Rows of :meth:`AsyncConnection.stream`, fetched from the cursor as they are read."""

    def __init__(self, result: Result[Any]) -> None:
        self._result = result

    def __aiter__(self) -> AsyncRows:
        return self

    async def __anext__(self) -> Row[Any]:
        row = await greenlet_spawn(self._result.fetchone)
        if row is None:
            raise StopAsyncIteration
        return row

    async def partitions(self, size: int) -> AsyncIterator[Sequence[Row[Any]]]:
        """Lists of at most ``size`` rows, until there are none left."""
        while rows := await greenlet_spawn(self._result.fetchmany, size):
            yield rows

    async def close(self) -> None:
        await greenlet_spawn(self._result.close)
