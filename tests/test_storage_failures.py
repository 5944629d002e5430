"""A database that refuses writes — read-only, full, locked — is told to users as what it is (an
admin must act), logged once with its cause, and never "failed unexpectedly"; the bot still starts
on a read-only database, says so, and answers what needs no write. All on real SQLite: a read-only
URI (the tests run as root, which file modes do not stop), a page limit, a lock held by another
connection."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from framework import sql as sa
from framework.storage import Migration, Storage, StorageUnavailable, default_url

pytestmark = pytest.mark.backends("sqlite")  # read-only, full and locked SQLite files: SQLite's own ways to fail

READ_ONLY = ("Sorry, that could not be saved: the bot's database is read-only; an admin must fix that (the database "
             "file's or its folder's permissions, a read-only disk, or `mode=ro` in `[storage] url`), then "
             "restart the bot.")

meta = sa.MetaData()
notes = sa.Table("notes", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("text", sa.Text))


def _causes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "framework.storage" and r.levelno >= logging.ERROR]


async def test_a_read_only_database_is_told_clearly_and_hi_still_works(tb_factory, tmp_path, caplog) -> None:
    first = await tb_factory()  # makes and migrates the database, then goes away
    database = first.data_root / "trainerbot.sqlite3"
    await first.app.close()
    caplog.set_level(logging.INFO)
    read_only = f"sqlite+aiosqlite:///file:{database}?mode=ro&uri=true"  # SQLite refuses writes, root or not
    tb = await tb_factory(config_overrides={"bot": {"database_url": read_only}})
    started = [r for r in caplog.records if r.name == "framework.storage" and r.levelno == logging.WARNING]
    assert [r.getMessage() for r in started] == [
        "the bot starts with a database that refuses writes: commands that save anything will say so until an "
        "admin fixes it"]
    assert len(_causes(caplog)) == 1 and "(read-only): attempt to write a readonly database" in _causes(caplog)[0]

    assert (await tb.say("!feedback the answers are great")).content == READ_ONLY
    refused = await tb.slash("feedback", {"text": "again"})
    assert (refused.content, refused.ephemeral) == (READ_ONLY, True)
    assert (await tb.say('!train data="a lovely film"', user=tb.owner)).content == READ_ONLY
    assert (await tb.say("!hi")).content.startswith("Hello, alice!")
    assert (await tb.say("!feedbacks list")).content == "No feedback yet."  # reads work
    assert len(_causes(caplog)) == 1, "the cause is logged once, not once per command"
    assert not [r for r in caplog.records if "failed unexpectedly" in r.getMessage() or r.exc_info]


async def test_a_writable_database_is_said_to_be_so_at_start(tb_factory, caplog) -> None:
    caplog.set_level(logging.INFO)
    tb = await tb_factory()
    assert "the database takes writes" in [r.getMessage() for r in caplog.records if r.name == "framework.storage"]
    assert (await tb.say("!feedback fine")).content == "Thanks for your feedback (#1)!"


async def test_a_full_database_refuses_with_its_reason_and_recovers(tmp_path, caplog) -> None:
    storage = Storage(default_url(tmp_path))
    limit = {"pages": 1_000_000}
    assert isinstance(storage.engine, sa.SQLiteEngine)
    # SQLite's own size cap: a real "database or disk is full"
    storage.engine.on_connect.append(lambda db: db.execute(f"PRAGMA max_page_count={limit['pages']}"))
    try:
        await storage.migrate([Migration(1, "notes", meta.create_all, "t")])
        async with storage.connect() as conn:
            pages = (await conn.execute(sa.text("PRAGMA page_count"))).scalar_one()
        await storage.engine.dispose()  # new connections get the lower cap
        limit["pages"] = pages + 2
        with pytest.raises(StorageUnavailable) as refused:
            for _ in range(3):
                async with storage.begin() as conn:
                    await conn.execute(notes.insert().values(text="x" * 20_000))
        assert refused.value.problem == "full"
        assert str(refused.value) == ("Sorry, that could not be saved: the bot's database is full: its disk has no "
                                      "space left; an admin must free space.")
        with pytest.raises(StorageUnavailable):
            async with storage.begin() as conn:
                await conn.execute(notes.insert().values(text="y" * 20_000))
        assert len(_causes(caplog)) == 1 and "database or disk is full" in _causes(caplog)[0]
        async with storage.begin() as conn:  # space again: writes work, and that is logged
            await conn.execute(notes.delete())
        assert storage.problem is None
    finally:
        await storage.close()


async def test_a_database_locked_by_another_program_refuses_with_its_reason(tmp_path) -> None:
    storage = Storage(default_url(tmp_path), busy_timeout=0.05)
    other = None
    try:
        await storage.migrate([Migration(1, "notes", meta.create_all, "t")])
        other = sqlite3.connect(tmp_path / "trainerbot.sqlite3", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
        with pytest.raises(StorageUnavailable) as refused:
            async with storage.begin() as conn:
                await conn.execute(notes.insert().values(text="x"))
        assert refused.value.problem == "locked"
        assert str(refused.value).endswith("locked by another program (another bot on the same data folder?); an "
                                           "admin must stop it. Try again later.")
        async with storage.connect() as conn:  # reads are not blocked in WAL mode
            assert (await conn.execute(sa.select(sa.func.count()).select_from(notes))).scalar_one() == 0
        other.execute("ROLLBACK")
        async with storage.begin() as conn:
            await conn.execute(notes.insert().values(text="x"))
        assert storage.problem is None
    finally:
        if other is not None:
            other.close()
        await storage.close()


async def test_other_database_errors_are_not_mistaken_for_a_refusal(tmp_path) -> None:
    storage = Storage(default_url(tmp_path))
    try:
        await storage.migrate([Migration(1, "notes", meta.create_all, "t")])
        with pytest.raises(sa.exc.IntegrityError):
            async with storage.begin() as conn:
                await conn.execute(notes.insert().values(id=1, text="a"))
                await conn.execute(notes.insert().values(id=1, text="b"))
        with pytest.raises(sa.exc.OperationalError):
            async with storage.begin() as conn:
                await conn.execute(sa.text("SELECT * FROM no_such_table"))
        assert storage.problem is None
    finally:
        await storage.close()
