"""RTP packets as Discord voice uses them: version 2, payload type 0x78 (Opus), one SSRC; the
sequence number advances by one and the timestamp by 960 samples per 20 ms frame."""

from __future__ import annotations

import dataclasses
import struct

from framework.voice_native.codec import FRAME_SAMPLES
from framework.voice_native.crypto import TransportCipher

HEADER = struct.Struct(">BBHII")
PAYLOAD_TYPE = 0x78


@dataclasses.dataclass(frozen=True)
class RtpHeader:
    sequence: int
    timestamp: int
    ssrc: int
    first_byte: int = 0x80
    payload_type: int = PAYLOAD_TYPE

    def pack(self) -> bytes:
        return HEADER.pack(self.first_byte, self.payload_type, self.sequence, self.timestamp, self.ssrc)

    @classmethod
    def parse(cls, packet: bytes) -> tuple[RtpHeader, int]:
        """The header and its length (CSRCs and, for rtpsize, the extension's 4-byte preamble count)."""
        first, kind, seq, ts, ssrc = HEADER.unpack_from(packet)
        size = HEADER.size + 4 * (first & 0x0F)
        if first & 0x10:
            size += 4  # rtpsize modes: the extension preamble is authenticated, not encrypted
        return cls(seq, ts, ssrc, first, kind & 0x7F), size


class Packetizer:
    """Numbers and seals the frames of one voice session (sequence, timestamp, nonce counter)."""

    def __init__(self, ssrc: int, cipher: TransportCipher, *, sequence: int = 0, timestamp: int = 0) -> None:
        self.ssrc = ssrc
        self.cipher = cipher
        self.sequence = sequence
        self.timestamp = timestamp
        self.counter = 0

    def packet(self, opus: bytes) -> bytes:
        header = RtpHeader(self.sequence, self.timestamp, self.ssrc).pack()
        sealed = self.cipher.seal(header, opus, self.counter)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + FRAME_SAMPLES) & 0xFFFFFFFF
        self.counter = (self.counter + 1) & 0xFFFFFFFF
        return sealed
