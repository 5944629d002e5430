"""The voice server's independent media checks (framework/emulator/media.py), on known values:
they must not share code with the bot's voice stack, so they are checked on their own here."""

from __future__ import annotations

import struct

import pytest

from framework.emulator import media


def test_ogg_crc_is_the_unreflected_crc32_with_zero_init() -> None:
    assert media._ogg_crc(b"123456789") == 0x89A1897F  # CRC-32 poly 0x04C11DB7, init 0, no reflection/xor


@pytest.mark.parametrize("mode", media.TRANSPORT_MODES)
def test_sealed_packets_open_and_forgeries_do_not(mode) -> None:
    key = bytes(range(32))
    packet = media.seal_packet(mode, key, sequence=65535, timestamp=2**32 - 960, ssrc=0xDEADBEEF,
                               payload=b"opus frame", counter=7)
    rtp, payload, nonce = media.open_packet(mode, key, packet)
    assert (rtp.version, rtp.payload_type, rtp.sequence, rtp.timestamp, rtp.ssrc) == (2, 0x78, 65535, 2**32 - 960,
                                                                                      0xDEADBEEF)
    assert payload == b"opus frame" and nonce == 7 and packet[-4:] == b"\x00\x00\x00\x07"
    for position in (1, 14, len(packet) - 5, len(packet) - 1):  # header (AAD), ciphertext, tag, nonce
        forged = bytearray(packet)
        forged[position] ^= 1
        with pytest.raises(media.MediaError):
            media.open_packet(mode, key, bytes(forged))
    with pytest.raises(media.MediaError):
        media.open_packet(mode, bytes(32), packet)


def test_rtpsize_extension_preamble_is_authenticated_and_its_body_encrypted() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = bytes(32)
    header = struct.pack("!BBHII", 0x90, 0x78, 1, 960, 42) + struct.pack("!HH", 0xBEDE, 1)
    body = b"\x10\xff\x00\x00" + b"the opus frame"  # one 32-bit word of extension data, then the payload
    tail = b"\x00\x00\x00\x01"
    packet = header + AESGCM(key).encrypt(tail + bytes(8), body, header) + tail
    rtp, payload, nonce = media.open_packet(media.AES256_GCM_RTPSIZE, key, packet)
    assert rtp.extension and rtp.unencrypted_size == 16 and payload == b"the opus frame" and nonce == 1


def test_dave_frame_check_and_opus_toc() -> None:
    assert media.looks_like_dave_frame(b"x" * 20 + bytes([12]) + b"\xfa\xfa")
    assert not media.looks_like_dave_frame(b"x" * 20 + bytes([12]) + b"\xfa\xfb")
    assert not media.looks_like_dave_frame(media.OPUS_SILENCE)
    assert media.opus_frame_ms(bytes([0xFC])) == 20 and media.opus_frame_count(bytes([0xFC])) == 1  # CELT FB 20 ms
    assert media.opus_frame_count(bytes([0xFF, 0x03])) == 3
    with pytest.raises(media.MediaError):
        media.opus_frame_count(b"")


def test_decoding_opus_from_the_bots_encoder() -> None:
    """The bot's encoder (ffmpeg via framework.audio) against the checker's own Ogg writer and decoder."""
    import io
    import math
    import wave

    from framework.voice_native.codec import encode_opus  # the code under check, used only to make input

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 48_000)))
                                 for i in range(48_000)))
    frames = encode_opus(buffer.getvalue())
    pcm = media.decode_opus(frames)
    assert 0.95 <= len(pcm) / 2 / 48_000 <= 1.05
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    assert max(samples[4800:-4800]) > 5000  # a loud tone came out, not silence
