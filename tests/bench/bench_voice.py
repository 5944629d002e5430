"""Voice-channel figures through the real bot, the emulator and the local voice server.

- ``voice_first_packet_ms``: a chat answer's text message recorded by the emulator -> its first
  RTP packet at the voice server (text-to-speech, Opus encoding, scheduling; goal <= 300 ms);
  median of several answers. Baseline: the text-to-speech alone for the same text, so the ratio
  shows what the voice path adds on top of the speech engine.
- ``voice_first_packet_dave_ms``: the same with DAVE on — the local voice server as the MLS external
  sender and "Bob" (Discord's libdave, dave-py) in the call — next to the DAVE-off figure above.
- ``dave_decrypt_failures``: frames of the bot Bob's libdave could not decrypt over those answers
  (the group is formed before the first one, so no transition falls inside: must be 0);
  ``dave_frames_decrypted`` how many it did. Skipped (with a note) without dave-py and rfc9420.
- ``voice_frame_jitter_ms``: standard deviation of the gaps between packets as they arrive
  (ideal: exactly 20 ms) over ~10 s of speech, and the worst gap deviation. Baseline: a naive
  ``sleep(0.02)`` sender on the same loop and socket type, running at the same time (same load),
  which also drifts (reported).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from framework.emulator import DiscordEmulator
from framework.emulator.voice_server import LocalVoiceServer
from framework.testing.harness import HarnessFactory
from framework.testing.openai_server import OpenAIServer

ANSWER = "The model says the review is positive."
LONG = ("This is a longer sentence, spoken so that the pacing of many voice frames can be measured "
        "while the bot keeps answering. ") * 2
ROUNDS = 7


def _gaps_ms(times: list[float]) -> list[float]:
    return [(b - a) * 1000 for a, b in itertools.pairwise(times)]


async def _naive_sender(frames: int) -> list[float]:
    """Baseline pacing: sleep 20 ms between sends; arrival times at a local UDP socket."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    loop = asyncio.get_running_loop()
    arrived: list[float] = []
    loop.add_reader(receiver.fileno(), lambda: (receiver.recv(2048), arrived.append(time.time())))
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                       remote_addr=receiver.getsockname())
    for _ in range(frames):
        transport.sendto(b"\x80\x78" + bytes(100))
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)
    loop.remove_reader(receiver.fileno())
    transport.close()
    receiver.close()
    return arrived


async def _first_packet_ms(tb, emu, session) -> tuple[list[float], list[float]]:
    """ROUNDS chat answers: (text message -> first RTP packet, the TTS alone) in ms."""
    tts = tb.app.engines.tts.active()
    me = emu.bot_user.id
    first_ms, tts_ms = [], []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        await tts.synthesize(ANSWER, language="en")
        tts_ms.append((time.perf_counter() - started) * 1000)
        before = len(session.packets)
        answer = await tb.say(f"<@{me}> is it positive?")
        await emu.wait_until(lambda before=before: session.speaking[-1:] == [0] and len(session.packets) > before,
                             timeout=60, what="the spoken answer")
        first_ms.append((session.packets[before].arrived - answer.timestamp) * 1000)
    return first_ms, tts_ms


