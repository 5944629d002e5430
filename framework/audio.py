"""Audio conversion, off the event loop. ffmpeg is found portably: ``$TRAINERBOT_FFMPEG``, a
system ``ffmpeg`` on PATH, or the binary shipped in the imageio-ffmpeg wheel. Data goes through
pipes, so no temporary file is ever written. pydub handles PCM (channels, rate, loudness); it is
imported on first use, like the engines (these functions run in the thread pool).

Decoding is bounded before the work, not checked after it: a small file can hold hours of audio
(3.6 MB of 100 Hz WAV is ten hours, 1.2 GB as 16 kHz PCM), so ffmpeg is told to stop at the
duration limit (``-t``) and its output is read incrementally and cut off at the matching byte count.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import threading
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


DECODE_MAX_SECONDS = 600.0
"""Longest audio :func:`decode_pcm` decodes unless told otherwise (ten minutes)."""
_READ = 64 * 1024
_STDERR_KEPT = 4096


class OutputLimit(AudioError):
    """ffmpeg's output passed the byte limit it was run with; it was stopped there."""


class AudioTooLong(AudioError):
    """The audio lasts longer than the limit it was decoded with; ``max_seconds`` says the limit."""

    def __init__(self, max_seconds: float) -> None:
        super().__init__(f"it is longer than {max_seconds:g} s")
        self.max_seconds = max_seconds


def run_ffmpeg(args: list[str], data: bytes, timeout: float = 120, *, max_output: int | None = None) -> bytes:
    """Run ffmpeg with ``data`` on stdin and return its stdout; failures raise :class:`AudioError`
    with ffmpeg's last line. With ``max_output``, ffmpeg is killed as soon as its output passes that
    many bytes and :class:`OutputLimit` is raised, so memory is bounded by the limit, never by what
    the input expands to. Blocking: call it through ``run_blocking``."""
    proc = subprocess.Popen([ffmpeg_path(), "-hide_banner", "-nostdin", "-v", "error", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
    errors = bytearray()
    timed_out = threading.Event()

    def feed() -> None:
        try:
            stdin.write(data)
        except OSError:  # ffmpeg stopped reading (done at -t, killed at the limit): nothing more to give
            pass
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def drain() -> None:
        while chunk := stderr.read(_STDERR_KEPT):
            errors.extend(chunk)
            del errors[:-_STDERR_KEPT]

    def expire() -> None:
        timed_out.set()
        proc.kill()

    helpers = [threading.Thread(target=feed, daemon=True), threading.Thread(target=drain, daemon=True)]
    timer = threading.Timer(timeout, expire)
    for helper in (*helpers, timer):
        helper.start()
    out = bytearray()
    over = False
    try:
        while chunk := os.read(stdout.fileno(), _READ):  # what is there now, up to _READ bytes
            out += chunk
            if max_output is not None and len(out) > max_output:
                over = True
                proc.kill()
                break
        proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for helper in helpers:
            helper.join()
        stdout.close()
        stderr.close()
    if timed_out.is_set():
        raise AudioError("converting the audio took too long")
    if over:
        raise OutputLimit(f"the converted audio is larger than {max_output} bytes")
    if proc.returncode != 0:
        reason = bytes(errors).decode("utf-8", "replace").strip().splitlines()
        raise AudioError(reason[-1] if reason else f"ffmpeg exited with {proc.returncode}")
    return bytes(out)


def decode_pcm(data: bytes, *, rate: int = 16_000, channels: int = 1,
               max_seconds: float = DECODE_MAX_SECONDS) -> bytes:
    """Any container/codec ffmpeg reads -> signed 16-bit little-endian PCM, at most ``max_seconds``
    long: longer audio raises :class:`AudioTooLong` once ffmpeg has produced a little more than the
    limit (it stops there), so no more than that is ever held in memory."""
    if not data:
        raise AudioError("the file is empty")
    per_second = 2 * channels * rate
    limit = int(max_seconds * per_second)
    try:
        pcm = run_ffmpeg(["-i", "pipe:0", "-t", f"{max_seconds + 0.5:.3f}", "-f", "s16le", "-acodec", "pcm_s16le",
                          "-ac", str(channels), "-ar", str(rate), "pipe:1"], data, max_output=limit + per_second)
    except OutputLimit:
        raise AudioTooLong(max_seconds) from None
    if not pcm:
        raise AudioError("it contains no audio stream")
    if len(pcm) > limit:
        raise AudioTooLong(max_seconds)
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
