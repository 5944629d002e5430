"""The data root: the one directory the bot reads and writes.

Two doors lead in, and nothing else builds a path from what a user typed:

- :meth:`DataRoot.resolve` takes a user's *path* (``datasets/reviews``) to something under the
  root, component by component, without following links: absolute paths, ``..``, symbolic links
  (anywhere on the way), device files, FIFOs, sockets and over-long names are refused with a
  message the user can act on.
- :meth:`DataRoot.name_path` takes a user-derived *name* (a dataset, an export, a model, a folder
  being archived) that becomes one file name in an area: the name must pass :func:`check_name`
  (or, with ``slug=True``, is mapped to a safe slug by :func:`slugify`), and the result goes
  through ``resolve`` too, so it lands directly inside its area or is refused.

Nothing outside the root is ever opened.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import unicodedata
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Literal

from framework.errors import PathRefused, echo

AREAS = ("datasets", "archives", "exports", "instructions", "models", "uploads", "recordings", "tmp")

NAME_MAX_BYTES = 255
"""Longest file name (one path component) in bytes that Linux, macOS and Windows file systems take."""
PATH_MAX_CHARS = 1024
"""Longest user path looked at; anything longer is refused before the file system sees it."""
NAME_MAX = 64
"""Longest name (dataset, model, …) in characters, so that a name plus a date suffix stays one file name."""

_NAME = re.compile(r"[^\W_][\w.-]*")
_SLUG_JUNK = re.compile(r"[^\w.-]+")
_DEVICE_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def check_name(name: str, what: str = "name", *, max_length: int = NAME_MAX) -> str:
    """A user-given name that becomes (part of) one file name, stripped; or :class:`PathRefused`
    (reason ``bad_name``, ``too_long``) saying the rule: letters and digits (any script), then also
    ``-``, ``_`` and ``.``; at most ``max_length`` characters. So a name can never be a path
    (``/``, ``\\``, ``..``), a hidden file, an option (``-x``), a Windows device, or invisible."""
    text = str(name).strip()
    rule = (f"a {what} is letters and digits, then also `-`, `_` and `.`, "
            f"at most {max_length} characters")
    if len(text) > max_length:
        raise PathRefused(f"`{echo(text)}` is too long ({len(text)} characters): {rule}.", "too_long")
    if not _NAME.fullmatch(text) or text.split(".")[0].upper() in _DEVICE_NAMES:
        shown = f"`{echo(text)}`" if text else "An empty name"
        raise PathRefused(f"{shown} is not a valid {what}: {rule}.", "bad_name")
    return text


def slugify(name: str, *, max_length: int = NAME_MAX, fallback: str = "data") -> str:
    """A name that passes :func:`check_name`, made from any text (a folder's name, an old dataset
    name): runs of other characters become ``-``, leading ``.``/``-``/``_`` go, the length is cut."""
    text = _SLUG_JUNK.sub("-", unicodedata.normalize("NFC", str(name)))
    text = text.lstrip(".-_")[:max_length].rstrip(".-") or fallback
    if text.split(".")[0].upper() in _DEVICE_NAMES:
        text = f"{text}-"
    return text


class DataRoot:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        for area in AREAS:
            (self.root / area).mkdir(exist_ok=True)

    def area(self, name: str) -> Path:
        """An area's folder; ``"models/local"`` is a folder the code names inside an area (made if missing)."""
        top, _, sub = name.partition("/")
        if top not in AREAS:
            raise ValueError(f"unknown data area {name!r}")
        if not sub:
            return self.root / top
        folder = self.root / top
        for part in sub.split("/"):
            folder = folder / check_name(part, "folder name")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def name_path(self, area: str, name: str, suffix: str = "", *, what: str = "name", slug: bool = False) -> Path:
        """Where the file for a user-derived ``name`` lives: ``<area>/<name><suffix>``, directly in
        the area. The name must pass :func:`check_name` (``slug=True`` maps it with :func:`slugify`
        instead of refusing); the file name must fit the file system; an existing entry there must be
        a regular file or folder (never a link). Refusals are :class:`PathRefused` naming ``what``."""
        clean = slugify(name) if slug else check_name(name, what)
        filename = clean + suffix
        if len(filename.encode("utf-8", "surrogatepass")) > NAME_MAX_BYTES:
            raise PathRefused(f"`{echo(clean)}` is too long to be a file name; use a shorter {what}.", "too_long")
        folder = self.area(area)
        top, _, sub = area.partition("/")
        path = self.resolve(f"{sub}/{filename}" if sub else filename, base=top, must_exist=False)
        if path.parent != folder:  # cannot happen after check_name; kept as the last line of defence
            raise PathRefused(f"`{echo(name)}` is not a valid {what}.", "bad_name")
        return path

    @staticmethod
    def write_file(path: Path, data: bytes) -> None:
        """Write a file resolved under the root: to ``NAME.partial`` (never through a link), then
        renamed, so readers never see half a file. Blocking: call it through ``run_blocking``."""
        partial = path.with_name(path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

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
        if len(text) > PATH_MAX_CHARS:
            raise PathRefused(f"`{echo(text)}` is too long for a path ({len(text)} characters; "
                              f"at most {PATH_MAX_CHARS}).", "too_long")
        if not text or text in {".", "./"}:
            if base is None and kind != "dir":
                raise PathRefused("Give a path inside the data folder, e.g. `datasets/reviews`.", "empty")
            text = "."
        if "\x00" in text:
            raise PathRefused("That path contains a NUL character.", "nul")
        if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute() or PureWindowsPath(text).drive \
                or text.startswith("~"):
            raise PathRefused(f"`{echo(text)}` is an absolute path; give a path relative to the data folder.",
                              "absolute")
        parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
        if ".." in parts:
            raise PathRefused(f"`{echo(text)}` leaves the data folder (`..` is not allowed).", "parent")
        for part in parts:
            if len(part.encode("utf-8", "surrogatepass")) > NAME_MAX_BYTES:
                raise PathRefused(f"`{echo(text)}`: `{echo(part, 40)}` is longer than a file name can be "
                                  f"({NAME_MAX_BYTES} bytes).", "too_long")
        current = self.area(base) if base else self.root
        for i, part in enumerate(parts):
            current = current / part
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                if must_exist:
                    raise PathRefused(f"`{echo(text)}` does not exist in the data folder.", "missing") from None
                return current  # the rest does not exist yet: nothing to follow
            except NotADirectoryError:
                raise PathRefused(f"`{echo(text)}`: `{echo('/'.join(parts[:i]))}` is a file, not a folder.",
                                  "not_a_folder") from None
            except OSError as exc:  # a name the file system refuses, or a folder the bot may not read
                raise _unreadable(text, exc) from None
            if stat.S_ISLNK(st.st_mode):
                raise PathRefused(f"`{echo(text)}` goes through a symbolic link; links are not followed.", "link")
            if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
                raise PathRefused(f"`{echo(text)}`: `{echo('/'.join(parts[:i + 1]))}` is a file, not a folder.",
                                  "not_a_folder")
        try:
            st = os.lstat(current)
        except OSError as exc:
            raise _unreadable(text, exc) from None
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise PathRefused(f"`{echo(text)}` is not a regular file or folder.", "special")
        if kind == "file" and not stat.S_ISREG(st.st_mode):
            raise PathRefused(f"`{echo(text)}` is a folder, not a file.", "is_folder")
        if kind == "dir" and not stat.S_ISDIR(st.st_mode):
            raise PathRefused(f"`{echo(text)}` is a file, not a folder.", "is_file")
        return current

    @staticmethod
    def open_read(path: Path) -> int:
        """Open a resolved file for reading without following a link swapped in meanwhile."""
        return os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))


def _unreadable(text: str, exc: OSError) -> PathRefused:
    if exc.errno == errno.ENAMETOOLONG:
        return PathRefused(f"`{echo(text)}` is too long for a path.", "too_long")
    return PathRefused(f"`{echo(text)}` cannot be read in the data folder ({os.strerror(exc.errno or 0).lower()}).",
                       "unreadable")
