"""SQL expressions: columns and values combined with Python operators (``t.c.id == 3``, ``a & b``,
``~x``, ``t.c.id.in_([1, 2])``), functions (``func.count()``), labels, literals and ``text()``.

Each element renders itself through a :class:`~framework.sql.compiler.Compiler`, which binds the
values as parameters (never as SQL text) and knows the backend.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from framework.sql.types import Boolean, DateTime, Float, Integer, NullType, TypeEngine, infer

if TYPE_CHECKING:
    from framework.sql.compiler import Compiler
    from framework.sql.selectable import FromClause, Select


class ClauseElement:
    """Anything that renders as SQL."""

    def render(self, c: Compiler) -> str:
        raise NotImplementedError

    def froms(self) -> list[FromClause]:
        """The tables this element reads from (a query without an explicit FROM uses them)."""
        return []


class ColumnElement(ClauseElement):
    """A value-producing expression: it has a type and Python operators build SQL from it."""

    type: TypeEngine = NullType()
    name: str | None = None

    __hash__ = object.__hash__

    def _bin(self, op: str, other: Any, result: TypeEngine | None = None, *, swap: bool = False) -> BinaryExpression:
        right = coerce(other, self.type)
        left: ColumnElement = self
        if swap:
            left, right = right, left
        return BinaryExpression(left, op, right, result or self.type)

    def __eq__(self, other: Any) -> BinaryExpression:  # type: ignore[override]
        if other is None:
            return BinaryExpression(self, "IS", Null(), Boolean())
        return self._bin("=", other, Boolean())

    def __ne__(self, other: Any) -> BinaryExpression:  # type: ignore[override]
        if other is None:
            return BinaryExpression(self, "IS NOT", Null(), Boolean())
        return self._bin("!=", other, Boolean())

    def __lt__(self, other: Any) -> BinaryExpression:
        return self._bin("<", other, Boolean())

    def __le__(self, other: Any) -> BinaryExpression:
        return self._bin("<=", other, Boolean())

    def __gt__(self, other: Any) -> BinaryExpression:
        return self._bin(">", other, Boolean())

    def __ge__(self, other: Any) -> BinaryExpression:
        return self._bin(">=", other, Boolean())

    def __add__(self, other: Any) -> BinaryExpression:
        return self._bin("+", other)

    def __radd__(self, other: Any) -> BinaryExpression:
        return self._bin("+", other, swap=True)

    def __sub__(self, other: Any) -> BinaryExpression:
        return self._bin("-", other)

    def __rsub__(self, other: Any) -> BinaryExpression:
        return self._bin("-", other, swap=True)

    def __mul__(self, other: Any) -> BinaryExpression:
        return self._bin("*", other)

    def __truediv__(self, other: Any) -> BinaryExpression:
        return self._bin("/", other)

    def __and__(self, other: Any) -> BooleanClauseList:
        return and_(self, other)

    def __or__(self, other: Any) -> BooleanClauseList:
        return or_(self, other)

    def __invert__(self) -> ColumnElement:
        return not_(self)

    def __bool__(self) -> bool:
        raise TypeError("a SQL expression has no truth value: combine conditions with & | ~, not and/or/not")

    def in_(self, values: Iterable[Any] | Select) -> ClauseElement:
        from framework.sql.selectable import Select

        if isinstance(values, Select):  # col IN (SELECT …)
            return InList(self, [Grouped(values)], negate=False, subquery=True)
        items = [coerce(v, self.type) for v in values]
        if not items:  # as SQLAlchemy: an empty IN is false, and says so without a parameter
            return false()
        return InList(self, items, negate=False)

    def not_in(self, values: Iterable[Any] | Select) -> ClauseElement:
        from framework.sql.selectable import Select

        if isinstance(values, Select):
            return InList(self, [Grouped(values)], negate=True, subquery=True)
        items = [coerce(v, self.type) for v in values]
        if not items:
            return true()
        return InList(self, items, negate=True)

    def is_(self, other: Any) -> BinaryExpression:
        return BinaryExpression(self, "IS", coerce(other, self.type), Boolean())

    def is_not(self, other: Any) -> BinaryExpression:
        return BinaryExpression(self, "IS NOT", coerce(other, self.type), Boolean())

    def desc(self) -> Postfix:
        return Postfix(self, "DESC")

    def asc(self) -> Postfix:
        return Postfix(self, "ASC")

    def label(self, name: str) -> Label:
        return Label(name, self)

    def collate(self, collation: str) -> ColumnElement:
        return Collate(self, collation)


def coerce(value: Any, type_: TypeEngine | None = None) -> ColumnElement:
    """An element for ``value``: elements as they are, Python values as bound parameters."""
    if isinstance(value, ColumnElement):
        return value
    if isinstance(value, ClauseElement):
        return Grouped(value)
    if value is None:
        return Null()
    bind_type = type_ if type_ is not None and not isinstance(type_, NullType) else infer(value)
    if isinstance(bind_type, Boolean) and not isinstance(value, bool):
        bind_type = infer(value)
    return BindParameter(value, bind_type)


class BindParameter(ColumnElement):
    def __init__(self, value: Any, type_: TypeEngine) -> None:
        self.value, self.type = value, type_

    def render(self, c: Compiler) -> str:
        return c.bind(self.value, self.type)


def literal(value: Any, type_: TypeEngine | None = None) -> BindParameter:
    """A bound value as a column expression (``select(literal(3))``)."""
    return BindParameter(value, type_ if type_ is not None else infer(value))


class Null(ColumnElement):
    def render(self, c: Compiler) -> str:
        return "NULL"


class Grouped(ColumnElement):
    """A non-column element (a subquery, ``EXISTS``) used as a value."""

    def __init__(self, element: ClauseElement) -> None:
        self.element = element
        self.type = getattr(element, "type", NullType())

    def render(self, c: Compiler) -> str:
        return f"({self.element.render(c)})"


def _operand(element: ClauseElement, c: Compiler) -> str:
    text = element.render(c)
    return f"({text})" if isinstance(element, (BinaryExpression, BooleanClauseList, InList, Unary)) else text


class BinaryExpression(ColumnElement):
    def __init__(self, left: ColumnElement, op: str, right: ColumnElement, type_: TypeEngine) -> None:
        self.left, self.op, self.right, self.type = left, op, right, type_

    def render(self, c: Compiler) -> str:
        return f"{_operand(self.left, c)} {self.op} {_operand(self.right, c)}"

    def __bool__(self) -> bool:
        """``a == b`` of two elements is true when they are the same element (as in SQLAlchemy), so
        ``column in columns`` works; any other condition has no truth value in Python."""
        if self.op in ("=", "!="):
            return (self.left is self.right) == (self.op == "=")
        raise TypeError("a SQL expression has no truth value: combine conditions with & | ~, not and/or/not")

    def froms(self) -> list[FromClause]:
        return [*self.left.froms(), *self.right.froms()]


class InList(ColumnElement):
    type = Boolean()

    def __init__(self, left: ColumnElement, items: Sequence[ColumnElement], *, negate: bool,
                 subquery: bool = False) -> None:
        self.left, self.items, self.negate, self.subquery = left, items, negate, subquery

    def render(self, c: Compiler) -> str:
        left = _operand(self.left, c)  # first: parameters are numbered in the order they are rendered
        listed = ", ".join(item.render(c) for item in self.items)
        word = "NOT IN" if self.negate else "IN"
        return f"{left} {word} {listed}" if self.subquery else f"{left} {word} ({listed})"

    def froms(self) -> list[FromClause]:
        return self.left.froms()


class BooleanClauseList(ColumnElement):
    type = Boolean()

    def __init__(self, op: str, clauses: Sequence[ColumnElement]) -> None:
        self.op, self.clauses = op, clauses

    def render(self, c: Compiler) -> str:
        return f" {self.op} ".join(_operand_condition(clause, c) for clause in self.clauses)

    def froms(self) -> list[FromClause]:
        return [f for clause in self.clauses for f in clause.froms()]


def _operand_condition(element: ColumnElement, c: Compiler) -> str:
    text = c.condition(element)
    return f"({text})" if isinstance(element, (BinaryExpression, BooleanClauseList, InList, Unary)) else text


def and_(*clauses: Any) -> BooleanClauseList:
    return BooleanClauseList("AND", [coerce(x) for x in clauses])


def or_(*clauses: Any) -> BooleanClauseList:
    return BooleanClauseList("OR", [coerce(x) for x in clauses])


class Unary(ColumnElement):
    type = Boolean()

    def __init__(self, element: ColumnElement) -> None:
        self.element = element

    def render(self, c: Compiler) -> str:
        return f"NOT ({c.condition(self.element)})"

    def froms(self) -> list[FromClause]:
        return self.element.froms()


def not_(element: Any) -> ColumnElement:
    return Unary(coerce(element))


class Postfix(ColumnElement):
    """``x DESC`` / ``x ASC`` in ORDER BY."""

    def __init__(self, element: ColumnElement, word: str) -> None:
        self.element, self.word, self.type = element, word, element.type

    def render(self, c: Compiler) -> str:
        return f"{self.element.render(c)} {self.word}"

    def froms(self) -> list[FromClause]:
        return self.element.froms()


class Collate(ColumnElement):
    def __init__(self, element: ColumnElement, collation: str) -> None:
        self.element, self.collation, self.type, self.name = element, collation, element.type, element.name

    def render(self, c: Compiler) -> str:
        return f'{self.element.render(c)} COLLATE "{self.collation}"'

    def froms(self) -> list[FromClause]:
        return self.element.froms()


class Label(ColumnElement):
    def __init__(self, name: str, element: ColumnElement) -> None:
        self.name, self.element, self.type = name, element, element.type

    def render(self, c: Compiler) -> str:
        return self.element.render(c)

    def froms(self) -> list[FromClause]:
        return self.element.froms()


class Constant(ColumnElement):
    """``true`` / ``false``: PostgreSQL's words, SQLite's ``1 = 1`` / ``0 = 1``."""

    type = Boolean()

    def __init__(self, value: bool) -> None:
        self.value = value

    def render(self, c: Compiler) -> str:
        if c.dialect == "postgresql":
            return "true" if self.value else "false"
        return "1" if self.value else "0"


def true() -> Constant:
    return Constant(True)


def false() -> Constant:
    return Constant(False)


class Function(ColumnElement):
    def __init__(self, name: str, args: Sequence[Any], type_: TypeEngine | None = None) -> None:
        self.name = name
        self.args = [coerce(a) for a in args]
        self.type = type_ or (self.args[0].type if name in ("max", "min") and self.args else NullType())

    def render(self, c: Compiler) -> str:
        if self.name == "current_timestamp":
            return "CURRENT_TIMESTAMP"
        if self.name == "count" and not self.args:
            return "count(*)"
        return f"{self.name}({', '.join(a.render(c) for a in self.args)})"

    def froms(self) -> list[FromClause]:
        return [f for a in self.args for f in a.froms()]


_FUNCTION_TYPES: dict[str, TypeEngine] = {"count": Integer(), "current_timestamp": DateTime(timezone=True),
                                          "sum": Float(), "avg": Float()}


class _FunctionGenerator:
    """``func.count()``, ``func.max(col)``, ``func.any_name(args)``: a SQL function call."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, type_=None: Function(name, args, type_ or _FUNCTION_TYPES.get(name))


func = _FunctionGenerator()


class PerDialect(ColumnElement):
    """One expression written for each backend: ``PerDialect(Float(), sqlite="…", postgresql="…")``."""

    def __init__(self, type_: TypeEngine, **sql: str) -> None:
        self.type, self.sql = type_, sql

    def render(self, c: Compiler) -> str:
        return self.sql[c.dialect]


_NAMED = re.compile(r"(?<![:\w]):(\w+)")


class TextClause(ColumnElement):
    """Literal SQL with ``:name`` parameters: ``text("SELECT x FROM t WHERE id = :id")``."""

    def __init__(self, sql: str) -> None:
        self.sql = sql

    def render(self, c: Compiler) -> str:
        return _NAMED.sub(lambda m: c.named(m.group(1)), self.sql)


def text(sql: str) -> TextClause:
    return TextClause(sql)
