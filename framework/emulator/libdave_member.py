"""A simulated Discord user in a voice call ("Bob"), running **Discord's own DAVE library**,
libdave, through the ``dave-py`` bindings (a test-only dependency, imported lazily).

Bob speaks the voice gateway over his own websocket (IDENTIFY with ``max_dave_protocol_version``,
heartbeats, the DAVE opcodes 11/13/21-31) and follows libdave's reference session manager
(``samples/typescript/DaveSessionManager.ts`` in discord/libdave): he joins the MLS group through
the gateway's external sender, commits or is welcomed, prepares a libdave ``Decryptor`` per
sender on every transition, and switches his ``Encryptor`` on execute. Media reaches him
in-process from the voice server after transport decryption (as Discord's SFU forwards it); he
decrypts every frame with libdave and keeps the Opus frames and the outcome of each attempt.
With ``dave=False`` he is a client without DAVE (it downgrades the call).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
import struct
import time
from typing import Any

import aiohttp

from framework.emulator import media

log = logging.getLogger(__name__)

TRANSITION_EXPIRY = 10.0
"""Seconds receivers keep the previous epoch's keys (and passthrough) after a transition."""


def libdave() -> Any:
    """The ``dave`` module (dave-py); raises ImportError with the reason when it is missing."""
    import dave

    return dave


@dataclasses.dataclass
class Frame:
    """One frame Bob received from another member, and what libdave made of it."""

    user_id: int
    at: float
    payload: bytes
    opus: bytes | None
    """The decrypted (or passed-through) Opus frame; None when libdave failed to decrypt it."""
    e2ee: bool
    """The payload looked like a DAVE protocol frame."""