async def _dave_run() -> dict[str, float]:
    """The first-packet figure with DAVE on and a libdave member decrypting every frame."""
    try:
        import dave  # noqa: F401
        import rfc9420  # noqa: F401
    except ImportError as exc:
        print(f"# DAVE figures skipped: {exc}", file=sys.stderr)
        return {}
    from framework.emulator.libdave_member import LibdaveMember

    emu, voice, openai = DiscordEmulator(), LocalVoiceServer(offer_dave=True), OpenAIServer()
    for server in (emu, voice, openai):
        await server.start()
    saved = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    os.environ.update(OPENAI_API_KEY="sk-bench-0123456789", OPENAI_BASE_URL=openai.base_url)
    openai.chat_reply = ANSWER
    try:
        with tempfile.TemporaryDirectory() as tmp:
            factory = HarnessFactory(emu, Path(tmp))
            tb = await factory(plugins_toml='[engines]\nprovider = "openai"\n[plugins.voice]\nlanguage = "en"\n')
            emu.voice_endpoint = voice.endpoint_for
            await emu.set_voice_state(tb.guild, tb.user, tb.voice_channel)
            await emu.wait_until(lambda: tb.app.bot.cache.get_voice_state(tb.guild.id, tb.user.id))
            bob = LibdaveMember(tb.user.id)
            await bob.join(voice, tb.guild.id, tb.voice_channel.id)
            await tb.say("!join")
            call = voice.calls[tb.voice_channel.id]
            await emu.wait_until(lambda: call.executed, what="the MLS group")
            session = voice.session_of(emu.bot_user.id)
            first_ms, _ = await _first_packet_ms(tb, emu, session)
            bot = emu.bot_user.id
            figures = {"voice_first_packet_dave_ms": statistics.median(first_ms),
                       "dave_decrypt_failures": len(bob.failed(bot)),
                       "dave_frames_decrypted": len([f for f in bob.frames if f.user_id == bot and f.opus])}
            await bob.leave()
            await factory.close()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for server in (openai, voice, emu):
            await server.stop()
    return figures


async def run() -> dict[str, float]:
    emu, voice, openai = DiscordEmulator(), LocalVoiceServer(), OpenAIServer()
    for server in (emu, voice, openai):
        await server.start()
    saved = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    os.environ.update(OPENAI_API_KEY="sk-bench-0123456789", OPENAI_BASE_URL=openai.base_url)
    openai.chat_reply = ANSWER
    try:
        with tempfile.TemporaryDirectory() as tmp:
            factory = HarnessFactory(emu, Path(tmp))
            tb = await factory(plugins_toml='[engines]\nprovider = "openai"\n[plugins.voice]\nlanguage = "en"\n')
            emu.voice_endpoint = voice.endpoint
            await emu.set_voice_state(tb.guild, tb.user, tb.voice_channel)
            await emu.wait_until(lambda: tb.app.bot.cache.get_voice_state(tb.guild.id, tb.user.id))
            await tb.say("!join")
            session = voice.current
            first_ms, tts_ms = await _first_packet_ms(tb, emu, session)
            before = len(session.packets)
            await tb.say(f"!say {LONG}")
            # The naive sender runs at the same time, so both pace under the same loop load.
            naive = asyncio.get_running_loop().create_task(_naive_sender(300))
            await emu.wait_until(lambda: session.speaking[-1:] == [0] and len(session.packets) > before,
                                 timeout=120, what="the long clip")
            gaps = _gaps_ms([p.arrived for p in session.packets[before:]])
            baseline = _gaps_ms(await naive)
            await factory.close()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for server in (openai, voice, emu):
            await server.stop()
    jitter = statistics.pstdev(gaps)
    naive_jitter = statistics.pstdev(baseline)
    first = statistics.median(first_ms)
    dave_figures = await _dave_run()
    return {
        "voice_first_packet_ms": first,
        **{k: v for k, v in dave_figures.items() if k == "voice_first_packet_dave_ms"},
        "voice_first_packet_tts_baseline_ms": statistics.median(tts_ms),
        "voice_first_packet_vs_tts_ratio": first / statistics.median(tts_ms),
        "voice_frame_jitter_ms": jitter,
        "voice_frame_gap_worst_ms": max(abs(g - 20) for g in gaps),
        "voice_frame_drift_ms": sum(gaps) - 20 * len(gaps),
        "voice_frame_jitter_naive_sleep_baseline_ms": naive_jitter,
        "voice_frame_drift_naive_sleep_baseline_ms": sum(baseline) - 20 * len(baseline),
        "voice_frame_jitter_vs_naive_ratio": jitter / naive_jitter if naive_jitter else float("nan"),
        **{k: v for k, v in dave_figures.items() if k != "voice_first_packet_dave_ms"},
    }
