"""The ``whisper`` speech-to-text engine: faster-whisper (CTranslate2) on the CPU, offline.

One model per folder, loaded on first use in the host's bounded thread pool and shared: a
CTranslate2 model serves calls from several threads (``num_workers`` of them at once), each with
``threads`` CPU threads, so the work the bot may put on the CPU stays bounded. faster_whisper is
imported only then, so a bot that never hears a voice message never pays for it.

Phrase mode puts the phrases into the decoder's prompt (they become the likely words) and matches
the transcript to the nearest phrase, rejecting anything below ``phrase_threshold``.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import phrases as phrase_mode
from framework.errors import MissingModel
from framework.lazy import import_engine
from framework.settings import Field
from framework.settings import Settings as SettingsModel
from framework.speech import STT_SAMPLE_RATE, Transcript
from plugins.speech_whisper import models

if TYPE_CHECKING:  # pragma: no cover - typing only
    from framework.host import Host

log = logging.getLogger(__name__)


class Settings(SettingsModel):
    models: dict[str, str] = {}
    """Language -> a model folder (absolute, or a name under data/models/whisper); overrides the package's."""
    threads: int = Field(default=2, ge=1, le=64)
    """CPU threads per recognition."""
    workers: int = Field(default=1, ge=1, le=16)
    """Recognitions one model runs at the same time (more wait their turn)."""
    compute_type: str = "int8"
    beam_size: int = Field(default=5, ge=1, le=20)
    phrase_threshold: float = Field(default=0.75, gt=0, le=1)
    """Phrase mode: how alike (0..1) the transcript and the nearest phrase must be to accept it."""
    download_url: str = "https://huggingface.co/Systran/faster-whisper-{name}/resolve/main"
    """Where `trainerbot models download` takes a model's files; `{name}` is replaced (a mirror you trust)."""


_MODELS: dict[Path, Any] = {}
_MODELS_LOCK = threading.Lock()


def load_model(path: Path, settings: Settings) -> Any:
    """A faster-whisper model, loaded once per process and folder (blocking: call it off the loop)."""
    with _MODELS_LOCK:
        if path not in _MODELS:
            whisper = import_engine("faster_whisper", "whisper speech-to-text")
            log.info("loading whisper model %s", path)
            _MODELS[path] = whisper.WhisperModel(str(path), device="cpu", compute_type=settings.compute_type,
                                         cpu_threads=settings.threads, num_workers=settings.workers,
                                         local_files_only=True)
        return _MODELS[path]


class WhisperEngine:
    """The ``whisper`` speech-to-text engine."""

    def __init__(self, app: Host, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    @property
    def models_dir(self) -> Path:
        return self.app.data_root.area("models") / "whisper"

    def model_paths(self) -> dict[str, Path]:
        paths: dict[str, Path] = {}
        if self.installed() and (packaged := models.packaged_model()) is not None:
            paths[models.PACKAGED_LANGUAGE] = packaged
        paths.update(models.downloaded_models(self.models_dir))
        for language, where in self.settings.models.items():
            candidate = Path(where)
            paths[language.lower()] = candidate if candidate.is_absolute() else self.models_dir / where
        return paths

    @staticmethod
    def installed() -> bool:
        """Whether faster-whisper is importable (checked without importing it)."""
        import importlib.util

        return importlib.util.find_spec("faster_whisper") is not None

    def languages(self) -> list[str]:
        return sorted(self.model_paths()) if self.installed() else []

    def _model(self, language: str) -> Any:
        path = self.model_paths().get(language)
        if path is None or not (path / "model.bin").is_file():
            raise MissingModel(
                f"No Whisper model for language `{language}`. An admin can add one with "
                "`trainerbot models download <name>` and map it in `[plugins.speech_whisper] models`.")
        path = path.resolve()
        packaged = models.packaged_model()
        if packaged is not None and path == packaged.resolve():
            models.verify(path, models.PACKAGED_SHA256, f"the {models.PACKAGE} package")
        elif (sums := models.read_sums(path)) is not None:
            models.verify(path, sums, str(path))
        return load_model(path, self.settings)

    def _recognise(self, pcm: bytes, language: str, phrases: Sequence[str] | None) -> Transcript:
        np = import_engine("numpy", "whisper speech-to-text")
        model = self._model(language)
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        segments, _info = model.transcribe(
            audio, language=language, beam_size=self.settings.beam_size, condition_on_previous_text=False,
            initial_prompt=phrase_mode.prompt(phrases) if phrases else None, without_timestamps=bool(phrases),
            vad_filter=False)
        parts = [(s.text.strip(), math.exp(s.avg_logprob), max(len(s.text), 1)) for s in segments]
        text = " ".join(t for t, _, _ in parts if t)
        weight = sum(n for _, _, n in parts)
        confidence = sum(c * n for _, c, n in parts) / weight if parts else 0.0
        if phrases:
            matched, score = phrase_mode.nearest(text, phrases, self.settings.phrase_threshold)
            log.debug("whisper phrase mode heard %r: nearest %r (%.2f)", text, matched, score)
            if matched is None:
                return Transcript("", 0.0, language)
            return Transcript(matched, score, language, tuple((w, score) for w in matched.split()))
        words = tuple((w, confidence) for w in text.split())
        return Transcript(text, confidence if words else 0.0, language, words)

    async def transcribe(self, pcm: bytes, *, language: str, phrases: Sequence[str] | None = None) -> Transcript:
        if len(pcm) < STT_SAMPLE_RATE // 10:  # under 50 ms: nothing to hear, and Whisper would invent words
            return Transcript("", 0.0, language)
        return await self.app.run_blocking(self._recognise, pcm, language, phrases)
