"""REST resources of a guild: the guild, its roles, its channels and a member — what hikari
fetches when its cache does not have them (permission checks, member lookups).
"""

from __future__ import annotations

from aiohttp import web

from framework.emulator.wire import DIGITS, Route, not_found, reply
from framework.emulator.world import World

_GATEWAY_ONLY = ("joined_at", "large", "unavailable", "member_count", "voice_states", "members", "channels",
                 "threads", "presences", "stage_instances", "guild_scheduled_events")
"""Fields of GUILD_CREATE that GET /guilds/{id} does not return."""


class GuildApi:
    """``/guilds/{id}`` and below."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        d = DIGITS
        return [
            ("GET", f"/guilds/{d}", self._get_guild),
            ("GET", f"/guilds/{d}/roles", self._get_roles),
            ("GET", f"/guilds/{d}/channels", self._get_guild_channels),
            ("GET", f"/guilds/{d}/members/{d}", self._get_member),
        ]

    async def _get_guild(self, request: web.Request, gid: str) -> web.Response:
        guild = self.world.guilds.get(int(gid))
        if guild is None:
            return not_found("Guild")
        data = guild.payload()
        for key in _GATEWAY_ONLY:
            data.pop(key)
        return reply(data)

    async def _get_roles(self, request: web.Request, gid: str) -> web.Response:
        guild = self.world.guilds.get(int(gid))
        return reply([r.payload() for r in guild.roles]) if guild else not_found("Guild")

    async def _get_guild_channels(self, request: web.Request, gid: str) -> web.Response:
        guild = self.world.guilds.get(int(gid))
        return reply([c.payload() for c in guild.channels]) if guild else not_found("Guild")

    async def _get_member(self, request: web.Request, gid: str, uid: str) -> web.Response:
        guild = self.world.guilds.get(int(gid))
        if guild is None or int(uid) not in guild.members:
            return not_found("Member")
        return reply(guild.members[int(uid)].payload())
