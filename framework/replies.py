"""Answering a user's message as a reply — the prefix surface, chat and voice messages all do.

Discord refuses a reply (403, code 50013) where the bot lacks Read Message History, even when it
may send messages. So where the bot's permissions say so (or Discord refuses), the answer goes
out as a plain message that mentions the author instead, and the log says so once per channel.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import hikari

from framework.bot_permissions import missing
from framework.commands import DISCORD_MESSAGE_LIMIT, File, split_message

if TYPE_CHECKING:  # pragma: no cover
    from framework.host import Host

log = logging.getLogger(__name__)
MISSING_ACCESS = 50013
"""Discord's error code for "Missing Permissions"."""


async def reply(app: Host, message: hikari.Message, content: str | None, *, attachments: Sequence[File] = (),
                embeds: Sequence[hikari.Embed] = ()) -> hikari.Message:
    """Answer ``message`` (``content`` at most one message long) as a reply, or, where Discord would
    refuse a reply, as a message mentioning its author. Returns the (first) message sent."""
    rest = app.bot.rest
    if not missing(app, message.guild_id, message.channel_id, hikari.Permissions.READ_MESSAGE_HISTORY):
        try:
            return await rest.create_message(
                message.channel_id, content if content is not None else hikari.UNDEFINED, reply=message,
                attachments=[f.to_resource() for f in attachments] or hikari.UNDEFINED,
                embeds=list(embeds) or hikari.UNDEFINED,
                user_mentions=False, role_mentions=False, mentions_everyone=False)
        except hikari.ForbiddenError as exc:
            if exc.code != MISSING_ACCESS:
                raise
    _note(app, message)
    return await _mentioning(app, message, content or "", attachments, embeds)


async def _mentioning(app: Host, message: hikari.Message, content: str, attachments: Sequence[File],
                      embeds: Sequence[hikari.Embed]) -> hikari.Message:
    mention = f"{message.author.mention} "
    parts = split_message(content, DISCORD_MESSAGE_LIMIT - len(mention)) if content else [""]
    first: hikari.Message | None = None
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        sent = await app.bot.rest.create_message(
            message.channel_id, (mention if first is None else "") + part,
            attachments=[f.to_resource() for f in attachments] if last and attachments else hikari.UNDEFINED,
            embeds=list(embeds) if last and embeds else hikari.UNDEFINED,
            user_mentions=[message.author.id] if first is None else False, role_mentions=False,
            mentions_everyone=False)
        first = first or sent
    assert first is not None
    return first


def _note(app: Host, message: hikari.Message) -> None:
    noted: set[int] = app.state("framework.replies", set)
    if int(message.channel_id) not in noted:
        noted.add(int(message.channel_id))
        log.warning("No Read Message History in channel %s (server %s): Discord refuses replies there, so the bot "
                    "answers with a mention of the author instead.", message.channel_id, message.guild_id)
