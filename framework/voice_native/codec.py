"""Opus encoding and decoding through the ffmpeg binary (libopus), blocking: call through
``app.run_blocking``. Discord voice wants 48 kHz stereo Opus in 20 ms frames."""

from __future__ import annotations

from framework.audio import decode_pcm, run_ffmpeg
from framework.voice_native.ogg import opus_packets, write_ogg_opus

SAMPLE_RATE = 48_000
CHANNELS = 2
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
"""960: the RTP timestamp advances by this much per packet."""
SILENCE_FRAME = b"\xf8\xff\xfe"
"""An Opus frame of silence; five are sent after playback so receivers' decoders fade out cleanly."""


def encode_opus(audio: bytes, *, bitrate: int = 64_000) -> list[bytes]:
    """Any audio ffmpeg reads (here: a TTS WAV) -> Opus packets of 20 ms each."""
    ogg = run_ffmpeg(["-i", "pipe:0", "-ac", str(CHANNELS), "-ar", str(SAMPLE_RATE), "-c:a", "libopus",
                   "-b:a", str(bitrate), "-frame_duration", str(FRAME_MS), "-application", "audio",
                   "-f", "ogg", "pipe:1"], audio)
    return opus_packets(ogg)


def decode_opus(packets: list[bytes], *, rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    """Opus packets -> signed 16-bit PCM (what a listener would hear), via an Ogg stream."""
    if not packets:
        return b""
    return decode_pcm(write_ogg_opus(packets, channels=CHANNELS), rate=rate, channels=channels)
