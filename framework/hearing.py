"""Hearing speakers in a call: cut each speaker's audio into utterances and recognise them while
they are spoken, off the event loop. Backend- and engine-neutral: it takes the PCM a
:class:`framework.voice.AudioSink` receives and the active speech-to-text engine.

Segmentation, per speaker: 20 ms blocks above ``threshold_dbfs`` are speech. An utterance starts
at the first speech block (with ``preroll`` blocks before it, so a soft onset is not cut) and
ends when the speaker's client goes quiet (``paused``: the silence frames Discord clients send,
or packets stop), after ``end_silence`` seconds below the threshold (a client that keeps
sending), or at ``max_seconds``. Fewer than ``min_speech`` seconds of speech is noise.

Recognition: an engine with ``open_stream`` (Vosk) is fed every block while the user speaks, in a
bounded thread pool, one job at a time per utterance; so the final transcript is ready moments
after the speech ends. What waits for the pool is bounded (``max_backlog`` seconds per speaker):
when recognition falls behind, the oldest audio is dropped (and counted), and the event loop
never waits. Engines without streaming get the whole utterance through ``transcribe``.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from framework.speech import STT_SAMPLE_RATE, SpeechStream, Transcript, can_stream

log = logging.getLogger(__name__)

BLOCK_BYTES = STT_SAMPLE_RATE // 50 * 2
"""20 ms of 16 kHz mono s16le."""
BLOCK = 0.02


def block_dbfs(block: bytes) -> float:
    """Loudness of a block of s16le samples (dBFS); -inf for digital silence."""
    import numpy as np  # loaded with the first block heard (numpy is a dependency anyway)

    samples = np.frombuffer(block, "<i2").astype(np.float64)
    energy = float(np.mean(samples * samples)) if len(samples) else 0.0
    return 10 * math.log10(energy / (32768.0 ** 2)) if energy else float("-inf")


@dataclasses.dataclass(frozen=True)
class HearingSettings:
    language: str
    phrases: Sequence[str] | None = None
    threshold_dbfs: float = -45.0
    end_silence: float = 0.6
    min_speech: float = 0.15
    max_seconds: float = 20.0
    preroll: int = 10
    max_backlog: float = 10.0
    keep_audio: bool = False


@dataclasses.dataclass
class Utterance:
    """What one speaker said, from the first speech block to the end of speech."""

    user_id: int
    started: float
    """Loop time of the first speech block's arrival."""
    ended: float = 0.0
    """Loop time the end of speech was noticed."""
    recognised: float = 0.0
    """Loop time the final transcript was ready."""
    transcript: Transcript | None = None
    dropped: int = 0
    """20 ms blocks dropped because recognition fell behind."""
    audio: bytes | None = None
    """The utterance's PCM, only when audio is kept."""
    partial: str = ""
    speech_blocks: int = 0
    blocks: int = 0


class _Speaker:
    def __init__(self, user_id: int, settings: HearingSettings) -> None:
        self.user_id = user_id
        self.preroll: collections.deque[bytes] = collections.deque(maxlen=settings.preroll)
        self.buffer = b""
        self.utterance: Utterance | None = None
        self.silent_blocks = 0
        self.job: _Job | None = None


class _Job:
    """Recognition of one utterance: a stream fed in the pool, one task at a time."""

    def __init__(self, hearing: Hearing, utterance: Utterance, max_blocks: int) -> None:
        self.hearing = hearing
        self.utterance = utterance
        self.backlog: collections.deque[bytes] = collections.deque(maxlen=max_blocks)
        self.whole = bytearray()
        self.stream: SpeechStream | None = None
        self.running = False
        self.finishing = False
        self.done: asyncio.Future[Transcript] = asyncio.get_running_loop().create_future()

    def feed(self, block: bytes) -> None:
        if self.hearing.keep_whole:
            self.whole += block
        if self.hearing.streaming:
            if len(self.backlog) == self.backlog.maxlen:
                self.utterance.dropped += 1  # deque(maxlen) drops the oldest on append
            self.backlog.append(block)
            self._pump()

    def finish(self) -> None:
        self.finishing = True
        self._pump()

    def _pump(self) -> None:
        if self.running or self.done.done():
            return
        if not self.hearing.streaming:
            if self.finishing:
                self.running = True
                self.hearing.spawn(self._whole())
            return
        if not self.backlog and not self.finishing:
            return
        self.running = True
        future = asyncio.get_running_loop().run_in_executor(self.hearing.pool, self._work, self.finishing)
        future.add_done_callback(self._worked)

    def _work(self, finishing: bool) -> tuple[str, Transcript | None]:
        """Pool thread: open the stream on first use, feed what is waiting, finish if asked."""
        if self.stream is None:
            settings = self.hearing.settings
            self.stream = self.hearing.engine.open_stream(language=settings.language, phrases=settings.phrases)
        partial = ""
        while self.backlog:
            try:
                block = self.backlog.popleft()
            except IndexError:
                break
            partial = self.stream.accept(block)
        return partial, self.stream.finish() if finishing else None

    def _worked(self, future: asyncio.Future[tuple[str, Transcript | None]]) -> None:
        self.running = False
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            if not self.done.done():
                self.done.set_exception(error)
            return
        if self.done.done():
            return
        partial, final = future.result()
        if partial:
            self.utterance.partial = partial
        if final is not None:
            self.done.set_result(final)
        else:
            self._pump()

    async def _whole(self) -> None:
        """An engine without streaming: the whole utterance at once."""
        settings = self.hearing.settings
        try:
            transcript = await self.hearing.engine.transcribe(bytes(self.whole), language=settings.language,
                                                             phrases=settings.phrases)
        except Exception as exc:  # handed to whoever awaits the utterance
            self.done.set_exception(exc)
            return
        self.done.set_result(transcript)


