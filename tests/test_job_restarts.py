"""Training jobs survive a SIGKILL at every step of their state machine. The bot runs as a real
process (``tests/bot_process.py``) against the emulator and the OpenAI test server, which run in
this process; the moment of the kill is a request the test server holds (never a sleep). After the
restart no job is left in a non-terminal state, no event is stored twice, and what a dead start
left at OpenAI is deleted. Also `jobs cancel` while a job is starting, in the bot in process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_training import labelled_jsonl

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = ("succeeded", "failed", "cancelled")
OPENAI_TOML = ('[engines]\nprovider = "openai"\n[plugins.training]\npoll_interval = 0.01\n'
               '[storage]\nlease_seconds = 2\n')  # PostgreSQL: the killed bot's job leases lapse soon


class BotProcess:
    """``python -m tests.bot_process`` on one data root: started, killed, started again."""

    def __init__(self, emu: Any, tmp_path: Path, database: Any) -> None:
        self.emu = emu
        self.database = database
        self.config = tmp_path / "plugins.toml"
        self.config.write_text(OPENAI_TOML, "utf-8")
        self.data_root = tmp_path / "data"
        self.log = tmp_path / "bot.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**os.environ, "TRAINERBOT_TEST_TOKEN": self.emu.token, "PYTHONPATH": str(ROOT)}
        with open(self.log, "ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.bot_process", str(self.config), str(self.data_root), self.emu.rest_url,
                cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=log)
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 60)
        assert line.strip() == b"READY", f"the bot did not start: {line!r}\n{self.tail()}"

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no shutdown hook, no clean close of anything
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()

    def tail(self) -> str:
        return self.log.read_text("utf-8", errors="replace")[-3000:] if self.log.exists() else ""

    def jobs(self) -> list[dict[str, Any]]:
        """The job rows as they are in the database now (read by this process, as an admin would)."""
        return self.database.rows(self.data_root, "SELECT * FROM training_jobs ORDER BY id")


@pytest.fixture
async def bot(discord_emulator, tmp_path, database):
    process = BotProcess(discord_emulator, tmp_path, database)
    guild = discord_emulator.create_guild("Test server")
    process.channel = discord_emulator.create_channel(guild, "general")
    discord_emulator.add_member(guild, discord_emulator.application_owner)
    try:
        yield process
    finally:
        await process.stop()


# (held request, after it was handled?, matching requests let through first, the job's status then)
MOMENTS = {
    "uploading": ("POST", "/v1/files", True, 0, "starting"),
    "uploaded": ("POST", "/v1/fine_tuning/jobs", False, 0, "uploaded"),
    "launched": ("POST", "/v1/fine_tuning/jobs", True, 0, "uploaded"),
    "polling": ("GET", "/v1/fine_tuning/jobs/[^/]+/events", False, 1, "queued"),
}


@pytest.mark.parametrize("moment", list(MOMENTS))
async def test_a_job_killed_at_each_step_ends_cleanly_after_a_restart(bot, openai_server, moment) -> None:
    method, path, after, skip, status = MOMENTS[moment]
    held = openai_server.hold(method, path, after=after, skip=skip)
    await bot.start()
    emu = bot.emu
    sent = await emu.send_message(bot.channel, emu.application_owner, "!train start:true",
                                  attachments=[emu.file("reviews.jsonl", labelled_jsonl())])
    await asyncio.wait_for(held.reached.wait(), 60)
    (before,) = bot.jobs()
    assert before["status"] == status, bot.tail()
    await bot.kill()
    held.release()

    await bot.start()
    job = await emu.wait_until(lambda: next((j for j in bot.jobs() if j["status"] in TERMINAL), None), 60,
                               what=f"job #1 to end after the restart (killed while {moment})")
    assert [j["status"] for j in bot.jobs() if j["status"] not in TERMINAL] == []
    events = json.loads(job["events"])
    assert len(events) == len(set(events)), f"an event was stored twice: {events}"
    event_ids = json.loads(job["event_ids"])
    assert len(event_ids) == len(set(event_ids))
    uploads = [r for r in openai_server.requests if r == ("POST", "/v1/files")]
    if moment == "uploading":  # the data may not have reached OpenAI: failed, and the file it left deleted
        assert job["status"] == "failed" and "the bot stopped while the job was starting" in job["error"]
        assert len(uploads) == 1 and ("DELETE", "/v1/files/file-1") in openai_server.requests
        assert openai_server.files == {} and openai_server.jobs == {}
        shown = await _progress_of(emu, sent, "failed")
        assert "Error: the bot stopped while the job was starting" in shown.content
        return
    (launched,) = openai_server.jobs.values()  # one job at OpenAI, never a second one
    assert job["status"] == "succeeded" and job["provider_job_id"] == launched.id, bot.tail()
    assert len(uploads) == 1, "the recorded upload is used, not made again"
    assert launched.training_file == json.loads(job["files"])["training"]
    assert events == [e["message"] for e in launched.events]
    assert event_ids == [f"ftevent-{launched.id}-{i}" for i in range(len(launched.events))]
    shown = await _progress_of(emu, sent, "succeeded")
    assert f"Model: `{launched.fine_tuned_model}`" in shown.content


async def _progress_of(emu, sent, word: str):
    def probe():
        return next((m for m in emu.sent_messages() if int(m.id) > int(sent.id)
                     and m.content.startswith(("🏋️", "⏳", "✅", "❌", "⏹️")) and word in m.content), None)

    return await emu.wait_until(probe, 30, what=f"the progress message showing {word!r}")


@pytest.mark.parametrize(("step", "method", "path"), [
    ("starting", "POST", "/v1/files"),
    ("uploaded", "POST", "/v1/fine_tuning/jobs"),
])
async def test_jobs_cancel_works_while_a_job_is_starting(tb_factory, openai_server, step, method, path) -> None:
    """Cancelling a job before OpenAI has it failed with an AttributeError in the provider (no job id
    to cancel). Now it is cancelled at once, and the start in flight stops at its next step:
    its file is deleted, and a job OpenAI launched meanwhile is cancelled there."""
    held = openai_server.hold(method, path)
    tb = await tb_factory(plugins_toml=OPENAI_TOML.replace("0.01", "3600"))
    sent = await tb.send("!train start:true", user=tb.owner,
                         attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
    await asyncio.wait_for(held.reached.wait(), 30)
    assert (await tb.say("!jobs status 1")).content.startswith(f"⏳ Training job #1 on `default` (16 examples) "
                                                               f"with `openai`: **{step}**")
    assert (await tb.say("!jobs cancel 1", user=tb.owner)).content == "Cancelled training job #1."
    await _progress_of(tb.emu, sent, "**cancelled**")
    held.release()

    def cleaned_up() -> bool:
        deleted = any(m == "DELETE" for m, _ in openai_server.requests)
        return deleted and not openai_server.files and all(j.status == "cancelled" for j in openai_server.jobs.values())

    await tb.emu.wait_until(cleaned_up, 30, what="the start to delete its file and cancel its OpenAI job")
    assert len(openai_server.jobs) == (1 if step == "uploaded" else 0)
    assert (await tb.say("!jobs status 1")).content.startswith("⏹️ Training job #1")
    assert (await tb.say("!jobs cancel 1", user=tb.owner)).content == "Job #1 already cancelled."
