"""Voice channels: ``join`` (the caller's channel), ``leave``, ``say <text>`` (text-to-speech into
the channel), ``voice code`` (the call's end-to-end encryption codes), and spoken replies — a chat
or voice-message answer is also spoken when its author listened in the channel the bot is in as
the answer was sent (however late ``reply_sent`` reaches us); otherwise it stays text. The bot leaves after
``idle_timeout`` seconds of silence, and says so in the channel where it was called when it is
kicked or loses the connection.

Only the voice-backend interface (``framework.voice``, ``app.engines.voice.active()``) is used:
whichever backend ``[engines] voice`` names does the work.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import hikari

from framework import hookimpl
from framework.commands import Context, UserError, command, group, string
from framework.settings import Field
from framework.settings import Settings as SettingsModel
from framework.voice import (
    PlaybackEnded,
    PlaybackStarted,
    VoiceDisconnected,
    VoiceError,
    VoiceEvent,
    VoiceMoved,
    speak_reply,
)
from plugins.voice_listen.consent import listen as voice_listen_command

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterCommand
    from framework.host import Host

log = logging.getLogger(__name__)


class Settings(SettingsModel):
    idle_timeout: float = Field(300.0, ge=0)
    """Leave after this many seconds without speaking (0: never)."""
    language: str = "en"
    """Language of ``say`` (unless given) and of spoken chat replies."""
    spoken_replies: bool = True
    """Also speak conversational answers to users listening in the bot's voice channel."""
    max_say_length: int = Field(500, ge=1, le=2000)
    keep_audio: bool = False
    """Keep recordings of what the bot heard and answered in voice calls (``recordings/`` in the data
    root, covered by ``mydata``). Off: audio is recognised as it arrives and never stored."""


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


