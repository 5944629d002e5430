"""Chat: the active model answers mentions, DMs and the channels a server switched on (not every
message by default), with per-channel memory and a per-server system instruction. Every answer is
recorded with the prompt that produced it — corrections and feedback refer to it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import hikari

from framework import hookimpl
from framework import sql as sa
from framework.commands import Context, UserError, group, split_message, string
from framework.engines import EngineUnavailable
from framework.errors import ProviderError
from framework.providers import active_model
from framework.replies import reply
from framework.settings import Field
from framework.settings import Settings as SettingsModel
from framework.storage import Migration, as_record, upsert
from framework.voice import note_listening

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterCommand, RegisterListener, RegisterMigration
    from framework.host import Host

log = logging.getLogger(__name__)

metadata = sa.MetaData()
turns = sa.Table(
    "chat_turns", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("user_id", sa.BigInteger),
    sa.Column("role", sa.String(10), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
)
answers = sa.Table(
    "bot_answers", metadata,
    sa.Column("message_id", sa.BigInteger, primary_key=True),
    sa.Column("channel_id", sa.BigInteger, nullable=False),
    sa.Column("guild_id", sa.BigInteger),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("provider", sa.String(50), nullable=False),
    sa.Column("model_id", sa.String(300)),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
)
guild_settings = sa.Table(
    "chat_guilds", metadata,
    sa.Column("guild_id", sa.BigInteger, primary_key=True),
    sa.Column("instruction", sa.Text),
)
channels = sa.Table(
    "chat_channels", metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    sa.Column("guild_id", sa.BigInteger, nullable=False),
)


class Settings(SettingsModel):
    answer_mentions: bool = True
    answer_dms: bool = True
    memory_turns: int = Field(6, ge=0, le=50)
    """How many earlier messages (user and bot) of the channel the model sees."""
    instruction: str = "You are trainerbot, a helpful assistant for a team that trains models."


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


@hookimpl
def register_migrations(register: RegisterMigration) -> None:
    register(Migration(1, "chat memory, answers, channels", metadata.create_all))


async def _instruction(app: Host, guild_id: int | None) -> str:
    if guild_id is not None:
        async with app.storage.connect() as conn:
            row = (await conn.execute(sa.select(guild_settings.c.instruction).where(
                guild_settings.c.guild_id == int(guild_id)))).scalar()
        if row:
            return row
    return app.settings("chat").instruction


async def produce_answer(app: Host, channel_id: int, guild_id: int | None, user_id: int,
                         text: str) -> tuple[str, str, str | None]:
    """Ask the active model; returns (answer, provider, model_id). Raises UserError with a short reason."""
    settings: Settings = app.settings("chat")
    active = await active_model(app)
    provider_name = active.provider if active else app.config.provider
    async with app.storage.connect() as conn:
        history = (await conn.execute(sa.select(turns.c.role, turns.c.content)
                                      .where(turns.c.channel_id == int(channel_id))
                                      .order_by(turns.c.id.desc()).limit(settings.memory_turns))).all()
    messages = [{"role": "system", "content": await _instruction(app, guild_id)}]
    messages += [{"role": r.role, "content": r.content} for r in reversed(history)]
    messages.append({"role": "user", "content": text})
    try:
        provider = app.engines.providers.get(provider_name)
        answer = (await provider.chat(active.model_id if active else None, messages)).strip()
    except (ProviderError, EngineUnavailable) as exc:
        log.warning("chat answer failed: %s", exc)
        raise UserError(f"Sorry, I can't answer right now: {exc}") from None
    if not answer:
        raise UserError("Sorry, the model returned an empty answer.")
    async with app.storage.begin() as conn:
        await conn.execute(turns.insert(), [
            {"channel_id": int(channel_id), "user_id": int(user_id), "role": "user", "content": text},
            {"channel_id": int(channel_id), "user_id": None, "role": "assistant", "content": answer}])
    return answer, provider_name, active.model_id if active else None


async def record_answer(app: Host, sent: hikari.Message, asker: int, prompt: str, answer: str, provider: str,
                        model_id: str | None) -> None:
    async with app.storage.begin() as conn:
        await conn.execute(answers.insert().values(message_id=int(sent.id), channel_id=int(sent.channel_id),
                                                   guild_id=int(sent.guild_id) if sent.guild_id else None,
                                                   user_id=int(asker), prompt=prompt, answer=answer,
                                                   provider=provider, model_id=model_id))


async def _wanted(app: Host, message: hikari.Message) -> bool:
    settings: Settings = app.settings("chat")
    me = app.bot.get_me()
    if message.guild_id is None:
        return settings.answer_dms
    if settings.answer_mentions and me is not None and me.id in (message.user_mentions_ids or ()):
        return True
    async with app.storage.connect() as conn:
        return (await conn.execute(sa.select(channels.c.channel_id).where(
            channels.c.channel_id == int(message.channel_id)))).first() is not None


async def on_message(event: hikari.MessageCreateEvent, app: Host) -> None:
    message = event.message
    if message.author.is_bot or not message.content or message.content.startswith(app.config.bot.prefix):
        return
    if not await _wanted(app, message):
        return
    me = app.bot.get_me()
    text = message.content.replace(f"<@{me.id}>", "").replace(f"<@!{me.id}>", "").strip() if me else message.content
    if not text:
        return
    try:
        answer, provider, model_id = await produce_answer(app, message.channel_id, message.guild_id,
                                                          message.author.id, text)
    except UserError as exc:
        await reply(app, message, str(exc))
        return
    note_listening(app, message)  # spoken replies go to whoever listens now, however late reply_sent runs
    for part in split_message(answer):
        sent = await reply(app, message, part)
        await record_answer(app, sent, message.author.id, text, answer, provider, model_id)
    await app.plugins.call("reply_sent", scope=message.guild_id, app=app, message=message, text=answer)


@hookimpl
def register_listeners(register: RegisterListener) -> None:
    register(hikari.MessageCreateEvent, on_message, bots=False)  # never answers a bot, itself included


@hookimpl
async def answer_text(app: Host, message: Any, text: str) -> str | None:
    """Voice messages and other plugins get the same conversation (memory, instruction, model)."""
    try:
        answer, _, _ = await produce_answer(app, message.channel_id, message.guild_id, message.author.id, text)
    except UserError as exc:
        return str(exc)
    return answer


chat_group = group("chat", "Where and how the bot chats", permission="chat", guild_only=True)


@chat_group.command("here", "Answer every message in this channel (on) or only mentions (off)",
                    options=[string("mode", "on or off", choices=["on", "off"])])
async def chat_here(ctx: Context, mode: str) -> None:
    async with ctx.app.storage.begin() as conn:
        if mode == "on":  # one statement each way: concurrent switches never collide on PostgreSQL
            await upsert(conn, channels, {"channel_id": int(ctx.channel_id), "guild_id": ctx.server_id}, ["channel_id"])
        else:
            await conn.execute(channels.delete().where(channels.c.channel_id == int(ctx.channel_id)))
    await ctx.respond("I'll answer every message in this channel." if mode == "on"
                      else "In this channel I'll answer only when mentioned.")


@chat_group.command("instruction", "Set this server's system instruction (empty: the default)",
                    options=[string("text", "The instruction", default="", max_length=2000)])
async def chat_instruction(ctx: Context, text: str) -> None:
    async with ctx.app.storage.begin() as conn:
        if text.strip():
            await upsert(conn, guild_settings, {"guild_id": ctx.server_id, "instruction": text.strip()}, ["guild_id"])
        else:
            await conn.execute(guild_settings.delete().where(guild_settings.c.guild_id == ctx.server_id))
    await ctx.respond("System instruction updated." if text.strip() else "System instruction reset to the default.")


@hookimpl
def register_commands(register: RegisterCommand) -> None:
    register(chat_group)


@hookimpl
async def bot_answer(app: Host, message_id: int) -> dict[str, Any] | None:
    """What a recorded answer message answered (corrections and feedback refer to it)."""
    async with app.storage.connect() as conn:
        row = (await conn.execute(sa.select(answers).where(answers.c.message_id == int(message_id)))).first()
    if row is None:
        return None
    return {"prompt": row.prompt, "answer": row.answer, "instruction": await _instruction(app, row.guild_id),
            "user_id": row.user_id, "channel_id": row.channel_id, "guild_id": row.guild_id}


async def _user_turn_ids(conn: Any, user_id: int) -> tuple[list[int], list[int]]:
    """The user's chat turns, and the assistant turns written right after them (their answers)."""
    mine = [r.id for r in await conn.execute(sa.select(turns.c.id).where(turns.c.user_id == int(user_id)))]
    following = [r.id for r in await conn.execute(sa.select(turns.c.id).where(
        turns.c.id.in_([i + 1 for i in mine]) & (turns.c.role == "assistant")))] if mine else []
    return mine, following


