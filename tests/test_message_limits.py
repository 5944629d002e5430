"""What the bot sends stays within Discord's limits, through the real bot: a long answer to a voice
message in parts of at most 2,000 characters, a bounded transcript line, exports that fit the upload
limit (gzipped, or refused with the sizes), and training status text of bounded length."""

from __future__ import annotations

import gzip
import io
import json
import math
import types
import wave

import pytest

from framework import hookimpl
from framework.commands import DISCORD_MESSAGE_LIMIT
from framework.speech import Transcript
from plugins.training.jobs import render_job
from tests.test_speech import VOICE_FLAG, BeepTTS, EchoSTT

pytestmark = pytest.mark.backends("sqlite")  # Discord's message and upload limits do not depend on the database


def tone_wav(seconds: float = 1.0) -> bytes:
    """A 440 Hz tone: audio the voice-message plugin does not dismiss as silent."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"".join(int(8000 * math.sin(2 * math.pi * 440 * n / 16000)).to_bytes(2, "little", signed=True)
                                 for n in range(int(16000 * seconds))))
    return buffer.getvalue()


def engines(stt: object, tts: object) -> types.SimpleNamespace:
    return types.SimpleNamespace(register_speech_to_text=hookimpl(lambda register: register("fake", stt)),
                                 register_text_to_speech=hookimpl(lambda register: register("fake", tts)))


def answering(answer: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(answer_text=hookimpl(lambda app, message, text: answer))


async def test_a_long_answer_to_a_voice_message_arrives_in_two_messages(tb_factory) -> None:
    answer = " ".join(f"word{n:03d}" for n in range(313))[:2499] + "."
    assert len(answer) == 2500
    tts = BeepTTS()
    tb = await tb_factory(plugins_toml='[engines]\nstt = "fake"\ntts = "fake"\n',
                          extra_plugins={"fake": engines(EchoSTT(), tts), "answers": answering(answer)})
    sent = await tb.send("", attachments=[tb.emu.file("v.wav", tone_wav(), "audio/wav")], flags=VOICE_FLAG)
    assert (await tb.reply_to(sent, timeout=30)).content.startswith("🎙️ I heard: “echo engine heard you”")
    first = await tb.reply_to(sent, skip=1, timeout=30)
    second = await tb.reply_to(sent, skip=2, timeout=30)
    assert len(first.content) <= DISCORD_MESSAGE_LIMIT and len(second.content) <= DISCORD_MESSAGE_LIMIT
    assert f"{first.content} {second.content}" == answer and first.reference == sent.id and second.reference is None
    assert not first.attachments and [a.filename for a in second.attachments] == ["answer.ogg"]
    assert tts.texts == [answer], "the whole answer is spoken once"


async def test_a_long_transcript_is_cut_in_the_i_heard_line(tb_factory) -> None:
    class Chatty(EchoSTT):
        async def transcribe(self, pcm, *, language, phrases=None):
            return Transcript("말" * 5000, 0.9, language)

    tb = await tb_factory(plugins_toml='[engines]\nstt = "fake"\ntts = "fake"\n[plugins.voice_messages]\n'
                                       'spoken_attachment = false\n',
                          extra_plugins={"fake": engines(Chatty(), BeepTTS()), "answers": answering("ok")})
    sent = await tb.send("", attachments=[tb.emu.file("v.wav", tone_wav(), "audio/wav")], flags=VOICE_FLAG)
    heard = await tb.reply_to(sent, timeout=30)
    assert heard.content.startswith("🎙️ I heard: “말") and heard.content.endswith("…” (confidence 90%)")
    assert len(heard.content) <= DISCORD_MESSAGE_LIMIT
    assert (await tb.reply_to(sent, skip=1, timeout=30)).content == "ok"


async def test_a_feedback_export_over_the_upload_limit_is_gzipped_or_refused(tb) -> None:
    for n in range(8):
        await tb.say(f"!feedback {'so much to say ' * 20} #{n}")
    tb.app.config.bot.max_upload_bytes = 1500
    zipped = await tb.slash("feedbacks", subcommand="export")
    assert zipped.ephemeral and [a.filename for a in zipped.attachments] == ["feedback.jsonl.gz"]
    rows = [json.loads(line) for line in gzip.decompress(zipped.attachments[0].data).splitlines()]
    assert len(rows) == 8 and rows[0]["text"].startswith("so much to say")
    tb.app.config.bot.max_upload_bytes = 100
    refused = await tb.slash("feedbacks", subcommand="export")
    assert refused.ephemeral and not refused.attachments
    assert refused.content.startswith("The export is ") and refused.content.endswith(
        " even compressed, more than I may attach (100 bytes).")


async def test_an_export_fits_the_upload_limit_discord_states_for_the_server(tb) -> None:
    """On the slash surface Discord states the server's upload limit (``attachment_size_limit``, which
    boosts raise); the strict emulator refuses a larger file with 413, so the export is gzipped to fit."""
    for n in range(8):
        await tb.say(f"!feedback {'so much to say ' * 20} #{n}")
    tb.guild.upload_limit = 1500
    zipped = await tb.slash("feedbacks", subcommand="export")
    assert [a.filename for a in zipped.attachments] == ["feedback.jsonl.gz"]
    assert tb.emu.refusals == []
    tb.guild.upload_limit = 10 * 1024 * 1024
    plain = await tb.slash("feedbacks", subcommand="export")
    assert [a.filename for a in plain.attachments] == ["feedback.jsonl"]


def test_training_status_is_bounded_however_long_the_provider_error_and_events() -> None:
    job = types.SimpleNamespace(id=1, status="failed", dataset="d" * 100, example_count=3, provider="openai",
                                model_id=None, error="E" * 5000)
    text = render_job(job, [f"event {n} " + "x" * 3000 for n in range(10)])
    assert len(text) <= DISCORD_MESSAGE_LIMIT
    assert "\nError: " + "E" * 499 + "…" in text and "• event 5 " in text