class LibdaveMember:
    """One call member on libdave; ``await join(server, guild_id, channel_id)``, then read ``frames``."""

    def __init__(self, user_id: int, *, dave: bool = True, mode: str = media.AES256_GCM_RTPSIZE) -> None:
        self.user_id = user_id
        self.dave_enabled = dave
        self.mode = mode
        self.frames: list[Frame] = []
        self.failures: list[str] = []
        """MLS failures libdave reported through its callback."""
        self.sent_ops: list[int] = []
        self.received_ops: list[int] = []
        self.protocol_version = 0
        self.recognized: set[str] = set()
        self.epochs: list[int] = []
        """Roster changes libdave applied (one entry per processed commit or welcome)."""
        self.ssrc = 0
        self.channel_id = 0
        self.session: Any = None
        self.encryptor: Any = None
        self._decryptors: dict[int, Any] = {}
        self._transitions: dict[int, int] = {}
        self._latest_version = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._http: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._ready = asyncio.Event()
        self._server: Any = None
        self._sequence = 0
        self._timestamp = 0

    # ------------------------------------------------------------------ connection
    async def join(self, server: Any, guild_id: int, channel_id: int, *, timeout: float = 10.0) -> None:
        """Connect to ``server`` (a LocalVoiceServer) as this user in ``channel_id``."""
        if self.dave_enabled:
            dave = libdave()
            self.session = dave.Session(self._on_mls_failure)
            self.encryptor = dave.Encryptor()
        self._server = server
        self.channel_id = channel_id
        endpoint = server.endpoint_for(guild_id, channel_id)
        server.listen(self.user_id, self._on_media)
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(f"ws://{endpoint}/?v=8")
        self._tasks.append(asyncio.ensure_future(self._read()))
        await self._send(0, {"server_id": str(guild_id), "user_id": str(self.user_id),
                             "session_id": secrets.token_hex(16), "token": secrets.token_hex(8),
                             "max_dave_protocol_version": 1 if self.dave_enabled else 0})
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def leave(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()

    async def _send(self, op: int, data: Any) -> None:
        assert self._ws is not None
        self.sent_ops.append(op)
        await self._ws.send_str(json.dumps({"op": op, "d": data}))

    async def _send_binary(self, op: int, payload: bytes) -> None:
        assert self._ws is not None
        self.sent_ops.append(op)
        await self._ws.send_bytes(bytes([op]) + payload)

    async def _heartbeat(self, interval: float) -> None:
        while True:
            await self._send(3, {"t": int(time.time() * 1000), "seq_ack": 0})
            await asyncio.sleep(interval)

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            try:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    frame = json.loads(msg.data)
                    await self._on_json(frame["op"], frame.get("d") or {})
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await self._on_binary(msg.data[2], bytes(msg.data[3:]))
            except Exception:
                log.exception("Bob could not handle a voice gateway message")

    # ------------------------------------------------------------------ gateway messages
    async def _on_json(self, op: int, data: dict[str, Any]) -> None:
        self.received_ops.append(op)
        if op == 8:
            self._tasks.append(asyncio.ensure_future(self._heartbeat(data["heartbeat_interval"] / 1000)))
        elif op == 2:
            self.ssrc = int(data["ssrc"])
            if self.encryptor is not None:
                self.encryptor.assign_ssrc_to_codec(self.ssrc, libdave().Codec.opus)
            offered = list(data.get("modes") or [])
            mode = self.mode if self.mode in offered else next(m for m in media.TRANSPORT_MODES if m in offered)
            await self._send(1, {"protocol": "udp", "data": {"address": "127.0.0.1", "port": 9, "mode": mode}})
        elif op == 4:
            await self._init(int(data.get("dave_protocol_version") or 0))
            self._ready.set()
        elif op == 11:
            for user in data.get("user_ids", []):
                self.recognized.add(str(user))
                self._setup_ratchet(int(user), self._latest_version)
        elif op == 13:
            self.recognized.discard(str(data.get("user_id")))
        elif op == 21:
            transition, version = int(data["transition_id"]), int(data["protocol_version"])
            self._prepare(transition, version)
            if transition != 0:
                await self._send(23, {"transition_id": transition})
        elif op == 22:
            self._execute(int(data["transition_id"]))
        elif op == 24 and int(data.get("epoch", 0)) == 1:
            self.session.init(int(data["protocol_version"]), self.channel_id, str(self.user_id), None)
            await self._send_key_package()

    async def _on_binary(self, op: int, payload: bytes) -> None:
        self.received_ops.append(op)
        if self.session is None:
            return
        if op == 25:
            self.session.set_external_sender(payload)
        elif op == 27:
            commit_welcome = self.session.process_proposals(payload, self._known())
            if commit_welcome:
                await self._send_binary(28, commit_welcome)
        elif op == 29:
            transition = struct.unpack_from(">H", payload)[0]
            result = self.session.process_commit(payload[2:])
            if result == libdave().RejectType.ignored:
                return
            if isinstance(result, dict):
                self.epochs.append(len(result))
                await self._joined(transition)
            else:
                await self._send(31, {"transition_id": transition})
                await self._init(self.session.get_protocol_version())
        elif op == 30:
            transition = struct.unpack_from(">H", payload)[0]
            roster = self.session.process_welcome(payload[2:], self._known())
            if roster is None:
                await self._send(31, {"transition_id": transition})
                await self._send_key_package()
            else:
                self.epochs.append(len(roster))
                await self._joined(transition)

    def _known(self) -> set[str]:
        return self.recognized | {str(self.user_id)}

    async def _joined(self, transition: int) -> None:
        self._prepare(transition, self.session.get_protocol_version())
        if transition != 0:
            await self._send(23, {"transition_id": transition})

    async def _init(self, version: int) -> None:
        self.protocol_version = version
        if version > 0 and self.session is not None:
            self.session.init(version, self.channel_id, str(self.user_id), None)
            await self._send_key_package()
        else:
            self._prepare(0, 0)

    async def _send_key_package(self) -> None:
        await self._send_binary(26, self.session.get_marshalled_key_package())

    # ------------------------------------------------------------------ ratchets (as DaveSessionManager.ts)
    def _decryptor(self, user_id: int) -> Any:
        if user_id not in self._decryptors:
            decryptor = libdave().Decryptor()
            if self._latest_version == 0:
                decryptor.transition_to_passthrough_mode(True)
            self._decryptors[user_id] = decryptor
        return self._decryptors[user_id]

    def _setup_ratchet(self, user_id: int, version: int) -> None:
        if self.session is None:
            return
        if user_id == self.user_id:
            ratchet = self.session.get_key_ratchet(str(user_id)) if version > 0 else None
            self.encryptor.set_key_ratchet(ratchet)
            self.encryptor.set_passthrough_mode(version == 0)
            return
        decryptor = self._decryptor(user_id)
        if version == 0:
            decryptor.transition_to_passthrough_mode(True, TRANSITION_EXPIRY)
            return
        ratchet = self.session.get_key_ratchet(str(user_id))
        if ratchet is not None:
            decryptor.transition_to_key_ratchet(ratchet, TRANSITION_EXPIRY)
        decryptor.transition_to_passthrough_mode(False, TRANSITION_EXPIRY)

    def _prepare(self, transition: int, version: int) -> None:
        for user in self.recognized:
            if int(user) != self.user_id:
                self._setup_ratchet(int(user), version)
        if transition == 0:
            self._setup_ratchet(self.user_id, version)
        else:
            self._transitions[transition] = version
        self._latest_version = version

    def _execute(self, transition: int) -> None:
        version = self._transitions.pop(transition, None)
        if version is None:
            return
        if version == 0 and self.session is not None:
            self.session.reset()
        self.protocol_version = version
        self._setup_ratchet(self.user_id, version)

    def _on_mls_failure(self, source: str, reason: str) -> None:
        self.failures.append(f"{source}: {reason}")

    # ------------------------------------------------------------------ media
    def _on_media(self, user_id: int, ssrc: int, payload: bytes) -> None:
        e2ee = media.looks_like_dave_frame(payload)
        if not self.dave_enabled:
            opus = None if e2ee else payload  # no DAVE here: an E2EE frame is undecodable noise
        else:
            opus = self._decryptor(user_id).decrypt(libdave().MediaType.audio, payload)
        self.frames.append(Frame(user_id, time.monotonic(), payload, opus, e2ee))

    def heard(self, user_id: int) -> list[bytes]:
        """The Opus frames from ``user_id`` that Bob could play (silence frames left out)."""
        return [f.opus for f in self.frames if f.user_id == user_id and f.opus and f.opus != media.OPUS_SILENCE]

    def failed(self, user_id: int) -> list[Frame]:
        return [f for f in self.frames if f.user_id == user_id and f.opus is None]

    def decrypt_stats(self, user_id: int) -> Any:
        return self._decryptor(user_id).get_stats(libdave().MediaType.audio)

    def privacy_code(self) -> str | None:
        """The call's displayable code as Discord clients show it: the epoch authenticator, 30 digits in groups of 5."""
        authenticator = self.session.get_last_epoch_authenticator() if self.session is not None else None
        return libdave().generate_displayable_code(authenticator, 30, 5) if authenticator else None

    def send(self, opus_frames: list[bytes]) -> int:
        """E2EE-encrypt frames with libdave and have the server relay them (returns frames relayed)."""
        sent = 0
        for frame in opus_frames:
            payload = frame
            if self.encryptor is not None:
                payload = self.encryptor.encrypt(libdave().MediaType.audio, self.ssrc, frame) or b""
            if payload:
                sent += self._server.relay(self.user_id, payload, sequence=self._sequence, timestamp=self._timestamp)
            self._sequence, self._timestamp = self._sequence + 1, self._timestamp + 960
        return sent
