"""``trainerbot whisper-models list|download``: the Whisper models installed here, and fetching one.

A download takes the four files of a faster-whisper model from its upstream repository (by
default Systran's on Hugging Face: ``--base-url`` points elsewhere, e.g. a mirror you trust),
checks each against the sha256 the server publishes for it where it sends one (Hugging Face does
for the weights, in ``X-Linked-Etag``), and records every file's sha256 in ``SHA256SUMS``, which
the engine verifies at each load. Files land in a staging folder first, so a failed download
leaves no half model behind.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.dataroot import check_name
from framework.errors import PathRefused
from plugins.speech_whisper import models

if TYPE_CHECKING:  # pragma: no cover - typing only
    from framework.config import Config

DEFAULT_BASE_URL = "https://huggingface.co/Systran/faster-whisper-{name}/resolve/main"
_SHA256 = re.compile(r'^(?:W/)?"?([0-9a-f]{64})"?$')


def _published_sha256(headers: Any) -> str | None:
    for header in ("X-Linked-Etag", "ETag"):
        match = _SHA256.match((headers.get(header) or "").strip().lower())
        if match:
            return match.group(1)
    return None


def _fetch(url: str, target: Path, out: Any) -> str:
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=60) as response, target.open("wb") as sink:
        total = int(response.headers.get("Content-Length") or 0)
        published = _published_sha256(response.headers)
        done = 0
        while chunk := response.read(1 << 20):
            sink.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if total:
                filled = int(30 * done / total)
                out.write(f"\r{target.name:15} [{'#' * filled}{'.' * (30 - filled)}] {done * 100 // total:3d}%")
                out.flush()
    out.write("\n")
    actual = digest.hexdigest()
    if published and actual != published:
        raise ValueError(f"checksum mismatch for {target.name}: sha256 {actual}, the server says {published}")
    return actual


def download(name: str, models_dir: Path, base_url: str = DEFAULT_BASE_URL, out: Any = None) -> Path:
    """Fetch model ``name`` (e.g. ``tiny.en``) into ``models_dir/name`` with ``SHA256SUMS``."""
    name = check_name(name, "model name")  # it becomes a folder name: the data root's rule for names
    out = out or sys.stderr
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = models_dir / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        base = base_url.format(name=name).rstrip("/")
        digests = {file: _fetch(f"{base}/{file}", staging / file, out) for file in models.MODEL_FILES}
        models.write_sums(staging, digests)
        target = models_dir / name
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="whisper_command", required=True)
    sub.add_parser("list", help="Whisper models installed here")
    get = sub.add_parser("download", help="download a faster-whisper model into the data root")
    get.add_argument("name", help="model name, e.g. tiny.en, base.en, small")
    get.add_argument("--base-url", default=DEFAULT_BASE_URL,
                     help="where the files are; {name} is replaced (default: Systran's repositories)")


def run(config: Config, args: argparse.Namespace) -> int:
    models_dir = config.bot.data_root / "models" / "whisper"
    if args.whisper_command == "list":
        print("installed:")
        packaged = models.packaged_model()
        if packaged is not None:
            print(f"  {models.PACKAGED_LANGUAGE:6} {packaged}  ({models.PACKAGE} {models.PACKAGE_VERSION}, "
                  "sha256-pinned)")
        for language, path in sorted(models.downloaded_models(models_dir).items()):
            print(f"  {language:6} {path}")
        others = [p for p in sorted(models_dir.iterdir()) if p.is_dir() and not p.name.startswith(".")
                  and not p.name.endswith(".en")] if models_dir.is_dir() else []
        for path in others:
            print(f"  {'(map)':6} {path}  (multilingual: map languages to it in [plugins.speech_whisper] models)")
        return 0
    try:
        target = download(args.name, models_dir, args.base_url)
    except (OSError, ValueError, PathRefused) as exc:
        print(f"download failed: {exc}", file=sys.stderr)
        return 1
    print(f"installed {args.name} into {target}")
    return 0
