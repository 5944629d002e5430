"""The host: builds the hikari bot and lightbulb client, loads plugins, wires their commands,
listeners, engines and tables, and runs until SIGINT/SIGTERM.

    app = App(load_config(), token=os.environ["DISCORD_TOKEN"]); app.run()  # or start() ... close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import gc
import logging
import signal
import types
from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar, overload

import hikari
import lightbulb

from framework import intents
from framework import sql as sa
from framework.bot_permissions import GuildCheck, PermissionMemo, invite_permissions, invite_url
from framework.config import Config, write_plugin_enabled
from framework.dataroot import DataRoot
from framework.engines import EngineMismatch, Engines, check_engine
from framework.errors import UserError
from framework.lazy import release_free_memory
from framework.leases import Leases, new_owner_id
from framework.logs import redact
from framework.permissions import Permissions
from framework.plugin_discovery import rediscover
from framework.plugins import PluginHost, PluginInfo, check_compatibility
from framework.prefix import PrefixRouter
from framework.registry import CommandRegistry, Contributions, Listener, listener, swap_arguments
from framework.runtime import cache_settings, http_settings
from framework.runtime import run as run_on_loop
from framework.singletons import CoroFactory, Singleton, Singletons
from framework.slash import build_slash, install_error_handler
from framework.state_sync import StateSync, apply_change, publish
from framework.storage import Migration, Storage, configured_url, plugin_guild_state, upsert

log = logging.getLogger(__name__)

INTENTS = (hikari.Intents.GUILDS | hikari.Intents.GUILD_MESSAGES | hikari.Intents.DM_MESSAGES
           | hikari.Intents.MESSAGE_CONTENT | hikari.Intents.GUILD_VOICE_STATES
           | hikari.Intents.GUILD_MESSAGE_REACTIONS | hikari.Intents.DM_MESSAGE_REACTIONS)
"""What the built-in plugins need: guilds, messages and their content, voice states, reactions."""

T = TypeVar("T")


class App:
    """One running trainerbot: the bot, its plugins and their services."""

    def __init__(self, config: Config, *, token: str, rest_url: str | None = None,
                 extra_plugins: dict[str, Any] | None = None, logs: str | None = None) -> None:
        self.config = config
        self.token = token
        self.data_root = DataRoot(config.bot.data_root)
        url, schema = configured_url(config, self.data_root.root)
        self.storage = Storage(url, schema=schema)
        self.plugins = PluginHost(config)
        self.engines = Engines()
        self.commands = CommandRegistry()
        self.permissions = Permissions(config.permissions)
        self.listeners: dict[type, list[tuple[str, Listener]]] = defaultdict(list)
        self.executor = concurrent.futures.ThreadPoolExecutor(
            config.bot.blocking_workers, thread_name_prefix="trainerbot-blocking")
        self._extra_plugins = extra_plugins
        bot_kwargs: dict[str, Any] = {"intents": INTENTS, "logs": logs, "banner": None,
                                     "suppress_optimization_warning": True, "http_settings": http_settings(config.bot),
                                     "cache_settings": cache_settings(config.bot)}
        if rest_url:
            bot_kwargs["rest_url"] = rest_url
        self.bot = hikari.GatewayBot(token, **bot_kwargs)
        self.client = lightbulb.client_from_app(self.bot, default_enabled_guilds=config.bot.guilds)
        install_error_handler(self.client)
        self.prefix = PrefixRouter(self)
        self.plugins.on_failure.append(self._drop_plugin)
        self._subscribed: set[type] = set()
        self._slash: dict[str, list[Any]] = {}
        self._stopped = asyncio.Event()
        self._states: dict[str, Any] = {}
        self._guild_check = GuildCheck(self)
        self.permission_memo = PermissionMemo(self.bot)
        self.instance = new_owner_id()
        """This process among all that share the database (lease owner, origin of state changes)."""
        shared = self.storage.backend != "sqlite"  # SQLite: one process owns everything
        self.singletons = Singletons(Leases(self.storage, self.instance, config.storage.lease_seconds)
                                     if shared else None)
        self.sync = StateSync(self.storage, self.instance, config.storage.sync_interval,
                              functools.partial(apply_change, self))  # changes made by other processes

    # ------------------------------------------------------------------ services for plugins
    def settings(self, plugin: str) -> Any:
        """The validated ``[plugins.NAME]`` settings of a plugin (None if it declares no model)."""
        return self.plugins.settings(plugin)

    @overload
    def state(self, plugin: str) -> types.SimpleNamespace: ...
    @overload
    def state(self, plugin: str, factory: Callable[[], T]) -> T: ...

    def state(self, plugin: str, factory: Callable[[], Any] = types.SimpleNamespace) -> Any:
        """The plugin's own state object, made by ``factory`` on first use; kept until the plugin is
        dropped (disabled, failed, reloaded) or the app closes. Replaces module globals keyed by app."""
        if plugin not in self._states:
            self._states[plugin] = factory()
        return self._states[plugin]

    def drop_state(self, plugin: str) -> Any:
        """Forget the plugin's state object and return it (``None`` if it had none), e.g. to close it."""
        return self._states.pop(plugin, None)

    def singleton_task(self, name: str, coro_factory: CoroFactory) -> Singleton:
        """Run ``coro_factory()`` in one process of all (see :mod:`framework.singletons`)."""
        return self.singletons.start(name, coro_factory)

    async def run_blocking(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run blocking work (disk, zip, CPU) in the host's thread pool, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    # ------------------------------------------------------------------ lifecycle
    async def start(self, *, shards: Sequence[int] | None = None, shard_count: int | None = None) -> None:
        """Load plugins, migrate storage, register commands, connect. Returns once connected.

        ``shards``/``shard_count``: run these of the bot's shards (hikari's ``shard_ids``/``shard_count``);
        by default all of them, as many as Discord recommends (``GET /gateway/bot``)."""
        self.plugins.load_all(self._extra_plugins)
        contributions = await self._contributions()
        await self.storage.migrate(contributions.migrations)
        await self.sync.mark_existing()  # before the state is loaded: a change made meanwhile is read again
        await self._load_guild_state()
        self._apply(contributions)
        self.engines.select(self.config)
        self.bot.subscribe(hikari.StartingEvent, self.client.start)
        self.bot.subscribe(hikari.StoppingEvent, self.client.stop)
        self.bot.subscribe(hikari.ShardReadyEvent, self._on_ready)
        for event_type in (hikari.GuildAvailableEvent, hikari.GuildJoinEvent):
            self.bot.subscribe(event_type, self._guild_check.on_guild)
        await intents.start(self.bot, shard_ids=shards, shard_count=shard_count)  # 4014 explained
        await self.permissions.load_owners(self.bot.rest)
        await self.plugins.call("startup", scope=None, app=self)
        self.sync.start()
        self.singleton_task("trainerbot:prune-state-changes", self.sync.prune)
        await self.run_blocking(release_free_memory)  # start-up's freed memory back to the OS

    async def collect_migrations(self) -> list[Migration]:
        """The migration steps of the plugins (loaded if not yet): for tools that prepare a database
        without starting the bot (``trainerbot storage migrate``)."""
        if not self.plugins.infos:
            self.plugins.load_all(self._extra_plugins)
        return (await self._contributions()).migrations

    async def _contributions(self, only: set[str] | None = None, strict: bool = False,
                             rename: dict[str, str] | None = None) -> Contributions:
        """Call the registration hooks (of ``only`` those plugins) and collect what they register."""
        found = Contributions()
        rename = rename or {}

        def bound(plugin: str, kind: str) -> dict[str, Any]:
            owner = rename.get(plugin, plugin)
            if kind == "command":
                return {"register": lambda target: found.commands.append((owner, target))}
            if kind == "listener":
                return {"register": lambda event_type, cb, *, bots=True: found.listeners.append(
                    (owner, event_type, listener(event_type, cb, bots)))}
            if kind == "migration":
                return {"register": lambda step: found.migrations.append(
                    Migration(step.version, step.name, step.up, owner))}
            return {"register": lambda name, engine: found.engines.append((kind, owner, name, engine))}

        await self.plugins.call("register_commands", scope=None, only=only, strict=strict,
                                per_plugin=lambda p: bound(p, "command"))
        await self.plugins.call("register_listeners", scope=None, only=only, strict=strict,
                                per_plugin=lambda p: bound(p, "listener"))
        await self.plugins.call("register_migrations", scope=None, only=only, strict=strict,
                                per_plugin=lambda p: bound(p, "migration"))
        for hook_name in self.engines.by_hook():
            await self.plugins.call(hook_name, scope=None, only=only, strict=strict, app=self,
                                    per_plugin=functools.partial(swap_arguments, bound, hook_name))
        # Refuse bad registrations before anything is applied, so a bad plugin cannot half-register.
        self._refuse(found, strict)
        return found

    def _refuse(self, found: Contributions, strict: bool) -> None:
        """Drop from ``found`` every contribution of a plugin that registered something the host
        refuses (a command name already taken, a command Discord would refuse — its rules and its
        count limits, checked here because one bad command fails Discord's whole bulk registration —
        or an engine that breaks its protocol), failing that plugin with the reason; ``strict``
        raises instead (staging a reload)."""
        registries = self.engines.by_hook()

        def refuse(owner: str, error: Exception, during: str) -> None:
            if strict:
                raise error
            self.plugins.fail(owner, error, during)

        for owner, error in self.commands.refusals(found.commands, order=list(self.plugins.infos)).items():
            refuse(owner, error, "registering commands")
        for hook_name, owner, _name, engine in found.engines:
            try:
                check_engine(registries[hook_name].kind, engine)
            except EngineMismatch as exc:
                refuse(owner, exc, "registering engines")
        failed = {i.name for i in self.plugins.infos.values() if i.status == "failed"}
        found.commands = [(o, t) for o, t in found.commands if o not in failed]
        found.listeners = [x for x in found.listeners if x[0] not in failed]
        found.engines = [x for x in found.engines if x[1] not in failed]
        found.migrations = [m for m in found.migrations if m.plugin not in failed]

    def _apply(self, found: Contributions) -> None:
        for owner, target in found.commands:
            self.commands.add(owner, target)
            slash = build_slash(self, target)
            self._slash.setdefault(owner, []).append(slash)
            self.client.register(slash)
        for owner, event_type, callback in found.listeners:
            self.listeners[event_type].append((owner, callback))
            if event_type not in self._subscribed and event_type is not hikari.MessageCreateEvent:  # prefix routes it
                self._subscribed.add(event_type)
                self.bot.subscribe(event_type, self._router_for(event_type))
        self.prefix.follow()
        registries = self.engines.by_hook()
        for hook_name, owner, name, engine in found.engines:
            registries[hook_name].register(owner, name, engine)

    def _drop_plugin(self, plugin: str) -> None:
        """Forget everything a plugin registered (it failed, was disabled, or is being reloaded)."""
        self.drop_state(plugin)
        self.commands.drop_plugin(plugin)
        self.engines.drop_plugin(plugin)
        for event_type, entries in self.listeners.items():
            self.listeners[event_type] = [(p, cb) for p, cb in entries if p != plugin]
        self.prefix.follow()
        for slash in self._slash.pop(plugin, []):
            self.client.unregister(slash)

    # ------------------------------------------------------------------ plugins at run time
    async def _load_guild_state(self) -> None:
        async with self.storage.connect() as conn:
            rows = (await conn.execute(sa.select(plugin_guild_state))).all()
        for row in rows:
            info = self.plugins.infos.get(row.plugin)
            if info is not None and not row.enabled:
                info.disabled_guilds.add(int(row.guild_id))

    async def set_guild_enabled(self, plugin: str, guild_id: int, enabled: bool) -> None:
        """Switch a plugin's commands and listeners on or off in one guild (persisted)."""
        info = await self._known(plugin)
        async with self.storage.begin() as conn:
            if enabled:
                await conn.execute(plugin_guild_state.delete().where(
                    (plugin_guild_state.c.plugin == plugin) & (plugin_guild_state.c.guild_id == int(guild_id))))
            else:
                await upsert(conn, plugin_guild_state, {"plugin": plugin, "guild_id": int(guild_id), "enabled": False},
                             ["plugin", "guild_id"])
            await publish(conn, self.instance, "guild", plugin=plugin, guild_id=int(guild_id), enabled=enabled)
        (info.disabled_guilds.discard if enabled else info.disabled_guilds.add)(int(guild_id))

    async def set_enabled(self, plugin: str, enabled: bool) -> None:
        """Enable or disable a plugin everywhere, now and in plugins.toml, in every process."""
        await self._set_enabled(plugin, enabled)
        async with self.storage.begin() as conn:
            await publish(conn, self.instance, "enabled", plugin=plugin, enabled=enabled)

    async def _set_enabled(self, plugin: str, enabled: bool, *, sync_commands: bool = True) -> None:
        info = await self._known(plugin)
        if enabled and info.status != "enabled":
            if info.loader is None:
                raise UserError(f"Plugin `{plugin}` cannot be loaded here.")
            self.plugins.activate(info)
            if info.status != "enabled":
                raise UserError(f"Plugin `{plugin}` failed to load: {redact(info.error or '')}")
            found = await self._contributions(only={plugin})
            await self.storage.migrate(found.migrations)
            self._apply(found)
            await self.plugins.call("startup", scope=None, only={plugin}, app=self)
        elif not enabled and info.status == "enabled":
            await self.plugins.call("shutdown", scope=None, only={plugin}, app=self)
            self._drop_plugin(plugin)
            self.plugins.deactivate(plugin, "disabled from Discord")
        if self.config.plugin_enabled(plugin) != enabled:
            write_plugin_enabled(self.config, plugin, enabled)
        if sync_commands:  # Discord's commands are the application's: the process where it was asked syncs them
            await self.client.sync_application_commands()

    async def reload_plugin(self, plugin: str) -> None:
        """Swap a plugin's code for what is on disk now, in every process; on any failure the old code
        stays active."""
        await self._reload_plugin(plugin)
        async with self.storage.begin() as conn:
            await publish(conn, self.instance, "reload", plugin=plugin)

    async def _reload_plugin(self, plugin: str, *, sync_commands: bool = True) -> None:
        info = await self._known(plugin)
        if info.status != "enabled":
            raise UserError(f"Plugin `{plugin}` is not enabled; enable it instead of reloading.")
        staging = f"{plugin}.reloading"
        try:
            obj, undo = self.plugins.fresh_import(info)
        except Exception as exc:
            log.exception("reloading plugin %s failed while importing", plugin)
            raise UserError(f"Reload of `{plugin}` failed, the old version stays active: "
                            f"{type(exc).__name__}: {redact(str(exc))}") from None
        try:
            check_compatibility(plugin, obj)
            self.plugins.pm.register(obj, name=staging)
            settings = self.plugins._settings(plugin, obj, registered_as=staging)
            found = await self._contributions(only={staging}, strict=True, rename={staging: plugin})
        except Exception as exc:
            if self.plugins.pm.is_registered(obj):
                self.plugins.pm.unregister(obj)
            undo()
            log.exception("reloading plugin %s failed", plugin)
            raise UserError(f"Reload of `{plugin}` failed, the old version stays active: "
                            f"{type(exc).__name__}: {redact(str(exc))}") from None
        await self.plugins.call("shutdown", scope=None, only={plugin}, app=self)
        self._drop_plugin(plugin)
        self.plugins.pm.unregister(info.module)
        self.plugins.pm.unregister(obj)
        self.plugins.pm.register(obj, name=plugin)
        info.module, info.settings, info.hooks = obj, settings, self.plugins.hook_names(obj)
        await self.storage.migrate(found.migrations)
        self._apply(found)
        await self.plugins.call("startup", scope=None, only={plugin}, app=self)
        if sync_commands:
            await self.client.sync_application_commands()
        log.info("plugin %s reloaded", plugin)

    async def _known(self, plugin: str) -> PluginInfo:
        info = self.plugins.infos.get(plugin) or await rediscover(self, plugin)  # installed since start-up?
        if info is None:
            raise UserError(f"No plugin named `{plugin}`. `plugins list` shows them.")
        return info

    def _router_for(self, event_type: type) -> Callable[[Any], Coroutine[Any, Any, None]]:
        async def route(event: Any) -> None:
            await self.route_event(event_type, event)

        return route

    async def route_event(self, event_type: type, event: Any) -> None:
        """Hand ``event`` to the plugins' listeners of ``event_type``, in order, skipping plugins disabled
        in its guild; a listener's error is logged, not raised."""
        guild_id = getattr(event, "guild_id", None)
        for plugin, callback in list(self.listeners.get(event_type, ())):
            if not self.plugins.enabled_in(plugin, guild_id):
                continue
            try:
                await callback(event, self)
            except Exception:
                log.exception("listener of plugin %s for %s failed", plugin, event_type.__name__)

    async def _on_ready(self, event: hikari.ShardReadyEvent) -> None:
        log.info("connected as %s (%s), shard %d of %d; invite URL with the permissions the commands need: %s",
                 event.my_user.username, event.my_user.id, event.shard.id, event.shard.shard_count,
                 invite_url(event.my_user.id, invite_permissions(self)))

    async def close(self) -> None:
        """Run shutdown hooks, disconnect, close storage and the thread pool."""
        await self.plugins.call("shutdown", scope=None, app=self)
        await self.sync.close()
        await self.singletons.close()
        try:
            await self.bot.close()
        finally:
            await self.storage.close()
            self.executor.shutdown(wait=False, cancel_futures=True)
            self._stopped.set()

    @property
    def closed(self) -> bool:
        return self._stopped.is_set()

    def run(self, *, shards: Sequence[int] | None = None, shard_count: int | None = None) -> None:
        """Run until SIGINT/SIGTERM, then shut down cleanly."""
        run_on_loop(self._run_forever(shards, shard_count), self.config.bot.event_loop)

    async def _run_forever(self, shards: Sequence[int] | None, shard_count: int | None) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start(shards=shards, shard_count=shard_count)
        gc.collect()
        gc.freeze()  # what start-up made lives on: later collections need not scan it (less CPU per message)
        try:
            await stop.wait()
            log.info("signal received, shutting down")
        finally:
            await self.close()
