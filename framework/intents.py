"""Connecting with the gateway intents the bot asks for, and saying plainly what to do when Discord
refuses them: a privileged intent (Message Content, Server Members, Presence) that is not enabled
for the application closes the connection with 4014 "Disallowed intent(s)". The bot then stops
with an error naming the intent, the features that need it and the setting that enables it,
instead of hikari's bare close code.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import hikari

log = logging.getLogger(__name__)
F = hikari.ApplicationFlags
DISALLOWED = 4014

PRIVILEGED: dict[hikari.Intents, tuple[str, hikari.ApplicationFlags, str]] = {
    hikari.Intents.MESSAGE_CONTENT: (
        "Message Content Intent", F.MESSAGE_CONTENT_INTENT | F.MESSAGE_CONTENT_INTENT_LIMITED,
        "prefix commands, chat and voice messages read what users write"),
    hikari.Intents.GUILD_MEMBERS: (
        "Server Members Intent", F.GUILD_MEMBERS_INTENT | F.VERIFIED_FOR_GUILD_MEMBERS_INTENT,
        "the bot follows who joins and leaves"),
    hikari.Intents.GUILD_PRESENCES: (
        "Presence Intent", F.GUILD_PRESENCES_INTENT | F.VERIFIED_FOR_GUILD_PRESENCES,
        "the bot follows users' presences"),
}
"""Each privileged intent: its name in the Developer Portal, the application flags that say it is
enabled, and what the bot needs it for."""


class DisallowedIntents(RuntimeError):
    """Discord refused the gateway connection: a privileged intent is not enabled for the application."""


def explain(asked: hikari.Intents, flags: hikari.ApplicationFlags | None) -> str:
    """What to enable and why; ``flags`` None when the application could not be read."""
    missing = [(name, why) for intent, (name, enabled, why) in PRIVILEGED.items()
               if asked & intent and (flags is None or not flags & enabled)]
    names = " and ".join(name for name, _ in missing) or "a privileged intent"
    reasons = "; ".join(why for _, why in missing)
    return (f"Discord refused the gateway connection (4014, disallowed intents): the bot asks for the {names}, "
            f"which this application does not have enabled{f' ({reasons})' if reasons else ''}. Enable it in the "
            "Discord Developer Portal: Applications → this bot → Bot → Privileged Gateway Intents, then start again.")


async def start(bot: hikari.GatewayBot, *, shard_ids: Sequence[int] | None, shard_count: int | None) -> None:
    """``bot.start(...)``; a 4014 close becomes :class:`DisallowedIntents` with the explanation."""
    try:
        await bot.start(shard_ids=shard_ids, shard_count=shard_count)
    except hikari.GatewayServerClosedConnectionError as exc:
        if exc.code != DISALLOWED:
            raise
        try:
            flags: hikari.ApplicationFlags | None = (await bot.rest.fetch_application()).flags
        except hikari.HikariError:
            flags = None
        message = explain(bot.intents, flags)
        log.error("%s", message)
        raise DisallowedIntents(message) from exc
