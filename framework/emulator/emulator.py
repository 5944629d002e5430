"""The :class:`DiscordEmulator` facade: one object that starts the local Discord (gateway and REST
on one aiohttp server), builds its world, acts as its users and injects faults.

Its parts, each in its own module: the records (``world.py``, ``state.py``), the gateway
(``gateway.py``), the REST API (``rest.py`` and the ``api_*.py`` resources), users' actions
(``actions.py``). Tests and the sandbox use only this class and the records it returns.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from framework.emulator.actions import UserActions
from framework.emulator.gateway import Gateway
from framework.emulator.permissions_calc import SPEAK, channel_permissions
from framework.emulator.rest import PREFIX, RestApi
from framework.emulator.rules import Refusal
from framework.emulator.state import Channel, Fault, Guild, Member, Role, User


class DiscordEmulator(UserActions):
    """A local Discord for one bot application."""

    def __init__(self, bot_name: str = "trainerbot", *, heartbeat_interval_ms: int = 41_250) -> None:
        super().__init__(bot_name, heartbeat_interval_ms)
        self._gateway = Gateway(self)
        self.dispatch = self._gateway.dispatch
        self._rest = RestApi(self)
        self._runner: web.AppRunner | None = None

    # -- lifecycle
    async def start(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        """Serve on a free port of 127.0.0.1; with ``ssl_context``, over HTTPS and WSS (a bot then
        pays a TLS handshake per new connection, as on Discord)."""
        app = web.Application(client_max_size=512 * 1024 * 1024, middlewares=[self._rest.middleware])
        app.router.add_get("/ws", self._gateway.handle)
        app.router.add_get("/attachments/{id}/{name}", self._rest.serve_attachment)
        app.router.add_route("*", PREFIX + "/{tail:.*}", self._rest.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        self.tls = ssl_context is not None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        await self._gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- building the world (a connected bot is told through the gateway, as on Discord)
    def create_user(self, name: str, *, bot: bool = False, id: int | None = None) -> User:
        """``id``: restore a user with a known id (a persisted sandbox world); new ones come after it."""
        user = User(self._given(id), name, bot=bot)
        self.users[user.id] = user
        return user

    def create_guild(self, name: str, *, owner: User | None = None, shard: tuple[int, int] | None = None,
                     id: int | None = None, everyone_id: int | None = None,
                     bot_permissions: int | None = None) -> Guild:
        """``shard=(shard_id, shard_count)``: an id whose events that shard receives ((id >> 22) % count).
        ``id``: restore a guild with a known id (``everyone_id`` defaults to it, as on Discord).
        ``bot_permissions``: the @everyone role's permissions, so what the bot (which has no role) may do
        server-wide; members without roles get the same (give them roles for more)."""
        guild_id = self._given(id)
        if shard is not None:
            stamp = guild_id >> 22
            stamp += (shard[0] - stamp) % shard[1]
            guild_id = self._last_id = max(guild_id, stamp << 22)
        guild = Guild(guild_id, name, (owner or self.application_owner).id)
        everyone = 0x6BFFFEC1 if bot_permissions is None else bot_permissions
        guild.roles.append(Role(everyone_id or guild.id, guild.id, "@everyone", position=0,
                                permissions=str(everyone)))
        self.guilds[guild.id] = guild
        guild.members[self.bot_user.id] = Member(self.bot_user, guild.id)
        if self._gateway.session_id is not None:
            self._gateway.dispatch("GUILD_CREATE", guild.payload())
        return guild

    def create_role(self, guild: Guild, name: str, *, permissions: int = 0, id: int | None = None) -> Role:
        role = Role(self._given(id), guild.id, name, position=len(guild.roles), permissions=str(permissions))
        guild.roles.append(role)
        if self._gateway.session_id is not None:
            self._gateway.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.payload()})
        return role

    def create_channel(self, guild: Guild, name: str, *, kind: str = "text", user_limit: int = 0,
                       overwrites: Sequence[dict[str, Any]] = (), id: int | None = None) -> Channel:
        channel = Channel(self._given(id), name, kind, guild.id, position=len(guild.channels), user_limit=user_limit,
                          overwrites=[{"allow": "0", "deny": "0", **o, "id": str(o["id"])} for o in overwrites])
        guild.channels.append(channel)
        self.channels[channel.id] = channel
        if self._gateway.session_id is not None:
            self._gateway.dispatch("CHANNEL_CREATE", channel.payload())
        return channel

    def update_role(self, role: Role, *, permissions: int) -> None:
        """Change a role's permissions, as a server admin would (``GUILD_ROLE_UPDATE``)."""
        role.permissions = str(permissions)
        if self._gateway.session_id is not None:
            self._gateway.dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(role.guild_id), "role": role.payload()})

    def set_overwrite(self, channel: Channel, target: User | Role, *, allow: int = 0, deny: int = 0,
                      announce: bool = True) -> None:
        """Set the channel's permission overwrite for a member or a role (the bot: ``emu.bot_user``).
        ``announce=False`` changes it without CHANNEL_UPDATE, so the bot's cache is stale and only
        Discord's refusal tells it (as after an event the bot missed)."""
        kind = 0 if isinstance(target, Role) else 1
        channel.overwrites = [o for o in channel.overwrites if int(o["id"]) != target.id]
        channel.overwrites.append({"id": str(target.id), "type": kind, "allow": str(allow), "deny": str(deny)})
        if announce and self._gateway.session_id is not None:
            self._gateway.dispatch("CHANNEL_UPDATE", channel.payload())

    # -- voice: who is heard (the local voice server asks; ``voice_server.speech = emu``)
    def may_speak(self, guild_id: int, user_id: int) -> bool:
        """Whether the SFU relays ``user_id``'s audio in its call: not without SPEAK in the voice channel its
        voice state is in (docs: topics/permissions#permissions-for-voice-channels; resources/voice#voice-state-object,
        ``suppress``). A user the emulator has no voice state for is not checked. Rule ``permission.speak``."""
        guild = self.guilds.get(guild_id)
        state = guild.voice_states.get(user_id) if guild is not None else None
        if guild is None or state is None or not state.get("channel_id") or not self.rules.on("permission.speak"):
            return True
        channel = self.channels.get(int(state["channel_id"]))
        return channel is None or bool(channel_permissions(guild, user_id, channel) & SPEAK)

    def refuse_speech(self, guild_id: int, user_id: int) -> None:
        """Record that a member's audio was not relayed (once per voice session, by the voice server)."""
        self.rules.refusals.append(Refusal("permission.speak", "UDP", f"RTP guild={guild_id} user={user_id}", 403,
                                           50013, "Missing Permissions"))

    def add_member(self, guild: Guild, user: User, *, roles: Sequence[Role] = ()) -> Member:
        member = Member(user, guild.id, list(roles))
        guild.members[user.id] = member
        if self._gateway.session_id is not None:
            self._gateway.dispatch("GUILD_MEMBER_ADD", {**member.payload(), "guild_id": str(guild.id)})
        return member

    def shard_gateway(self, shards: int, *, max_concurrency: int = 1, identify_window: float = 5.0) -> None:
        """Recommend ``shards`` shards (``GET /gateway/bot``) and rate-limit IDENTIFY as Discord does."""
        self.recommended_shards, self.max_concurrency, self.identify_window = shards, max_concurrency, identify_window

    @property
    def gateway_shards(self) -> dict[int, int]:
        """Shard id -> shard count of each identified session (as IDENTIFY said)."""
        return {i: s.shard_count for i, s in self._gateway.sessions.items()}

    @property
    def identified(self) -> list[tuple[int, int]]:
        """``(shard_id, shard_count)`` of every accepted IDENTIFY; refused ones are counted apart."""
        return list(self._gateway.identified)

    # -- the strict rules (rules.py)
    def relax(self, rule: str) -> None:
        """Stop enforcing one strict rule (or a family: ``"message"``) for this emulator; see ``rules.py``."""
        self.rules.relax(rule)

    @property
    def refusals(self) -> list[Refusal]:
        """Every request a strict rule refused, in order."""
        return list(self.rules.refusals)

    def set_global_rate_limit(self, limit: int, period: float = 1.0) -> None:
        """Lower the global rate limit (Discord: 50 requests a second) so a test can meet it cheaply."""
        self._rest.limiter.global_limit, self._rest.limiter.global_period = limit, period

    @property
    def rate_limited_requests(self) -> int:
        """How many 429s the emulator's own rate limiter sent (injected faults are not counted)."""
        return self.rules.rate_limited

    # -- faults
    def inject_rest_fault(self, *, method: str = "*", path_pattern: str = ".*", status: int = 429,
                          retry_after: float = 0.1, count: int = 1) -> None:
        """The next ``count`` matching REST requests fail with ``status`` (429 carries retry_after)."""
        self.faults.append(Fault(method.upper(), re.compile(path_pattern), status, retry_after, count))

    async def drop_gateway(self, *, code: int = 4000) -> None:
        """Close the bot's gateway socket; hikari reconnects and RESUMEs the session."""
        await self._gateway.drop(code)

    async def wait_resumed(self, timeout: float = 15.0) -> None:
        gateway = self._gateway
        resumes = gateway.resumes
        await self.wait_until(lambda: gateway.resumes > resumes or (gateway.connection is not None and gateway.resumes),
                              timeout, what="the bot to resume")

    async def wait_connected(self, timeout: float = 15.0) -> None:
        await self.wait_until(lambda: self._gateway.connection is not None and self._gateway.session_id is not None,
                              timeout, what="the bot to connect")
