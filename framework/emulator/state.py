"""The emulated world's objects — users, roles, members, channels, guilds, attachments, messages,
interactions — and the wire shape Discord gives each (``payload()``).

They are plain records: the emulator's parts change them, tests read them. Kept apart from the
servers so a reader of a test finds what ``emu.guilds`` or ``reply.ephemeral`` holds in one place.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.emulator.world import World

DISCORD_EPOCH_MS = 1_420_070_400_000
ALL_PERMISSIONS = str((1 << 50) - 1)
EPHEMERAL = 1 << 6
OPTION_TYPES = {"subcommand": 1, "group": 2, "string": 3, "integer": 4, "boolean": 5, "user": 6, "channel": 7,
                "role": 8, "mentionable": 9, "number": 10, "attachment": 11}


def make_token(bot_id: int) -> str:
    """A token shaped like Discord's: base64 of the bot id, then two dot-separated parts."""
    head = base64.b64encode(str(bot_id).encode()).decode().rstrip("=")
    return f"{head}.{secrets.token_urlsafe(5)}.{secrets.token_urlsafe(27)}"


def iso_time(ts: float | None = None) -> str:
    """An ISO 8601 UTC timestamp as Discord writes them (now when ``ts`` is not given)."""
    return datetime.datetime.fromtimestamp(ts or time.time(), datetime.UTC).isoformat()


@dataclasses.dataclass(eq=False)
class User:
    id: int
    username: str
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "username": self.username, "discriminator": "0", "global_name": None,
                "avatar": None, "bot": self.bot, "system": False, "public_flags": 0, "flags": 0,
                "banner": None, "accent_color": None}


@dataclasses.dataclass(eq=False)
class Role:
    id: int
    guild_id: int
    name: str
    position: int = 1
    permissions: str = "0"

    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "name": self.name, "color": 0, "hoist": False, "icon": None,
                "unicode_emoji": None, "position": self.position, "permissions": self.permissions,
                "managed": False, "mentionable": False, "flags": 0}


@dataclasses.dataclass(eq=False)
class Member:
    user: User
    guild_id: int
    roles: list[Role] = dataclasses.field(default_factory=list)
    joined_at: str = dataclasses.field(default_factory=iso_time)

    def payload(self, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"nick": None, "avatar": None, "banner": None, "roles": [str(r.id) for r in self.roles],
                "joined_at": self.joined_at, "premium_since": None, "deaf": False, "mute": False, "flags": 0,
                "pending": False, "communication_disabled_until": None}
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclasses.dataclass(eq=False)
class Channel:
    id: int
    name: str
    kind: str = "text"
    """``text``, ``voice`` or ``dm``."""
    guild_id: int | None = None
    recipient: User | None = None
    position: int = 0
    user_limit: int = 0
    overwrites: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """Permission overwrites as Discord sends them: ``{"id", "type" (0 role, 1 member), "allow", "deny"}``."""

    def payload(self) -> dict[str, Any]:
        if self.kind == "dm":
            assert self.recipient is not None
            return {"id": str(self.id), "type": 1, "recipients": [self.recipient.payload()], "last_message_id": None}
        data: dict[str, Any] = {"id": str(self.id), "type": 0 if self.kind == "text" else 2,
                                "guild_id": str(self.guild_id), "name": self.name, "position": self.position,
                                "permission_overwrites": self.overwrites, "nsfw": False, "parent_id": None,
                                "rate_limit_per_user": 0, "flags": 0, "last_message_id": None}
        if self.kind == "text":
            data.update(topic=None, last_pin_timestamp=None)
        else:
            data.update(bitrate=64000, user_limit=self.user_limit, rtc_region=None, video_quality_mode=1)
        return data


