"""Statements: ``select(...)``, and a table's ``insert()``, ``update()`` and ``delete()``; joins
and subqueries. Each is immutable: ``where``, ``order_by`` … return a new statement."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Self

from framework.sql.elements import (
    ClauseElement,
    ColumnElement,
    Function,
    Label,
    and_,
    coerce,
)
from framework.sql.types import Boolean, Integer, TypeEngine

if TYPE_CHECKING:
    from framework.sql.compiler import Compiler
    from framework.sql.schema import Table


class FromClause(ClauseElement):
    """A table, a join or a subquery: what a query reads rows from."""

    def covers(self) -> list[FromClause]:
        """The tables this FROM item brings in (a join brings both sides)."""
        return [self]

    def join(self, right: FromClause, onclause: Any = None, *, isouter: bool = False) -> Join:
        return Join(self, right, onclause, isouter=isouter)

    def outerjoin(self, right: FromClause, onclause: Any = None) -> Join:
        return Join(self, right, onclause, isouter=True)


class Join(FromClause):
    def __init__(self, left: FromClause, right: FromClause, onclause: Any = None, *, isouter: bool = False) -> None:
        self.left, self.right, self.isouter = left, right, isouter
        self.onclause = coerce(onclause) if onclause is not None else _foreign_key_join(left, right)

    def covers(self) -> list[FromClause]:
        return [*self.left.covers(), *self.right.covers()]

    def render(self, c: Compiler) -> str:
        kind = "LEFT OUTER JOIN" if self.isouter else "JOIN"
        return f"{self.left.render(c)} {kind} {self.right.render(c)} ON {c.condition(self.onclause)}"


def _foreign_key_join(left: FromClause, right: FromClause) -> ColumnElement:
    """The ON clause two tables' foreign keys imply (one of them must point at the other)."""
    from framework.sql.schema import Table

    tables = [t for t in left.covers() if isinstance(t, Table)]
    pairs = []
    if isinstance(right, Table):
        for table in tables:
            pairs += [(fk.column, fk.target()) for fk in right.foreign_keys if fk.target().table is table]
            pairs += [(fk.column, fk.target()) for fk in table.foreign_keys if fk.target().table is right]
    if len(pairs) != 1:
        raise ValueError(f"cannot tell how to join {right!r}: give the ON clause")
    column, target = pairs[0]
    assert column is not None
    return column.__eq__(target)


class Star(ColumnElement):
    def render(self, c: Compiler) -> str:
        return "*"


class Subquery(FromClause):
    """``select(...).subquery()``: a query used as a table."""

    def __init__(self, select: Select, name: str) -> None:
        self.select, self.name = select, name
        self.c = _Columns({key: SubqueryColumn(self, key, t) for key, t in select.result_columns()})

    def render(self, c: Compiler) -> str:
        return f'({self.select.render(c)}) AS "{self.name}"'


class SubqueryColumn(ColumnElement):
    def __init__(self, subquery: Subquery, name: str, type_: TypeEngine) -> None:
        self.subquery, self.name, self.type = subquery, name, type_

    def render(self, c: Compiler) -> str:
        return f'"{self.subquery.name}"."{self.name}"'

    def froms(self) -> list[FromClause]:
        return [self.subquery]


class _Columns:
    """A table's columns by name: ``t.c.name``, ``t.c["name"]``, ``"name" in t.c``, iteration."""

    def __init__(self, columns: dict[str, Any]) -> None:
        self.__dict__["_by_name"] = columns

    def __getattr__(self, name: str) -> Any:
        try:
            return self._by_name[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Any]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def keys(self) -> list[str]:
        return list(self._by_name)


def _name_of(element: ColumnElement, position: int) -> str:
    if element.name:
        return element.name
    return f"column{position}"


