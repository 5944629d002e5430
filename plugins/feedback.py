"""Feedback: ``feedback <text>`` (optionally about one of the bot's answers — give its id, or send
``!feedback …`` as a reply to it — and with a 1-5 rating), and 👍/👎 reactions on the bot's chat
answers (taking the reaction back removes it), stored for the team. Anyone may give feedback;
feedback about an answer only by those who can see it (one in a DM only there; see
:mod:`framework.visibility`). Listing and exporting everyone's needs the ``feedback`` permission
group (owners always); others see their own; neither shows text from a place the viewer could not
see there.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import hikari

from framework import hookimpl
from framework import sql as sa
from framework.commands import Context, UserError, command, group, integer, parse_message_id, string, user
from framework.importers import to_jsonl
from framework.settings import Field
from framework.settings import Settings as SettingsModel
from framework.storage import Migration, StorageUnavailable, add_missing_columns, as_record, inserted_id, lock
from framework.uploads import fitted
from framework.visibility import Audience, Place, require_may_act

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterCommand, RegisterListener, RegisterMigration
    from framework.host import Host

log = logging.getLogger(__name__)

REACTIONS = {"👍": "up", "👎": "down"}
"""The reactions on a bot answer that count as feedback; others are ignored."""

metadata = sa.MetaData()
feedback_table = sa.Table(
    "feedback", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("guild_id", sa.BigInteger),
    sa.Column("channel_id", sa.BigInteger),
    sa.Column("message_id", sa.BigInteger, index=True),  # the bot answer it is about, if any
    sa.Column("kind", sa.String(10), nullable=False),  # "text" or "reaction"
    sa.Column("text", sa.Text),
    sa.Column("rating", sa.Integer),  # 1-5, optional
    sa.Column("reaction", sa.String(10)),  # "up" or "down"
    sa.Column("prompt", sa.Text),  # what the answer answered, when about one
    sa.Column("answer", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
    sa.Column("asker_id", sa.BigInteger),  # who asked the answer's prompt: their text, cleared when they delete
    # where the answer it is about was given (guild_id/channel_id: where the feedback was): its prompt
    # and answer are shown only where that place may be seen (framework.visibility)
    sa.Column("answer_guild_id", sa.BigInteger),
    sa.Column("answer_channel_id", sa.BigInteger),
    sqlite_autoincrement=True,
)


class Settings(SettingsModel):
    reactions: bool = True
    """Record 👍/👎 reactions on the bot's chat answers."""
    list_limit: int = Field(15, ge=1, le=50)


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


@hookimpl
def register_migrations(register: RegisterMigration) -> None:
    register(Migration(1, "feedback and reactions", metadata.create_all))
    register(Migration(2, "who asked the answered prompt", lambda c: add_missing_columns(c, feedback_table)))
    register(Migration(3, "where the answer was given", lambda c: add_missing_columns(c, feedback_table)))


@command("feedback", "Tell the team what you think (optionally about one answer, with a rating)", ephemeral=True,
         options=[
    string("text", "Your feedback", min_length=1, max_length=2000),
    integer("rating", "1 (bad) to 5 (great)", default=None, min_value=1, max_value=5, named_only=True),
    string("message_id", "The bot answer it is about (as a reply: the message replied to)", default=None,
           from_reply=True, named_only=True),
])
async def feedback(ctx: Context, text: str, rating: int | None, message_id: str | None) -> None:
    text = text.strip()
    if not text:
        raise UserError("The feedback is empty.")
    about: dict[str, Any] = {}
    if message_id is not None:
        mid = parse_message_id(message_id)
        found = await ctx.app.plugins.call("bot_answer", scope=ctx.guild_id, app=ctx.app, message_id=mid)
        reference = ctx.message.message_reference if ctx.message is not None else None
        if found is None and reference is not None and reference.id == mid:  # message_id came from the reply
            raise UserError("The message you replied to is not one of my chat answers; for general feedback, send "
                            "it without replying.")
        if found is None:
            raise UserError(f"Message {mid} is not one of my chat answers; "
                            "leave `message_id` out for general feedback.")
        await require_may_act(ctx, found, "feedback on it can be given")
        about = {"message_id": mid, "prompt": found["prompt"], "answer": found["answer"],
                 "asker_id": found.get("user_id"), "answer_guild_id": found.get("guild_id"),
                 "answer_channel_id": found.get("channel_id")}
    async with ctx.app.storage.begin() as conn:
        result = await conn.execute(feedback_table.insert().values(
            user_id=int(ctx.author.id), guild_id=int(ctx.guild_id) if ctx.guild_id else None,
            channel_id=int(ctx.channel_id), kind="text", text=text, rating=rating, **about))
    await ctx.respond(f"Thanks for your feedback (#{inserted_id(result)})!", ephemeral=True)


