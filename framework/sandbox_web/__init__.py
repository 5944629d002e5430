"""The web sandbox: the whole bot on the local Discord emulator, and a Discord-like page in the
browser to use it as several users (``trainerbot sandbox``; ``--terminal`` for the terminal chat).

It builds on :class:`framework.sandbox_session.SandboxSession` (the emulator, the voice server, the
bot, the persisted world) and reads typed lines with ``framework.sandbox_input``, as the terminal
chat does. ``server`` serves the page and its JSON API on 127.0.0.1, ``live`` pushes the emulator's
changes and the bot's voice over a WebSocket, ``views`` turns records into JSON, ``slash`` puts
dropped files into slash options and serves autocomplete. The page itself (``static/``) is plain
HTML, CSS and JavaScript: no build step.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import TextIO

from framework.config import Config
from framework.logs import setup_logging
from framework.sandbox_session import SandboxSession
from framework.sandbox_web.server import SandboxWeb

__all__ = ["SandboxWeb", "run_web_sandbox", "serve"]


async def serve(config: Config, *, port: int = 0, out: TextIO = sys.stdout,
                stop: asyncio.Event | None = None) -> int:
    """Start the bot on the emulator, serve the page, print its URL, run until ``stop`` is set."""
    async with SandboxSession(config) as session:
        web = SandboxWeb(session)
        await web.start(port)
        try:
            out.write(f"trainerbot sandbox: open {web.url} in your browser (Ctrl-C to stop)\n")
            out.flush()
            await (stop or asyncio.Event()).wait()
        finally:
            await web.stop()
    return 0


async def _until_signal(config: Config, port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows' event loop
            loop.add_signal_handler(sig, stop.set)
    code = await serve(config, port=port, stop=stop)
    sys.stdout.write("\ntrainerbot sandbox: stopped, the world is kept in the data folder\n")
    return code


def run_web_sandbox(config: Config, *, port: int = 0) -> int:
    """``trainerbot sandbox``: serve the page until Ctrl-C (or SIGTERM), then stop cleanly."""
    setup_logging("WARNING")
    try:
        return asyncio.run(_until_signal(config, port))
    except KeyboardInterrupt:  # Ctrl-C during start-up, before the handlers are in place
        sys.stdout.write("\ntrainerbot sandbox: stopped\n")
        return 130
