"""Voice messages, answered end to end: an audio attachment is transcribed by the configured
speech-to-text engine, the transcript shown, answered by the conversation (``answer_text`` hook),
and the answer sent as text plus a spoken attachment — or spoken in the voice channel when the
user is in one where the voice backend is connected. Language: per user, else per server; it
also picks the engine (``[engines] stt``).
"""

from __future__ import annotations

import functools
import logging
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import hikari

from framework import hookimpl
from framework import sql as sa
from framework.audio import AudioTooLong, decode_pcm, loudness_dbfs, to_ogg_opus
from framework.bot_permissions import missing
from framework.commands import Context, File, UserError, group, split_message, string
from framework.errors import AudioError, SpeechError, UploadProblem, echo
from framework.progress import bounded
from framework.replies import reply
from framework.settings import Field
from framework.settings import Settings as SettingsModel
from framework.speech import STT_SAMPLE_RATE
from framework.storage import Migration, upsert
from framework.uploads import read_upload
from framework.voice import speak_reply

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterCommand, RegisterListener, RegisterMigration
    from framework.host import Host

log = logging.getLogger(__name__)
VOICE_MESSAGE_FLAG = 1 << 13
HEARD_LIMIT = 1500
"""Most characters of a transcript shown in the "I heard" line (the rest of the line fits beside it)."""
AUDIO_EXTENSIONS = {".ogg", ".oga", ".opus", ".wav", ".mp3", ".m4a", ".webm", ".flac", ".aac"}

metadata = sa.MetaData()
languages = sa.Table(
    "speech_languages", metadata,
    sa.Column("scope", sa.String(10), primary_key=True),   # "user" or "guild"
    sa.Column("target_id", sa.BigInteger, primary_key=True),
    sa.Column("language", sa.String(20), nullable=False),
)


class Settings(SettingsModel):
    default_language: str = "en"
    max_bytes: int = Field(8 * 1024 * 1024, gt=0)
    max_seconds: float = Field(120.0, gt=0)
    silence_dbfs: float = -50.0
    """Audio quieter than this on average is treated as silent."""
    phrases: list[str] = []
    """Optional grammar: recognise only these phrases (much more reliable for fixed commands)."""
    spoken_attachment: bool = True
    """Attach the spoken answer (OGG/Opus) when it is not played in a voice channel."""


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


@hookimpl
def register_migrations(register: RegisterMigration) -> None:
    register(Migration(1, "speech languages", metadata.create_all))


def is_audio(message: hikari.Message, attachment: hikari.Attachment) -> bool:
    if message.flags & VOICE_MESSAGE_FLAG:
        return True
    if attachment.media_type and attachment.media_type.startswith("audio/"):
        return True
    return PurePosixPath(attachment.filename.lower()).suffix in AUDIO_EXTENSIONS


async def language_for(app: Host, user_id: int, guild_id: int | None) -> str:
    async with app.storage.connect() as conn:
        rows = {(r.scope, r.target_id): r.language for r in await conn.execute(sa.select(languages).where(
            ((languages.c.scope == "user") & (languages.c.target_id == int(user_id)))
            | ((languages.c.scope == "guild") & (languages.c.target_id == int(guild_id or 0)))))}
    settings: Settings = app.settings("voice_messages")
    return rows.get(("user", int(user_id))) or rows.get(("guild", int(guild_id or 0))) or settings.default_language


async def _reply(app: Host, message: hikari.Message, text: str, files: list[File] | None = None) -> hikari.Message:
    """Answer the voice message; text over Discord's 2,000 characters goes out in parts, the spoken
    answer attached to the last. Returns the first part."""
    parts = split_message(text)
    first: hikari.Message | None = None
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if first is None:
            sent = await reply(app, message, part, attachments=(files or ()) if last else ())
        else:
            sent = await app.bot.rest.create_message(
                message.channel_id, part, attachments=[f.to_resource() for f in files or []] if last and files
                else hikari.UNDEFINED, user_mentions=False, role_mentions=False, mentions_everyone=False)
        first = first or sent
    assert first is not None
    return first


def _heard(text: str) -> str:
    """The transcript line, bounded: a long recording must not make it longer than one message."""
    return bounded(text, HEARD_LIMIT)


