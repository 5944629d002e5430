"""The prefix surface: ``!name args…`` messages parsed into the same raw option values a slash
interaction carries, then run through the one pipeline in :mod:`framework.commands`.

Arguments are positional (filling options in order) or named (``key=value`` or ``key:value``,
anywhere on the line); quotes group words; attachments on the message fill attachment options in
order. The last positional option, when it is a string, takes the rest of the line unless quoted,
so free text needs no quotes (``!train great movie``, ``!feedback great bot rating=5``); a string
option with positional options after it does so only when declared ``rest_of_line`` (train's
``data``: never split into ``positive``), else it takes one word (``!files uploads 2``). A
``key=value`` word whose key no option has is named as unknown.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import hikari

from framework.bot_permissions import missing
from framework.commands import (
    MISSING,
    BadArgument,
    Command,
    Context,
    File,
    Group,
    MessageCommand,
    Option,
    OptionType,
    Response,
    invoke,
    usage,
)
from framework.commands.context import channel_message
from framework.errors import echo
from framework.registry import SkipsBots
from framework.replies import reply

if TYPE_CHECKING:  # pragma: no cover
    from framework.app import App

log = logging.getLogger(__name__)


def _closes(text: str, start: int) -> bool:
    """Whether the ' at ``start`` has a closing ' that ends a word: otherwise it is an apostrophe
    ('tis, or inside JSON text), taken as it is rather than refused as an unclosed quote."""
    end = text.find("'", start + 1)
    while end != -1:
        if end + 1 == len(text) or text[end + 1].isspace():
            return True
        end = text.find("'", end + 1)
    return False


def _spans(text: str) -> list[tuple[str, int, int, bool]]:
    """Split on whitespace, honouring "double" and 'single' quotes and backslash escapes.
    Returns (token, start, end, quoted) per token: offsets so the rest of the line can be taken
    verbatim, and whether the token began with a quote (``"two words"`` is one value)."""
    tokens: list[tuple[str, int, int, bool]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        buf: list[str] = []
        quote: str | None = None
        quoted = False
        while i < n and (quote or not text[i].isspace()):
            ch = text[i]
            if ch == "\\" and i + 1 < n and text[i + 1] in "\"'\\":
                buf.append(text[i + 1])
                i += 2
                continue
            if quote and ch == quote:
                quote = None
            elif not quote and ch in "\"'" and (not buf or buf[-1] == "=") and (ch == '"' or _closes(text, i)):
                quote = ch
                quoted = quoted or not buf
            else:
                buf.append(ch)
            i += 1
        if quote:
            raise BadArgument(f"Unclosed {quote} quote in the arguments.")
        tokens.append(("".join(buf), start, i, quoted))
    return tokens


def tokenize(text: str) -> list[tuple[str, int]]:
    """Split on whitespace, honouring "double" and 'single' quotes and backslash escapes.
    Returns (token, start offset) pairs so the rest of the line can be taken verbatim."""
    return [(token, start) for token, start, _, _ in _spans(text)]


_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)([=:])(.*)", re.DOTALL)


def _named(token: str, quoted: bool, by_name: dict[str, Option]) -> tuple[str, str] | None:
    """``key=value`` or ``key:value`` naming one of the command's options, else None. The colon
    form counts only with a known name and a value (``time:12:30`` is a time option when the
    command has one; ``https://…`` and ``note: …`` are text)."""
    m = None if quoted else _KEY.fullmatch(token)
    if m is None or m.group(1) not in by_name or (m.group(2) == ":" and not m.group(3)):
        return None
    return m.group(1), m.group(3)


def _unknown(token: str, quoted: bool, cmd: Command, prefix: str) -> BadArgument | None:
    """The error for a ``key=value`` word whose key no option has, else None."""
    m = None if quoted else _KEY.fullmatch(token)
    if m is None or m.group(2) != "=":
        return None
    names = ", ".join(f"`{o.name}`" for o in cmd.options) or "none"
    return BadArgument(f"Unknown option `{echo(m.group(1))}` (options: {names}). Usage: `{usage(cmd, prefix)}`")


def _bare_switch(word: tuple[str, int, bool], by_name: dict[str, Option], raw: dict[str, Any], cmd: Command,
                 prefix: str) -> BadArgument | None:
    """The error for a lone unquoted word, about to fill a text option, that names one of the
    command's yes/no options (``!train start``): its writer most likely meant the switch."""
    token, _, quoted = word
    opt = by_name.get(token.lower())
    if quoted or opt is None or opt.type is not OptionType.BOOLEAN or opt.name in raw:
        return None
    return BadArgument(f"`{opt.name}` is an option of `{cmd.qualified_name}`: type `{prefix}{cmd.qualified_name} "
                       f"{opt.name}:true` to set it. To mean the word itself, quote it: `\"{opt.name}\"`.")


def _verbatim(text: str, start: int, skipped: list[tuple[int, int]]) -> str:
    """The line from ``start`` on, without the named options given inside it; where one is cut
    out, the words around it are joined by a space (a line break if there was one)."""
    result, at = "", start
    for begin, end in skipped:
        if begin < start:
            continue
        left, right = text[at:begin], text[end:]
        gap = left[len(left.rstrip()):] + right[:len(right) - len(right.lstrip())]
        result += left.rstrip() + ("\n" if "\n" in gap else " ")
        at = end + len(right) - len(right.lstrip())
    return (result + text[at:]).strip()


def parse_arguments(cmd: Command, text: str, attachments: Sequence[hikari.Attachment], prefix: str,
                    reply_to: int | None = None) -> dict[str, Any]:
    """Map a prefix command's argument text and the message's attachments to raw option values.
    ``reply_to`` (the id of the message this one replies to) fills ``from_reply`` options.

    Named options (``key=value`` or ``key:value``) may come anywhere. The other words fill the
    positional options in order; the last positional option, when it is a string (or a string
    option declared ``rest_of_line``), takes the rest of the line (named options in it excepted)
    unless its value is quoted, so free text needs no quotes and is never split into the options
    after it."""
    raw: dict[str, Any] = {}
    by_name = {o.name: o for o in cmd.options}
    files = list(attachments)
    for opt in cmd.options:
        if opt.type is OptionType.ATTACHMENT and files:
            raw[opt.name] = files.pop(0)
    positional: list[tuple[str, int, bool]] = []
    skipped: list[tuple[int, int]] = []
    for token, start, end, quoted in _spans(text):
        named = _named(token, quoted, by_name)
        if named is None:
            positional.append((token, start, quoted))
            continue
        key, value = named
        if key in raw:
            raise BadArgument(f"Option `{key}` was given twice.")
        raw[key] = value
        skipped.append((start, end))
    if reply_to is not None:
        for opt in cmd.options:
            if opt.from_reply and opt.name not in raw:
                raw[opt.name] = str(reply_to)
    free = [o for o in cmd.options if o.name not in raw and o.type is not OptionType.ATTACHMENT and not o.named_only]
    strings = [o for o in free if o.type is OptionType.STRING]
    rest = strings[-1] if strings and (strings[-1] is free[-1] or strings[-1].rest_of_line) else None
    if (len(positional) == 1 and free and free[0].type is OptionType.STRING
            and (error := _bare_switch(positional[0], by_name, raw, cmd, prefix)) is not None):
        raise error
    for index, (token, start, quoted) in enumerate(positional):
        if not free:
            raise _unknown(token, quoted, cmd, prefix) or BadArgument(
                f"Too many arguments. Usage: `{usage(cmd, prefix)}`")
        opt = free[0]
        more = index < len(positional) - 1
        if opt is rest and more and not (quoted and len(free) > 1):
            raw[opt.name] = _verbatim(text, start, skipped)  # free text: the rest of the line
            break
        if opt is not rest and (error := _unknown(token, quoted, cmd, prefix)) is not None:
            raise error
        free.pop(0)
        raw[opt.name] = token
    return raw


class PrefixContext(Context):
    """A command invoked by a message; replies go to the same channel as replies to it."""

    surface = "prefix"

    def __init__(self, app: App, cmd: Command, message: hikari.Message) -> None:
        super().__init__(app, cmd, author=message.author, member=message.member, guild_id=message.guild_id,
                         channel_id=message.channel_id, message=message)

    async def defer(self, *, ephemeral: bool | None = None) -> None:
        await self.app.bot.rest.trigger_typing(self.channel_id)

    async def bot_missing(self, needed: hikari.Permissions) -> hikari.Permissions:
        return missing(self.app, self.guild_id, self.channel_id, needed)

    async def _send(self, content: str | None, attachments: Sequence[File], embeds: Sequence[hikari.Embed],
                    ephemeral: bool) -> Response:
        assert self.message is not None
        if not self.responded:
            sent = await reply(self.app, self.message, content, attachments=attachments, embeds=embeds)
        else:
            sent = await self.app.bot.rest.create_message(
                self.channel_id, content if content is not None else hikari.UNDEFINED,
                attachments=[f.to_resource() for f in attachments] or hikari.UNDEFINED,
                embeds=list(embeds) or hikari.UNDEFINED,
                user_mentions=False, role_mentions=False, mentions_everyone=False,
            )
        return channel_message(self.app, self.channel_id, sent.id)


class PrefixRouter:
    """Finds the command a message names and runs it through the shared pipeline. It is also the
    one subscriber to messages: it hands each message to the plugins' listeners of
    ``MessageCreateEvent``, in the same task for a message that is no command (most messages,
    the bot's own among them), in a task beside the command's for one that is. That is one task
    per message where two subscriptions made two."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._tasks: set[asyncio.Task[None]] = set()
        self._raw: bool | None = None
        """Subscribed to raw gateway payloads (True), to hikari's ``MessageCreateEvent`` (False), or not yet."""

    def follow(self) -> None:
        """Subscribe the way that costs least for the listeners registered now (called whenever they change).

        No command is written by a bot, so when no listener wants bots' messages either (each
        ``MessageCreateEvent`` listener was registered with ``bots=False``) and hikari's message cache
        is off, the router takes the raw ``MESSAGE_CREATE`` payloads (``ShardPayloadEvent``) and drops
        a bot's message, the bot's own replies among them, before hikari builds its event (message,
        member, user). Otherwise it subscribes to ``MessageCreateEvent``: hikari builds every message's
        event anyway, for the cache or for a listener of one kind of message (``GuildMessageCreateEvent``)."""
        listeners = self.app.listeners
        bots_wanted = any(not isinstance(cb, SkipsBots) for _, cb in listeners.get(hikari.MessageCreateEvent, ()))
        kinds = any(entries and issubclass(kind, hikari.MessageCreateEvent) and kind is not hikari.MessageCreateEvent
                    for kind, entries in listeners.items())
        raw = self.app.config.bot.message_cache == 0 and not bots_wanted and not kinds
        if raw is self._raw:
            return
        if self._raw is not None:
            self._unsubscribe()
        self._raw = raw
        if raw:
            self.app.bot.subscribe(hikari.ShardPayloadEvent, self.on_payload)
        else:
            self.app.bot.subscribe(hikari.MessageCreateEvent, self.on_message)

    def _unsubscribe(self) -> None:
        if self._raw:
            self.app.bot.unsubscribe(hikari.ShardPayloadEvent, self.on_payload)
        else:
            self.app.bot.unsubscribe(hikari.MessageCreateEvent, self.on_message)

    async def on_payload(self, event: hikari.ShardPayloadEvent) -> None:
        """A raw gateway event: a message not written by a bot becomes the ``MessageCreateEvent``
        hikari's event factory makes of it, as hikari's own dispatch would, and goes on to :meth:`on_message`."""
        if event.name != "MESSAGE_CREATE" or event.payload.get("author", {}).get("bot"):
            return
        try:
            created = self.app.bot.event_factory.deserialize_message_create_event(event.shard, event.payload)
        except hikari.UnrecognisedEntityError:  # hikari's dispatch drops such an event too
            return
        await self.on_message(created)

    async def on_message(self, event: hikari.MessageCreateEvent) -> None:
        message = event.message
        prefix = self.app.config.bot.prefix
        content = message.content
        listened = bool(self.app.listeners.get(hikari.MessageCreateEvent))
        if not content or not content.startswith(prefix) or message.author.is_bot or message.webhook_id:
            if listened:
                await self.app.route_event(hikari.MessageCreateEvent, event)
            return
        if listened:  # the listeners do not wait for the command, nor it for them
            task = asyncio.get_running_loop().create_task(self.app.route_event(hikari.MessageCreateEvent, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        body = content[len(prefix):]
        name, _, rest = body.partition(" ")
        name = name.strip().lower()
        if not name or not name[0].isalpha():
            return
        target = self.app.commands.lookup_prefix(name)
        if target is None:
            await self._unknown(message, name)
            return
        if not self.app.plugins.enabled_in(target.plugin, message.guild_id):
            return
        if isinstance(target, Group):
            sub_name, _, rest = rest.strip().partition(" ")
            sub = target.subcommands.get(sub_name.lower())
            if sub is None:
                names = ", ".join(f"`{s}`" for s in target.subcommands)
                hint = f"Unknown subcommand `{echo(sub_name)}`. " if sub_name else ""
                await _reply(self.app, message, f"{hint}`{prefix}{target.name}` takes one of: {names}.")
                return
            target = sub
        if isinstance(target, MessageCommand):
            await _reply(self.app, message, f"`{target.name}` is in a message's menu: right-click (or long-press) "
                                            f"a message → Apps → {target.name}.")
            return
        ctx = PrefixContext(self.app, target, message)
        reference = message.referenced_message or message.message_reference
        reply_to = getattr(reference, "id", None)
        try:
            raw = parse_arguments(target, rest, message.attachments, prefix, int(reply_to) if reply_to else None)
        except BadArgument as exc:
            await ctx.error(str(exc))
            return
        await invoke(ctx, target, raw)

    async def _unknown(self, message: hikari.Message, name: str) -> None:
        prefix = self.app.config.bot.prefix
        close = difflib.get_close_matches(name, self.app.commands.prefix_names(), n=1)
        hint = f" Did you mean `{prefix}{close[0]}`?" if close else ""
        await _reply(self.app, message,
                     f"Unknown command `{echo(prefix + name)}`.{hint} Type `{prefix}help` for the list.")


async def _reply(app: App, message: hikari.Message, text: str) -> None:
    await reply(app, message, text)


__all__ = ["tokenize", "parse_arguments", "PrefixContext", "PrefixRouter", "MISSING"]
