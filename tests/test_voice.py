"""Voice channels through the real bot on the emulator and the local voice server
(framework/testing/voice_server.py): join/say/leave in both AEAD modes with the audio checked
after decryption and Opus decoding, refusals (no channel, no permission, full), kicks and moves,
the queue, the idle timeout, a dropped voice server, DAVE refusal, spoken replies."""

from __future__ import annotations

import types
from collections.abc import AsyncIterator

import hikari
import numpy as np
import pytest

from framework import hookimpl
from framework.audio import decode_pcm
from framework.speech import SynthesizedAudio
from framework.testing.voice_server import LocalVoiceServer
from framework.voice_native.codec import SILENCE_FRAME
from framework.voice_native.crypto import AES_GCM, MODES, XCHACHA
from plugins.speech_pyttsx3 import Pyttsx3Engine, Settings

VOICE_FLAG = 1 << 13


class TapedTTS:
    """The real pyttsx3 engine, with every WAV it produced kept for comparison."""

    def __init__(self) -> None:
        self.engine = Pyttsx3Engine(Settings())
        self.spoken: list[tuple[str, bytes]] = []

    async def synthesize(self, text, *, language, voice=None, rate=None, guild_id=None) -> SynthesizedAudio:  # noqa: ANN001
        audio = await self.engine.synthesize(text, language=language, voice=voice, rate=rate)
        self.spoken.append((text, audio.wav))
        return audio


@pytest.fixture
async def voice_server() -> AsyncIterator[LocalVoiceServer]:
    server = LocalVoiceServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def voice_tb(tb_factory, server: LocalVoiceServer, extra: str = "", plugins=None):  # noqa: ANN001, ANN201
    tts = TapedTTS()
    taped = types.SimpleNamespace(register_text_to_speech=hookimpl(lambda register: register("taped", tts)))
    tb = await tb_factory(plugins_toml=f'[engines]\ntts = "taped"\n{extra}',
                          extra_plugins={"taped": taped, **(plugins or {})})
    tb.emu.voice_endpoint = server.endpoint
    tb.tts = tts
    return tb


async def enter(tb, user=None, channel=None) -> None:  # noqa: ANN001
    user, channel = user or tb.user, channel or tb.voice_channel
    await tb.emu.set_voice_state(tb.guild, user, channel)
    await tb.emu.wait_until(lambda: (s := tb.app.bot.cache.get_voice_state(tb.guild.id, user.id))
                            and s.channel_id == channel.id, what="the voice state in the cache")


def backend(tb):  # noqa: ANN001, ANN201
    return tb.app.engines.voice.active()


def similarity(reference: np.ndarray, received: np.ndarray) -> float:
    """Peak normalised cross-correlation over all alignments (FFT)."""
    n = len(reference) + len(received)
    corr = np.fft.irfft(np.fft.rfft(received, 2 * n) * np.conj(np.fft.rfft(reference, 2 * n)))
    return float(corr.max() / (np.linalg.norm(reference) * np.linalg.norm(received)))


@pytest.mark.parametrize("mode", [AES_GCM, XCHACHA])
async def test_join_say_leave_sends_correct_audio(tb_factory, voice_server, mode) -> None:
    voice_server.modes = (mode,)
    tb = await voice_tb(tb_factory, voice_server)
    await enter(tb)
    joined = await tb.slash("join")
    assert joined.content.startswith("🔊 Joined **Voice**.") and not joined.ephemeral
    session = voice_server.current
    assert session.mode == mode and session.discovery_sizes == [74]
    assert session.identify["max_dave_protocol_version"] == 0
    said = await tb.slash("say", {"text": "hello"})
    assert said.content == "🔊 Saying it in **Voice**."
    [(text, wav)] = tb.tts.spoken
    assert text == "hello"
    await tb.emu.wait_until(lambda: session.speaking[-1:] == [0], timeout=30, what="the end of speech")
    packets = session.packets
    assert session.undecryptable == 0 and len(packets) > 10
    assert [p.opus for p in packets[-5:]] == [SILENCE_FRAME] * 5
    assert len({p.nonce for p in packets}) == len(packets)
    assert [p.header.sequence for p in packets] == [(packets[0].header.sequence + i) % 65536 for i in range(len(packets))]
    assert all(b.header.timestamp - a.header.timestamp == 960 for a, b in zip(packets, packets[1:]))
    assert session.speaking[0] == 1
    received = np.frombuffer(session.decoded(), np.int16).astype(np.float64)
    reference = np.frombuffer(decode_pcm(wav, rate=48_000), np.int16).astype(np.float64)
    assert abs(len(received) - len(reference)) / len(reference) <= 0.05
    assert similarity(reference, received) >= 0.9
    left = await tb.slash("leave")
    assert left.content == "👋 Left **Voice**."
    await tb.emu.wait_until(lambda: session.closed_by_client, what="the voice session to close")
    assert not backend(tb).is_connected(tb.guild.id)
    assert tb.emu.voice_requests[-1]["channel_id"] is None
