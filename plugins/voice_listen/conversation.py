"""The conversation in a voice call: the guild's :class:`GuildSink` takes what the backend hears
(only from consenting users), :class:`framework.hearing.Hearing` cuts and recognises it, and a
finished utterance — in ``wake`` mode only one that starts with a wake phrase — goes through the
``answer_text`` hook; the transcript and the answer are posted in the voice channel's text chat
(or ``text_channel``) and the answer is spoken in the call. Someone starting to talk while the
bot speaks stops it (barge-in).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import io
import logging
import os
import re
import threading
import time
import wave
from typing import TYPE_CHECKING, Any

import hikari

from framework import sql as sa
from framework.errors import MissingModel
from framework.hearing import Hearing, HearingSettings, Utterance
from framework.speech import STT_SAMPLE_RATE
from framework.voice import VoiceConnected, VoiceDisconnected, VoiceEvent, can_listen, speak_answer
from plugins.voice_listen.schema import Settings, guilds, optouts, transcripts

if TYPE_CHECKING:  # pragma: no cover
    from framework.host import Host

log = logging.getLogger(__name__)
PLUGIN = "voice_listen"

_WORD = re.compile(r"[^\w\s]", re.UNICODE)


def normalise(text: str) -> str:
    return " ".join(_WORD.sub(" ", text.lower()).split())


def strip_wake(text: str, phrases: list[str]) -> str | None:
    """What follows a leading wake phrase in ``text``, or None when it starts with none."""
    heard = normalise(text)
    for phrase in sorted((normalise(p) for p in phrases if normalise(p)), key=len, reverse=True):
        if heard == phrase or heard.startswith(phrase + " "):
            return heard[len(phrase):].strip()
    return None


@dataclasses.dataclass
class HeardMessage:
    """What ``answer_text`` gets for speech heard in a call: the attributes of a message that
    conversation plugins read (``id`` is the posted transcript's, ``author`` the speaker)."""

    id: int
    channel_id: int
    guild_id: int
    author: Any
    content: str


@dataclasses.dataclass
class Exchange:
    """One answered utterance (kept in memory for tests and benchmarks; the last 50)."""

    utterance: Utterance
    question: str
    transcript_message: int
    answer: str | None = None
    answered_at: float = 0.0


class GuildSink:
    """The guild's :class:`framework.voice.AudioSink`: consent first, then hearing."""

    def __init__(self, listening: Listening, guild_id: int) -> None:
        self.listening = listening
        self.guild_id = guild_id
        self.hearing: Hearing | None = None
        self.missing_model = False

    def wants(self, user_id: int) -> bool:
        listening = self.listening
        return (self.guild_id in listening.guilds and user_id not in listening.optouts
                and user_id != listening.bot_id and listening.app.plugins.enabled_in(PLUGIN, self.guild_id))

    def audio(self, user_id: int, pcm: bytes) -> None:
        if not self.wants(user_id):
            return
        try:
            hearing = self._hearing()
        except MissingModel as exc:  # said once per call; hearing is retried with the next audio
            if not self.missing_model:
                self.missing_model = True
                log.warning("voice listening in guild %s: %s", self.guild_id, exc)
                channel = self.listening.text_channel(self.listening.backend().channel_of(self.guild_id))
                if channel is not None:
                    self.listening.spawn(self.listening.post(channel, f"🎙️ I can't understand this call: {exc}"))
            return
        hearing.audio(user_id, pcm)

    def paused(self, user_id: int) -> None:
        if self.hearing is not None:
            self.hearing.paused(user_id)

    def _hearing(self) -> Hearing:
        if self.hearing is None:
            listening = self.listening
            settings, voice = listening.settings, listening.app.settings("voice")
            self.hearing = Hearing(
                listening.app.engines.stt.for_language(settings.language),
                HearingSettings(settings.language, settings.phrases or None, settings.threshold_dbfs,
                                settings.end_silence, max_seconds=settings.max_seconds,
                                max_backlog=settings.max_backlog, keep_audio=bool(getattr(voice, "keep_audio", False))),
                listening.pool, on_speech=self._speech, on_utterance=self._utterance)
        return self.hearing

    def close(self) -> None:
        if self.hearing is not None:
            self.hearing.close()
            self.hearing = None

    def _speech(self, user_id: int) -> None:
        listening = self.listening
        backend = listening.app.engines.voice.active()
        if listening.settings.barge_in and backend.is_playing(self.guild_id):
            listening.barge_ins.append((user_id, time.time()))
            listening.spawn(backend.stop(self.guild_id))

    async def _utterance(self, utterance: Utterance) -> None:
        try:
            await self.listening.converse(self.guild_id, utterance)
        except Exception:  # one failed answer must not stop listening
            log.exception("answering what user %s said in guild %s failed", utterance.user_id, self.guild_id)


class Listening:
    """Per app: guilds listening, opt-outs (kept in memory: consent is checked per packet), the
    recognition pool, and each guild's sink."""

    def __init__(self, app: Host) -> None:
        self.app = app
        self.guilds: set[int] = set()
        self.optouts: set[int] = set()
        self.sinks: dict[int, GuildSink] = {}
        self.exchanges: list[Exchange] = []
        self.barge_ins: list[tuple[int, float]] = []
        self.unaddressed = 0
        """Utterances heard without the wake phrase (neither posted nor kept)."""
        self.bot_id = 0
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._subscribed: Any = None

    @property
    def settings(self) -> Settings:
        return self.app.settings("voice_listen") or Settings()  # type: ignore[no-any-return]

    @property
    def pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.settings.workers,
                                                               thread_name_prefix="trainerbot-hearing",
                                                               initializer=yield_to_the_loop)
        return self._pool

    def spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def load(self) -> None:
        async with self.app.storage.connect() as conn:
            self.guilds = {int(r.guild_id) for r in await conn.execute(sa.select(guilds.c.guild_id))}
            self.optouts = {int(r.user_id) for r in await conn.execute(sa.select(optouts.c.user_id))}
        me = self.app.bot.get_me()
        self.bot_id = int(me.id) if me else 0
        for guild_id in self.guilds:
            self.attach(guild_id)

    def backend(self) -> Any:
        backend = self.app.engines.voice.active()
        if backend is not self._subscribed and getattr(backend, "events", None) is not None:
            backend.events.subscribe(self.on_event)
            self._subscribed = backend
        return backend

    def attach(self, guild_id: int) -> bool:
        """Hand the guild's sink to the backend; False when the backend cannot hear."""
        backend = self.backend()
        if not can_listen(backend):
            return False
        sink = self.sinks.setdefault(guild_id, GuildSink(self, guild_id))
        backend.listen(guild_id, sink)
        return True

    def detach(self, guild_id: int) -> None:
        backend = self.backend()
        if can_listen(backend):
            backend.listen(guild_id, None)
        sink = self.sinks.pop(guild_id, None)
        if sink is not None:
            sink.close()

    def forget_speaker(self, user_id: int) -> None:
        for sink in self.sinks.values():
            if sink.hearing is not None:
                sink.hearing.forget(user_id)

    async def on_event(self, event: VoiceEvent) -> None:
        if isinstance(event, VoiceConnected) and event.guild_id in self.guilds:
            await self.announce(event.guild_id, event.channel_id)
        elif isinstance(event, VoiceDisconnected):
            sink = self.sinks.get(event.guild_id)
            if sink is not None:
                sink.close()

    def text_channel(self, voice_channel: int | None) -> int | None:
        return self.settings.text_channel or voice_channel

    async def announce(self, guild_id: int, voice_channel: int | None) -> None:
        """Tell the call it is being listened to, and how to opt out (in its text chat)."""
        channel = self.text_channel(voice_channel)
        if channel is None:
            return
        settings = self.settings
        how = (f"I answer when you start with “{self.wake_phrases()[0]}”" if settings.mode == "wake"
               else "I answer everything I hear")
        await self.post(channel, f"🎙️ I'm listening in this call ({how}). Your voice is turned into text "
                                 "here; no audio is kept. Don't want to be heard? `voice listen me off`.")

    def wake_phrases(self) -> list[str]:
        me = self.app.bot.get_me()
        return [*self.settings.wake_phrases, *([me.username] if me else [])]

    async def post(self, channel_id: int, text: str, *, reply: int | None = None) -> hikari.Message | None:
        try:
            return await self.app.bot.rest.create_message(channel_id, text, reply=reply or hikari.UNDEFINED,
                                                          user_mentions=False, role_mentions=False,
                                                          mentions_everyone=False)
        except hikari.HikariError:
            log.warning("could not post in channel %s", channel_id, exc_info=True)
            return None

    # ------------------------------------------------------------------ one utterance
    async def converse(self, guild_id: int, utterance: Utterance) -> None:
        transcript = utterance.transcript
        user_id = utterance.user_id
        if transcript is None or not transcript.text or guild_id not in self.guilds or user_id in self.optouts:
            return
        settings = self.settings
        question = transcript.text if settings.mode == "always" else strip_wake(transcript.text, self.wake_phrases())
        if not question:
            self.unaddressed += 1
            log.debug("utterance of user %s in guild %s not addressed to the bot", user_id, guild_id)
            return
        backend = self.backend()
        channel = self.text_channel(backend.channel_of(guild_id))
        if channel is None:
            return
        author = self.app.bot.cache.get_user(user_id) or await self.app.bot.rest.fetch_user(user_id)
        posted = await self.post(channel, f"🎙️ **{author.display_name or author.username}**: “{transcript.text}”")
        if posted is None:
            return
        exchange = Exchange(utterance, question, int(posted.id))
        self.exchanges = [*self.exchanges[-49:], exchange]
        message = HeardMessage(int(posted.id), channel, guild_id, author, question)
        answer = await self.app.plugins.call("answer_text", scope=guild_id, app=self.app, message=message,
                                             text=question)
        exchange.answer = str(answer) if answer else None
        if exchange.answer:
            try:
                await speak_answer(self.app, guild_id, int(posted.id), exchange.answer, language=settings.language)
            except Exception:  # the text answer still goes out
                log.exception("speaking the answer in guild %s failed", guild_id)
            exchange.answered_at = time.time()
            await self.post(channel, exchange.answer, reply=int(posted.id))
        await self.record(guild_id, channel, int(posted.id), utterance, exchange.answer)
        if exchange.answer:
            await self.app.plugins.call("reply_sent", scope=guild_id, app=self.app, message=message,
                                        text=exchange.answer)

    async def record(self, guild_id: int, channel: int, message_id: int, utterance: Utterance,
                     answer: str | None) -> None:
        """The conversation record; the audio only when ``[plugins.voice] keep_audio`` is on."""
        audio_path = None
        if utterance.audio:
            folder = self.app.data_root.area("recordings") / str(int(guild_id))
            path = folder / f"{int(utterance.user_id)}-{message_id}.wav"
            await self.app.run_blocking(_write_wav, path, utterance.audio)
            audio_path = self.app.data_root.display(path)
        assert utterance.transcript is not None
        async with self.app.storage.begin() as conn:
            await conn.execute(transcripts.insert().values(
                guild_id=int(guild_id), channel_id=int(channel), message_id=message_id,
                user_id=int(utterance.user_id), transcript=utterance.transcript.text, answer=answer,
                audio_path=audio_path))

    def close(self) -> None:
        for guild_id in list(self.sinks):
            self.detach(guild_id)
        for task in self._tasks:
            task.cancel()
        if self._subscribed is not None:
            self._subscribed.events.unsubscribe(self.on_event)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def yield_to_the_loop() -> None:
    """Recognition threads run at a lower scheduling priority (Linux: per thread), so on a busy
    machine the event loop's thread gets the CPU first and its lag stays small; recognition, which
    has a backlog to absorb delays, waits instead. Where the OS refuses, nothing changes."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # not Linux-like, or not permitted
        pass


def _write_wav(path: Any, pcm: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(STT_SAMPLE_RATE)
        out.writeframes(pcm)
    path.write_bytes(buffer.getvalue())
