"""Live updates for the page over one WebSocket per tab.

JSON events, as the emulator's records change: ``{"type": "message", "message": …}`` for a new or
changed message (the page replaces it by id: edits, reactions, a deferred answer arriving),
``{"type": "delete", "id": …}`` and ``{"type": "voice", "members": [user ids]}``. Binary frames
carry what the bot says in the voice channel: mono signed 16-bit PCM at 48 kHz, decoded from the
Opus packets the local voice server received, sent to the tabs that joined the channel.

The watcher diffs the records on every change the emulator signals (``wait_until``) rather than
hooking into the emulator, which stays a plain local Discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from framework.emulator import media
from framework.sandbox_web.views import message_view, version

log = logging.getLogger(__name__)

RATE = 48_000
AUDIO_TICK = 0.1
"""Seconds between forwarding batches of the bot's voice."""
SAVE_DELAY = 1.0
"""Changes are written to the data root at most once per this many seconds."""


class Live:
    def __init__(self, session: Any) -> None:
        self.session = session
        self.clients: dict[web.WebSocketResponse, dict[str, Any]] = {}
        self._versions: dict[int, tuple[Any, ...]] = {}
        self._voice: tuple[str, ...] = ()
        self._sent_packets: dict[int, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._saver: asyncio.Task[None] | None = None
        self._stopping = False
        self.audio_bytes = 0

    def start(self) -> None:
        self._changes()  # what exists now is in the page's first state, not an event
        self._tasks = [asyncio.create_task(self._watch()), asyncio.create_task(self._audio())]

    def touch(self) -> None:
        """Something changed: write the world to the data root soon (the session saves it on exit too)."""
        if self._saver is None or self._saver.done():
            self._saver = asyncio.create_task(self._save_soon())

    async def _save_soon(self) -> None:
        await asyncio.sleep(SAVE_DELAY)
        try:
            await self.session.save()
        except Exception:
            log.warning("could not save the sandbox world", exc_info=True)

    async def stop(self) -> None:
        self._stopping = True
        if self._saver is not None:
            self._tasks.append(self._saver)
        for task in self._tasks:
            # Python 3.11's wait_for (inside the emulator's wait_until) can swallow one cancellation
            # that races its timeout: cancel until the task is really done.
            while not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=0.1)
        for ws in list(self.clients):
            await ws.close()

    # -- the socket
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        self.clients[ws] = {"listen": False}
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    with contextlib.suppress(ValueError, TypeError, AttributeError):
                        data = json.loads(msg.data)
                        if data.get("type") == "listen":
                            self.clients[ws]["listen"] = bool(data.get("on"))
        finally:
            self.clients.pop(ws, None)
        return ws

    async def broadcast(self, event: dict[str, Any]) -> None:
        text = json.dumps(event)
        for ws in list(self.clients):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(text)

    # -- messages and voice members
    def voice_members(self) -> list[str]:
        guild = self.session.guild
        voice_id = str(self.session.voice.id)
        return [str(uid) for uid, state in guild.voice_states.items() if state.get("channel_id") == voice_id]

    def _changes(self) -> list[dict[str, Any]]:
        emu = self.session.emu
        channels = {c.id for c in self.session.guild.channels}
        events: list[dict[str, Any]] = []
        for message in list(emu.messages.values()):
            if message.channel_id not in channels:
                continue
            now = version(message)
            if self._versions.get(message.id) == now:
                continue
            self._versions[message.id] = now
            if message.deleted:
                events.append({"type": "delete", "id": str(message.id)})
            else:
                events.append({"type": "message", "message": message_view(emu, message)})
        voice = tuple(self.voice_members())
        if voice != self._voice:
            self._voice = voice
            events.append({"type": "voice", "members": list(voice)})
        return events

    async def _watch(self) -> None:
        emu = self.session.emu
        while not self._stopping:
            try:
                events = await emu.wait_until(lambda: self._stopping or self._changes(), timeout=3600,
                                              what="a change")
            except AssertionError:
                continue
            if events is True:
                return
            for event in events:
                await self.broadcast(event)
            self.touch()

    # -- the bot's voice, as it reaches the voice server
    async def _audio(self) -> None:
        bot_id = self.session.emu.bot_user.id
        while not self._stopping:
            await asyncio.sleep(AUDIO_TICK)
            frames: list[bytes] = []
            for session in self.session.voice_server.sessions:
                if session.user_id != bot_id:
                    continue
                start = self._sent_packets.get(id(session), 0)
                fresh = session.packets[start:]
                self._sent_packets[id(session)] = start + len(fresh)
                frames += [p.opus for p in fresh if p.opus != media.OPUS_SILENCE and not p.e2ee]
            listeners = [ws for ws, state in self.clients.items() if state["listen"]]
            if not frames or not listeners:
                continue
            try:
                pcm = await asyncio.to_thread(media.decode_opus, frames, rate=RATE)
            except media.MediaError as exc:
                log.warning("sandbox page: could not decode the bot's voice: %s", exc)
                continue
            self.audio_bytes += len(pcm)
            for ws in listeners:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.send_bytes(pcm)
