"""DAVE end to end: the real bot joins a call on the local voice server, which acts as the MLS
external sender (rfc9420); "Bob", a call member running Discord's own libdave (dave-py), must
decrypt and hear what the bot says. The server's transport decryption, RTP and Opus decoding
are independent of the bot's code (framework/emulator/media.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from framework.audio import decode_pcm
from framework.emulator import media
from framework.testing.voice_server import LocalVoiceServer
from tests.test_voice import backend, enter, similarity, voice_tb

dave = pytest.importorskip("dave", reason="dave-py (libdave bindings) has no wheel for this platform")
pytest.importorskip("rfc9420", reason="rfc9420 (the external sender's MLS) is not installed")

from framework.emulator.libdave_member import LibdaveMember  # noqa: E402

AES_GCM, XCHACHA = media.TRANSPORT_MODES


@pytest.fixture
async def dave_server() -> AsyncIterator[LocalVoiceServer]:
    server = LocalVoiceServer(offer_dave=True, heartbeat_interval_ms=500)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def call_with_bob(tb_factory, server, extra: str = ""):  # noqa: ANN001, ANN201
    tb = await voice_tb(tb_factory, server, extra)
    tb.emu.voice_endpoint = server.endpoint_for
    await enter(tb)
    bob = LibdaveMember(tb.user.id)
    await bob.join(server, tb.guild.id, tb.voice_channel.id)
    tb.bob = bob
    return tb


async def speak(tb, server, text: str) -> bytes:  # noqa: ANN001
    """``/say`` and wait for the end of speech; returns the TTS WAV."""
    session = server.session_of(tb.emu.bot_user.id)
    spoken = len(session.speaking)
    assert (await tb.slash("say", {"text": text})).content.startswith("🔊")
    await tb.emu.wait_until(lambda: len(session.speaking) >= spoken + 2 and session.speaking[-1] == 0,
                            timeout=60, what="the end of speech")
    return tb.tts.spoken[-1][1]


def assert_sounds_like(reference_wav: bytes, opus_frames: list[bytes]) -> None:
    received = np.frombuffer(media.decode_opus(opus_frames), np.int16).astype(np.float64)
    reference = np.frombuffer(decode_pcm(reference_wav, rate=48_000), np.int16).astype(np.float64)
    assert abs(len(received) - len(reference)) / len(reference) <= 0.05, (len(received), len(reference))
    assert similarity(reference, received) >= 0.9


@pytest.mark.parametrize("mode", [AES_GCM, XCHACHA])
async def test_bob_on_libdave_hears_the_bot(dave_server, tb_factory, mode) -> None:
    dave_server.modes = (mode,)
    tb = await call_with_bob(tb_factory, dave_server)
    bob, bot_id = tb.bob, tb.emu.bot_user.id
    assert (await tb.slash("join")).content.startswith("🔊 Joined **Voice**.")
    call = dave_server.calls[tb.voice_channel.id]
    await tb.emu.wait_until(lambda: call.executed and bob.session.has_established_group(), what="the MLS group")
    assert call.epoch == 1 and sorted(call.group.members) == sorted([bot_id, tb.user.id])
    wav = await speak(tb, dave_server, "hello")
    session = dave_server.session_of(bot_id)
    assert session.mode == mode and session.undecryptable == 0
    assert all(p.e2ee for p in session.audio_packets)
    assert bob.failed(bot_id) == [] and bob.failures == []
    assert_sounds_like(wav, bob.heard(bot_id))
