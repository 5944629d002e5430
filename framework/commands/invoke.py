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


async def run_checks(ctx: Context, cmd: Command) -> None:
    """The command's (and its group's) checks, then the permission group, then plugins' ``check`` hook."""
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
    except Exception as exc:
        log.exception("command %s (plugin %s) failed", cmd.qualified_name, cmd.plugin)
        message = await ctx.app.plugins.call("handle_error", scope=ctx.guild_id, ctx=ctx, error=exc)
        await _report(ctx, message or f"Sorry, `{cmd.qualified_name}` failed unexpectedly. The error was logged.")


async def _report(ctx: Context, message: str) -> None:
    try:
        await ctx.error(message)
    except hikari.HikariError:
        log.exception("could not deliver an error message for %s", ctx.command.qualified_name)
