"""One command model, two surfaces.

A plugin declares a command once — name, description, typed options, checks — and the host
exposes it as a lightbulb slash command and as a prefix command (``!name args…``). Both
surfaces feed the same converters (:func:`convert`), the same checks and the same error
messages; only the transport differs (slash errors are ephemeral, prefix errors reply).

    @command("hi", "Greet someone", options=[string("name", "Who to greet", default=None)])
    async def hi(ctx: Context, name: str | None) -> None:
        await ctx.respond(f"Hello, {name or ctx.author.username}!")
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import hikari

if TYPE_CHECKING:  # pragma: no cover
    from pydantic import BaseModel

    from framework.app import App

__all__ = [
    "MISSING", "UserError", "BadArgument", "CheckFailure", "OptionType", "Option", "Command",
    "Group", "Context", "Response", "File", "command", "group", "string", "integer", "number",
    "boolean", "user", "channel", "role", "attachment", "convert", "usage", "parse_message_id", "MessageCommand",
    "message_command", "TextField",
]

DISCORD_MESSAGE_LIMIT = 2000
MAX_INTEGER = 2**53
"""Discord's bound for integer options (either sign); larger numbers would overflow storage."""
log = logging.getLogger(__name__)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()
"""Marks an option with no default (required) and an option the user did not give."""


class UserError(Exception):
    """A problem the user can fix. Its message is shown to them as is (ephemeral on slash)."""


class BadArgument(UserError):
    """An option value that does not convert or validate."""


class CheckFailure(UserError):
    """The caller may not run this command here."""


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

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", self.name):
            raise ValueError(f"option name {self.name!r} must be lowercase letters, digits, _ (max 32)")
        if not 1 <= len(self.description) <= 100:
            raise ValueError(f"option {self.name!r}: description must be 1-100 characters")

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

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", self.name):
            raise ValueError(f"command name {self.name!r} must be lowercase (max 32)")
        if not 1 <= len(self.description) <= 100:
            raise ValueError(f"command {self.name!r}: description must be 1-100 characters")
        names = [o.name for o in self.options]
        if len(names) != len(set(names)):
            raise ValueError(f"command {self.name!r} has duplicate option names")
        seen_optional = False
        for opt in self.options:
            if not opt.required:
                seen_optional = True
            elif seen_optional:
                raise ValueError(f"command {self.name!r}: required option {opt.name!r} follows an optional one")

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

    def command(self, name: str, description: str, **kwargs: Any) -> Callable[[Callable[..., Awaitable[None]]], Command]:
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
) -> Callable[[Callable[..., Awaitable[None]]], Command]:
    """Decorator turning ``async def fn(ctx, **options)`` into a :class:`Command`."""

    def deco(fn: Callable[..., Awaitable[None]]) -> Command:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"command {name!r}: the callback must be an async function")
        return Command(name, description, fn, list(options), list(checks), permission, guild_only, tuple(aliases))

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
        if not 1 <= len(self.name) <= 32 or self.name != self.name.strip():
            raise ValueError(f"message command name {self.name!r} must be 1-32 characters")
        if not 1 <= len(self.description) <= 100:
            raise ValueError(f"message command {self.name!r}: description must be 1-100 characters")
        if self.options:
            raise ValueError(f"message command {self.name!r} cannot have options")


def message_command(name: str, description: str, *, checks: Sequence[Check] = (), permission: str | None = None,
                    guild_only: bool = False) -> Callable[[Callable[..., Awaitable[None]]], MessageCommand]:
    """Decorator turning ``async def fn(ctx, message)`` into a :class:`MessageCommand`;
    ``description`` is shown by ``help``."""

    def deco(fn: Callable[..., Awaitable[None]]) -> MessageCommand:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"message command {name!r}: the callback must be an async function")
        return MessageCommand(name, description, fn, [], list(checks), permission, guild_only)

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


# --------------------------------------------------------------------------- responses


