"""What the bot may do where: its permissions in a channel, computed from hikari's cache the way
Discord computes them (the ``@everyone`` role, the bot's roles, administrator, then the channel's
overwrites for ``@everyone``, the roles and the bot, in that order: "Permissions" in Discord's
documentation), the start-up check that says once per server which features will not work there,
and the invite URL with exactly the permissions the registered commands need.

Commands declare what the bot needs (``Command(bot_permissions=...)``, checked before the callback
runs); :data:`BASE` is what every server needs for prefix commands and chat.
"""

from __future__ import annotations

import functools
import logging
import operator
import warnings
from typing import TYPE_CHECKING

import hikari

from framework.commands import Group

if TYPE_CHECKING:  # pragma: no cover
    from framework.commands import Command
    from framework.host import Host

log = logging.getLogger(__name__)
P = hikari.Permissions

BASE: dict[hikari.Permissions, str] = {
    P.VIEW_CHANNEL: "seeing prefix commands and chat",
    P.SEND_MESSAGES: "answering prefix commands and chat",
    P.READ_MESSAGE_HISTORY: "answering as replies (without it the bot answers with a mention instead)",
    P.CONNECT: "joining voice channels",
    P.SPEAK: "speaking in voice channels",
}
"""What prefix commands, chat and voice need in every server, and what goes without each (voice
permissions count in the voice channel, so no command can declare them for its text channel)."""


def names(permissions: hikari.Permissions) -> str:
    """``Attach Files and Read Message History``: how Discord's settings name them."""
    shown = [(flag.name or "").replace("_", " ").title() for flag in P if flag & permissions and flag.name]
    return " and ".join([", ".join(shown[:-1]), shown[-1]] if len(shown) > 1 else shown)


class PermissionMemo:
    """The bot's permissions per (server, channel) as :func:`in_channel` last computed them, so a
    message that is answered does not rebuild them from hikari's cache (which copies the guild,
    the member and each role on every read). Forgotten whenever an event can change them: the
    server (owner, availability), its roles, its channels and threads (overwrites, parents), the
    bot's own membership (roles), and a new gateway session. hikari updates its cache before it
    dispatches the event, and listeners run in the order events arrive, so a message that arrives
    after a change is answered with the changed permissions. Unknown answers (None) are not kept."""

    LIMIT = 10_000
    INVALIDATING: tuple[type[hikari.Event], ...] = (
        hikari.GuildAvailableEvent, hikari.GuildJoinEvent, hikari.GuildLeaveEvent, hikari.GuildUnavailableEvent,
        hikari.GuildUpdateEvent, hikari.RoleEvent, hikari.GuildChannelEvent, hikari.GuildThreadEvent,
        hikari.ShardReadyEvent)

    def __init__(self, bot: hikari.GatewayBot) -> None:
        self.known: dict[tuple[int, int | None], hikari.Permissions] = {}
        self._bot = bot
        for event_type in self.INVALIDATING:
            bot.subscribe(event_type, self.forget)
        # hikari warns that member events need the GUILD_MEMBERS intent, which the bot does not ask
        # for; but Discord sends GUILD_MEMBER_UPDATE about the bot itself without it (docs:
        # events/gateway#list-of-intents), and that is the one update this listens for.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", hikari.MissingIntentWarning)
            bot.subscribe(hikari.MemberUpdateEvent, self._on_member)

    async def forget(self, event: object = None) -> None:
        self.known.clear()

    async def _on_member(self, event: hikari.MemberUpdateEvent) -> None:
        me = self._bot.get_me()
        if me is None or event.user_id == me.id:
            self.known.clear()

    def remember(self, key: tuple[int, int | None], permissions: hikari.Permissions) -> None:
        if len(self.known) >= self.LIMIT:
            self.known.clear()
        self.known[key] = permissions


def in_channel(app: Host, guild_id: hikari.Snowflakeish | None,
               channel_id: hikari.Snowflakeish | None) -> hikari.Permissions | None:
    """The bot's permissions in a channel of a server (or server-wide for ``channel_id`` None);
    None when the cache does not know enough to say (then only Discord's answer will tell).
    Remembered in the host's :class:`PermissionMemo` (``app.permission_memo``) when it has one."""
    memo: PermissionMemo | None = getattr(app, "permission_memo", None)
    if memo is None or guild_id is None:
        return _compute(app, guild_id, channel_id)
    key = (int(guild_id), None if channel_id is None else int(channel_id))
    if (known := memo.known.get(key)) is not None:
        return known
    have = _compute(app, guild_id, channel_id)
    if have is not None:
        memo.remember(key, have)
    return have


