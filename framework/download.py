"""Verified downloads into the data root, for anything a plugin fetches (speech models, lists).

One helper, so every download behaves the same:

- the bytes go to a temporary file next to the target (inside the data root, so the final
  ``os.replace`` is atomic on the same file system); a failed or refused download leaves nothing;
- the size is checked (the one expected, else the ``Content-Length``), and every digest that is
  known: given by the caller (``sha256``, ``md5`` from a model list) or published by the server
  (a 64-hex sha256 in ``X-Linked-Etag`` or ``ETag``, as Hugging Face sends for large files);
- progress goes to a callback ``progress(label, done_bytes, total_bytes_or_None)``;
- every failure is one :class:`DownloadError` with a one-line message (offline, refused, HTTP
  status, mismatch), never a ``URLError`` traceback.

Directories (a model is a folder) are staged beside their target and swapped in with
:func:`install_dir`. Blocking: call these from a CLI or in ``app.run_blocking``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

Progress = Callable[[str, int, "int | None"], None]
"""``progress(label, done_bytes, total_bytes)``; total is ``None`` when unknown."""

CHUNK = 1 << 20
_SHA256 = re.compile(r'^(?:w/)?"?([0-9a-f]{64})"?$')


class DownloadError(Exception):
    """A download failed or was refused; the message is one line a user can act on."""


def _where(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def describe(url: str, exc: BaseException) -> str:
    """One line for a failed request: the HTTP status, or that the server cannot be reached."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"{url} answered {exc.code} {exc.reason}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.gaierror | ConnectionRefusedError | TimeoutError | socket.timeout):
        return (f"cannot reach {_where(url)} ({type(reason).__name__}: {reason}); "
                "are you offline? Connect, or point the download URL at a mirror you can reach")
    return f"cannot download {url}: {reason}"


def published_sha256(headers: Any) -> str | None:
    """The sha256 a server publishes for a file in ``X-Linked-Etag``/``ETag``, when it is one."""
    for header in ("X-Linked-Etag", "ETag"):
        match = _SHA256.match((headers.get(header) or "").strip().lower())
        if match:
            return match.group(1)
    return None


def _inside(path: Path, root: Path | None) -> None:
    if root is not None and not path.resolve().is_relative_to(root.resolve()):
        raise DownloadError(f"refusing to write {path}: it is outside the data root {root}")


def fetch_json(url: str, *, timeout: float = 30) -> Any:
    """A JSON document (e.g. a model list), or :class:`DownloadError` in one line."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except (OSError, ValueError) as exc:
        if isinstance(exc, ValueError) and not isinstance(exc, OSError):
            raise DownloadError(f"{url} did not send valid JSON: {exc}") from None
        raise DownloadError(describe(url, exc)) from None


def download_file(url: str, target: Path, *, root: Path | None = None, size: int | None = None,
                  sha256: str | None = None, md5: str | None = None, progress: Progress | None = None,
                  label: str | None = None, timeout: float = 60) -> str:
    """Fetch ``url`` into ``target`` (atomically, verified); return the file's sha256.

    ``root``: the data root the target must be inside. ``size``/``sha256``/``md5``: what the
    file must be, when known; a sha256 the server publishes is checked too."""
    _inside(target, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    label = label or target.name
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    temp = Path(temp_name)
    digests = {"sha256": hashlib.sha256(), "md5": hashlib.md5()}
    done = 0
    try:
        with os.fdopen(handle, "wb") as sink:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    total = size or int(response.headers.get("Content-Length") or 0) or None
                    published = published_sha256(response.headers)
                    while chunk := response.read(CHUNK):
                        sink.write(chunk)
                        for digest in digests.values():
                            digest.update(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(label, done, total)
            except OSError as exc:
                raise DownloadError(describe(url, exc)) from None
        if total is not None and done != total:
            raise DownloadError(f"size mismatch for {label}: got {done} bytes, expected {total}")
        actual = digests["sha256"].hexdigest()
        for name, want in (("sha256", sha256), ("sha256 (published by the server)", published),
                           ("md5", md5)):
            got = digests[name.split()[0]].hexdigest()
            if want and got != want.lower():
                raise DownloadError(f"checksum mismatch for {label}: {name} {got}, expected {want}")
        os.replace(temp, target)
        return actual
    finally:
        temp.unlink(missing_ok=True)


def staging_dir(target: Path, *, root: Path | None = None) -> Path:
    """An empty folder beside ``target`` to assemble it in (removed by :func:`install_dir`)."""
    _inside(target, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))


def install_dir(staging: Path, target: Path) -> Path:
    """Swap a finished staging folder in as ``target``, replacing an older one only at the end."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def unpack_zip(archive: Path, into: Path) -> None:
    """Unpack a zip, refusing absolute paths and ``..`` (the archive comes from the network)."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise DownloadError(f"refusing unsafe path in the archive: {member}")
            zipped.extractall(into)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{archive.name} is not a valid zip archive: {exc}") from None
