"""The emulated gateway: the bot's websocket (``/ws``). HELLO, IDENTIFY -> READY and a
GUILD_CREATE per guild, HEARTBEAT -> ACK, RESUME (replaying what the bot missed) or INVALID
SESSION, voice state updates (op 4) answered with VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE.

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

from framework.emulator.world import World

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


class Gateway:
    """The gateway session of the one bot the emulator serves."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.connection: _Connection | None = None
        self.session_id: str | None = None
        """Set by the first IDENTIFY: from then on, changes to the world are dispatched as events."""
        self.seq = 0
        self.buffer: list[dict[str, Any]] = []
        self.resumes = 0
        self.identifies = 0

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Number, buffer and (when the bot is connected) send a DISPATCH event."""
        self.seq += 1
        payload = {"op": 0, "t": event, "s": self.seq, "d": data}
        self.buffer.append(payload)
        del self.buffer[:-1000]
        if self.connection is not None:
            self.connection.queue.put_nowait(payload)

    async def drop(self, code: int) -> None:
        """Close the bot's socket with ``code``; the session stays resumable."""
        connection = self.connection
        if connection is None:
            raise AssertionError("the bot is not connected")
        self.connection = None
        await connection.queue.put(None)
        await connection.ws.close(code=code, message=b"emulator drop")

    async def close(self) -> None:
        """Close the bot's socket when the emulator stops."""
        if self.connection is not None:
            await self.connection.queue.put(None)
            await self.connection.ws.close()

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
            if self.connection is conn:
                self.connection = None
            conn.queue.put_nowait(None)
        return ws

    async def _on_frame(self, conn: _Connection, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        data: Any = frame.get("d")
        if op == 1:
            conn.queue.put_nowait({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            self._identify(conn)
        elif op == 6:
            if data.get("session_id") != self.session_id:
                conn.queue.put_nowait({"op": 9, "d": False, "s": None, "t": None})
                return
            self._resume(conn, int(data.get("seq") or 0))
        elif op == 4:
            self._voice_state_update(data)
        await self.world._notify()

    def _identify(self, conn: _Connection) -> None:
        """A new session: READY, then every guild as GUILD_CREATE."""
        world = self.world
        self.identifies += 1
        self.session_id = secrets.token_hex(16)
        self.buffer.clear()
        self.connection = conn
        me = {**world.bot_user.payload(), "mfa_enabled": False, "verified": True, "email": None,
              "locale": "en-US", "premium_type": 0}
        self.dispatch("READY", {
            "v": 10, "user": me, "guilds": [{"id": str(g), "unavailable": True} for g in world.guilds],
            "session_id": self.session_id, "resume_gateway_url": f"ws://127.0.0.1:{world.port}/ws",
            "shard": [0, 1], "application": {"id": str(world.application_id), "flags": 0},
            "private_channels": [], "relationships": [], "presences": [], "geo_ordered_rtc_regions": [],
        })
        for guild in world.guilds.values():
            self.dispatch("GUILD_CREATE", guild.payload())

    def _resume(self, conn: _Connection, last: int) -> None:
        """The same session on a new socket: replay the events after ``last``, then RESUMED."""
        for payload in self.buffer:
            if payload["s"] > last:
                conn.queue.put_nowait(payload)
        self.connection = conn
        self.resumes += 1
        self.dispatch("RESUMED", {})

    def _voice_state_update(self, data: dict[str, Any]) -> None:
        """The bot joins, moves or leaves voice: its new voice state, and a voice server when joining."""
        world = self.world
        world.voice_requests.append(data)
        guild = world.guilds.get(int(data["guild_id"]))
        if guild is None:
            return
        channel = world.channels.get(int(data["channel_id"])) if data.get("channel_id") else None
        session = secrets.token_hex(16)
        self.dispatch("VOICE_STATE_UPDATE", world._voice_state(guild, world.bot_user, channel, session_id=session))
        if channel is not None:
            endpoint = world.voice_endpoint
            if callable(endpoint):
                endpoint = endpoint(guild.id, channel.id)
            self.dispatch("VOICE_SERVER_UPDATE", {"token": secrets.token_hex(8), "guild_id": str(guild.id),
                                                  "endpoint": endpoint})
