"""The one invocation pipeline both surfaces use: checks, conversion, the callback, and turning
errors into messages (a :class:`UserError` as is; anything else as "failed unexpectedly", with
the traceback logged and the ``handle_error`` hook asked for a better message).
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

import hikari

from framework.commands.conversion import convert
from framework.commands.declarations import MISSING
from framework.errors import CheckFailure, UserError

if TYPE_CHECKING:  # pragma: no cover
    from framework.commands.context import Context
    from framework.commands.declarations import Command

log = logging.getLogger(__name__)
MISSING_PERMISSIONS = 50013
"""Discord's JSON error code for "Missing Permissions" (a 403)."""


async def run_checks(ctx: Context, cmd: Command) -> None:
    """The command's (and its group's) checks, the permission group, plugins' ``check`` hook, then whether
    the bot itself has the permissions the command declares (``bot_permissions``)."""
    if (cmd.guild_only or (cmd.parent and cmd.parent.guild_only)) and ctx.guild_id is None:
        raise CheckFailure("This command works only in a server, not in direct messages.")
    for chk in [*(cmd.parent.checks if cmd.parent else ()), *cmd.checks]:
        result = chk(ctx)
        if inspect.isawaitable(result):
            await result
    permission = cmd.permission or (cmd.parent.permission if cmd.parent else None)
    if permission is not None:
        await ctx.app.permissions.require(ctx, permission)
    await ctx.app.plugins.run_check_hooks(ctx, cmd)
    lacking = await ctx.bot_missing(cmd.bot_permissions)
    if lacking:
        raise CheckFailure(missing_message(cmd, lacking))


async def invoke(ctx: Context, cmd: Command, raw: dict[str, Any], *targets: Any) -> None:
    """The one invocation pipeline both surfaces use: checks, conversion, callback, errors.
    ``targets`` precede the options (a message command's message)."""
    try:
        await run_checks(ctx, cmd)
        values = {opt.name: await convert(ctx, opt, raw.get(opt.name, MISSING)) for opt in cmd.options}
        await cmd.callback(ctx, *targets, **values)
    except UserError as exc:  # a refusal whose cause is logged elsewhere (e.g. storage, once) says so by log_level
        log.log(getattr(exc, "log_level", logging.INFO), "%s %s by %s: %s", ctx.surface, cmd.qualified_name,
                ctx.author.id, exc)
        await _report(ctx, str(exc))
    except hikari.ForbiddenError as exc:
        if exc.code != MISSING_PERMISSIONS:
            await _failed(ctx, cmd, exc)
            return
        # The cache said the bot may (or could not tell); Discord refused: say which permission the
        # command needs, as the check before it does, instead of "failed unexpectedly".
        log.warning("%s %s in channel %s: Discord refused for lack of a permission (%s)", ctx.surface,
                    cmd.qualified_name, ctx.channel_id, exc.message)
        await _report(ctx, missing_message(cmd, cmd.bot_permissions) if cmd.bot_permissions else
                      "I can't do that here: Discord refused it because I lack a permission in this channel. "
                      "A server admin can check my role's permissions.")
    except Exception as exc:
        await _failed(ctx, cmd, exc)


def missing_message(cmd: Command, lacking: hikari.Permissions) -> str:
    """``I can't do that here: I lack the Attach Files permission …``: what the bot lacks, for whom."""
    from framework.bot_permissions import names  # the host's module; imported late, it imports this package

    plural = "s" if len([f for f in hikari.Permissions if f.name and f & lacking]) > 1 else ""
    return (f"I can't do that here: I lack the {names(lacking)} permission{plural} in this "
            f"channel, which `{cmd.qualified_name}` needs. A server admin can grant it to my role.")


async def _failed(ctx: Context, cmd: Command, exc: Exception) -> None:
    log.error("command %s (plugin %s) failed", cmd.qualified_name, cmd.plugin, exc_info=exc)
    message = await ctx.app.plugins.call("handle_error", scope=ctx.guild_id, ctx=ctx, error=exc)
    await _report(ctx, message or f"Sorry, `{cmd.qualified_name}` failed unexpectedly. The error was logged.")


async def _report(ctx: Context, message: str) -> None:
    try:
        await ctx.error(message)
    except hikari.HikariError:
        log.exception("could not deliver an error message for %s", ctx.command.qualified_name)
