"""The voice UDP socket: IP discovery (74-byte request and reply) and sending sealed RTP packets."""

from __future__ import annotations

import asyncio
import struct

DISCOVERY_SIZE = 74
DISCOVERY_TIMEOUT = 3.0


class DiscoveryFailed(ConnectionError):
    """The voice server did not answer IP discovery (a firewall, or a dead server)."""


class _Protocol(asyncio.DatagramProtocol):
    """Keeps only the datagram an IP discovery waits for. The voice server also sends other users'
    audio and RTCP here for as long as the call lasts; we do not receive voice, so those are dropped
    (queueing them grew memory by ~50 packets a second per speaker)."""

    def __init__(self) -> None:
        self.reply: asyncio.Future[bytes] | None = None
        self.received = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1
        if self.reply is not None and not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable etc.: sending goes on
        pass


class UdpTransport:
    """One UDP socket connected to the voice server's media address."""

    def __init__(self, transport: asyncio.DatagramTransport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self.sent = 0

    @classmethod
    async def open(cls, host: str, port: int) -> UdpTransport:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(_Protocol, remote_addr=(host, port))
        return cls(transport, protocol)

    async def discover(self, ssrc: int) -> tuple[str, int]:
        """Our external address and port as the voice server sees them (type 1 request, type 2 reply)."""
        request = struct.pack(">HHI", 1, 70, ssrc) + bytes(66)
        assert len(request) == DISCOVERY_SIZE
        loop = asyncio.get_running_loop()
        for _ in range(3):
            self._protocol.reply = loop.create_future()
            self._transport.sendto(request)
            try:
                reply = await asyncio.wait_for(self._protocol.reply, DISCOVERY_TIMEOUT / 3)
            except TimeoutError:
                continue
            finally:
                self._protocol.reply = None
            if len(reply) >= DISCOVERY_SIZE and struct.unpack_from(">H", reply)[0] == 2:
                address = reply[8:72].split(b"\x00", 1)[0].decode("ascii")
                return address, struct.unpack_from(">H", reply, 72)[0]
        raise DiscoveryFailed("the voice server did not answer IP discovery")

    @property
    def received(self) -> int:
        """Datagrams that arrived from the voice server (kept: at most the one discovery awaits)."""
        return self._protocol.received

    def send(self, packet: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.sendto(packet)
            self.sent += 1

    def close(self) -> None:
        self._transport.close()
