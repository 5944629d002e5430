"""Tables as plugins declare them, and the DDL that makes them on SQLite and PostgreSQL.

The DDL is what SQLAlchemy 2 emitted for the same declarations (trainerbot used it until plugin API
2.0), so a database made by an earlier version and one made now have the same tables: one integer
primary key of its own is ``SERIAL``/``BIGSERIAL`` on PostgreSQL, and an alias of the row id on
SQLite (``sqlite_autoincrement=True`` adds ``AUTOINCREMENT``: a removed row's id is never reused).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from framework.sql.elements import ClauseElement, ColumnElement, Constant, Function, TextClause
from framework.sql.selectable import Delete, FromClause, Insert, Select, Update, _Columns
from framework.sql.types import Boolean, Integer, TypeEngine

if TYPE_CHECKING:
    from framework.sql.compiler import Compiler
    from framework.sql.engine import Connection


_ALL: weakref.WeakSet[MetaData] = weakref.WeakSet()


def declared_tables() -> dict[str, Table]:
    """Every table the loaded modules declare, by name."""
    return {name: table for metadata in list(_ALL) for name, table in metadata.tables.items()}


class MetaData:
    """The tables of one plugin (or of the host)."""

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        _ALL.add(self)

    @property
    def sorted_tables(self) -> list[Table]:
        """Tables in an order where each comes after those its foreign keys point at."""
        return sort_tables(list(self.tables.values()))

    async def create_all(self, conn: Connection) -> None:
        """Create the tables and indexes that do not exist yet (a migration step)."""
        for table in self.sorted_tables:
            await table.create(conn)


def sort_tables(tables: list[Table]) -> list[Table]:
    done: list[Table] = []
    pending = sorted(tables, key=lambda t: t.name)
    while pending:
        ready = [t for t in pending if all(fk.target_table() in done or fk.target_table() not in pending
                                           or fk.target_table() is t for fk in t.foreign_keys)]
        if not ready:  # a cycle: keep the declared order for the rest
            ready = pending
        for table in ready:
            pending.remove(table)
            done.append(table)
    return done


class ForeignKey:
    """``ForeignKey("other_table.column", ondelete="CASCADE")``."""

    def __init__(self, target: str, *, ondelete: str | None = None) -> None:
        self.spec, self.ondelete = target, ondelete
        self.column: Column | None = None

    def target(self) -> Column:
        table_name, column_name = self.spec.split(".", 1)
        if self.column is None or self.column.table is None:
            raise ValueError(f"foreign key {self.spec} belongs to no table")
        table = self.column.table.metadata.tables.get(table_name)
        if table is None:
            raise ValueError(f"foreign key {self.spec}: no table {table_name} in the same MetaData")
        return table.c[column_name]  # type: ignore[no-any-return]

    def target_table(self) -> Table:
        return self.target().table  # type: ignore[return-value]


class UniqueConstraint:
    def __init__(self, *columns: str) -> None:
        self.columns = columns


class Column(ColumnElement):
    name: str

    def __init__(self, name: str, type_: TypeEngine | type[TypeEngine], *args: Any, primary_key: bool = False,
                 nullable: bool | None = None, index: bool = False, unique: bool = False,
                 server_default: Any = None, autoincrement: bool | str = "auto") -> None:
        self.name = name
        self.type = type_() if isinstance(type_, type) else type_
        self.primary_key, self.index, self.unique = primary_key, index, unique
        self.nullable = not primary_key if nullable is None else nullable
        self.server_default, self.autoincrement = server_default, autoincrement
        self.foreign_keys = [a for a in args if isinstance(a, ForeignKey)]
        for fk in self.foreign_keys:
            fk.column = self
        self.table: Table | None = None

    def render(self, c: Compiler) -> str:
        assert self.table is not None
        return f'"{self.table.name}"."{self.name}"' if c.qualify else f'"{self.name}"'

    def froms(self) -> list[FromClause]:
        return [self.table] if self.table is not None else []

    def __repr__(self) -> str:
        return f"Column({self.table.name if self.table else '?'}.{self.name})"

    def ddl(self, dialect: str, *, serial: bool = False, inline_pk: bool = False) -> str:
        """The column's definition in ``CREATE TABLE`` / ``ADD COLUMN``."""
        kind = self.type.ddl(dialect)
        if serial:
            kind = "BIGSERIAL" if kind == "BIGINT" else "SERIAL"
        text = f'"{self.name}" {kind}'
        if self.server_default is not None:
            text += f" DEFAULT {default_sql(self.server_default, dialect)}"
        if not self.nullable:
            text += " NOT NULL"
        if inline_pk:
            text += " PRIMARY KEY AUTOINCREMENT"
        return text


def default_sql(value: Any, dialect: str) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, Constant):
        return ("true" if value.value else "false") if dialect == "postgresql" else str(int(value.value))
    if isinstance(value, Function) and value.name == "current_timestamp":
        return "CURRENT_TIMESTAMP"
    if isinstance(value, TextClause):
        return value.sql
    raise TypeError(f"unsupported server default {value!r}")


class _PrimaryKey:
    def __init__(self, columns: list[Column]) -> None:
        self.columns = columns


