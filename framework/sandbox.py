"""The terminal sandbox (``trainerbot sandbox --terminal``): the whole bot against the local Discord
emulator (``sandbox_session.py``), and a chat in which you type as a user (``sandbox_input.py``).

Reading lines and awaiting answers are concurrent: lines are read as you type them and handled in
order; each waits a short while for an answer (``reply_wait``), then "(no reply)" and the next.
Answers that come later (long jobs) are printed when they come. Files the bot sends are saved in
``<data_root>/sandbox/downloads/``. Ctrl-C leaves cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TextIO

from framework.config import Config
from framework.emulator.state import Interaction, Message
from framework.errors import UserError
from framework.logs import setup_logging
from framework.sandbox_input import Control, Menu, parse
from framework.sandbox_session import Outcome, SandboxError, SandboxSession, short

log = logging.getLogger(__name__)

REPLY_WAIT = 3.0
"""Seconds a line waits for a first answer before "(no reply)"."""
SETTLE = 0.4
"""Seconds without news (messages, edits) after which a line's answer is taken as complete."""
VOICE_WAIT = 120.0
"""At most this long, the report of a line waits for the bot to finish speaking."""

INTRO = """\
trainerbot sandbox — the real bot, connected to a local Discord emulator.
You are {user} (the bot's owner) in #{channel} of "{guild}"{restored}.
  !hi, !help              prefix commands; @trainerbot mentions the bot (chat by mention)
  /hi name:Bob            slash commands (option:value, quote values with spaces); a lone / lists them
  @file:PATH              attach a local file; slash: /test attachment:PATH
  #123456 bot> …          the bot's messages with their ids (last digits; the full id works too)
  >ID text, /reply ID t   reply to a message (ID ^ = the bot's last message), e.g. >^ !correct better
  +ID 👍, -ID 👍            react to a message / take the reaction back
  /apps correct ID text   Apps › Correct this answer on a message, text fills the form (/form text later)
  /as guest, /users       act as guest, a member without the bot's permissions (refusals)
  !join, !say hello       you sit in the "{voice}" voice channel; a local voice server listens
  !listen FILE.wav        speak a recording into the call as you (after `!join` and `!voice listen on`)
  /quit or Ctrl-C         leave; files the bot sends are saved in {downloads}
For real Discord: export DISCORD_TOKEN=... and run `make run` again.
"""


