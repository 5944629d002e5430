"""The one hook-calling path: scope, pluggy's ordering and wrappers, failure isolation, and engines
held to their protocols — each through the real bot on the emulator."""

from __future__ import annotations

import types

import hikari
import pytest

from framework import hookimpl
from framework.commands import Context, command
from framework.speech import SynthesizedAudio, TextToSpeech
from tests.test_speech import VOICE_FLAG, _silence_wav, hello_ogg, tts_engine, voice_tb  # noqa: F401 - fixtures

pytestmark = pytest.mark.backends("sqlite")  # how hooks are called does not depend on the database

GENERIC = "Sorry, `boom` failed unexpectedly. The error was logged."


class Spy:
    """A plugin that answers every hook a guild switch must silence, and notes each call."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl(tryfirst=True)
    def answer_text(self, app, message, text):
        self.calls.append("answer_text")
        return "the spy answers"

    @hookimpl
    def reply_sent(self, app, message, text) -> None:
        self.calls.append("reply_sent")

    @hookimpl
    def handle_error(self, ctx, error):
        self.calls.append("handle_error")
        return "the spy handled it"

    @hookimpl
    def bot_answer(self, app, message_id):
        self.calls.append("bot_answer")

    @hookimpl
    def register_listeners(self, register) -> None:
        async def heard(event: hikari.GuildMessageCreateEvent, app) -> None:
            self.calls.append("listener")

        register(hikari.GuildMessageCreateEvent, heard)


def plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


@command("boom", "Fail")
async def boom(ctx: Context) -> None:
    raise RuntimeError("boom")


async def test_a_plugin_switched_off_in_a_server_gets_no_call_for_that_server(tb_factory, hello_ogg) -> None:  # noqa: F811
    spy = Spy()
    answers = plugin(answer_text=lambda app, message, text: "the other plugin answers")
    tb = await voice_tb(tb_factory, plugins={"spy": spy, "answers": answers,
                                             "boomer": plugin(register_commands=lambda register: register(boom))})
    await tb.app.set_guild_enabled("spy", tb.guild.id, False)

    voice = await tb.send("", attachments=[tb.emu.file("v.ogg", hello_ogg, "audio/ogg")], flags=VOICE_FLAG)
    assert (await tb.reply_to(voice, skip=1, timeout=60)).content == "the other plugin answers"
    assert (await tb.say("!boom")).content == GENERIC
    answer = await tb.reply_to(voice, skip=1)
    refused = await tb.say(f"!feedback nice message_id={answer.id}")
    assert "not one of my chat answers" in refused.content
    assert spy.calls == [], "voice messages, errors, feedback and listeners skip a plugin switched off here"

    await tb.app.set_guild_enabled("spy", tb.guild.id, True)
    voice = await tb.send("", attachments=[tb.emu.file("v.ogg", hello_ogg, "audio/ogg")], flags=VOICE_FLAG)
    assert (await tb.reply_to(voice, skip=1, timeout=60)).content == "the spy answers"
    assert (await tb.say("!boom")).content == "the spy handled it"
    await tb.emu.wait_until(lambda: "reply_sent" in spy.calls, what="reply_sent reaching the spy")
    assert {"answer_text", "reply_sent", "handle_error", "listener"} <= set(spy.calls)


async def test_tryfirst_trylast_and_wrappers_work_as_in_pluggy(tb_factory) -> None:
    seen: list[object] = []

    @hookimpl(wrapper=True)
    def shout(app, message, text):
        answer = yield
        return answer.upper()

    @hookimpl(hookwrapper=True)
    def observe(app, message, text):
        outcome = yield
        seen.append(outcome.get_result())

    @hookimpl(wrapper=True)
    def count(app, message, text):
        results = yield
        seen.append(len(results))
        return results

    tb = await tb_factory(extra_plugins={
        "first": types.SimpleNamespace(answer_text=hookimpl(tryfirst=True)(lambda app, message, text: "first")),
        "plain": plugin(answer_text=lambda app, message, text: "plain"),
        "last": types.SimpleNamespace(answer_text=hookimpl(trylast=True)(lambda app, message, text: "last")),
        "shout": types.SimpleNamespace(answer_text=shout),
        "observe": types.SimpleNamespace(answer_text=observe),
        "count": types.SimpleNamespace(reply_sent=count),
        "listen": plugin(reply_sent=lambda app, message, text: None),
    })
    assert await tb.app.plugins.call("answer_text", scope=tb.guild.id, app=tb.app, message=None, text="x") == "FIRST"
    assert seen == ["FIRST"], "as in pluggy, the wrapper registered last is outermost: it sees the inner one's answer"
    results = await tb.app.plugins.call("reply_sent", scope=None, app=tb.app, message=None, text="x")
    assert ("listen", None) in results and seen[-1] == len(results), "a wrapper of a plain hook sees every answer"


async def test_a_failing_plugin_is_disabled_and_the_next_one_answers(tb_factory) -> None:
    def broken(app, message, text):
        raise KeyError("bug")

    async def later(app, message, text):
        return f"async answer to {text}"

    tb = await tb_factory(extra_plugins={
        "later": plugin(answer_text=later),
        "broken": types.SimpleNamespace(answer_text=hookimpl(tryfirst=True)(broken)),
    })
    answer = await tb.app.plugins.call("answer_text", scope=None, app=tb.app, message=None, text="x")
    assert answer == "async answer to x"
    info = tb.app.plugins.infos["broken"]
    assert info.status == "failed" and "in hook answer_text: KeyError" in (info.error or "")


def test_scope_is_required() -> None:
    from framework.plugins import PluginHost

    with pytest.raises(TypeError, match="scope"):
        PluginHost.call(None, "answer_text")  # type: ignore[arg-type, call-arg]


class ExactTTS(TextToSpeech):
    """A text-to-speech engine written exactly to the protocol in framework/speech.py."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def synthesize(self, text: str, *, language: str, voice: str | None = None,
                         rate: int | None = None, guild_id: int | None = None) -> SynthesizedAudio:
        self.texts.append(text)
        return SynthesizedAudio(_silence_wav(0.5), 16000, 0.5)


class OldTTS:
    """An engine whose ``synthesize`` lacks a parameter the callers pass."""

    async def synthesize(self, text: str, *, language: str, voice: str | None = None,
                         rate: int | None = None) -> SynthesizedAudio:
        raise AssertionError("never called: refused at registration")


async def test_tts_written_to_the_protocol_speaks_and_a_mismatch_is_refused_at_start(tb_factory, hello_ogg) -> None:  # noqa: F811
    exact = ExactTTS()
    engines = types.SimpleNamespace(register_text_to_speech=hookimpl(lambda register: register("exact", exact)))
    old = types.SimpleNamespace(register_text_to_speech=hookimpl(lambda register: register("old", OldTTS())))
    tb = await voice_tb(tb_factory, '[engines]\ntts = "exact"\n', plugins={
        "exact_tts": engines, "old_tts": old,
        "answers": plugin(answer_text=lambda app, message, text: "spoken answer")})
    voice = await tb.send("", attachments=[tb.emu.file("v.ogg", hello_ogg, "audio/ogg")], flags=VOICE_FLAG)
    answer = await tb.reply_to(voice, skip=1, timeout=60)
    assert answer.content == "spoken answer" and [a.filename for a in answer.attachments] == ["answer.ogg"]
    assert exact.texts == ["spoken answer"]
    info = tb.app.plugins.infos["old_tts"]
    assert info.status == "failed"
    assert "does not follow TextToSpeech: `synthesize` does not accept the keyword argument `guild_id`" in info.error
    assert "old" not in tb.app.engines.tts