async def may_see_all(ctx: Context) -> bool:
    return await ctx.app.permissions.holds(ctx, "feedback")


def _show(r: Any, names: dict[int, str]) -> str:
    what = {"up": "👍", "down": "👎"}.get(r.reaction or "", "") if r.kind == "reaction" else (r.text or "")[:120]
    rating = f" ({r.rating}/5)" if r.rating else ""
    about = f" on `{r.message_id}`" if r.message_id else ""
    return f"#{r.id} {names[int(r.user_id)]}{about}{rating}: {what}"


feedback_group = group("feedbacks", "Feedback given to the bot")


def _places(row: Any) -> list[Place]:
    """Feedback holds the text of where it was given, and of the answer it is about (if any)."""
    people = (row.user_id, row.asker_id)
    answered = [(row.answer_guild_id, row.answer_channel_id, people)] if row.answer_channel_id else []
    return [(row.guild_id, row.channel_id, people), *answered]


@feedback_group.command("list", "Recent feedback (everyone's with the feedback permission)", ephemeral=True,
                        options=[user("author", "Only this user's feedback", default=None)])
async def feedback_list(ctx: Context, author: hikari.User | None) -> None:
    query = sa.select(feedback_table).order_by(feedback_table.c.id.desc())
    if not await may_see_all(ctx):
        if author is not None and author.id != ctx.author.id:
            raise UserError("Seeing other people's feedback needs the `feedback` permission.")
        author = ctx.author
    if author is not None:
        query = query.where(feedback_table.c.user_id == int(author.id))
    audience = Audience(ctx)
    rows = await audience.rows(query, _places, ctx.settings.list_limit)
    names = {u: await ctx.user_name(u) for u in {int(r.user_id) for r in rows}}
    await ctx.respond(("\n".join(_show(r, names) for r in rows) if rows else "No feedback yet.") + audience.note(),
                      ephemeral=True)


@feedback_group.command("export", "Feedback as JSONL (everyone's with the feedback permission)", ephemeral=True,
                        bot_permissions=hikari.Permissions.ATTACH_FILES)
async def feedback_export(ctx: Context) -> None:
    query = sa.select(feedback_table).order_by(feedback_table.c.id)
    if not await may_see_all(ctx):
        query = query.where(feedback_table.c.user_id == int(ctx.author.id))
    audience = Audience(ctx)
    rows = await audience.rows(query, _places)
    data = await ctx.run_blocking(to_jsonl, [as_record(r) for r in rows])
    export = await fitted(ctx, "feedback.jsonl", data, what="The export")
    await ctx.respond(f"{len(rows)} feedback record(s).{audience.note()}", attachments=[export], ephemeral=True)


@hookimpl
def register_commands(register: RegisterCommand) -> None:
    register(feedback)
    register(feedback_group)


