"""The emulated gateway: the bot's websockets (``/ws``), one per shard. HELLO, IDENTIFY -> READY
and a GUILD_CREATE per guild of the shard, HEARTBEAT -> ACK, RESUME (replaying what the bot missed) or INVALID
SESSION, voice state updates (op 4) answered with VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE.
Each session receives only the events of the intents its IDENTIFY asked for, and GUILD_CREATE's
members as its intents and ``large_threshold`` allow (``intent_rules.py``).

Events are numbered and buffered (the last 1,000) whether or not the bot is connected, so a
bot that resumes after ``drop()`` receives what happened meanwhile, as on Discord.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import zlib
from typing import Any

from aiohttp import WSMsgType, web

from framework.emulator.intent_rules import LARGE_THRESHOLD, guild_create_for, required_intent, valid_large_threshold
from framework.emulator.permissions_calc import ALL, CONNECT, SPEAK, VIEW_CHANNEL, channel_permissions
from framework.emulator.rules import Refusal
from framework.emulator.world import PRIVILEGED_INTENTS, World, application_flags

MESSAGE_CONTENT = 1 << 15

log = logging.getLogger(__name__)


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


class _Session:
    """One shard's session: its sequence numbers, the events it missed (for RESUME), its socket."""

    def __init__(self, shard_id: int, shard_count: int, intents: int = MESSAGE_CONTENT,
                 large_threshold: int = LARGE_THRESHOLD[2]) -> None:
        self.intents = intents
        """What IDENTIFY asked for: the events it receives (``intent_rules.py``); without MESSAGE_CONTENT,
        messages arrive without content (``_without_content``)."""
        self.large_threshold = large_threshold
        """IDENTIFY's ``large_threshold``: a guild with more members is ``large`` (``intent_rules.py``)."""
        self.shard_id = shard_id
        self.shard_count = shard_count
        self.session_id = secrets.token_hex(16)
        self.connection: _Connection | None = None
        self.seq = 0
        self.buffer: list[dict[str, Any]] = []

    def wants(self, guild_id: int | None) -> bool:
        """Discord's rule: a guild's events go to shard ``(guild_id >> 22) % shard_count``, DMs to shard 0."""
        if guild_id is None:
            return self.shard_id == 0
        return (guild_id >> 22) % self.shard_count == self.shard_id


def _without_content(data: dict[str, Any], bot_id: int) -> dict[str, Any]:
    """docs: events/gateway#message-content-intent: without MESSAGE_CONTENT, content, embeds,
    attachments, components and poll are empty, except in DMs, in messages that mention the app
    and in the app's own messages."""
    mentioned = any(str(u.get("id")) == str(bot_id) for u in data.get("mentions") or [])
    own = str((data.get("author") or {}).get("id")) == str(bot_id)
    if not data.get("guild_id") or mentioned or own:
        return data
    stripped = {**data, "content": "", "embeds": [], "attachments": [], "components": []}
    stripped.pop("poll", None)
    return stripped


def _guild_of(event: str, data: dict[str, Any]) -> int | None:
    guild = data.get("guild_id") or (data.get("id") if event in ("GUILD_CREATE", "GUILD_UPDATE") else None)
    return int(guild) if guild else None


