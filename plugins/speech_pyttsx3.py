"""pyttsx3 text-to-speech through espeak-ng, offline and headless.

pyttsx3 is not thread-safe and hangs when driven from two threads, so ONE dedicated worker
thread per process owns the engine and every request is queued to it. espeak-ng's library comes from the
espeakng-loader wheel (no apt): it is preloaded under its soname before pyttsx3 looks for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import io
import logging
import os
import queue
import tempfile
import threading
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import hookimpl
from framework.lazy import import_engine
from framework.settings import Field
from framework.settings import Settings as SettingsModel
from framework.speech import SynthesizedAudio

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterEngine
    from framework.host import Host

log = logging.getLogger(__name__)


class VoiceSettings(SettingsModel):
    voice: str | None = None
    """An espeak-ng voice id (e.g. ``ko``, ``en-us``); default: the request's language."""
    rate: int = Field(170, ge=60, le=400)
    """Words per minute."""


class Settings(VoiceSettings):
    guilds: dict[str, VoiceSettings] = {}
    """Per-guild overrides: ``[plugins.speech_pyttsx3.guilds."1234"] rate = 140``."""


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


def make_espeak_available() -> None:
    """Point pyttsx3's espeak driver at the espeak-ng shipped in the espeakng-loader wheel,
    unless a system espeak-ng is preferred (``TRAINERBOT_SYSTEM_ESPEAK=1``)."""
    if os.environ.get("TRAINERBOT_SYSTEM_ESPEAK") == "1":
        return
    import espeakng_loader

    os.environ.setdefault("ESPEAK_DATA_PATH", espeakng_loader.get_data_path())
    ctypes.CDLL(espeakng_loader.get_library_path(), mode=ctypes.RTLD_GLOBAL)


def _quiet_espeak_driver() -> None:
    """pyttsx3's espeak driver prints "Audio saved to …" on stdout for every file, which lands in
    the sandbox's chat and in the bot's output; send it to our debug log instead. Only the name
    ``print`` inside that one module is shadowed."""
    from pyttsx3.drivers import espeak

    espeak.print = lambda *args, **_kwargs: log.debug("pyttsx3: %s", " ".join(map(str, args)))  # type: ignore[attr-defined]


SYNTHESIS_TIMEOUT = 60.0
"""Seconds one synthesis may take in espeak-ng's thread (it runs far faster than real time)."""


class _Worker:
    """The one thread that drives pyttsx3 in this process. ``pyttsx3.init`` returns a cached,
    process-wide engine, so even two bots in one process must share this thread."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.ident: int | None = None
        self.temp_prefix = f"trainerbot-tts-{os.getpid()}-"
        """pyttsx3 can only write to a file: each is named with this prefix and removed at once."""
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, text: str, voice: str, rate: int) -> concurrent.futures.Future[bytes]:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="trainerbot-tts", daemon=True)
                self._thread.start()
        future: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        self.jobs.put((text, voice, rate, future))
        return future

    def _work(self) -> None:
        self.ident = threading.get_ident()
        make_espeak_available()
        pyttsx3 = import_engine("pyttsx3", "pyttsx3 text-to-speech")
        engine = pyttsx3.init("espeak")
        _quiet_espeak_driver()
        finished = threading.Event()
        engine.connect("finished-utterance", lambda **_kwargs: finished.set())
        while True:
            text, voice, rate, future = self.jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            handle, name = tempfile.mkstemp(suffix=".wav", prefix=self.temp_prefix)
            os.close(handle)
            try:
                engine.setProperty("voice", voice)
                engine.setProperty("rate", rate)
                for _attempt in range(3):
                    # espeak-ng synthesises in its own thread (pyttsx3 initialises it in the
                    # asynchronous AUDIO_OUTPUT_RETRIEVAL mode), and runAndWait returns about 10 ms
                    # after starting it, often before the WAV is written: wait for the driver's
                    # "finished-utterance", sent once the file is. Reading early handed out empty
                    # or half-written WAVs, and the synthesis left running then wrote its audio
                    # into the next request's file. An empty WAV is still synthesised again.
                    finished.clear()
                    engine.save_to_file(text, name)
                    engine.runAndWait()
                    if not finished.wait(SYNTHESIS_TIMEOUT):
                        raise RuntimeError("espeak-ng did not finish speaking")
                    wav = Path(name).read_bytes()
                    if _frames(wav) > 0:
                        break
                else:
                    raise RuntimeError("espeak-ng produced no audio")
            except Exception as exc:
                Path(name).unlink(missing_ok=True)
                future.set_exception(exc)
                continue
            Path(name).unlink(missing_ok=True)  # before the caller resumes: no file outlives the request
            future.set_result(wav)


def _frames(wav: bytes) -> int:
    try:
        with wave.open(io.BytesIO(wav), "rb") as reader:
            return reader.getnframes()
    except (wave.Error, EOFError):
        return 0


WORKER = _Worker()


class Pyttsx3Engine:
    """The ``pyttsx3`` text-to-speech engine: requests queue to the process's one TTS thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def worker_ident(self) -> int | None:
        return WORKER.ident

    @property
    def temp_prefix(self) -> str:
        return WORKER.temp_prefix

    def _for_guild(self, guild_id: int | None) -> VoiceSettings:
        return self.settings.guilds.get(str(guild_id), self.settings) if guild_id else self.settings

    async def synthesize(self, text: str, *, language: str, voice: str | None = None, rate: int | None = None,
                         guild_id: int | None = None) -> SynthesizedAudio:
        if not text.strip():
            raise ValueError("nothing to say")
        chosen = self._for_guild(guild_id)
        future = WORKER.submit(text, voice or chosen.voice or language, rate or chosen.rate)
        wav = await asyncio.wrap_future(future)
        with wave.open(io.BytesIO(wav), "rb") as reader:  # the header only: the worker checked the frames
            frame_rate, frames = reader.getframerate(), reader.getnframes()
        return SynthesizedAudio(wav, frame_rate, frames / frame_rate)



@hookimpl
def register_text_to_speech(register: RegisterEngine, app: Host) -> None:
    register("pyttsx3", Pyttsx3Engine(app.settings("speech_pyttsx3") or Settings()))

