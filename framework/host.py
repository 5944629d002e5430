"""What a plugin may use of the running bot: the ``app`` its hooks and commands receive.

``framework.app.App`` implements it; plugins annotate ``app: Host`` so a type checker holds them to
this surface, and anything they reach beyond it is an implementation detail that may change.

    @hookimpl
    async def startup(app: Host) -> None:
        async with app.storage.begin() as conn: ...
        seen = app.state("myplugin", dict)          # this plugin's own state, kept while it is loaded
        wav = await app.run_blocking(render, text)  # blocking work off the event loop
        app.singleton_task("myplugin:reminders", lambda: send_reminders(app))  # in one process of all
"""

from __future__ import annotations

import types
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

if TYPE_CHECKING:  # pragma: no cover
    import hikari

    from framework.config import Config
    from framework.dataroot import DataRoot
    from framework.engines import Engines
    from framework.permissions import Permissions
    from framework.plugins import PluginHost
    from framework.registry import CommandRegistry
    from framework.singletons import Singleton
    from framework.storage import Storage

T = TypeVar("T")


class Host(Protocol):
    config: Config
    """plugins.toml, validated: ``[bot]``, ``[engines]``, ``[permissions]`` and each plugin's table."""
    storage: Storage
    """The database (SQLite under the data root by default): ``connect()`` to read, ``begin()`` to write."""
    data_root: DataRoot
    """The one folder the bot reads and writes files in; ``resolve()`` confines user paths to it."""
    engines: Engines
    """Speech-to-text, text-to-speech, model providers and voice backends, by name."""
    plugins: PluginHost
    """The plugins, and ``plugins.call(hook, scope=...)``: how a plugin asks the others through a hook."""
    permissions: Permissions
    """Owners and the permission groups of plugins.toml (``require(ctx, group)``, ``holds``)."""
    bot: hikari.GatewayBot
    """hikari's bot: ``bot.rest`` for Discord's REST API, ``bot.cache`` for guilds, members, voice states."""
    commands: CommandRegistry
    """Every registered command by name (for help and listings; register through the hook)."""

    def settings(self, plugin: str) -> Any:
        """The validated ``[plugins.NAME]`` settings of a plugin (None if it declares no model)."""
        ...

    @overload
    def state(self, plugin: str) -> types.SimpleNamespace: ...
    @overload
    def state(self, plugin: str, factory: Callable[[], T]) -> T: ...
    def state(self, plugin: str, factory: Callable[[], Any] = ...) -> Any:
        """The plugin's own state object, made by ``factory`` on first use (a namespace by default)."""
        ...

    def drop_state(self, plugin: str) -> Any:
        """Forget the plugin's state object and return it (``None`` if it had none)."""
        ...

    async def set_guild_enabled(self, plugin: str, guild_id: int, enabled: bool) -> None:
        """Switch a plugin on or off in one server (persisted)."""
        ...

    async def set_enabled(self, plugin: str, enabled: bool) -> None:
        """Enable or disable a plugin everywhere, now and in plugins.toml."""
        ...

    async def reload_plugin(self, plugin: str) -> None:
        """Swap a plugin's code for what is on disk now; on failure the old code stays."""
        ...

    def singleton_task(self, name: str, coro_factory: Callable[[], Coroutine[Any, Any, Any]]) -> Singleton:
        """Run ``coro_factory()`` in exactly one of the processes that share the database, taking
        over within the lease's time (``[storage] lease_seconds``) when its process dies; returns
        this process's handle (``cancel()`` it in ``shutdown``). On SQLite this process runs it."""
        ...

    async def run_blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking work (disk, zip, CPU, engines) in the host's bounded thread pool."""
        ...
