"""The storage backends tests run on: SQLite always, PostgreSQL when ``TRAINERBOT_TEST_DATABASE_URL``
names a server (CI's ``.ci/run`` sets it when one answers on 127.0.0.1:5432).

Each PostgreSQL test gets a schema of its own in that database, made before and dropped after it,
so parallel runs on one server never see each other's rows. ``DATABASE_URL`` and
``TRAINERBOT_DATABASE_SCHEMA`` are set for the test's duration, so a bot the test starts in a
process of its own (the CLI, ``tests/bot_process.py``) uses the same schema.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path

BACKENDS = ("sqlite", "postgresql")
URL_VARIABLE = "TRAINERBOT_TEST_DATABASE_URL"
SKIP_REASON = (f"PostgreSQL tests run only when {URL_VARIABLE} names a server "
               "(e.g. postgresql://postgres@127.0.0.1:5432/test); .ci/run sets it when one answers")


@dataclasses.dataclass(frozen=True)
class TestDatabase:
    """One test's database: ``url`` ``None`` means SQLite under the bot's data root."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    backend: str
    url: str | None = None
    schema: str | None = None

    def url_for(self, data_root: Path) -> str:
        from framework.storage import default_url

        return self.url or default_url(data_root)

    def storage(self, data_root: Path, **kwargs: object) -> object:
        """A :class:`framework.storage.Storage` on this database (SQLite: a file in ``data_root``)."""
        from framework.storage import Storage

        return Storage(self.url_for(data_root), schema=self.schema, **kwargs)  # type: ignore[arg-type]


    def rows(self, data_root: Path, sql: str) -> list[dict[str, object]]:
        """Rows of a query, read as an admin would (the database's own driver, not the bot's storage
        code), synchronously: for probes that re-check a condition."""
        if self.url is None:
            import sqlite3

            with sqlite3.connect(data_root / "trainerbot.sqlite3") as db:
                db.row_factory = sqlite3.Row
                return [dict(r) for r in db.execute(sql).fetchall()]
        import asyncio
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a loop of its own: the caller's may be running
            return pool.submit(asyncio.run, self._pg_rows(sql)).result()

    async def _pg_rows(self, sql: str) -> list[dict[str, object]]:
        import asyncpg

        dsn = (self.url or "").replace("postgresql+asyncpg://", "postgresql://", 1)
        conn = await asyncpg.connect(dsn, server_settings={"search_path": self.schema or "public"})
        try:
            return [dict(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()


def server_url() -> str | None:
    """The PostgreSQL server tests may use, as an asyncpg URL; ``None`` if none is configured."""
    from framework.storage import normalize_url

    url = os.environ.get(URL_VARIABLE, "").strip()
    return normalize_url(url) if url else None


async def create_schema(url: str) -> str:
    """A new, empty schema with a random name; returns the name."""
    name = f"tb_test_{secrets.token_hex(6)}"
    await _run(url, f'CREATE SCHEMA "{name}"')
    return name


async def drop_schema(url: str, name: str) -> None:
    """Drop a test's schema and everything in it (waiting at most 20 s for a leftover connection's locks)."""
    await _run(url, "SET lock_timeout = '20s'", f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


async def _run(url: str, *statements: str) -> None:
    from framework import sql as sa
    from framework.storage import normalize_url

    engine = sa.create_engine(normalize_url(url), pool_size=1)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()
