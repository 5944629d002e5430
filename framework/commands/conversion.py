"""Turning raw option values into typed ones — the same converters, bounds and messages for a
prefix command's text and a slash interaction's typed values.
"""

from __future__ import annotations

import inspect
import math
import re
from typing import TYPE_CHECKING, Any

import hikari

from framework.commands.declarations import MISSING, Option, OptionType
from framework.errors import MAX_ID, BadArgument, echo

if TYPE_CHECKING:  # pragma: no cover
    from framework.commands.context import Context

MAX_INTEGER = 2**53
"""Discord's bound for integer options (either sign); larger numbers would overflow storage."""

_WHOLE = re.compile(r"[+-]?[0-9][0-9_]*")
_TRUE = {"true", "yes", "y", "on", "1", "positive", "pos"}
_FALSE = {"false", "no", "n", "off", "0", "negative", "neg"}
_MENTION = {
    OptionType.USER: re.compile(r"<@!?([0-9]{1,19})>|([0-9]{15,19})"),
    OptionType.CHANNEL: re.compile(r"<#([0-9]{1,19})>|([0-9]{15,19})"),
    OptionType.ROLE: re.compile(r"<@&([0-9]{1,19})>|([0-9]{15,19})"),
}


def _too_long(text: str) -> int:
    """A stand-in above every bound for a whole number too long to convert; ValueError if not a number."""
    if not _WHOLE.fullmatch(text):
        raise ValueError(text)
    return -(MAX_INTEGER + 1) if text.startswith("-") else MAX_INTEGER + 1


async def _resolve_entity(ctx: Context, opt: Option, raw: str) -> Any:
    m = _MENTION[opt.type].fullmatch(raw.strip())
    if not m or not 0 < int(m.group(1) or m.group(2)) <= MAX_ID:
        raise BadArgument(f"Option `{opt.name}` must be a {opt.type.value} mention or id, got `{echo(raw)}`.")
    snowflake = hikari.Snowflake(m.group(1) or m.group(2))
    bot = ctx.app.bot
    try:
        if opt.type is OptionType.USER:
            return bot.cache.get_user(snowflake) or await bot.rest.fetch_user(snowflake)
        if opt.type is OptionType.CHANNEL:
            return bot.cache.get_guild_channel(snowflake) or await bot.rest.fetch_channel(snowflake)
        if ctx.guild_id is None:
            raise BadArgument(f"Option `{opt.name}`: roles exist only in a server.")
        found = bot.cache.get_role(snowflake)
        if found is None:
            found = next((r for r in await bot.rest.fetch_roles(ctx.guild_id) if r.id == snowflake), None)
        if found is None:
            raise hikari.NotFoundError("", {}, b"")  # same message as below
        return found
    except hikari.NotFoundError:
        raise BadArgument(f"Option `{opt.name}`: no {opt.type.value} with id {snowflake}.") from None


async def convert(ctx: Context, opt: Option, raw: Any) -> Any:
    """Turn one raw option value (a string from a prefix command, or the typed value a slash
    interaction carries) into the declared type, then apply bounds, choices and the validator.
    Every message here is what the user sees, identical on both surfaces."""
    if raw is MISSING or raw is None:
        if opt.required:
            if opt.type is OptionType.ATTACHMENT:
                raise BadArgument(f"Option `{opt.name}` is required: attach a file.")
            raise BadArgument(f"Option `{opt.name}` is required.")
        return opt.default
    value: Any = raw
    kind = opt.type
    if kind is OptionType.STRING:
        value = str(raw)
    elif kind is OptionType.INTEGER:
        if isinstance(raw, bool) or not isinstance(raw, int):
            text = str(raw).strip()
            try:  # a number longer than any bound is out of range; int() is not asked (it refuses 4,300 digits)
                value = int(text) if len(text) <= 40 else _too_long(text)
            except ValueError:
                raise BadArgument(f"Option `{opt.name}` must be a whole number, got `{echo(raw)}`.") from None
        if abs(value) > MAX_INTEGER:  # slash already limits this; the prefix surface matches it
            raise BadArgument(f"Option `{opt.name}` must be a whole number between -{MAX_INTEGER} and {MAX_INTEGER}, "
                              f"got `{echo(raw)}`.")
    elif kind is OptionType.NUMBER:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            try:
                value = float(str(raw).strip())
            except ValueError:
                raise BadArgument(f"Option `{opt.name}` must be a number, got `{echo(raw)}`.") from None
        if not math.isfinite(value):  # nan, inf and 1e999 compare as no bound expects
            raise BadArgument(f"Option `{opt.name}` must be a finite number, got `{echo(raw)}`.")
    elif kind is OptionType.BOOLEAN:
        if not isinstance(raw, bool):
            text = str(raw).strip().lower()
            if text not in _TRUE | _FALSE:
                raise BadArgument(f"Option `{opt.name}` must be true or false, got `{echo(raw)}`.")
            value = text in _TRUE
    elif kind in _MENTION and isinstance(raw, str):
        value = await _resolve_entity(ctx, opt, raw)
    if kind is OptionType.STRING:
        if "\x00" in value:  # no database stores it (PostgreSQL refuses it in text), and no name holds it
            raise BadArgument(f"Option `{opt.name}` contains a NUL character (\\x00), which I can't take.")
        if opt.min_length is not None and len(value) < opt.min_length:
            raise BadArgument(f"Option `{opt.name}` must be at least {opt.min_length} characters long.")
        if opt.max_length is not None and len(value) > opt.max_length:
            raise BadArgument(f"Option `{opt.name}` must be at most {opt.max_length} characters long.")
    if kind in (OptionType.INTEGER, OptionType.NUMBER):
        lo, hi = opt.min_value, opt.max_value
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"between {lo} and {hi}" if lo is not None and hi is not None else (
                f"at least {lo}" if lo is not None else f"at most {hi}")
            raise BadArgument(f"Option `{opt.name}` must be {bounds}, got `{echo(value)}`.")
    if opt.choices is not None and value not in opt.choices:
        listed = ", ".join(f"`{c}`" for c in opt.choices)
        raise BadArgument(f"Option `{opt.name}` must be one of {listed}, got `{echo(value)}`.")
    if opt.validate is not None:
        value = opt.validate(value)
        if inspect.isawaitable(value):
            value = await value
    return value
