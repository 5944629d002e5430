"""How plugins declare commands: typed options, commands, groups, message commands, form fields.

Declarations are plain data. What the framework itself needs is checked when they are made (an
option's name becomes the callback's keyword argument); Discord's own rules (names, lengths,
counts, option order, the 4,000-character total) are checked when a plugin registers them, by
:mod:`framework.commands.discord_rules`, which refuses the plugin with every broken rule named
instead of letting Discord refuse the bot's whole registration. The host turns each declaration
into both surfaces (:mod:`framework.slash`, :mod:`framework.prefix`).
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import keyword
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import hikari

if TYPE_CHECKING:  # pragma: no cover
    from framework.app import App
    from framework.commands.context import Context


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()
"""Marks an option with no default (required) and an option the user did not give."""


class OptionType(enum.Enum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    USER = "user"
    CHANNEL = "channel"
    ROLE = "role"
    ATTACHMENT = "attachment"


Validator = Callable[[Any], Any]
Autocomplete = Callable[["App", str], Awaitable[Sequence[str]]]
"""``autocomplete(app, partial_text) -> suggestions`` (slash surface only; up to 25 are shown)."""
Check = Callable[["Context"], Awaitable[None] | None]


@dataclasses.dataclass(frozen=True)
class Option:
    """One typed option. ``default=MISSING`` makes it required."""

    name: str
    description: str
    type: OptionType = OptionType.STRING
    default: Any = MISSING
    choices: Sequence[str | int | float] | None = None
    min_value: int | float | None = None
    max_value: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    validate: Validator | None = None
    """Extra converter run on both surfaces after the type conversion; raise BadArgument."""
    autocomplete: Autocomplete | None = None
    from_reply: bool = False
    """Prefix surface: when the invoking message replies to another message, this option takes
    the replied-to message's id (``!correct better answer`` sent as a reply)."""
    named_only: bool = False
    """Prefix surface: given only as ``name=value``, never by position, so free text that fills
    the other options needs no quotes (``!feedback rating=4 loved it``)."""
    rest_of_line: bool = False
    """Prefix surface: this string option takes the rest of the line (unless quoted) even though
    positional options follow it (``!train great movie`` before ``positive``). The last positional
    option, when it is a string, does so anyway; a string followed by other positional options
    (``!files uploads 2``: a path, then a page) takes one word unless this is set."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier() or keyword.iskeyword(self.name):
            raise ValueError(f"option name {self.name!r} must be a Python identifier: the callback receives it "
                             "as a keyword argument")

    @property
    def required(self) -> bool:
        return self.default is MISSING


def _option_factory(kind: OptionType) -> Callable[..., Option]:
    def make(name: str, description: str, **kwargs: Any) -> Option:
        return Option(name, description, kind, **kwargs)

    make.__name__ = kind.value
    make.__doc__ = f"Declare a {kind.value} option (see :class:`Option` for keyword arguments)."
    return make


string = _option_factory(OptionType.STRING)
integer = _option_factory(OptionType.INTEGER)
number = _option_factory(OptionType.NUMBER)
boolean = _option_factory(OptionType.BOOLEAN)
user = _option_factory(OptionType.USER)
channel = _option_factory(OptionType.CHANNEL)
role = _option_factory(OptionType.ROLE)
attachment = _option_factory(OptionType.ATTACHMENT)


@dataclasses.dataclass
class Command:
    """A command as plugins declare it; the host derives both surfaces from it."""

    name: str
    description: str
    callback: Callable[..., Awaitable[None]]
    options: list[Option] = dataclasses.field(default_factory=list)
    checks: list[Check] = dataclasses.field(default_factory=list)
    permission: str | None = None
    """Name of a permission group in plugins.toml ``[permissions.groups]``; owners always pass."""
    guild_only: bool = False
    aliases: tuple[str, ...] = ()
    """Extra prefix-command names."""
    plugin: str = ""
    """Filled by the host: the plugin that registered the command."""
    parent: Group | None = None
    ephemeral: bool = False
    """The answer is private: on the slash surface the deferral ("thinking…") and every answer,
    errors included, are ephemeral. Decided up front because Discord turns the first answer after
    a deferral into the deferred message, keeping the deferral's visibility whatever it asks for."""
    bot_permissions: hikari.Permissions = hikari.Permissions.NONE
    """What the bot itself needs in the channel (e.g. ATTACH_FILES to send a file): checked before
    the callback runs, so the user hears which permission is missing instead of a failed upload,
    and named by the start-up check in servers where the bot lacks it."""

    @property
    def qualified_name(self) -> str:
        return f"{self.parent.name} {self.name}" if self.parent else self.name


