"""Errors of the database layer. A driver's own error (``sqlite3`` or asyncpg) is wrapped in a
:class:`DBAPIError` subclass that keeps it as ``orig``: SQLite's ``sqlite_errorname``, PostgreSQL's
``sqlstate`` and the message stay readable for code that must tell causes apart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class SQLError(Exception):
    """Any error of the database layer."""


class InvalidRequestError(SQLError):
    """The layer was used wrongly (a connection not started, a result with no row where one was required)."""


class NoResultFound(InvalidRequestError):
    pass


class MultipleResultsFound(InvalidRequestError):
    pass


class DBAPIError(SQLError):
    """The database or its driver refused a statement; ``orig`` is the driver's exception."""

    def __init__(self, statement: str | None, params: Any, orig: BaseException) -> None:
        super().__init__(f"({type(orig).__module__}.{type(orig).__name__}) {orig}")
        self.statement, self.params, self.orig = statement, params, orig


class IntegrityError(DBAPIError):
    """A constraint refused the change (unique, foreign key, not null)."""


class OperationalError(DBAPIError):
    """The database could not do it now: locked, read-only, full, or the connection is gone."""


class ProgrammingError(DBAPIError):
    """The statement itself is wrong (a missing table or column, bad SQL)."""


class DataError(DBAPIError):
    """A value the column cannot take (a number out of range, bad text)."""


def wrap(error: BaseException, statement: str | None, params: Any) -> BaseException:
    """The layer's error for a driver's exception (``OverflowError`` and others pass as they are)."""
    module = type(error).__module__
    name = " ".join(cls.__name__ for cls in type(error).__mro__)
    if module.startswith("sqlite3") or module == "_sqlite3":
        for word, kind in (("IntegrityError", IntegrityError), ("OperationalError", OperationalError),
                           ("ProgrammingError", ProgrammingError), ("DataError", DataError)):
            if word in name:
                return kind(statement, params, error)
        return DBAPIError(statement, params, error)
    if module.startswith("asyncpg"):
        for word, kind in (("IntegrityConstraintViolationError", IntegrityError), ("DataError", DataError),
                           ("PostgresConnectionError", OperationalError), ("InterfaceError", OperationalError),
                           ("InsufficientResourcesError", OperationalError),
                           ("ObjectNotInPrerequisiteStateError", OperationalError),
                           ("SyntaxOrAccessError", ProgrammingError)):
            if word in name:
                return kind(statement, params, error)
        return DBAPIError(statement, params, error)
    if isinstance(error, (ConnectionError, TimeoutError)):
        return OperationalError(statement, params, error)
    return error


@contextmanager
def translated(statement: str | None, params: Any) -> Iterator[None]:
    """Raise a driver's exception inside the block as the layer's error (:func:`wrap`), the driver's
    kept as its cause; any other exception passes as it is."""
    try:
        yield
    except Exception as error:
        wrapped = wrap(error, statement, params)
        if wrapped is error:
            raise
        raise wrapped from error
