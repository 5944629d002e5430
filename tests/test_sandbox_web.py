"""The web sandbox in a real browser: Debian's Chromium, headless, driven through Playwright's API
(``executable_path``; Playwright's own browser download is never used), on the page the sandbox
serves for the real bot on the emulator. Each test saves a screenshot under its ``tmp_path``.

Without /usr/bin/chromium (``.ci/browser`` installs it) or the ``playwright`` package, these tests
skip and say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from framework import sql as sa
from framework.config import load_config
from framework.sandbox_session import SandboxSession
from framework.sandbox_web import SandboxWeb
from plugins.corrections import corrections
from plugins.feedback import feedback_table
from tests.test_evaluation import KNOWN
from tests.test_training import labelled_jsonl

CHROMIUM = Path("/usr/bin/chromium")
try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # pragma: no cover - the `test` extra installs it
    async_playwright = None

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium "
                       "(Debian: apt-get install chromium chromium-driver, or run .ci/browser)"),
    pytest.mark.skipif(async_playwright is None, reason="the playwright package is not installed "
                       "(pip install -e '.[test]')"),
]

TRAINING_TOML = '[plugins.training]\npoll_interval = 0.01\n'
OPENAI_TOML = '[engines]\nprovider = "openai"\n[plugins.training]\npoll_interval = 0.01\n'
RIGHT = "Paris is in France."


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--autoplay-policy=no-user-gesture-required", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream"])
        try:
            yield chromium
        finally:
            await chromium.close()


class Sandbox:
    """The running sandbox (session and page server) and a Chromium tab on its page."""

    def __init__(self, session: Any, web: SandboxWeb, page: Page, shots: Path,
                 stack: contextlib.AsyncExitStack) -> None:
        self.session, self.web, self.page, self.shots, self.stack = session, web, page, shots, stack

    async def close(self) -> None:
        """Close the tab, stop the page's server and the sandbox (which saves its world)."""
        await self.stack.aclose()

    async def type(self, text: str) -> None:
        box = self.page.locator("#input")
        await box.fill(text)
        await box.press("Enter")

    async def bot_message(self, text: str, *, timeout: float = 60_000) -> Any:
        """The bot's message on the page that contains ``text`` (the last one, if several)."""
        locator = self.page.locator(".msg[data-author=trainerbot]", has_text=text).last
        await locator.wait_for(timeout=timeout)
        return locator

    async def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
        return path

    async def rows(self, table: sa.Table) -> list[Any]:
        async with self.session.app.storage.connect() as conn:
            return list((await conn.execute(sa.select(table).order_by(table.c.id))).all())

    async def eventually_rows(self, table: sa.Table, count: int) -> list[Any]:
        for _ in range(200):  # bounded: the event is handled concurrently with the page's request
            rows = await self.rows(table)
            if len(rows) >= count:
                return rows
            await asyncio.sleep(0.05)
        raise AssertionError(f"{table.name} has {len(await self.rows(table))} rows, expected {count}")


@pytest.fixture
async def sandbox_factory(tmp_path: Path, browser: Browser) -> AsyncIterator[Any]:
    async with contextlib.AsyncExitStack() as outer:
        async def start(toml: str = TRAINING_TOML) -> Sandbox:
            stack = contextlib.AsyncExitStack()
            outer.push_async_callback(stack.aclose)
            config_path = tmp_path / "plugins.toml"
            config_path.write_text(toml, "utf-8")
            config = load_config(config_path, overrides={"bot": {"data_root": str(tmp_path / "data")}})
            session = await stack.enter_async_context(SandboxSession(config))
            web = SandboxWeb(session)
            await web.start()
            stack.push_async_callback(web.stop)
            context = await browser.new_context(viewport={"width": 1400, "height": 900})
            stack.push_async_callback(context.close)
            page = await context.new_page()
            await page.goto(web.url)
            await page.locator("body[data-ready='1']").wait_for()
            return Sandbox(session, web, page, tmp_path, stack)

        yield start


async def test_typing_slash_hi_shows_the_answer(sandbox_factory) -> None:
    sb = await sandbox_factory()
    await sb.page.locator("#input").fill("/hi")
    hint = sb.page.locator("#suggest .option", has_text="/hi")
    await hint.wait_for()
    assert await hint.locator(".desc").inner_text(), "each command shows its description"
    await sb.page.locator("#input").press("Tab")  # completes the command from the synced definitions
    assert await sb.page.locator("#input").input_value() == "/hi "
    await sb.page.locator("#suggest .option", has_text="name:").wait_for()  # its option, with its type
    await sb.page.locator("#input").press("Enter")
    answer = await sb.bot_message("Hello, owner!")
    assert "owner used /hi" in await answer.inner_text()
    await sb.shot("slash-hi")


