"""How the host runs hikari: the event loop, the REST connection pool and hikari's cache.

Each choice is a default a bot on a Unix server wants, settable in ``[bot]``:

- **Event loop** (``event_loop``): uvloop where it is installed (it is a dependency on Linux and
  macOS), else asyncio's own. uvloop runs the same asyncio code with its loop, sockets and timers
  in C (libuv): hikari's docs recommend it, and in the peer benchmark it takes a quarter off the
  time from a user's message to the bot's reply.
- **REST connections** (``http_keepalive``, ``http_pool_size``): kept alive in a bounded pool.
  hikari closes each connection after one request by default (a workaround its docs give for
  Windows): a TCP connect per request, and a TLS handshake per request on Discord.
- **Message cache** (``message_cache``): off by default. hikari copies every message it receives
  into its cache; no built-in plugin reads it back (message events, replies and reactions carry
  what they need), so by default the host spends neither the time on each message nor the memory.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import hikari

from framework.config import BotSettings, ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")


def http_settings(bot: BotSettings) -> hikari.impl.HTTPSettings:
    """REST connections kept alive in a bounded pool (except on Windows, unless asked)."""
    keepalive = bot.http_keepalive if bot.http_keepalive is not None else sys.platform != "win32"
    return hikari.impl.HTTPSettings(force_close_transports=not keepalive, connection_limit=bot.http_pool_size)


def cache_settings(bot: BotSettings) -> hikari.impl.CacheSettings:
    """hikari's cache: everything but messages, unless ``[bot] message_cache`` asks for some."""
    components = hikari.api.CacheComponents.ALL
    if bot.message_cache == 0:
        components &= ~hikari.api.CacheComponents.MESSAGES
    return hikari.impl.CacheSettings(components=components, max_messages=max(bot.message_cache, 1))


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop ``[bot] event_loop`` asks for: ``uvloop``'s factory, or ``None`` for asyncio's
    own. ``auto`` takes uvloop where it can be imported; ``uvloop`` where it cannot is an error."""
    if choice == "asyncio":
        return None
    if importlib.util.find_spec("uvloop") is None or sys.platform == "win32":
        if choice == "uvloop":
            raise ConfigError("[bot] event_loop = \"uvloop\", but uvloop is not installed (it has no Windows "
                              "version): install it (pip install uvloop) or set event_loop = \"auto\".")
        return None
    import uvloop

    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T], choice: str) -> T:
    """``asyncio.run(main)`` on the event loop ``choice`` names (see :func:`loop_factory`)."""
    factory = loop_factory(choice)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_logged(main))


async def _logged(main: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.get_running_loop()
    name = type(loop).__module__.split(".")[0]
    version = getattr(sys.modules.get(name), "__version__", "")
    log.info("event loop: %s%s", name, f" {version}" if version else "")
    return await main
