"""Voice conversations through the real bot: simulated users in the local voice server speak
Opus frames (espeak-ng Korean, end-to-end encrypted by Discord's libdave where dave-py exists),
the bot receives, decrypts, decodes and recognises them with the real Vosk engine (grammar mode,
as in tests/test_speech.py), answers through ``answer_text``, posts the transcript and answer in
the voice channel's chat and speaks the answer, which a libdave member decodes and compares."""

from __future__ import annotations

import asyncio
import json
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

pytestmark = pytest.mark.backends("sqlite")  # voice and speech: PostgreSQL would only double their minutes

PHRASES = ["안녕하세요", "감사합니다", "뭐 해요"]
QUESTION = "안녕하세요 뭐 해요"
ANSWER = "감사합니다"

def listen_toml(listen: str = "", voice: str = "") -> str:
    return (f'[plugins.voice_listen]\nwake_phrases = ["안녕하세요"]\nphrases = {PHRASES!r}\nlanguage = "ko"\n'
            f'{listen}[plugins.voice]\nlanguage = "ko"\n{voice}').replace("'", '"')


LISTEN = listen_toml()

try:
    import dave  # noqa: F401
    import rfc9420  # noqa: F401
    HAVE_DAVE = True
except ImportError:
    HAVE_DAVE = True


def answering(seen: list[tuple[int, str]]) -> types.SimpleNamespace:
    def answer_text(app, message, text):
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


async def whole_speech(engine, text: str, tries: int = 3) -> bytes:
    """The longest of a few espeak-ng WAVs of ``text``: pyttsx3's loop can return before espeak's
    last callback (its own guard only catches an empty file), and a test about what the bot heard
    must not start from a recording cut short. Whole ones differ by a few bytes at most."""
    wavs = [(await engine.synthesize(text, language="ko")).wav for _ in range(tries)]
    return max(wavs, key=len)


async def voice_of(tb, text: str) -> list[bytes]:
    """Opus frames of espeak-ng saying ``text`` (encoded as a Discord client would, by the emulator's ffmpeg)."""
    if text not in _VOICES:
        _VOICES[text] = await asyncio.to_thread(media.encode_opus, await whole_speech(tb.tts.engine, text))
    return _VOICES[text]


async def listening_call(tb_factory, server, *, seen, listen: str = "", voice: str = ""):
    tb = await voice_tb(tb_factory, server, listen_toml(listen, voice), plugins={"answers": answering(seen)})
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


def voice_messages(tb):
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
    assert transcript.content == f"🎙️ **alice**: “{QUESTION}”" and tb.app.state("voice_listen").unaddressed == 0
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
    document = json.loads((await tb.slash("mydata", subcommand="export")).attachments[0].data)
    [record] = document["data"]["voice_listen"]["voice_transcripts"]
    assert (record["transcript"], record["answer"], record["audio_path"]) == (QUESTION, ANSWER, None)
    assert not list((tb.data_root / "recordings").rglob("*.wav")), "no audio is kept by default"
    assert (await tb.slash("mydata", {"confirm": True}, subcommand="delete")).content.startswith("Deleted")
    again = json.loads((await tb.slash("mydata", subcommand="export")).attachments[0].data)
    assert "voice_listen" not in again["data"]


async def join_as(tb, server, name: str) -> tuple[object, LibdaveMember]:
    user = tb.emu.create_user(name)
    tb.emu.add_member(tb.guild, user)
    await enter(tb, user)
    member = LibdaveMember(user.id, dave=HAVE_DAVE)
    await member.join(server, tb.guild.id, tb.voice_channel.id)
    if HAVE_DAVE:
        call = server.calls[tb.voice_channel.id]
        dave_state = backend(tb).connection(tb.guild.id).gateway.dave
        await tb.emu.wait_until(lambda: member.encryptor.has_key_ratchet() and user.id in call.group.members
                                and dave_state.ready and call.executed[-1].executed, what=f"{name} in the group")
    return user, member


SECOND = "안녕하세요 감사합니다"