async def on_reaction(event: hikari.ReactionAddEvent, app: Host) -> None:
    """👍/👎 on one of the bot's chat answers is feedback; other emoji and messages are ignored."""
    reaction = REACTIONS.get(getattr(event, "emoji_name", None) or "")
    me = app.bot.get_me()
    if reaction is None or not app.settings("feedback").reactions or (me is not None and event.user_id == me.id):
        return
    found = await app.plugins.call("bot_answer", scope=getattr(event, "guild_id", None), app=app,
                                  message_id=int(event.message_id))
    if found is None:
        return
    t = feedback_table.c
    row = {"user_id": int(event.user_id), "guild_id": found.get("guild_id"), "channel_id": int(event.channel_id),
           "message_id": int(event.message_id), "kind": "reaction", "reaction": reaction,
           "prompt": found["prompt"], "answer": found["answer"], "asker_id": found.get("user_id"),
           "answer_guild_id": found.get("guild_id"), "answer_channel_id": found.get("channel_id")}
    seen = sa.exists().where((t.user_id == row["user_id"]) & (t.kind == "reaction")
                             & (t.message_id == row["message_id"]) & (t.reaction == reaction))
    try:
        async with app.storage.begin() as conn:  # one statement: the same reaction twice is stored once
            await lock(conn, f"reaction:{row['message_id']}:{row['user_id']}")  # on PostgreSQL too
            await conn.execute(feedback_table.insert().from_select(
                list(row), sa.select(*[sa.literal(v, type_=t[k].type) for k, v in row.items()]).where(~seen)))
    except StorageUnavailable:  # a reaction has no reply to say so in; storage logged the cause once
        log.debug("reaction on answer %s not stored: the database refuses writes", event.message_id)
        return
    log.info("reaction %s on answer %s by %s", reaction, event.message_id, event.user_id)


async def on_reaction_removed(event: hikari.ReactionDeleteEvent, app: Host) -> None:
    """Taking the 👍/👎 back takes the feedback back."""
    reaction = REACTIONS.get(getattr(event, "emoji_name", None) or "")
    if reaction is None:
        return
    t = feedback_table.c
    async with app.storage.begin() as conn:
        await conn.execute(feedback_table.delete().where(
            (t.user_id == int(event.user_id)) & (t.kind == "reaction") & (t.message_id == int(event.message_id))
            & (t.reaction == reaction)))


@hookimpl
def register_listeners(register: RegisterListener) -> None:
    register(hikari.ReactionAddEvent, on_reaction)
    register(hikari.ReactionDeleteEvent, on_reaction_removed)


def _on_their_question(user_id: int) -> Any:
    """Others' feedback on answers to this user's question: it holds their prompt."""
    t = feedback_table.c
    return (t.asker_id == int(user_id)) & (t.user_id != int(user_id)) & t.prompt.is_not(None)


@hookimpl
async def export_user_data(app: Host, user_id: int) -> dict[str, list[dict[str, Any]]]:
    """The user's feedback, and the prompt they asked where others' feedback keeps it (not the
    other person's opinion)."""
    t = feedback_table.c
    async with app.storage.connect() as conn:
        rows = (await conn.execute(sa.select(feedback_table).where(t.user_id == int(user_id)).order_by(t.id))).all()
        asked = (await conn.execute(sa.select(t.id, t.message_id, t.prompt, t.answer)
                                    .where(_on_their_question(user_id)).order_by(t.id))).all()
    return {"feedback": [as_record(r) for r in rows], "feedback_on_your_questions": [as_record(r) for r in asked]}


@hookimpl
async def delete_user_data(app: Host, user_id: int) -> int:
    """The user's feedback goes; others' feedback on answers to them stays, without their prompt."""
    async with app.storage.begin() as conn:
        removed = (await conn.execute(feedback_table.delete().where(feedback_table.c.user_id == int(user_id)))).rowcount
        cleared = await conn.execute(feedback_table.update().where(_on_their_question(user_id))
                                     .values(prompt=None, answer=None))
    return removed + cleared.rowcount
