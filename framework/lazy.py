"""Engines import their libraries on first use, not at start-up.

A bot that never joins a voice channel, trains a model or calls OpenAI should not pay for numpy,
openai, cryptography, davey, vosk or pyttsx3 in start-up time and memory (together about half
the bot's modules). So a plugin imports such a library where its engine first needs it, through
:func:`load_engine` (on the event loop: the import runs in the host's thread pool, since importing
openai alone takes most of a second) or :func:`import_engine` (code already off the loop).
The first import of each library is logged once: "loading openai provider engine…".
"""

from __future__ import annotations

import importlib
import logging
import threading
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

_loaded: dict[str, ModuleType] = {}
"""Modules whose import through this module has finished (so they are whole, not half-imported)."""
_lock = threading.Lock()


def import_engine(module: str, engine: str) -> ModuleType:
    """Import ``module`` for ``engine``, logging the first time. Blocking: call it off the event loop."""
    loaded = _loaded.get(module)
    if loaded is not None:
        return loaded
    with _lock:  # one thread imports and logs; the others wait for the whole module
        if module not in _loaded:
            log.info("loading %s engine (%s)…", engine, module)
            _loaded[module] = importlib.import_module(module)
        return _loaded[module]


async def load_engine(app: Any, module: str, engine: str) -> ModuleType:
    """``module``, imported in ``app``'s thread pool the first time, so the event loop never waits on it."""
    loaded = _loaded.get(module)
    if loaded is not None:
        return loaded
    result: ModuleType = await app.run_blocking(import_engine, module, engine)
    return result


def release_free_memory() -> bool:
    """Give the C heap's free pages back to the operating system (glibc's ``malloc_trim(0)``);
    returns whether that was possible here. Blocking (a few milliseconds): call it off the event loop.

    Start-up (imports, migrations, the command sync) frees much of what it allocates, but glibc
    keeps freed memory in its arenas, where it counts as the process's resident memory until
    reused. The host calls this once start-up is over. Elsewhere (macOS, Windows, musl) it does nothing.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter itself is linked with
    except (OSError, AttributeError):  # no glibc
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True
