"""SPEAK in a call: the local voice server relays no audio from a member without SPEAK in its voice channel
(rule ``permission.speak``, refused once per session), and the bot that knows it lacks SPEAK says so instead
of playing into silence."""

from __future__ import annotations

import hikari
import pytest

from framework.emulator.libdave_member import LibdaveMember
from tests.test_voice import enter, voice_tb

pytestmark = pytest.mark.backends("sqlite")


async def call_with_bob(tb_factory, voice_server):
    tb = await voice_tb(tb_factory, voice_server)
    tb.emu.voice_endpoint = voice_server.endpoint_for
    await enter(tb)
    bob = LibdaveMember(tb.user.id, dave=False)
    await bob.join(voice_server, tb.guild.id, tb.voice_channel.id)
    assert (await tb.say("!join")).content.startswith("🔊 Joined **Voice**.")
    return tb, bob


async def say_and_finish(tb, voice_server, text: str) -> None:
    session = voice_server.session_of(tb.emu.bot_user.id)
    spoken = len(session.speaking)
    assert (await tb.say(f"!say {text}")).content == "🔊 Saying it in **Voice**."
    await tb.emu.wait_until(lambda: len(session.speaking) >= spoken + 2 and session.speaking[-1] == 0,
                            timeout=60, what="the end of speech")
    # Datagrams may still be read after SPEAKING 0: wait for the trailing silence frames.
    await tb.emu.wait_until(lambda: session.packets and session.packets[-1].opus == b"\xf8\xff\xfe",
                            timeout=30, what="the silence frames")


async def test_audio_from_a_bot_without_speak_reaches_no_one(voice_server, tb_factory) -> None:
    tb, bob = await call_with_bob(tb_factory, voice_server)
    bot = tb.emu.bot_user.id
    await say_and_finish(tb, voice_server, "hello")
    assert bob.heard(bot) and tb.emu.refusals == []
    # SPEAK taken away without CHANNEL_UPDATE: the bot does not know, plays, and Discord relays none of it.
    tb.emu.set_overwrite(tb.voice_channel, tb.emu.bot_user, deny=int(hikari.Permissions.SPEAK), announce=False)
    heard = len(bob.heard(bot))
    session = voice_server.session_of(bot)
    await say_and_finish(tb, voice_server, "hello again")
    assert session.unheard > 10 and len(bob.heard(bot)) == heard
    [refusal] = tb.emu.refusals
    assert (refusal.rule, refusal.code, refusal.message) == ("permission.speak", 50013, "Missing Permissions")
    await bob.leave()


async def test_the_relaxed_rule_relays_the_audio(voice_server, tb_factory) -> None:
    tb, bob = await call_with_bob(tb_factory, voice_server)
    tb.emu.relax("permission.speak")
    tb.emu.set_overwrite(tb.voice_channel, tb.emu.bot_user, deny=int(hikari.Permissions.SPEAK), announce=False)
    await say_and_finish(tb, voice_server, "hello")
    assert bob.heard(tb.emu.bot_user.id) and voice_server.session_of(tb.emu.bot_user.id).unheard == 0
    assert tb.emu.refusals == []
    await bob.leave()


async def test_the_bot_that_knows_it_lacks_speak_says_so(voice_server, tb_factory) -> None:
    tb, bob = await call_with_bob(tb_factory, voice_server)
    tb.emu.set_overwrite(tb.voice_channel, tb.emu.bot_user, deny=int(hikari.Permissions.SPEAK))
    await tb.emu.wait_until(lambda: tb.app.bot.cache.get_guild_channel(tb.voice_channel.id).permission_overwrites
                            .get(hikari.Snowflake(tb.emu.bot_user.id)) is not None, what="the CHANNEL_UPDATE")
    reply = await tb.say("!say hello")
    assert reply.content == "I don't have permission to speak in **Voice**. Ask an admin to give me **Speak** there."
    assert tb.tts.spoken == [] and voice_server.session_of(tb.emu.bot_user.id).audio_packets == []
    assert bob.heard(tb.emu.bot_user.id) == []
    await bob.leave()