class Table(FromClause):
    """``Table("name", metadata, Column(...), ..., UniqueConstraint(...), sqlite_autoincrement=True)``."""

    def __init__(self, name: str, metadata: MetaData, *items: Any, sqlite_autoincrement: bool = False) -> None:
        self.name, self.metadata = name, metadata
        self.sqlite_autoincrement = sqlite_autoincrement
        columns = [i for i in items if isinstance(i, Column)]
        self.constraints = [i for i in items if isinstance(i, UniqueConstraint)]
        for column in columns:
            column.table = self
        self.c = self.columns = _Columns({col.name: col for col in columns})
        self.primary_key = _PrimaryKey([col for col in columns if col.primary_key])
        self.foreign_keys = [fk for col in columns for fk in col.foreign_keys]
        if name in metadata.tables:
            raise ValueError(f"table {name} is declared twice in one MetaData")
        metadata.tables[name] = self

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"Table({self.name})"

    def __iter__(self) -> Iterator[Column]:
        return iter(self.c)

    def render(self, c: Compiler) -> str:
        return f'"{self.name}"'

    def insert(self) -> Insert:
        return Insert(self)

    def update(self) -> Update:
        return Update(self)

    def delete(self) -> Delete:
        return Delete(self)

    def select(self) -> Select:
        return Select([self])

    @property
    def indexes(self) -> list[tuple[str, Column]]:
        return [(f"ix_{self.name}_{col.name}", col) for col in self.c if col.index]

    def autoincrement_column(self) -> Column | None:
        """The integer primary key the database numbers (one column, no foreign key)."""
        keys = self.primary_key.columns
        if len(keys) != 1:
            return None
        key = keys[0]
        if key.autoincrement is False or not isinstance(key.type, Integer) or isinstance(key.type, Boolean):
            return None
        if key.foreign_keys and key.autoincrement != True:  # noqa: E712 - "auto" is not True
            return None
        return key

    def ddl(self, dialect: str) -> list[str]:
        """``CREATE TABLE IF NOT EXISTS`` and its indexes."""
        serial = self.autoincrement_column() if dialect == "postgresql" else None
        inline = self.autoincrement_column() if dialect == "sqlite" and self.sqlite_autoincrement else None
        lines = [col.ddl(dialect, serial=col is serial, inline_pk=col is inline) for col in self.c]
        if self.primary_key.columns and inline is None:
            lines.append(f"PRIMARY KEY ({', '.join(_q(c.name) for c in self.primary_key.columns)})")
        lines += [f"UNIQUE ({_q(col.name)})" for col in self.c if col.unique]
        lines += [f"UNIQUE ({', '.join(_q(n) for n in u.columns)})" for u in self.constraints]
        for fk in self.foreign_keys:
            assert fk.column is not None
            target = fk.target()
            assert target.table is not None
            text = f"FOREIGN KEY({_q(fk.column.name)}) REFERENCES {_q(target.table.name)} ({_q(target.name)})"
            lines.append(text + (f" ON DELETE {fk.ondelete}" if fk.ondelete else ""))
        statements = [f"CREATE TABLE IF NOT EXISTS {_q(self.name)} (\n\t" + ", \n\t".join(lines) + "\n)"]
        statements += [f"CREATE INDEX IF NOT EXISTS {_q(name)} ON {_q(self.name)} ({_q(col.name)})"
                       for name, col in self.indexes]
        return statements

    async def create(self, conn: Connection) -> None:
        for statement in self.ddl(conn.dialect.name):
            await conn.execute(DDL(statement))


def _q(name: str) -> str:
    return f'"{name}"'


class DDL(ClauseElement):
    """A schema statement, run as written."""

    def __init__(self, sql: str) -> None:
        self.sql = sql

    def render(self, c: Compiler) -> str:
        return self.sql


async def get_columns(conn: Connection, table: str) -> list[str]:
    """The names of the columns ``table`` has in the database (``[]`` if it does not exist)."""
    if conn.dialect.name == "sqlite":
        rows = await conn.execute(TextClause(f"PRAGMA table_info({_q(table)})"))
        return [str(r[1]) for r in rows]
    rows = await conn.execute(TextClause("SELECT column_name FROM information_schema.columns WHERE table_name = "
                                         ":name AND table_schema = current_schema() ORDER BY ordinal_position"),
                              {"name": table})
    return [str(r[0]) for r in rows]


async def get_table_names(conn: Connection) -> list[str]:
    """The tables the database has (PostgreSQL: in the current schema)."""
    if conn.dialect.name == "sqlite":
        rows = await conn.execute(TextClause("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite_%' ORDER BY name"))
    else:
        rows = await conn.execute(TextClause("SELECT table_name FROM information_schema.tables WHERE "
                                             "table_schema = current_schema() ORDER BY table_name"))
    return [str(r[0]) for r in rows]


async def add_missing_columns(conn: Connection, table: Table) -> list[str]:
    """Add the columns ``table`` declares but the database's table lacks; returns their names.

    For migrations that add a column to a table whose first step was ``metadata.create_all``:
    a new database already has the column, an older one gets it, and both end up the same. New
    columns must be nullable or have a constant server default (``ALTER TABLE … ADD COLUMN`` rules).
    """
    existing = set(await get_columns(conn, table.name))
    added = []
    for column in table.c:
        if column.name in existing:
            continue
        if not column.nullable and column.server_default is None:
            raise ValueError(f"{table.name}.{column.name}: a column added later needs a server default or NULLs")
        await conn.execute(DDL(f"ALTER TABLE {_q(table.name)} ADD COLUMN {column.ddl(conn.dialect.name)}"))
        added.append(column.name)
    return added
