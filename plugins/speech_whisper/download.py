"""Whisper models for ``trainerbot models``: the ones installed here, and fetching one.

A download takes the four files of a faster-whisper model from its upstream repository (by
default Systran's on Hugging Face; ``[plugins.speech_whisper] download_url`` points elsewhere,
e.g. a mirror you trust) through :func:`framework.download.download_file`, which checks each
file against the sha256 the server publishes for it where it sends one (Hugging Face does for
the weights, in ``X-Linked-Etag``). Every file's sha256 is recorded in ``SHA256SUMS``, which the
engine verifies at each load. Files land in a staging folder first, so a failed download leaves
no half model behind.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from framework.dataroot import check_name
from framework.download import Progress, download_file, install_dir, staging_dir
from framework.models import ModelEntry, folder_size
from plugins.speech_whisper import models
from plugins.speech_whisper.engine import Settings

if TYPE_CHECKING:  # pragma: no cover - typing only
    from framework.config import Config

KNOWN = {"tiny.en": 75, "tiny": 75, "base.en": 145, "base": 145, "small.en": 484, "small": 484,
         "medium.en": 1530, "medium": 1530, "large-v2": 3090, "large-v3": 3090}
"""Systran's faster-whisper conversions and their approximate sizes in MB (``.en``: English only)."""


class WhisperCatalog:
    """The ``whisper`` engine's models: the pinned package, the data root, the settings."""

    engine = "whisper"

    def __init__(self, data_root: Path, settings: Settings) -> None:
        self.root = data_root
        self.models_dir = data_root / "models" / "whisper"
        self.settings = settings

    def installed(self) -> list[ModelEntry]:
        entries = []
        packaged = models.packaged_model()
        if packaged is not None:
            try:
                version = importlib.metadata.version(models.PACKAGE)
            except importlib.metadata.PackageNotFoundError:
                version = "?"
            entries.append(ModelEntry("tiny.en", models.PACKAGED_LANGUAGE, folder_size(packaged),
                                      f"package {models.PACKAGE} {version}", packaged,
                                      f"sha256-pinned to {models.PACKAGE_VERSION}"))
        if self.models_dir.is_dir():
            for path in sorted(self.models_dir.iterdir()):
                if path.is_dir() and not path.name.startswith(".") and (path / "model.bin").is_file():
                    english = path.name.endswith(".en")
                    entries.append(ModelEntry(path.name, "en" if english else "*", folder_size(path), "data root",
                                              path, "" if english else
                                              "multilingual: map languages to it in [plugins.speech_whisper] models"))
        for language, where in sorted(self.settings.models.items()):
            path = Path(where) if Path(where).is_absolute() else self.models_dir / where
            entries.append(ModelEntry(path.name, language, folder_size(path), "[plugins.speech_whisper] models",
                                      path, "" if (path / "model.bin").is_file() else "missing"))
        return entries

    def available(self) -> list[ModelEntry]:
        return [ModelEntry(name, "en" if name.endswith(".en") else "*", megabytes * 1_000_000,
                           self.settings.download_url.format(name=name), note="approximate size")
                for name, megabytes in KNOWN.items()]

    def fetch(self, name: str, progress: Progress | None = None) -> Path:
        """Fetch model ``name`` (e.g. ``tiny.en``) into ``models/whisper/name`` with ``SHA256SUMS``."""
        name = check_name(name, "model name")  # it becomes a folder name: the data root's rule for names
        target = self.models_dir / name
        staging = staging_dir(target, root=self.root)
        try:
            base = self.settings.download_url.format(name=name).rstrip("/")
            digests = {file: download_file(f"{base}/{file}", staging / file, root=self.root, progress=progress,
                                           label=f"{name}/{file}")
                       for file in models.MODEL_FILES}
            models.write_sums(staging, digests)
            return install_dir(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def catalog(config: Config) -> WhisperCatalog:
    from framework.config import validate_plugin_settings

    settings = validate_plugin_settings(config, "speech_whisper", Settings)
    return WhisperCatalog(config.bot.data_root, settings if isinstance(settings, Settings) else Settings())


def configure_alias(parser: argparse.ArgumentParser) -> None:
    from framework import models as model_cli

    model_cli.configure(parser)


def run_alias(config: Config, args: argparse.Namespace) -> int:
    """``trainerbot whisper-models``: the old name of ``trainerbot models … --engine whisper``."""
    from framework import models as model_cli

    print("`trainerbot whisper-models` is deprecated: use `trainerbot models list|download --engine whisper`",
          file=sys.stderr)
    args.engine = "whisper"
    return model_cli.run(config, args, lambda c: [catalog(c)])
