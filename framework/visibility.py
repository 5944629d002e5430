"""Privacy scopes: who may see, and act on, text the bot keeps from a place (a chat answer and its
prompt, a correction of it, feedback on it).

- Text from a direct message belongs to that DM: only its participant and the bot's owners may see
  it, and only in a DM (never in a server channel, whose other readers are not in the DM). It can
  be acted on (corrected, given feedback) only in that DM.
- Text from a server channel may be seen, and acted on, by whoever may view that channel
  (``VIEW_CHANNEL`` computed from the bot's cache, REST where the cache lacks something): the
  roles, the administrator bit, then the channel's overwrites for @everyone, the roles and the member.

Corrections and feedback (and any plugin keeping such text) ask :func:`require_may_act` before they
store something about an answer, and filter listings and exports through an :class:`Audience`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import hikari

from framework.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from framework.commands import Context
    from framework.host import Host

log = logging.getLogger(__name__)


async def _guild_owner(app: Host, guild_id: int) -> int | None:
    guild = app.bot.cache.get_guild(guild_id) or await app.bot.rest.fetch_guild(guild_id)
    return int(guild.owner_id)


def _own_member(ctx: Context, guild_id: int) -> hikari.Member | None:
    """The member the command's message or interaction carries, when it is of ``guild_id``. Discord
    sends a bot without the Presence intent no member list (only itself and the members in voice), so
    the author is rarely in hikari's cache; this saves a REST lookup per action and listing."""
    return ctx.member if ctx.guild_id is not None and int(ctx.guild_id) == int(guild_id) else None


async def channel_permissions(app: Host, guild_id: int, channel_id: int, user_id: int,
                              member: hikari.Member | None = None) -> hikari.Permissions:
    """The user's permissions in a server channel (none if they are not a member, or the channel
    is not one of that server's), as Discord computes them. ``member``: the user's member object
    when the caller has it (from the event); else the cache, else REST."""
    rest, cache = app.bot.rest, app.bot.cache
    try:
        channel = cache.get_guild_channel(channel_id) or await rest.fetch_channel(channel_id)
        if isinstance(channel, hikari.GuildThreadChannel):  # a thread shows what its channel's viewers see
            channel = cache.get_guild_channel(channel.parent_id) or await rest.fetch_channel(channel.parent_id)
        if not isinstance(channel, hikari.PermissibleGuildChannel) or int(channel.guild_id) != int(guild_id):
            return hikari.Permissions.NONE
        if await _guild_owner(app, guild_id) == int(user_id):
            return hikari.Permissions.all_permissions()
        if member is None or int(member.id) != int(user_id):
            member = cache.get_member(guild_id, user_id) or await rest.fetch_member(guild_id, user_id)
        cached = cache.get_roles_view_for_guild(guild_id)
        roles = {int(r.id): r for r in (cached.values() if cached else await rest.fetch_roles(guild_id))}
    except (hikari.NotFoundError, hikari.ForbiddenError):
        return hikari.Permissions.NONE
    role_ids = {int(guild_id), *(int(r) for r in member.role_ids)}
    base = hikari.Permissions.NONE
    for role_id in role_ids:
        if role_id in roles:
            base |= roles[role_id].permissions
    if base & hikari.Permissions.ADMINISTRATOR:
        return hikari.Permissions.all_permissions()
    overwrites = channel.permission_overwrites
    if (everyone := overwrites.get(hikari.Snowflake(guild_id))) is not None:
        base = (base & ~everyone.deny) | everyone.allow
    allow = deny = hikari.Permissions.NONE
    for role_id in role_ids - {int(guild_id)}:
        if (overwrite := overwrites.get(hikari.Snowflake(role_id))) is not None:
            allow, deny = allow | overwrite.allow, deny | overwrite.deny
    base = (base & ~deny) | allow
    if (own := overwrites.get(hikari.Snowflake(user_id))) is not None:
        base = (base & ~own.deny) | own.allow
    return base