@dataclasses.dataclass(frozen=True)
class File:
    """A file to send: ``File("report.png", data=b"...")`` or ``File("a.zip", path=Path(...))``."""

    filename: str
    data: bytes | None = None
    path: Any = None

    def to_resource(self) -> hikari.Resourceish:
        if self.data is not None:
            return hikari.Bytes(self.data, self.filename)
        return hikari.File(self.path, self.filename)


class Response:
    """A message the bot sent for a command; ``edit`` it to show progress."""

    def __init__(self, editor: Callable[..., Awaitable[None]], message_id: hikari.Snowflake | None) -> None:
        self._editor = editor
        self.message_id = message_id

    async def edit(self, content: str | None = None, *, attachments: Sequence[File] | None = None,
                   embeds: Sequence[hikari.Embed] | None = None) -> None:
        await self._editor(content=content, attachments=attachments, embeds=embeds)


def split_message(text: str, limit: int = DISCORD_MESSAGE_LIMIT) -> list[str]:
    """Split text at Discord's limit, preferring line then word boundaries."""
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n") if text[cut:cut + 1] == "\n" else text[cut:]
    if text or not chunks:
        chunks.append(text)
    return chunks


class Context:
    """What a command callback sees, the same on both surfaces."""

    surface: Literal["slash", "prefix"]

    def __init__(self, app: App, cmd: Command, *, author: hikari.User, member: hikari.Member | None,
                 guild_id: hikari.Snowflake | None, channel_id: hikari.Snowflake,
                 message: hikari.Message | None = None) -> None:
        self.app = app
        self.command = cmd
        self.author = author
        self.member = member
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.message = message
        """The invoking message (prefix surface) or None (slash)."""
        self.responded = False

    @property
    def settings(self) -> BaseModel:
        """This command's plugin settings from plugins.toml."""
        return self.app.settings(self.command.plugin)

    @property
    def prefix(self) -> str:
        return self.app.config.bot.prefix

    def mention_command(self, qualified_name: str) -> str:
        """How to type a command on this surface (``/name`` or ``!name``; ``Apps › name`` for a
        message command)."""
        if isinstance(self.app.commands.targets.get(qualified_name), MessageCommand):
            return f"Apps › {qualified_name}"
        return f"/{qualified_name}" if self.surface == "slash" else f"{self.prefix}{qualified_name}"

    async def respond(self, content: str | None = None, *, attachments: Sequence[File] = (),
                      embeds: Sequence[hikari.Embed] = (), ephemeral: bool = False) -> Response:
        """Send a reply. Text over Discord's limit is split; the last part carries files/embeds."""
        parts = split_message(content) if content else [None]
        response: Response | None = None
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            response = await self._send(part, attachments if last else (), embeds if last else (), ephemeral)
        self.responded = True
        assert response is not None
        return response

    async def error(self, message: str) -> None:
        """Answer a user-facing error (ephemeral on slash)."""
        await self.respond(message, ephemeral=True)

    async def defer(self, *, ephemeral: bool = False) -> None:
        """Tell Discord an answer is coming (slash) or show typing (prefix)."""

    async def ask(self, title: str, fields: Sequence[TextField], *, timeout: float = 600.0) -> dict[str, str] | None:
        """Show a form (a Discord modal) and wait for it: ``{field name: text}``, or ``None`` if the
        user closed it or did not answer within ``timeout`` seconds (then there is nothing more to
        say). Only as the first answer to an interaction; later ``respond`` calls answer the form."""
        raise UserError("This needs a form, which only slash and app commands can show.")

    async def _send(self, content: str | None, attachments: Sequence[File], embeds: Sequence[hikari.Embed],
                    ephemeral: bool) -> Response:
        raise NotImplementedError

    async def run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking work off the event loop."""
        return await self.app.run_blocking(fn, *args)


# --------------------------------------------------------------------------- conversion

_TRUE = {"true", "yes", "y", "on", "1", "positive", "pos"}
_FALSE = {"false", "no", "n", "off", "0", "negative", "neg"}
_MENTION = {
    OptionType.USER: re.compile(r"<@!?(\d+)>|(\d{15,21})"),
    OptionType.CHANNEL: re.compile(r"<#(\d+)>|(\d{15,21})"),
    OptionType.ROLE: re.compile(r"<@&(\d+)>|(\d{15,21})"),
}


async def _resolve_entity(ctx: Context, opt: Option, raw: str) -> Any:
    m = _MENTION[opt.type].fullmatch(raw.strip())
    if not m:
        raise BadArgument(f"Option `{opt.name}` must be a {opt.type.value} mention or id, got `{raw}`.")
    snowflake = hikari.Snowflake(m.group(1) or m.group(2))
    bot = ctx.app.bot
    try:
        if opt.type is OptionType.USER:
            return bot.cache.get_user(snowflake) or await bot.rest.fetch_user(snowflake)
        if opt.type is OptionType.CHANNEL:
            return bot.cache.get_guild_channel(snowflake) or await bot.rest.fetch_channel(snowflake)
        if ctx.guild_id is None:
            raise BadArgument(f"Option `{opt.name}`: roles exist only in a server.")
        found = bot.cache.get_role(snowflake)
        if found is None:
            found = next((r for r in await bot.rest.fetch_roles(ctx.guild_id) if r.id == snowflake), None)
        if found is None:
            raise hikari.NotFoundError("", hikari.Headers(), b"")  # same message as below
        return found
    except hikari.NotFoundError:
        raise BadArgument(f"Option `{opt.name}`: no {opt.type.value} with id {snowflake}.") from None


async def convert(ctx: Context, opt: Option, raw: Any) -> Any:
    """Turn one raw option value (a string from a prefix command, or the typed value a slash
    interaction carries) into the declared type, then apply bounds, choices and the validator.
    Every message here is what the user sees, identical on both surfaces."""
    if raw is MISSING or raw is None:
        if opt.required:
            if opt.type is OptionType.ATTACHMENT:
                raise BadArgument(f"Option `{opt.name}` is required: attach a file.")
            raise BadArgument(f"Option `{opt.name}` is required.")
        return opt.default
    value: Any = raw
    kind = opt.type
    if kind is OptionType.STRING:
        value = str(raw)
    elif kind is OptionType.INTEGER:
        if isinstance(raw, bool) or not isinstance(raw, int):
            try:
                value = int(str(raw).strip())
            except ValueError:
                raise BadArgument(f"Option `{opt.name}` must be a whole number, got `{raw}`.") from None
        if abs(value) > MAX_INTEGER:  # slash already limits this; the prefix surface matches it
            raise BadArgument(f"Option `{opt.name}` must be a whole number between -{MAX_INTEGER} and {MAX_INTEGER}, "
                              f"got `{raw}`.")
    elif kind is OptionType.NUMBER:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            try:
                value = float(str(raw).strip())
            except ValueError:
                raise BadArgument(f"Option `{opt.name}` must be a number, got `{raw}`.") from None
    elif kind is OptionType.BOOLEAN:
        if not isinstance(raw, bool):
            text = str(raw).strip().lower()
            if text not in _TRUE | _FALSE:
                raise BadArgument(f"Option `{opt.name}` must be true or false, got `{raw}`.")
            value = text in _TRUE
    elif kind in _MENTION and isinstance(raw, str):
        value = await _resolve_entity(ctx, opt, raw)
    if kind is OptionType.STRING:
        if opt.min_length is not None and len(value) < opt.min_length:
            raise BadArgument(f"Option `{opt.name}` must be at least {opt.min_length} characters long.")
        if opt.max_length is not None and len(value) > opt.max_length:
            raise BadArgument(f"Option `{opt.name}` must be at most {opt.max_length} characters long.")
    if kind in (OptionType.INTEGER, OptionType.NUMBER):
        lo, hi = opt.min_value, opt.max_value
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"between {lo} and {hi}" if lo is not None and hi is not None else (
                f"at least {lo}" if lo is not None else f"at most {hi}")
            raise BadArgument(f"Option `{opt.name}` must be {bounds}, got `{value}`.")
    if opt.choices is not None and value not in opt.choices:
        listed = ", ".join(f"`{c}`" for c in opt.choices)
        raise BadArgument(f"Option `{opt.name}` must be one of {listed}, got `{value}`.")
    if opt.validate is not None:
        value = opt.validate(value)
        if inspect.isawaitable(value):
            value = await value
    return value


_MESSAGE_REF = re.compile(r"\s*(?:https?://\S+/channels/(?:\d+|@me)/\d+/)?(\d{1,20})\s*")
MAX_SNOWFLAKE = 2**63 - 1
"""Discord ids are below 2**63, as the database's BIGINT: a longer number fails every query."""


