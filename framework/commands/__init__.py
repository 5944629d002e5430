"""One command model, two surfaces.

A plugin declares a command once — name, description, typed options, checks — and the host
exposes it as a lightbulb slash command and as a prefix command (``!name args…``). Both
surfaces feed the same converters (:func:`convert`), the same checks and the same error
messages; only the transport differs (slash errors are ephemeral, prefix errors reply).

    @command("hi", "Greet someone", options=[string("name", "Who to greet", default=None)])
    async def hi(ctx: Context, name: str | None) -> None:
        await ctx.respond(f"Hello, {name or ctx.author.username}!")

The modules by concern: :mod:`~framework.commands.declarations` (options, commands, groups),
:mod:`~framework.commands.context` (what a callback works with), :mod:`~framework.commands.conversion`
(raw values to typed ones), :mod:`~framework.commands.invoke` (checks, conversion, callback,
errors); the user errors and the id parser live in :mod:`framework.errors`. Import from here.
"""

from framework.commands.context import DISCORD_MESSAGE_LIMIT, Context, File, Response, split_message
from framework.commands.conversion import MAX_INTEGER, convert
from framework.commands.declarations import (
    MISSING,
    Autocomplete,
    Check,
    Command,
    Group,
    MessageCommand,
    Option,
    OptionType,
    TextField,
    Validator,
    attachment,
    boolean,
    channel,
    command,
    group,
    integer,
    message_command,
    number,
    role,
    string,
    usage,
    user,
)
from framework.commands.invoke import invoke, run_checks
from framework.errors import (
    MAX_ID,
    BadArgument,
    CheckFailure,
    UserError,
    parse_id,
    parse_message_id,
    parse_row_number,
)

MAX_SNOWFLAKE = MAX_ID
"""The former name of :data:`framework.errors.MAX_ID`."""

__all__ = [
    "MISSING", "UserError", "BadArgument", "CheckFailure", "OptionType", "Option", "Command",
    "Group", "Context", "Response", "File", "command", "group", "string", "integer", "number",
    "boolean", "user", "channel", "role", "attachment", "convert", "usage", "parse_message_id", "MessageCommand",
    "message_command", "TextField",
    # also imported by the surfaces and plugins
    "DISCORD_MESSAGE_LIMIT", "MAX_INTEGER", "MAX_ID", "MAX_SNOWFLAKE", "Autocomplete", "Check", "Validator",
    "invoke", "run_checks", "split_message", "parse_id", "parse_row_number",
]
