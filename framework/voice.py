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


# --------------------------------------------------------------------------- spoken replies

def _claim(app: Host, message_id: int) -> bool:
    """Whether this message's answer is still to be spoken (then it is now claimed), so two plugins
    never speak it twice. The last 1,000 claims are kept in the app's state."""
    seen: collections.OrderedDict[int, None] = app.state("framework.voice", collections.OrderedDict)
    if message_id in seen:
        return False
    seen[message_id] = None
    while len(seen) > 1000:
        seen.popitem(last=False)
    return True


def listening_channel(app: Host, guild_id: int | None, user_id: int) -> int | None:
    """The voice channel where the user hears the bot (both in the same channel), else None."""
    if guild_id is None or app.config.engines.voice not in app.engines.voice:
        return None
    state = app.bot.cache.get_voice_state(guild_id, user_id)
    if state is None or state.channel_id is None:
        return None
    backend = app.engines.voice.active()
    return int(state.channel_id) if backend.is_connected(guild_id, state.channel_id) else None


async def speak_reply(app: Host, message: Any, text: str, *, language: str) -> bool:
    """Speak the answer to ``message`` in the voice channel its author listens in, once.

    Returns True when it was (or already had been) queued there; False when the author is not in
    the bot's voice channel, so the caller answers with text (or an attachment) only.
    """
    guild_id = getattr(message, "guild_id", None)
    author = getattr(message, "author", None)
    if author is None or listening_channel(app, guild_id, author.id) is None:
        return False
    if not _claim(app, int(message.id)):
        return True
    audio = await app.engines.tts.active().synthesize(text, language=language, guild_id=guild_id)
    await app.engines.voice.active().play(guild_id, audio.wav)
    return True