class Select(ClauseElement):
    def __init__(self, columns: Sequence[Any]) -> None:
        self.columns: list[Any] = list(columns)
        self._from: list[FromClause] = []
        self._where: list[ColumnElement] = []
        self._order: list[ColumnElement] = []
        self._group: list[ColumnElement] = []
        self._limit: int | None = None
        self._offset: int | None = None
        self._for_update = False

    def _copy(self) -> Self:
        new = copy.copy(self)
        for name in ("_from", "_where", "_order", "_group"):
            setattr(new, name, list(getattr(self, name)))
        return new

    def where(self, *conditions: Any) -> Self:
        new = self._copy()
        new._where += [coerce(x) for x in conditions]
        return new

    def select_from(self, *froms: FromClause) -> Self:
        new = self._copy()
        new._from += froms
        return new

    def order_by(self, *columns: Any) -> Self:
        new = self._copy()
        new._order += [coerce(x) for x in columns]
        return new

    def group_by(self, *columns: Any) -> Self:
        new = self._copy()
        new._group += [coerce(x) for x in columns]
        return new

    def limit(self, count: int | None) -> Self:
        new = self._copy()
        new._limit = count
        return new

    def offset(self, count: int | None) -> Self:
        new = self._copy()
        new._offset = count
        return new

    def with_for_update(self) -> Self:
        """Lock the rows read until the transaction ends (PostgreSQL; SQLite's write transaction
        already holds the whole database)."""
        new = self._copy()
        new._for_update = True
        return new

    def subquery(self, name: str = "anon_1") -> Subquery:
        return Subquery(self, name)

    def expanded(self) -> list[ColumnElement]:
        """The result columns: a table stands for all of its columns."""
        from framework.sql.schema import Table

        out: list[ColumnElement] = []
        for item in self.columns:
            if isinstance(item, Table):
                out += list(item.c)
            else:
                out.append(coerce(item))
        return out

    def result_columns(self) -> list[tuple[str, TypeEngine]]:
        return [(_name_of(col, i), col.type) for i, col in enumerate(self.expanded())]

    def _froms(self) -> list[FromClause]:
        found: list[FromClause] = []
        covered: list[FromClause] = []
        for item in self._from:
            found.append(item)
            covered += item.covers()
        candidates = [f for col in self.expanded() for f in _column_froms(col)]
        candidates += [f for cond in self._where for f in cond.froms()]
        for item in candidates:
            if not any(item is seen for seen in covered):
                found.append(item)
                covered.append(item)
        return found

    def render(self, c: Compiler) -> str:
        columns = []
        for i, col in enumerate(self.expanded()):
            text = col.render(c)
            if isinstance(col, (Label, Function)):
                text += f' AS "{_name_of(col, i)}"'
            columns.append(text)
        sql = f"SELECT {', '.join(columns)}"
        froms = self._froms()
        if froms:
            sql += " FROM " + ", ".join(f.render(c) for f in froms)
        if self._where:
            sql += " WHERE " + c.condition(and_(*self._where) if len(self._where) > 1 else self._where[0])
        if self._group:
            sql += " GROUP BY " + ", ".join(g.render(c) for g in self._group)
        if self._order:
            sql += " ORDER BY " + ", ".join(o.render(c) for o in self._order)
        if self._limit is not None:
            sql += " LIMIT " + c.bind(self._limit, Integer())
        if self._offset is not None:
            if self._limit is None and c.dialect == "sqlite":
                sql += " LIMIT -1"
            sql += " OFFSET " + c.bind(self._offset, Integer())
        if self._for_update and c.dialect == "postgresql":
            sql += " FOR UPDATE"
        return sql


def _column_froms(col: ColumnElement) -> list[FromClause]:
    if isinstance(col, Star):
        return []
    return col.froms()


def select(*columns: Any) -> Select:
    return Select(columns)


