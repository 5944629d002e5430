"""Turns a statement into SQL text and its parameters for one backend.

SQLite takes ``?`` placeholders. PostgreSQL (asyncpg) takes ``$1``, ``$2`` …, and each carries a
cast to its type (``$1::BIGINT``), as SQLAlchemy rendered them for asyncpg: a prepared statement
must know every parameter's type, also where the query alone does not say (``SELECT $1``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from framework.sql.elements import ClauseElement, ColumnElement, TextClause
from framework.sql.selectable import Delete, Insert, Select, Update
from framework.sql.types import Boolean, NullType, Processor, TypeEngine


@dataclasses.dataclass
class Compiled:
    """What the engine runs: ``sql`` with ``params`` (already converted for the driver)."""

    sql: str
    params: list[Any]
    columns: list[tuple[str, Processor]]
    """The result's column names, each with its value converter (SELECT and RETURNING only)."""
    kind: str
    """``select``, ``insert``, ``update``, ``delete``, ``ddl`` or ``text``."""
    returns_rows: bool
    autoincrement: str | None = None
    """INSERT into a table the database numbers: the key column (PostgreSQL returns it)."""


class Compiler:
    def __init__(self, dialect: str, named: dict[str, Any] | None = None) -> None:
        self.dialect = dialect
        self.params: list[Any] = []
        self.qualify = True
        self._named = named or {}

    def bind(self, value: Any, type_: TypeEngine) -> str:
        process = type_.bind(self.dialect)
        self.params.append(process(value) if process is not None and value is not None else value)
        if self.dialect == "sqlite":
            return "?"
        cast = "" if isinstance(type_, NullType) or value is None and not type_.cast else type_.cast
        return f"${len(self.params)}::{cast}" if cast else f"${len(self.params)}"

    def named(self, name: str) -> str:
        """A ``:name`` parameter of ``text()``: passed as given, no cast (the SQL is the author's)."""
        if name not in self._named:
            raise KeyError(f"no value for the parameter :{name}")
        self.params.append(self._named[name])
        return "?" if self.dialect == "sqlite" else f"${len(self.params)}"

    def condition(self, element: ColumnElement) -> str:
        """``element`` where a truth value is expected: a boolean column alone is ``col = 1`` on SQLite."""
        from framework.sql.schema import Column

        text = element.render(self)
        if self.dialect == "sqlite" and isinstance(element, Column) and isinstance(element.type, Boolean):
            return f"{text} = 1"
        return text


def compile_statement(statement: ClauseElement, dialect: str, params: dict[str, Any] | None = None) -> Compiled:
    """``statement`` as SQL for ``dialect``; ``params``: the values of an INSERT's or UPDATE's
    columns (``conn.execute(table.insert(), {...})``), or of ``text()``'s ``:name`` parameters."""
    from framework.sql.schema import DDL

    c = Compiler(dialect, params if isinstance(statement, TextClause) else None)
    if isinstance(statement, Select):
        sql = statement.render(c)
        columns = [(name, t.result(dialect)) for name, t in statement.result_columns()]
        return Compiled(sql, c.params, columns, "select", True)
    if isinstance(statement, Insert):
        c.qualify = False
        sql = statement.render_with(c, params)
        columns = [(col.name or f"column{i}", col.type.result(dialect)) for i, col in enumerate(statement.returning_)]
        key = statement.table.autoincrement_column()
        auto = key.name if key is not None and not statement.returning_ and statement.from_select_ is None else None
        if auto is not None and dialect == "postgresql":
            sql += f' RETURNING "{auto}"'
            columns = [(auto, None)]
        returns = bool(statement.returning_) or (auto is not None and dialect == "postgresql")
        return Compiled(sql, c.params, columns, "insert", returns, auto)
    if isinstance(statement, Update):
        return Compiled(statement.render_with(c, params), c.params, [], "update", False)
    if isinstance(statement, Delete):
        return Compiled(statement.render_with(c, params), c.params, [], "delete", False)
    if isinstance(statement, DDL):
        return Compiled(statement.render(c), [], [], "ddl", False)
    if isinstance(statement, TextClause):
        sql = statement.render(c)
        head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        kind = {"INSERT": "insert", "UPDATE": "update", "DELETE": "delete", "CREATE": "ddl", "ALTER": "ddl",
                "DROP": "ddl"}.get(head, "text")
        return Compiled(sql, c.params, [], kind, kind == "text")
    if isinstance(statement, ColumnElement):  # a bare expression: SELECT it
        from framework.sql.selectable import select

        return compile_statement(select(statement), dialect)
    raise TypeError(f"cannot run {statement!r}: give a statement such as select(...), not SQL text (use text())")