@dataclasses.dataclass
class Group:
    """A command with subcommands (``/dataset list``, ``!dataset list``)."""

    name: str
    description: str
    subcommands: dict[str, Command] = dataclasses.field(default_factory=dict)
    checks: list[Check] = dataclasses.field(default_factory=list)
    permission: str | None = None
    guild_only: bool = False
    plugin: str = ""

    def add(self, cmd: Command) -> Command:
        if cmd.name in self.subcommands:
            raise ValueError(f"{self.name} already has a subcommand {cmd.name!r}")
        cmd.parent = self
        self.subcommands[cmd.name] = cmd
        return cmd

    def command(self, name: str, description: str,
                **kwargs: Any) -> Callable[[Callable[..., Awaitable[None]]], Command]:
        """Decorator: declare a subcommand (same arguments as :func:`command`)."""

        def deco(fn: Callable[..., Awaitable[None]]) -> Command:
            return self.add(command(name, description, **kwargs)(fn))

        return deco

    @property
    def qualified_name(self) -> str:
        return self.name


def command(
    name: str,
    description: str,
    *,
    options: Sequence[Option] = (),
    checks: Sequence[Check] = (),
    permission: str | None = None,
    guild_only: bool = False,
    aliases: Sequence[str] = (),
    ephemeral: bool = False,
    bot_permissions: hikari.Permissions = hikari.Permissions.NONE,
) -> Callable[[Callable[..., Awaitable[None]]], Command]:
    """Decorator turning ``async def fn(ctx, **options)`` into a :class:`Command`; ``ephemeral=True``
    makes every answer private (see :attr:`Command.ephemeral`)."""

    def deco(fn: Callable[..., Awaitable[None]]) -> Command:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"command {name!r}: the callback must be an async function")
        return Command(name, description, fn, list(options), list(checks), permission, guild_only, tuple(aliases),
                       ephemeral=ephemeral, bot_permissions=bot_permissions)

    return deco


def group(name: str, description: str, *, permission: str | None = None, guild_only: bool = False) -> Group:
    """Declare a command group; add subcommands with ``@grp.command(...)``."""
    return Group(name, description, permission=permission, guild_only=guild_only)


@dataclasses.dataclass
class MessageCommand(Command):
    """A message context-menu command (right-click a message → Apps → name), registered like any
    command. The callback is ``async def fn(ctx, message)``; it takes no options and exists on the
    interaction surface only (prefix users reply to the message instead). ``ctx.ask`` can show a
    form. The name is what Discord shows: 1-32 characters, any case, spaces allowed."""

    def __post_init__(self) -> None:
        if self.options:
            raise ValueError(f"message command {self.name!r} cannot have options: its callback takes the message")


def message_command(name: str, description: str, *, checks: Sequence[Check] = (), permission: str | None = None,
                    guild_only: bool = False, ephemeral: bool = False,
                    ) -> Callable[[Callable[..., Awaitable[None]]], MessageCommand]:
    """Decorator turning ``async def fn(ctx, message)`` into a :class:`MessageCommand`;
    ``description`` is shown by ``help``."""

    def deco(fn: Callable[..., Awaitable[None]]) -> MessageCommand:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"message command {name!r}: the callback must be an async function")
        return MessageCommand(name, description, fn, [], list(checks), permission, guild_only, ephemeral=ephemeral)

    return deco


@dataclasses.dataclass(frozen=True)
class TextField:
    """One text input of a form shown with :meth:`Context.ask`; ``name`` keys the answer."""

    name: str
    label: str
    paragraph: bool = False
    required: bool = True
    min_length: int = 0
    max_length: int = 4000
    placeholder: str | None = None
    value: str | None = None
    """Pre-filled text."""


def usage(cmd: Command | Group, prefix: str = "!", *, slash: bool = False) -> str:
    """A usage line: ``!train [data] [positive=true]`` on the prefix surface, or with ``slash=True``
    as a slash command is typed: ``/train [data:…] [positive:true]``."""
    if isinstance(cmd, Group):
        return f"{'/' if slash else prefix}{cmd.name} <{'|'.join(cmd.subcommands)}>"
    if slash:
        return " ".join([f"/{cmd.qualified_name}", *(_slash_part(opt) for opt in cmd.options)])
    parts = [f"{prefix}{cmd.qualified_name}"]
    for opt in cmd.options:
        shown = f"<{opt.name}: attach a file>" if opt.type is OptionType.ATTACHMENT else opt.name
        if opt.named_only and not opt.required:
            parts.append(f"[{opt.name}=…]")
            continue
        if opt.required:
            parts.append(shown if shown.startswith("<") else f"<{shown}>")
        else:
            shown_default = str(opt.default).lower() if isinstance(opt.default, bool) else opt.default
            default = "" if opt.default in (None, MISSING) else f"={shown_default}"
            parts.append(f"[{shown}{default}]")
    return " ".join(parts)


def _slash_part(opt: Option) -> str:
    if opt.type is OptionType.ATTACHMENT:
        value = "(a file)"
    elif opt.default in (None, MISSING):
        value = "…"
    else:
        value = str(opt.default).lower() if isinstance(opt.default, bool) else str(opt.default)
    return f"{opt.name}:{value}" if opt.required else f"[{opt.name}:{value}]"
