"""Whether a plugin can implement a hook, read from its source files without importing it.

Importing a plugin runs its module: for most plugins that means hikari, the database layer and their
tables, which costs more than a second. ``trainerbot --help`` only needs the plugins that add
subcommands, so the CLI imports a plugin only when its source mentions ``register_cli_commands``.
The test errs on the side of importing: anything it cannot read (a compiled module, a zip, a
plugin registered as an object, a star import that may bring the hook from elsewhere) counts as a
possible implementer, so a plugin is only ever skipped when none of its source files mentions
the hook's name at all.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

MAX_FILES = 200
"""Larger plugin packages are imported rather than read file by file."""


def _source_files(origin: str) -> list[Path] | None:
    """The ``.py`` files of a module name or file path; ``None`` when they cannot all be read."""
    if origin.endswith(".py"):
        return [Path(origin)]
    try:
        spec = importlib.util.find_spec(origin)  # imports parent packages only, never the module
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        files: list[Path] = []
        for location in spec.submodule_search_locations:
            files.extend(sorted(Path(location).rglob("*.py")))
            if len(files) > MAX_FILES:
                return None
        return files
    if spec.origin and spec.origin.endswith(".py"):
        return [Path(spec.origin)]
    return None


def may_implement(origin: str | None, hook: str) -> bool:
    """False only when every source file of the plugin at ``origin`` can be read and none names ``hook``."""
    if origin is None:
        return True
    files = _source_files(origin)
    if files is None:
        return True
    for path in files:
        try:
            text = path.read_text("utf-8", errors="replace")
        except OSError:
            return True
        if hook in text or "import *" in text:
            return True
    return False
