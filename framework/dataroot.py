"""The data root: the one directory the bot reads and writes.

Every path a user gives is resolved here, component by component, without following links:
absolute paths, ``..``, symbolic links (anywhere on the way), device files, FIFOs and sockets
are refused with a message the user can act on. Nothing outside the root is ever opened.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Literal

from framework.errors import PathRefused

AREAS = ("datasets", "archives", "exports", "instructions", "models", "uploads", "recordings", "tmp")



class DataRoot:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        for area in AREAS:
            (self.root / area).mkdir(exist_ok=True)

    def area(self, name: str) -> Path:
        if name not in AREAS:
            raise ValueError(f"unknown data area {name!r}")
        return self.root / name

    def display(self, path: Path) -> str:
        """A path as users see it: relative to the root, with forward slashes."""
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return path.name
        return rel.as_posix() or "."

    def resolve(self, user_path: str, *, base: str | None = None, must_exist: bool = True,
                kind: Literal["file", "dir"] | None = None) -> Path:
        """Resolve a user-given relative path under the root (or under the area ``base``)."""
        text = (user_path or "").strip()
        if not text or text in {".", "./"}:
            if base is None and kind != "dir":
                raise PathRefused("Give a path inside the data folder, e.g. `datasets/reviews`.", "empty")
            text = "."
        if "\x00" in text:
            raise PathRefused("That path contains a NUL character.", "nul")
        if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute() or PureWindowsPath(text).drive \
                or text.startswith("~"):
            raise PathRefused(f"`{text}` is an absolute path; give a path relative to the data folder.", "absolute")
        parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
        if ".." in parts:
            raise PathRefused(f"`{text}` leaves the data folder (`..` is not allowed).", "parent")
        current = self.area(base) if base else self.root
        for i, part in enumerate(parts):
            current = current / part
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                if must_exist:
                    raise PathRefused(f"`{text}` does not exist in the data folder.", "missing") from None
                return current  # the rest does not exist yet: nothing to follow
            except NotADirectoryError:
                raise PathRefused(f"`{text}`: `{'/'.join(parts[:i])}` is a file, not a folder.",
                                  "not_a_folder") from None
            if stat.S_ISLNK(st.st_mode):
                raise PathRefused(f"`{text}` goes through a symbolic link; links are not followed.", "link")
            if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
                raise PathRefused(f"`{text}`: `{'/'.join(parts[:i + 1])}` is a file, not a folder.", "not_a_folder")
        st = os.lstat(current)
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise PathRefused(f"`{text}` is not a regular file or folder.", "special")
        if kind == "file" and not stat.S_ISREG(st.st_mode):
            raise PathRefused(f"`{text}` is a folder, not a file.", "is_folder")
        if kind == "dir" and not stat.S_ISDIR(st.st_mode):
            raise PathRefused(f"`{text}` is a file, not a folder.", "is_file")
        return current

    @staticmethod
    def open_read(path: Path) -> int:
        """Open a resolved file for reading without following a link swapped in meanwhile."""
        return os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
