"""Corrections: a user tells the bot what one of its chat answers should have been — by
``correct <message_id> <text>``, by replying ``!correct <text>`` to the answer, or from the
answer's menu (Apps → Correct this answer, a form). All three store the same record: the prompt,
the bot's answer and the correction. Every training job gets them (``training_corrections``):
supervised (prompt → correction) and, where the provider can, as preference pairs (OpenAI DPO).

Corrections are about the chat model, not one dataset, so they join every job. A user's newer
correction of the same answer replaces theirs. Anyone who can see an answer may correct it (one in
a DM only there; see :mod:`framework.visibility`); seeing, exporting and removing other people's
corrections needs the ``feedback`` permission group (owners always), and a listing never shows a
correction whose answer the viewer could not see there.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import hikari

from framework import hookimpl
from framework import sql as sa
from framework.commands import (
    Context,
    TextField,
    UserError,
    command,
    group,
    integer,
    message_command,
    parse_message_id,
    string,
    user,
)
from framework.importers import to_jsonl
from framework.providers import Correction, active_model, learns_from
from framework.settings import Field
from framework.settings import Settings as SettingsModel
from framework.storage import Migration, as_record, inserted_id, lock
from framework.uploads import fitted
from framework.visibility import Audience, Place, require_may_act

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterCommand, RegisterMigration
    from framework.host import Host

log = logging.getLogger(__name__)

MAX_CORRECTION = 2000
"""A correction is an answer the bot should give: at most one Discord message."""

metadata = sa.MetaData()
corrections = sa.Table(
    "corrections", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("message_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("channel_id", sa.BigInteger),
    sa.Column("guild_id", sa.BigInteger),
    sa.Column("author_id", sa.BigInteger, nullable=False, index=True),  # who corrected
    sa.Column("asker_id", sa.BigInteger, index=True),  # who asked (the prompt is their text)
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("correction", sa.Text, nullable=False),
    sa.Column("instruction", sa.Text, nullable=False, server_default=""),
    sa.Column("source", sa.String(10), nullable=False),  # command, reply or menu
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
    sa.UniqueConstraint("message_id", "author_id"),
    sqlite_autoincrement=True,  # a removed correction's number is never reused
)


class Settings(SettingsModel):
    train_on_corrections: bool = True
    """Add corrections to every training job (supervised, and as preference pairs where supported)."""
    list_limit: int = Field(15, ge=1, le=50)


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


@hookimpl
def register_migrations(register: RegisterMigration) -> None:
    register(Migration(1, "corrections of bot answers", metadata.create_all))


# ----------------------------------------------------------------------------- storing


async def answer_of(app: Host, message_id: int, scope: int | None) -> dict[str, Any]:
    found = await app.plugins.call("bot_answer", scope=scope, app=app, message_id=int(message_id))
    if found is None:
        raise UserError(f"Message {message_id} is not one of my chat answers; only those can be corrected.")
    return found


def clean_correction(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise UserError("The correction is empty: write the answer I should have given.")
    if len(text) > MAX_CORRECTION:
        raise UserError(f"The correction is {len(text)} characters long; at most {MAX_CORRECTION} fit.")
    return text


async def store(ctx: Context, message_id: int, text: str, source: str, found: dict[str, Any] | None = None) -> int:
    """Save (or replace this user's) correction of one answer; returns its id."""
    text = clean_correction(text)
    found = found or await answer_of(ctx.app, message_id, ctx.guild_id)
    await require_may_act(ctx, found, "it can be corrected")
    if text == found["answer"].strip():
        raise UserError("That is exactly what I answered; a correction should differ.")
    values = {"message_id": int(message_id), "channel_id": found.get("channel_id"), "guild_id": found.get("guild_id"),
              "author_id": int(ctx.author.id), "asker_id": found.get("user_id"), "prompt": found["prompt"],
              "answer": found["answer"], "correction": text, "instruction": found.get("instruction") or "",
              "source": source}
    mine = (corrections.c.message_id == int(message_id)) & (corrections.c.author_id == int(ctx.author.id))
    async with ctx.app.storage.begin() as conn:  # writing first: SQLite locks at once, no stale read
        await lock(conn, f"correction:{int(message_id)}:{int(ctx.author.id)}")  # PostgreSQL: one writer of the pair
        updated = await conn.execute(corrections.update().where(mine)
                                     .values(**values, created_at=sa.func.current_timestamp()))
        if updated.rowcount:
            existing = (await conn.execute(sa.select(corrections.c.id).where(mine))).scalar()
        else:
            existing = inserted_id(await conn.execute(corrections.insert().values(**values)))
    log.info("correction of message %s by %s (%s)", message_id, ctx.author.id, source)
    return int(existing or 0)


async def _saved(ctx: Context, correction_id: int, text: str) -> str:
    """The thanks, and the truth about who learns from it: the active model's provider (else the
    configured one) is asked through the provider interface (``LearnsCorrections``)."""
    saved = f"Thanks! Correction #{correction_id} saved"
    if not ctx.settings.train_on_corrections:
        return f"{saved}. Training jobs do not use corrections here (`[plugins.corrections] train_on_corrections`)."
    active = await active_model(ctx.app)
    name = active.provider if active is not None else ctx.app.config.provider
    labels: tuple[str, ...] = active.labels if active is not None else tuple(
        getattr(ctx.app.settings("training"), "labels", None) or ())
    try:
        provider = ctx.app.engines.providers.get(name)
    except UserError:
        return f"{saved}; the model provider `{name}` is not available now, so I can't tell whether it learns from it."
    found = learns_from(provider, Correction("", "", text), labels)
    if found is None:
        return f"{saved}; the next training job is given it (the `{name}` provider does not say whether it learns " \
               "from corrections)."
    if found:
        return f"{saved}; the next training job with the `{name}` provider learns from it."
    shown = f" (the labels: {', '.join(labels)})" if labels else ""
    return (f"{saved}, but the `{name}` provider cannot learn from this correction{shown}; it is kept for a "
            "provider that can, and `corrections export` has it.")


# ----------------------------------------------------------------------------- commands


@command("correct", "Tell the bot what one of its answers should have been", ephemeral=True, options=[
    string("message_id", "The answer's message id or link (as a reply: the message replied to)", from_reply=True),
    string("correction", "The answer the bot should have given (for the local classifier: a label)",
           max_length=MAX_CORRECTION),
])
async def correct(ctx: Context, message_id: str, correction: str) -> None:
    source = "reply" if ctx.message is not None and ctx.message.message_reference is not None else "command"
    correction_id = await store(ctx, parse_message_id(message_id), correction, source)
    await ctx.respond(await _saved(ctx, correction_id, correction), ephemeral=True)


@message_command("Correct this answer", "Correct one of the bot's answers in a form", ephemeral=True)
async def correct_this(ctx: Context, message: hikari.Message) -> None:
    found = await answer_of(ctx.app, message.id, ctx.guild_id)  # refuse before showing the form
    await require_may_act(ctx, found, "it can be corrected")
    values = await ctx.ask("Correct this answer", [
        TextField("correction", "What should I have answered?", paragraph=True, max_length=MAX_CORRECTION,
                  placeholder=found["answer"][:100])])
    if values is None:
        return
    correction_id = await store(ctx, message.id, values["correction"], "menu", found)
    await ctx.respond(await _saved(ctx, correction_id, values["correction"]), ephemeral=True)


async def may_see_all(ctx: Context) -> bool:
    return await ctx.app.permissions.holds(ctx, "feedback")


corrections_group = group("corrections", "Corrections of the bot's answers")


def _places(row: Any) -> list[Place]:
    """A correction holds the text of its answer's place (the prompt, the answer)."""
    return [(row.guild_id, row.channel_id, (row.author_id, row.asker_id))]


@corrections_group.command("list", "Recent corrections (everyone's with the feedback permission)", ephemeral=True,
                           options=[user("author", "Only this user's corrections", default=None)])
async def corrections_list(ctx: Context, author: hikari.User | None) -> None:
    query = sa.select(corrections).order_by(corrections.c.id.desc())
    if not await may_see_all(ctx):
        if author is not None and author.id != ctx.author.id:
            raise UserError("Seeing other people's corrections needs the `feedback` permission.")
        author = ctx.author
    if author is not None:
        query = query.where(corrections.c.author_id == int(author.id))
    audience = Audience(ctx)
    rows = await audience.rows(query, _places, ctx.settings.list_limit)
    if not rows:
        await ctx.respond("No corrections yet." + audience.note(), ephemeral=True)
        return
    names = {a: await ctx.user_name(a) for a in {int(r.author_id) for r in rows}}
    await ctx.respond("\n".join(f"#{r.id} {names[int(r.author_id)]} on `{r.message_id}`: “{r.prompt[:60]}” — "
                                f"~~{r.answer[:60]}~~ → {r.correction[:100]}" for r in rows) + audience.note(),
                      ephemeral=True)


@corrections_group.command("export", "Corrections as JSONL (everyone's with the feedback permission)", ephemeral=True,
                           bot_permissions=hikari.Permissions.ATTACH_FILES)
async def corrections_export(ctx: Context) -> None:
    query = sa.select(corrections).order_by(corrections.c.id)
    if not await may_see_all(ctx):
        query = query.where(corrections.c.author_id == int(ctx.author.id))
    audience = Audience(ctx)
    rows = await audience.rows(query, _places)
    data = await ctx.run_blocking(to_jsonl, [as_record(r) for r in rows])
    export = await fitted(ctx, "corrections.jsonl", data, what="The export")
    await ctx.respond(f"{len(rows)} correction(s).{audience.note()}", attachments=[export], ephemeral=True)


@corrections_group.command("remove", "Delete a correction (others' need the feedback permission)", ephemeral=True,
                           options=[integer("id", "Correction number from `corrections list`", min_value=1)])
async def corrections_remove(ctx: Context, id: int) -> None:
    async with ctx.app.storage.connect() as conn:
        row = (await conn.execute(sa.select(corrections).where(corrections.c.id == id))).first()
    if row is None:
        raise UserError(f"No correction #{id}.")
    if row.author_id != ctx.author.id and not await may_see_all(ctx):
        raise UserError(f"Correction #{id} is someone else's; removing it needs the `feedback` permission.")
    async with ctx.app.storage.begin() as conn:
        await conn.execute(corrections.delete().where(corrections.c.id == id))
    await ctx.respond(f"Removed correction #{id}.", ephemeral=True)


@hookimpl
def register_commands(register: RegisterCommand) -> None:
    for target in (correct, correct_this, corrections_group):
        register(target)


# ----------------------------------------------------------------------------- hooks


@hookimpl
async def training_corrections(app: Host, dataset: str) -> list[Correction]:
    """Every correction (they are about the chat model, whatever the dataset); duplicates once."""
    if not app.settings("corrections").train_on_corrections:
        return []
    async with app.storage.connect() as conn:
        rows = (await conn.execute(sa.select(corrections).order_by(corrections.c.id))).all()
    unique = {(r.prompt, r.answer, r.correction): Correction(r.prompt, r.answer, r.correction, r.instruction)
              for r in rows}
    return list(unique.values())


def _about(user_id: int) -> Any:
    return (corrections.c.author_id == int(user_id)) | (corrections.c.asker_id == int(user_id))


@hookimpl
async def export_user_data(app: Host, user_id: int) -> dict[str, list[dict[str, Any]]]:
    """Corrections the user wrote, and those of answers to their questions (they hold their prompt)."""
    async with app.storage.connect() as conn:
        rows = (await conn.execute(sa.select(corrections).where(_about(user_id)).order_by(corrections.c.id))).all()
    return {"corrections": [as_record(r) for r in rows]}


@hookimpl
async def delete_user_data(app: Host, user_id: int) -> int:
    async with app.storage.begin() as conn:
        return (await conn.execute(corrections.delete().where(_about(user_id)))).rowcount
