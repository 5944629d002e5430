"""A local Discord voice server for tests: the voice websocket (gateway v8) and the UDP media
socket, on 127.0.0.1. Point the emulator at it and the bot's voice backend connects here:

    voice = LocalVoiceServer(); await voice.start()
    emu.voice_endpoint = voice.endpoint
    ...
    session = voice.sessions[-1]
    pcm = session.decoded()            # what a listener would have heard (48 kHz mono s16le)

Websocket: HELLO, IDENTIFY, READY, SELECT_PROTOCOL, SESSION_DESCRIPTION, HEARTBEAT/ACK (``seq_ack``
recorded), SPEAKING, RESUME/RESUMED; every server message carries ``seq``. UDP: IP discovery
(74- or 78-byte requests, 74-byte replies) and RTP, decrypted in the negotiated AEAD mode and kept
with header and nonce for assertions. Faults: ``drop()`` closes the websocket (resumable or not),
``refuse_resume``, ``skip_acks`` (unanswered heartbeats), ``silent`` (no HELLO), ``require_dave`` (close 4017 when the client does not offer DAVE, as Discord
does since 2026-03-02). DAVE itself (MLS key exchange, media frames) is not simulated: with
``offer_dave`` the server announces ``dave_protocol_version: 1`` and records the binary frames
(op 26 key package) a client sends, nothing more.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import struct
import time
from typing import Any

from aiohttp import WSMsgType, web

from framework.voice_native.codec import SILENCE_FRAME, decode_opus
from framework.voice_native.crypto import MODES, TransportCipher
from framework.voice_native.rtp import RtpHeader


@dataclasses.dataclass
class ReceivedPacket:
    header: RtpHeader
    nonce: int
    opus: bytes
    size: int
    arrived: float = 0.0
    """``time.time()`` when the datagram arrived (for latency and pacing figures)."""


@dataclasses.dataclass(eq=False)
class VoiceSession:
    """One client session (IDENTIFY ... close), what it sent, and how it ended."""

    session_id: str
    token: str
    guild_id: int
    user_id: int
    ssrc: int
    identify: dict[str, Any]
    gateway_version: str | None = None
    """The ``v`` query parameter of the websocket URL (8 for the current voice gateway)."""
    mode: str | None = None
    key: bytes = b""
    cipher: TransportCipher | None = None
    udp_addr: tuple[str, int] | None = None
    discovery_sizes: list[int] = dataclasses.field(default_factory=list)
    packets: list[ReceivedPacket] = dataclasses.field(default_factory=list)
    undecryptable: int = 0
    speaking: list[int] = dataclasses.field(default_factory=list)
    heartbeats: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    binary_frames: list[bytes] = dataclasses.field(default_factory=list)
    """Binary frames from the client (DAVE: ``op(1) payload``, e.g. op 26 key packages)."""
    client_ops: list[tuple[int, Any]] = dataclasses.field(default_factory=list)
    """JSON messages from the client other than the handshake ones (DAVE ops 23, 31 ...)."""
    resumes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    closed_by_client: bool = False
    """The client closed the websocket (it left); not set when the server dropped it."""
    dropped: bool = False
    close_code: int | None = None
    ws: web.WebSocketResponse | None = dataclasses.field(default=None, repr=False)
    seq: int = 0

    @property
    def audio_packets(self) -> list[ReceivedPacket]:
        """Packets carrying audio (the trailing Opus silence frames left out)."""
        return [p for p in self.packets if p.opus != SILENCE_FRAME]

    def decoded(self, *, rate: int = 48_000) -> bytes:
        """The received audio, decoded as a listener would: mono s16le PCM."""
        return decode_opus([p.opus for p in self.audio_packets], rate=rate)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: LocalVoiceServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server._datagram(data, addr)


class LocalVoiceServer:
    def __init__(self, *, modes: tuple[str, ...] = MODES, require_dave: bool = False, offer_dave: bool = False,
                 heartbeat_interval_ms: int = 13_750) -> None:
        self.modes = modes
        self.require_dave = require_dave
        self.offer_dave = offer_dave
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.refuse_resume = False
        self.skip_acks = 0
        """The next N heartbeats go unacknowledged (a zombie connection: open, but not answering)."""
        self.silent = False
        """Accept websockets but never say HELLO (a voice server that hangs)."""
        self.hello_gate: asyncio.Event | None = None
        """When set to an Event, HELLO waits until it is set (a slow voice server)."""
        self.sessions: list[VoiceSession] = []
        self.connections = 0
        self._by_ssrc: dict[int, VoiceSession] = {}
        self._runner: web.AppRunner | None = None
        self._udp: _Udp | None = None
        self.port = 0
        self.udp_port = 0

    @property
    def endpoint(self) -> str:
        """What the emulator's VOICE_SERVER_UPDATE carries (hikari adds ``wss://``)."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._websocket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        transport, self._udp = await loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=("127.0.0.1", 0))
        self.udp_port = transport.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        for session in self.sessions:
            if session.ws is not None and not session.ws.closed:
                await session.ws.close(code=1001)
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def current(self) -> VoiceSession | None:
        return self.sessions[-1] if self.sessions else None

    async def drop(self, *, code: int = 4015) -> None:
        """Close the current session's websocket (4015: "voice server crashed", resumable)."""
        session = self.current
        assert session is not None and session.ws is not None, "no voice session to drop"
        session.dropped = True
        await session.ws.close(code=code, message=b"local voice server drop")

    async def send_json(self, op: int, data: Any) -> None:
        """Send a JSON message to the current session's client (e.g. DAVE ops 21, 22, 24)."""
        session = self.current
        assert session is not None and session.ws is not None
        await self._send(session, session.ws, op, data)

    async def send_binary(self, op: int, payload: bytes) -> None:
        """Send a binary DAVE message ``seq(2) op(1) payload`` (e.g. 29 announce commit, 30 welcome)."""
        session = self.current
        assert session is not None and session.ws is not None
        session.seq += 1
        await session.ws.send_bytes(struct.pack(">HB", session.seq & 0xFFFF, op) + payload)

    def send_udp(self, data: bytes) -> None:
        """Send a datagram to the current session's client, as Discord relays other users' audio."""
        session = self.current
        assert session is not None and session.udp_addr is not None and self._udp is not None
        assert self._udp.transport is not None
        self._udp.transport.sendto(data, session.udp_addr)

    # ------------------------------------------------------------------ websocket
    async def _send(self, session: VoiceSession | None, ws: web.WebSocketResponse, op: int, data: Any) -> None:
        frame: dict[str, Any] = {"op": op, "d": data}
        if session is not None:
            session.seq += 1
            frame["seq"] = session.seq
        await ws.send_str(json.dumps(frame))

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        if self.hello_gate is not None:
            await self.hello_gate.wait()
        if not self.silent:
            await self._send(None, ws, 8, {"heartbeat_interval": self.heartbeat_interval_ms})
        session: VoiceSession | None = None
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                if session is not None:
                    session.binary_frames.append(bytes(msg.data))
                continue
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op, data = frame.get("op"), frame.get("d") or {}
            if op == 0:
                session = await self._identify(ws, data)
                if session is not None:
                    session.gateway_version = request.query.get("v")
            elif op == 7:
                session = await self._resume(ws, data)
            elif op == 3:
                if session is not None:
                    session.heartbeats.append(data)
                if self.skip_acks > 0:
                    self.skip_acks -= 1
                else:
                    await self._send(session, ws, 6, {"t": data.get("t")})
            elif session is None:
                await ws.close(code=4003, message=b"not authenticated")
            elif op == 1:
                await self._select(session, ws, data)
            elif op == 5:
                session.speaking.append(int(data.get("speaking", 0)))
            else:
                session.client_ops.append((op, frame.get("d")))
        if session is not None and session.ws is ws:
            session.close_code = ws.close_code
            session.closed_by_client = not session.dropped
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> VoiceSession | None:
        if self.require_dave and int(data.get("max_dave_protocol_version") or 0) < 1:
            await ws.close(code=4017, message=b"E2EE/DAVE protocol required")
            return None
        session = VoiceSession(str(data["session_id"]), str(data["token"]), int(data["server_id"]),
                               int(data["user_id"]), secrets.randbelow(2**31) + 1, data, ws=ws)
        self.sessions.append(session)
        self._by_ssrc[session.ssrc] = session
        await self._send(session, ws, 2, {"ssrc": session.ssrc, "ip": "127.0.0.1", "port": self.udp_port,
                                          "modes": list(self.modes), "heartbeat_interval": self.heartbeat_interval_ms})
        return session

    async def _select(self, session: VoiceSession, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        mode = (data.get("data") or {}).get("mode")
        if mode not in self.modes:
            await ws.close(code=4016, message=b"unknown encryption mode")
            return
        session.mode, session.key = mode, secrets.token_bytes(32)
        session.cipher = TransportCipher(mode, session.key)
        dave = 1 if (self.offer_dave or self.require_dave) else 0
        await self._send(session, ws, 4, {"mode": mode, "secret_key": list(session.key),
                                          "dave_protocol_version": dave})

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> VoiceSession | None:
        session = next((s for s in self.sessions if s.session_id == data.get("session_id")
                        and s.token == data.get("token")), None)
        if session is None or self.refuse_resume:
            await ws.close(code=4006, message=b"session no longer valid")
            return None
        session.resumes.append(data)
        session.ws, session.dropped = ws, False
        await self._send(session, ws, 9, None)
        return session

    # ------------------------------------------------------------------ UDP
    def _datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self._udp is not None and self._udp.transport is not None
        if len(data) in (74, 78) and struct.unpack_from(">H", data)[0] == 1:
            ssrc = struct.unpack_from(">I", data, 4)[0]
            session = self._by_ssrc.get(ssrc)
            if session is not None:
                session.discovery_sizes.append(len(data))
                session.udp_addr = addr
            reply = struct.pack(">HHI", 2, 70, ssrc) + addr[0].encode().ljust(64, b"\x00") + struct.pack(">H", addr[1])
            self._udp.transport.sendto(reply, addr)
            return
        if len(data) < 12 + 16 + 4:
            return
        header, size = RtpHeader.parse(data)
        session = self._by_ssrc.get(header.ssrc)
        if session is None or session.cipher is None:
            return
        try:
            opus, nonce = session.cipher.open(data[:size], data[size:])
        except Exception:  # noqa: BLE001 - a forged or mis-sealed packet is counted, not fatal
            session.undecryptable += 1
            return
        session.packets.append(ReceivedPacket(header, nonce, opus, len(data), time.time()))