async def test_two_users_at_once_are_both_transcribed_and_attributed(server, tb_factory) -> None:
    seen: list[tuple[int, str]] = []
    tb = await listening_call(tb_factory, server, seen=seen, voice="keep_audio = true\n")
    carol, carol_voice = await join_as(tb, server, "carol")
    frames = await voice_of(tb, QUESTION), await voice_of(tb, SECOND)
    await asyncio.gather(tb.alice.speak(frames[0]), carol_voice.speak(frames[1]))
    await tb.emu.wait_until(lambda: len([m for m in voice_messages(tb) if m.startswith("🎙️ **")]) == 2,
                            timeout=30, what="both transcripts")
    transcripts = sorted(m for m in voice_messages(tb) if m.startswith("🎙️ **"))
    assert transcripts == [f"🎙️ **alice**: “{QUESTION}”", f"🎙️ **carol**: “{SECOND}”"]
    await tb.emu.wait_until(lambda: len(seen) == 2, timeout=30, what="both answers")
    assert sorted(seen) == sorted([(tb.user.id, "뭐 해요"), (carol.id, "감사합니다")])
    def kept() -> list[str]:
        return sorted(p.name.split("-")[0] for p in (tb.data_root / "recordings").rglob("*.wav"))

    await tb.emu.wait_until(lambda: len(kept()) == 2, what="both recordings")
    assert kept() == sorted([str(tb.user.id), str(carol.id)]), "keep_audio keeps each utterance"
    await tb.say("!mydata delete confirm=true")
    assert [p.name.split("-")[0] for p in (tb.data_root / "recordings").rglob("*.wav")] == [str(carol.id)]


async def test_an_opted_out_user_is_never_transcribed(server, tb_factory) -> None:
    seen: list[tuple[int, str]] = []
    tb = await listening_call(tb_factory, server, seen=seen)
    carol, carol_voice = await join_as(tb, server, "carol")
    opt_out = await tb.slash("voice", {"switch": "me"}, user=carol, subcommand="listen")
    assert opt_out.ephemeral and opt_out.content.startswith("Say `/voice listen me off`")
    opt_out = await tb.slash("voice", {"switch": "me", "me": "off"}, user=carol, subcommand="listen")
    assert opt_out.ephemeral and opt_out.content.startswith("🔇 I won't listen to you")
    stats = backend(tb).receive_stats(tb.guild.id)
    theirs = await asyncio.gather(carol_voice.speak(await voice_of(tb, SECOND)),
                                  tb.alice.speak(await voice_of(tb, QUESTION)))
    await tb.emu.wait_until(lambda: seen, timeout=30, what="alice's answer")
    await tb.emu.wait_until(lambda: stats.packets >= theirs[0].sent + theirs[1].sent, what="every packet")
    assert seen == [(tb.user.id, "뭐 해요")]
    assert not [m for m in voice_messages(tb) if "carol" in m]
    assert stats.refused == theirs[0].sent and stats.decoded == theirs[1].frames, "carol's audio is never decoded"
    assert (await tb.say("!voice listen me on", user=carol)).content.startswith("🎙️ I'll hear you again")
    await carol_voice.speak(await voice_of(tb, SECOND))
    await tb.emu.wait_until(lambda: len(seen) == 2, timeout=30, what="carol's answer once she opted in")
    assert seen[1] == (carol.id, "감사합니다")


async def test_with_listening_off_nothing_is_decoded(server, tb_factory) -> None:
    seen: list[tuple[int, str]] = []
    tb = await listening_call(tb_factory, server, seen=seen)
    refused = await tb.say("!voice listen off")
    assert refused.content.startswith("You don't have permission to use `voice listen`")
    stopped = await tb.say("!voice listen off", user=tb.owner)
    assert stopped.content == "🔇 I stopped listening in this server's calls."
    stats = backend(tb).receive_stats(tb.guild.id)
    before = stats.packets
    spoken = await tb.alice.speak(await voice_of(tb, QUESTION))
    await tb.emu.wait_until(lambda: stats.packets >= before + spoken.sent, what="alice's packets at the bot")
    assert stats.decoded == 0 and stats.refused == spoken.sent and seen == []
    assert [m for m in voice_messages(tb) if "alice" in m] == []


async def test_five_percent_loss_with_reordering_still_gives_the_right_transcript(server, tb_factory) -> None:
    seen: list[tuple[int, str]] = []
    tb = await listening_call(tb_factory, server, seen=seen, listen='mode = "always"\n')
    spoken = await tb.alice.speak(await voice_of(tb, QUESTION), loss=0.05, reorder=0.1, seed=7)
    transcript = await tb.emu.wait_for_message(channel=tb.voice_channel, predicate=lambda m: "alice" in m.content,
                                               timeout=30)
    assert transcript.content == f"🎙️ **alice**: “{QUESTION}”"
    stats = backend(tb).receive_stats(tb.guild.id)
    await tb.emu.wait_until(lambda: seen, timeout=30, what="the answer")
    assert seen == [(tb.user.id, QUESTION)], "mode always: the whole utterance is the question"
    assert spoken.lost >= 3 and spoken.reordered >= 4
    assert stats.lost == spoken.lost and stats.reordered >= spoken.reordered // 2


