"""What a command callback works with: the :class:`Context` (the same on both surfaces), the
:class:`Response` it can edit, and :class:`File` attachments. Each surface subclasses Context
for its transport (an interaction or a message); callbacks never see the difference.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import hikari

from framework.commands.declarations import Command, MessageCommand, TextField
from framework.errors import UserError

if TYPE_CHECKING:  # pragma: no cover

    from framework.app import App
    from framework.host import Host

DISCORD_MESSAGE_LIMIT = 2000


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
    """A message the bot sent for a command; ``edit`` it to show progress.

    An answer to an interaction is edited through the interaction's token, which Discord honours for
    15 minutes: ``expires_at`` (wall-clock seconds) says until when; ``editable`` is false after
    that. A channel message (``expires_at`` None) stays editable. Long work does not edit by hand:
    :class:`framework.progress.ProgressMessage` throttles edits and moves on when the token ends."""

    def __init__(self, editor: Callable[..., Awaitable[None]], message_id: hikari.Snowflake | None, *,
                 channel_id: hikari.Snowflakeish | None = None, expires_at: float | None = None,
                 private: bool = False) -> None:
        self._editor = editor
        self.message_id = message_id
        self.channel_id = channel_id
        """The channel the message is in, when it is a channel message (editable through the channel)."""
        self.expires_at = expires_at
        self.private = private
        """Only its recipient sees it (an ephemeral answer, or a direct message)."""

    @property
    def editable(self) -> bool:
        return self.expires_at is None or time.time() < self.expires_at

    async def edit(self, content: str | None = None, *, attachments: Sequence[File] | None = None,
                   embeds: Sequence[hikari.Embed] | None = None) -> None:
        await self._editor(content=content, attachments=attachments, embeds=embeds)


def channel_message(app: Host, channel_id: hikari.Snowflakeish, message_id: hikari.Snowflake, *,
                    private: bool = False) -> Response:
    """A :class:`Response` for a message the bot posted in a channel (edited through the channel)."""

    async def edit(content: str | None, attachments: Sequence[File] | None,
                   embeds: Sequence[hikari.Embed] | None) -> None:
        await app.bot.rest.edit_message(
            channel_id, message_id, content if content is not None else hikari.UNDEFINED,
            attachments=[f.to_resource() for f in attachments] if attachments is not None else hikari.UNDEFINED,
            embeds=list(embeds) if embeds is not None else hikari.UNDEFINED,
        )

    return Response(edit, message_id, channel_id=channel_id, private=private)


def split_message(text: str, limit: int = DISCORD_MESSAGE_LIMIT) -> list[str]:
    """Split text at Discord's limit, preferring line then word boundaries (the line break or space
    cut at is dropped: a message does not start with it)."""
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n") if text[cut:cut + 1] == "\n" else text[cut + (text[cut:cut + 1] == " "):]
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
    def server_id(self) -> int:
        """The server this command runs in; outside servers a UserError (``guild_only`` commands
        never get there, so for them this is the guild id, typed as one)."""
        if self.guild_id is None:
            raise UserError("This command works only in a server.")
        return int(self.guild_id)

    @property
    def settings(self) -> Any:
        """This command's plugin settings from plugins.toml: an instance of the model its plugin's
        ``settings_model`` hook returns (typed ``Any``: only the plugin knows its model)."""
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

    async def user_name(self, user_id: int) -> str:
        """How to show a user in a listing: their display name in this server, else their global
        name or username (from the cache, else asked of Discord), else ``user <id>``. Listings show
        names rather than ``<@id>`` mentions, which a client renders only for users it has loaded."""
        bot, snowflake = self.app.bot, hikari.Snowflake(int(user_id))
        try:
            if self.guild_id is not None:
                # the author's member came with the command; others are cached only when they are in
                # voice (a bot without the Presence intent gets no member list), else fetched
                own = self.member if self.member is not None and self.member.id == snowflake else None
                member = own or bot.cache.get_member(self.guild_id, snowflake)
                if member is None:
                    try:
                        member = await bot.rest.fetch_member(self.guild_id, snowflake)
                    except hikari.NotFoundError:
                        member = None  # not (or no longer) in this server: their user name will do
                if member is not None:
                    return member.display_name
            found = bot.cache.get_user(snowflake) or await bot.rest.fetch_user(snowflake)
            return found.global_name or found.username
        except (hikari.HTTPError, hikari.ComponentStateConflictError):
            return f"user {int(user_id)}"

    @property
    def private(self) -> bool:
        """Whether this command's answers are private (declared by the command: ``ephemeral=True``)."""
        return bool(getattr(self.command, "ephemeral", False))

    async def respond(self, content: str | None = None, *, attachments: Sequence[File] = (),
                      embeds: Sequence[hikari.Embed] = (), ephemeral: bool | None = None) -> Response:
        """Send a reply. Text over Discord's limit is split; the last part carries files/embeds.
        ``ephemeral`` defaults to what the command declared (see :attr:`Command.ephemeral`)."""
        private = self.private if ephemeral is None else ephemeral
        parts = split_message(content) if content else [None]
        response: Response | None = None
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            response = await self._send(part, attachments if last else (), embeds if last else (), private)
        self.responded = True
        assert response is not None
        return response

    async def error(self, message: str) -> None:
        """Answer a user-facing error (ephemeral on slash, unless a public deferral already decided)."""
        await self.respond(message, ephemeral=True)

    async def defer(self, *, ephemeral: bool | None = None) -> None:
        """Tell Discord an answer is coming (slash) or show typing (prefix). The deferral's visibility
        is the command's declared privacy unless given: the first answer takes its place."""

    async def bot_missing(self, needed: hikari.Permissions) -> hikari.Permissions:
        """Which of ``needed`` the bot lacks in this channel (``NONE`` when it has them all, or
        where permissions do not apply, as in direct messages)."""
        return hikari.Permissions.NONE

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
