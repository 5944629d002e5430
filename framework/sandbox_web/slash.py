"""What the page adds to the shared line parser (``framework.sandbox_input``) for slash commands:
files dropped on the page fill the command's attachment options, and a half-typed line gives the
bot's autocomplete its command path and the values typed so far.

Uploads reach the parser as ``option:upload:N`` tokens and come back as ``FilePath("upload:N")``;
a path typed by hand is refused (the page's server does not read local files for a web request).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from framework.emulator import FileSpec
from framework.sandbox_input import Catalog, FilePath, Slash

SUB_KINDS = (1, 2)
ATTACHMENT = 11
UPLOAD = "upload:"


def walk(catalog: Catalog, line: str) -> tuple[tuple[str, ...], dict[str, str], Sequence[Mapping[str, Any]]]:
    """``(path, raw option values typed so far, declared options)`` of a partly typed slash line;
    ``ValueError`` when no command or subcommand matches."""
    try:
        words = shlex.split(line.strip().removeprefix("/"))
    except ValueError:
        words = line.strip().removeprefix("/").split()
    if not words:
        raise ValueError("type a command after /")
    command = catalog.slash().get(words[0].lower())
    if command is None:
        raise ValueError(f"no slash command /{words[0]}; type / to see the list")
    path: tuple[str, ...] = (command["name"],)
    declared: Sequence[Mapping[str, Any]] = command.get("options", [])
    rest = words[1:]
    while declared and all(o["type"] in SUB_KINDS for o in declared):
        subs = {o["name"]: o for o in declared}
        if not rest or rest[0] not in subs:
            raise ValueError(f"/{' '.join(path)} takes one of: {', '.join(subs)}")
        path, declared, rest = (*path, rest[0]), subs[rest[0]].get("options", []), rest[1:]
    raw = {k: v for k, sep, v in (w.partition(":") for w in rest) if sep}
    return path, raw, declared


def with_uploads(catalog: Catalog, line: str, count: int) -> str:
    """``line`` with ``option:upload:N`` for the attachment options it leaves empty, in order."""
    if not count:
        return line
    try:
        _, raw, declared = walk(catalog, line)
    except ValueError:
        return line  # the parser words the problem
    free = [o["name"] for o in declared if o["type"] == ATTACHMENT and o["name"] not in raw]
    return " ".join([line.strip(), *(f"{name}:{UPLOAD}{i}" for i, name in enumerate(free[:count]))])


def resolve_uploads(action: Slash, files: list[FileSpec]) -> dict[str, Any]:
    """The slash options with uploads in place of their ``upload:N`` tokens."""
    options: dict[str, Any] = {}
    for key, value in action.options.items():
        if isinstance(value, FilePath):
            index = value.path.removeprefix(UPLOAD)
            if not value.path.startswith(UPLOAD) or not index.isdigit() or int(index) >= len(files):
                raise ValueError(f"`{key}` takes a file: drop it on the page (paths are read by the terminal "
                                 "sandbox only)")
            value = files[int(index)]
        options[key] = value
    return options
