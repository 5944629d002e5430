"""Hearing others in a call: the voice server relays each speaker's packets to our UDP socket.

Per datagram, on the event loop (microseconds each): RTP header (with CSRCs and the rtpsize
header extension), the SSRC's user (voice gateway op 5 SPEAKING; op 13 forgets them), the sink's
consent (``AudioSink.wants``: a refused speaker's packet is dropped before any decryption),
transport AEAD (both modes), the extension body, DAVE (the speaker's decryptor in davey), and a
per-speaker reorder buffer (``jitter``). Opus decoding runs in one decode thread per connection,
one job per speaker at a time and in order, so the loop never decodes; PCM then goes to the sink.

A speaker's talk spurt ends with the Opus silence frame (Discord clients send five before going
quiet) or when no packet came for ``gap`` seconds; either way the reorder buffer is flushed and
the sink hears ``paused``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import struct
from collections.abc import Callable, Sequence

from framework.voice import AudioSink, ReceiveStats
from framework.voice_native.codec import SILENCE_FRAME
from framework.voice_native.crypto import TransportCipher
from framework.voice_native.jitter import JitterBuffer
from framework.voice_native.opus_decoder import OpusDecoder
from framework.voice_native.rtp import PAYLOAD_TYPE, RtpHeader

log = logging.getLogger(__name__)

GAP = 0.25
"""Seconds without a packet after which a speaker counts as paused (a fallback: clients announce
the end of a talk spurt with silence frames)."""
LATE_TIMER = 0.02
"""A gap check that runs this late means the loop was busy and datagrams may be waiting to be read:
it is put off until they are, so a stall on our side never reads as the speaker pausing."""
MAX_UNMAPPED = 50
"""Packets kept per SSRC whose user is not known yet (SPEAKING may arrive after the first audio)."""
MAX_UNMAPPED_SSRCS = 16
"""SSRCs whose packets are held at once: memory stays bounded whatever arrives."""
PAUSE = object()
"""Marks the end of a talk spurt in a speaker's decode queue."""


class MalformedPacket(ValueError):
    pass


def open_packet(cipher: TransportCipher, data: bytes) -> tuple[RtpHeader, bytes]:
    """The header and the payload of a transport-encrypted voice packet (header extension body
    and padding removed); raises :class:`MalformedPacket` or the cipher's error on forgeries."""
    if len(data) < 12 + 16 + 4 or data[0] >> 6 != 2:
        raise MalformedPacket("not an RTP packet")
    header, size = RtpHeader.parse(data)
    if len(data) < size + 16 + 4:
        raise MalformedPacket("truncated RTP packet")
    payload, _counter = cipher.open(data[:size], data[size:])
    if header.first_byte & 0x10:  # rtpsize: the extension's body (length in 32-bit words) leads the plaintext
        words = struct.unpack_from(">H", data, size - 2)[0]
        payload = payload[4 * words:]
    if header.first_byte & 0x20 and payload:
        payload = payload[:-payload[-1]]
    return header, payload


@dataclasses.dataclass(eq=False)
class _Speaker:
    user_id: int
    jitter: JitterBuffer
    queue: list[object] = dataclasses.field(default_factory=list)
    """Frames (bytes, or None for a gap) and PAUSE markers waiting for the decode thread."""
    decoder: OpusDecoder | None = None
    decoding: bool = False
    last_packet: float = 0.0
    talking: bool = False