class Gateway:
    """The gateway sessions of the bot the emulator serves: one per shard, as IDENTIFY asks
    (``[shard_id, shard_count]``), each receiving only its guilds' events. IDENTIFYs are
    rate-limited as on Discord when the world sets ``identify_window`` (Discord: 5 s; default 0, so
    tests may restart a bot at once): one per window in each bucket ``shard_id % max_concurrency``;
    one too early gets INVALID SESSION (op 9) and must wait."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.sessions: dict[int, _Session] = {}
        """By shard id."""
        self.resumes = 0
        self.identifies = 0
        self.refused_identifies = 0
        self.identified: list[tuple[int, int]] = []
        """``[shard_id, shard_count]`` of every accepted IDENTIFY, in order."""
        self._bucket_used: dict[int, float] = {}

    @property
    def session_id(self) -> str | None:
        """Some session's id once any shard identified: from then on, world changes are dispatched."""
        return next((s.session_id for s in self.sessions.values()), None)

    @property
    def connection(self) -> _Connection | None:
        """A connected shard's socket (shard 0's first), ``None`` when no shard is connected."""
        connected = [s for _, s in sorted(self.sessions.items()) if s.connection is not None]
        return connected[0].connection if connected else None

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Number, buffer and (when connected) send a DISPATCH event to the shard it belongs to."""
        guild = _guild_of(event, data)
        for session in self.sessions.values():
            if session.wants(guild):
                self._send(session, event, data)

    def _hidden(self, event: str, data: dict[str, Any]) -> bool:
        """docs: topics/permissions#permission-hierarchy and events/gateway: events of a channel reach
        only those who may view it; a message or reaction in a channel the bot cannot see is not sent."""
        if not event.startswith("MESSAGE_") or not data.get("guild_id") or not data.get("channel_id"):
            return False
        guild = self.world.guilds.get(int(data["guild_id"]))
        channel = self.world.channels.get(int(data["channel_id"]))
        if guild is None or channel is None or not self.world.rules.on("permission.view_channel"):
            return False
        return not channel_permissions(guild, self.world.bot_user.id, channel) & VIEW_CHANNEL

    def _send(self, session: _Session, event: str, data: dict[str, Any]) -> None:
        if self._hidden(event, data):
            return
        rules, bot_id = self.world.rules, self.world.bot_user.id
        # docs: events/gateway#list-of-intents: an event whose intent the session did not ask for is not sent
        needed = required_intent(event, data, bot_id)
        if needed and not session.intents & needed and rules.on("intent.events"):
            return
        if event == "GUILD_CREATE" and rules.on("intent.guild_create_members"):
            data = guild_create_for(data, session.intents, session.large_threshold, bot_id)
        if (event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not session.intents & MESSAGE_CONTENT
                and rules.on("intent.message_content")):
            data = _without_content(data, bot_id)
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.buffer.append(payload)
        del session.buffer[:-1000]
        if session.connection is not None:
            session.connection.queue.put_nowait(payload)

    async def drop(self, code: int) -> None:
        """Close every connected shard's socket with ``code``; the sessions stay resumable."""
        connected = [s for s in self.sessions.values() if s.connection is not None]
        if not connected:
            raise AssertionError("the bot is not connected")
        for session in connected:
            connection, session.connection = session.connection, None
            assert connection is not None
            await connection.queue.put(None)
            await connection.ws.close(code=code, message=b"emulator drop")

    async def close(self) -> None:
        """Close the bot's sockets when the emulator stops."""
        for session in self.sessions.values():
            if session.connection is not None:
                await session.connection.queue.put(None)
                await session.connection.ws.close()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """The ``/ws`` route: one websocket, from HELLO until the bot or the emulator closes it."""
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        conn = _Connection(ws, request.query.get("compress") == "zlib-stream")
        conn.task = asyncio.get_running_loop().create_task(conn.pump())
        conn.queue.put_nowait({"op": 10, "d": {"heartbeat_interval": self.world.heartbeat_interval_ms},
                               "s": None, "t": None})
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
            for session in self.sessions.values():
                if session.connection is conn:
                    session.connection = None
            conn.queue.put_nowait(None)
        return ws

    async def _on_frame(self, conn: _Connection, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        data: Any = frame.get("d")
        if op == 1:
            conn.queue.put_nowait({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            if await self._disallowed(conn, data or {}) or await self._invalid_threshold(conn, data or {}):
                return
            self._identify(conn, data or {})
        elif op == 6:
            session = next((s for s in self.sessions.values() if s.session_id == data.get("session_id")), None)
            if session is None:
                conn.queue.put_nowait({"op": 9, "d": False, "s": None, "t": None})
                return
            self._resume(conn, session, int(data.get("seq") or 0))
        elif op == 4:
            self._voice_state_update(data)
        await self.world._notify()

    async def _disallowed(self, conn: _Connection, data: dict[str, Any]) -> bool:
        """docs: topics/opcodes-and-status-codes#gateway-close-event-codes, 4014 "Disallowed intent(s)":
        IDENTIFY asked for a privileged intent the application has not enabled; the socket is closed."""
        asked = int(data.get("intents") or 0) & PRIVILEGED_INTENTS
        if not asked & ~self.world.privileged_intents or not self.world.rules.on("intent.privileged"):
            return False
        await self._refuse_identify(conn, "intent.privileged", 4014, "Disallowed intent(s).", b"Disallowed intent(s).")
        return True

    async def _invalid_threshold(self, conn: _Connection, data: dict[str, Any]) -> bool:
        """docs: events/gateway-events#identify: ``large_threshold`` is a "Value between 50 and 250". The docs
        do not say what Discord does with another value; the stricter choice is closing the socket with
        docs: topics/opcodes-and-status-codes#gateway-close-event-codes, 4001 "You sent an invalid Gateway
        opcode or an invalid payload for an opcode"."""
        if valid_large_threshold(data.get("large_threshold")) or not self.world.rules.on("gateway.large_threshold"):
            return False
        await self._refuse_identify(conn, "gateway.large_threshold", 4001, "Unknown opcode",
                                    b"Invalid payload for the opcode.")
        return True

    async def _refuse_identify(self, conn: _Connection, rule: str, code: int, recorded: str, said: bytes) -> None:
        """Record the refused IDENTIFY under ``rule`` and close the socket with ``code``, as Discord does."""
        self.world.rules.refusals.append(Refusal(rule, "GATEWAY", "IDENTIFY", code, code, recorded))
        await conn.queue.put(None)
        await conn.ws.close(code=code, message=said)

    def _identify(self, conn: _Connection, data: dict[str, Any]) -> None:
        """A new session for the shard IDENTIFY names: READY, then each of its guilds as GUILD_CREATE."""
        world = self.world
        shard_id, shard_count = (int(x) for x in (data.get("shard") or [0, 1]))
        if not 0 <= shard_id < shard_count:
            conn.queue.put_nowait({"op": 9, "d": False, "s": None, "t": None})
            return
        bucket, window = shard_id % world.max_concurrency, world.identify_window
        now = asyncio.get_running_loop().time()
        if window and now - self._bucket_used.get(bucket, -window) < window:
            self.refused_identifies += 1  # too early in this bucket: as Discord, an invalid session
            conn.queue.put_nowait({"op": 9, "d": False, "s": None, "t": None})
            return
        self._bucket_used[bucket] = now
        self.identifies += 1
        self.identified.append((shard_id, shard_count))
        threshold = data.get("large_threshold")  # out of range only when the rule is relaxed: used as given
        session = self.sessions[shard_id] = _Session(shard_id, shard_count, int(data.get("intents") or 0),
                                                     threshold if isinstance(threshold, int) else LARGE_THRESHOLD[2])
        session.connection = conn
        me = {**world.bot_user.payload(), "mfa_enabled": False, "verified": True, "email": None,
              "locale": "en-US", "premium_type": 0}
        mine = [g for g in world.guilds.values() if session.wants(g.id)]
        self._send(session, "READY", {
            "v": 10, "user": me, "guilds": [{"id": str(g.id), "unavailable": True} for g in mine],
            "session_id": session.session_id, "resume_gateway_url": world.gateway_url,
            "shard": [shard_id, shard_count],
            "application": {"id": str(world.application_id), "flags": application_flags(world.privileged_intents)},
            "private_channels": [], "relationships": [], "presences": [], "geo_ordered_rtc_regions": [],
        })
        for guild in mine:
            self._send(session, "GUILD_CREATE", guild.payload())

    def _resume(self, conn: _Connection, session: _Session, last: int) -> None:
        """The same session on a new socket: replay the events after ``last``, then RESUMED."""
        for payload in session.buffer:
            if payload["s"] > last:
                conn.queue.put_nowait(payload)
        session.connection = conn
        self.resumes += 1
        self._send(session, "RESUMED", {})

    def _voice_state_update(self, data: dict[str, Any]) -> None:
        """The bot joins, moves or leaves voice: its new voice state, and a voice server when joining."""
        world = self.world
        world.voice_requests.append(data)
        guild = world.guilds.get(int(data["guild_id"]))
        if guild is None:
            return
        channel = world.channels.get(int(data["channel_id"])) if data.get("channel_id") else None
        # docs: topics/permissions#permissions-for-voice-channels: joining needs VIEW_CHANNEL and CONNECT;
        # Discord answers a refused op 4 with nothing (no voice state, no voice server)
        have = channel_permissions(guild, world.bot_user.id, channel) if channel is not None else ALL
        if not have & VIEW_CHANNEL or not have & CONNECT:
            rule = "permission.view_channel" if not have & VIEW_CHANNEL else "permission.connect"
            if world.rules.on(rule):
                world.rules.refusals.append(Refusal(rule, "GATEWAY", "VOICE_STATE_UPDATE", 403, 50013,
                                                    "Missing Permissions"))
                return
        session = secrets.token_hex(16)
        # docs: resources/voice#voice-state-object, "suppress: whether this user's permission to speak is denied"
        suppress = not have & SPEAK and world.rules.on("permission.speak")
        self.dispatch("VOICE_STATE_UPDATE", world._voice_state(guild, world.bot_user, channel, session_id=session,
                                                               suppress=suppress))
        if channel is not None:
            endpoint = world.voice_endpoint
            if callable(endpoint):
                endpoint = endpoint(guild.id, channel.id)
            self.dispatch("VOICE_SERVER_UPDATE", {"token": secrets.token_hex(8), "guild_id": str(guild.id),
                                                  "endpoint": endpoint})
