"""How the host runs hikari (framework/runtime.py): the event loop ``[bot] event_loop`` picks, and
hikari's message cache, off unless ``[bot] message_cache`` asks for it."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys

import pytest

from framework.config import ConfigError
from framework.runtime import loop_factory, run
from tests.test_job_restarts import BotProcess

pytestmark = pytest.mark.backends("sqlite")  # how hikari runs does not depend on the database

UVLOOP = importlib.util.find_spec("uvloop") is not None and sys.platform != "win32"


def loop_module(choice: str) -> str:
    async def which() -> str:
        return type(asyncio.get_running_loop()).__module__.split(".")[0]

    return run(which(), choice)


def test_asyncio_runs_on_asyncios_own_loop() -> None:
    assert loop_factory("asyncio") is None
    assert loop_module("asyncio") == "asyncio"


@pytest.mark.skipif(not UVLOOP, reason="uvloop is a dependency only on Linux and macOS")
def test_auto_and_uvloop_run_on_uvloop_where_it_is_installed() -> None:
    assert loop_module("auto") == "uvloop"
    assert loop_module("uvloop") == "uvloop"


def test_without_uvloop_auto_falls_back_and_uvloop_is_a_clear_error(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a))
    assert loop_factory("auto") is None
    assert loop_module("auto") == "asyncio"
    with pytest.raises(ConfigError, match="uvloop is not installed"):
        loop_factory("uvloop")


def test_an_unknown_event_loop_is_a_config_error(tmp_path) -> None:
    from framework.config import load_config

    path = tmp_path / "plugins.toml"
    path.write_text('[bot]\nevent_loop = "trio"\n', "utf-8")
    with pytest.raises(ConfigError, match="event_loop"):
        load_config(path)


async def test_messages_are_not_cached_by_default(tb) -> None:
    sent = await tb.send("!hi")
    await tb.reply_to(sent)  # answered: the bot has seen the message
    assert tb.app.bot.cache.get_message(sent.id) is None
    assert tb.app.bot.cache.get_messages_view() == {}


async def test_message_cache_keeps_as_many_as_asked(tb_factory) -> None:
    tb = await tb_factory(config_overrides={"bot": {"message_cache": 2}})
    sent, replies = [], []
    for _ in range(3):
        sent.append(await tb.send("!hi"))
        replies.append(await tb.reply_to(sent[-1]))
    cache = tb.app.bot.cache
    # The bot gets its own replies too (as on Discord): the newest two messages are the last `!hi` and its reply.
    await tb.emu.wait_until(lambda: cache.get_message(replies[-1].id) is not None, what="the last reply cached")
    assert cache.get_message(sent[-1].id) is not None
    assert len(cache.get_messages_view()) == 2, "the oldest are dropped past the limit"
    assert cache.get_message(sent[0].id) is None


@pytest.mark.skipif(not UVLOOP, reason="uvloop is a dependency only on Linux and macOS")
async def test_the_bot_process_runs_on_uvloop_and_answers(discord_emulator, tmp_path, database) -> None:
    """The real bot in its own process, started as `trainerbot run` starts it, on the default loop."""
    bot = BotProcess(discord_emulator, tmp_path, database)
    bot.config.write_text("", "utf-8")
    guild = discord_emulator.create_guild("Test server")
    channel = discord_emulator.create_channel(guild, "general")
    user = discord_emulator.create_user("alice")
    discord_emulator.add_member(guild, user)
    try:
        await bot.start()
        sent = await discord_emulator.send_message(channel, user, "!hi")
        reply = await discord_emulator.wait_for_message(
            channel=channel, predicate=lambda m: m.reference == sent.id, timeout=30)
        assert reply.content.startswith("Hello, alice!")
    finally:
        await bot.stop()
    assert "event loop: uvloop" in bot.log.read_text("utf-8")


@pytest.mark.skipif(not UVLOOP or os.environ.get("TRAINERBOT_TEST_EVENT_LOOP", "auto") != "auto",
                    reason="uvloop is a dependency only on Linux and macOS; the run chose a loop")
async def test_async_tests_run_on_the_loop_the_bot_runs_on() -> None:
    assert type(asyncio.get_running_loop()).__module__.split(".")[0] == "uvloop"
