"""The speech engine interfaces: what a speech-to-text or text-to-speech plugin registers.

    @hookimpl
    def register_speech_to_text(register):
        register("whisper", WhisperEngine())

``[engines] stt = "whisper"`` then makes every consumer (voice messages, voice channels) use it, or
``stt = { en = "whisper", ko = "vosk" }`` picks one per language (``framework.speech_routing``).
Engines are called on the event loop and must do their heavy work elsewhere (a thread), and import
their heavy libraries only when first used, so start-up stays light.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

STT_SAMPLE_RATE = 16_000
"""Speech-to-text engines receive 16 kHz mono signed 16-bit little-endian PCM."""


@dataclasses.dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float
    """Mean word confidence in [0, 1] (0 when nothing was recognised)."""
    language: str
    words: tuple[tuple[str, float], ...] = ()


@dataclasses.dataclass(frozen=True)
class SynthesizedAudio:
    wav: bytes
    """A complete WAV file (mono, 16-bit)."""
    sample_rate: int
    duration: float



@runtime_checkable
class SpeechToText(Protocol):
    async def transcribe(self, pcm: bytes, *, language: str, phrases: Sequence[str] | None = None) -> Transcript:
        """Recognise 16 kHz mono s16le PCM. ``phrases`` restricts recognition to those phrases."""
        ...

    def languages(self) -> list[str]:
        """Languages this engine has a model for right now."""
        ...


@runtime_checkable
class TextToSpeech(Protocol):
    async def synthesize(self, text: str, *, language: str, voice: str | None = None,
                         rate: int | None = None, guild_id: int | None = None) -> SynthesizedAudio:
        """Speak ``text`` into a WAV file. ``guild_id`` is the server it is for (engines may keep
        a voice or rate per server), ``None`` outside servers."""
        ...


@runtime_checkable
class WakePhraseDetector(Protocol):
    async def detect_wake_phrase(self, pcm: bytes, *, phrase: str, language: str) -> float | None:
        """Where ``phrase`` ends in the audio, in seconds, or ``None`` when it is not spoken.

        A light engine implements this so that a listener can wait for a wake phrase cheaply and
        hand only what follows it to a full recogniser."""
        ...
