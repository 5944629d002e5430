"""What the voice server does to the bot's media, written independently of the bot's own
voice code (``framework.voice_native`` is not imported here): parse RTP, strip transport
encryption in both AEAD ``*_rtpsize`` modes, seal packets for relaying, and decode Opus through
our own Ogg writer and the ffmpeg binary. A bug shared by client and checker would stay
invisible, so this module is a second, separate reading of the same specifications
(RFC 3550, RFC 3533, RFC 7845, Discord's voice documentation).
"""

from __future__ import annotations

import dataclasses
import shutil
import struct
import subprocess

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt, crypto_aead_xchacha20poly1305_ietf_encrypt

AES256_GCM_RTPSIZE = "aead_aes256_gcm_rtpsize"
XCHACHA20_RTPSIZE = "aead_xchacha20_poly1305_rtpsize"
TRANSPORT_MODES = (AES256_GCM_RTPSIZE, XCHACHA20_RTPSIZE)
OPUS_SILENCE = bytes([0xF8, 0xFF, 0xFE])
"""The 3-byte Opus frame DAVE lets through unencrypted (daveprotocol.com, "Silence Packets")."""
DAVE_MAGIC = b"\xfa\xfa"


class MediaError(ValueError):
    """A datagram that is not a well-formed, authentic voice packet."""


@dataclasses.dataclass(frozen=True)
class Rtp:
    """The fixed RTP header fields (RFC 3550 §5.1) the checks look at."""

    version: int
    padding: bool
    extension: bool
    csrc_count: int
    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int

    @property
    def unencrypted_size(self) -> int:
        """Bytes in the clear (and authenticated): the fixed header, CSRCs and, for the rtpsize
        modes, the 4-byte extension preamble (its body is encrypted with the payload)."""
        return 12 + 4 * self.csrc_count + (4 if self.extension else 0)


def parse_rtp(datagram: bytes) -> Rtp:
    if len(datagram) < 12:
        raise MediaError("shorter than an RTP header")
    b0, b1 = datagram[0], datagram[1]
    sequence, timestamp, ssrc = struct.unpack_from("!HII", datagram, 2)
    rtp = Rtp(b0 >> 6, bool(b0 & 0x20), bool(b0 & 0x10), b0 & 0x0F, bool(b1 & 0x80), b1 & 0x7F,
              sequence, timestamp, ssrc)
    if rtp.version != 2:
        raise MediaError(f"RTP version {rtp.version}, expected 2")
    if len(datagram) < rtp.unencrypted_size:
        raise MediaError("truncated RTP header")
    return rtp


def _full_nonce(mode: str, tail: bytes) -> bytes:
    """The 4 nonce bytes on the wire, padded with zeros to the cipher's nonce size."""
    return tail + bytes((12 if mode == AES256_GCM_RTPSIZE else 24) - 4)


def open_packet(mode: str, key: bytes, datagram: bytes) -> tuple[Rtp, bytes, int]:
    """(header, payload, nonce counter) of a transport-encrypted voice packet; raises
    :class:`MediaError` when it does not authenticate. The payload is what the sender put under
    transport encryption: an Opus frame, or a DAVE frame when end-to-end encryption is on."""
    rtp = parse_rtp(datagram)
    clear = rtp.unencrypted_size
    if len(datagram) < clear + 16 + 4:
        raise MediaError("too short for a tag and a nonce")
    aad, sealed, tail = datagram[:clear], datagram[clear:-4], datagram[-4:]
    try:
        if mode == AES256_GCM_RTPSIZE:
            payload = AESGCM(key).decrypt(_full_nonce(mode, tail), sealed, aad)
        elif mode == XCHACHA20_RTPSIZE:
            payload = crypto_aead_xchacha20poly1305_ietf_decrypt(sealed, aad, _full_nonce(mode, tail), key)
        else:
            raise MediaError(f"unknown transport mode {mode!r}")
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"does not authenticate ({type(exc).__name__})") from exc
    if rtp.extension:  # rtpsize: the extension body (length in 32-bit words) leads the plaintext
        words = struct.unpack_from("!H", datagram, clear - 2)[0]
        payload = payload[4 * words:]
    if rtp.padding and payload:
        payload = payload[:-payload[-1]]
    return rtp, payload, struct.unpack("!I", tail)[0]


