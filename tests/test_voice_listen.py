"""Voice conversations through the real bot: simulated users in the local voice server speak
Opus frames (espeak-ng Korean, end-to-end encrypted by Discord's libdave where dave-py exists),
the bot receives, decrypts, decodes and recognises them with the real Vosk engine (grammar mode,
as in tests/test_speech.py), answers through ``answer_text``, posts the transcript and answer in
the voice channel's chat and speaks the answer, which a libdave member decodes and compares."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator

import numpy as np
import pytest

from framework import hookimpl
from framework.audio import decode_pcm
from framework.emulator import media
from framework.emulator.libdave_member import LibdaveMember
from framework.emulator.voice_server import LocalVoiceServer
from tests.test_voice import backend, enter, similarity, voice_tb

PHRASES = ["안녕하세요", "감사합니다", "뭐 해요"]
QUESTION = "안녕하세요 뭐 해요"
ANSWER = "감사합니다"
LISTEN = (f'[plugins.voice_listen]\nwake_phrases = ["안녕하세요"]\nphrases = {PHRASES!r}\nlanguage = "ko"\n'
          '[plugins.voice]\nlanguage = "ko"\n').replace("'", '"')

try:
    import dave  # noqa: F401
    import rfc9420  # noqa: F401
    HAVE_DAVE = True
except ImportError:
    HAVE_DAVE = False


def answering(seen: list[tuple[int, str]]) -> types.SimpleNamespace:
    def answer_text(app, message, text):  # noqa: ANN001, ANN202
        seen.append((int(message.author.id), text))
        return ANSWER

    return types.SimpleNamespace(answer_text=hookimpl(answer_text))


@pytest.fixture
async def server() -> AsyncIterator[LocalVoiceServer]:
    server = LocalVoiceServer(offer_dave=HAVE_DAVE, heartbeat_interval_ms=500)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


_VOICES: dict[str, list[bytes]] = {}


async def voice_of(tb, text: str) -> list[bytes]:  # noqa: ANN001
    """Opus frames of espeak-ng saying ``text`` (encoded as a Discord client would, by the emulator's ffmpeg)."""
    if text not in _VOICES:
        audio = await tb.tts.engine.synthesize(text, language="ko")
        _VOICES[text] = await asyncio.to_thread(media.encode_opus, audio.wav)
    return _VOICES[text]


async def listening_call(tb_factory, server, *, seen, extra: str = ""):  # noqa: ANN001, ANN201
    tb = await voice_tb(tb_factory, server, LISTEN + extra, plugins={"answers": answering(seen)})
    tb.emu.voice_endpoint = server.endpoint_for
    await enter(tb)
    tb.alice = LibdaveMember(tb.user.id, dave=HAVE_DAVE)
    await tb.alice.join(server, tb.guild.id, tb.voice_channel.id)
    assert (await tb.slash("join")).content.startswith("🔊 Joined **Voice**.")
    if HAVE_DAVE:
        call = server.calls[tb.voice_channel.id]
        await tb.emu.wait_until(lambda: call.executed and tb.alice.encryptor.has_key_ratchet()
                                and backend(tb).connection(tb.guild.id).gateway.dave.ready, what="the MLS group")
    reply = await tb.say("!voice listen on", user=tb.owner)
    assert reply.content.startswith("🎙️ I'm listening in the call now."), reply.content
    return tb


def voice_messages(tb):  # noqa: ANN001, ANN201
    return [m.content for m in tb.emu.sent_messages(tb.voice_channel)]


async def test_a_wake_phrase_and_a_question_are_transcribed_and_answered_aloud(server, tb_factory) -> None:
    seen: list[tuple[int, str]] = []
    tb = await listening_call(tb_factory, server, seen=seen)
    bot_id = tb.emu.bot_user.id
    [announcement] = voice_messages(tb)
    assert announcement.startswith("🎙️ I'm listening in this call (I answer when you start with “안녕하세요”)")
    session = server.session_of(bot_id)
    spoken = await tb.alice.speak(await voice_of(tb, QUESTION))
    transcript = await tb.emu.wait_for_message(channel=tb.voice_channel, predicate=lambda m: "alice" in m.content,
                                               timeout=30)
    assert transcript.content == f"🎙️ **alice**: “{QUESTION}”"
    answer = await tb.emu.wait_for_message(channel=tb.voice_channel, predicate=lambda m: m.reference == transcript.id,
                                           timeout=30)
    assert answer.content == ANSWER and seen == [(tb.user.id, "뭐 해요")]
    await tb.emu.wait_until(lambda: session.speaking[-1:] == [0] and tb.tts.spoken, timeout=30, what="the answer")
    stats = backend(tb).receive_stats(tb.guild.id)
    print(spoken, stats)
    heard = tb.alice.heard(bot_id) if HAVE_DAVE else [p.opus for p in session.audio_packets]
    received = np.frombuffer(media.decode_opus(heard), np.int16).astype(np.float64)
    reference = np.frombuffer(decode_pcm(tb.tts.spoken[-1][1], rate=48_000), np.int16).astype(np.float64)
    assert similarity(reference, received) >= 0.9
