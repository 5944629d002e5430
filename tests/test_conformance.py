"""Conformance: a representative session of every built-in command (tests/conformance.py) through
the strict emulator — both surfaces, success and error paths, long work — is refused nothing
and answered no 429 (issue 13, item 4). Every rule of the emulator is on."""

from __future__ import annotations

import pytest

from tests.conformance import SESSION_TOML, prepare, run_session
from tests.test_voice import enter, voice_tb

pytestmark = pytest.mark.backends("sqlite")  # Discord's rules, which do not depend on the database


async def test_a_session_of_every_builtin_breaks_no_discord_rule(tb_factory, tmp_path) -> None:
    prepare(tmp_path / "data")
    tb = await tb_factory(plugins_toml=SESSION_TOML)
    steps = await run_session(tb)
    assert len(steps) > 40
    assert [(r.rule, r.method, r.path, r.code) for r in tb.emu.refusals] == []
    assert tb.emu.rate_limited_requests == 0
    assert tb.emu.unhandled_requests == []


async def test_a_voice_session_breaks_no_discord_rule(voice_server, tb_factory) -> None:
    tb = await voice_tb(tb_factory, voice_server)
    assert (await tb.say("!join")).content.startswith("You're not in a voice channel")  # error path
    await enter(tb)
    assert (await tb.say("!join")).content.startswith("🔊 Joined **Voice**.")
    assert (await tb.slash("say", {"text": "hello"})).content == "🔊 Saying it in **Voice**."
    assert (await tb.say("!say hello there")).content.startswith("🔊 ")  # said, or queued after the first
    assert (await tb.slash("leave")).content == "👋 Left **Voice**."
    assert (await tb.slash("join")).content.startswith("🔊 Joined **Voice**.")
    assert (await tb.say("!leave")).content == "👋 Left **Voice**."
    assert [(r.rule, r.method, r.path, r.code) for r in tb.emu.refusals] == []
    assert tb.emu.rate_limited_requests == 0
