"""A member's permissions in a guild and in one of its channels, computed as Discord's
"Permissions" documentation describes (topics/permissions#permission-overwrites), and the REST
permission rules of the bot (``permission.*``) that the channel resources enforce with it.

Written from the documentation, not from the bot's own computation (``framework/bot_permissions.py``):
a checker never imports the code it checks.
"""

from __future__ import annotations

from aiohttp import web

from framework.emulator.rules import Rules, missing_permissions
from framework.emulator.state import Channel, Guild, Role

# docs: topics/permissions#permissions-bitwise-permission-flags
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
CONNECT = 1 << 20
SPEAK = 1 << 21
ALL = (1 << 51) - 1

NAMES = {VIEW_CHANNEL: "view_channel", SEND_MESSAGES: "send_messages", READ_MESSAGE_HISTORY: "read_message_history",
         ATTACH_FILES: "attach_files", EMBED_LINKS: "embed_links", ADD_REACTIONS: "add_reactions",
         MANAGE_MESSAGES: "manage_messages", CONNECT: "connect", SPEAK: "speak"}
"""The rule name (``permission.<name>``) of each permission the emulator enforces."""


def _everyone(guild: Guild) -> Role | None:
    """The @everyone role: on Discord its id is the guild's; a restored emulated guild may differ."""
    return next((r for r in guild.roles if r.id == guild.id), next(iter(guild.roles), None))


def base_permissions(guild: Guild, user_id: int) -> int:
    """docs: topics/permissions#permission-overwrites, ``compute_base_permissions``: the owner has all;
    else @everyone's permissions OR each role's; ADMINISTRATOR means all."""
    if guild.owner_id == user_id:
        return ALL
    everyone = _everyone(guild)
    permissions = int(everyone.permissions) if everyone else 0
    member = guild.members.get(user_id)
    for role in member.roles if member else []:
        permissions |= int(role.permissions)
    return ALL if permissions & ADMINISTRATOR else permissions


def channel_permissions(guild: Guild, user_id: int, channel: Channel | None) -> int:
    """docs: topics/permissions#permission-overwrites, ``compute_overwrites``: from the base, apply the
    @everyone overwrite, then the member's roles' overwrites together (deny, then allow), then the
    member's own overwrite. ADMINISTRATOR (and ownership) skip the overwrites."""
    permissions = base_permissions(guild, user_id)
    if permissions == ALL or channel is None:
        return permissions
    overwrites = {int(o["id"]): o for o in channel.overwrites}
    everyone_role = _everyone(guild)
    if (everyone := overwrites.get(everyone_role.id if everyone_role else guild.id)) is not None:
        permissions = (permissions & ~int(everyone["deny"])) | int(everyone["allow"])
    member = guild.members.get(user_id)
    allow = deny = 0
    for role in member.roles if member else []:
        if (overwrite := overwrites.get(role.id)) is not None and int(overwrite.get("type", 0)) == 0:
            allow |= int(overwrite["allow"])
            deny |= int(overwrite["deny"])
    permissions = (permissions & ~deny) | allow
    if (own := overwrites.get(user_id)) is not None and int(own.get("type", 1)) == 1:
        permissions = (permissions & ~int(own["deny"])) | int(own["allow"])
    # docs: topics/permissions#implicit-permissions: without VIEW_CHANNEL a member has no other
    # permission in the channel; without SEND_MESSAGES, none of the sending ones
    if not permissions & VIEW_CHANNEL:
        return 0
    if not permissions & SEND_MESSAGES:
        permissions &= ~(ATTACH_FILES | EMBED_LINKS)
    return permissions


def check(rules: Rules, request: web.Request | None, guild: Guild | None, user_id: int, channel: Channel | None,
          needed: int) -> web.Response | None:
    """403 50013 when ``user_id`` lacks one of ``needed`` in ``channel`` (None in DMs: no permissions
    apply there). Each permission is its own rule (``permission.send_messages``, …)."""
    if guild is None or not needed:
        return None
    have = channel_permissions(guild, user_id, channel)
    for flag, name in NAMES.items():
        if needed & flag and not have & flag and rules.on(f"permission.{name}"):
            if flag == VIEW_CHANNEL:  # docs: topics/opcodes-and-status-codes, 50001 "Missing Access"
                return rules.refuse(request, "permission.view_channel", 403, 50001, "Missing Access")
            return missing_permissions(request, rules, f"permission.{name}")
    return None