@hookimpl
async def export_user_data(app: Host, user_id: int) -> dict[str, list[dict[str, Any]]]:
    async with app.storage.connect() as conn:
        mine, following = await _user_turn_ids(conn, user_id)
        memory = (await conn.execute(sa.select(turns).where(turns.c.id.in_(mine + following))
                                     .order_by(turns.c.id))).all()
        asked = (await conn.execute(sa.select(answers).where(answers.c.user_id == int(user_id))
                                    .order_by(answers.c.message_id))).all()
    return {"chat_turns": [as_record(r) for r in memory], "bot_answers": [as_record(r) for r in asked]}


@hookimpl
async def delete_user_data(app: Host, user_id: int) -> int:
    """The user's messages in chat memory with the answers to them, and the recorded answers they asked for."""
    theirs = sa.select(turns.c.id).where(turns.c.user_id == int(user_id))
    async with app.storage.begin() as conn:  # statements that write first: no stale read under SQLite
        removed = (await conn.execute(answers.delete().where(answers.c.user_id == int(user_id)))).rowcount
        removed += (await conn.execute(turns.delete().where(
            (turns.c.role == "assistant") & (turns.c.id - 1).in_(theirs)))).rowcount  # the answers to them
        removed += (await conn.execute(turns.delete().where(turns.c.user_id == int(user_id)))).rowcount
    return removed