def parse_message_id(text: str) -> int:
    """A message id, or a message link (``…/channels/guild/channel/message``), as users paste them."""
    match = _MESSAGE_REF.fullmatch(str(text))
    if not match or int(match.group(1)) > MAX_SNOWFLAKE:
        raise BadArgument(f"`{text}` is not a message id or link (right-click the message → Copy Message ID).")
    return int(match.group(1))


def usage(cmd: Command | Group, prefix: str = "!") -> str:
    """A prefix-command usage line: ``!train [data] [positive=true]``."""
    if isinstance(cmd, Group):
        return f"{prefix}{cmd.name} <{'|'.join(cmd.subcommands)}>"
    parts = [f"{prefix}{cmd.qualified_name}"]
    for opt in cmd.options:
        shown = f"<{opt.name}: attach a file>" if opt.type is OptionType.ATTACHMENT else opt.name
        if opt.named_only and not opt.required:
            parts.append(f"[{opt.name}=…]")
            continue
        if opt.required:
            parts.append(shown if shown.startswith("<") else f"<{shown}>")
        else:
            default = "" if opt.default in (None, MISSING) else f"={str(opt.default).lower() if isinstance(opt.default, bool) else opt.default}"
            parts.append(f"[{shown}{default}]")
    return " ".join(parts)


