"""Leases: a named right, held by one process at a time, that lapses unless renewed.

A row per lease in ``leases`` (a portable table: the same on SQLite and PostgreSQL) says who holds
it and until when, in seconds on the database's own clock (so machines whose clocks differ agree).
Taking a lease is one ``UPDATE … WHERE name = ? AND (owner = me OR expired)``, or, if no row exists
yet, one ``INSERT … ON CONFLICT DO NOTHING``: whichever process's statement the database applies
first holds it, on both backends. A holder renews well before the expiry; one that dies stops
renewing, and the lease is another's to take once it expires: the bound on a takeover.
"""

from __future__ import annotations

import os
import secrets
import socket

from framework import sql as sa
from framework.storage import Storage, metadata, upsert

leases = sa.Table(
    "leases", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(100), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)
"""Who holds each lease, until when (seconds since the epoch, on the database's clock)."""


def db_now() -> sa.PerDialect:
    """The database's clock in seconds since the epoch, as a float."""
    return sa.PerDialect(sa.Float(), postgresql="extract(epoch from clock_timestamp())::float8",
                         sqlite="((julianday('now') - 2440587.5) * 86400.0)")


def new_owner_id() -> str:
    """This process, as lease rows name it: the machine, the process id, and a random part (a
    restarted process with the same pid is another owner)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


class Leases:
    """Take, renew and give back leases for one process (``owner``) on a shared database."""

    def __init__(self, storage: Storage, owner: str, seconds: float) -> None:
        self.storage = storage
        self.owner = owner
        self.seconds = seconds

    async def take(self, name: str) -> bool:
        """Take the lease if it is free, expired or already ours; returns whether we hold it now."""
        until = db_now() + self.seconds
        async with self.storage.begin() as conn:
            result = await conn.execute(leases.update().where(
                (leases.c.name == name) & ((leases.c.owner == self.owner) | (leases.c.expires_at < db_now())))
                .values(owner=self.owner, expires_at=until))
            if result.rowcount == 1:
                return True
            now = (await conn.execute(sa.select(db_now()))).scalar_one()
            inserted = await upsert(conn, leases, {"name": name, "owner": self.owner,
                                                   "expires_at": float(now) + self.seconds}, ["name"], update=False)
            return bool(inserted.rowcount == 1)

    async def renew(self, name: str) -> bool:
        """Push our lease's expiry out again; ``False`` if it is no longer ours (it lapsed and was taken)."""
        async with self.storage.begin() as conn:
            result = await conn.execute(leases.update().where((leases.c.name == name) & (leases.c.owner == self.owner))
                                        .values(expires_at=db_now() + self.seconds))
        return bool(result.rowcount == 1)

    async def give_back(self, name: str) -> None:
        """Release our lease at once (a clean stop): another process may take it without waiting."""
        async with self.storage.begin() as conn:
            await conn.execute(leases.delete().where((leases.c.name == name) & (leases.c.owner == self.owner)))

    async def holder(self, name: str) -> str | None:
        """Who holds the lease now (``None``: nobody, or it expired)."""
        async with self.storage.connect() as conn:
            owner = (await conn.execute(sa.select(leases.c.owner).where(
                (leases.c.name == name) & (leases.c.expires_at >= db_now())))).scalar()
        return None if owner is None else str(owner)