class Terminal:
    """Prints what the bot does in the sandbox's text channel, and runs typed lines one by one."""

    def __init__(self, session: SandboxSession, out: TextIO, reply_wait: float = REPLY_WAIT) -> None:
        self.s = session
        self.out = out
        self.reply_wait = reply_wait
        self.shown: dict[int, int] = {m.id: len(m.edits) for m in session.emu.sent_messages()}
        """Message id → how many edits were shown (restored history is not printed again)."""
        self.heard = self._packets()
        self._lock = asyncio.Lock()

    def write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # -- showing
    def _fresh(self) -> list[Message]:
        return [m for m in self.s.emu.sent_messages() if self.shown.get(m.id) != len(m.edits)]

    async def flush(self) -> bool:
        """Print the bot's new and edited messages (saving their files); whether there were any."""
        async with self._lock:
            fresh = self._fresh()
            for message in fresh:
                self.shown[message.id] = len(message.edits)
                await self._show(message)
            return bool(fresh)

    async def _show(self, message: Message) -> None:
        flags = (" (only you can see this)" if message.ephemeral else "") + (" (edited)" if message.edits else "")
        where = "" if message.channel_id == self.s.text.id else f" [{self._place(message.channel_id)}]"
        lines = [f"#{short(message.id)}{where} bot{flags}> {message.content or ''}"]
        for att in message.attachments:
            try:
                saved = await asyncio.to_thread(self.s.store.save_download, message.id, att)
                lines.append(f"  📎 {att.filename} ({len(att.data)} bytes) saved: {saved}")
            except OSError as exc:
                lines.append(f"  📎 {att.filename} ({len(att.data)} bytes), not saved: {exc.strerror}")
        self.write("\n".join(lines))

    def _place(self, channel_id: int) -> str:
        channel = self.s.emu.channels.get(channel_id)
        if channel is None:
            return str(channel_id)
        return f"DM with {channel.recipient.username}" if channel.recipient else f"#{channel.name}"

    async def watch(self) -> None:
        """Print answers that come between lines (a long job's result) as they come."""
        while True:
            if await self._first(self._fresh, 3600):
                await self.flush()

    # -- the voice channel (the sandbox has no loudspeaker: it says what reached the channel)
    def _packets(self) -> int:
        return sum(len(session.audio_packets) for session in self.s.voice_server.sessions)

    def _playing(self) -> bool:
        try:
            backend = self.s.app.engines.voice.active()
        except UserError:  # no voice backend configured: nothing plays
            return False
        return bool(backend.is_playing(self.s.guild.id))

    def report_voice(self) -> None:
        fresh = self._packets() - self.heard
        if fresh > 0:
            self.write(f"voice> 🔊 {fresh} Opus frames ({fresh * 0.02:.1f} s of audio) reached the voice channel")
        self.heard += max(fresh, 0)

    # -- one line
    async def handle(self, raw: str) -> bool:
        """Run one typed line; ``False`` when it asks to leave."""
        line = raw.strip()
        if not line:
            return True
        action = parse(line, self.s.catalog())
        try:
            if isinstance(action, Control) and action.verb == "listen":
                await self._listen(action.arg)
                return True
            outcome = await self.s.perform(action)
            if outcome.quit:
                return False
            answered = await self._await_answer(action, outcome)
        except SandboxError as exc:
            self.write(f"sandbox> {exc}")
            return True
        except Exception as exc:  # a bug must not end the chat: one line here, the detail in the log
            log.exception("sandbox line %r failed", line)
            self.write(f"sandbox> that line failed ({type(exc).__name__}); the log has the detail")
            return True
        await self._settle()
        if not answered:
            self.write("(no reply)")
        return True

    async def _first(self, probe: Callable[[], Any], timeout: float) -> Any:
        try:
            return await self.s.emu.wait_until(probe, timeout=timeout, what="an answer")
        except AssertionError:
            return None

    async def _await_answer(self, action: object, outcome: Outcome) -> bool:
        if outcome.note and not isinstance(action, Menu):
            self.write(f"sandbox> {outcome.note}")
            return True
        if outcome.sent is not None:
            sent = outcome.sent
            return bool(await self._first(lambda: any(m.id > sent.id for m in self.s.emu.sent_messages()),
                                          self.reply_wait))
        inter = outcome.interaction
        if inter is None:
            return True
        if not await self._first(lambda: inter.callbacks, self.reply_wait):
            return False
        fields = self.s.form_fields(inter)
        if fields is not None:
            return await self._form(inter, fields, outcome.note if isinstance(action, Menu) else "")
        if inter.callbacks[0].get("type") == 5 and not inter.responses:  # deferred: "thinking…"
            if not await self._first(lambda: inter.responses, self.reply_wait):
                self.write("sandbox> the bot is working on it; its answer is printed when it comes")
        return True

    async def _form(self, inter: Interaction, fields: list[tuple[str, str]], text: str) -> bool:
        if not text:
            self.s.form = inter
            labels = " | ".join(label for _, label in fields)
            self.write(f"sandbox> the bot opened a form: {labels} — fill it with /form TEXT")
            return True
        submitted = await self.s.fill_form(inter, text)
        return bool(await self._first(lambda: submitted.callbacks, self.reply_wait))

    async def _settle(self) -> None:
        """Show the line's answers once they stop changing, and what it sent to the voice channel
        once the bot stops speaking (so the report comes with the line that caused it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + VOICE_WAIT
        quiet_since = loop.time()
        while loop.time() < deadline:
            if await self.flush():
                quiet_since = loop.time()
            if self._playing():
                quiet_since = loop.time()
            elif loop.time() - quiet_since >= SETTLE:
                break
            await asyncio.sleep(0.05)
        self.report_voice()

    async def _listen(self, name: str) -> None:
        """``!listen FILE``: the file, as Opus frames at a speaker's pace, from your simulated voice client."""
        path = Path(name.strip('"')).expanduser()
        last = max((m.id for m in self.s.emu.sent_messages()), default=0)
        try:
            await self.s.speak_file(path, lambda seconds: self.write(
                f"voice> 🎙️ you say {path.name} ({seconds:.1f} s) in the call"))
        except SandboxError as exc:
            self.write(f"sandbox> {exc}")
            return
        if not await self._first(lambda: any(m.id > last for m in self.s.emu.sent_messages()), 30):
            self.write("sandbox> no answer: is listening on (`!voice listen on`), and did you start with the wake "
                       "phrase (`[plugins.voice_listen] mode`)?")
        await self._settle()


