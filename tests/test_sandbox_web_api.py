"""The web sandbox's server without a browser: only its own page may use it, a user's mistake is
one clear JSON error, files reach slash commands only by upload, and live events arrive."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from framework.config import load_config
from framework.sandbox_session import SandboxSession
from framework.sandbox_web import SandboxWeb


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[SandboxWeb]:
    config = load_config(tmp_path / "plugins.toml", overrides={"bot": {"data_root": str(tmp_path / "data")}})
    async with SandboxSession(config) as session:
        server = SandboxWeb(session)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()


async def _send(web: SandboxWeb, content: str, *, headers: dict[str, str] | None = None,
                files: dict[str, bytes] | None = None, user: Any = None) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData()
    form.add_field("user", str((user or web.session.me).id))
    form.add_field("channel", str(web.session.text.id))
    form.add_field("content", content)
    for name, data in (files or {}).items():
        form.add_field("files", data, filename=name, content_type="text/plain")
    async with aiohttp.ClientSession() as http, http.post(web.url + "api/send", data=form,
                                                          headers=headers or {}) as response:
        return response.status, await response.json()


async def test_only_the_page_itself_may_use_the_api(web) -> None:
    status, body = await _send(web, "!hi", headers={"Origin": "http://evil.example"})
    assert (status, body) == (403, {"error": "only the sandbox's own page may use it"})
    status, _ = await _send(web, "!hi", headers={"Host": f"evil.example:{web.port}"})
    assert status == 403
    assert not [m for m in web.emu.messages.values() if m.content == "!hi"], "nothing was sent"
    status, body = await _send(web, "!hi", headers={"Origin": web.url.rstrip("/")})
    assert status == 200 and "message" in body


@pytest.mark.parametrize(("line", "error"), [
    ("/nope", "no slash command /nope"),
    ("/", "type a command after /"),
    ("/hi extra:1", "/hi has no option `extra`"),
    ("/test attachment:/etc/passwd", "`attachment` takes a file: drop it on the page"),
    ("", "type a message"),
    ("!hi @file:/etc/passwd", "drop files on the page"),
])
async def test_mistakes_are_one_clear_error(web, line: str, error: str) -> None:
    status, body = await _send(web, line)
    assert status == 400 and body["error"].startswith(error), body


async def test_dropped_files_fill_a_slash_commands_file_option_and_events_arrive(web) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(web.url + "ws") as ws:
        status, body = await _send(web, "/test", files={"known.csv": b"text,label\ngreat,positive\n"})
        assert status == 200 and "interaction" in body
        inter = web.emu.interactions[int(body["interaction"])]
        attachment_id = inter.data["options"][0]["value"]
        assert web.emu.attachments[int(attachment_id)].filename == "known.csv"
        answer = await inter.wait_response(timeout=30)
        while True:
            event = json.loads((await asyncio.wait_for(ws.receive(), 30)).data)
            if event["type"] == "message" and event["message"]["id"] == str(answer.id):
                break
        assert event["message"]["visible_to"] in (None, str(web.session.me.id))
        status, body = await _send(web, "/hi", files={"a.txt": b"x"})
        assert (status, body["error"]) == (400, "/hi takes no files")


async def test_attachments_are_served_with_their_type(web) -> None:
    await _send(web, "here", files={"note.txt": b"hello"})
    att = next(a for a in web.emu.attachments.values() if a.filename == "note.txt")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{web.url}attachments/{att.id}/note.txt") as response:
            assert response.status == 200 and await response.read() == b"hello"
            assert response.headers["Content-Disposition"] == 'attachment; filename="note.txt"'
        async with http.get(f"{web.url}attachments/{att.id}/other.txt") as response:
            assert response.status == 404
