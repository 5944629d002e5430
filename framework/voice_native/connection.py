"""One guild's voice connection as hikari's voice component manages it (``hikari.api.VoiceConnection``):
hikari joins the channel (gateway op 4) and waits for the voice state and server events; we run
the voice websocket, the UDP socket and a player that sends one sealed Opus frame every 20 ms.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import hikari
from hikari.api import voice as voice_api
from hikari.events import voice_events

from framework.voice import (
    AudioSink,
    Playback,
    PlaybackEnded,
    PlaybackStarted,
    VoiceDisconnected,
    VoiceEvents,
    VoiceMoved,
    VoiceReconnected,
)
from framework.voice_native.codec import FRAME_MS, SILENCE_FRAME
from framework.voice_native.crypto import TransportCipher
from framework.voice_native.gateway import DISCONNECTED, VoiceGateway, VoiceGatewayClosed
from framework.voice_native.receive import Receiver
from framework.voice_native.rtp import Packetizer

log = logging.getLogger(__name__)
FRAME = FRAME_MS / 1000
TRAILING_SILENCE = 5
MAX_LATE = 0.2
"""When the loop falls this far behind (seconds), restart the schedule instead of bursting frames."""


@dataclasses.dataclass
class _Clip:
    frames: list[bytes]
    playback: Playback


class NativeVoiceConnection(voice_api.VoiceConnection):
    """The voice connection of one guild (created by ``bot.voice.connect_to``)."""

    def __init__(self, *, channel_id: int, guild_id: int, on_close: Any, owner: voice_api.VoiceComponent,
                 shard_id: int, events: VoiceEvents, user_id: int, session_id: str, dave: bool = True,
                 timeout: float = 10.0, sinks: dict[int, AudioSink] | None = None) -> None:
        self._channel_id = hikari.Snowflake(channel_id)
        self._guild_id = hikari.Snowflake(guild_id)
        self._on_close = on_close
        self._owner = owner
        self._shard_id = shard_id
        self.events = events
        self._user_id = user_id
        self._session_id = session_id
        self._dave = dave
        self._timeout = timeout
        self.gateway: VoiceGateway = None  # type: ignore[assignment]  # set by _connect_gateway
        self.packetizer: Packetizer | None = None
        self.first_packet_at: float | None = None
        """Loop time the first frame of the latest clip went out (for benchmarks)."""
        self.frame_times: list[float] = []
        """Loop times every frame of the latest clip went out (for benchmarks)."""
        self._next_frame_at = 0.0
        """Loop time the next frame is due: a clip or the trailing silence that follows another
        keeps the 20 ms rhythm instead of sending its first frame right after the last one."""
        self._server_update = asyncio.Event()
        """Set when Discord hands over a voice server (VOICE_SERVER_UPDATE)."""
        self._queue: asyncio.Queue[_Clip] = asyncio.Queue()
        self._current: _Clip | None = None
        self._interrupt = asyncio.Event()
        self._closed = asyncio.Event()
        self._player: asyncio.Task[None] | None = None
        sinks = self._sinks = sinks if sinks is not None else {}
        self.receiver = Receiver(lambda: sinks.get(int(guild_id)),
                                 decrypt=lambda user_id, payload: self.gateway.dave.decrypt(user_id, payload))
        """Others' audio: decoded only for users the guild's sink (``NativeBackend.listen``) wants."""

    # ------------------------------------------------------------------ hikari's interface
    @classmethod
    async def initialize(cls, channel_id: hikari.Snowflake, endpoint: str, guild_id: hikari.Snowflake,
                         on_close: Any, owner: voice_api.VoiceComponent, session_id: str, shard_id: int,
                         token: str, user_id: hikari.Snowflake, **kwargs: Any) -> NativeVoiceConnection:
        self = cls(channel_id=channel_id, guild_id=guild_id, on_close=on_close, owner=owner, shard_id=shard_id,
                   events=kwargs["events"], user_id=int(user_id), session_id=session_id,
                   dave=bool(kwargs.get("dave", True)), timeout=float(kwargs.get("handshake_timeout", 10.0)),
                   sinks=kwargs.get("sinks"))
        await self._connect_gateway(endpoint, token)
        self._player = asyncio.get_running_loop().create_task(self._play_queue())
        log.info("voice connected in guild %s channel %s (%s)", guild_id, channel_id,
                 self.gateway.session.mode if self.gateway.session else "?")
        return self

    async def _connect_gateway(self, endpoint: str, token: str) -> None:
        """Handshake with a voice server; on success it becomes the connection's gateway."""
        gateway: VoiceGateway

        async def lost(closed: VoiceGatewayClosed) -> None:
            if gateway is self.gateway:
                await self._lost(closed)

        async def resumed() -> None:
            await self.events.emit(VoiceReconnected(int(self._guild_id)))

        gateway = VoiceGateway(endpoint, server_id=int(self._guild_id), user_id=self._user_id,
                               session_id=self._session_id, token=token, on_lost=lost, on_resumed=resumed,
                               channel_id=int(self._channel_id), dave=self._dave,
                               timeout=self._timeout)
        receiver = self.receiver

        def speaker(op: int, user_id: int, ssrc: int | None) -> None:
            # Also during the handshake (before this gateway is ours): SPEAKING may come early.
            if ssrc is not None:
                receiver.speaking(user_id, ssrc)
            else:
                receiver.disconnected(user_id)

        gateway.on_speaker = speaker
        session = await gateway.connect()
        self.packetizer = Packetizer(session.ssrc, TransportCipher(session.mode, session.secret_key))
        self.gateway = gateway
        receiver.attach(TransportCipher(session.mode, session.secret_key), session.ssrc)
        session.udp.receive(receiver.datagram)
        if self._sinks.get(int(self._guild_id)) is not None:  # listening is on in this guild
            receiver.warm_up()

    async def _switch_server(self, endpoint: str, token: str) -> None:
        """Discord moved the call to another voice server (VOICE_SERVER_UPDATE): identify there."""
        old = self.gateway
        old.ready.clear()
        await old.close()
        try:
            await self._connect_gateway(endpoint, token)
        except Exception as exc:
            log.warning("switching voice server in guild %s failed: %s", self._guild_id, exc)
            explanation = getattr(exc, "explanation", "the new voice server did not answer")
            await self._close(f"I lost the voice connection: {explanation}.")
            return
        if self._closed.is_set():  # kicked or left during the handshake: _close shut the old gateway only
            await self.gateway.close()
            return
        log.info("voice of guild %s moved to another voice server", self._guild_id)
        await self.events.emit(VoiceReconnected(int(self._guild_id)))

    @property
    def channel_id(self) -> hikari.Snowflake:
        return self._channel_id

    @property
    def guild_id(self) -> hikari.Snowflake:
        return self._guild_id

    @property
    def is_alive(self) -> bool:
        return not self._closed.is_set()

    @property
    def shard_id(self) -> int:
        return self._shard_id

    @property
    def owner(self) -> voice_api.VoiceComponent:
        return self._owner

    async def disconnect(self) -> None:
        await self._close("I left the voice channel.", requested=True)

    async def join(self) -> None:
        await self._closed.wait()

    async def notify(self, event: voice_events.VoiceEvent) -> None:
        if isinstance(event, voice_events.VoiceStateUpdateEvent):
            if event.state.user_id != self._user_id:
                return
            if event.state.channel_id is None:
                await self._close("I was disconnected from the voice channel (kicked or the channel went away).")
            elif event.state.channel_id != self._channel_id:
                self._channel_id = event.state.channel_id
                await self.events.emit(VoiceMoved(int(self._guild_id), int(event.state.channel_id)))
        elif isinstance(event, voice_events.VoiceServerUpdateEvent) and event.endpoint is not None:
            self._server_update.set()
            await self._switch_server(event.endpoint, event.token)

    # ------------------------------------------------------------------ playback
    @property
    def playing(self) -> bool:
        return self._current is not None or not self._queue.empty()

    @property
    def waiting(self) -> int:
        """Clips queued behind the one playing."""
        return self._queue.qsize()

    def enqueue(self, frames: list[bytes]) -> Playback:
        position = self._queue.qsize() + (self._current is not None)
        playback = Playback(int(self._guild_id), len(frames), position,
                            asyncio.get_running_loop().create_future())
        self._queue.put_nowait(_Clip(frames, playback))
        return playback

    def stop(self) -> None:
        while not self._queue.empty():
            clip = self._queue.get_nowait()
            clip.playback.finished.set_result(False)
        self._interrupt.set()

    async def _play_queue(self) -> None:
        speaking = False
        while True:
            clip = await self._queue.get()
            self._current = clip
            self._interrupt.clear()
            try:
                if not speaking:
                    await self.gateway.speaking(True)
                    speaking = True
                await self.events.emit(PlaybackStarted(int(self._guild_id)))
                if not await self.gateway.dave.wait_ready(self._timeout):  # E2EE call, group not formed
                    log.warning("voice in guild %s: the DAVE group is not ready; frames are withheld until it is",
                                self._guild_id)
                done = await self._send(clip.frames, record=True)
            except Exception:
                log.exception("voice playback failed in guild %s", self._guild_id)
                done = False
            self._current = None
            if not clip.playback.finished.done():
                clip.playback.finished.set_result(done)
            if self._queue.empty() and speaking:
                self._interrupt.clear()  # a clip cut short (stop, barge-in) also ends with the silence frames
                try:
                    await self._send([SILENCE_FRAME] * TRAILING_SILENCE, record=False)
                    await self.gateway.speaking(False)
                except Exception:
                    log.warning("could not end speaking in guild %s", self._guild_id, exc_info=True)
                speaking = False
            await self.events.emit(PlaybackEnded(int(self._guild_id), interrupted=not done))

    async def _send(self, frames: list[bytes], *, record: bool) -> bool:
        """Send frames on an absolute 20 ms schedule; False if interrupted."""
        loop = asyncio.get_running_loop()
        if record:
            self.frame_times = []
        start = max(loop.time(), self._next_frame_at)
        for i, frame in enumerate(frames):
            if self._interrupt.is_set():
                return False
            if not self.gateway.ready.is_set():  # resuming or switching: wait, then restart the schedule
                if not await self._wait_ready():
                    return False
                start = loop.time() - i * FRAME
            delay = start + i * FRAME - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -MAX_LATE:
                start = loop.time() - i * FRAME
            session, packetizer = self.gateway.session, self.packetizer
            if session is None or packetizer is None:
                return False
            payload = self.gateway.dave.encrypt(frame)
            if payload is not None:  # None: an E2EE call without our group yet; never send it in the clear
                session.udp.send(packetizer.packet(payload))
            self._next_frame_at = start + (i + 1) * FRAME
            if record:
                now = loop.time()
                if i == 0:
                    self.first_packet_at = now
                self.frame_times.append(now)
        return True

    async def _wait_ready(self) -> bool:
        """Wait until the (possibly replaced) gateway is usable again; False once closed."""
        while not self._closed.is_set():
            gateway = self.gateway
            if gateway.ready.is_set():
                return True
            try:
                await asyncio.wait_for(gateway.ready.wait(), 0.1)
            except TimeoutError:
                pass
        return False

    # ------------------------------------------------------------------ endings
    async def _lost(self, closed: VoiceGatewayClosed) -> None:
        if closed.code == DISCONNECTED and await self._discord_follows_up():
            return
        await self._close(f"I lost the voice connection: {closed.explanation}.")

    async def _discord_follows_up(self) -> bool:
        """A 4014 close also comes when Discord moves the call (a VOICE_SERVER_UPDATE follows, and
        ``_switch_server`` carries on there) or kicks the bot (a voice state without a channel
        follows, and ``notify`` closes): wait for either, up to the handshake timeout."""
        self._server_update.clear()
        waits = [asyncio.ensure_future(self._server_update.wait()), asyncio.ensure_future(self._closed.wait())]
        try:
            await asyncio.wait(waits, timeout=self._timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        return self._server_update.is_set() or self._closed.is_set()

    async def _close(self, reason: str, *, requested: bool = False) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self.stop()
        self.receiver.close()
        if self._player is not None:
            self._player.cancel()
        if self._current is not None and not self._current.playback.finished.done():
            self._current.playback.finished.set_result(False)
        await self.gateway.close()
        try:
            await self._on_close(self)  # hikari forgets us and sends the gateway "leave" (op 4)
        except Exception:
            log.warning("leaving the voice channel of guild %s failed", self._guild_id, exc_info=True)
        log.info("voice in guild %s closed: %s", self._guild_id, reason)
        await self.events.emit(VoiceDisconnected(int(self._guild_id), reason, requested))
