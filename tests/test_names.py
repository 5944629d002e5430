"""Issue 14, part 1: every user-derived name that becomes part of a path goes through the data
root's one door for names (``DataRoot.name_path``), so a dataset name cannot put a file outside
the data root, and ``dataset export`` is permission-checked like the other file features."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import sqlite3
import zipfile
from pathlib import Path

import pytest
from aiohttp import web

from framework.cli import main as cli_main
from framework.dataroot import NAME_MAX, DataRoot, check_name, slugify
from framework.errors import PathRefused

pytestmark = pytest.mark.backends("sqlite")  # names become paths on disk: the database plays no part

RULE = f"letters and digits, then also `-`, `_` and `.`, at most {NAME_MAX} characters"


def _files_outside(tmp_path: Path, data_root: Path) -> set[Path]:
    """The siblings of the test's folder, and every file in it outside the data root."""
    found = {entry for entry in tmp_path.parent.iterdir() if entry != tmp_path}
    for folder, dirs, names in os.walk(tmp_path):
        here = Path(folder)
        dirs[:] = [d for d in dirs if here / d != data_root]
        found.update(here / n for n in names)
    return found


async def answer(tb, content: str, *, user=None):
    """The bot's reply to this message (not whatever it posts next, e.g. a training job's progress)."""
    sent = await tb.send(content, user=user)
    return await tb.emu.wait_for_message(channel=tb.channel, predicate=lambda m: m.reference == sent.id)


async def _dataset_with_examples(tb, name: str = "reviews") -> None:
    reply = await answer(tb, f"!train data=\"great film\" dataset={name}", user=tb.owner)
    assert reply.content.startswith("Added 1 example(s)"), reply.content


@pytest.mark.parametrize("name", ["../../../escape", "/tmp/x", "sub/dir/x", "..", ".hidden", "-rf", "a b", "NUL",
                                  "x" * (NAME_MAX + 1), "tab\there", "rtl\u202egnp.exe"])
async def test_a_dataset_name_that_is_not_a_name_is_refused_on_both_surfaces(tb_factory, tmp_path, name) -> None:
    """Failures 1.1-1.3 of issue 14: `../../../escape` and `/tmp/x` became files outside the data root,
    `sub/dir/x` failed unexpectedly. Now each is refused before anything is stored or written."""
    tb = await tb_factory()
    before = _files_outside(tmp_path, tb.data_root)
    in_tmp = set(Path("/tmp").glob("x-*.jsonl"))
    expected = f"at most {NAME_MAX} characters" if len(name) > NAME_MAX else RULE
    for command, options in [("train", {"data": "great film", "dataset": name}), ("dataset export", {"name": name}),
                             ("dataset show", {"name": name}), ("dataset remove", {"name": name})]:
        group, _, sub = command.partition(" ")
        resp = await tb.slash(group, options, subcommand=sub or None, user=tb.owner)
        assert resp.ephemeral and expected in resp.content, resp.content
        quoted = name.replace('"', '\\"')
        reply = await answer(tb, f'!{command} {"data=x dataset=" if command == "train" else ""}"{quoted}"',
                             user=tb.owner)
        assert reply.content == resp.content
    assert (await answer(tb, "!dataset list")).content.startswith("No datasets yet.")
    assert not list((tb.data_root / "exports").iterdir())
    assert _files_outside(tmp_path, tb.data_root) == before
    assert set(Path("/tmp").glob("x-*.jsonl")) == in_tmp


async def test_export_writes_inside_exports_and_needs_the_training_permission(tb_factory, tmp_path) -> None:
    """Failure 1.4 of issue 14: creating a dataset needed the training permission, exporting none."""
    tb = await tb_factory()
    await _dataset_with_examples(tb, "reviews")
    refused = await tb.slash("dataset", {"name": "reviews"}, subcommand="export")
    assert (refused.content, refused.ephemeral) == (
        "You don't have permission to use `dataset export`: it is limited to the bot's owners.", True)
    assert (await answer(tb, "!dataset export reviews")).content == refused.content
    assert not list((tb.data_root / "exports").iterdir())
    done = await answer(tb, "!dataset export reviews", user=tb.owner)
    written = list((tb.data_root / "exports").iterdir())
    assert [p.parent for p in written] == [tb.data_root / "exports"]
    assert written[0].name.startswith("reviews-") and written[0].suffix == ".jsonl"
    assert done.content == f"`reviews`: 1 examples, saved as `exports/{written[0].name}`."
    assert done.attachments[0].data == written[0].read_bytes()