def seal_packet(mode: str, key: bytes, *, sequence: int, timestamp: int, ssrc: int, payload: bytes,
                counter: int) -> bytes:
    """A voice packet as the server relays another member's media (payload type 0x78, Opus)."""
    header = struct.pack("!BBHII", 0x80, 0x78, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)
    tail = struct.pack("!I", counter & 0xFFFFFFFF)
    if mode == AES256_GCM_RTPSIZE:
        sealed = AESGCM(key).encrypt(_full_nonce(mode, tail), payload, header)
    else:
        sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(payload, header, _full_nonce(mode, tail), key)
    return header + sealed + tail


def looks_like_dave_frame(payload: bytes) -> bool:
    """The DAVE protocol frame check's cheap part: the magic marker and a plausible supplemental
    size (8-byte tag + nonce + ranges + size byte + marker = at least 12, at most the frame)."""
    if len(payload) < 12 or payload[-2:] != DAVE_MAGIC:
        return False
    return 12 <= payload[-3] <= len(payload)


def opus_frame_count(packet: bytes) -> int:
    """Frames in an Opus packet per its TOC byte (RFC 6716 §3.1); raises on malformed packets."""
    if not packet:
        raise MediaError("empty Opus packet")
    code = packet[0] & 0x03
    if code == 0:
        return 1
    if code in (1, 2):
        return 2
    if len(packet) < 2:
        raise MediaError("Opus code 3 packet without a frame count byte")
    count = packet[1] & 0x3F
    if count == 0:
        raise MediaError("Opus code 3 packet with zero frames")
    return count


def opus_frame_ms(packet: bytes) -> float:
    """Duration of one frame from the TOC configuration (RFC 6716 §3.1, table 2)."""
    config = packet[0] >> 3
    if config < 12:  # SILK: 10, 20, 40, 60 ms
        return (10, 20, 40, 60)[config % 4]
    if config < 16:  # hybrid: 10, 20 ms
        return (10, 20)[config % 2]
    return (2.5, 5, 10, 20)[config % 4]  # CELT


# --------------------------------------------------------------------------- Opus -> PCM

def _ogg_crc(data: bytes) -> int:
    """Ogg's page checksum: CRC-32 with polynomial 0x04C11DB7, not reflected, initial value 0
    (so not ``zlib.crc32``, which is the reflected variant)."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def _ogg_page(body: bytes, *, granule: int, sequence: int, first: bool, last: bool) -> bytes:
    segments = [255] * (len(body) // 255) + [len(body) % 255]
    flags = (0x02 if first else 0) | (0x04 if last else 0)
    header = b"OggS" + struct.pack("<BBqIIIB", 0, flags, granule, 0x0C0FFEE, sequence, 0, len(segments))
    page = bytearray(header + bytes(segments) + body)
    page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
    return bytes(page)


def ogg_opus(packets: list[bytes], *, channels: int = 2) -> bytes:
    """An Ogg Opus file (RFC 7845) around raw Opus packets, one packet per page."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, channels, 312, 48_000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 7) + b"checker" + struct.pack("<I", 0)
    pages = [_ogg_page(head, granule=0, sequence=0, first=True, last=False),
             _ogg_page(tags, granule=0, sequence=1, first=False, last=False)]
    granule = 312  # the pre-skip counts towards the first page's end position
    for i, packet in enumerate(packets):
        granule += int(48 * opus_frame_ms(packet)) * opus_frame_count(packet)
        pages.append(_ogg_page(packet, granule=granule, sequence=i + 2, first=False, last=i == len(packets) - 1))
    return b"".join(pages)


def _ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    return exe


def decode_opus(packets: list[bytes], *, rate: int = 48_000) -> bytes:
    """Opus packets -> mono signed 16-bit PCM through ffmpeg's libopus decoder. Blocking."""
    if not packets:
        return b""
    done = subprocess.run([_ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-f", "ogg", "-i", "pipe:0",
                           "-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1", "-ar", str(rate), "pipe:1"],
                          input=ogg_opus(packets), capture_output=True, timeout=120, check=False)
    if done.returncode != 0:
        raise MediaError(f"ffmpeg could not decode the Opus stream: {done.stderr.decode(errors='replace')[-300:]}")
    return done.stdout
