"""What plugins register, kept by the host: the commands by name, and a batch of contributions
(commands, listeners, engines, migrations) collected from the registration hooks before the host
checks and applies it (``App._refuse``, ``App._apply``); and which plugins' commands may join the
others: a name already taken, or anything Discord would refuse (:mod:`framework.commands.discord_rules`),
refuses the plugin that brought it, and only that plugin.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import hikari

from framework.commands import Command, Group, discord_rules

if TYPE_CHECKING:  # pragma: no cover
    from framework.plugins import PluginHost
    from framework.storage import Migration

Listener = Callable[[Any, Any], Awaitable[None]]
"""A plugin's gateway event listener: ``async callback(event, app)``."""


class SkipsBots:
    """A ``MessageCreateEvent`` listener registered with ``bots=False``: a message written by a bot
    (the bot's own replies among them) never reaches it. When no listener wants such messages, the
    prefix router drops them before hikari builds their event (:meth:`PrefixRouter.follow`)."""

    __slots__ = ("callback",)

    def __init__(self, callback: Listener) -> None:
        self.callback = callback

    async def __call__(self, event: Any, app: Any) -> None:
        if not event.message.author.is_bot:
            await self.callback(event, app)


def listener(event_type: type, callback: Listener, bots: bool) -> Listener:
    """``callback`` as registered: with ``bots=False`` (only for ``MessageCreateEvent``) it skips bots' messages."""
    if bots:
        return callback
    if event_type is not hikari.MessageCreateEvent:
        raise TypeError(f"bots=False applies to hikari.MessageCreateEvent listeners only, not {event_type.__name__}")
    return SkipsBots(callback)


@dataclasses.dataclass
class Contributions:
    """What plugins registered through the registration hooks, before it is applied."""

    commands: list[tuple[str, Command | Group]] = dataclasses.field(default_factory=list)
    listeners: list[tuple[str, type, Listener]] = dataclasses.field(default_factory=list)
    engines: list[tuple[str, str, str, Any]] = dataclasses.field(default_factory=list)
    migrations: list[Migration] = dataclasses.field(default_factory=list)


class CommandRegistry:
    """Every command and group the plugins registered, by name."""

    def __init__(self) -> None:
        self.targets: dict[str, Command | Group] = {}
        self.aliases: dict[str, str] = {}

    @staticmethod
    def clash(target: Any, taken: dict[str, str]) -> str | None:
        """Why ``target`` cannot be registered beside the commands in ``taken`` (name → plugin), or None."""
        if not isinstance(target, (Command, Group)):
            return f"register() takes a Command or Group, not {type(target).__name__}"
        if target.name in taken:
            return f"command {target.name!r} is already registered by plugin {taken[target.name]!r}"
        return None

    def add(self, plugin: str, target: Command | Group) -> None:
        why = self.clash(target, {n: t.plugin for n, t in self.targets.items()})
        if why:
            raise ValueError(why)
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

    def refusals(self, found: Sequence[tuple[str, Any]],
                 order: Sequence[str] = ()) -> dict[str, discord_rules.CommandRefused]:
        """For each plugin in ``found`` (owner, command) whose commands cannot join: why not. Plugins
        are taken in ``order`` (the order they were loaded: built-ins first), so under Discord's count
        limits the ones loaded first keep their place; a plugin's commands already registered (it is
        being reloaded) make room for its new ones."""
        rank = {name: index for index, name in enumerate(order)}
        by_owner: dict[str, list[Any]] = {}
        for owner, target in sorted(found, key=lambda pair: rank.get(pair[0], len(rank))):
            by_owner.setdefault(owner, []).append(target)
        kept: list[Command | Group] = [t for t in self.targets.values() if t.plugin not in by_owner]
        taken = {t.name: t.plugin for t in kept}
        refused: dict[str, discord_rules.CommandRefused] = {}
        for owner, targets in by_owner.items():
            why = self._why_not(owner, targets, taken, kept)
            if why:
                refused[owner] = discord_rules.CommandRefused("; ".join(why))
            else:
                kept += targets
                taken.update({t.name: owner for t in targets})
        return refused

    def _why_not(self, owner: str, targets: Sequence[Any], taken: dict[str, str],
                 kept: Iterable[Command | Group]) -> list[str]:
        why: list[str] = []
        mine: dict[str, str] = {}
        for target in targets:
            clash = self.clash(target, {**taken, **mine})
            if clash:
                why.append(clash)
                continue
            mine[target.name] = owner
            why += discord_rules.reasons(target)
        if not why:
            over = discord_rules.over_limit(kept, targets)
            if over:
                why.append(over)
        return why



async def refuse_commands(host: PluginHost) -> None:
    """Call every enabled plugin's ``register_commands`` and fail the plugins whose commands the bot
    would refuse, as the bot does at start: what ``trainerbot plugins list`` shows without Discord."""
    found: list[tuple[str, Any]] = []

    def bound(plugin: str) -> dict[str, Any]:
        return {"register": lambda target: found.append((plugin, target))}

    await host.call("register_commands", scope=None, per_plugin=bound)
    for owner, error in CommandRegistry().refusals(found, order=list(host.infos)).items():
        host.fail(owner, error, "registering commands")


def swap_arguments(bound: Callable[[str, str], dict[str, Any]], kind: str, plugin: str) -> dict[str, Any]:
    """``bound(plugin, kind)``: a per-plugin argument maker for one kind of registration hook."""
    return bound(plugin, kind)
