"""Rows and results: a row is a tuple whose values are also attributes by column name
(``row.name``, ``row[0]``, ``row._mapping``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

from framework.sql.exc import MultipleResultsFound, NoResultFound
from framework.sql.types import Processor


class Row(tuple[Any, ...]):
    __slots__ = ()
    _keys: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        try:
            return self[type(self)._keys[name]]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return {key: self[i] for key, i in type(self)._keys.items()}

    def _asdict(self) -> dict[str, Any]:
        return self._mapping


_ROW_CLASSES: dict[tuple[str, ...], type[Row]] = {}


def row_class(names: Sequence[str]) -> type[Row]:
    """The row type of a result with these column names (made once per set of names)."""
    key = tuple(names)
    cls = _ROW_CLASSES.get(key)
    if cls is None:
        keys: dict[str, int] = {}
        for i, name in enumerate(key):
            keys.setdefault(name, i)
        cls = _ROW_CLASSES[key] = type("Row", (Row,), {"__slots__": (), "_keys": keys})
    return cls


def make_rows(names: Sequence[str], processors: Sequence[Processor], raw: Sequence[Sequence[Any]]) -> list[Row]:
    cls = row_class(names)
    if not any(processors):
        return [cls(r) for r in raw]
    procs = list(processors)
    return [cls([v if p is None or v is None else p(v) for p, v in zip(procs, r, strict=False)]) for r in raw]


class Result:
    """A statement's outcome, its rows already fetched."""

    def __init__(self, rows: list[Row], rowcount: int = -1, inserted_primary_key: tuple[Any, ...] | None = None,
                 keys: Sequence[str] = ()) -> None:
        self._rows = rows
        self.rowcount = rowcount
        self.inserted_primary_key = inserted_primary_key
        self._keys = list(keys)

    def keys(self) -> list[str]:
        return list(self._keys)

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def all(self) -> list[Row]:
        return list(self._rows)

    fetchall = all

    def first(self) -> Row | None:
        return self._rows[0] if self._rows else None

    fetchone = first

    def one_or_none(self) -> Row | None:
        if len(self._rows) > 1:
            raise MultipleResultsFound("more than one row where at most one was expected")
        return self.first()

    def one(self) -> Row:
        row = self.one_or_none()
        if row is None:
            raise NoResultFound("no row where one was expected")
        return row

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalars(self) -> ScalarResult:
        return ScalarResult([r[0] for r in self._rows])


class ScalarResult:
    """The first column of each row: ``result.scalars().all()``."""

    def __init__(self, values: list[Any]) -> None:
        self._values = values

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def all(self) -> list[Any]:
        return list(self._values)

    def first(self) -> Any:
        return self._values[0] if self._values else None


class Rows:
    """Rows fetched as they are read (:meth:`Connection.stream`): ``async for row in rows``."""

    def __init__(self, fetch: Callable[[int], Awaitable[list[Row]]], close: Callable[[], Awaitable[None]]) -> None:
        self._fetch, self._close = fetch, close
        self._buffer: list[Row] = []
        self._done = False

    def __aiter__(self) -> Rows:
        return self

    async def __anext__(self) -> Row:
        if not self._buffer and not self._done:
            self._buffer = await self._fetch(100)
            self._buffer.reverse()
            self._done = not self._buffer
        if not self._buffer:
            raise StopAsyncIteration
        return self._buffer.pop()

    async def partitions(self, size: int) -> AsyncIterator[list[Row]]:
        """Lists of at most ``size`` rows, until there are none left."""
        while True:
            batch = list(reversed(self._buffer))[:size]
            self._buffer = self._buffer[:len(self._buffer) - len(batch)]
            if len(batch) < size and not self._done:
                more = await self._fetch(size - len(batch))
                self._done = not more
                batch += more
            if not batch:
                return
            yield batch

    async def close(self) -> None:
        await self._close()
