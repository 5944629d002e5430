"""What a gateway session receives, by the intents its IDENTIFY asked for (used by ``gateway.py``).

Two of Discord's rules: an event tied to an intent reaches only sessions that asked for that intent
(rule ``intent.events``), and GUILD_CREATE carries the whole member list only to a session with
GUILD_PRESENCES and for a guild that is not ``large`` (rule ``intent.guild_create_members``);
otherwise only the bot's own member and the members in voice. The emulator has no presences, so
every user counts as offline: the stricter reading of "stop sending offline members".
"""

from __future__ import annotations

from typing import Any

GUILDS, GUILD_MEMBERS, GUILD_VOICE_STATES, GUILD_PRESENCES = 1 << 0, 1 << 1, 1 << 7, 1 << 8
GUILD_MESSAGES, GUILD_MESSAGE_REACTIONS, GUILD_MESSAGE_TYPING = 1 << 9, 1 << 10, 1 << 11
DIRECT_MESSAGES, DIRECT_MESSAGE_REACTIONS, DIRECT_MESSAGE_TYPING = 1 << 12, 1 << 13, 1 << 14

LARGE_THRESHOLD = (50, 250, 50)
"""docs: events/gateway-events#identify, ``large_threshold``: "Value between 50 and 250, total number
of members where the gateway will stop sending offline members in the guild member list", default 50."""

_GUILDS = ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE", "GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE",
           "GUILD_ROLE_DELETE", "CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE", "THREAD_CREATE",
           "THREAD_UPDATE", "THREAD_DELETE", "THREAD_LIST_SYNC", "THREAD_MEMBER_UPDATE", "STAGE_INSTANCE_CREATE",
           "STAGE_INSTANCE_UPDATE", "STAGE_INSTANCE_DELETE")
_MESSAGES = ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE")
_REACTIONS = ("MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE", "MESSAGE_REACTION_REMOVE_ALL",
              "MESSAGE_REACTION_REMOVE_EMOJI")
_IN_GUILD: dict[str, int] = {
    **dict.fromkeys(_GUILDS, GUILDS), "CHANNEL_PINS_UPDATE": GUILDS,
    **dict.fromkeys(("GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE", "GUILD_MEMBER_REMOVE"), GUILD_MEMBERS),
    "VOICE_STATE_UPDATE": GUILD_VOICE_STATES, "PRESENCE_UPDATE": GUILD_PRESENCES,
    **dict.fromkeys((*_MESSAGES, "MESSAGE_DELETE_BULK"), GUILD_MESSAGES),
    **dict.fromkeys(_REACTIONS, GUILD_MESSAGE_REACTIONS), "TYPING_START": GUILD_MESSAGE_TYPING,
}
_IN_DM: dict[str, int] = {
    **dict.fromkeys((*_MESSAGES, "CHANNEL_PINS_UPDATE"), DIRECT_MESSAGES),
    **dict.fromkeys(_REACTIONS, DIRECT_MESSAGE_REACTIONS), "TYPING_START": DIRECT_MESSAGE_TYPING,
}
"""docs: events/gateway#list-of-intents: each event and the intent it needs, in a guild and in a DM.
"Any events not listed means it's not associated with an intent and will always be sent" (READY,
RESUMED, INTERACTION_CREATE, VOICE_SERVER_UPDATE, ...)."""


def required_intent(event: str, data: dict[str, Any], bot_id: int) -> int:
    """The intent ``event`` needs (0: none). Guild-wide events (GUILD_*, CHANNEL_*) count as in a guild;
    docs: events/gateway#caveats: GUILD_MEMBER_UPDATE about the bot itself is sent without GUILD_MEMBERS."""
    if event == "GUILD_MEMBER_UPDATE" and str((data.get("user") or {}).get("id")) == str(bot_id):
        return 0
    in_guild = bool(data.get("guild_id")) or event in _GUILDS or event.startswith("GUILD_")
    return (_IN_GUILD if in_guild else _IN_DM).get(event, 0)


def valid_large_threshold(value: Any) -> bool:
    """Whether IDENTIFY's ``large_threshold`` (absent: the default) is an integer from 50 to 250."""
    low, high, _ = LARGE_THRESHOLD
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high)


def guild_create_for(data: dict[str, Any], intents: int, large_threshold: int, bot_id: int) -> dict[str, Any]:
    """GUILD_CREATE as a session sees it. docs: events/gateway-events#guild-create: ``large`` is "true if
    this is considered a large guild" (more members than the session's ``large_threshold``), and "If your
    bot does not have the GUILD_PRESENCES Gateway Intent, or if the guild has over 75k members, members and
    presences returned in this event will only contain your bot and users in voice channels"; over
    ``large_threshold`` the gateway stops sending offline members (docs: events/gateway-events#identify),
    which every emulated user is. ``member_count`` stays the guild's real count."""
    large = int(data.get("member_count") or 0) > large_threshold
    if intents & GUILD_PRESENCES and not large:
        return {**data, "large": large}
    in_voice = {str(state["user_id"]) for state in data.get("voice_states") or []} | {str(bot_id)}
    members = [m for m in data.get("members") or [] if str(m["user"]["id"]) in in_voice]
    return {**data, "large": large, "members": members}
