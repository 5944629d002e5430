"""Audio conversion, off the event loop. ffmpeg is found portably: ``$TRAINERBOT_FFMPEG``, a
system ``ffmpeg`` on PATH, or the binary shipped in the imageio-ffmpeg wheel. Data goes through
pipes, so no temporary file is ever written. pydub handles PCM (channels, rate, loudness); it is
imported on first use, like the engines (these functions run in the thread pool).
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import warnings
import wave
from typing import TYPE_CHECKING

from framework.errors import AudioError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pydub import AudioSegment



@functools.cache
def ffmpeg_path() -> str:
    found = os.environ.get("TRAINERBOT_FFMPEG") or shutil.which("ffmpeg")
    if not found:
        import imageio_ffmpeg

        found = imageio_ffmpeg.get_ffmpeg_exe()
    return found


@functools.cache
def _audio_segment() -> type[AudioSegment]:
    """pydub's ``AudioSegment``, imported on first use and pointed at our ffmpeg."""
    with warnings.catch_warnings():  # pydub warns at import when ffmpeg is not on PATH (we set it below)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # and, on 3.11-3.12, about its audioop import
        from pydub import AudioSegment

    AudioSegment.converter = ffmpeg_path()
    loaded: type[AudioSegment] = AudioSegment
    return loaded


def run_ffmpeg(args: list[str], data: bytes, timeout: float = 120) -> bytes:
    """Run ffmpeg with ``data`` on stdin and return its stdout; failures raise :class:`AudioError`
    with ffmpeg's last line. Blocking: call it through ``run_blocking``."""
    try:
        done = subprocess.run([ffmpeg_path(), "-hide_banner", "-nostdin", "-v", "error", *args], input=data,
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise AudioError("converting the audio took too long") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AudioError(reason[-1] if reason else f"ffmpeg exited with {done.returncode}")
    return done.stdout


def decode_pcm(data: bytes, *, rate: int = 16_000, channels: int = 1) -> bytes:
    """Any container/codec ffmpeg reads -> signed 16-bit little-endian PCM."""
    if not data:
        raise AudioError("the file is empty")
    pcm = run_ffmpeg(["-i", "pipe:0", "-f", "s16le", "-acodec", "pcm_s16le", "-ac", str(channels),
                   "-ar", str(rate), "pipe:1"], data)
    if not pcm:
        raise AudioError("it contains no audio stream")
    return pcm


def segment(pcm: bytes, rate: int, channels: int = 1) -> AudioSegment:
    return _audio_segment()(data=pcm, sample_width=2, frame_rate=rate, channels=channels)


def wav_bytes(audio: AudioSegment) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(audio.channels)
        out.setsampwidth(audio.sample_width)
        out.setframerate(audio.frame_rate)
        out.writeframes(audio.raw_data)
    return buffer.getvalue()


def read_wav(data: bytes) -> AudioSegment:
    with wave.open(io.BytesIO(data), "rb") as src:
        return _audio_segment()(data=src.readframes(src.getnframes()), sample_width=src.getsampwidth(),
                            frame_rate=src.getframerate(), channels=src.getnchannels())


def to_ogg_opus(wav: bytes) -> bytes:
    """An OGG/Opus file (what Discord voice messages are) from a WAV."""
    return run_ffmpeg(["-f", "wav", "-i", "pipe:0", "-c:a", "libopus", "-b:a", "48k", "-ar", "48000",
                    "-f", "ogg", "pipe:1"], wav)


def loudness_dbfs(pcm: bytes, rate: int = 16_000) -> float:
    return segment(pcm, rate).dBFS if pcm else float("-inf")
