"""The host: builds the hikari bot and lightbulb client, loads plugins, wires their commands,
listeners, engines and tables, and runs until SIGINT/SIGTERM.

    app = App(load_config(), token=os.environ["DISCORD_TOKEN"])
    app.run()            # or: await app.start(); ...; await app.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import signal
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import hikari
import lightbulb

from framework.commands import Command, Group
from framework.config import Config
from framework.dataroot import DataRoot
from framework.engines import Engines
from framework.permissions import Permissions
from framework.plugins import PluginHost
from framework.prefix import PrefixRouter
from framework.slash import build_slash
from framework.storage import Migration, Storage, default_url

log = logging.getLogger(__name__)

INTENTS = (
    hikari.Intents.GUILDS
    | hikari.Intents.GUILD_MESSAGES
    | hikari.Intents.DM_MESSAGES
    | hikari.Intents.MESSAGE_CONTENT
    | hikari.Intents.GUILD_VOICE_STATES
    | hikari.Intents.GUILD_MESSAGE_REACTIONS
    | hikari.Intents.DM_MESSAGE_REACTIONS
)
"""What the built-in plugins need: guilds, messages and their content, voice states, reactions."""

Listener = Callable[[Any, "App"], Awaitable[None]]


class CommandRegistry:
    """Every command and group the plugins registered, by name."""

    def __init__(self) -> None:
        self.targets: dict[str, Command | Group] = {}
        self.aliases: dict[str, str] = {}

    def add(self, plugin: str, target: Command | Group) -> None:
        if not isinstance(target, (Command, Group)):
            raise TypeError(f"register() takes a Command or Group, not {type(target).__name__}")
        if target.name in self.targets:
            other = self.targets[target.name].plugin
            raise ValueError(f"command {target.name!r} is already registered by plugin {other!r}")
        target.plugin = plugin
        if isinstance(target, Group):
            for sub in target.subcommands.values():
                sub.plugin = plugin
        else:
            for alias in target.aliases:
                self.aliases[alias] = target.name
        self.targets[target.name] = target

    def drop_plugin(self, plugin: str) -> list[Command | Group]:
        dropped = [t for t in self.targets.values() if t.plugin == plugin]
        for target in dropped:
            del self.targets[target.name]
        self.aliases = {a: n for a, n in self.aliases.items() if n in self.targets}
        return dropped

    def lookup_prefix(self, name: str) -> Command | Group | None:
        return self.targets.get(name) or self.targets.get(self.aliases.get(name, ""))

    def prefix_names(self) -> list[str]:
        return [*self.targets, *self.aliases]

    def all(self) -> list[Command | Group]:
        return sorted(self.targets.values(), key=lambda t: (t.plugin, t.name))


class App:
    """One running trainerbot: the bot, its plugins and their services."""

    def __init__(self, config: Config, *, token: str, rest_url: str | None = None,
                 extra_plugins: dict[str, Any] | None = None, logs: str | None = None) -> None:
        self.config = config
        self.token = token
        self.data_root = DataRoot(config.bot.data_root)
        self.storage = Storage(config.bot.database_url or default_url(self.data_root.root))
        self.plugins = PluginHost(config)
        self.engines = Engines()
        self.commands = CommandRegistry()
        self.permissions = Permissions(config.permissions)
        self.listeners: dict[type, list[tuple[str, Listener]]] = defaultdict(list)
        self.executor = concurrent.futures.ThreadPoolExecutor(
            config.bot.blocking_workers, thread_name_prefix="trainerbot-blocking")
        self._extra_plugins = extra_plugins
        bot_kwargs: dict[str, Any] = {"intents": INTENTS, "logs": logs, "banner": None}
        if rest_url:
            bot_kwargs["rest_url"] = rest_url
        self.bot = hikari.GatewayBot(token, **bot_kwargs)
        self.client = lightbulb.client_from_app(self.bot, default_enabled_guilds=config.bot.guilds)
        self.prefix = PrefixRouter(self)
        self.plugins.on_failure.append(self._drop_plugin)
        self._subscribed: set[type] = set()
        self._stopped = asyncio.Event()

    # ------------------------------------------------------------------ services for plugins
    def settings(self, plugin: str) -> Any:
        """The validated ``[plugins.NAME]`` settings of a plugin (None if it declares no model)."""
        return self.plugins.settings(plugin)

    async def run_blocking(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run blocking work (disk, zip, CPU) in the host's thread pool, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Load plugins, migrate storage, register commands, connect. Returns once connected."""
        self.plugins.load_all(self._extra_plugins)
        await self._collect()
        migrations: list[Migration] = []

        def register_migration(plugin: str, step: Migration) -> None:
            migrations.append(Migration(step.version, step.name, step.up, plugin))

        await self.plugins.call_each("register_migrations",
                                     per_plugin=lambda p: {"register": functools.partial(register_migration, p)})
        await self.storage.migrate(migrations)
        self.bot.subscribe(hikari.StartingEvent, self.client.start)
        self.bot.subscribe(hikari.StoppingEvent, self.client.stop)
        self.bot.subscribe(hikari.MessageCreateEvent, self.prefix.on_message)
        self.bot.subscribe(hikari.ShardReadyEvent, self._on_ready)
        await self.bot.start()
        await self.permissions.load_owners(self.bot.rest)
        await self.plugins.call_each("startup", app=self)

    async def _collect(self) -> None:
        def register_command(plugin: str, target: Command | Group) -> None:
            self.commands.add(plugin, target)

        def register_listener(plugin: str, event_type: type, callback: Listener) -> None:
            self.listeners[event_type].append((plugin, callback))
            if event_type not in self._subscribed:
                self._subscribed.add(event_type)
                self.bot.subscribe(event_type, functools.partial(self._route, event_type))

        await self.plugins.call_each("register_commands",
                                     per_plugin=lambda p: {"register": functools.partial(register_command, p)})
        await self.plugins.call_each("register_listeners",
                                     per_plugin=lambda p: {"register": functools.partial(register_listener, p)})
        for hook_name, registry in self.engines.by_hook().items():
            await self.plugins.call_each(hook_name, per_plugin=lambda p, r=registry: {
                "register": functools.partial(r.register, p)})
        self.engines.stt.selected = self.config.engines.stt
        self.engines.tts.selected = self.config.engines.tts
        self.engines.providers.selected = self.config.provider
        self.engines.voice.selected = self.config.engines.voice
        for target in self.commands.all():
            self.client.register(build_slash(self, target))

    def _drop_plugin(self, plugin: str) -> None:
        """Forget what a failed plugin registered (its slash commands answer 'disabled')."""
        self.commands.drop_plugin(plugin)
        self.engines.drop_plugin(plugin)
        for event_type, entries in self.listeners.items():
            self.listeners[event_type] = [(p, cb) for p, cb in entries if p != plugin]

    async def _route(self, event_type: type, event: Any) -> None:
        guild_id = getattr(event, "guild_id", None)
        for plugin, callback in list(self.listeners.get(event_type, ())):
            if not self.plugins.enabled_in(plugin, guild_id):
                continue
            try:
                await callback(event, self)
            except Exception:  # noqa: BLE001 - one listener's bug must not silence the others
                log.exception("listener of plugin %s for %s failed", plugin, event_type.__name__)

    async def _on_ready(self, event: hikari.ShardReadyEvent) -> None:
        log.info("connected as %s (%s)", event.my_user.username, event.my_user.id)

    async def close(self) -> None:
        """Run shutdown hooks, disconnect, close storage and the thread pool."""
        await self.plugins.call_each("shutdown", app=self)
        try:
            await self.bot.close()
        finally:
            await self.storage.close()
            self.executor.shutdown(wait=False, cancel_futures=True)
            self._stopped.set()

    def run(self) -> None:
        """Run until SIGINT/SIGTERM, then shut down cleanly."""
        asyncio.run(self._run_forever())

    async def _run_forever(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
            log.info("signal received, shutting down")
        finally:
            await self.close()