@dataclasses.dataclass(eq=False)
class Guild:
    id: int
    name: str
    owner_id: int
    channels: list[Channel] = dataclasses.field(default_factory=list)
    members: dict[int, Member] = dataclasses.field(default_factory=dict)
    roles: list[Role] = dataclasses.field(default_factory=list)
    voice_states: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    upload_limit: int = 10 * 1024 * 1024
    """Bytes per uploaded file (docs: reference#uploading-files, 10 MiB; boosts raise it): set it to model a boost."""

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id), "name": self.name, "icon": None, "icon_hash": None, "splash": None,
            "discovery_splash": None, "owner_id": str(self.owner_id), "afk_channel_id": None, "afk_timeout": 300,
            "widget_enabled": False, "verification_level": 0, "default_message_notifications": 0,
            "explicit_content_filter": 0, "roles": [r.payload() for r in self.roles], "emojis": [], "features": [],
            "mfa_level": 0, "application_id": None, "system_channel_id": None, "system_channel_flags": 0,
            "rules_channel_id": None, "max_presences": None, "max_members": 250000, "vanity_url_code": None,
            "description": None, "banner": None, "premium_tier": 0, "premium_subscription_count": 0,
            "preferred_locale": "en-US", "public_updates_channel_id": None, "max_video_channel_users": 25,
            "nsfw_level": 0, "stickers": [], "premium_progress_bar_enabled": False,
            "safety_alerts_channel_id": None, "joined_at": iso_time(), "large": False, "unavailable": False,
            "member_count": len(self.members), "voice_states": list(self.voice_states.values()),
            "members": [m.payload() for m in self.members.values()],
            "channels": [c.payload() for c in self.channels], "threads": [], "presences": [],
            "stage_instances": [], "guild_scheduled_events": [],
        }


@dataclasses.dataclass(eq=False)
class Attachment:
    id: int
    filename: str
    data: bytes
    content_type: str | None
    url: str = ""
    duration_secs: float | None = None
    waveform: str | None = None

    def payload(self) -> dict[str, Any]:
        data = {"id": str(self.id), "filename": self.filename, "size": len(self.data), "url": self.url,
                "proxy_url": self.url, "content_type": self.content_type, "ephemeral": False, "flags": 0}
        if self.duration_secs is not None:
            data.update(duration_secs=self.duration_secs, waveform=self.waveform or "")
        return data


@dataclasses.dataclass
class FileSpec:
    """A file a test user attaches (``emu.file(name, data, content_type)``)."""

    filename: str
    data: bytes
    content_type: str | None = None
    duration_secs: float | None = None


@dataclasses.dataclass(eq=False)
class Message:
    """A message in a channel: sent by a user (injected) or by the bot (recorded)."""

    id: int
    channel_id: int
    guild_id: int | None
    author: User
    content: str
    attachments: list[Attachment] = dataclasses.field(default_factory=list)
    embeds: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    flags: int = 0
    reference: int | None = None
    interaction_id: int | None = None
    placeholder: bool = False
    """A deferred interaction response that has not been edited yet ("thinking…")."""
    deleted: bool = False
    edits: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """Earlier versions (content, attachments, embeds) of an edited message, oldest first."""
    timestamp: float = dataclasses.field(default_factory=time.time)
    edited_at: float | None = None
    reactions: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    mention_users: list[int] | None = None
    """Whom the message mentions (``allowed_mentions`` applied); None: every ``<@id>`` of the content."""
    mention_roles: list[int] | None = None
    mention_everyone: bool | None = None
    components: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """The message's components (rows of buttons and selects), as the bot sent them."""

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def from_bot(self) -> bool:
        return self.author.bot


SentMessage = Message


@dataclasses.dataclass(eq=False)
class Interaction:
    id: int
    token: str
    channel: Channel
    user: User
    kind: int
    data: dict[str, Any]
    messages: list[Message] = dataclasses.field(default_factory=list)
    callbacks: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    message: Message | None = None
    """The message whose component was used (a component interaction, or a modal opened from one)."""
    emulator: World | None = None
    """The emulator it belongs to, for ``wait_response``/``wait_callback``."""
    created_at: float = 0.0
    """When it was sent to the bot, on the emulator's clock (``world.now()``): the 3-second deadline
    and the 15-minute token lifetime count from here."""

    @property
    def responses(self) -> list[Message]:
        return [m for m in self.messages if not m.placeholder and not m.deleted]

    @property
    def followups(self) -> list[Message]:
        return [m for m in self.messages[1:] if not m.deleted]

    @property
    def ephemeral(self) -> bool:
        return bool(self.responses and self.responses[0].ephemeral)

    async def wait_response(self, timeout: float = 10.0) -> Message:
        """The first visible response: the original (when answered or edited after a deferral)
        or the first followup."""
        assert self.emulator is not None
        response: Message = await self.emulator.wait_until(lambda: self.responses[0] if self.responses else None,
                                                           timeout, what=f"a response to interaction {self.id}")
        return response

    async def wait_callback(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.emulator is not None
        callback: dict[str, Any] = await self.emulator.wait_until(
            lambda: self.callbacks[0] if self.callbacks else None, timeout, what=f"a callback to interaction {self.id}")
        return callback


@dataclasses.dataclass
class RecordedRequest:
    method: str
    path: str
    json: Any
    status: int
    timestamp: float


@dataclasses.dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    retry_after: float
    count: int
