"""The emulator's state: every user, guild, channel, message, interaction and synced command of
one bot application, the ids they get, the payloads built from them, and waiting for them to change.

Everything the gateway (``gateway.py``), the REST resources (``api_*.py``) and the driving API
(``actions.py``, ``emulator.py``) share lives here, so those parts talk to one world object and
not to each other. Methods with a leading underscore are for those parts, not for tests.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from framework.emulator.rules import Rules
from framework.emulator.state import (
    DISCORD_EPOCH_MS,
    Attachment,
    Channel,
    Fault,
    FileSpec,
    Guild,
    Interaction,
    Message,
    RecordedRequest,
    User,
    iso_time,
    make_token,
)

PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)
"""GUILD_MEMBERS, GUILD_PRESENCES and MESSAGE_CONTENT (docs: events/gateway#privileged-intents)."""
_INTENT_FLAGS = {1 << 1: 1 << 15, 1 << 8: 1 << 13, 1 << 15: 1 << 19}
"""Privileged intent -> the application flag saying it is enabled (docs: resources/application#application-
object-application-flags: GATEWAY_GUILD_MEMBERS_LIMITED, GATEWAY_PRESENCE_LIMITED, GATEWAY_MESSAGE_CONTENT_LIMITED,
the flags of a bot in fewer than 100 servers)."""


def application_flags(privileged_intents: int) -> int:
    """The application's ``flags`` saying which privileged intents it has enabled."""
    return sum(flag for intent, flag in _INTENT_FLAGS.items() if privileged_intents & intent)



class World:
    """The records of one emulated Discord application (the base of :class:`DiscordEmulator`)."""

    def __init__(self, bot_name: str, heartbeat_interval_ms: int) -> None:
        self._last_id = 0
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.bot_user = User(self._snowflake(), bot_name, bot=True)
        self.application_id = self.bot_user.id
        self.application_owner = User(self._snowflake(), "owner")
        self.token = make_token(self.bot_user.id)
        self.users: dict[int, User] = {self.bot_user.id: self.bot_user,
                                       self.application_owner.id: self.application_owner}
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
        self.dispatch: Callable[[str, dict[str, Any]], None] = lambda event, data: None
        """Send a gateway event to the bot (the emulator's gateway; a bare World sends nothing)."""
        self.faults: list[Fault] = []
        self.recommended_shards = 1
        """Shards ``GET /gateway/bot`` recommends (``trainerbot run --shard-count auto`` uses it)."""
        self.max_concurrency = 1
        """IDENTIFY buckets (``shard_id % max_concurrency``), each one IDENTIFY per ``identify_window``."""
        self.identify_window = 0.0
        """Seconds between IDENTIFYs of one bucket (Discord: 5); 0: not enforced."""
        self._changed = asyncio.Condition()
        self.port = 0
        self.tls = False
        """Served over HTTPS and WSS (``start(ssl_context=...)``), as Discord is."""
        self.rules = Rules()
        """The strict rules (``rules.py``): what is relaxed, what was refused, how many 429s were sent."""
        self.privileged_intents = PRIVILEGED_INTENTS
        """The privileged intents the application has enabled (all, as a bot's owner sets it up);
        IDENTIFY asking for another closes the gateway with 4014 (``gateway.py``)."""
        self.clock_offset = 0.0
        """Seconds the emulated clock runs ahead of the real one (``advance_clock``)."""

    # -- the emulated clock: what expires (interaction tokens) expires by it
    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the emulated clock forward, so a test sees a token expire without waiting 15 minutes."""
        self.clock_offset += seconds

    # -- ids and addresses
    def _snowflake(self) -> int:
        """A new id, increasing, shaped like Discord's (milliseconds since its epoch, shifted)."""
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(candidate, self._last_id + 1)
        return self._last_id

    def _given(self, known: int | None) -> int:
        """``known`` (a restored record keeps its id; later ids come after it), or a new id."""
        if known is None:
            return self._snowflake()
        self._last_id = max(self._last_id, known)
        return known

    def adopt_identity(self, bot_id: int, owner_id: int, owner_name: str = "owner") -> None:
        """Give the bot user and the application's owner known ids (a restored sandbox world), before
        the bot connects: the token names the bot id, as Discord's do."""
        for user in (self.bot_user, self.application_owner):
            self.users.pop(user.id, None)
        self.bot_user.id, self.application_id = self._given(bot_id), bot_id
        self.application_owner.id, self.application_owner.username = self._given(owner_id), owner_name
        self.token = make_token(bot_id)
        self.users.update({bot_id: self.bot_user, owner_id: self.application_owner})

    def restore_message(self, message: Message) -> None:
        """Put a message of a persisted world back, with its id and attachments (served again)."""
        self._given(message.id)
        for att in message.attachments:
            self._given(att.id)
            att.url = f"{self.base_url}/attachments/{att.id}/{att.filename}"
            self.attachments[att.id] = att
        self.messages[message.id] = message

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def gateway_url(self) -> str:
        """What GET /gateway/bot and READY's ``resume_gateway_url`` give a bot to connect to."""
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/ws"

    @property
    def rest_url(self) -> str:
        return f"{self.base_url}/api/v10"

    # -- waiting
    async def _notify(self) -> None:
        """Wake every ``wait_until``: something in the world changed."""
        async with self._changed:
            self._changed.notify_all()

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
                except TimeoutError:
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

        found: Message = await self.wait_until(probe, timeout, what="a message from the bot")
        return found

    # -- reading the world
    def sent_messages(self, channel: Channel | None = None) -> list[Message]:
        """What the bot sent, oldest first (deferred placeholders not yet answered excluded)."""
        return [m for m in self.messages.values() if m.from_bot and not m.placeholder and not m.deleted
                and (channel is None or m.channel_id == channel.id)]

    def synced_commands(self, guild: Guild | None = None) -> list[dict[str, Any]]:
        return list(self.commands.get(guild.id if guild else None, []))

    def _guild_of(self, channel: Channel) -> Guild | None:
        return self.guilds.get(channel.guild_id) if channel.guild_id else None

    # -- records made on demand, by tests and by the bot's requests alike
    def create_dm(self, user: User) -> Channel:
        for channel in self.channels.values():
            if channel.kind == "dm" and channel.recipient is user:
                return channel
        channel = Channel(self._snowflake(), user.username, "dm", recipient=user)
        self.channels[channel.id] = channel
        return channel

    def _store_attachment(self, spec: FileSpec) -> Attachment:
        att = Attachment(self._snowflake(), spec.filename, spec.data, spec.content_type,
                         duration_secs=spec.duration_secs)
        att.url = f"{self.base_url}/attachments/{att.id}/{spec.filename}"
        self.attachments[att.id] = att
        return att

    def _voice_state(self, guild: Guild, user: User, channel: Channel | None, *, session_id: str,
                     suppress: bool = False) -> dict[str, Any]:
        """Record ``user`` in ``channel`` (``None``: out of voice) and return the VOICE_STATE_UPDATE data;
        ``suppress``: the user's permission to speak is denied (docs: resources/voice#voice-state-object)."""
        member = guild.members[user.id].payload() if user.id in guild.members else None
        state = {"guild_id": str(guild.id), "channel_id": str(channel.id) if channel else None,
                 "user_id": str(user.id), "member": member,
                 "session_id": session_id, "deaf": False, "mute": False, "self_deaf": False, "self_mute": False,
                 "self_stream": False, "self_video": False, "suppress": suppress, "request_to_speak_timestamp": None}
        if channel is None:
            guild.voice_states.pop(user.id, None)
        else:
            guild.voice_states[user.id] = state
        return state

    @staticmethod
    def _mentioned_users(message: Message) -> list[int]:
        """Who ``message`` mentions: as recorded (``allowed_mentions`` applied), else every ``<@id>``."""
        if message.mention_users is not None:
            return message.mention_users
        return list(dict.fromkeys(int(u) for u in re.findall(r"<@!?(\d+)>", message.content)))

    # -- payloads that need the whole world (a message names its author's member, its reference...)
    def message_payload(self, message: Message) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(message.id), "channel_id": str(message.channel_id), "author": message.author.payload(),
            "content": message.content, "timestamp": iso_time(message.timestamp),
            "edited_timestamp": iso_time(message.edited_at) if message.edited_at else None, "tts": False,
            "mention_everyone": bool(message.mention_everyone if message.mention_everyone is not None
                                     else re.search(r"@(everyone|here)", message.content)),
            "mentions": [self.users[u].payload() for u in self._mentioned_users(message) if u in self.users],
            "mention_roles": [str(r) for r in (message.mention_roles if message.mention_roles is not None
                                               else [int(x) for x in re.findall(r"<@&(\d+)>", message.content)])],
            "mention_channels": [],
            "attachments": [a.payload() for a in message.attachments], "embeds": message.embeds,
            "reactions": [], "pinned": False, "type": 19 if message.reference else 0, "flags": message.flags,
            "components": message.components, "sticker_items": [],
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