async def test_train_with_a_dropped_file_then_test_renders_the_confusion_matrix(sandbox_factory) -> None:
    sb = await sandbox_factory()
    page = sb.page
    # drag and drop: a real DataTransfer with the file, dropped on the chat
    await page.evaluate("""([name, text]) => {
        const data = new DataTransfer();
        data.items.add(new File([text], name, {type: "application/json"}));
        const chat = document.getElementById("chat");
        chat.dispatchEvent(new DragEvent("dragover", {dataTransfer: data, bubbles: true, cancelable: true}));
        chat.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
    }""", ["reviews.jsonl", labelled_jsonl().decode()])
    await page.locator(".chip[data-file='reviews.jsonl']").wait_for()
    await sb.type("!train")
    done = await sb.bot_message("succeeded", timeout=120_000)
    assert "local-1" in await done.inner_text()  # the first model is activated: `!test` may follow at once
    known = "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in KNOWN)
    await page.locator("#file-input").set_input_files(
        files=[{"name": "known.jsonl", "mimeType": "application/json", "buffer": known.encode()}])
    await sb.type("!test")
    report = await sb.bot_message("Test run #1", timeout=120_000)
    image = report.locator("img.attachment-image").first
    await image.wait_for()
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=await image.element_handle())
    box = await image.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0
    assert "confusion" in (await image.get_attribute("src") or "")
    await image.scroll_into_view_if_needed()
    await sb.shot("train-test")


async def _chat_answer(sb: Sandbox, openai_server: Any) -> Any:
    """Mention the bot (typed as @trai… and completed) and get its chat answer on the page."""
    openai_server.chat_reply = "Paris is in Germany."
    box = sb.page.locator("#input")
    await box.fill("@trai")
    await sb.page.locator("#suggest .option", has_text="@trainerbot").wait_for()
    await box.press("Tab")
    await box.press("End")
    await box.type("where is Paris?")
    await box.press("Enter")
    return await sb.bot_message("Paris is in Germany.")


async def test_reply_correction_and_thumbs_up_are_stored(sandbox_factory, openai_server) -> None:
    sb = await sandbox_factory(OPENAI_TOML)
    answer = await _chat_answer(sb, openai_server)
    answer_id = int(await answer.get_attribute("data-id") or 0)
    await answer.hover()
    await answer.locator("button[data-act=copy]").click()
    await sb.page.locator("#toast", has_text=f"Copied message id {answer_id}").wait_for()
    await answer.hover()
    await answer.locator("button[data-act=reply]").click()
    await sb.page.locator("#reply-bar:not([hidden])").wait_for()
    await sb.type(f"!correct {RIGHT}")
    await sb.bot_message("Thanks! Correction #1 saved")
    await answer.hover()
    await answer.locator("button[title='Add 👍']").click()
    await answer.locator(".reaction.mine[data-emoji='👍']").wait_for()
    await sb.shot("reply-and-reaction")
    stored = await sb.rows(corrections)
    assert [(r.message_id, r.correction, r.source) for r in stored] == [(answer_id, RIGHT, "reply")]
    feedback = await sb.eventually_rows(feedback_table, 1)
    assert [(r.kind, r.reaction, r.user_id, r.message_id) for r in feedback] == [
        ("reaction", "up", sb.session.me.id, answer_id)]


async def test_the_correct_menu_opens_the_form(sandbox_factory, openai_server) -> None:
    sb = await sandbox_factory(OPENAI_TOML)
    answer = await _chat_answer(sb, openai_server)
    await answer.click(button="right")
    await sb.page.locator("#menu .item[data-item='Apps ›']").click()
    await sb.page.locator("#menu .item[data-item='Correct this answer']").click()
    form = sb.page.locator("#modal-back:not([hidden])")
    await form.wait_for()
    assert await sb.page.locator("#modal-title").inner_text() == "Correct this answer"
    await sb.page.locator("#modal-inputs textarea, #modal-inputs input").first.fill(RIGHT)
    await sb.shot("correct-form")
    await sb.page.locator("#modal-submit").click()
    done = await sb.bot_message("Thanks! Correction #1 saved")
    assert "Only you can see this" in await done.inner_text()
    stored = await sb.rows(corrections)
    assert [(r.correction, r.source) for r in stored] == [(RIGHT, "menu")]
    await sb.page.locator("#member-list .member[data-name=guest]").click()
    assert await done.is_hidden(), "an answer only the owner may see is hidden from the guest"


async def test_a_member_without_permissions_is_refused(sandbox_factory) -> None:
    sb = await sandbox_factory()
    guest = sb.page.locator("#member-list .member[data-name=guest]")
    assert "no permissions" in await guest.inner_text()
    await guest.click()
    await sb.page.locator("#me", has_text="guest").wait_for()
    await sb.type("!train great movie")
    refusal = await sb.bot_message("You don't have permission to use train")
    assert "limited to the bot's owners" in await refusal.inner_text()
    await sb.type("/dataset export")  # on the slash surface the refusal is only for the guest
    private = await sb.bot_message("You don't have permission to use dataset export")
    assert "Only you can see this" in await private.inner_text()
    await sb.shot("refused")
    await sb.page.locator("#member-list .member[data-name=owner]").click()
    assert await private.is_hidden() and await refusal.is_visible()