async def handle_voice_message(app: Host, message: hikari.Message, attachment: hikari.Attachment) -> None:
    settings: Settings = app.settings("voice_messages")
    if attachment.size > settings.max_bytes:
        await _reply(app, message, f"That audio file is {attachment.size / 1e6:.1f} MB; I accept up to "
                                   f"{settings.max_bytes / 1e6:.1f} MB.")
        return
    try:
        data = await read_upload(attachment, settings.max_bytes)
    except UploadProblem as exc:
        await _reply(app, message, str(exc))
        return
    try:  # stops decoding at the limit: a small file can hold hours of audio
        pcm = await app.run_blocking(functools.partial(decode_pcm, data, rate=STT_SAMPLE_RATE,
                                                       max_seconds=settings.max_seconds))
    except AudioTooLong:
        await _reply(app, message, f"That voice message is too long: I accept up to {settings.max_seconds:g} s.")
        return
    except AudioError as exc:
        log.info("undecodable audio %r from %s: %s", attachment.filename, message.author.id, exc)
        reason = "it is empty" if not data else "it is not audio I can decode"
        await _reply(app, message, f"I couldn't read `{echo(attachment.filename)}`: {reason}.")
        return
    if await app.run_blocking(loudness_dbfs, pcm) < settings.silence_dbfs:
        await _reply(app, message, "I couldn't hear anything in that message: it is silent.")
        return
    language = await language_for(app, message.author.id, message.guild_id)
    try:
        transcript = await app.engines.stt.for_language(language).transcribe(pcm, language=language,
                                                                            phrases=settings.phrases or None)
    except SpeechError as exc:
        await _reply(app, message, str(exc))
        return
    if not transcript.text:
        await _reply(app, message, "I heard something but couldn't make out any words.")
        return
    await _reply(app, message, f"🎙️ I heard: “{_heard(transcript.text)}” (confidence {transcript.confidence:.0%})")
    answer = await app.plugins.call("answer_text", scope=message.guild_id, app=app, message=message,
                                   text=transcript.text)
    if not answer:
        await _reply(app, message, "No conversation plugin is enabled to answer it.")
        return
    answer = str(answer)
    spoken = await _speak_in_voice(app, message, answer, language)
    files: list[File] = []
    may_attach = not missing(app, message.guild_id, message.channel_id, hikari.Permissions.ATTACH_FILES)
    if not spoken and settings.spoken_attachment and not may_attach:
        log.info("no Attach Files in channel %s: the answer to a voice message goes out as text only",
                 message.channel_id)
    if not spoken and settings.spoken_attachment and may_attach:
        try:
            audio = await app.engines.tts.active().synthesize(answer, language=language, guild_id=message.guild_id)
            files.append(File("answer.ogg", data=await app.run_blocking(to_ogg_opus, audio.wav)))
        except Exception:
            log.exception("text-to-speech of an answer failed")
    await _reply(app, message, answer, files)
    await app.plugins.call("reply_sent", scope=message.guild_id, app=app, message=message, text=answer)


async def _speak_in_voice(app: Host, message: hikari.Message, text: str, language: str) -> bool:
    """Play the answer where the user is listening, if a voice backend is connected there (once per
    message: the voice plugin's spoken replies skip an answer already spoken). A voice failure
    (speech engine, a full queue, the bot leaving meanwhile) must not cost the user the text answer."""
    try:
        return await speak_reply(app, message, text, language=language)
    except Exception:
        log.exception("speaking the answer in voice failed")
        return False


async def on_message(event: hikari.MessageCreateEvent, app: Host) -> None:
    message = event.message
    if message.author.is_bot or not message.attachments:
        return
    prefix = app.config.bot.prefix
    if message.content and message.content.startswith(prefix):
        return  # a command with an attachment: the command handles it
    for attachment in message.attachments:
        if is_audio(message, attachment):
            await handle_voice_message(app, message, attachment)
            return


@hookimpl
def register_listeners(register: RegisterListener) -> None:
    register(hikari.MessageCreateEvent, on_message, bots=False)  # never answers a bot, itself included


language_group = group("language", "Which language voice messages are in")


@language_group.command("set", "Set the speech language for you or this server", ephemeral=True, options=[
    string("code", "Language code, e.g. ko, en", min_length=2, max_length=20),
    string("scope", "For you, or for the whole server", default="user", choices=["user", "server"])])
async def language_set(ctx: Context, code: str, scope: str) -> None:
    code = code.strip().lower()
    available = ctx.app.engines.stt.languages()
    if code not in available:
        raise UserError(f"No speech model for `{echo(code)}`. Installed: {', '.join(available) or 'none'}. "
                        "An admin can add one with `trainerbot models download <name>`.")
    if scope == "server":
        if ctx.guild_id is None:
            raise UserError("`scope:server` works only in a server.")
        await ctx.app.permissions.require(ctx, "speech")
    target = ctx.server_id if scope == "server" else int(ctx.author.id)
    key = "guild" if scope == "server" else "user"
    async with ctx.app.storage.begin() as conn:
        await upsert(conn, languages, {"scope": key, "target_id": target, "language": code}, ["scope", "target_id"])
    whose = "in this server" if scope == "server" else "from you"
    await ctx.respond(f"Voice messages {whose} are now read as `{code}`.")


@language_group.command("show", "Show the speech language used for you", ephemeral=True)
async def language_show(ctx: Context) -> None:
    code = await language_for(ctx.app, ctx.author.id, ctx.guild_id)
    await ctx.respond(f"Your voice messages are read as `{code}`.")


@hookimpl
def register_commands(register: RegisterCommand) -> None:
    register(language_group)


def _user_language(user_id: int) -> Any:
    return (languages.c.scope == "user") & (languages.c.target_id == int(user_id))


@hookimpl
async def export_user_data(app: Host, user_id: int) -> dict[str, list[dict[str, Any]]]:
    """The user's own speech language (server-wide settings are not about one user)."""
    async with app.storage.connect() as conn:
        rows = (await conn.execute(sa.select(languages).where(_user_language(user_id)))).all()
    return {"speech_languages": [dict(r._mapping) for r in rows]}


@hookimpl
async def delete_user_data(app: Host, user_id: int) -> int:
    async with app.storage.begin() as conn:
        return (await conn.execute(languages.delete().where(_user_language(user_id)))).rowcount