class Hearing:
    """Segmentation and recognition for one call; feed it from an AudioSink."""

    def __init__(self, engine: Any, settings: HearingSettings, pool: concurrent.futures.Executor, *,
                 on_speech: Callable[[int], None] | None = None,
                 on_utterance: Callable[[Utterance], Any] | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.pool = pool
        self.streaming = can_stream(engine)
        self.keep_whole = settings.keep_audio or not self.streaming
        self.on_speech = on_speech
        """Called when a speaker starts an utterance (e.g. barge-in)."""
        self.on_utterance = on_utterance
        """Called with each finished, recognised utterance (on the loop; may return an awaitable)."""
        self._speakers: dict[int, _Speaker] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.utterances = 0

    def audio(self, user_id: int, pcm: bytes) -> None:
        speaker = self._speakers.get(user_id)
        if speaker is None:
            speaker = self._speakers[user_id] = _Speaker(user_id, self.settings)
        speaker.buffer += pcm
        while len(speaker.buffer) >= BLOCK_BYTES:
            block, speaker.buffer = speaker.buffer[:BLOCK_BYTES], speaker.buffer[BLOCK_BYTES:]
            self._block(speaker, block)

    def paused(self, user_id: int) -> None:
        speaker = self._speakers.get(user_id)
        if speaker is not None:
            self._end(speaker)
            speaker.preroll.clear()

    def forget(self, user_id: int) -> None:
        """Drop the speaker's audio in progress (they opted out mid-sentence)."""
        speaker = self._speakers.pop(user_id, None)
        if speaker is not None and speaker.job is not None:
            speaker.job.backlog.clear()
            speaker.job.whole.clear()
            speaker.job.done.cancel()

    def close(self) -> None:
        for user_id in list(self._speakers):
            self.forget(user_id)
        for task in self._tasks:
            task.cancel()

    def _block(self, speaker: _Speaker, block: bytes) -> None:
        settings = self.settings
        speech = block_dbfs(block) > settings.threshold_dbfs
        utterance = speaker.utterance
        if utterance is None:
            if not speech:
                speaker.preroll.append(block)
                return
            loop = asyncio.get_running_loop()
            utterance = speaker.utterance = Utterance(speaker.user_id, loop.time())
            max_blocks = max(1, int(settings.max_backlog / BLOCK))
            speaker.job = _Job(self, utterance, max_blocks)
            speaker.silent_blocks = 0
            for early in speaker.preroll:
                speaker.job.feed(early)
                utterance.blocks += 1
            speaker.preroll.clear()
            if self.on_speech is not None:
                self.on_speech(speaker.user_id)
        assert speaker.job is not None
        speaker.job.feed(block)
        utterance.blocks += 1
        if speech:
            utterance.speech_blocks += 1
            speaker.silent_blocks = 0
        else:
            speaker.silent_blocks += 1
        if speaker.silent_blocks * BLOCK >= settings.end_silence or utterance.blocks * BLOCK >= settings.max_seconds:
            self._end(speaker)

    def _end(self, speaker: _Speaker) -> None:
        utterance, job = speaker.utterance, speaker.job
        speaker.utterance, speaker.job = None, None
        if utterance is None or job is None:
            return
        utterance.ended = asyncio.get_running_loop().time()
        if utterance.speech_blocks * BLOCK < self.settings.min_speech:
            job.backlog.clear()  # noise: nothing to recognise (a stream opened for it is dropped)
            job.done.cancel()
            return
        if self.settings.keep_audio:
            utterance.audio = bytes(job.whole)
        job.finish()
        self.spawn(self._deliver(utterance, job))

    def spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, utterance: Utterance, job: _Job) -> None:
        try:
            utterance.transcript = await job.done
        except asyncio.CancelledError:
            return
        except Exception:  # one failed recognition must not stop hearing the call
            log.exception("recognising an utterance of user %s failed", utterance.user_id)
            return
        utterance.recognised = asyncio.get_running_loop().time()
        self.utterances += 1
        if self.on_utterance is not None:
            result = self.on_utterance(utterance)
            if asyncio.iscoroutine(result):
                await result
