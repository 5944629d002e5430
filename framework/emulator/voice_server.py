"""A local Discord voice server for tests and the sandbox: the voice websocket (gateway v8) and
the UDP media socket, on 127.0.0.1. Point the emulator at it and the bot's voice backend connects:

    voice = LocalVoiceServer(); await voice.start()
    emu.voice_endpoint = voice.endpoint_for      # tells the server which channel each call is in
    ...
    session = voice.sessions[-1]
    pcm = session.decoded()            # what a listener would have heard (48 kHz mono s16le)

Websocket: HELLO, IDENTIFY, READY, SELECT_PROTOCOL, SESSION_DESCRIPTION, HEARTBEAT/ACK (``seq_ack``
recorded), SPEAKING (relayed to the other members), RESUME/RESUMED, CLIENTS_CONNECT/DISCONNECT;
every server message carries ``seq``. UDP: IP discovery (74- or 78-byte requests, 74-byte
replies) and RTP, opened in the negotiated AEAD mode by ``framework.emulator.media`` — code
written independently of the bot's (``framework.voice_native`` is not imported here).

DAVE: with ``offer_dave`` (or ``require_dave``, which also closes 4017 on a client without DAVE)
the server announces ``dave_protocol_version: 1`` and, when ``mls`` is on and ``rfc9420`` is
installed, acts as the group's external sender (``framework.emulator.dave_gateway``): key
packages, proposals, commits, welcomes, transitions, downgrade/upgrade, op 31 recovery. Without
``mls`` it only records the binary frames a client sends.

Call members other than the bot (e.g. ``framework.emulator.libdave_member``) join over their own
websocket and take media in-process through ``listen``: the server hands them each frame after
stripping transport encryption, as Discord's SFU relays it. ``relay`` sends a member's frame to
the bot's UDP socket, transport-encrypted with the bot's key.

SPEAK: with ``speech`` set (the emulator: ``voice.speech = emu``), the audio of a member who may not speak
in its channel is received (``packets``) but relayed to no one (``unheard``), and refused once per session.

Faults: ``drop()`` closes the websocket (resumable or not), ``refuse_resume``, ``skip_acks``
(unanswered heartbeats), ``silent`` (no HELLO), ``hello_gate`` (a slow HELLO).

The module is longer than 400 lines because the websocket handshake, the UDP socket and the call
membership act on one shared per-call state: media checks, MLS and the libdave member already
live in their own modules, and what is left is the one state machine of a voice call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import struct
import time
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from framework.emulator import media
from framework.emulator.dave_gateway import DaveCall, Member

MediaListener = Callable[[int, int, bytes], None]
"""``(sender user id, sender ssrc, payload after transport decryption)``."""


class SpeechRule(Protocol):
    """Who is heard in a call (the emulator: ``voice.speech = emu``): the SFU relays no audio from a member
    without SPEAK, and the refusal is recorded where the emulator records its refusals."""

    def may_speak(self, guild_id: int, user_id: int) -> bool: ...

    def refuse_speech(self, guild_id: int, user_id: int) -> None: ...


@dataclasses.dataclass
class ReceivedPacket:
    header: media.Rtp
    nonce: int
    opus: bytes
    """The transport payload: an Opus frame, or a DAVE frame around one when E2EE is on."""
    size: int
    arrived: float = 0.0
    """``time.time()`` when the datagram arrived (for latency and pacing figures)."""
    heard: int = 0
    """Frames the server had relayed to this client (other members' audio) when this one was read:
    orders what a client sent against what it heard without comparing clocks (a datagram read
    late counts as later, never as earlier)."""

    @property
    def e2ee(self) -> bool:
        return media.looks_like_dave_frame(self.opus)


@dataclasses.dataclass(eq=False)
class VoiceSession:
    """One client session (IDENTIFY ... close), what it sent, and how it ended."""

    session_id: str
    token: str
    guild_id: int
    user_id: int
    ssrc: int
    identify: dict[str, Any]
    channel_id: int = 0
    gateway_version: str | None = None
    """The ``v`` query parameter of the websocket URL (8 for the current voice gateway)."""
    mode: str | None = None
    key: bytes = b""
    dave_protocol_version: int = 0
    """What SESSION_DESCRIPTION announced."""
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
    server_ops: list[int] = dataclasses.field(default_factory=list)
    """Opcodes the server sent (JSON and binary), in order."""
    resumes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    closed_by_client: bool = False
    """The client closed the websocket (it left); not set when the server dropped it."""
    dropped: bool = False
    close_code: int | None = None
    ws: web.WebSocketResponse | None = dataclasses.field(default=None, repr=False)
    seq: int = 0
    relayed: int = 0
    """Packets relayed to this client from other members (their transport nonce counter)."""
    member: Member | None = dataclasses.field(default=None, repr=False)
    unheard: int = 0
    """Audio packets received but relayed to no one: the member may not speak (``LocalVoiceServer.speech``)."""

    @property
    def audio_packets(self) -> list[ReceivedPacket]:
        """Packets carrying audio (the trailing Opus silence frames left out)."""
        return [p for p in self.packets if p.opus != media.OPUS_SILENCE]

    def decoded(self, *, rate: int = 48_000) -> bytes:
        """The received audio, decoded as a listener would: mono s16le PCM (transport-only calls;
        with DAVE on, ask a member running libdave what it heard)."""
        return media.decode_opus([p.opus for p in self.audio_packets], rate=rate)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: LocalVoiceServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server._datagram(data, addr)


class LocalVoiceServer:
    def __init__(self, *, modes: tuple[str, ...] = media.TRANSPORT_MODES, require_dave: bool = False,
                 offer_dave: bool = False, mls: bool = True, heartbeat_interval_ms: int = 13_750,
                 transition_timeout: float = 2.0) -> None:
        self.modes = modes
        self.require_dave = require_dave
        self.offer_dave = offer_dave
        self.mls = mls
        """Run the MLS external sender when DAVE is offered (needs ``rfc9420``)."""
        self.transition_timeout = transition_timeout
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
        self.channel_ids: dict[int, int] = {}
        """Guild -> the voice channel its call is in (learnt through ``endpoint_for``)."""
        self.calls: dict[int, DaveCall] = {}
        """Channel -> the call's DAVE state."""
        self.listeners: dict[int, MediaListener] = {}
        self.speech: SpeechRule | None = None
        """Asked before relaying a member's audio (SPEAK); ``None``: everyone is heard."""
        self._by_ssrc: dict[int, VoiceSession] = {}
        self._runner: web.AppRunner | None = None
        self._udp: _Udp | None = None
        self.port = 0
        self.udp_port = 0

    @property
    def endpoint(self) -> str:
        """What the emulator's VOICE_SERVER_UPDATE carries (hikari adds ``wss://``)."""
        return f"127.0.0.1:{self.port}"

    def endpoint_for(self, guild_id: int, channel_id: int | None) -> str:
        """For ``emu.voice_endpoint``: Discord's token ties a session to its channel; ours records
        the channel per guild here, since the MLS group id is the channel id."""
        if channel_id is not None:
            self.channel_ids[int(guild_id)] = int(channel_id)
        return self.endpoint

    @property
    def dave(self) -> bool:
        return self.offer_dave or self.require_dave

    def call(self, channel_id: int) -> DaveCall:
        call = self.calls.get(channel_id)
        if call is None:
            call = self.calls[channel_id] = DaveCall(channel_id, enabled=self.dave and self.mls,
                                                     transition_timeout=self.transition_timeout)
        return call

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
        for call in self.calls.values():
            call.close()
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

    def session_of(self, user_id: int) -> VoiceSession | None:
        """The latest session of a user."""
        return next((s for s in reversed(self.sessions) if s.user_id == user_id), None)

    async def drop(self, *, code: int = 4015, session: VoiceSession | None = None) -> None:
        """Close a session's websocket (the current one by default; 4015: "voice server crashed", resumable)."""
        session = session or self.current
        assert session is not None and session.ws is not None, "no voice session to drop"
        session.dropped = True
        await session.ws.close(code=code, message=b"local voice server drop")

    async def send_json(self, op: int, data: Any, session: VoiceSession | None = None) -> None:
        """Send a JSON message to a session's client (the current one by default)."""
        session = session or self.current
        assert session is not None and session.ws is not None
        await self._send(session, session.ws, op, data)

    async def send_binary(self, op: int, payload: bytes, session: VoiceSession | None = None) -> None:
        """Send a binary DAVE message ``seq(2) op(1) payload`` (e.g. 29 announce commit, 30 welcome)."""
        session = session or self.current
        assert session is not None and session.ws is not None
        session.seq += 1
        session.server_ops.append(op)
        await session.ws.send_bytes(struct.pack(">HB", session.seq & 0xFFFF, op) + payload)

    def send_udp(self, data: bytes, session: VoiceSession | None = None) -> None:
        """Send a datagram to a session's client (the current one by default)."""
        session = session or self.current
        assert session is not None and session.udp_addr is not None and self._udp is not None
        assert self._udp.transport is not None
        self._udp.transport.sendto(data, session.udp_addr)

    def listen(self, user_id: int, listener: MediaListener) -> None:
        """An in-process member takes the media of the others in its call (after transport decryption)."""
        self.listeners[user_id] = listener

    def relay(self, user_id: int, payload: bytes, *, sequence: int, timestamp: int) -> int:
        """Send a member's frame to the UDP-connected members of its call, sealed with each one's
        transport key (as the SFU forwards audio); returns how many got it."""
        sender = self.session_of(user_id)
        assert sender is not None, "relay from a user without a voice session"
        if not self._heard(sender):
            return 0
        sent = 0
        for session in self._call_sessions(sender.channel_id):
            if session is sender or session.udp_addr is None or not session.mode:
                continue
            packet = media.seal_packet(session.mode, session.key, sequence=sequence, timestamp=timestamp,
                                       ssrc=sender.ssrc, payload=payload, counter=session.relayed)
            session.relayed += 1
            self.send_udp(packet, session)
            sent += 1
        return sent

    def _call_sessions(self, channel_id: int) -> list[VoiceSession]:
        """The live sessions of a call (a user's latest session, while its websocket is open or resumable)."""
        latest: dict[int, VoiceSession] = {}
        for session in self.sessions:
            if session.channel_id == channel_id and not session.closed_by_client:
                latest[session.user_id] = session
        return list(latest.values())

    def _heard(self, session: VoiceSession) -> bool:
        """Whether the SFU relays this member's audio; a refused member's first refused packet is recorded."""
        if self.speech is None or self.speech.may_speak(session.guild_id, session.user_id):
            return True
        session.unheard += 1
        if session.unheard == 1:
            self.speech.refuse_speech(session.guild_id, session.user_id)
        return False

    # ------------------------------------------------------------------ websocket
    async def _send(self, session: VoiceSession | None, ws: web.WebSocketResponse, op: int, data: Any) -> None:
        frame: dict[str, Any] = {"op": op, "d": data}
        if session is not None:
            session.seq += 1
            frame["seq"] = session.seq
            session.server_ops.append(op)
        await ws.send_str(json.dumps(frame))

    def _member(self, session: VoiceSession) -> Member:
        async def send_json(op: int, data: Any) -> None:
            if session.ws is not None and not session.ws.closed:
                await self._send(session, session.ws, op, data)

        async def send_binary(op: int, payload: bytes) -> None:
            if session.ws is not None and not session.ws.closed:
                await self.send_binary(op, payload, session)

        offered = int(session.identify.get("max_dave_protocol_version") or 0) >= 1
        return Member(session.user_id, offered, send_json, send_binary)

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        if self.hello_gate is not None:
            await self.hello_gate.wait()
        if not self.silent:
            await self._send(None, ws, 8, {"heartbeat_interval": self.heartbeat_interval_ms})
        session: VoiceSession | None = None
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    if session is not None:
                        await self._binary(session, bytes(msg.data))
                elif msg.type == WSMsgType.TEXT:
                    session = await self._text(session, ws, request, json.loads(msg.data))
        finally:
            if session is not None and session.ws is ws:
                session.close_code = ws.close_code
                session.closed_by_client = not session.dropped
                if session.closed_by_client and session.member is not None:
                    await self.call(session.channel_id).left(session.user_id)
        return ws

    async def _text(self, session: VoiceSession | None, ws: web.WebSocketResponse, request: web.Request,
                    frame: dict[str, Any]) -> VoiceSession | None:
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
            for other in self._call_sessions(session.channel_id):
                if other is not session and other.ws is not None and not other.ws.closed:
                    await self._send(other, other.ws, 5, {"user_id": str(session.user_id), "ssrc": session.ssrc,
                                                          "speaking": int(data.get("speaking", 0))})
        else:
            session.client_ops.append((int(op or 0), frame.get("d")))
            if session.member is not None and isinstance(data, dict):
                call = self.call(session.channel_id)
                if op == 23:
                    await call.ready(session.user_id, int(data.get("transition_id", 0)))
                elif op == 31:
                    await call.invalid(session.user_id, int(data.get("transition_id", 0)))
        return session

    async def _binary(self, session: VoiceSession, frame: bytes) -> None:
        session.binary_frames.append(frame)
        if session.member is None or not frame:
            return
        call = self.call(session.channel_id)
        if frame[0] == 26:
            await call.key_package(session.user_id, frame[1:])
        elif frame[0] == 28:
            await call.commit_welcome(session.user_id, frame[1:])

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> VoiceSession | None:
        if self.require_dave and int(data.get("max_dave_protocol_version") or 0) < 1:
            await ws.close(code=4017, message=b"E2EE/DAVE protocol required")
            return None
        guild_id = int(data["server_id"])
        session = VoiceSession(str(data["session_id"]), str(data["token"]), guild_id, int(data["user_id"]),
                               secrets.randbelow(2**31) + 1, data, ws=ws,
                               channel_id=self.channel_ids.get(guild_id, guild_id))
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
        call = self.call(session.channel_id)
        member = self._member(session)
        if call.enabled:
            version = call.version_with(member.dave)
        else:
            version = 1 if self.dave and member.dave else 0
        session.dave_protocol_version = version
        await self._send(session, ws, 4, {"mode": mode, "secret_key": list(session.key),
                                          "dave_protocol_version": version})
        session.member = member
        await call.joined(member)

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
        try:
            header = media.parse_rtp(data)
        except media.MediaError:
            return
        session = self._by_ssrc.get(header.ssrc)
        if session is None or not session.mode:
            return
        try:
            _, payload, nonce = media.open_packet(session.mode, session.key, data)
        except media.MediaError:  # a forged or mis-sealed packet is counted, not fatal
            session.undecryptable += 1
            return
        packet = ReceivedPacket(header, nonce, payload, len(data), time.time(), session.relayed)
        session.packets.append(packet)
        if not self._heard(session):
            return
        for other in self._call_sessions(session.channel_id):
            listener = self.listeners.get(other.user_id)
            if other is session or listener is None:
                continue
            if packet.e2ee and other.member is not None and not other.member.dave:
                continue  # as Discord's SFU: no DAVE frames to a client that cannot decrypt them
            listener(session.user_id, session.ssrc, payload)
