"""Zip a directory under the data root into the archives area: streamed file by file in a worker
thread (never on the event loop), written to a partial file and renamed when complete, with
progress reported back to the loop (where a :class:`~framework.progress.ProgressMessage` shows
it, throttled). Links and special files inside are skipped, not followed. One implementation,
used by the archive command and by dataset selection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import os
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from framework.host import Host

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024
Progress = Callable[["ArchiveProgress"], None]
"""Called on the event loop with the latest state; it must return at once (``ProgressMessage.update``)."""


@dataclasses.dataclass(frozen=True)
class ArchiveProgress:
    done_bytes: int
    total_bytes: int
    files: int
    total_files: int


@dataclasses.dataclass(frozen=True)
class ArchiveResult:
    path: Path
    size: int
    """Size of the zip file in bytes."""
    file_count: int
    source_bytes: int
    skipped: list[str]
    """Entries left out (links, devices, unreadable files), relative to the source."""


def _walk(src: Path, leave_out: Path | None = None) -> tuple[list[tuple[Path, str, int]], list[str]]:
    """The regular files under ``src`` (path, name in the zip, size) and the entries skipped;
    the folder ``leave_out`` is not entered (the archives themselves, when the root is archived)."""
    files: list[tuple[Path, str, int]] = []
    skipped: list[str] = []
    stack = [src]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                rel = Path(entry.path).relative_to(src).as_posix()
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    if Path(entry.path) != leave_out:
                        stack.append(Path(entry.path))
                elif stat.S_ISREG(st.st_mode):
                    files.append((Path(entry.path), rel, st.st_size))
                else:
                    skipped.append(rel)
    files.sort(key=lambda f: f[1])
    return files, skipped


def _zip(src: Path, target: Path, report: Callable[[ArchiveProgress], None]) -> ArchiveResult:
    files, skipped = _walk(src, leave_out=target.parent)  # each archive of the root would hold all earlier ones
    total = sum(size for _, _, size in files)
    partial = target.with_name(target.name + ".partial")
    done = written = 0
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for index, (path, rel, _size) in enumerate(files, 1):
                try:
                    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                except OSError:
                    skipped.append(rel)
                    continue
                info = zipfile.ZipInfo.from_file(path, rel)
                info.compress_type = zipfile.ZIP_DEFLATED
                with os.fdopen(fd, "rb") as source, archive.open(info, "w") as sink:
                    while chunk := source.read(CHUNK):
                        sink.write(chunk)
                        done += len(chunk)
                        report(ArchiveProgress(done, total, index - 1, len(files)))
                written += 1
                report(ArchiveProgress(done, total, index, len(files)))
        partial.rename(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ArchiveResult(target, target.stat().st_size, written, total, skipped)


async def archive_directory(app: Host, src: Path, *, progress: Progress | None = None,
                            min_interval: float = 1.0) -> ArchiveResult:
    """Zip ``src`` (already resolved under the data root) into ``archives/NAME-TIMESTAMP.zip``.

    ``progress`` is called on the event loop, at most every ``min_interval`` seconds; the worker
    never waits for it, so a slow edit cannot slow the zip.
    """
    loop = asyncio.get_running_loop()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S-%f")
    name = src.name if src != app.data_root.root else "data"
    # a folder's name can be anything the file system takes (255 bytes, spaces): its slug names the zip
    target = app.data_root.name_path("archives", name, f"-{stamp}.zip", slug=True)
    last = [float("-inf")]

    def report(state: ArchiveProgress) -> None:
        if progress is None or loop.time() - last[0] < min_interval:
            return
        last[0] = loop.time()
        loop.call_soon_threadsafe(progress, state)

    result: ArchiveResult = await app.run_blocking(_zip, src, target, report)
    return result


def human_size(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover
