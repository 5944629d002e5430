"""What plugins register, kept by the host: the commands by name, and a batch of contributions
(commands, listeners, engines, migrations) collected from the registration hooks before the host
checks and applies it (``App._refuse``, ``App._apply``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from framework.commands import Command, Group

if TYPE_CHECKING:  # pragma: no cover
    from framework.storage import Migration

Listener = Callable[[Any, Any], Awaitable[None]]
"""A plugin's gateway event listener: ``async callback(event, app)``."""


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