async def chat(config: Config, lines: AsyncIterator[str], out: TextIO, *, reply_wait: float = REPLY_WAIT) -> int:
    """Run the sandbox, reading user lines from the async iterator ``lines``; 130 when Ctrl-C ended it."""
    async with SandboxSession(config) as s:
        term = Terminal(s, out, reply_wait)
        out.write(INTRO.format(user=s.me.username, channel=s.text.name, guild=s.guild.name, voice=s.voice.name,
                               downloads=s.store.downloads,
                               restored=" (restored from the last run)" if s.restored else ""))
        out.flush()
        watcher = asyncio.create_task(term.watch())
        work = asyncio.create_task(_run_lines(term, lines))
        interrupted = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:  # Ctrl-C ends the chat, whatever a line is waiting for, then the session closes
            loop.add_signal_handler(signal.SIGINT, interrupted.set)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
            pass
        stopper = asyncio.create_task(interrupted.wait())
        try:
            await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, stopper, watcher):
                task.cancel()
            await asyncio.wait({work, stopper, watcher}, timeout=5)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGINT)
        if work.done() and not work.cancelled() and work.exception() is not None:
            raise work.exception()  # type: ignore[misc]
    if interrupted.is_set():
        out.write("\nsandbox> bye (Ctrl-C)\n")
        out.flush()
        return 130
    return 0


async def _run_lines(term: Terminal, lines: AsyncIterator[str]) -> None:
    async for raw in lines:
        if not await term.handle(raw):
            return


async def _stdin_lines(prompt: str) -> AsyncIterator[str]:
    """Lines of standard input, read by a daemon thread (so Ctrl-C never waits for Enter) and handed
    to the loop as they come: a line typed while an answer is awaited is queued, not lost."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(sys.stdin.fileno(), 65536)
            except OSError:
                chunk = b""
            if not chunk:
                if pending:
                    loop.call_soon_threadsafe(queue.put_nowait, pending.decode("utf-8", "replace"))
                loop.call_soon_threadsafe(queue.put_nowait, None)
                return
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for item in complete:
                loop.call_soon_threadsafe(queue.put_nowait, item.decode("utf-8", "replace"))

    threading.Thread(target=read, name="sandbox-stdin", daemon=True).start()
    tty = sys.stdin.isatty()
    while True:
        if tty and queue.empty():
            sys.stdout.write(prompt)
            sys.stdout.flush()
        line = await queue.get()
        if line is None:
            return
        yield line


async def _file_lines(path: Path) -> AsyncIterator[str]:
    for line in (await asyncio.to_thread(path.read_text, "utf-8")).splitlines():
        yield line


def run_sandbox(config: Config, script: str | None = None, *, reply_wait: float = REPLY_WAIT) -> int:
    """The terminal sandbox: lines from ``script`` (a file) or from standard input."""
    setup_logging("WARNING")
    lines = _file_lines(Path(script)) if script else _stdin_lines("you> ")
    try:
        return asyncio.run(chat(config, lines, sys.stdout, reply_wait=reply_wait))
    except KeyboardInterrupt:
        sys.stdout.write("\nsandbox> bye (Ctrl-C)\n")
        sys.stdout.flush()
        return 130
