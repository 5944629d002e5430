"""The ``pocketsphinx`` speech-to-text engine: small, fast, strict about phrases. Optional
(``pip install "trainerbot[pocketsphinx]"``); its US English model ships in the wheel.

Free recognition is far weaker than Whisper's on human speech, so it is not the default English
engine. Its strengths: a 40 MiB install, and a real grammar — in phrase mode the phrases become a
JSGF grammar, so it can only ever answer one of them (or nothing) — and keyphrase spotting, which
makes it the light wake-phrase detector (:class:`framework.speech.WakePhraseDetector`).

PocketSphinx decoders are not thread-safe and take a moment to build, so a small pool keeps one per
thread that has needed one; the module is imported on the first recognition, in the thread pool.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import hookimpl
from framework import phrases as phrase_mode
from framework.download import DownloadError, Progress
from framework.errors import MissingModel, SpeechError
from framework.lazy import import_engine
from framework.models import ModelEntry, folder_size
from framework.settings import Field
from framework.settings import Settings as SettingsModel
from framework.speech import STT_SAMPLE_RATE, Transcript

if TYPE_CHECKING:  # pragma: no cover - typing only
    from framework.hookspecs import RegisterCatalog, RegisterEngine
    from framework.host import Host

log = logging.getLogger(__name__)
LANGUAGE = "en"
PHONE_LOOP = "phones"
NOT_WORDS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]"}


class Settings(SettingsModel):
    kws_threshold: float = Field(default=1e-20, gt=0, lt=1)
    """Wake-phrase spotting: lower finds the phrase more often, and false ones too (PocketSphinx's -kws_threshold)."""
    phrase_margin: float = 0.0004
    """Phrase mode: how much better per frame the best phrase must score than a free phone loop on the
    same audio. A grammar always fits some phrase; speech that is none of them fits free phones better.
    Measured on noisy synthetic commands: out-of-grammar speech scored <= 0.00012, commands >= 0.00052."""


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


class _Decoder:
    """One PocketSphinx decoder and the searches (grammars, keyphrases) already built on it."""

    def __init__(self, settings: Settings) -> None:
        pocketsphinx = import_engine("pocketsphinx", "pocketsphinx speech-to-text")
        self.decoder = pocketsphinx.Decoder(loglevel="FATAL", bestpath=True, kws_threshold=settings.kws_threshold)
        phones = Path(pocketsphinx.get_model_path()) / "en-us" / "en-us-phone.lm.bin"
        self.decoder.add_allphone_file(PHONE_LOOP, str(phones))
        self.searches: set[str] = {PHONE_LOOP}

    def decode(self, pcm: bytes, search: str | None) -> Any:
        self.decoder.activate_search(search)
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        return self.decoder.hyp()


class PocketSphinxEngine:
    """The ``pocketsphinx`` speech-to-text engine, and a wake-phrase detector."""

    def __init__(self, app: Host, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._idle: list[_Decoder] = []
        self._lock = threading.Lock()

    @staticmethod
    def installed() -> bool:
        return importlib.util.find_spec("pocketsphinx") is not None

    def languages(self) -> list[str]:
        return [LANGUAGE] if self.installed() else []

    @contextlib.contextmanager
    def _borrow(self) -> Iterator[_Decoder]:
        """A decoder for this thread's use; built on demand, so the pool grows to the number of
        recognitions that ran at the same time (at most the host's thread pool size)."""
        with self._lock:
            slot = self._idle.pop() if self._idle else None
        slot = slot or _Decoder(self.settings)
        try:
            yield slot
        finally:
            with self._lock:
                self._idle.append(slot)

    def _check_language(self, language: str) -> None:
        if language.lower() != LANGUAGE:
            raise MissingModel(f"PocketSphinx has a model for `{LANGUAGE}` only, not `{language}`.")

    def _grammar(self, slot: _Decoder, phrases: Sequence[str]) -> tuple[str, dict[str, str]]:
        """The JSGF search for these phrases (built once per decoder) and normalised -> original phrase."""
        spoken = {" ".join(phrase_mode.words(p)): p for p in phrases if phrase_mode.words(p)}
        if not spoken:
            raise SpeechError("The phrases to recognise contain no words.")
        name = "phrases-" + hashlib.sha1("\n".join(spoken).encode(), usedforsecurity=False).hexdigest()[:16]
        if name not in slot.searches:
            unknown = sorted({w for p in spoken for w in p.split() if slot.decoder.lookup_word(w) is None})
            if unknown:
                raise SpeechError("PocketSphinx's dictionary lacks these phrase words: "
                                  + ", ".join(f"`{w}`" for w in unknown) + " (spell numbers out, e.g. `ten`).")
            rule = " | ".join(f"( {p} )" for p in spoken)
            slot.decoder.add_jsgf_string(name, f"#JSGF V1.0;\ngrammar phrases;\npublic <phrase> = {rule};\n")
            slot.searches.add(name)
        return name, spoken

    def _recognise(self, pcm: bytes, language: str, phrases: Sequence[str] | None) -> Transcript:
        self._check_language(language)
        with self._borrow() as slot:
            search, spoken = self._grammar(slot, phrases) if phrases else (None, {})
            hyp = slot.decode(pcm, search)
            segments = [(s.word.split("(")[0], float(s.prob)) for s in slot.decoder.seg()] if hyp else []
            if hyp and phrases and not self._fits_better_than_phones(slot, pcm, hyp):
                return Transcript("", 0.0, language)
        words = tuple((w, p) for w, p in segments if w not in NOT_WORDS and not w.startswith("++"))
        if not hyp or not words:
            return Transcript("", 0.0, language)
        confidence = sum(p for _, p in words) / len(words)
        text = spoken.get(hyp.hypstr, hyp.hypstr) if phrases else hyp.hypstr
        return Transcript(text, confidence, language, words)

    def _fits_better_than_phones(self, slot: _Decoder, pcm: bytes, hyp: Any) -> bool:
        """Whether the phrase found beats a free phone loop by ``phrase_margin`` per frame."""
        frames = max(slot.decoder.n_frames(), 1)
        phones = slot.decode(pcm, PHONE_LOOP)
        margin = (hyp.score - phones.score) / frames if phones else float("inf")
        log.debug("pocketsphinx phrase %r: margin %.6f over the phone loop", hyp.hypstr, margin)
        return margin >= self.settings.phrase_margin

    def _spot(self, pcm: bytes, phrase: str, language: str) -> float | None:
        self._check_language(language)
        spoken = " ".join(phrase_mode.words(phrase))
        with self._borrow() as slot:
            name = "wake-" + hashlib.sha1(spoken.encode(), usedforsecurity=False).hexdigest()[:16]
            if name not in slot.searches:
                missing = [w for w in spoken.split() if slot.decoder.lookup_word(w) is None]
                if missing or not spoken:
                    raise SpeechError(f"PocketSphinx cannot spot `{phrase}`: unknown words {', '.join(missing)}.")
                slot.decoder.add_keyphrase(name, spoken)
                slot.searches.add(name)
            if not slot.decode(pcm, name):
                return None
            ends = [s.end_frame for s in slot.decoder.seg()]
            frate = int(slot.decoder.config["frate"])
        return (max(ends) + 1) / frate if ends else None

    async def transcribe(self, pcm: bytes, *, language: str, phrases: Sequence[str] | None = None) -> Transcript:
        if len(pcm) < STT_SAMPLE_RATE // 10:
            return Transcript("", 0.0, language)
        return await self.app.run_blocking(self._recognise, pcm, language, phrases)

    async def detect_wake_phrase(self, pcm: bytes, *, phrase: str, language: str = LANGUAGE) -> float | None:
        return await self.app.run_blocking(self._spot, pcm, phrase, language)


@hookimpl
def register_speech_to_text(register: RegisterEngine, app: Host) -> None:
    register("pocketsphinx", PocketSphinxEngine(app, app.settings("speech_pocketsphinx") or Settings()))


class PocketSphinxCatalog:
    """``trainerbot models`` for PocketSphinx: its one model is in the wheel; nothing to download."""

    engine = "pocketsphinx"

    def installed(self) -> list[ModelEntry]:
        spec = importlib.util.find_spec("pocketsphinx")  # found, not imported
        if spec is None or not spec.submodule_search_locations:
            return []
        folder = Path(next(iter(spec.submodule_search_locations))) / "model" / "en-us"
        try:
            version = importlib.metadata.version("pocketsphinx")
        except importlib.metadata.PackageNotFoundError:
            version = "?"
        return [ModelEntry("en-us", LANGUAGE, folder_size(folder), f"package pocketsphinx {version}", folder)]

    def available(self) -> list[ModelEntry]:
        return []

    def fetch(self, name: str, progress: Progress | None = None) -> Path:
        raise DownloadError("PocketSphinx's only model (en-us) comes in its package: "
                            "pip install \"trainerbot[pocketsphinx]\"")


@hookimpl
def register_model_catalogs(register: RegisterCatalog) -> None:
    register(PocketSphinxCatalog())
