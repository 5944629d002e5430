"""The voice-backend interface: what the voice plugins (join/leave/say, spoken replies) use, and
what a backend plugin registers.

    @hookimpl
    def register_voice_backends(register, app):
        register("native", NativeBackend(app))

``[engines] voice = "native"`` picks it. Plugins only ever call the methods of
:class:`VoiceBackend` on ``app.engines.voice.active()``, so another backend — e.g. one built on
a maintained songbird binding (songbird >= 0.6 speaks DAVE) or on a Lavalink node — is another
plugin registering another name, and no plugin changes. Backends report failures the user can
understand as :class:`VoiceError` (a ``UserError``: its message is shown as is).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from framework.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from framework.host import Host

log = logging.getLogger(__name__)


class VoiceError(UserError):
    """Joining, speaking or leaving failed; the message says why in words fit for the user."""


@dataclasses.dataclass(frozen=True)
class VoiceEvent:
    guild_id: int


@dataclasses.dataclass(frozen=True)
class PlaybackStarted(VoiceEvent):
    pass


@dataclasses.dataclass(frozen=True)
class PlaybackEnded(VoiceEvent):
    interrupted: bool = False
    """True when ``stop`` or a disconnect cut it short."""


@dataclasses.dataclass(frozen=True)
class VoiceConnected(VoiceEvent):
    """The bot joined (or moved to) ``channel_id``; e.g. to announce that it listens there."""

    channel_id: int


@dataclasses.dataclass(frozen=True)
class VoiceMoved(VoiceEvent):
    channel_id: int


@dataclasses.dataclass(frozen=True)
class VoiceReconnected(VoiceEvent):
    pass


@dataclasses.dataclass(frozen=True)
class VoiceDisconnected(VoiceEvent):
    reason: str
    """Fit for users: why the bot left ("I was disconnected from the channel ...")."""
    requested: bool = False
    """True when the bot left because it was asked to (``disconnect``)."""


VoiceListener = Callable[[VoiceEvent], Awaitable[None] | None]


class VoiceEvents:
    """A tiny event bus a backend owns; consumers ``subscribe`` and are called in order."""

    def __init__(self) -> None:
        self._listeners: list[VoiceListener] = []

    def subscribe(self, listener: VoiceListener) -> None:
        if listener not in self._listeners:
            self._listeners.append(listener)

    def unsubscribe(self, listener: VoiceListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def emit(self, event: VoiceEvent) -> None:
        for listener in list(self._listeners):
            try:
                result = listener(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("voice event listener failed on %r", event)


@dataclasses.dataclass
class Playback:
    """A queued clip; ``await playback.finished`` waits until it was played (or cut short)."""

    guild_id: int
    frames: int
    position: int
    """How many clips were queued before this one (0: plays now)."""
    finished: asyncio.Future[bool] = dataclasses.field(repr=False, default=None)  # type: ignore[arg-type]

    @property
    def seconds(self) -> float:
        return self.frames * 0.02


@dataclasses.dataclass(frozen=True)
class VoicePrivacy:
    """What a user can compare with their Discord client to check the call's end-to-end encryption."""

    e2ee: bool
    """The call is end-to-end encrypted (DAVE) right now."""
    code: str | None = None
    """The call's voice privacy code (30 digits from the MLS epoch authenticator; every member's
    client shows the same one), None while the encryption is still being set up."""
    verification: str | None = None
    """The pairwise verification code (45 digits) between the bot and the user who asked, when known."""


@runtime_checkable
class VoiceBackend(Protocol):
    """What voice plugins may call. All ids are ints (hikari snowflakes are ints)."""

    events: VoiceEvents

    async def connect(self, guild_id: int, channel_id: int) -> None:
        """Join (or move to) a voice channel; raise VoiceError with a clear reason on failure."""
        ...

    async def play(self, guild_id: int, wav: bytes) -> Playback:
        """Queue audio (a WAV or anything ffmpeg reads) after what is already playing; returns once queued."""
        ...

    async def stop(self, guild_id: int) -> None:
        """Stop the current clip and drop the queue; stay connected."""
        ...

    async def disconnect(self, guild_id: int) -> None:
        """Leave the guild's voice channel (no error when not connected)."""
        ...

    def is_connected(self, guild_id: int, channel_id: int | None = None) -> bool:
        """Connected in this guild (and to this channel, if given)."""
        ...

    def is_playing(self, guild_id: int) -> bool:
        ...

    def channel_of(self, guild_id: int) -> int | None:
        """The voice channel the bot is connected to in this guild, if any."""
        ...

    async def privacy(self, guild_id: int, user_id: int | None = None) -> VoicePrivacy | None:
        """The call's end-to-end encryption codes (None when not connected in this guild)."""
        ...


# --------------------------------------------------------------------------- hearing others

RECEIVE_SAMPLE_RATE = 16_000
"""What a receiving backend hands to sinks: 16 kHz mono s16le PCM, the speech-to-text format."""


