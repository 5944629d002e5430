"""Ogg pages <-> Opus packets, in pure Python (RFC 3533, RFC 7845).

ffmpeg (already shipped through imageio-ffmpeg) encodes Opus into an Ogg stream; a voice
connection needs the raw Opus packets, one per 20 ms frame. Reading pages here spares a native
Opus binding. The writer is the reverse, used by the local voice server to decode what a bot sent.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence

_HEADER = struct.Struct("<4sBBqIIIB")


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def ogg_crc(data: bytes) -> int:
    """The Ogg page checksum (CRC-32, polynomial 0x04C11DB7, unreflected, initial 0)."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[(crc >> 24) ^ byte]
    return crc


class OggError(ValueError):
    """The data is not a well-formed Ogg stream."""


def iter_packets(data: bytes) -> Iterator[bytes]:
    """Every packet of the (single logical) stream, headers included, in order."""
    pos, partial = 0, b""
    while pos < len(data):
        if len(data) - pos < _HEADER.size:
            raise OggError("truncated page header")
        magic, version, _flags, _granule, _serial, _seq, _crc, count = _HEADER.unpack_from(data, pos)
        if magic != b"OggS" or version != 0:
            raise OggError(f"no Ogg page at byte {pos}")
        lacing = data[pos + _HEADER.size: pos + _HEADER.size + count]
        pos += _HEADER.size + count
        for size in lacing:
            partial += data[pos: pos + size]
            pos += size
            if size < 255:
                yield partial
                partial = b""
    if partial:
        yield partial


def opus_packets(data: bytes) -> list[bytes]:
    """The audio packets of an Ogg Opus stream (OpusHead and OpusTags dropped)."""
    packets = list(iter_packets(data))
    if not packets or not packets[0].startswith(b"OpusHead"):
        raise OggError("not an Ogg Opus stream")
    return [p for p in packets[1:] if not p.startswith(b"OpusTags")]


def _page(packet: bytes, *, granule: int, serial: int, seq: int, flags: int) -> bytes:
    lacing = bytes([255] * (len(packet) // 255) + [len(packet) % 255])
    head = _HEADER.pack(b"OggS", 0, flags, granule, serial, seq, 0, len(lacing)) + lacing
    page = bytearray(head + packet)
    struct.pack_into("<I", page, 22, ogg_crc(bytes(page)))
    return bytes(page)


def write_ogg_opus(packets: Sequence[bytes], *, channels: int = 2, pre_skip: int = 0,
                   frame_samples: int = 960, serial: int = 0x5442) -> bytes:
    """An Ogg Opus stream of 20 ms packets (one page each) that any Opus decoder reads."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, 48_000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 10) + b"trainerbot" + struct.pack("<I", 0)
    pages = [_page(head, granule=0, serial=serial, seq=0, flags=0x02),
             _page(tags, granule=0, serial=serial, seq=1, flags=0)]
    for i, packet in enumerate(packets):
        last = i == len(packets) - 1
        pages.append(_page(packet, granule=(i + 1) * frame_samples, serial=serial, seq=i + 2,
                           flags=0x04 if last else 0))
    return b"".join(pages)
