"""`trainerbot storage migrate --to URL` moves a populated SQLite database (datasets, training jobs,
models, corrections, feedback, test runs) into an empty PostgreSQL schema: equal row counts and
contents, table by table, read back with each database's own driver; a second run is refused
because the target is no longer empty, and the moved database serves the bot."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import sys
import types
from pathlib import Path

import pytest

from framework import hookimpl
from framework.testing.databases import TestDatabase
from framework.testing.harness import HarnessFactory
from tests.test_evaluation import KNOWN
from tests.test_training import TRAINING_TOML, _progress, labelled_jsonl

pytestmark = pytest.mark.backends("postgresql")  # the target; the source is SQLite

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("datasets", "examples", "training_jobs", "trained_models", "corrections",
          "feedback", "evaluation_runs", "evaluation_review_items")


def plain(value: object) -> object:
    """A value as both drivers can be compared on: times as UTC text, booleans as 0/1."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value.isoformat(" ")
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == " " and value[13] == ":":
        return datetime.datetime.fromisoformat(value).isoformat(" ")  # SQLite's stored text, same form
    return int(value) if isinstance(value, bool) else value


def table_rows(database: TestDatabase, data_root: Path, table: str) -> list[tuple]:
    rows = database.rows(data_root, f"SELECT * FROM {table}")
    return sorted((tuple(sorted((k, plain(v)) for k, v in r.items())) for r in rows), key=repr)


async def migrate(config: Path, target: TestDatabase) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TRAINERBOT_DATABASE_SCHEMA")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "framework.cli", "--config", str(config), "storage", "migrate",
        "--to", str(target.url), "--schema", str(target.schema), cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 300)
    return int(process.returncode or 0), out.decode(), err.decode()


async def test_a_populated_sqlite_database_moves_to_postgresql(discord_emulator, tmp_path, database) -> None:
    source = TestDatabase("sqlite")
    data_root = tmp_path / "data"
    sqlite_url = source.url_for(data_root)
    factory = HarnessFactory(discord_emulator, tmp_path, source)
    try:
        answers: asyncio.Queue[str] = asyncio.Queue()  # chat calls reply_sent once the answer is recorded
        observer = types.SimpleNamespace(reply_sent=hookimpl(lambda app, message, text: answers.put_nowait(text)))
        tb = await factory(plugins_toml=TRAINING_TOML, config_overrides={"storage": {"url": sqlite_url}},
                           extra_plugins={"observer": observer})
        sent = await tb.send("!train", user=tb.owner, attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
        await _progress(tb, sent, "succeeded")
        assert (await tb.say("!model use local-1", user=tb.owner)).content == "Active model: `local-1` (local)."
        tested = await tb.say(f"!test {json.dumps([{'text': t, 'label': label} for t, label in KNOWN])}")
        assert tested.content.startswith("🧪 **Test run #1**")
        assert (await tb.say("!feedback the bot is really helpful")).content == "Thanks for your feedback (#1)!"
        answer = await tb.say(f"<@{tb.emu.bot_user.id}> is this film any good?")
        assert await answers.get() == answer.content
        corrected = await tb.say("!correct It is a fine film.", reference=answer)
        assert "correction" in corrected.content.lower(), corrected.content
        assert (await tb.say("!feedback rating=4 close enough", reference=answer)).content.startswith("Thanks")
    finally:
        await factory.close()
    before = {t: table_rows(source, data_root, t) for t in TABLES}
    assert all(before.values()), {t: len(r) for t, r in before.items()}

    config = tmp_path / "plugins.toml"
    config.write_text(f'[bot]\ndata_root = "{data_root}"\n[storage]\nurl = "{sqlite_url}"\n' + TRAINING_TOML, "utf-8")
    code, out, err = await migrate(config, database)
    assert code == 0, err
    assert "copied and verified row by row" in out and "examples: 16 rows" in out, out
    after = {t: table_rows(database, data_root, t) for t in TABLES}
    assert {t: len(r) for t, r in after.items()} == {t: len(r) for t, r in before.items()}
    assert after == before

    code, out, err = await migrate(config, database)
    assert code == 1 and "is not empty" in err and "a copy never merges" in err, (out, err)

    factory = HarnessFactory(discord_emulator, tmp_path, database)  # the bot on the moved database
    try:
        tb = await factory(plugins_toml=TRAINING_TOML)
        assert (await tb.say("!dataset show")).content.startswith("**default** — 16 examples")
        assert (await tb.say("!feedback one more")).content == "Thanks for your feedback (#3)!"  # ids go on
    finally:
        await factory.close()
