"""archive: zip a folder of the data root into ``archives/``, with progress for large folders.

Restricted to owners and the ``files`` permission group, like the files plugin.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import hikari

from framework import hookimpl
from framework.archive import ArchiveProgress, archive_directory, human_size
from framework.commands import Context, File, UserError, command, string
from framework.progress import ProgressMessage
from framework.uploads import upload_limit

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterCommand


@command("archive", "Zip a folder of the data folder into archives/", permission="files",
         options=[string("path", "Folder inside the data folder, e.g. datasets/reviews", max_length=500)])
async def archive(ctx: Context, path: str) -> None:
    app = ctx.app
    source = app.data_root.resolve(path, kind="dir")
    if source == app.data_root.area("archives") or app.data_root.area("archives") in source.parents:
        raise UserError("The archives folder itself cannot be archived.")
    shown = app.data_root.display(source)
    status = await ProgressMessage.start(ctx, f"Archiving `{shown}`…")

    def progress(state: ArchiveProgress) -> None:
        percent = 100 * state.done_bytes / state.total_bytes if state.total_bytes else 100
        status.update(f"Archiving `{shown}`… {percent:.0f}% ({state.files}/{state.total_files} files, "
                      f"{human_size(state.done_bytes)} of {human_size(state.total_bytes)})")

    result = await archive_directory(app, source, progress=progress)
    name = app.data_root.display(result.path)
    text = (f"Archived `{shown}` → `{name}`: {result.file_count} files, {human_size(result.size)} "
            f"(from {human_size(result.source_bytes)}).")
    if result.skipped:
        text += f" Skipped {len(result.skipped)} link(s) or special file(s)."
    limit = upload_limit(ctx)
    if await ctx.bot_missing(hikari.Permissions.ATTACH_FILES):
        await status.finish(text + " I may not attach files in this channel (Attach Files permission); "
                            "it stays in the bot's data folder.")
    elif result.size <= limit:
        data = await app.run_blocking(_read, result.path)
        await status.finish(text, attachments=[File(result.path.name, data=data)])
    else:
        await status.finish(text + f" Too large to attach (upload limit {human_size(limit)}); "
                            "it stays in the bot's data folder.")


def _read(path: os.PathLike[str]) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


@hookimpl
def register_commands(register: RegisterCommand) -> None:
    register(archive)