class Insert(ClauseElement):
    def __init__(self, table: Table) -> None:
        self.table = table
        self.values_: dict[str, Any] = {}
        self.from_select_: tuple[list[str], Select] | None = None
        self.returning_: list[ColumnElement] = []
        self.conflict: tuple[list[str], dict[str, Any] | None] | None = None

    def values(self, *args: dict[str, Any], **kwargs: Any) -> Insert:
        new = copy.copy(self)
        new.values_ = {**self.values_, **(args[0] if args else {}), **kwargs}
        return new

    def from_select(self, names: Sequence[str], query: Select) -> Insert:
        new = copy.copy(self)
        new.from_select_ = (list(names), query)
        return new

    def returning(self, *columns: ColumnElement) -> Insert:
        new = copy.copy(self)
        new.returning_ = [*self.returning_, *columns]
        return new

    def on_conflict_do_update(self, index_elements: Sequence[str], set_: dict[str, Any]) -> Insert:
        new = copy.copy(self)
        new.conflict = (list(index_elements), dict(set_))
        return new

    def on_conflict_do_nothing(self, index_elements: Sequence[str]) -> Insert:
        new = copy.copy(self)
        new.conflict = (list(index_elements), None)
        return new

    def render_with(self, c: Compiler, params: dict[str, Any] | None) -> str:
        table = self.table
        sql = f'INSERT INTO "{table.name}"'
        if self.from_select_ is not None:
            names, query = self.from_select_
            sql += f" ({', '.join(f'{chr(34)}{n}{chr(34)}' for n in names)}) {query.render(c)}"
        else:
            values = {**self.values_, **(params or {})}
            unknown = [k for k in values if k not in table.c]
            if unknown:
                raise KeyError(f"{table.name} has no column {unknown[0]!r}")
            if values:
                listed = ", ".join(f'"{k}"' for k in values)
                binds = ", ".join(coerce(v, table.c[k].type).render(c) for k, v in values.items())
                sql += f" ({listed}) VALUES ({binds})"
            else:
                sql += " DEFAULT VALUES"
        if self.conflict is not None:
            keys, changes = self.conflict
            sql += f" ON CONFLICT ({', '.join(f'{chr(34)}{k}{chr(34)}' for k in keys)})"
            if changes:
                sets = ", ".join(f'"{k}" = {coerce(v, table.c[k].type).render(c)}' for k, v in changes.items())
                sql += f" DO UPDATE SET {sets}"
            else:
                sql += " DO NOTHING"
        if self.returning_:
            sql += " RETURNING " + ", ".join(col.render(c) for col in self.returning_)
        return sql


class Update(ClauseElement):
    def __init__(self, table: Table) -> None:
        self.table = table
        self.values_: dict[str, Any] = {}
        self._where: list[ColumnElement] = []

    def values(self, *args: dict[str, Any], **kwargs: Any) -> Update:
        new = copy.copy(self)
        new.values_ = {**self.values_, **(args[0] if args else {}), **kwargs}
        return new

    def where(self, *conditions: Any) -> Update:
        new = copy.copy(self)
        new._where = [*self._where, *(coerce(x) for x in conditions)]
        return new

    def render_with(self, c: Compiler, params: dict[str, Any] | None) -> str:
        values = {**self.values_, **(params or {})}
        if not values:
            raise ValueError(f"an UPDATE of {self.table.name} sets no column")
        sets = ", ".join(f'"{k}" = {coerce(v, self.table.c[k].type).render(c)}' for k, v in values.items())
        sql = f'UPDATE "{self.table.name}" SET {sets}'
        if self._where:
            sql += " WHERE " + c.condition(and_(*self._where) if len(self._where) > 1 else self._where[0])
        return sql


class Delete(ClauseElement):
    def __init__(self, table: Table) -> None:
        self.table = table
        self._where: list[ColumnElement] = []

    def where(self, *conditions: Any) -> Delete:
        new = copy.copy(self)
        new._where = [*self._where, *(coerce(x) for x in conditions)]
        return new

    def render_with(self, c: Compiler, params: dict[str, Any] | None) -> str:
        sql = f'DELETE FROM "{self.table.name}"'
        if self._where:
            sql += " WHERE " + c.condition(and_(*self._where) if len(self._where) > 1 else self._where[0])
        return sql


class Exists(ColumnElement):
    """``exists().where(cond)``: ``EXISTS (SELECT * FROM … WHERE cond)``."""

    type = Boolean()

    def __init__(self, select: Select | None = None) -> None:
        self.select = select or Select([Star()])

    def where(self, *conditions: Any) -> Exists:
        return Exists(self.select.where(*conditions))

    def render(self, c: Compiler) -> str:
        return f"EXISTS ({self.select.render(c)})"


def exists() -> Exists:
    return Exists()
