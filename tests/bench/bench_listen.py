"""Voice conversation figures through the real bot, the emulator and the local voice server, with
simulated users speaking espeak-ng Korean as Opus (end-to-end encrypted by libdave when dave-py
and rfc9420 are installed) and the real Vosk engine in grammar mode:

- ``listen_reply_ms``: end of the user's speech (their last audio frame on the wire) -> the bot's
  first reply packet at the voice server; median of several questions (goal <= 800 ms).
- ``listen_stt_lag_ms``: end of speech -> the final transcript (streaming recognition).
- ``listen_loop_lag_max_ms``: the event loop's worst lag while three users speak at once and are
  received, decoded and recognised (goal <= 20 ms).

Baselines, same audio, same run: ``listen_offline_stt_ms`` is the whole utterance recognised in one
go (what a non-streaming path would add after the speech ends); ``listen_offline_loop_lag_max_ms``
is the loop's worst lag while the three utterances are recognised offline at once.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

from framework import hookimpl
from framework.audio import decode_pcm
from framework.emulator import DiscordEmulator, media
from framework.emulator.libdave_member import LibdaveMember
from framework.emulator.voice_server import LocalVoiceServer
from framework.testing.harness import HarnessFactory
from tests.test_voice_listen import whole_speech

PHRASES = ["안녕하세요", "감사합니다", "뭐 해요"]
QUESTION = "안녕하세요 뭐 해요"
ANSWER = "감사합니다"
ROUNDS = 5
TICK = 0.005
CONFIG = (f'[plugins.voice_listen]\nwake_phrases = ["안녕하세요"]\nphrases = {PHRASES!r}\nlanguage = "ko"\n'
          '[plugins.voice]\nlanguage = "ko"\n').replace("'", '"')


def _dave() -> bool:
    try:
        import dave  # noqa: F401
        import rfc9420  # noqa: F401
    except ImportError as exc:
        print(f"# listen figures without DAVE: {exc}", file=sys.stderr)
        return False
    return True


async def _max_lag(stop: asyncio.Event) -> float:
    worst = 0.0
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(TICK)
        worst = max(worst, time.perf_counter() - started - TICK)
    return worst


async def _member(tb, server, dave: bool, name: str | None = None, *, wait: bool = True) -> LibdaveMember:
    user = tb.user
    if name is not None:
        user = tb.emu.create_user(name)
        tb.emu.add_member(tb.guild, user)
    await tb.emu.set_voice_state(tb.guild, user, tb.voice_channel)
    member = LibdaveMember(user.id, dave=dave)
    await member.join(server, tb.guild.id, tb.voice_channel.id)
    if dave and wait:
        call = server.calls[tb.voice_channel.id]
        state = tb.app.engines.voice.active().connection(tb.guild.id)
        await tb.emu.wait_until(lambda: call.executed and member.encryptor.has_key_ratchet()
                                and state.gateway.dave.ready and user.id in call.group.members
                                and call.executed[-1].executed, timeout=20, what=f"{user.username} in the group")
    return member


async def run() -> dict[str, float]:
    dave = _dave()
    emu, server = DiscordEmulator(), LocalVoiceServer(offer_dave=dave)
    await emu.start()
    await server.start()
    answers = types.SimpleNamespace(answer_text=hookimpl(lambda app, message, text: ANSWER))
    loop = asyncio.get_running_loop()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            factory = HarnessFactory(emu, Path(tmp))
            tb = await factory(plugins_toml=CONFIG, extra_plugins={"answers": answers})
            emu.voice_endpoint = server.endpoint_for
            tts, stt = tb.app.engines.tts.active(), tb.app.engines.stt.for_language("ko")
            wav = await whole_speech(tts, QUESTION)
            frames = await asyncio.to_thread(media.encode_opus, wav)
            pcm = await asyncio.to_thread(decode_pcm, wav)
            alice = await _member(tb, server, dave, wait=False)
            await tb.say("!join")
            if dave:
                call = server.calls[tb.voice_channel.id]
                conn = tb.app.engines.voice.active().connection(tb.guild.id)
                await emu.wait_until(lambda: call.executed and conn.gateway.dave.ready
                                     and alice.encryptor.has_key_ratchet(), what="the MLS group")
            await tb.say("!voice listen on", user=tb.owner)
            listening = tb.app.state("voice_listen")
            session = server.session_of(emu.bot_user.id)
            offline_ms, reply_ms, stt_ms = [], [], []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                await stt.transcribe(pcm, language="ko", phrases=PHRASES)
                offline_ms.append((time.perf_counter() - started) * 1000)
                before, answered = len(session.audio_packets), len(listening.exchanges)
                spoken = await alice.speak(frames)
                await emu.wait_until(lambda b=before, a=answered: len(session.audio_packets) > b
                                     and len(listening.exchanges) > a, timeout=30, what="the reply")
                end = spoken.last_at + 0.02
                reply_ms.append((session.audio_packets[before].arrived - end) * 1000)
                utterance = listening.exchanges[-1].utterance
                stt_ms.append((utterance.recognised + (time.time() - loop.time()) - end) * 1000)
                await emu.wait_until(lambda: session.speaking[-1:] == [0], timeout=30, what="the end of the reply")
            others = [await _member(tb, server, dave, name) for name in ("carol", "dan")]
            stop = asyncio.Event()
            ticker = asyncio.create_task(_max_lag(stop))
            answered = len(listening.exchanges)
            await asyncio.gather(*(m.speak(frames) for m in (alice, *others)))
            await emu.wait_until(lambda: len(listening.exchanges) >= answered + 3, timeout=60, what="three answers")
            stop.set()
            lag = await ticker
            stop = asyncio.Event()
            ticker = asyncio.create_task(_max_lag(stop))
            await asyncio.gather(*(stt.transcribe(pcm, language="ko", phrases=PHRASES) for _ in range(3)))
            stop.set()
            offline_lag = await ticker
            decoded = tb.app.engines.voice.active().receive_stats(tb.guild.id).decoded
            for member in (alice, *others):
                await member.leave()
            await factory.close()
    finally:
        await server.stop()
        await emu.stop()
    offline = statistics.median(offline_ms)
    return {
        "listen_reply_ms": statistics.median(reply_ms),
        "listen_stt_lag_ms": statistics.median(stt_ms),
        "listen_offline_stt_ms": offline,
        "listen_reply_vs_offline_stt_ratio": statistics.median(reply_ms) / offline,
        "listen_stt_lag_vs_offline_stt_ratio": statistics.median(stt_ms) / offline,
        "listen_loop_lag_max_ms": lag * 1000,
        "listen_offline_loop_lag_max_ms": offline_lag * 1000,
        "listen_frames_decoded": decoded,
        "listen_e2ee": int(dave),
        "listen_cpus": os.cpu_count() or 0,
    }