class Receiver:
    """Receives one connection's incoming media and hands decoded PCM to the guild's sink."""

    def __init__(self, sink: Callable[[], AudioSink | None], *, decrypt: Callable[[int, bytes], bytes | None],
                 gap: float = GAP, depth: int = 3) -> None:
        self._sink = sink
        self._decrypt = decrypt
        self.gap = gap
        self.depth = depth
        self.cipher: TransportCipher | None = None
        self.own_ssrc = 0
        self.ssrc_users: dict[int, int] = {}
        self.stats = ReceiveStats()
        self._speakers: dict[int, _Speaker] = {}
        self._unmapped: dict[int, list[bytes]] = {}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._watch_due = 0.0
        self._deferred = 0
        self._closed = False

    # ------------------------------------------------------------------ wiring
    def attach(self, cipher: TransportCipher, own_ssrc: int) -> None:
        """A (new) voice session: its transport key; speakers start afresh."""
        self.cipher, self.own_ssrc = cipher, own_ssrc
        for speaker in self._speakers.values():
            speaker.jitter.flush()
        self._unmapped.clear()

    def speaking(self, user_id: int, ssrc: int) -> None:
        """Voice gateway op 5: ``ssrc`` is ``user_id``'s; packets that came before are replayed."""
        self.ssrc_users[ssrc] = user_id
        for data in self._unmapped.pop(ssrc, []):
            self._packet(data, ssrc)

    def disconnected(self, user_id: int) -> None:
        """Voice gateway op 13: the user left the call."""
        for ssrc in [s for s, u in self.ssrc_users.items() if u == user_id]:
            del self.ssrc_users[ssrc]
        speaker = self._speakers.pop(user_id, None)
        if speaker is not None:
            speaker.queue.clear()

    def warm_up(self) -> None:
        """Load libopus (PyAV) in the decode thread now, not when the first word arrives: listening
        was switched on, so the first speech (and a barge-in) should not wait for the import."""
        if self._executor is None and not self._closed:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="trainerbot-opus")
            self._executor.submit(OpusDecoder)

    def close(self) -> None:
        self._closed = True
        if self._watch is not None:
            self._watch.cancel()
        self._speakers.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ packets (event loop)
    def datagram(self, data: bytes) -> None:
        if self._closed or len(data) < 12 or data[1] & 0x7F != PAYLOAD_TYPE or self.cipher is None:
            return  # RTCP (payload types 200-204 read 72-76 here) and strays
        self.stats.packets += 1
        self._packet(data, struct.unpack_from(">I", data, 8)[0])

    def _packet(self, data: bytes, ssrc: int) -> None:
        assert self.cipher is not None
        user_id = self.ssrc_users.get(ssrc)
        if user_id is None:
            if ssrc != self.own_ssrc and (ssrc in self._unmapped or len(self._unmapped) < MAX_UNMAPPED_SSRCS):
                held = self._unmapped.setdefault(ssrc, [])
                if len(held) < MAX_UNMAPPED:
                    held.append(data)
            return
        sink = self._sink()
        if sink is None or not sink.wants(user_id):
            self.stats.refused += 1
            return
        try:
            header, payload = open_packet(self.cipher, data)
        except Exception:  # MalformedPacket, or cryptography/PyNaCl rejecting a forgery
            self.stats.undecryptable += 1
            return
        speaker = self._speakers.get(user_id)
        if speaker is None:
            speaker = self._speakers[user_id] = _Speaker(user_id, JitterBuffer(self.depth))
        speaker.last_packet = asyncio.get_running_loop().time()
        if payload == SILENCE_FRAME:  # the client is going quiet: what is held is all there is
            if speaker.talking:
                self._enqueue(speaker, [*speaker.jitter.flush(), PAUSE])
            return
        opus = self._decrypt(user_id, payload)
        if opus is None:
            self.stats.undecryptable += 1
            return
        speaker.talking = True
        self._enqueue(speaker, speaker.jitter.push(header.sequence, opus))
        self._arm_watch()

    def _enqueue(self, speaker: _Speaker, items: Sequence[object]) -> None:
        if PAUSE in items:
            speaker.talking = False
        self._count()
        if not items:
            return
        speaker.queue.extend(items)
        if not speaker.decoding:
            self._decode_next(speaker)

    def _count(self) -> None:
        totals = [s.jitter.stats for s in self._speakers.values()]
        self.stats.lost = sum(t.lost for t in totals)
        self.stats.late = sum(t.late for t in totals)
        self.stats.reordered = sum(t.reordered for t in totals)

    def _decode_next(self, speaker: _Speaker) -> None:
        if not speaker.queue or self._closed:
            return
        batch, speaker.queue = speaker.queue, []
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="trainerbot-opus")
        speaker.decoding = True
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._decode, speaker, batch)
        future.add_done_callback(lambda done: self._decoded(speaker, done))

    def _decode(self, speaker: _Speaker, batch: list[object]) -> list[bytes | object]:
        """Decode thread: PCM per frame, PAUSE markers kept in place."""
        if speaker.decoder is None:
            speaker.decoder = OpusDecoder()
        out: list[bytes | object] = []
        pcm = bytearray()
        for item in batch:
            if item is PAUSE:
                if pcm:
                    out.append(bytes(pcm))
                    pcm.clear()
                out.append(PAUSE)
            else:
                pcm += speaker.decoder.decode(item)  # type: ignore[arg-type]
        if pcm:
            out.append(bytes(pcm))
        return out

    def _decoded(self, speaker: _Speaker, done: asyncio.Future[list[bytes | object]]) -> None:
        speaker.decoding = False
        if done.cancelled() or self._closed:
            return
        if done.exception() is not None:
            log.error("decoding the audio of user %s failed", speaker.user_id, exc_info=done.exception())
            return
        self.stats.decoded = sum(s.decoder.frames for s in self._speakers.values() if s.decoder)
        sink = self._sink()
        if sink is not None and self._speakers.get(speaker.user_id) is speaker:
            for item in done.result():
                try:
                    if item is PAUSE:
                        sink.paused(speaker.user_id)
                    else:
                        sink.audio(speaker.user_id, item)  # type: ignore[arg-type]
                except Exception:  # a failing sink must not stop the receiver
                    log.exception("the audio sink failed on user %s's audio", speaker.user_id)
        self._decode_next(speaker)

    # ------------------------------------------------------------------ pauses without a silence frame
    def _arm_watch(self, delay: float | None = None) -> None:
        if self._watch is None:
            delay = self.gap / 2 if delay is None else delay
            self._watch_due = asyncio.get_running_loop().time() + delay
            self._watch = asyncio.get_running_loop().call_later(delay, self._check_gaps)

    def _check_gaps(self) -> None:
        self._watch = None
        now = asyncio.get_running_loop().time()
        if now - self._watch_due > LATE_TIMER and self._deferred < 10:
            self._deferred += 1
            self._arm_watch(0.005)  # let the datagrams that piled up meanwhile arrive first
            return
        self._deferred = 0
        talking = False
        for speaker in list(self._speakers.values()):
            if speaker.talking and now - speaker.last_packet >= self.gap:
                self._enqueue(speaker, [*speaker.jitter.flush(), PAUSE])
            talking = talking or speaker.talking
        if talking and not self._closed:
            self._arm_watch()
