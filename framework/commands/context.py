"""What a command callback works with: the :class:`Context` (the same on both surfaces), the
:class:`Response` it can edit, and :class:`File` attachments. Each surface subclasses Context
for its transport (an interaction or a message); callbacks never see the difference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import hikari

from framework.commands.declarations import Command, MessageCommand, TextField
from framework.errors import UserError

if TYPE_CHECKING:  # pragma: no cover

    from framework.app import App

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
