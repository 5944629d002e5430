"""Opus -> 16 kHz mono PCM for one speaker, in-process through PyAV's libopus (the ``av`` wheel
carries it, so no system library and no apt step).

Why not ffmpeg as for sending: a speaker's stream is decoded 20 ms at a time while they talk,
and one ffmpeg process per speaker is too heavy; libopus in-process costs about 5-8 ms per
second of audio (resampling included). Each speaker needs their own decoder: Opus is stateful.
Blocking: call from the receiver's decode thread, never on the event loop.
"""

from __future__ import annotations

from typing import Any

from framework.speech import STT_SAMPLE_RATE

FRAME_BYTES = STT_SAMPLE_RATE // 50 * 2
"""20 ms of 16 kHz mono s16le: what a lost frame becomes."""
SILENCE = bytes(FRAME_BYTES)


class OpusDecoder:
    """One speaker's decoder and resampler (48 kHz stereo Opus -> 16 kHz mono s16le)."""

    def __init__(self) -> None:
        import av  # heavy: imported in the decode thread on the first frame

        self._av: Any = av
        self._codec: Any = av.codec.CodecContext.create("libopus", "r")
        self._codec.sample_rate = 48_000
        self._codec.layout = "stereo"
        self._resampler: Any = av.AudioResampler(format="s16", layout="mono", rate=STT_SAMPLE_RATE)
        self.frames = 0
        """Opus frames decoded (lost frames not included)."""
        self.errors = 0

    def decode(self, opus: bytes | None) -> bytes:
        """One frame's PCM; ``None`` (a lost frame) and undecodable frames give 20 ms of silence."""
        if opus is None:
            return SILENCE
        try:
            decoded = self._codec.decode(self._av.packet.Packet(opus))
        except self._av.error.FFmpegError:
            self.errors += 1
            return SILENCE
        self.frames += 1
        out = bytearray()
        for frame in decoded:
            for resampled in self._resampler.resample(frame):
                out += bytes(resampled.planes[0])[: resampled.samples * 2]
        return bytes(out)
