"""getfile and files: send and list files of the data root — never anything outside it.

Restricted to owners and the ``files`` permission group (``[permissions.groups.files]``).
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import hikari

from framework import hookimpl
from framework.archive import human_size
from framework.commands import Context, File, UserError, command, integer, string
from framework.dataroot import DataRoot
from framework.errors import PathRefused
from framework.settings import Field
from framework.settings import Settings as SettingsModel

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterCommand
    from framework.host import Host

PAGE = 20


class Settings(SettingsModel):
    offer_zip: bool = True
    """Send a too-large file zipped when the zip fits the upload limit."""
    page_size: int = Field(PAGE, ge=5, le=50)


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


def _read(path: Path) -> bytes:
    with os.fdopen(DataRoot.open_read(path), "rb") as handle:
        return handle.read()


def _zip_one(path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo.from_file(path, path.name)
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, _read(path))
    return buffer.getvalue()


async def complete_path(app: Host, partial: str) -> list[str]:
    """Suggest entries of the folder being typed (for the slash command's autocomplete)."""
    folder, _, stem = partial.replace("\\", "/").rpartition("/")
    try:
        base = app.data_root.resolve(folder, kind="dir") if folder else app.data_root.root
    except PathRefused:
        return []

    def listing() -> list[str]:
        names = []
        with os.scandir(base) as entries:
            for entry in entries:
                if entry.name.startswith(stem) and not entry.is_symlink():
                    names.append(f"{folder + '/' if folder else ''}{entry.name}{'/' if entry.is_dir() else ''}")
        return sorted(names)[:25]

    return await app.run_blocking(listing)


@command("getfile", "Send a file from the bot's data folder", permission="files",
         bot_permissions=hikari.Permissions.ATTACH_FILES,
         options=[string("path", "Path inside the data folder, e.g. exports/report.csv", max_length=500,
                         autocomplete=complete_path)])
async def getfile(ctx: Context, path: str) -> None:
    app = ctx.app
    target = app.data_root.resolve(path, kind="file")
    shown = app.data_root.display(target)
    size = target.stat().st_size
    limit = app.config.bot.max_upload_bytes
    if size <= limit:
        data = await app.run_blocking(_read, target)
        await ctx.respond(f"`{shown}` ({human_size(size)})", attachments=[File(target.name, data=data)])
        return
    if ctx.settings.offer_zip:
        await ctx.defer()
        zipped = await app.run_blocking(_zip_one, target)
        if len(zipped) <= limit:
            await ctx.respond(f"`{shown}` is {human_size(size)}, over the upload limit of {human_size(limit)}; "
                              f"here it is zipped ({human_size(len(zipped))}).",
                              attachments=[File(f"{target.name}.zip", data=zipped)])
            return
    raise UserError(f"`{shown}` is {human_size(size)}; Discord's upload limit for this bot is {human_size(limit)}"
                    + (" (zipped it would still be too large)." if ctx.settings.offer_zip else "."))


def _list(folder: Path) -> list[tuple[str, bool, int]]:
    rows = []
    with os.scandir(folder) as entries:
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                rows.append((entry.name, True, 0))
            elif stat.S_ISREG(st.st_mode):
                rows.append((entry.name, False, st.st_size))
    return sorted(rows, key=lambda r: (not r[1], r[0].lower()))


@command("files", "List a folder of the bot's data folder", permission="files",
         options=[string("path", "Folder inside the data folder (default: the top)", default=""),
                  integer("page", "Page number", default=1, min_value=1)])
async def files(ctx: Context, path: str, page: int) -> None:
    app = ctx.app
    folder = app.data_root.resolve(path, kind="dir") if path.strip() else app.data_root.root
    rows = await app.run_blocking(_list, folder)
    size = ctx.settings.page_size
    pages = max(1, -(-len(rows) // size))
    if page > pages:
        raise UserError(f"`{app.data_root.display(folder)}` has {pages} page(s) of entries; there is no page {page}.")
    chunk = rows[(page - 1) * size: page * size]
    lines = [f"📁 `{name}/`" if is_dir else f"📄 `{name}` — {human_size(nbytes)}" for name, is_dir, nbytes in chunk]
    header = f"**{app.data_root.display(folder)}** — {len(rows)} entries, page {page}/{pages}"
    more = f"\nNext: `{ctx.mention_command('files')} path:{path} page:{page + 1}`" if page < pages else ""
    await ctx.respond("\n".join([header, *lines]) + more if lines else f"{header}\n(empty)")


@hookimpl
def register_commands(register: RegisterCommand) -> None:
    register(getfile)
    register(files)