@runtime_checkable
class AudioSink(Protocol):
    """Where a receiving backend delivers what others say in a call, per speaker, on the event loop.

    ``wants`` is asked for every packet before it is decrypted or decoded: a speaker it refuses
    (listening off, opted out) costs no decoding, and their audio is never held anywhere."""

    def wants(self, user_id: int) -> bool:
        """Whether to decode this user's audio at all (consent is checked here)."""
        ...

    def audio(self, user_id: int, pcm: bytes) -> None:
        """The next piece of the user's speech (16 kHz mono s16le, in order; lost packets as silence)."""
        ...

    def paused(self, user_id: int) -> None:
        """The user stopped sending (their client went quiet, or packets stopped arriving)."""
        ...


@dataclasses.dataclass
class ReceiveStats:
    """What a receiving backend did with others' packets in one guild (for tests and benchmarks)."""

    packets: int = 0
    refused: int = 0
    """Dropped on arrival because the sink did not want the speaker (never decrypted or decoded)."""
    undecryptable: int = 0
    decoded: int = 0
    """Opus frames decoded."""
    lost: int = 0
    late: int = 0
    reordered: int = 0


@runtime_checkable
class VoiceReceiver(Protocol):
    """A backend that can hear others (optional: a backend may only speak)."""

    def listen(self, guild_id: int, sink: AudioSink | None) -> None:
        """Deliver what others say in this guild's call (now and after later joins) to ``sink``;
        ``None`` stops it at once."""
        ...

    def receive_stats(self, guild_id: int) -> ReceiveStats:
        ...


def can_listen(backend: Any) -> bool:
    return isinstance(backend, VoiceReceiver)


# --------------------------------------------------------------------------- spoken replies

KEPT = 1000
"""How many messages' claims and listening notes the app keeps (the oldest go first)."""


def _keep(app: Host, name: str, message_id: int, value: int | None) -> None:
    record: collections.OrderedDict[int, int | None] = app.state(name, collections.OrderedDict)
    record[message_id] = value
    while len(record) > KEPT:
        record.popitem(last=False)


def _claim(app: Host, message_id: int) -> bool:
    """Whether this message's answer is still to be spoken (then it is now claimed), so two plugins
    never speak it twice."""
    if message_id in app.state("framework.voice", collections.OrderedDict):
        return False
    _keep(app, "framework.voice", message_id, None)
    return True


async def speak_answer(app: Host, guild_id: int, message_id: int, text: str, *, language: str) -> Playback | None:
    """Speak an answer in the guild's call, once per ``message_id`` (the voice plugin's spoken
    replies then skip it); None when it was already spoken."""
    if not _claim(app, int(message_id)):
        return None
    audio = await app.engines.tts.active().synthesize(text, language=language, guild_id=guild_id)
    return await app.engines.voice.active().play(guild_id, audio.wav)  # type: ignore[no-any-return]


def listening_channel(app: Host, guild_id: int | None, user_id: int) -> int | None:
    """The voice channel where the user hears the bot (both in the same channel), else None."""
    if guild_id is None or app.config.engines.voice not in app.engines.voice:
        return None
    state = app.bot.cache.get_voice_state(guild_id, user_id)
    if state is None or state.channel_id is None:
        return None
    backend = app.engines.voice.active()
    return int(state.channel_id) if backend.is_connected(guild_id, state.channel_id) else None


def note_listening(app: Host, message: Any) -> int | None:
    """Note where the author of ``message`` hears the bot as the answer to it goes out (call it just
    before sending the answer), and return that voice channel (None: nowhere). The first note for a
    message stands: ``speak_reply`` decides from it however late it runs, so an answer sent before
    the author listened is never spoken into a call that began after it, and one sent while they
    listened is still spoken when they left the call meanwhile."""
    notes: collections.OrderedDict[int, int | None] = app.state("framework.voice.listening", collections.OrderedDict)
    if int(message.id) not in notes:
        author = getattr(message, "author", None)
        channel = listening_channel(app, getattr(message, "guild_id", None), author.id) if author else None
        _keep(app, "framework.voice.listening", int(message.id), channel)
    return notes[int(message.id)]


async def speak_reply(app: Host, message: Any, text: str, *, language: str) -> bool:
    """Speak the answer to ``message`` in the voice channel its author listened in when the answer
    went out (``note_listening``; not noted before: now), once.

    Returns True when it was (or already had been) queued there; False when the author did not
    listen in the bot's voice channel (or the bot has left it since), so the caller answers with
    text (or an attachment) only.
    """
    guild_id = getattr(message, "guild_id", None)
    channel_id = note_listening(app, message)
    if channel_id is None or app.config.engines.voice not in app.engines.voice:
        return False
    backend = app.engines.voice.active()
    if not backend.is_connected(guild_id, channel_id):
        return False
    if not _claim(app, int(message.id)):
        return True
    audio = await app.engines.tts.active().synthesize(text, language=language, guild_id=guild_id)
    await backend.play(guild_id, audio.wav)
    return True