async def run_checks(ctx: Context, cmd: Command) -> None:
    """The command's (and its group's) checks, then the permission group, then plugins' ``check`` hook."""
    if (cmd.guild_only or (cmd.parent and cmd.parent.guild_only)) and ctx.guild_id is None:
        raise CheckFailure("This command works only in a server, not in direct messages.")
    for chk in [*(cmd.parent.checks if cmd.parent else ()), *cmd.checks]:
        result = chk(ctx)
        if inspect.isawaitable(result):
            await result
    permission = cmd.permission or (cmd.parent.permission if cmd.parent else None)
    if permission is not None:
        await ctx.app.permissions.require(ctx, permission)
    await ctx.app.plugins.run_check_hooks(ctx, cmd)



async def invoke(ctx: Context, cmd: Command, raw: dict[str, Any], *targets: Any) -> None:
    """The one invocation pipeline both surfaces use: checks, conversion, callback, errors.
    ``targets`` precede the options (a message command's message)."""
    try:
        await run_checks(ctx, cmd)
        values = {opt.name: await convert(ctx, opt, raw.get(opt.name, MISSING)) for opt in cmd.options}
        await cmd.callback(ctx, *targets, **values)
    except UserError as exc:
        log.info("%s %s by %s: %s", ctx.surface, cmd.qualified_name, ctx.author.id, exc)
        await _report(ctx, str(exc))
    except Exception as exc:  # noqa: BLE001 - the user gets a message, the log gets the traceback
        log.exception("command %s (plugin %s) failed", cmd.qualified_name, cmd.plugin)
        message = await ctx.app.plugins.call("handle_error", scope=ctx.guild_id, ctx=ctx, error=exc)
        await _report(ctx, message or f"Sorry, `{cmd.qualified_name}` failed unexpectedly. The error was logged.")


async def _report(ctx: Context, message: str) -> None:
    try:
        await ctx.error(message)
    except hikari.HikariError:
        log.exception("could not deliver an error message for %s", ctx.command.qualified_name)