async def test_listening_turned_on_before_joining_is_announced_when_the_bot_joins(server, tb_factory) -> None:
    tb = await voice_tb(tb_factory, server, LISTEN)
    tb.emu.voice_endpoint = server.endpoint_for
    await enter(tb)
    early = await tb.slash("voice", {"switch": "on"}, user=tb.owner, subcommand="listen")
    assert early.content == "🎙️ Listening is on in this server: I'll listen once I'm in a call (`/join`)."
    assert voice_messages(tb) == []
    await tb.slash("join")
    announced = await tb.emu.wait_for_message(channel=tb.voice_channel, timeout=15)
    assert announced.content.startswith("🎙️ I'm listening in this call")


LONG = "안녕하세요 감사합니다 " * 8


async def test_barge_in_stops_playback_within_200_ms(server, tb_factory) -> None:
    """Alice talks over a long clip: the bot stops within 10 frames (200 ms of its audio) of her
    first frame, and answers what she said. Counted in frames, in the order the voice server saw
    them, not in wall time. The clip's packets are those before the silence frames that end it:
    the answer to her may already be playing when ``speak`` returns (it comes about 60 ms after
    her last frame, and ``speak`` still sends 100 ms of silence frames), so "the last packet" is
    not the clip's."""
    seen: list[tuple[int, str]] = []
    tb = await listening_call(tb_factory, server, seen=seen)
    session = server.session_of(tb.emu.bot_user.id)
    assert (await tb.slash("say", {"text": LONG})).content.startswith("🔊")
    long_clip = tb.tts.spoken[-1][1]  # taken now: the answer to what Alice says is synthesised later
    await tb.emu.wait_until(lambda: len(session.audio_packets) > 25, what="the bot to be speaking")
    talking, heard = len(session.speaking), session.relayed
    assert session.speaking[-1:] == [1] and heard == 0
    await tb.alice.speak(await voice_of(tb, SECOND))
    await tb.emu.wait_until(lambda: 0 in session.speaking[talking:], timeout=30, what="the bot to stop speaking")

    def silent() -> list[int]:
        return [i for i, p in enumerate(session.packets) if p.opus == media.OPUS_SILENCE]

    # Datagrams may still be read after the websocket's SPEAKING 0: wait for the silence frames.
    await tb.emu.wait_until(lambda: len(silent()) >= 5, what="the silence frames that end the clip")
    end = silent()[0]
    assert silent()[:5] == list(range(end, end + 5)), "five silence frames before going quiet"
    clip = session.packets[:end]
    after = [p for p in clip if p.heard > heard]
    print(f"barge-in: {len(after)} frames of the clip after Alice's first frame reached the bot")
    whole = len(decode_pcm(long_clip, rate=48_000)) // 1920  # 20 ms frames of 48 kHz mono s16le
    assert whole > 500 and len(clip) < whole // 2, "the clip was cut short"
    assert after, "the bot was speaking when Alice started"
    assert len(after) <= 10, "the bot stops within 200 ms of its audio"
    await tb.emu.wait_until(lambda: seen, timeout=30, what="the answer to what Alice said")
    assert seen == [(tb.user.id, "감사합니다")], "the bot answers what she said"


async def test_the_sandbox_plays_a_file_into_the_call_as_the_user(tmp_path) -> None:
    from plugins.speech_pyttsx3 import Pyttsx3Engine, Settings
    from tests.test_cli import run

    (tmp_path / "question.wav").write_bytes(await whole_speech(Pyttsx3Engine(Settings()), QUESTION))
    (tmp_path / "plugins.toml").write_text(LISTEN, "utf-8")
    result = await asyncio.to_thread(run, "sandbox", "--terminal", cwd=tmp_path,
                                     stdin="!listen question.wav\n!join\n!voice listen on\n!listen question.wav\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "sandbox> the bot is not in the voice channel: `!join` first" in out
    assert "voice> 🎙️ you say question.wav" in out
    assert f"bot> 🎙️ **owner**: “{QUESTION}”" in out