async def test_joining_voice_and_say_hello_plays_the_bots_voice(sandbox_factory) -> None:
    sb = await sandbox_factory()
    await sb.page.locator(".voice-channel").click()
    await sb.page.locator("#voice-panel:not([hidden])").wait_for()
    await sb.page.locator(".voice-member", has_text="owner").wait_for()
    await sb.type("!say hello")
    await sb.bot_message("Saying it in")
    await sb.page.wait_for_function("window.sandbox.audio.bytes > 9600", timeout=60_000)  # more than 0.1 s heard
    frames = await sb.page.evaluate("window.sandbox.audio.frames")
    assert frames > 0
    await sb.shot("voice")


async def test_an_export_is_a_download_and_getfile_autocompletes(sandbox_factory) -> None:
    sb = await sandbox_factory()
    page = sb.page
    await page.locator("#file-input").set_input_files(
        files=[{"name": "reviews.jsonl", "mimeType": "application/json", "buffer": labelled_jsonl()}])
    await sb.type("!train")
    await sb.bot_message("Added 16 example(s)")
    await sb.type("!dataset export")
    export = await sb.bot_message("16 examples, saved as")
    link = export.locator("a.file[download]").first
    assert (await link.get_attribute("download") or "").endswith(".jsonl")
    # the link's answer, as the browser gets it (headless Chromium cancels real downloads)
    got = await page.request.get(sb.web.url.rstrip("/") + (await link.get_attribute("href") or ""))
    assert got.ok and got.headers["content-disposition"].startswith("attachment")
    saved = await got.text()
    assert len(saved.splitlines()) == 16
    box = page.locator("#input")
    await box.fill("/getfile path:exp")  # the bot's own autocomplete answers the focused option
    await page.locator("#suggest .option", has_text="exports/").wait_for()
    await box.press("Tab")
    await box.press("Backspace")  # the folder chosen: type on inside it
    await box.type("def")
    choice = page.locator("#suggest .option", has_text=".jsonl")
    await choice.wait_for()
    await box.press("Tab")
    assert (await box.input_value()).startswith("/getfile path:exports/default-")
    await box.press("Enter")
    sent = await sb.bot_message("(", timeout=30_000)
    assert await sent.locator("a.file[download]").count() == 1
    await sb.shot("export-getfile")


async def test_audio_attachments_play_and_the_microphone_sends_a_voice_message(sandbox_factory) -> None:
    sb = await sandbox_factory()
    page = sb.page
    await page.locator("#file-input").set_input_files(
        files=[{"name": "tone.wav", "mimeType": "audio/wav", "buffer": _tone_wav()}])
    await sb.type("a sound")
    mine = page.locator(".msg[data-author=owner]", has_text="a sound").last
    player = mine.locator("audio.attachment-audio")
    await player.wait_for()
    await page.wait_for_function("a => a.readyState >= 1 && a.duration > 0.4", arg=await player.element_handle())
    await page.locator("#mic").click()  # Chromium's fake microphone (a beep), without a permission prompt
    await page.locator("#mic.recording").wait_for()
    await page.wait_for_timeout(1500)
    await page.locator("#mic").click()
    voice = page.locator(".msg[data-author=owner]", has_text="voice message").last
    await voice.wait_for()
    assert await voice.locator("audio.attachment-audio").count() == 1
    voice_id = await voice.get_attribute("data-id")
    recorded = sb.session.emu.messages[int(voice_id or 0)]
    assert recorded.flags & (1 << 13) and recorded.attachments[0].duration_secs > 1
    # the voice-message plugin decoded the recording (Chromium's fake microphone beeps: no words in it)
    answer = await sb.session.emu.wait_for_message(predicate=lambda m: m.reference == recorded.id, timeout=60)
    assert "I heard something" in answer.content
    await page.locator(f".msg[data-id='{answer.id}']", has_text="I heard something").wait_for()
    await sb.shot("audio")


def _tone_wav(seconds: float = 0.5, rate: int = 16_000) -> bytes:
    import io
    import math
    import struct
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                                 for i in range(int(seconds * rate))))
    return buffer.getvalue()


async def test_a_restart_brings_the_conversation_back(sandbox_factory) -> None:
    sb = await sandbox_factory()
    await sb.page.locator("#member-list .member[data-name=guest]").click()
    await sb.type("!hi")
    first = await sb.bot_message("Hello, guest!")
    answer_id = await first.get_attribute("data-id")
    await sb.close()
    again = await sandbox_factory()
    kept = again.page.locator(f".msg[data-id='{answer_id}']")
    assert "Hello, guest!" in await kept.inner_text()
    assert await again.page.locator(".msg[data-author=guest]", has_text="!hi").count() == 1
    await again.shot("restarted")


def test_the_page_is_package_data() -> None:
    """Every static file of the page matches pyproject's package-data, so an installed bot serves it."""
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["package-data"]
    static = root / "framework" / "sandbox_web" / "static"
    files = sorted(p.relative_to(static.parent).as_posix() for p in static.iterdir())
    assert files == ["static/app.js", "static/index.html", "static/style.css", "static/suggest.js", "static/voice.js"]
    for name in files:
        assert any(fnmatch.fnmatch(name, pat) for pat in patterns["framework.sandbox_web"]), name
