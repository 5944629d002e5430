"""getfile, files and archive through the real bot: confinement, limits, permissions, zip contents."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from framework.commands import UserError
from framework.dataroot import DataRoot
from framework.errors import PathRefused

pytestmark = pytest.mark.backends("sqlite")  # files on disk: the database plays no part

CANARY = "CANARY-7f3a1c-outside-the-root"


@pytest.fixture
async def files_tb(tb_factory, tmp_path):
    (tmp_path / "canary.txt").write_text(CANARY, "utf-8")
    tb = await tb_factory(config_overrides={"bot": {"max_upload_bytes": 64 * 1024}},
                          plugins_toml='[permissions.groups.files]\nroles = ["Librarian"]\n')
    root = tb.data_root
    (root / "exports").mkdir(exist_ok=True)
    (root / "exports" / "report.csv").write_text("a,b\n1,2\n", "utf-8")
    (root / "exports" / "blob.bin").write_bytes(bytes(range(256)) * 4)
    (root / "exports" / "big.txt").write_text("x" * (200 * 1024), "utf-8")          # zips small
    (root / "exports" / "noise.bin").write_bytes(os.urandom(100 * 1024))           # does not
    os.symlink(tmp_path / "canary.txt", root / "exports" / "link.txt")
    os.symlink(tmp_path, root / "outside")
    yield tb
    leaked = [m for m in tb.emu.sent_messages() if CANARY in (m.content or "")
              or any(CANARY.encode() in a.data for a in m.attachments)]
    assert not leaked, "a file outside the data root reached Discord"


async def test_getfile_attaches_text_and_binary(files_tb) -> None:
    tb = files_tb
    reply = await tb.say("!getfile exports/report.csv", user=tb.owner)
    assert reply.content == "`exports/report.csv` (8 bytes)"
    assert [(a.filename, a.data) for a in reply.attachments] == [("report.csv", b"a,b\n1,2\n")]
    resp = await tb.slash("getfile", {"path": "exports/blob.bin"}, user=tb.owner)
    assert resp.attachments[0].data == bytes(range(256)) * 4


@pytest.mark.parametrize(("path", "message"), [
    ("../canary.txt", "`../canary.txt` leaves the data folder (`..` is not allowed)."),
    ("exports/../../canary.txt", "`exports/../../canary.txt` leaves the data folder (`..` is not allowed)."),
    ("/etc/passwd", "`/etc/passwd` is an absolute path; give a path relative to the data folder."),
    ("exports/link.txt", "`exports/link.txt` goes through a symbolic link; links are not followed."),
    ("outside/canary.txt", "`outside/canary.txt` goes through a symbolic link; links are not followed."),
    ("exports/missing.txt", "`exports/missing.txt` does not exist in the data folder."),
    ("exports", "`exports` is a folder, not a file."),
])
async def test_getfile_refusals(files_tb, path, message) -> None:
    tb = files_tb
    assert (await tb.say(f"!getfile {path}", user=tb.owner)).content == message
    resp = await tb.slash("getfile", {"path": path}, user=tb.owner)
    assert (resp.content, resp.ephemeral) == (message, True)


async def test_too_large_file_is_zipped_or_refused_with_the_limit(files_tb) -> None:
    tb = files_tb
    zipped = await tb.say("!getfile exports/big.txt", user=tb.owner)
    assert "over the upload limit of 64.0 KB; here it is zipped" in zipped.content
    with zipfile.ZipFile(io.BytesIO(zipped.attachments[0].data)) as archive:
        assert archive.read("big.txt") == b"x" * (200 * 1024)
    refused = await tb.say("!getfile exports/noise.bin", user=tb.owner)
    assert refused.content == ("`exports/noise.bin` is 100.0 KB; Discord's upload limit for this bot is 64.0 KB "
                               "(zipped it would still be too large).")


async def test_permission_refused_and_granted_by_role(files_tb) -> None:
    tb = files_tb
    message = "You don't have permission to use `getfile`: it needs one of the roles Librarian."
    assert (await tb.say("!getfile exports/report.csv")).content == message
    assert (await tb.slash("archive", {"path": "exports"})).content == message.replace("getfile", "archive")
    librarian = tb.emu.create_role(tb.guild, "Librarian")
    reader = tb.emu.create_user("reader")
    tb.emu.add_member(tb.guild, reader, roles=[librarian])
    assert (await tb.say("!getfile exports/report.csv", user=reader)).attachments[0].data == b"a,b\n1,2\n"


async def test_files_lists_and_pages(files_tb) -> None:
    tb = files_tb
    listing = await tb.say("!files exports", user=tb.owner)
    assert listing.content.startswith("**exports** — 4 entries, page 1/1")
    assert "📄 `report.csv` — 8 bytes" in listing.content and "link.txt" not in listing.content
    top = await tb.slash("files", {}, user=tb.owner)
    assert "📁 `exports/`" in top.content and "📁 `datasets/`" in top.content
    for i in range(25):
        (tb.data_root / "uploads" / f"f{i:02}.txt").write_text("x", "utf-8")
    page2 = await tb.say("!files uploads 2", user=tb.owner)
    assert page2.content.startswith("**uploads** — 25 entries, page 2/2") and "`f24.txt`" in page2.content
    assert (await tb.say("!files uploads 3", user=tb.owner)).content == (
        "`uploads` has 2 page(s) of entries; there is no page 3.")


async def test_getfile_autocomplete_suggests_paths(files_tb) -> None:
    tb = files_tb
    inter = await tb.emu.invoke_autocomplete(tb.channel, tb.owner, "getfile", "path", "exports/r")
    callback = await inter.wait_callback()
    assert [c["value"] for c in callback["data"]["choices"]] == ["exports/report.csv"]


async def test_archive_zips_byte_for_byte(files_tb) -> None:
    tb = files_tb
    src = tb.data_root / "datasets" / "reviews"
    (src / "nested").mkdir(parents=True)
    contents = {"a.txt": b"good film", "nested/b.bin": os.urandom(3000), "nested/c.md": "# Ünïcode".encode()}
    for rel, data in contents.items():
        (src / rel).write_bytes(data)
    os.symlink(tb.data_root.parent / "canary.txt", src / "escape.txt")
    sent = await tb.send("!archive datasets/reviews", user=tb.owner)
    status = await tb.reply_to(sent)
    done = await tb.emu.wait_until(lambda: status if status.content.startswith("Archived") else None)
    assert done.content.startswith("Archived `datasets/reviews` → `archives/reviews-")
    assert "3 files" in done.content and "Skipped 1 link(s) or special file(s)." in done.content
    archive_bytes = done.attachments[0].data
    with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == contents
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    stored = list((tb.data_root / "archives").glob("reviews-*.zip"))
    assert len(stored) == 1 and stored[0].read_bytes() == archive_bytes
    assert not list((tb.data_root / "archives").glob("*.partial"))


async def test_archive_refusals(files_tb) -> None:
    tb = files_tb
    assert (await tb.say("!archive ../", user=tb.owner)).content == (
        "`../` leaves the data folder (`..` is not allowed).")
    assert (await tb.say("!archive outside", user=tb.owner)).content == (
        "`outside` goes through a symbolic link; links are not followed.")
    assert (await tb.say("!archive exports/report.csv", user=tb.owner)).content == (
        "`exports/report.csv` is a file, not a folder.")


def test_dataroot_refuses_devices_and_nul(tmp_path) -> None:
    root = DataRoot(tmp_path / "data")
    os.mkfifo(root.root / "pipe")
    with pytest.raises(PathRefused, match="is not a regular file or folder"):
        root.resolve("pipe")
    with pytest.raises(PathRefused, match="NUL"):
        root.resolve("a\x00b")
    with pytest.raises(PathRefused, match="absolute"):
        root.resolve("C:\\Windows\\win.ini")
    with pytest.raises(PathRefused, match="absolute"):
        root.resolve("~/secrets")
    assert isinstance(PathRefused("x"), UserError)
    assert root.resolve("exports/new.csv", must_exist=False) == root.root / "exports" / "new.csv"
    assert Path(root.display(root.root / "exports")) == Path("exports")
