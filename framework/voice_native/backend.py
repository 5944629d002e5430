"""The ``native`` voice backend: joins through hikari's voice component, speaks through our own
voice gateway/UDP/AEAD/Opus stack (see the package docstring for why it is ours).

The stack (``connection`` and what it imports: cryptography, PyNaCl, davey) is imported on the
first connect, in the thread pool: a bot that never joins a voice channel never loads it."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import aiohttp
import hikari

from framework.errors import AudioError
from framework.lazy import load_engine
from framework.voice import Playback, VoiceError, VoiceEvents, VoicePrivacy
from framework.voice_native.codec import encode_opus

if TYPE_CHECKING:  # pragma: no cover - typing only; imported by the first connect
    from framework.voice_native.connection import NativeVoiceConnection

STACK = "framework.voice_native.connection"

log = logging.getLogger(__name__)


class NativeBackend:
    """Implements :class:`framework.voice.VoiceBackend`."""

    def __init__(self, app: Any, *, connect_timeout: float = 10.0, bitrate: int = 64_000, dave: bool = True,
                 max_queue: int = 20) -> None:
        self.app = app
        self.max_queue = max_queue
        """Clips that may wait behind the one playing: the queue lives in memory, so it has a bound."""
        self.dave = dave
        self.connect_timeout = connect_timeout
        self.bitrate = bitrate
        self.events = VoiceEvents()
        self._locks: dict[int, asyncio.Lock] = {}
        self._connection_type: type[NativeVoiceConnection] | None = None
        """Set by the first connect, which imports the stack; no connection of ours exists before."""

    def connection(self, guild_id: int) -> NativeVoiceConnection | None:
        conn = self.app.bot.voice.connections.get(hikari.Snowflake(guild_id))
        kind = self._connection_type
        return conn if kind is not None and isinstance(conn, kind) and conn.is_alive else None

    def is_connected(self, guild_id: int, channel_id: int | None = None) -> bool:
        conn = self.connection(guild_id)
        return conn is not None and (channel_id is None or int(conn.channel_id) == int(channel_id))

    def is_playing(self, guild_id: int) -> bool:
        conn = self.connection(guild_id)
        return conn is not None and conn.playing

    def channel_of(self, guild_id: int) -> int | None:
        conn = self.connection(guild_id)
        return int(conn.channel_id) if conn else None

    async def privacy(self, guild_id: int, user_id: int | None = None) -> VoicePrivacy | None:
        conn = self.connection(guild_id)
        if conn is None:
            return None
        dave = conn.gateway.dave
        if not dave.e2ee_required:
            return VoicePrivacy(e2ee=False)
        verification = None
        if user_id is not None:
            verification = await self.app.run_blocking(dave.verification_code, int(user_id))
        return VoicePrivacy(e2ee=True, code=dave.privacy_code(), verification=verification)

    async def connect(self, guild_id: int, channel_id: int) -> None:
        kind = self._connection_type = (await load_engine(self.app, STACK, "native voice")).NativeVoiceConnection
        # Loaded by the line above, so these are lookups, not imports on the event loop.
        from framework.voice_native.crypto import UnsupportedMode
        from framework.voice_native.gateway import VoiceGatewayClosed
        from framework.voice_native.udp import DiscoveryFailed

        async with self._locks.setdefault(int(guild_id), asyncio.Lock()):
            if self.is_connected(guild_id, channel_id):
                return
            if self.app.bot.voice.connections.get(hikari.Snowflake(guild_id)) is not None:
                await self.app.bot.voice.disconnect(guild_id)  # moving: leave first
            try:  # both waits are bounded by connect_timeout: hikari's for the events, ours for the
                # handshake. No outer wait_for: cancelling connect_to skips hikari's "leave" on failure,
                # and the bot would stay shown in the channel without a connection.
                await self.app.bot.voice.connect_to(guild_id, channel_id, kind,
                                                    timeout=self.connect_timeout, events=self.events,
                                                    dave=self.dave, handshake_timeout=self.connect_timeout)
            except VoiceGatewayClosed as exc:
                raise VoiceError(f"I couldn't join the voice channel: {exc.explanation}.") from exc
            except (TimeoutError, hikari.errors.VoiceError) as exc:
                log.warning("joining voice channel %s failed: %s", channel_id, exc)
                raise VoiceError("I couldn't join the voice channel: Discord did not answer in time. "
                                 "Try again in a moment.") from exc
            except (DiscoveryFailed, UnsupportedMode) as exc:  # their messages are written for users
                log.warning("voice connection to channel %s failed: %s", channel_id, exc)
                raise VoiceError(f"I couldn't reach the voice server: {exc}.") from exc
            except (OSError, aiohttp.ClientError) as exc:  # socket errors: details for the log only
                log.warning("voice connection to channel %s failed: %r", channel_id, exc)
                raise VoiceError("I couldn't reach the voice server. Try again in a moment.") from exc

    async def play(self, guild_id: int, wav: bytes) -> Playback:
        conn = self.connection(guild_id)
        if conn is None:
            raise VoiceError("I'm not in a voice channel in this server.")
        if conn.waiting >= self.max_queue:
            raise VoiceError(f"My queue is full ({conn.waiting} waiting). Try again when I've said some of it.")
        try:
            frames = await self.app.run_blocking(encode_opus, wav, bitrate=self.bitrate)
        except AudioError as exc:
            raise VoiceError(f"I couldn't prepare that audio: {exc}.") from exc
        conn = self.connection(guild_id)  # it may have closed while encoding
        if conn is None:
            raise VoiceError("I left the voice channel before the audio was ready.")
        return conn.enqueue(frames)

    async def stop(self, guild_id: int) -> None:
        conn = self.connection(guild_id)
        if conn is not None:
            conn.stop()

    async def disconnect(self, guild_id: int) -> None:
        conn = self.app.bot.voice.connections.get(hikari.Snowflake(guild_id))
        if conn is not None:
            await conn.disconnect()

    async def close(self) -> None:
        for guild_id in list(self.app.bot.voice.connections):
            await self.disconnect(int(guild_id))