def _compute(app: Host, guild_id: hikari.Snowflakeish | None,
             channel_id: hikari.Snowflakeish | None) -> hikari.Permissions | None:
    me = app.bot.get_me()
    guild = app.bot.cache.get_guild(guild_id) if guild_id is not None else None
    if me is None or guild is None:
        return None
    if guild.owner_id == me.id:
        return P.all_permissions()
    member = app.bot.cache.get_member(guild.id, me.id)
    everyone = app.bot.cache.get_role(guild.id)
    if member is None or everyone is None:
        return None
    roles = [r for r in (app.bot.cache.get_role(i) for i in member.role_ids if i != guild.id) if r is not None]
    permissions = functools.reduce(operator.or_, (r.permissions for r in roles), everyone.permissions)
    if permissions & P.ADMINISTRATOR:
        return P.all_permissions()
    if channel_id is None:
        return permissions
    channel = app.bot.cache.get_guild_channel(channel_id) or app.bot.cache.get_thread(channel_id)
    if channel is not None and not isinstance(channel, hikari.PermissibleGuildChannel):
        channel = app.bot.cache.get_guild_channel(channel.parent_id) if channel.parent_id else None
    if not isinstance(channel, hikari.PermissibleGuildChannel):
        return None
    overwrites = channel.permission_overwrites
    if (base := overwrites.get(guild.id)) is not None:
        permissions = (permissions & ~base.deny) | base.allow
    allow = deny = P.NONE
    for role in roles:
        if (overwrite := overwrites.get(role.id)) is not None:
            allow, deny = allow | overwrite.allow, deny | overwrite.deny
    permissions = (permissions & ~deny) | allow
    if (mine := overwrites.get(me.id)) is not None:
        permissions = (permissions & ~mine.deny) | mine.allow
    return permissions


def missing(app: Host, guild_id: hikari.Snowflakeish | None, channel_id: hikari.Snowflakeish | None,
            needed: hikari.Permissions) -> hikari.Permissions:
    """Which of ``needed`` the bot lacks there: ``NONE`` in direct messages, and when the cache
    cannot tell (the bot then finds out from Discord's refusal, and falls back where it can)."""
    if guild_id is None or not needed:
        return P.NONE
    have = in_channel(app, guild_id, channel_id)
    return P.NONE if have is None else needed & ~have


def needs(app: Host) -> dict[hikari.Permissions, list[str]]:
    """Every permission the bot needs, with what needs it: :data:`BASE` and the registered commands."""
    found: dict[hikari.Permissions, list[str]] = {flag: [why] for flag, why in BASE.items()}
    for target in app.commands.all():
        commands: list[Command] = list(target.subcommands.values()) if isinstance(target, Group) else [target]
        for cmd in commands:
            for flag in P:
                if flag.name and flag & cmd.bot_permissions:
                    found.setdefault(flag, []).append(f"`{cmd.qualified_name}`")
    return found


def invite_permissions(app: Host) -> hikari.Permissions:
    """The permissions integer an invite should ask for: what :func:`needs` lists, nothing more."""
    return functools.reduce(operator.or_, needs(app), P.NONE)


def invite_url(application_id: hikari.Snowflakeish, permissions: hikari.Permissions) -> str:
    return (f"https://discord.com/oauth2/authorize?client_id={int(application_id)}"
            f"&scope=bot+applications.commands&permissions={int(permissions)}")


class GuildCheck:
    """Logs, once per server, which features will not work there for lack of which permission."""

    def __init__(self, app: Host) -> None:
        self.app = app
        self.checked: set[int] = set()

    async def on_guild(self, event: hikari.GuildAvailableEvent | hikari.GuildJoinEvent) -> None:
        if int(event.guild_id) in self.checked:
            return
        have = in_channel(self.app, event.guild_id, None)
        if have is None:
            return  # not cached yet: the next event for this server checks it
        self.checked.add(int(event.guild_id))
        lacking = [f"without {names(flag)}: {', '.join(users)}" for flag, users in needs(self.app).items()
                   if not have & flag]
        if lacking:
            log.warning("In the server %r (%s) the bot lacks permissions, so these will not work there: %s. "
                        "Grant them to the bot's role (see the invite URL in the README).",
                        event.guild.name, event.guild_id, "; ".join(lacking))
        else:
            log.info("In the server %r (%s) the bot has every permission its commands need.",
                     event.guild.name, event.guild_id)
