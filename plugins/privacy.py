"""Privacy: the bot collects users' messages (chat memory, answers, corrections, feedback,
examples), so each user can get everything stored about them (``mydata export``, a JSON file,
sent privately) and delete it (``mydata delete confirm:true``). Every plugin answers through the
``export_user_data`` and ``delete_user_data`` hooks, so third-party plugins take part too.
"""

from __future__ import annotations

import datetime
import gzip
import json
import logging
from typing import TYPE_CHECKING, Any

import hikari

from framework import hookimpl
from framework.archive import human_size
from framework.commands import Context, File, UserError, boolean, group
from framework.logs import redact

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterCommand
    from framework.host import Host

log = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


async def ask_every(app: Host, hook: str, user_id: int) -> tuple[list[tuple[str, Any]], list[str]]:
    """The hook's answers, and the plugins that raised instead (the hook call logs and disables
    those and leaves them out): the user must hear their data is incomplete or not all gone."""
    called: list[str] = []

    def note(name: str) -> dict[str, Any]:
        called.append(name)
        return {}

    answers = await app.plugins.call(hook, scope=None, app=app, user_id=int(user_id), per_plugin=note)
    answered = {name for name, _ in answers}
    return answers, [name for name in called if name not in answered]


async def collect(app: Host, user_id: int) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], list[str]]:
    """``{plugin: {kind: [rows]}}`` for every plugin that stores something about the user, and
    the plugins that failed to answer."""
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    answers, failed = await ask_every(app, "export_user_data", user_id)
    for plugin, answer in answers:
        kinds = {kind: rows for kind, rows in (answer or {}).items() if rows}
        if kinds:
            found.setdefault(plugin, {}).update(kinds)
    return found, failed


def _failed_note(failed: list[str], could_not: str) -> str:
    if not failed:
        return ""
    names = ", ".join(f"`{name}`" for name in failed)
    return f"\n⚠️ Plugin {names} could not {could_not}; the bot's owners can see why in the log."


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2, default=_jsonable).encode()


async def _send_privately(ctx: Context, text: str, attachment: File) -> None:
    """Slash: an ephemeral answer. Prefix: a DM (never the user's data in a shared channel)."""
    if ctx.surface == "slash" or ctx.guild_id is None:
        await ctx.respond(text, attachments=[attachment], ephemeral=True)
        return
    try:
        dm = await ctx.app.bot.rest.create_dm_channel(ctx.author.id)
        await ctx.app.bot.rest.create_message(dm.id, text, attachment=attachment.to_resource())
    except hikari.HikariError as exc:
        log.warning("could not DM %s their data: %s", ctx.author.id, redact(str(exc)))
        await ctx.respond("I couldn't send you a direct message (are DMs from server members off?). "
                          "Use `/mydata export` instead: only you see its answer.")
        return
    await ctx.respond("I sent you your data in a direct message.")


mydata = group("mydata", "See or delete everything the bot stores about you")


@mydata.command("export", "Get everything the bot stores about you, as a JSON file (privately)")
async def mydata_export(ctx: Context) -> None:
    found, failed = await collect(ctx.app, ctx.author.id)
    document = {"user_id": int(ctx.author.id),
                "exported_at": datetime.datetime.now(datetime.UTC).isoformat(), "data": found}
    if failed:
        document["incomplete"] = failed
    data = await ctx.run_blocking(_encode, document)
    name, limit = f"mydata-{ctx.author.id}.json", ctx.app.config.bot.max_upload_bytes
    if len(data) > limit:  # gzip first: JSON of text compresses well
        data, name = await ctx.run_blocking(gzip.compress, data), name + ".gz"
    if len(data) > limit:
        raise UserError(f"Your data is {human_size(len(data))} even compressed, more than I may attach "
                        f"({human_size(limit)}). Ask the bot's owners to send it to you.")
    count = sum(len(rows) for kinds in found.values() for rows in kinds.values())
    summary = ", ".join(f"{kind} {len(rows)}" for kinds in found.values() for kind, rows in kinds.items())
    await _send_privately(ctx, f"Everything I store about you: {count} record(s)"
                          + (f" ({summary})." if summary else ".")
                          + _failed_note(failed, "give its part, so this is incomplete"), File(name, data=data))


@mydata.command("delete", "Delete everything the bot stores about you (confirm:true to do it)",
                options=[boolean("confirm", "true: really delete", default=False)])
async def mydata_delete(ctx: Context, confirm: bool) -> None:
    if not confirm:
        found, _ = await collect(ctx.app, ctx.author.id)
        count = sum(len(rows) for kinds in found.values() for rows in kinds.values())
        await ctx.respond(f"This deletes {count} record(s) about you (chat messages, answers to you, corrections, "
                          f"feedback, examples you added, settings) and cannot be undone. To go ahead: "
                          f"`{ctx.mention_command('mydata delete')} "
                          f"confirm{'=' if ctx.surface == 'prefix' else ':'}true`.",
                          ephemeral=True)
        return
    removed = 0
    answers, failed = await ask_every(ctx.app, "delete_user_data", ctx.author.id)
    for plugin, count in answers:
        removed += int(count or 0)
        if count:
            log.info("deleted %s record(s) of user %s in plugin %s", count, ctx.author.id, plugin)
    if failed:
        log.error("deleting user %s's data failed in plugin(s) %s", ctx.author.id, ", ".join(failed))
    await ctx.respond(f"Deleted {removed} record(s) about you."
                      + _failed_note(failed, "delete its part, so that is still kept"), ephemeral=True)


@hookimpl
def register_commands(register: RegisterCommand) -> None:
    register(mydata)
