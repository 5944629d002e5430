"""The voice websocket (gateway v8): handshake, heartbeats with ``seq_ack``, SPEAKING, and RESUME
after a dropped socket.

hikari hands over the endpoint as ``wss://host:port``. We connect over TLS, except to a loopback
host (127.0.0.0/8, ::1, localhost), which gets plain ``ws://``: that is only ever a local test
server — Discord never hands out loopback endpoints — and spares tests a certificate authority.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from framework.voice_native.crypto import choose_mode
from framework.voice_native.dave import JSON_OPS, Dave, max_version
from framework.voice_native.udp import UdpTransport

log = logging.getLogger(__name__)

GATEWAY_VERSION = 8
HANDSHAKE_TIMEOUT = 10.0
RESUME_ATTEMPTS = 3

CLOSE_REASONS = {
    4004: "the voice server refused our authentication",
    4006: "the voice session is no longer valid",
    4009: "the voice session timed out",
    4011: "the voice server was not found",
    4014: "Discord ended the call (the channel may have been deleted)",
    4015: "the voice server crashed",
    4900: "the voice server stopped answering",
    4016: "the voice server does not accept our encryption modes",
    4017: ("Discord requires end-to-end encrypted voice (DAVE) for this call, which is switched off "
           "or unavailable in this bot"),
    4020: "the voice server rejected a malformed request",
}
DISCONNECTED = 4014
"""Discord ended the socket: the bot was kicked, the channel deleted, or the call moved (then a
new voice server is announced)."""
MISSED_ACKS = 2
"""Heartbeats in a row without an acknowledgement before the socket counts as dead."""
ZOMBIE = 4900
"""Our own code for a socket we closed because a heartbeat went unacknowledged (a "zombie"
connection that still looks open): the session itself may be fine, so it is resumed."""
RESUMABLE = {1000, 1001, 1006, 4009, 4015, ZOMBIE}
"""Close codes after which the session may be resumed (anything else ends it)."""


class VoiceGatewayClosed(ConnectionError):
    """The voice server closed the websocket; ``explanation`` is fit for users."""

    def __init__(self, code: int | None, detail: str = "") -> None:
        self.code = code
        self.explanation = CLOSE_REASONS.get(code or 0, f"the voice server closed the connection ({code})")
        super().__init__(f"{self.explanation} [close code {code}] {detail}".strip())


def websocket_url(endpoint: str) -> str:
    """``wss://host:port`` -> the v8 URL; plain ``ws://`` for loopback hosts only."""
    parts = urlsplit(endpoint if "://" in endpoint else f"wss://{endpoint}")
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    scheme = "ws" if loopback else "wss"
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return f"{scheme}://{netloc}/?v={GATEWAY_VERSION}"


@dataclasses.dataclass
class Session:
    """What the handshake settled: our SSRC, the cipher mode, the key and the media socket."""

    ssrc: int
    mode: str
    secret_key: bytes
    udp: UdpTransport
    dave_protocol_version: int = 0


