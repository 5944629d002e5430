"""The optional ``pocketsphinx`` engine (installed by the test extra) on Debian's human test clips:
free recognition, phrase grammars, wake-phrase spotting, and a clear message for a phrase word its
dictionary lacks — through the real bot where a user would meet it."""

from __future__ import annotations

import asyncio
import types

import pytest

from framework import hookimpl
from framework.audio import to_ogg_opus
from framework.errors import SpeechError
from framework.speech import WakePhraseDetector
from tests import speech_data

pytestmark = pytest.mark.backends("sqlite")  # voice and speech: PostgreSQL would only double their minutes

CARDS = ["ten of clubs", "four queen of clubs", "seven of clubs", "five five",
         "eight of spades four of clubs seven of hearts"]


@pytest.fixture(scope="module")
def clips() -> dict[str, tuple[bytes, str]]:
    found = {name: (pcm, ref) for name, pcm, ref in speech_data.human_clips()}
    if not found:
        pytest.skip(speech_data.TESTDATA_MISSING)
    return found


async def _engine(tb_factory):
    tb = await tb_factory(plugins_toml='[engines]\nstt = { en = "pocketsphinx" }\n')
    return tb, tb.app.engines.stt.for_language("en")


async def test_free_recognition_of_a_human_clip(tb_factory, clips) -> None:
    tb, engine = await _engine(tb_factory)
    assert tb.app.engines.stt.engine_name("en") == "pocketsphinx"
    transcript = await engine.transcribe(clips["goforward"][0], language="en")
    assert transcript.text == "go forward ten meters" and 0 < transcript.confidence <= 1
    assert [w for w, _ in transcript.words] == ["go", "forward", "ten", "meters"]


async def test_phrase_grammar_answers_only_its_phrases(tb_factory, clips) -> None:
    _, engine = await _engine(tb_factory)
    phrases = [p.capitalize() + "!" for p in CARDS]  # the original spelling comes back
    heard = await asyncio.gather(*(engine.transcribe(clips[f"cards/00{i}"][0], language="en", phrases=phrases)
                                   for i in range(1, 6)))
    assert [t.text for t in heard] == phrases
    other = await engine.transcribe(clips["librivox/sense_and_sensibility_01_austen_64kb-0880"][0], language="en",
                                    phrases=["play some music", "stop the music"])
    assert other.text == ""


async def test_wake_phrase_is_spotted_with_its_end_time(tb_factory, clips) -> None:
    _, engine = await _engine(tb_factory)
    assert isinstance(engine, WakePhraseDetector)
    end = await engine.detect_wake_phrase(clips["goforward"][0], phrase="go forward", language="en")
    assert end is not None and 0.9 < end < 1.6  # "go forward" ends about 1.2 s into "go forward ten meters"
    assert await engine.detect_wake_phrase(clips["cards/001"][0], phrase="go forward", language="en") is None
    with pytest.raises(SpeechError, match="unknown words zorblax"):
        await engine.detect_wake_phrase(clips["cards/001"][0], phrase="hey zorblax", language="en")


async def test_a_phrase_word_outside_the_dictionary_is_a_clear_reply(tb_factory, clips) -> None:
    seen: list[str] = []
    answers = types.SimpleNamespace(answer_text=hookimpl(lambda app, message, text: seen.append(text)))
    tb = await tb_factory(plugins_toml='[engines]\nstt = { en = "pocketsphinx" }\n'
                                       '[plugins.voice_messages]\nphrases = ["ten of clubs", "zorblax 10"]\n',
                          extra_plugins={"answers": answers})
    ogg = await asyncio.to_thread(to_ogg_opus, speech_data.wav_bytes(clips["cards/001"][0]))
    reply = await tb.say("", attachments=[tb.emu.file("v.ogg", ogg, "audio/ogg")], flags=1 << 13, timeout=60)
    assert reply.content == ("PocketSphinx's dictionary lacks these phrase words: `10`, `zorblax` "
                             "(spell numbers out, e.g. `ten`).")
    assert seen == []
