"""A local Discord: the part of the REST API v10 and the gateway that a hikari bot and a
lightbulb 3 client use, served by aiohttp on 127.0.0.1 over real sockets.

    emu = DiscordEmulator(); await emu.start()
    bot = hikari.GatewayBot(emu.token, rest_url=emu.rest_url)      # the real bot connects to it
    guild = emu.create_guild("Test"); text = emu.create_channel(guild, "general")
    alice = emu.create_user("alice"); emu.add_member(guild, alice)
    sent = await emu.send_message(text, alice, "!hi")
    reply = await emu.wait_for_message(channel=text, predicate=lambda m: int(m.id) > int(sent.id))

It records what the bot sent (content, embeds, files, ephemeral flag, edits), answers interaction
callbacks, serves attachments, and injects faults: a dropped gateway socket, 429s and 5xx.
Unknown routes answer 404 and are listed in ``unhandled_requests``.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import inspect
import json
import logging
import re
import secrets
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

DISCORD_EPOCH_MS = 1_420_070_400_000
ALL_PERMISSIONS = str((1 << 50) - 1)
EPHEMERAL = 1 << 6
_JSON_KEY = web.RequestKey("tb_json", object)
OPTION_TYPES = {"subcommand": 1, "group": 2, "string": 3, "integer": 4, "boolean": 5, "user": 6, "channel": 7,
                "role": 8, "mentionable": 9, "number": 10, "attachment": 11}


def make_token(bot_id: int) -> str:
    """A token shaped like Discord's: base64 of the bot id, then two dot-separated parts."""
    head = base64.b64encode(str(bot_id).encode()).decode().rstrip("=")
    return f"{head}.{secrets.token_urlsafe(5)}.{secrets.token_urlsafe(27)}"


def _iso(ts: float | None = None) -> str:
    return datetime.datetime.fromtimestamp(ts or time.time(), datetime.timezone.utc).isoformat()


# ----------------------------------------------------------------------------- world objects


@dataclasses.dataclass(eq=False)
class User:
    id: int
    username: str
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "username": self.username, "discriminator": "0", "global_name": None,
                "avatar": None, "bot": self.bot, "system": False, "public_flags": 0, "flags": 0,
                "banner": None, "accent_color": None}


@dataclasses.dataclass(eq=False)
class Role:
    id: int
    guild_id: int
    name: str
    position: int = 1
    permissions: str = "0"

    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "name": self.name, "color": 0, "hoist": False, "icon": None,
                "unicode_emoji": None, "position": self.position, "permissions": self.permissions,
                "managed": False, "mentionable": False, "flags": 0}


@dataclasses.dataclass(eq=False)
class Member:
    user: User
    guild_id: int
    roles: list[Role] = dataclasses.field(default_factory=list)
    joined_at: str = dataclasses.field(default_factory=_iso)

    def payload(self, with_user: bool = True) -> dict[str, Any]:
        data = {"nick": None, "avatar": None, "banner": None, "roles": [str(r.id) for r in self.roles],
                "joined_at": self.joined_at, "premium_since": None, "deaf": False, "mute": False, "flags": 0,
                "pending": False, "communication_disabled_until": None}
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclasses.dataclass(eq=False)
class Channel:
    id: int
    name: str
    kind: str = "text"
    """``text``, ``voice`` or ``dm``."""
    guild_id: int | None = None
    recipient: User | None = None
    position: int = 0
    user_limit: int = 0
    overwrites: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """Permission overwrites as Discord sends them: ``{"id", "type" (0 role, 1 member), "allow", "deny"}``."""

    def payload(self) -> dict[str, Any]:
        if self.kind == "dm":
            assert self.recipient is not None
            return {"id": str(self.id), "type": 1, "recipients": [self.recipient.payload()], "last_message_id": None}
        data: dict[str, Any] = {"id": str(self.id), "type": 0 if self.kind == "text" else 2, "guild_id": str(self.guild_id),
                                "name": self.name, "position": self.position, "permission_overwrites": self.overwrites,
                                "nsfw": False, "parent_id": None, "rate_limit_per_user": 0, "flags": 0,
                                "last_message_id": None}
        if self.kind == "text":
            data.update(topic=None, last_pin_timestamp=None)
        else:
            data.update(bitrate=64000, user_limit=self.user_limit, rtc_region=None, video_quality_mode=1)
        return data


@dataclasses.dataclass(eq=False)
class Guild:
    id: int
    name: str
    owner_id: int
    channels: list[Channel] = dataclasses.field(default_factory=list)
    members: dict[int, Member] = dataclasses.field(default_factory=dict)
    roles: list[Role] = dataclasses.field(default_factory=list)
    voice_states: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id), "name": self.name, "icon": None, "icon_hash": None, "splash": None,
            "discovery_splash": None, "owner_id": str(self.owner_id), "afk_channel_id": None, "afk_timeout": 300,
            "widget_enabled": False, "verification_level": 0, "default_message_notifications": 0,
            "explicit_content_filter": 0, "roles": [r.payload() for r in self.roles], "emojis": [], "features": [],
            "mfa_level": 0, "application_id": None, "system_channel_id": None, "system_channel_flags": 0,
            "rules_channel_id": None, "max_presences": None, "max_members": 250000, "vanity_url_code": None,
            "description": None, "banner": None, "premium_tier": 0, "premium_subscription_count": 0,
            "preferred_locale": "en-US", "public_updates_channel_id": None, "max_video_channel_users": 25,
            "nsfw_level": 0, "stickers": [], "premium_progress_bar_enabled": False,
            "safety_alerts_channel_id": None, "joined_at": _iso(), "large": False, "unavailable": False,
            "member_count": len(self.members), "voice_states": list(self.voice_states.values()),
            "members": [m.payload() for m in self.members.values()],
            "channels": [c.payload() for c in self.channels], "threads": [], "presences": [],
            "stage_instances": [], "guild_scheduled_events": [],
        }