async def can_view(app: Host, guild_id: int, channel_id: int, user_id: int,
                   member: hikari.Member | None = None) -> bool:
    """Whether the user may read the server channel (``VIEW_CHANNEL``); ``member`` as for
    :func:`channel_permissions`."""
    have = await channel_permissions(app, guild_id, channel_id, user_id, member)
    return bool(have & hikari.Permissions.VIEW_CHANNEL)


async def require_may_act(ctx: Context, found: dict[str, Any], action: str) -> None:
    """Refuse to act on an answer (``bot_answer``'s dict) from here: one in a DM only in that DM,
    one in a server channel only by someone who may view it. ``action`` completes the refusal:
    "it can be corrected", "feedback on it can be given". An answer without a recorded place
    (another plugin's) has no scope to keep."""
    channel_id, guild_id = found.get("channel_id"), found.get("guild_id")
    if channel_id is None:
        return
    if guild_id is None:
        if int(ctx.channel_id) != int(channel_id):
            log.warning("user %s refused: acting on a DM answer from channel %s", ctx.author.id, ctx.channel_id)
            raise UserError(f"That answer was given in a direct message; {action} only there.")
        return
    if not await can_view(ctx.app, int(guild_id), int(channel_id), int(ctx.author.id), _own_member(ctx, guild_id)):
        log.warning("user %s refused: acting on an answer in channel %s they cannot view", ctx.author.id, channel_id)
        raise UserError(f"That answer is in a channel you cannot see; {action} only by those who can.")


Place = tuple[int | None, int | None, Iterable[int | None]]
"""Where a row's text comes from: (guild id, channel id, the participants of a DM)."""


class Audience:
    """Who is shown a listing, and where: decides row by row whether its text may be shown (each
    channel's permissions computed once per listing)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.viewer = int(ctx.author.id)
        self.in_dm = ctx.guild_id is None
        self.owner = ctx.app.permissions.is_owner(self.viewer)
        self._channels: dict[tuple[int, int], bool] = {}
        self.hidden = 0
        """How many rows were left out (for :meth:`note`)."""

    async def may_see(self, guild_id: int | None, channel_id: int | None, participants: Iterable[int | None]) -> bool:
        """Whether text from that place may be shown here: a DM's only in a DM, to its participants
        and the owners; a server channel's to those who may view it. No place: not scoped."""
        if channel_id is None:
            return True
        if guild_id is None:
            return self.in_dm and (self.owner or self.viewer in {int(p) for p in participants if p is not None})
        key = (int(guild_id), int(channel_id))
        if key not in self._channels:
            self._channels[key] = await can_view(self.ctx.app, *key, self.viewer, _own_member(self.ctx, key[0]))
        return self._channels[key]

    async def rows(self, query: Any, places: Callable[[Any], Iterable[Place]], limit: int | None = None) -> list[Any]:
        """The rows of ``query`` whose every place may be seen here, in its order, at most ``limit``
        (read a page at a time, so hidden rows do not shorten a listing)."""
        kept: list[Any] = []
        offset = 0
        while limit is None or len(kept) < limit:
            async with self.ctx.app.storage.connect() as conn:
                page = (await conn.execute(query.limit(PAGE).offset(offset))).all()
            for row in page:
                if all([await self.may_see(*place) for place in places(row)]):
                    kept.append(row)
                    if limit is not None and len(kept) >= limit:
                        break
                else:
                    self.hidden += 1
            if len(page) < PAGE:
                break
            offset += PAGE
        return kept

    def note(self) -> str:
        """A line saying that rows were left out, or ``""``."""
        if not self.hidden:
            return ""
        return (f"\n({self.hidden} not shown here: from direct messages, or from channels you cannot see. A direct "
                "message's are listed only in a direct message with me.)")


PAGE = 200
"""Rows read at a time by :meth:`Audience.rows`."""
