"""trainerbot's database layer: tables, queries and connections for SQLite and PostgreSQL.

Plugins write queries in the style of SQLAlchemy Core, which trainerbot used until plugin API 2.0
(``import framework.sql as sa`` reads like before): ``select(t).where(t.c.id == 3).order_by(t.c.id)``,
``t.insert().values(...)``, ``t.update()``, ``t.delete()``, joins along foreign keys, ``func.count()``,
``exists()``, ``text("... :name")``. Values are always bound as parameters. The layer is small (its
import costs well under a megabyte; SQLAlchemy's cost 12 MiB, a fifth of the bot's memory) and has
the part of Core the bot uses; what it lacks raises an error instead of guessing.
"""

from framework.sql import exc
from framework.sql.drivers import PostgresEngine, SQLiteEngine
from framework.sql.elements import (
    ColumnElement,
    PerDialect,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    text,
    true,
)
from framework.sql.engine import URL, Connection, Engine, create_engine, make_url
from framework.sql.result import Result, Row, Rows
from framework.sql.schema import (
    DDL,
    Column,
    ForeignKey,
    MetaData,
    Table,
    UniqueConstraint,
    add_missing_columns,
    declared_tables,
    get_columns,
    get_table_names,
    sort_tables,
)
from framework.sql.selectable import Exists, Select, exists, select
from framework.sql.types import BigInteger, Boolean, DateTime, Float, Integer, String, Text, TypeEngine

__all__ = [
    "DDL", "URL", "BigInteger", "Boolean", "Column", "ColumnElement", "Connection", "DateTime", "Engine", "Exists",
    "Float", "ForeignKey", "Integer", "MetaData", "PerDialect", "PostgresEngine", "Result", "Row", "Rows",
    "SQLiteEngine", "Select", "String", "Table", "Text", "TypeEngine", "UniqueConstraint", "add_missing_columns",
    "and_", "create_engine", "declared_tables", "exc", "exists", "false", "func", "get_columns", "get_table_names",
    "literal", "make_url", "not_", "or_", "select", "sort_tables", "text", "true",
]