@dataclasses.dataclass(eq=False)
class Attachment:
    id: int
    filename: str
    data: bytes
    content_type: str | None
    url: str = ""
    duration_secs: float | None = None
    waveform: str | None = None

    def payload(self) -> dict[str, Any]:
        data = {"id": str(self.id), "filename": self.filename, "size": len(self.data), "url": self.url,
                "proxy_url": self.url, "content_type": self.content_type, "ephemeral": False, "flags": 0}
        if self.duration_secs is not None:
            data.update(duration_secs=self.duration_secs, waveform=self.waveform or "")
        return data


@dataclasses.dataclass
class FileSpec:
    """A file a test user attaches (``emu.file(name, data, content_type)``)."""

    filename: str
    data: bytes
    content_type: str | None = None
    duration_secs: float | None = None


@dataclasses.dataclass(eq=False)
class Message:
    """A message in a channel: sent by a user (injected) or by the bot (recorded)."""

    id: int
    channel_id: int
    guild_id: int | None
    author: User
    content: str
    attachments: list[Attachment] = dataclasses.field(default_factory=list)
    embeds: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    flags: int = 0
    reference: int | None = None
    interaction_id: int | None = None
    placeholder: bool = False
    """A deferred interaction response that has not been edited yet ("thinking…")."""
    deleted: bool = False
    edits: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """Earlier versions (content, attachments, embeds) of an edited message, oldest first."""
    timestamp: float = dataclasses.field(default_factory=time.time)
    edited_at: float | None = None
    reactions: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def from_bot(self) -> bool:
        return self.author.bot


SentMessage = Message


@dataclasses.dataclass(eq=False)
class Interaction:
    id: int
    token: str
    channel: Channel
    user: User
    kind: int
    data: dict[str, Any]
    messages: list[Message] = dataclasses.field(default_factory=list)
    callbacks: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    emulator: DiscordEmulator | None = None

    @property
    def responses(self) -> list[Message]:
        return [m for m in self.messages if not m.placeholder and not m.deleted]

    @property
    def followups(self) -> list[Message]:
        return [m for m in self.messages[1:] if not m.deleted]

    @property
    def ephemeral(self) -> bool:
        return bool(self.responses and self.responses[0].ephemeral)

    async def wait_response(self, timeout: float = 10.0) -> Message:
        """The first visible response: the original (when answered or edited after a deferral)
        or the first followup."""
        assert self.emulator is not None
        return await self.emulator.wait_until(lambda: self.responses[0] if self.responses else None, timeout,
                                              what=f"a response to interaction {self.id}")

    async def wait_callback(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.emulator is not None
        return await self.emulator.wait_until(lambda: self.callbacks[0] if self.callbacks else None, timeout,
                                              what=f"a callback to interaction {self.id}")


@dataclasses.dataclass
class RecordedRequest:
    method: str
    path: str
    json: Any
    status: int
    timestamp: float


@dataclasses.dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    retry_after: float
    count: int


class _Connection:
    """One gateway websocket: frames go out through a queue, in order, compressed if asked."""

    def __init__(self, ws: web.WebSocketResponse, compress: bool) -> None:
        self.ws = ws
        self.zlib = zlib.compressobj() if compress else None
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def pump(self) -> None:
        while (payload := await self.queue.get()) is not None:
            raw = json.dumps(payload)
            try:
                if self.zlib is not None:
                    await self.ws.send_bytes(self.zlib.compress(raw.encode()) + self.zlib.flush(zlib.Z_SYNC_FLUSH))
                else:
                    await self.ws.send_str(raw)
            except (ConnectionResetError, RuntimeError):
                return


# ----------------------------------------------------------------------------- the emulator


class DiscordEmulator:
    """A local Discord for one bot application."""

    def __init__(self, bot_name: str = "trainerbot", *, heartbeat_interval_ms: int = 41_250) -> None:
        self._last_id = 0
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.bot_user = User(self._snowflake(), bot_name, bot=True)
        self.application_id = self.bot_user.id
        self.application_owner = User(self._snowflake(), "owner")
        self.token = make_token(self.bot_user.id)
        self.users: dict[int, User] = {self.bot_user.id: self.bot_user, self.application_owner.id: self.application_owner}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.attachments: dict[int, Attachment] = {}
        self.interactions: dict[int, Interaction] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.requests: list[RecordedRequest] = []
        self.rest_connections: set[Any] = set()
        """Client address (host, port) of every TCP connection that carried a REST request."""
        self.unhandled_requests: list[str] = []
        self.voice_requests: list[dict[str, Any]] = []
        self.voice_endpoint: str | Callable[[int, int | None], str] = "127.0.0.1:0"
        self.faults: list[Fault] = []
        self._connection: _Connection | None = None
        self._session_id: str | None = None
        self._seq = 0
        self._buffer: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._resumes = 0
        self._identifies = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- ids and addresses
    def _snowflake(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(candidate, self._last_id + 1)
        return self._last_id

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"{self.base_url}/api/v10"

    # -- lifecycle
    async def start(self) -> None:
        app = web.Application(client_max_size=512 * 1024 * 1024, middlewares=[self._middleware])
        app.router.add_get("/ws", self._gateway)
        app.router.add_get("/attachments/{id}/{name}", self._serve_attachment)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.queue.put(None)
            await self._connection.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- waiting
    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _touch(self) -> None:
        asyncio.get_running_loop().create_task(self._notify())

    async def wait_until(self, probe: Callable[[], Any], timeout: float = 10.0, *, what: str = "a condition") -> Any:
        """Wait until ``probe()`` returns something truthy (re-checked on every change); return it."""
        deadline = asyncio.get_running_loop().time() + timeout
        async with self._changed:
            while not (result := probe()):
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    sent = [(m.channel_id, m.content[:80], m.ephemeral) for m in self.sent_messages()][-8:]
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; the bot's last "
                                         f"messages (channel, content, ephemeral): {sent}")
                try:
                    # Conditions outside the emulator (the bot's cache) change silently: re-check often.
                    await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
                except asyncio.TimeoutError:
                    pass
            return result

    async def wait_for_message(self, *, channel: Channel | None = None,
                               predicate: Callable[[Message], bool] | None = None, timeout: float = 10.0) -> Message:
        """The first bot-sent (non-placeholder, non-deleted) message matching channel and predicate."""
        checked: set[int] = set()

        def probe() -> Message | None:
            for message in self.sent_messages(channel):
                if message.id in checked:
                    continue
                checked.add(message.id)
                if predicate is None or predicate(message):
                    return message
            return None

        return await self.wait_until(probe, timeout, what="a message from the bot")

    def sent_messages(self, channel: Channel | None = None) -> list[Message]:
        """What the bot sent, oldest first (deferred placeholders not yet answered excluded)."""
        return [m for m in self.messages.values() if m.from_bot and not m.placeholder and not m.deleted
                and (channel is None or m.channel_id == channel.id)]

    def synced_commands(self, guild: Guild | None = None) -> list[dict[str, Any]]:
        return list(self.commands.get(guild.id if guild else None, []))

    # -- building the world
    def create_user(self, name: str, *, bot: bool = False) -> User:
        user = User(self._snowflake(), name, bot=bot)
        self.users[user.id] = user
        return user

    def create_guild(self, name: str, *, owner: User | None = None) -> Guild:
        guild = Guild(self._snowflake(), name, (owner or self.application_owner).id)
        guild.roles.append(Role(guild.id, guild.id, "@everyone", position=0, permissions=str(0x6BFFFEC1)))
        self.guilds[guild.id] = guild
        guild.members[self.bot_user.id] = Member(self.bot_user, guild.id)
        if self._session_id is not None:
            self._dispatch("GUILD_CREATE", guild.payload())
        return guild

    def create_role(self, guild: Guild, name: str, *, permissions: int = 0) -> Role:
        role = Role(self._snowflake(), guild.id, name, position=len(guild.roles), permissions=str(permissions))
        guild.roles.append(role)
        if self._session_id is not None:
            self._dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.payload()})
        return role

    def create_channel(self, guild: Guild, name: str, *, kind: str = "text", user_limit: int = 0,
                       overwrites: Sequence[dict[str, Any]] = ()) -> Channel:
        channel = Channel(self._snowflake(), name, kind, guild.id, position=len(guild.channels), user_limit=user_limit,
                          overwrites=[{"allow": "0", "deny": "0", **o, "id": str(o["id"])} for o in overwrites])
        guild.channels.append(channel)
        self.channels[channel.id] = channel
        if self._session_id is not None:
            self._dispatch("CHANNEL_CREATE", channel.payload())
        return channel

    def create_dm(self, user: User) -> Channel:
        for channel in self.channels.values():
            if channel.kind == "dm" and channel.recipient is user:
                return channel
        channel = Channel(self._snowflake(), user.username, "dm", recipient=user)
        self.channels[channel.id] = channel
        return channel

    def add_member(self, guild: Guild, user: User, *, roles: Sequence[Role] = ()) -> Member:
        member = Member(user, guild.id, list(roles))
        guild.members[user.id] = member
        if self._session_id is not None:
            self._dispatch("GUILD_MEMBER_ADD", {**member.payload(), "guild_id": str(guild.id)})
        return member

    def file(self, filename: str, data: bytes, content_type: str | None = None, *,
             duration_secs: float | None = None) -> FileSpec:
        return FileSpec(filename, data, content_type, duration_secs)

    def _store_attachment(self, spec: FileSpec) -> Attachment:
        att = Attachment(self._snowflake(), spec.filename, spec.data, spec.content_type,
                         duration_secs=spec.duration_secs)
        att.url = f"{self.base_url}/attachments/{att.id}/{spec.filename}"
        self.attachments[att.id] = att
        return att

    def _guild_of(self, channel: Channel) -> Guild | None:
        return self.guilds.get(channel.guild_id) if channel.guild_id else None

    # -- what users do
    def message_payload(self, message: Message) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(message.id), "channel_id": str(message.channel_id), "author": message.author.payload(),
            "content": message.content, "timestamp": _iso(message.timestamp),
            "edited_timestamp": _iso(message.edited_at) if message.edited_at else None, "tts": False,
            "mention_everyone": False, "mentions": [self.users[int(u)].payload() for u in
                                                    re.findall(r"<@!?(\d+)>", message.content) if int(u) in self.users],
            "mention_roles": [], "mention_channels": [],
            "attachments": [a.payload() for a in message.attachments], "embeds": message.embeds,
            "reactions": [], "pinned": False, "type": 19 if message.reference else 0, "flags": message.flags,
            "components": [], "sticker_items": [],
        }
        if message.guild_id:
            data["guild_id"] = str(message.guild_id)
            guild = self.guilds[message.guild_id]
            if message.author.id in guild.members:
                data["member"] = guild.members[message.author.id].payload(with_user=False)
        if message.reference:
            data["message_reference"] = {"message_id": str(message.reference), "channel_id": str(message.channel_id),
                                         "type": 0, **({"guild_id": str(message.guild_id)} if message.guild_id else {})}
            ref = self.messages.get(message.reference)
            if ref is not None:
                data["referenced_message"] = self.message_payload(ref) if not ref.reference else None
        if message.interaction_id:
            data["application_id"] = str(self.application_id)
            data["webhook_id"] = str(self.application_id)
        return data

    async def send_message(self, channel: Channel, author: User, content: str, *,
                           attachments: Sequence[FileSpec] = (), reference: Message | int | None = None,
                           flags: int = 0) -> Message:
        """A user posts a message: the bot receives MESSAGE_CREATE."""
        ref = reference.id if isinstance(reference, Message) else reference
        message = Message(self._snowflake(), channel.id, channel.guild_id, author, content,
                          [self._store_attachment(a) for a in attachments], flags=flags, reference=ref)
        self.messages[message.id] = message
        self._dispatch("MESSAGE_CREATE", self.message_payload(message))
        return message

    async def add_reaction(self, message: Message, user: User, emoji: str) -> None:
        message.reactions.append((user.id, emoji))
        data: dict[str, Any] = {"user_id": str(user.id), "channel_id": str(message.channel_id),
                                "message_id": str(message.id), "emoji": {"id": None, "name": emoji},
                                "message_author_id": str(message.author.id), "burst": False, "type": 0}
        if message.guild_id:
            data["guild_id"] = str(message.guild_id)
            data["member"] = self.guilds[message.guild_id].members[user.id].payload()
        self._dispatch("MESSAGE_REACTION_ADD", data)

    async def remove_reaction(self, message: Message, user: User, emoji: str) -> None:
        """A user takes a reaction back: the bot receives MESSAGE_REACTION_REMOVE."""
        if (user.id, emoji) in message.reactions:
            message.reactions.remove((user.id, emoji))
        data: dict[str, Any] = {"user_id": str(user.id), "channel_id": str(message.channel_id),
                                "message_id": str(message.id), "emoji": {"id": None, "name": emoji},
                                "burst": False, "type": 0}
        if message.guild_id:
            data["guild_id"] = str(message.guild_id)
        self._dispatch("MESSAGE_REACTION_REMOVE", data)

    async def set_voice_state(self, guild: Guild, user: User, channel: Channel | None) -> None:
        state = self._voice_state(guild, user, channel, session_id=secrets.token_hex(16))
        self._dispatch("VOICE_STATE_UPDATE", state)

    async def move_voice_server(self, guild: Guild, endpoint: str) -> None:
        """Discord moves the bot's call to another voice server: VOICE_SERVER_UPDATE with a new token."""
        self._dispatch("VOICE_SERVER_UPDATE", {"token": secrets.token_hex(8), "guild_id": str(guild.id),
                                               "endpoint": endpoint})

    def _voice_state(self, guild: Guild, user: User, channel: Channel | None, *, session_id: str) -> dict[str, Any]:
        state = {"guild_id": str(guild.id), "channel_id": str(channel.id) if channel else None,
                 "user_id": str(user.id), "member": guild.members[user.id].payload() if user.id in guild.members else None,
                 "session_id": session_id, "deaf": False, "mute": False, "self_deaf": False, "self_mute": False,
                 "self_stream": False, "self_video": False, "suppress": False, "request_to_speak_timestamp": None}
        if channel is None:
            guild.voice_states.pop(user.id, None)
        else:
            guild.voice_states[user.id] = state
        return state

    def _resolve_option(self, value: Any, kind: int, resolved: dict[str, dict[str, Any]],
                        channel: Channel) -> Any:
        if kind == 11:
            spec = value if isinstance(value, FileSpec) else FileSpec(*value)
            att = self._store_attachment(spec)
            resolved.setdefault("attachments", {})[str(att.id)] = att.payload()
            return str(att.id)
        if kind == 6:
            user = value if isinstance(value, User) else self.users[int(value)]
            resolved.setdefault("users", {})[str(user.id)] = user.payload()
            guild = self._guild_of(channel)
            if guild and user.id in guild.members:
                resolved.setdefault("members", {})[str(user.id)] = {
                    **guild.members[user.id].payload(with_user=False), "permissions": ALL_PERMISSIONS}
            return str(user.id)
        if kind == 7:
            ch = value if isinstance(value, Channel) else self.channels[int(value)]
            resolved.setdefault("channels", {})[str(ch.id)] = {**ch.payload(), "permissions": ALL_PERMISSIONS}
            return str(ch.id)
        if kind == 8:
            role = value if isinstance(value, Role) else next(
                r for g in self.guilds.values() for r in g.roles if r.id == int(value))
            resolved.setdefault("roles", {})[str(role.id)] = role.payload()
            return str(role.id)
        return value

    def _find_command(self, channel: Channel, name: str, kind: int = 1) -> dict[str, Any]:
        for scope in (channel.guild_id, None):
            for cmd in self.commands.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == kind:
                    return cmd
        known = sorted({c["name"] for cmds in self.commands.values() for c in cmds})
        raise AssertionError(f"no synced command {name!r}; synced: {known}")

    def _interaction(self, channel: Channel, user: User, kind: int, data: dict[str, Any]) -> Interaction:
        inter = Interaction(self._snowflake(), secrets.token_urlsafe(24), channel, user, kind, data, emulator=self)
        self.interactions[inter.id] = inter
        payload: dict[str, Any] = {
            "id": str(inter.id), "application_id": str(self.application_id), "type": kind, "data": data,
            "channel_id": str(channel.id), "channel": {**channel.payload(), "permissions": ALL_PERMISSIONS},
            "token": inter.token, "version": 1, "app_permissions": ALL_PERMISSIONS, "locale": "en-US",
            "entitlements": [], "attachment_size_limit": 10 * 1024 * 1024,
        }
        guild = self._guild_of(channel)
        if guild is not None:
            payload.update(guild_id=str(guild.id), guild_locale="en-US", context=0,
                           authorizing_integration_owners={"0": str(guild.id)},
                           member={**guild.members[user.id].payload(), "permissions": ALL_PERMISSIONS})
        else:
            payload.update(user=user.payload(), context=1, authorizing_integration_owners={"1": str(user.id)})
        self._dispatch("INTERACTION_CREATE", payload)
        return inter

    async def invoke_slash(self, channel: Channel, user: User, name: str | tuple[str, ...],
                           options: dict[str, Any] | None = None) -> Interaction:
        """A user runs a slash command; ``name`` may be ``("group", "sub")``. Option types come from
        the synced definition; attachments are ``emu.file(...)`` objects."""
        path = (name,) if isinstance(name, str) else tuple(p for p in name if p)
        cmd = self._find_command(channel, path[0])
        declared = cmd.get("options", [])
        for part in path[1:]:
            sub = next((o for o in declared if o["name"] == part and o["type"] in (1, 2)), None)
            if sub is None:
                raise AssertionError(f"command {path[0]!r} has no subcommand {part!r}")
            declared = sub.get("options", [])
        resolved: dict[str, dict[str, Any]] = {}
        opts = []
        for key, value in (options or {}).items():
            spec = next((o for o in declared if o["name"] == key), None)
            if spec is None:
                raise AssertionError(f"/{' '.join(path)} has no option {key!r}")
            opts.append({"name": key, "type": spec["type"],
                         "value": self._resolve_option(value, spec["type"], resolved, channel)})
        for part in reversed(path[1:]):
            opts = [{"name": part, "type": 1, "options": opts}]
        data: dict[str, Any] = {"id": cmd["id"], "name": path[0], "type": 1, "options": opts}
        if resolved:
            data["resolved"] = resolved
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return self._interaction(channel, user, 2, data)

    async def invoke_autocomplete(self, channel: Channel, user: User, name: str | tuple[str, ...], focused: str,
                                  value: str, options: dict[str, Any] | None = None) -> Interaction:
        path = (name,) if isinstance(name, str) else tuple(name)
        cmd = self._find_command(channel, path[0])
        declared = cmd.get("options", [])
        for part in path[1:]:
            declared = next(o for o in declared if o["name"] == part).get("options", [])
        opts = [{"name": k, "type": next(o["type"] for o in declared if o["name"] == k), "value": v}
                for k, v in (options or {}).items()]
        opts.append({"name": focused, "type": next(o["type"] for o in declared if o["name"] == focused),
                     "value": value, "focused": True})
        for part in reversed(path[1:]):
            opts = [{"name": part, "type": 1, "options": opts}]
        return self._interaction(channel, user, 4, {"id": cmd["id"], "name": path[0], "type": 1, "options": opts})

    async def invoke_message_command(self, channel: Channel, user: User, name: str, target: Message) -> Interaction:
        cmd = self._find_command(channel, name, kind=3)
        data = {"id": cmd["id"], "name": name, "type": 3, "target_id": str(target.id),
                "resolved": {"messages": {str(target.id): self.message_payload(target)}}}
        return self._interaction(channel, user, 2, data)

    async def submit_modal(self, inter: Interaction, values: dict[str, str], custom_id: str | None = None) -> Interaction:
        modal = next((c for c in inter.callbacks if c.get("type") == 9), None)
        if modal is None:
            raise AssertionError("the bot answered that interaction without a modal")
        # Discord numbers every component of the form (rows and inputs): hikari requires the ids.
        rows = [{"type": 1, "id": 2 * i + 1, "components": [{"type": 4, "id": 2 * i + 2, "custom_id": k, "value": v}]}
                for i, (k, v) in enumerate(values.items())]
        data = {"custom_id": custom_id or modal["data"]["custom_id"], "components": rows}
        return self._interaction(inter.channel, inter.user, 5, data)

    # -- faults
    def inject_rest_fault(self, *, method: str = "*", path_pattern: str = ".*", status: int = 429,
                          retry_after: float = 0.1, count: int = 1) -> None:
        """The next ``count`` matching REST requests fail with ``status`` (429 carries retry_after)."""
        self.faults.append(Fault(method.upper(), re.compile(path_pattern), status, retry_after, count))

    async def drop_gateway(self, *, code: int = 4000) -> None:
        """Close the bot's gateway socket; hikari reconnects and RESUMEs the session."""
        connection = self._connection
        if connection is None:
            raise AssertionError("the bot is not connected")
        self._connection = None
        await connection.queue.put(None)
        await connection.ws.close(code=code, message=b"emulator drop")

    async def wait_resumed(self, timeout: float = 15.0) -> None:
        resumes = self._resumes
        await self.wait_until(lambda: self._resumes > resumes or (self._connection is not None and self._resumes),
                              timeout, what="the bot to resume")

    async def wait_connected(self, timeout: float = 15.0) -> None:
        await self.wait_until(lambda: self._connection is not None and self._session_id is not None, timeout,
                              what="the bot to connect")

    # -- gateway
    def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        payload = {"op": 0, "t": event, "s": self._seq, "d": data}
        self._buffer.append(payload)
        del self._buffer[:-1000]
        if self._connection is not None:
            self._connection.queue.put_nowait(payload)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        conn = _Connection(ws, request.query.get("compress") == "zlib-stream")
        conn.task = asyncio.get_running_loop().create_task(conn.pump())
        conn.queue.put_nowait({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None})
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    frame = json.loads(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    frame = json.loads(msg.data.decode())
                else:
                    continue
                log.debug("emulator gateway <- %s", frame.get("op"))
                await self._on_frame(conn, frame)
        finally:
            if self._connection is conn:
                self._connection = None
            conn.queue.put_nowait(None)
        return ws

    async def _on_frame(self, conn: _Connection, frame: dict[str, Any]) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == 1:
            conn.queue.put_nowait({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            self._identifies += 1
            self._session_id = secrets.token_hex(16)
            self._buffer.clear()
            self._connection = conn
            me = {**self.bot_user.payload(), "mfa_enabled": False, "verified": True, "email": None,
                  "locale": "en-US", "premium_type": 0}
            self._dispatch("READY", {
                "v": 10, "user": me, "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
                "session_id": self._session_id, "resume_gateway_url": f"ws://127.0.0.1:{self.port}/ws",
                "shard": [0, 1], "application": {"id": str(self.application_id), "flags": 0},
                "private_channels": [], "relationships": [], "presences": [], "geo_ordered_rtc_regions": [],
            })
            for guild in self.guilds.values():
                self._dispatch("GUILD_CREATE", guild.payload())
        elif op == 6:
            if data.get("session_id") != self._session_id:
                conn.queue.put_nowait({"op": 9, "d": False, "s": None, "t": None})
                return
            last = int(data.get("seq") or 0)
            for payload in self._buffer:
                if payload["s"] > last:
                    conn.queue.put_nowait(payload)
            self._connection = conn
            self._resumes += 1
            self._dispatch("RESUMED", {})
        elif op == 4:
            self.voice_requests.append(data)
            guild = self.guilds.get(int(data["guild_id"]))
            if guild is not None:
                channel = self.channels.get(int(data["channel_id"])) if data.get("channel_id") else None
                session = secrets.token_hex(16)
                self._dispatch("VOICE_STATE_UPDATE", self._voice_state(guild, self.bot_user, channel, session_id=session))
                if channel is not None:
                    endpoint = self.voice_endpoint(guild.id, channel.id) if callable(self.voice_endpoint) else self.voice_endpoint
                    self._dispatch("VOICE_SERVER_UPDATE", {"token": secrets.token_hex(8), "guild_id": str(guild.id),
                                                           "endpoint": endpoint})
        await self._notify()

    # -- REST
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        path = request.path[len("/api/v10"):]
        self.rest_connections.add(request.transport.get_extra_info("peername") if request.transport else None)
        for fault in self.faults:
            if fault.count > 0 and fault.method in ("*", request.method) and fault.pattern.search(path):
                fault.count -= 1
                self.requests.append(RecordedRequest(request.method, path, None, fault.status, time.monotonic()))
                await self._notify()
                if fault.status == 429:
                    return web.json_response(
                        {"message": "You are being rate limited.", "retry_after": fault.retry_after, "global": False},
                        status=429, headers={"Retry-After": str(fault.retry_after), "X-RateLimit-Scope": "shared",
                                             "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                                             "X-RateLimit-Reset-After": str(fault.retry_after),
                                             "X-RateLimit-Bucket": "emulated"})
                return web.json_response({"message": "emulated server error", "code": 0}, status=fault.status)
        response = await handler(request)
        self.requests.append(RecordedRequest(request.method, path, request.get(_JSON_KEY),
                                             response.status, time.monotonic()))
        await self._notify()
        return response

    async def _serve_attachment(self, request: web.Request) -> web.Response:
        att = self.attachments.get(int(request.match_info["id"]))
        if att is None:
            raise web.HTTPNotFound()
        return web.Response(body=att.data, content_type=att.content_type or "application/octet-stream")

    async def _body(self, request: web.Request) -> tuple[dict[str, Any], list[FileSpec]]:
        if request.content_type.startswith("multipart/"):
            payload: dict[str, Any] = {}
            files: list[FileSpec] = []
            reader = await request.multipart()
            async for part in reader:  # type: ignore[union-attr]
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                else:
                    files.append(FileSpec(part.filename or "file", bytes(await part.read()),
                                          part.headers.get("Content-Type")))
            request[_JSON_KEY] = payload
            return payload, files
        if request.can_read_body:
            body = await request.json()
            request[_JSON_KEY] = body
            return body, []
        return {}, []

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method
        for route_method, pattern, handler in self._routes():
            if route_method == method and (m := re.fullmatch(pattern, path)):
                result = handler(request, *m.groups())
                return await result if inspect.isawaitable(result) else result
        self.unhandled_requests.append(f"{method} {path}")
        log.warning("emulator: unhandled %s %s", method, path)
        return web.json_response({"message": "404: Not Found (not emulated)", "code": 0}, status=404)

    def _routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        d = r"(\d+)"
        return [
            ("GET", "/gateway/bot", self._get_gateway),
            ("GET", "/gateway", self._get_gateway),
            ("GET", "/users/@me", lambda r: self._json(self.bot_user.payload())),
            ("GET", f"/users/{d}", self._get_user),
            ("POST", "/users/@me/channels", self._create_dm),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/applications/@me", self._get_application),
            ("GET", f"/applications/{d}/commands", lambda r, a: self._list_commands(None)),
            ("PUT", f"/applications/{d}/commands", lambda r, a: self._put_commands(r, None)),
            ("POST", f"/applications/{d}/commands", lambda r, a: self._post_command(r, None)),
            ("GET", f"/applications/{d}/guilds/{d}/commands", lambda r, a, g: self._list_commands(int(g))),
            ("PUT", f"/applications/{d}/guilds/{d}/commands", lambda r, a, g: self._put_commands(r, int(g))),
            ("POST", f"/applications/{d}/guilds/{d}/commands", lambda r, a, g: self._post_command(r, int(g))),
            ("DELETE", f"/applications/{d}/commands/{d}", lambda r, a, c: self._delete_command(None, int(c))),
            ("DELETE", f"/applications/{d}/guilds/{d}/commands/{d}", lambda r, a, g, c: self._delete_command(int(g), int(c))),
            ("GET", f"/channels/{d}", self._get_channel),
            ("POST", f"/channels/{d}/messages", self._create_message),
            ("GET", f"/channels/{d}/messages", self._list_messages),
            ("GET", f"/channels/{d}/messages/{d}", self._get_message),
            ("PATCH", f"/channels/{d}/messages/{d}", self._edit_message),
            ("DELETE", f"/channels/{d}/messages/{d}", self._delete_message),
            ("POST", f"/channels/{d}/typing", lambda r, c: self._empty()),
            ("PUT", rf"/channels/{d}/messages/{d}/reactions/([^/]+)/@me", self._add_bot_reaction),
            ("GET", f"/guilds/{d}", self._get_guild),
            ("GET", f"/guilds/{d}/roles", self._get_roles),
            ("GET", f"/guilds/{d}/channels", self._get_guild_channels),
            ("GET", f"/guilds/{d}/members/{d}", self._get_member),
            ("POST", rf"/interactions/{d}/([^/]+)/callback", self._callback),
            ("POST", rf"/webhooks/{d}/([^/]+)", self._followup),
            ("GET", rf"/webhooks/{d}/([^/]+)/messages/(@original|\d+)", self._webhook_get),
            ("PATCH", rf"/webhooks/{d}/([^/]+)/messages/(@original|\d+)", self._webhook_edit),
            ("DELETE", rf"/webhooks/{d}/([^/]+)/messages/(@original|\d+)", self._webhook_delete),
        ]

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        return web.json_response(data, status=status)

    @staticmethod
    def _empty() -> web.Response:
        return web.Response(status=204)

    @staticmethod
    def _not_found(what: str) -> web.Response:
        return web.json_response({"message": f"Unknown {what}", "code": 10003}, status=404)

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return self._json({"url": f"ws://127.0.0.1:{self.port}/ws", "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}})

    async def _get_user(self, request: web.Request, uid: str) -> web.Response:
        user = self.users.get(int(uid))
        return self._json(user.payload()) if user else self._not_found("User")

    async def _create_dm(self, request: web.Request) -> web.Response:
        body, _ = await self._body(request)
        user = self.users.get(int(body["recipient_id"]))
        return self._json(self.create_dm(user).payload()) if user else self._not_found("User")

    async def _get_application(self, request: web.Request) -> web.Response:
        return self._json({
            "id": str(self.application_id), "name": self.bot_user.username, "icon": None, "description": "",
            "rpc_origins": [], "bot_public": True, "bot_require_code_grant": False, "verify_key": "0" * 64,
            "owner": self.application_owner.payload(), "team": None, "flags": 0, "summary": "",
            "approximate_guild_count": len(self.guilds), "approximate_user_install_count": 0,
            "redirect_uris": [], "interactions_endpoint_url": None, "tags": [], "bot": self.bot_user.payload()})

    def _list_commands(self, guild: int | None) -> web.Response:
        return self._json(self.commands.get(guild, []))

    def _command(self, data: dict[str, Any], guild: int | None, existing: dict[str, Any] | None) -> dict[str, Any]:
        cmd = {"type": 1, "description": "", "options": [], "default_member_permissions": None, "nsfw": False,
               **data, "id": existing["id"] if existing else str(self._snowflake()),
               "application_id": str(self.application_id), "version": str(self._snowflake())}
        if guild is not None:
            cmd["guild_id"] = str(guild)
        return cmd

    async def _put_commands(self, request: web.Request, guild: int | None) -> web.Response:
        body, _ = await self._body(request)
        old = {(c["name"], c.get("type", 1)): c for c in self.commands.get(guild, [])}
        self.commands[guild] = [self._command(c, guild, old.get((c["name"], c.get("type", 1)))) for c in body]
        return self._json(self.commands[guild])

    async def _post_command(self, request: web.Request, guild: int | None) -> web.Response:
        body, _ = await self._body(request)
        existing = [c for c in self.commands.get(guild, []) if (c["name"], c.get("type", 1)) != (body["name"], body.get("type", 1))]
        cmd = self._command(body, guild, None)
        self.commands[guild] = [*existing, cmd]
        return self._json(cmd, 201)

    def _delete_command(self, guild: int | None, cid: int) -> web.Response:
        self.commands[guild] = [c for c in self.commands.get(guild, []) if int(c["id"]) != cid]
        return self._empty()

    async def _get_channel(self, request: web.Request, cid: str) -> web.Response:
        channel = self.channels.get(int(cid))
        return self._json(channel.payload()) if channel else self._not_found("Channel")

    async def _get_guild(self, request: web.Request, gid: str) -> web.Response:
        guild = self.guilds.get(int(gid))
        if guild is None:
            return self._not_found("Guild")
        data = guild.payload()
        for key in ("joined_at", "large", "unavailable", "member_count", "voice_states", "members", "channels",
                    "threads", "presences", "stage_instances", "guild_scheduled_events"):
            data.pop(key)
        return self._json(data)

    async def _get_roles(self, request: web.Request, gid: str) -> web.Response:
        guild = self.guilds.get(int(gid))
        return self._json([r.payload() for r in guild.roles]) if guild else self._not_found("Guild")

    async def _get_guild_channels(self, request: web.Request, gid: str) -> web.Response:
        guild = self.guilds.get(int(gid))
        return self._json([c.payload() for c in guild.channels]) if guild else self._not_found("Guild")

    async def _get_member(self, request: web.Request, gid: str, uid: str) -> web.Response:
        guild = self.guilds.get(int(gid))
        if guild is None or int(uid) not in guild.members:
            return self._not_found("Member")
        return self._json(guild.members[int(uid)].payload())

    def _apply_content(self, message: Message, body: dict[str, Any], files: list[FileSpec], *, edit: bool) -> None:
        if edit:
            message.edits.append({"content": message.content, "attachments": list(message.attachments),
                                  "embeds": list(message.embeds)})
            message.edited_at = time.time()
        if "content" in body:
            message.content = body["content"] or ""
        if "embeds" in body:
            message.embeds = body["embeds"] or []
        if "flags" in body and body["flags"] is not None and not edit:
            message.flags = int(body["flags"])
        if "attachments" in body or files:
            kept_ids = {str(a.get("id")) for a in body.get("attachments") or []}
            kept = [a for a in message.attachments if str(a.id) in kept_ids] if edit else []
            message.attachments = kept + [self._store_attachment(f) for f in files]

    def _new_bot_message(self, channel_id: int, body: dict[str, Any], files: list[FileSpec], *,
                         interaction: Interaction | None = None, placeholder: bool = False) -> Message:
        channel = self.channels[channel_id]
        ref = body.get("message_reference") or {}
        message = Message(self._snowflake(), channel_id, channel.guild_id, self.bot_user, "",
                          reference=int(ref["message_id"]) if ref.get("message_id") else None,
                          interaction_id=interaction.id if interaction else None, placeholder=placeholder)
        self._apply_content(message, body, files, edit=False)
        self.messages[message.id] = message
        if interaction is not None:
            interaction.messages.append(message)
        return message

    async def _create_message(self, request: web.Request, cid: str) -> web.Response:
        if int(cid) not in self.channels:
            return self._not_found("Channel")
        body, files = await self._body(request)
        request[_JSON_KEY] = body
        message = self._new_bot_message(int(cid), body, files)
        return self._json(self.message_payload(message))

    async def _list_messages(self, request: web.Request, cid: str) -> web.Response:
        limit = int(request.query.get("limit", 50))
        found = [m for m in self.messages.values() if m.channel_id == int(cid) and not m.deleted and not m.ephemeral]
        return self._json([self.message_payload(m) for m in reversed(found)][:limit])

    def _message(self, cid: str, mid: str) -> Message | None:
        message = self.messages.get(int(mid))
        return message if message and message.channel_id == int(cid) and not message.deleted else None

    async def _get_message(self, request: web.Request, cid: str, mid: str) -> web.Response:
        message = self._message(cid, mid)
        return self._json(self.message_payload(message)) if message else self._not_found("Message")

    async def _edit_message(self, request: web.Request, cid: str, mid: str) -> web.Response:
        message = self._message(cid, mid)
        if message is None or not message.from_bot:
            return self._not_found("Message")
        body, files = await self._body(request)
        self._apply_content(message, body, files, edit=True)
        return self._json(self.message_payload(message))

    async def _delete_message(self, request: web.Request, cid: str, mid: str) -> web.Response:
        message = self._message(cid, mid)
        if message is None:
            return self._not_found("Message")
        message.deleted = True
        return self._empty()

    async def _add_bot_reaction(self, request: web.Request, cid: str, mid: str, emoji: str) -> web.Response:
        message = self._message(cid, mid)
        if message is None:
            return self._not_found("Message")
        message.reactions.append((self.bot_user.id, emoji))
        return self._empty()

    def _interaction_by_token(self, token: str) -> Interaction | None:
        return next((i for i in self.interactions.values() if i.token == token), None)

    async def _callback(self, request: web.Request, iid: str, token: str) -> web.Response:
        inter = self.interactions.get(int(iid))
        if inter is None or inter.token != token:
            return self._not_found("Interaction")
        if inter.callbacks:
            return web.json_response({"message": "Interaction has already been acknowledged.", "code": 40060},
                                     status=400)
        body, files = await self._body(request)
        inter.callbacks.append(body)
        kind, data = body.get("type"), body.get("data") or {}
        message = None
        if kind in (4, 5):
            message = self._new_bot_message(inter.channel.id, data, files, interaction=inter, placeholder=kind == 5)
        if request.query.get("with_response", "").lower() != "true":
            return self._empty()
        callback: dict[str, Any] = {"id": str(inter.id), "type": inter.kind}
        resource: dict[str, Any] = {"type": kind}
        if message is not None:
            callback.update(response_message_id=str(message.id), response_message_loading=kind == 5,
                            response_message_ephemeral=message.ephemeral)
            resource["message"] = self.message_payload(message)
        return self._json({"interaction": callback, "resource": resource})

    async def _followup(self, request: web.Request, app_id: str, token: str) -> web.Response:
        inter = self._interaction_by_token(token)
        if inter is None:
            return self._not_found("Webhook")
        body, files = await self._body(request)
        message = self._new_bot_message(inter.channel.id, body, files, interaction=inter)
        return self._json(self.message_payload(message))

    def _webhook_message(self, token: str, which: str) -> Message | None:
        inter = self._interaction_by_token(token)
        if inter is None or not inter.messages:
            return None
        if which == "@original":
            return inter.messages[0]
        return next((m for m in inter.messages if m.id == int(which)), None)

    async def _webhook_get(self, request: web.Request, app_id: str, token: str, which: str) -> web.Response:
        message = self._webhook_message(token, which)
        return self._json(self.message_payload(message)) if message else self._not_found("Message")

    async def _webhook_edit(self, request: web.Request, app_id: str, token: str, which: str) -> web.Response:
        message = self._webhook_message(token, which)
        if message is None:
            return self._not_found("Message")
        body, files = await self._body(request)
        if message.placeholder:
            message.placeholder = False  # the deferred answer arrives: not an edit to the user's eyes
            self._apply_content(message, body, files, edit=False)
            message.timestamp = time.time()
        else:
            self._apply_content(message, body, files, edit=True)
        return self._json(self.message_payload(message))

    async def _webhook_delete(self, request: web.Request, app_id: str, token: str, which: str) -> web.Response:
        message = self._webhook_message(token, which)
        if message is None:
            return self._not_found("Message")
        message.deleted = True
        return self._empty()


__all__ = ["DiscordEmulator", "make_token", "Message", "SentMessage", "Interaction", "FileSpec", "User",
           "Guild", "Channel", "Role", "Member", "Attachment", "RecordedRequest"]