class VoiceGateway:
    """One voice websocket session; reconnects (RESUME) by itself and calls ``on_lost`` when it gives up."""

    def __init__(self, endpoint: str, *, server_id: int, user_id: int, session_id: str, token: str,
                 on_lost: Callable[[VoiceGatewayClosed], Awaitable[None]],
                 on_resumed: Callable[[], Awaitable[None]] | None = None, channel_id: int = 0,
                 dave: bool = True, timeout: float = HANDSHAKE_TIMEOUT) -> None:
        self.url = websocket_url(endpoint)
        self.timeout = timeout
        """Seconds a handshake (or a resume) may take."""
        self.max_dave_version = max_version(dave)
        self.dave = Dave(user_id, channel_id, send_json=self._send, send_binary=self._send_bytes)
        self.server_id, self.user_id, self.session_id, self.token = server_id, user_id, session_id, token
        self.on_lost = on_lost
        self.on_resumed = on_resumed
        self.session: Session | None = None
        self.seq_ack = -1
        self.resumes = 0
        self.ready = asyncio.Event()
        """Set while the websocket is up and the session usable (cleared during a resume)."""
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._closing = False
        self._acked: dict[aiohttp.ClientWebSocketResponse, bool] = {}
        """Per socket: was the last heartbeat acknowledged (op 6)?"""
        self.zombies = 0
        """Sockets closed because the server stopped acknowledging heartbeats."""
        self._zombie_socket: aiohttp.ClientWebSocketResponse | None = None

    # ------------------------------------------------------------------ public
    async def connect(self) -> Session:
        """Open the socket and run the full handshake (IDENTIFY ... SESSION_DESCRIPTION)."""
        self._http = aiohttp.ClientSession()
        try:
            self.session = await asyncio.wait_for(self._handshake(), self.timeout)
        except BaseException:
            await self.close()
            raise
        self.ready.set()
        return self.session

    async def speaking(self, on: bool) -> None:
        if self.session is not None:
            await self._send(5, {"speaking": 1 if on else 0, "delay": 0, "ssrc": self.session.ssrc})

    async def close(self) -> None:
        self._closing = True
        self.ready.clear()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self.session is not None:
            self.session.udp.close()
        if self._http is not None:
            await self._http.close()

    # ------------------------------------------------------------------ handshake
    async def _open(self) -> dict[str, Any]:
        """Connect the websocket, start reading; returns HELLO's data."""
        assert self._http is not None
        hello = self._expect(8)
        self._ws = await self._http.ws_connect(self.url, autoping=True, max_msg_size=0)
        self._spawn(self._read(self._ws))
        data = await hello
        self._spawn(self._heartbeat(self._ws, float(data["heartbeat_interval"]) / 1000))
        return data

    async def _handshake(self) -> Session:
        await self._open()
        ready = self._expect(2)
        await self._send(0, {"server_id": str(self.server_id), "user_id": str(self.user_id),
                             "session_id": self.session_id, "token": self.token,
                             "max_dave_protocol_version": self.max_dave_version})
        info = await ready
        mode = choose_mode(list(info.get("modes", [])))
        udp = await UdpTransport.open(info["ip"], int(info["port"]))
        try:
            address, port = await udp.discover(int(info["ssrc"]))
            described = self._expect(4)
            await self._send(1, {"protocol": "udp", "data": {"address": address, "port": port, "mode": mode}})
            desc = await described
        except BaseException:
            udp.close()
            raise
        session = Session(int(info["ssrc"]), desc.get("mode", mode), bytes(desc["secret_key"]), udp,
                          int(desc.get("dave_protocol_version") or 0))
        if session.dave_protocol_version and self.max_dave_version:
            await self.dave.start(session.dave_protocol_version)
        return session

    async def _resume(self) -> None:
        await self._open()
        resumed = self._expect(9)
        await self._send(7, {"server_id": str(self.server_id), "session_id": self.session_id,
                             "token": self.token, "seq_ack": self.seq_ack})
        await resumed

    # ------------------------------------------------------------------ socket plumbing
    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks = [t for t in self._tasks if not t.done()] + [task]

    def _expect(self, op: int) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[op] = future
        return future

    async def _send(self, op: int, data: Any) -> None:
        if self._ws is None or self._ws.closed:
            raise VoiceGatewayClosed(None, "the voice websocket is not open")
        await self._ws.send_str(json.dumps({"op": op, "d": data}))

    async def _send_bytes(self, frame: bytes) -> None:
        if self._ws is None or self._ws.closed:
            raise VoiceGatewayClosed(None, "the voice websocket is not open")
        await self._ws.send_bytes(frame)

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse, interval: float) -> None:
        """Beat every ``interval``. Two beats in a row unacknowledged by the next one mean the socket
        is a zombie (open, but nobody answers): close it, and the reader resumes the session. (Two,
        so that one late acknowledgement on a busy event loop does not cost a reconnection.)"""
        self._acked[ws] = True
        missed = 0
        try:
            while not ws.closed:
                missed = 0 if self._acked[ws] else missed + 1
                if missed >= MISSED_ACKS:
                    self.zombies += 1
                    log.warning("voice websocket of guild %s stopped acknowledging heartbeats; reconnecting",
                                self.server_id)
                    self._zombie_socket = ws
                    await ws.close(code=ZOMBIE, message=b"heartbeat not acknowledged")
                    return
                self._acked[ws] = False
                try:
                    await ws.send_str(json.dumps({"op": 3, "d": {"t": int(time.time() * 1000),
                                                                 "seq_ack": self.seq_ack}}))
                except ConnectionError:
                    return
                await asyncio.sleep(interval)
        finally:
            self._acked.pop(ws, None)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                frame = json.loads(msg.data)
                if isinstance(frame.get("seq"), int):
                    self.seq_ack = frame["seq"]
                if frame.get("op") == 6 and ws in self._acked:
                    self._acked[ws] = True
                waiter = self._waiters.pop(frame.get("op"), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(frame.get("d") or {})
                elif frame.get("op") in JSON_OPS:
                    await self._dave(self.dave.on_json(frame["op"], frame.get("d") or {}))
            elif msg.type == aiohttp.WSMsgType.BINARY and len(msg.data) >= 3:
                self.seq_ack = struct.unpack_from(">H", msg.data)[0]
                await self._dave(self.dave.on_binary(bytes(msg.data)))
        code = ZOMBIE if ws is self._zombie_socket else ws.close_code
        closed = VoiceGatewayClosed(code, "")
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(closed)
        self._waiters.clear()
        if self._closing or ws is not self._ws or not self.ready.is_set():
            return  # closed by us, superseded, or still handshaking (the handshake raises)
        self.ready.clear()
        log.warning("voice websocket of guild %s closed: %s", self.server_id, closed)
        if closed.code in RESUMABLE and await self._try_resume():
            return
        await self.on_lost(closed)

    async def _dave(self, handling: Awaitable[None]) -> None:
        try:
            await handling
        except (ConnectionError, aiohttp.ClientError) as exc:  # the socket went away mid-answer
            log.info("DAVE answer not sent: %s", exc)
        except Exception:
            # close is noticed, so a dropped socket is never resumed and the call hangs silently
            log.exception("DAVE message in guild %s could not be handled", self.server_id)

    async def _try_resume(self) -> bool:
        for attempt in range(RESUME_ATTEMPTS):
            await asyncio.sleep(0.25 * 2 ** attempt)
            if self._closing:
                return True
            try:
                await asyncio.wait_for(self._resume(), self.timeout)
            except (TimeoutError, OSError, aiohttp.ClientError, VoiceGatewayClosed) as exc:
                log.info("voice resume attempt %d for guild %s failed: %s", attempt + 1, self.server_id, exc)
                if self._ws is not None and not self._ws.closed:
                    await self._ws.close()  # a timed-out attempt's socket would stay open otherwise
                if isinstance(exc, VoiceGatewayClosed) and exc.code not in RESUMABLE:
                    return False  # e.g. 4006: the session is gone, more attempts cannot succeed
                continue
            self.resumes += 1
            self.ready.set()
            log.info("voice session of guild %s resumed", self.server_id)
            if self.on_resumed is not None:
                await self.on_resumed()
            return True
        return False