class _GuildVoice:
    """Per app: where to report, idle timers, and the backend we listen to."""

    def __init__(self, app: Host) -> None:
        self.app = app
        self.text_channels: dict[int, int] = {}
        self.timers: dict[int, asyncio.Task[None]] = {}
        self.moves: dict[int, tuple[int, int]] = {}
        """Guild -> (voice channel, text channel) to move to once the current speech ends."""
        self.tasks: set[asyncio.Task[None]] = set()
        self.subscribed: Any = None

    @property
    def settings(self) -> Settings:
        return self.app.settings("voice") or Settings()

    def backend(self) -> Any:
        backend = self.app.engines.voice.active()
        events = getattr(backend, "events", None)
        if events is not None and self.subscribed is not backend:
            events.subscribe(self.on_event)
            self.subscribed = backend
        return backend

    def arm(self, guild_id: int) -> None:
        self.disarm(guild_id)
        if self.settings.idle_timeout > 0:
            self.timers[guild_id] = asyncio.get_running_loop().create_task(self._idle(guild_id))

    def disarm(self, guild_id: int) -> None:
        timer = self.timers.pop(guild_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _idle(self, guild_id: int) -> None:
        timeout = self.settings.idle_timeout
        await asyncio.sleep(timeout)
        backend = self.backend()
        if backend.is_playing(guild_id) or not backend.is_connected(guild_id):
            return
        self.timers.pop(guild_id, None)
        name = _channel_name(self.app, backend.channel_of(guild_id))
        await backend.disconnect(guild_id)
        await self.report(guild_id, f"👋 I left {name} after {timeout:g} s of silence.")

    async def report(self, guild_id: int, text: str) -> None:
        """Say ``text`` where the bot was last called in this guild, once (the channel is forgotten)."""
        channel_id = self.text_channels.pop(guild_id, None)
        if channel_id is not None:
            await self._post(channel_id, text)

    async def _post(self, channel_id: int, text: str) -> None:
        try:
            await self.app.bot.rest.create_message(channel_id, text, user_mentions=False, role_mentions=False)
        except hikari.HikariError:
            log.warning("could not report a voice event in channel %s", channel_id, exc_info=True)

    async def on_event(self, event: VoiceEvent) -> None:
        if isinstance(event, PlaybackStarted):
            self.disarm(event.guild_id)
        elif isinstance(event, PlaybackEnded):
            if self.backend().is_playing(event.guild_id):
                return
            if event.guild_id in self.moves:
                task = asyncio.get_running_loop().create_task(self._move(event.guild_id))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            else:
                self.arm(event.guild_id)
        elif isinstance(event, VoiceMoved):
            log.info("moved to voice channel %s in guild %s", event.channel_id, event.guild_id)
        elif isinstance(event, VoiceDisconnected):
            self.disarm(event.guild_id)
            self.moves.pop(event.guild_id, None)  # a pending move dies with the connection (_move took its own)
            if not event.requested:
                await self.report(event.guild_id, f"🔇 {event.reason} Use `join` to bring me back.")

    async def _move(self, guild_id: int) -> None:
        """A ``join`` from another channel waited for the speech to end: move now."""
        channel_id, text_channel = self.moves.pop(guild_id)
        try:
            await self.backend().connect(guild_id, channel_id)
        except UserError as exc:
            self.text_channels.pop(guild_id, None)
            await self._post(text_channel, f"I couldn't move: {exc}")
            return
        self.text_channels[guild_id] = text_channel  # later voice events are told where the mover asked
        self.arm(guild_id)
        await self._post(text_channel, f"🔊 Moved to {_channel_name(self.app, channel_id)}.")

    def close(self) -> None:
        for task in [*self.timers.values(), *self.tasks]:
            task.cancel()
        self.timers.clear()
        events = getattr(self.subscribed, "events", None)
        if events is not None:
            events.unsubscribe(self.on_event)


def _state(app: Host) -> _GuildVoice:
    return app.state("voice", lambda: _GuildVoice(app))  # type: ignore[no-any-return]


def _channel_name(app: Host, channel_id: int | None) -> str:
    channel = app.bot.cache.get_guild_channel(channel_id) if channel_id else None
    return f"**{channel.name}**" if channel is not None and channel.name else "the voice channel"


# --------------------------------------------------------------------------- checks before joining

def bot_permissions(app: Host, guild_id: int, channel: hikari.GuildChannel) -> hikari.Permissions | None:
    """The bot's permissions in ``channel`` from the cache (None when the cache lacks something)."""
    cache, me = app.bot.cache, app.bot.get_me()
    guild = cache.get_guild(guild_id)
    member = cache.get_member(guild_id, me.id) if me else None
    if guild is None or member is None or me is None:
        return None
    if guild.owner_id == me.id:
        return hikari.Permissions.all_permissions()
    roles = cache.get_roles_view_for_guild(guild_id)
    everyone = roles.get(hikari.Snowflake(guild_id))
    perms = everyone.permissions if everyone else hikari.Permissions.NONE
    for role_id in member.role_ids:
        if role_id in roles:
            perms |= roles[role_id].permissions
    if perms & hikari.Permissions.ADMINISTRATOR:
        return hikari.Permissions.all_permissions()
    overwrites: dict[hikari.Snowflake, hikari.PermissionOverwrite] = getattr(channel, "permission_overwrites", {})
    if (ow := overwrites.get(hikari.Snowflake(guild_id))) is not None:
        perms = (perms & ~ow.deny) | ow.allow
    allow = deny = hikari.Permissions.NONE
    for role_id in member.role_ids:
        if (ow := overwrites.get(role_id)) is not None:
            allow, deny = allow | ow.allow, deny | ow.deny
    perms = (perms & ~deny) | allow
    if (ow := overwrites.get(me.id)) is not None:
        perms = (perms & ~ow.deny) | ow.allow
    return perms


def _check_can_join(app: Host, guild_id: int, channel: hikari.GuildChannel) -> None:
    perms = bot_permissions(app, guild_id, channel)
    name = f"**{channel.name}**"
    if perms is not None:
        if not perms & hikari.Permissions.CONNECT:
            raise UserError(f"I don't have permission to connect to {name}. Ask an admin to give me "
                            "**Connect** there.")
        if not perms & hikari.Permissions.SPEAK:
            raise UserError(f"I don't have permission to speak in {name}. Ask an admin to give me **Speak** there.")
    limit = getattr(channel, "user_limit", 0) or 0
    if limit:
        me = app.bot.get_me()
        inside = [s for s in app.bot.cache.get_voice_states_view_for_channel(guild_id, channel.id).values()
                  if me is None or s.user_id != me.id]
        may_exceed = perms is not None and perms & hikari.Permissions.MOVE_MEMBERS
        if len(inside) >= limit and not may_exceed:
            raise UserError(f"{name} is full ({len(inside)}/{limit}). Make room or raise its user limit.")


def _check_can_speak(app: Host, guild_id: int, channel_id: int | None) -> None:
    """Before playing into a call: Discord relays nothing from a member without SPEAK (its voice state says
    ``suppress``), so say so instead of playing into silence."""
    me = app.bot.get_me()
    state = app.bot.cache.get_voice_state(guild_id, me.id) if me is not None else None
    channel = app.bot.cache.get_guild_channel(channel_id) if channel_id else None
    perms = bot_permissions(app, guild_id, channel) if channel is not None else None
    if (state is not None and state.is_suppressed) or (perms is not None and not perms & hikari.Permissions.SPEAK):
        raise UserError(f"I don't have permission to speak in {_channel_name(app, channel_id)}. Ask an admin to "
                        "give me **Speak** there.")


def _caller_channel(ctx: Context) -> hikari.GuildChannel:
    state = ctx.app.bot.cache.get_voice_state(ctx.server_id, ctx.author.id)
    if state is None or state.channel_id is None:
        raise UserError(f"You're not in a voice channel. Join one, then run `{ctx.mention_command('join')}` again.")
    channel = ctx.app.bot.cache.get_guild_channel(state.channel_id)
    if channel is None:
        raise UserError("I can't see your voice channel. Check that I may view it.")
    return channel


async def _join_caller(ctx: Context) -> hikari.GuildChannel:
    state = _state(ctx.app)
    backend = state.backend()
    channel = _caller_channel(ctx)
    if not backend.is_connected(ctx.server_id, channel.id):
        _check_can_join(ctx.app, ctx.server_id, channel)
        await backend.connect(ctx.server_id, channel.id)
        state.arm(ctx.server_id)
    state.text_channels[ctx.server_id] = int(ctx.channel_id)
    return channel


# --------------------------------------------------------------------------- commands

@command("join", "Join your voice channel", guild_only=True)
async def join(ctx: Context) -> None:
    state = _state(ctx.app)
    backend = state.backend()
    channel = _caller_channel(ctx)
    if backend.is_connected(ctx.server_id, channel.id):
        await ctx.respond(f"I'm already in **{channel.name}**.", ephemeral=True)
        return
    if backend.is_connected(ctx.server_id) and backend.is_playing(ctx.server_id):
        _check_can_join(ctx.app, ctx.server_id, channel)
        state.moves[ctx.server_id] = (int(channel.id), int(ctx.channel_id))
        await ctx.respond(f"🔊 I'm speaking in {_channel_name(ctx.app, backend.channel_of(ctx.server_id))}; "
                          f"I'll move to **{channel.name}** when I'm done.")
        return
    await _join_caller(ctx)
    await ctx.respond(f"🔊 Joined **{channel.name}**. `{ctx.mention_command('say')}` speaks there; "
                      f"`{ctx.mention_command('leave')}` makes me leave.")


@command("leave", "Leave the voice channel", guild_only=True)
async def leave(ctx: Context) -> None:
    state = _state(ctx.app)
    backend = state.backend()
    if not backend.is_connected(ctx.server_id):
        raise UserError("I'm not in a voice channel in this server.")
    name = _channel_name(ctx.app, backend.channel_of(ctx.server_id))
    state.disarm(ctx.server_id)
    state.text_channels.pop(ctx.server_id, None)
    await backend.disconnect(ctx.server_id)
    await ctx.respond(f"👋 Left {name}.")


@command("say", "Speak text in the voice channel", guild_only=True, options=[
    string("text", "What to say", min_length=1, max_length=2000),
    string("language", "Language of the text, e.g. en, ko", default=None, min_length=2, max_length=20,
           named_only=True)])
async def say(ctx: Context, text: str, language: str | None) -> None:
    settings: Settings = ctx.settings  # type: ignore[assignment]
    if len(text) > settings.max_say_length:
        raise UserError(f"That is {len(text)} characters; I say up to {settings.max_say_length} at a time.")
    state = _state(ctx.app)
    backend = state.backend()
    if backend.is_connected(ctx.server_id):
        channel_id = backend.channel_of(ctx.server_id)
        _check_can_speak(ctx.app, ctx.server_id, channel_id)
    else:
        channel_id = (await _join_caller(ctx)).id
    audio = await ctx.app.engines.tts.active().synthesize(text, language=language or settings.language,
                                                          guild_id=ctx.server_id)
    playback = await backend.play(ctx.server_id, audio.wav)
    name = _channel_name(ctx.app, channel_id)
    ahead = getattr(playback, "position", 0)
    if ahead:
        await ctx.respond(f"🔊 Queued in {name} after {ahead} other clip{'s' if ahead > 1 else ''}.")
    else:
        await ctx.respond(f"🔊 Saying it in {name}.")


voice_group = group("voice", "The voice call", guild_only=True)


def _grouped(code: str) -> str:
    """Digits in groups of five, as Discord clients show them."""
    return " ".join(code[i:i + 5] for i in range(0, len(code), 5))


@voice_group.command("code", "Show the call's end-to-end encryption codes, to compare with your Discord client")
async def voice_code(ctx: Context) -> None:
    backend = _state(ctx.app).backend()
    if not backend.is_connected(ctx.server_id):
        raise UserError("I'm not in a voice channel in this server.")
    privacy = await backend.privacy(ctx.server_id, ctx.author.id)
    if privacy is None:
        raise UserError("I'm not in a voice channel in this server.")
    name = _channel_name(ctx.app, backend.channel_of(ctx.server_id))
    if not privacy.e2ee:
        await ctx.respond(f"🔓 The call in {name} is not end-to-end encrypted right now (someone in it has no "
                          "DAVE support), so there is no privacy code.", ephemeral=True)
        return
    if privacy.code is None:
        raise UserError(f"The end-to-end encryption of the call in {name} is still being set up. Try again in a "
                        "moment.")
    lines = [f"🔒 The call in {name} is end-to-end encrypted. Voice privacy code: `{_grouped(privacy.code)}`",
             "It must match the code your Discord client shows for the call."]
    if privacy.verification:
        lines.append(f"Your verification code with me: `{_grouped(privacy.verification)}`")
    await ctx.respond("\n".join(lines), ephemeral=True)


voice_group.add(voice_listen_command)  # ``voice listen``: the voice_listen plugin's (see plugins/voice_listen)


@hookimpl
def register_commands(register: RegisterCommand) -> None:
    for cmd in (join, leave, say, voice_group):
        register(cmd)


# --------------------------------------------------------------------------- spoken replies and lifecycle

@hookimpl
async def reply_sent(app: Host, message: Any, text: str) -> None:
    """Speak a conversational answer to its author when they listened in the bot's voice channel as it
    was sent (the sender's ``note_listening``; a sender that noted nothing: now)."""
    settings: Settings = app.settings("voice") or Settings()
    if message is None or not settings.spoken_replies or not text.strip():
        return
    try:
        _state(app).backend()
        await speak_reply(app, message, text, language=settings.language)
    except (UserError, VoiceError) as exc:
        log.info("spoken reply skipped: %s", exc)
    except Exception:
        log.exception("speaking a reply in voice failed")


@hookimpl
def startup(app: Host) -> None:
    _state(app)


@hookimpl
def shutdown(app: Host) -> None:
    state = app.drop_state("voice")
    if state is not None:
        state.close()
