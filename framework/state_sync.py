"""State changes that reach every process sharing the database: a server's plugin switch, a plugin
enabled or disabled everywhere (and plugins.toml), a plugin reloaded.

The process where the change is made records it as a row of ``state_changes``, in the transaction
that makes it where there is one; every process reads the rows it has not applied yet every
``[storage] sync_interval`` seconds (0.5 by default) and applies those of other processes: the
bound on how long another process serves a stale switch. Rows are read by time window rather than
by "id above the last seen" because on PostgreSQL ids are handed out before commit, so a row with
a smaller id can become visible after a larger one. The active model needs none of this: it is
read from the database at each use. Old rows are pruned by a singleton task.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from framework import sql as sa
from framework.errors import UserError
from framework.leases import db_now
from framework.plugin_discovery import rediscover
from framework.storage import Storage, StorageUnavailable, metadata

if TYPE_CHECKING:  # pragma: no cover
    from framework.app import App

log = logging.getLogger(__name__)

state_changes = sa.Table(
    "state_changes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("origin", sa.String(100), nullable=False),
    sa.Column("at", sa.Float, nullable=False, index=True),
)
"""One row per change: what (``kind``, ``data`` as JSON), which process made it, when (database clock)."""

WINDOW = 120.0
"""Rows younger than this many seconds are read at each look (a commit slower than that is missed)."""
KEEP = 3600.0
"""Rows older than this are pruned."""

Apply = Callable[[str, dict[str, Any]], Awaitable[None]]


async def apply_change(app: App, kind: str, data: dict[str, Any]) -> None:
    """A change another process made (:mod:`framework.state_sync`), made here too."""
    plugin = str(data["plugin"])
    info = app.plugins.infos.get(plugin) or await rediscover(app, plugin, publish=False)
    if info is None:
        log.warning("another process changed plugin %s, which is not installed here", plugin)
        return
    if kind == "guild":
        (info.disabled_guilds.discard if data["enabled"] else info.disabled_guilds.add)(int(data["guild_id"]))
    elif kind == "enabled":
        if (info.status == "enabled") != bool(data["enabled"]):
            await app._set_enabled(plugin, bool(data["enabled"]), sync_commands=False)
    elif kind == "reload":
        await app._reload_plugin(plugin, sync_commands=False)
    else:
        log.warning("unknown state change %r from another process", kind)
        return
    log.info("applied %s of plugin %s made by another process", kind, plugin)


async def publish(conn: sa.Connection, origin: str, kind: str, **data: Any) -> None:
    """Record a change made by process ``origin``, inside the caller's write transaction."""
    await conn.execute(state_changes.insert().values(kind=kind, data=json.dumps(data), origin=origin, at=db_now()))


class StateSync:
    """Reads other processes' changes and applies them here through ``apply(kind, data)``."""

    def __init__(self, storage: Storage, origin: str, interval: float, apply: Apply) -> None:
        self.storage = storage
        self.origin = origin
        self.interval = interval
        self.apply = apply
        self.seen: dict[int, float] = {}
        """Ids of rows already applied or skipped, with their time (forgotten once out of the window)."""
        self.task: asyncio.Task[None] | None = None

    async def mark_existing(self) -> None:
        """Skip every change made before now: start-up loads the state they made from its tables."""
        async with self.storage.connect() as conn:
            self.seen = {r.id: r.at for r in await conn.execute(
                sa.select(state_changes.c.id, state_changes.c.at).where(state_changes.c.at >= db_now() - WINDOW))}

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._follow(), name="state-sync")

    async def _follow(self) -> None:
        while True:
            try:
                await self.catch_up()
            except (sa.exc.SQLError, OSError, UserError) as exc:
                log.warning("reading state changes of other processes failed: %s", exc)
            await asyncio.sleep(self.interval)

    async def catch_up(self) -> int:
        """Apply the changes of other processes not yet applied here; returns how many."""
        async with self.storage.connect() as conn:
            now = float((await conn.execute(sa.select(db_now()))).scalar_one())
            rows = (await conn.execute(sa.select(state_changes).where(state_changes.c.at >= now - WINDOW)
                                       .order_by(state_changes.c.at, state_changes.c.id))).all()
        applied = 0
        for row in rows:
            if row.id in self.seen:
                continue
            self.seen[row.id] = row.at
            if row.origin == self.origin:
                continue
            try:
                await self.apply(row.kind, json.loads(row.data))
                applied += 1
            except Exception:  # one change that fails here must not stop the others
                log.exception("applying state change %s (%s) from %s failed", row.id, row.kind, row.origin)
        self.seen = {i: at for i, at in self.seen.items() if at >= now - WINDOW}
        return applied

    async def prune(self) -> None:
        """Delete old rows, now and every hour (run as a singleton: one process of all does it)."""
        while True:
            try:
                async with self.storage.begin() as conn:
                    await conn.execute(state_changes.delete().where(state_changes.c.at < db_now() - KEEP))
            except StorageUnavailable:  # Storage logged the cause once; old rows wait for the next round
                log.debug("old state changes not pruned: the database refuses writes")
            await asyncio.sleep(KEEP)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