@pytest.mark.backends("sqlite")  # the old database is written as a SQLite file
async def test_stored_bad_dataset_names_are_renamed_by_the_migration(tb_factory, tmp_path) -> None:
    """Datasets stored before names had a form get their slug (unique), in jobs and models too; the
    export of a renamed dataset lands in exports/."""
    tb = await tb_factory()
    await _dataset_with_examples(tb, "ok")
    await tb.app.close()
    db = sqlite3.connect(tb.data_root / "trainerbot.sqlite3")
    with db:
        for name in ["../../../escape", "/tmp/x", "sub/dir/x", "a b", "escape"]:
            db.execute("INSERT INTO datasets (name, labels) VALUES (?, '[\"positive\", \"negative\"]')", (name,))
        db.execute("INSERT INTO training_jobs (dataset, provider, status, snapshot, example_count) "
                   "VALUES ('/tmp/x', 'local', 'failed', '', 0)")
        db.execute("DELETE FROM schema_migrations WHERE plugin = 'training' AND version = 4")
    db.close()
    tb2 = await tb_factory()
    listed = (await answer(tb2, "!dataset list")).content
    assert sorted(line.split("`")[1] for line in listed.splitlines()) == [
        "a-b", "escape", "escape-2", "ok", "sub-dir-x", "tmp-x"]
    assert "`tmp-x` via `local`" in (await answer(tb2, "!jobs list")).content
    done = await answer(tb2, "!dataset export tmp-x", user=tb2.owner)
    assert done.content.startswith("`tmp-x`: 0 examples, saved as `exports/tmp-x-")
    assert [p.parent for p in (tb2.data_root / "exports").iterdir()] == [tb2.data_root / "exports"]


def test_the_door_for_names(tmp_path) -> None:
    root = DataRoot(tmp_path / "data")
    assert root.name_path("exports", "reviews", "-1.jsonl") == root.root / "exports" / "reviews-1.jsonl"
    assert root.name_path("models/local", "local-3", ".json") == root.root / "models" / "local" / "local-3.json"
    assert check_name(" 리뷰_v1.2 ", "dataset name") == "리뷰_v1.2"
    for bad, reason in [("../x", "bad_name"), ("a/b", "bad_name"), ("a\\b", "bad_name"), ("", "bad_name"),
                        ("a\x00b", "bad_name"), ("con.txt", "bad_name"), ("x" * 65, "too_long")]:
        with pytest.raises(PathRefused) as refused:
            root.name_path("exports", bad, ".jsonl", what="dataset name")
        assert refused.value.reason == reason
        assert len(str(refused.value)) < 300
    os.symlink(tmp_path, root.root / "exports" / "link.jsonl")
    with pytest.raises(PathRefused, match="symbolic link"):
        root.name_path("exports", "link", ".jsonl")
    # with slug=True, any folder's name maps to a name inside the area instead of being refused
    assert root.name_path("archives", "../../My Folder ☃", ".zip", slug=True).parent == root.root / "archives"
    assert slugify("x" * 300).startswith("x") and len(slugify("x" * 300)) == NAME_MAX
    assert slugify("...") == "data" and slugify("CON") == "CON-"


def test_paths_with_over_long_components_are_refused_not_crashed(tmp_path) -> None:
    """Failure 2.1 of issue 14: a 5,000-character component ended in OSError (File name too long)."""
    root = DataRoot(tmp_path / "data")
    for path in ["x" * 5000, "exports/" + "y" * 300, "é" * 200]:
        with pytest.raises(PathRefused) as refused:
            root.resolve(path, kind="file")
        assert refused.value.reason == "too_long" and len(str(refused.value)) < 300


async def test_a_model_list_cannot_name_a_folder_outside_the_models_area(tmp_path, capsys) -> None:
    """Model names go through the same check: a model list (an admin-given URL) naming a model
    `../../../escape` cannot make `trainerbot models download` write outside models/vosk."""
    model = io.BytesIO()
    with zipfile.ZipFile(model, "w") as archive:
        archive.writestr("m/conf/model.conf", "--sample-frequency=16000\n")
    payload = model.getvalue()
    digest = hashlib.md5(payload).hexdigest()
    entry = {"name": "../../../escape", "lang": "xx", "size": len(payload), "md5": digest}
    app = web.Application()
    app.router.add_get("/list.json", lambda r: web.json_response([entry]))
    app.router.add_get("/model.zip", lambda r: web.Response(body=payload))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    entry["url"] = f"http://127.0.0.1:{port}/model.zip"
    config = tmp_path / "plugins.toml"
    config.write_text(f"[bot]\ndata_root = '{tmp_path / 'data'}'\n[plugins.speech_vosk]\n"
                      f"model_list_url = 'http://127.0.0.1:{port}/list.json'\n", "utf-8")
    before = _files_outside(tmp_path, tmp_path / "data")
    try:
        failed = await asyncio.to_thread(cli_main, ["--config", str(config), "models", "download", "../../../escape",
                                                    "--engine", "vosk"])
    finally:
        await runner.cleanup()
    assert failed == 1
    assert "download failed: `../../../escape` is not a valid model name" in capsys.readouterr().err
    assert _files_outside(tmp_path, tmp_path / "data") == before
