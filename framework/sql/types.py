"""Column types: how each is declared in DDL, and how values go in and come back, per backend.

Values are stored as SQLAlchemy 2 stored them, so databases made by earlier trainerbot versions
read back the same: SQLite keeps times as UTC text (``2026-11-30 12:00:00.000000``, or without the
fraction where ``CURRENT_TIMESTAMP`` filled them) and booleans as 0/1; PostgreSQL uses its own types.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

Processor = Callable[[Any], Any] | None


class TypeEngine:
    """A column's type. ``ddl(dialect)`` names it in ``CREATE TABLE``; ``cast`` is how a bound value
    of it is cast on PostgreSQL (asyncpg prepares statements and must know each parameter's type)."""

    cast = "TEXT"

    def ddl(self, dialect: str) -> str:
        raise NotImplementedError

    def bind(self, dialect: str) -> Processor:
        """Converts a Python value for the driver (``None``: as it is)."""
        return None

    def result(self, dialect: str) -> Processor:
        """Converts a value the driver returned (``None``: as it is)."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Integer(TypeEngine):
    cast = "INTEGER"

    def ddl(self, dialect: str) -> str:
        return "INTEGER"


class BigInteger(Integer):
    cast = "BIGINT"

    def ddl(self, dialect: str) -> str:
        return "BIGINT"


class Float(TypeEngine):
    cast = "FLOAT"

    def ddl(self, dialect: str) -> str:
        return "FLOAT"

    def bind(self, dialect: str) -> Processor:
        return None if dialect == "sqlite" else _to_float

    def result(self, dialect: str) -> Processor:
        return _to_float


def _to_float(value: Any) -> Any:
    return float(value) if value is not None else None


class String(TypeEngine):
    cast = "VARCHAR"

    def __init__(self, length: int | None = None) -> None:
        self.length = length

    def ddl(self, dialect: str) -> str:
        return f"VARCHAR({self.length})" if self.length else "VARCHAR"

    def __repr__(self) -> str:
        return f"String({self.length})"


class Text(String):
    cast = "TEXT"

    def ddl(self, dialect: str) -> str:
        return "TEXT"


class Boolean(TypeEngine):
    cast = "BOOLEAN"

    def ddl(self, dialect: str) -> str:
        return "BOOLEAN"

    def bind(self, dialect: str) -> Processor:
        return _to_int_bool if dialect == "sqlite" else None

    def result(self, dialect: str) -> Processor:
        return _to_bool if dialect == "sqlite" else None


def _to_int_bool(value: Any) -> Any:
    return None if value is None else int(bool(value))


def _to_bool(value: Any) -> Any:
    return None if value is None else bool(value)


class DateTime(TypeEngine):
    """A moment. Stored in UTC on both backends: an aware value is converted to UTC, a naive one is
    taken to be UTC already. SQLite gives naive UTC values back, PostgreSQL aware ones
    (:func:`framework.storage.utc` makes both aware)."""

    def __init__(self, timezone: bool = False) -> None:
        self.timezone = timezone

    @property
    def cast(self) -> str:  # type: ignore[override]
        return "TIMESTAMP WITH TIME ZONE" if self.timezone else "TIMESTAMP WITHOUT TIME ZONE"

    def ddl(self, dialect: str) -> str:
        return "DATETIME" if dialect == "sqlite" else self.cast

    def bind(self, dialect: str) -> Processor:
        if dialect == "sqlite":
            return _sqlite_time
        return _aware_utc if self.timezone else _naive_utc

    def result(self, dialect: str) -> Processor:
        return _parse_sqlite_time if dialect == "sqlite" else None

    def __repr__(self) -> str:
        return f"DateTime(timezone={self.timezone})"


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value


def _aware_utc(value: Any) -> Any:
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=datetime.UTC)
    return value


def _sqlite_time(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        value = _naive_utc(value)
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond:06d}"
    if isinstance(value, datetime.date):
        return value.strftime("%Y-%m-%d 00:00:00.000000")
    return value


def _parse_sqlite_time(value: Any) -> Any:
    if value is None or isinstance(value, datetime.datetime):
        return value
    text = str(value)
    if "." in text:
        head, fraction = text.split(".", 1)
        parsed = datetime.datetime.strptime(head, "%Y-%m-%d %H:%M:%S")
        return parsed.replace(microsecond=int((fraction + "000000")[:6]))
    return datetime.datetime.fromisoformat(text)


class NullType(TypeEngine):
    """The type of an expression nothing says the type of: values pass as they are."""

    cast = ""

    def ddl(self, dialect: str) -> str:  # pragma: no cover - never a column's type
        raise TypeError("an untyped expression has no DDL")


def infer(value: Any) -> TypeEngine:
    """The type a plain Python value is bound as."""
    if isinstance(value, bool):
        return Boolean()
    if isinstance(value, int):
        return BigInteger()
    if isinstance(value, float):
        return Float()
    if isinstance(value, str):
        return String()
    if isinstance(value, datetime.datetime):
        return DateTime(timezone=value.tzinfo is not None)
    return NullType()
