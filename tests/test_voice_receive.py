"""The receive path's parts on known values: the reorder buffer, transport decryption of packets
sealed here from the specification (both AEAD modes, CSRCs, the rtpsize header extension,
padding), and hearing — segmentation, an engine without streaming, and back-pressure that drops
the oldest audio when recognition falls behind. Real code throughout; the "engines" below are
small engines that follow the speech protocols, as a third-party one would."""

from __future__ import annotations

import asyncio
import concurrent.futures
import struct
import threading

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt

from framework.hearing import Hearing, HearingSettings, Utterance
from framework.speech import Transcript, can_stream
from framework.voice_native.crypto import AES_GCM, XCHACHA, TransportCipher
from framework.voice_native.jitter import JitterBuffer
from framework.voice_native.receive import MalformedPacket, open_packet

KEY = bytes(range(32))


def test_the_reorder_buffer_puts_frames_in_order_and_fills_gaps() -> None:
    jitter = JitterBuffer(depth=3)
    assert jitter.push(10, b"a") == [b"a"]
    assert jitter.push(12, b"c") == []  # 11 may still come
    assert jitter.push(11, b"b") == [b"b", b"c"]
    assert jitter.push(14, b"e") == [] and jitter.push(15, b"f") == []
    assert jitter.push(16, b"g") == [None, b"e", b"f", b"g"]  # 13 given up after three later frames
    assert jitter.push(13, b"late") == []
    assert (jitter.stats.lost, jitter.stats.late, jitter.stats.reordered) == (1, 1, 1)
    assert jitter.push(18, b"i") == [] and jitter.flush() == [None, b"i"]


def test_the_reorder_buffer_wraps_around_and_restarts_after_a_jump() -> None:
    jitter = JitterBuffer(depth=2)
    assert jitter.push(65535, b"x") == [b"x"]
    assert jitter.push(0, b"y") == [b"y"]
    assert jitter.push(1000, b"z") == [b"z"]  # a new stream, not 999 gaps
    assert jitter.stats.lost == 0


def seal(mode: str, *, payload: bytes, extension: bytes = b"", csrcs: int = 0, padding: int = 0,
         counter: int = 7) -> bytes:
    """A packet as RFC 3550 and Discord's rtpsize modes describe it, written out here."""
    first = 0x80 | csrcs | (0x10 if extension else 0) | (0x20 if padding else 0)
    header = struct.pack(">BBHII", first, 0x78, 5, 4800, 1234) + bytes(4 * csrcs)
    if extension:
        header += struct.pack(">HH", 0xBEDE, len(extension) // 4)  # the preamble is in the clear
    plain = extension + payload + (bytes(padding - 1) + bytes([padding]) if padding else b"")
    tail = struct.pack(">I", counter)
    if mode == AES_GCM:
        sealed = AESGCM(KEY).encrypt(tail + bytes(8), plain, header)
    else:
        sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(plain, header, tail + bytes(20), KEY)
    return header + sealed + tail


@pytest.mark.parametrize("mode", [AES_GCM, XCHACHA])
def test_packets_open_in_both_modes_with_extensions_csrcs_and_padding(mode: str) -> None:
    cipher = TransportCipher(mode, KEY)
    frame = b"\x78" + bytes(range(50))
    header, payload = open_packet(cipher, seal(mode, payload=frame))
    assert (header.sequence, header.timestamp, header.ssrc, payload) == (5, 4800, 1234, frame)
    _, payload = open_packet(cipher, seal(mode, payload=frame, extension=b"\x10\xff\x00\x00" * 2, csrcs=2,
                                          padding=4))
    assert payload == frame
    forged = bytearray(seal(mode, payload=frame))
    forged[20] ^= 1
    with pytest.raises(Exception):  # noqa: B017 - cryptography and PyNaCl raise their own types
        open_packet(cipher, bytes(forged))
    with pytest.raises(MalformedPacket):
        open_packet(cipher, b"\x80\x78" + bytes(20))


# --------------------------------------------------------------------------- hearing

def tone(seconds: float, loud: bool = True) -> bytes:
    t = np.arange(int(16000 * seconds)) / 16000
    return (np.sin(2 * np.pi * 220 * t) * (8000 if loud else 0)).astype("<i2").tobytes()


class WholeEngine:
    """A speech-to-text engine without streaming: it gets whole utterances."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def transcribe(self, pcm, *, language, phrases=None):
        self.calls.append(len(pcm))
        return Transcript(f"{len(pcm) // 32} ms", 1.0, language)

    def languages(self) -> list[str]:
        return ["xx"]


class SlowStreamingEngine(WholeEngine):
    """A streaming engine whose recogniser is held up until ``go`` is set (recognition behind)."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.fed = 0
        self.threads: set[str] = set()

    def open_stream(self, *, language, phrases=None):
        engine = self

        class Stream:
            def accept(self, pcm: bytes) -> str:
                engine.go.wait(10)
                engine.fed += len(pcm)
                engine.threads.add(threading.current_thread().name)
                return "partial"

            def finish(self) -> Transcript:
                return Transcript(f"{engine.fed // 32} ms", 1.0, language)

        return Stream()


async def hear(engine, pcm: bytes, count: int = 1, **settings) -> tuple[list[Utterance], Hearing]:
    heard: list[Utterance] = []
    done = asyncio.Event()
    pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="hearing-test")

    def got(utterance: Utterance) -> None:
        heard.append(utterance)
        if len(heard) == count:
            done.set()

    hearing = Hearing(engine, HearingSettings("xx", **settings), pool, on_utterance=got)
    for start in range(0, len(pcm), 640):
        hearing.audio(42, pcm[start:start + 640])
        await asyncio.sleep(0)
    hearing.paused(42)
    await asyncio.wait_for(done.wait(), 10)
    pool.shutdown()
    return heard, hearing


async def test_an_engine_without_streaming_gets_the_whole_utterance_and_silence_cuts_it() -> None:
    engine = WholeEngine()
    assert not can_stream(engine)
    heard, _ = await hear(engine, tone(0.1, loud=False) + tone(1.0) + tone(1.0, loud=False) + tone(0.5),
                          count=2, end_silence=0.6, preroll=5)
    assert len(heard) == 2 and heard[0].user_id == 42
    # first: 5 quiet preroll blocks + 1 s speech + 0.6 s of silence ending it; second: the rest
    assert engine.calls == [(100 + 1000 + 600) * 32, (100 + 500) * 32]
    assert heard[0].transcript.text == "1700 ms"


async def test_recognition_falling_behind_drops_the_oldest_audio_never_the_loop() -> None:
    engine = SlowStreamingEngine()
    assert can_stream(engine)
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, engine.go.set)  # the recogniser is stuck while 2 s of audio arrive
    heard, _ = await hear(engine, tone(2.0), max_backlog=0.5, preroll=0)
    [utterance] = heard
    assert utterance.dropped > 0 and utterance.partial == "partial"
    assert engine.fed <= (2000 - utterance.dropped * 20 + 20) * 32
    assert all(name.startswith("hearing-test") for name in engine.threads)
