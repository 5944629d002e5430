"""The slash surface: each :class:`~framework.commands.Command` becomes a lightbulb 3 command
class whose options mirror the declaration; its invoke hands the raw values to the shared
pipeline. Long callbacks are deferred automatically so Discord's 3-second window is never missed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import hikari
import lightbulb
from lightbulb.internal import constants as lb_constants

from framework.commands import (
    MISSING,
    Command,
    Context,
    File,
    Group,
    MessageCommand,
    Option,
    OptionType,
    Response,
    TextField,
    UserError,
    invoke,
)

if TYPE_CHECKING:  # pragma: no cover
    from framework.app import App

log = logging.getLogger(__name__)

AUTO_DEFER_AFTER = 2.0
"""Seconds after which a callback that has not answered yet is deferred for it."""

_INITIAL = lb_constants.INITIAL_RESPONSE_IDENTIFIER

_LB_OPTION = {
    OptionType.STRING: lightbulb.string,
    OptionType.INTEGER: lightbulb.integer,
    OptionType.NUMBER: lightbulb.number,
    OptionType.BOOLEAN: lightbulb.boolean,
    OptionType.USER: lightbulb.user,
    OptionType.CHANNEL: lightbulb.channel,
    OptionType.ROLE: lightbulb.role,
    OptionType.ATTACHMENT: lightbulb.attachment,
}


class SlashContext(Context):
    """A command invoked by an interaction. Errors and ``ephemeral=True`` answers are ephemeral."""

    surface = "slash"

    def __init__(self, app: App, cmd: Command, lb_ctx: lightbulb.Context) -> None:
        interaction = lb_ctx.interaction
        super().__init__(app, cmd, author=interaction.user, member=interaction.member,
                         guild_id=interaction.guild_id, channel_id=interaction.channel_id)
        self.lb = lb_ctx
        self.interaction = interaction
        self._lock = asyncio.Lock()
        self._deferred: bool | None = None  # None: not deferred; else: deferred ephemerally?

    async def defer(self, *, ephemeral: bool = False) -> None:
        async with self._lock:
            if self.lb.initial_response_sent.is_set():
                return
            await self.lb.defer(ephemeral=ephemeral)
            self._deferred = ephemeral

    async def ask(self, title: str, fields: Sequence[TextField], *, timeout: float = 600.0) -> dict[str, str] | None:
        """A lightbulb modal: sent as the interaction's answer, its submission awaited; from then on
        this context answers the submission (the form's own interaction)."""
        form = _Form(fields)
        custom_id = f"tb-form-{self.interaction.id}"
        async with self._lock:
            if self.lb.initial_response_sent.is_set():
                raise UserError("A form must be the first answer, and this command has answered already.")
            await self.lb.respond_with_modal(title[:45], custom_id, components=form)
        self.responded = True  # the form is the answer, unless the submission gets one
        try:
            submitted, values = await form.attach(self.lb.client, custom_id, timeout=timeout)
        except TimeoutError:
            log.info("form %r of %s was not submitted within %.0f s", title, self.command.qualified_name, timeout)
            return None
        self.lb, self.interaction = submitted, submitted.interaction
        self._deferred = None
        self.responded = False
        asyncio.get_running_loop().call_later(AUTO_DEFER_AFTER, lambda: asyncio.ensure_future(_auto_defer(self)))
        answers: dict[str, str] = values
        return answers

    async def _send(self, content: str | None, attachments: Sequence[File], embeds: Sequence[hikari.Embed],
                    ephemeral: bool) -> Response:
        kwargs: dict[str, Any] = {
            "attachments": [f.to_resource() for f in attachments] or hikari.UNDEFINED,
            "embeds": list(embeds) or hikari.UNDEFINED,
            "user_mentions": False, "role_mentions": False, "mentions_everyone": False,
        }
        text = content if content is not None else hikari.UNDEFINED
        async with self._lock:
            if self._deferred is not None and not self.responded and self._deferred == ephemeral:
                # Deferred: the answer replaces the "thinking…" placeholder.
                await self.lb.edit_response(_INITIAL, text, **kwargs)
                response_id: hikari.Snowflakeish = _INITIAL
            else:
                if self._deferred is not None and not self.responded:
                    # Deferred publicly but this answer is private (an error): drop the placeholder.
                    await self.lb.delete_response(_INITIAL)
                response_id = await self.lb.respond(text, ephemeral=ephemeral, **kwargs)

        async def edit(content: str | None, attachments: Sequence[File] | None,
                       embeds: Sequence[hikari.Embed] | None) -> None:
            await self.lb.edit_response(
                response_id, content if content is not None else hikari.UNDEFINED,
                attachments=[f.to_resource() for f in attachments] if attachments is not None else hikari.UNDEFINED,
                embeds=list(embeds) if embeds is not None else hikari.UNDEFINED,
            )

        return Response(edit, None if response_id == _INITIAL else hikari.Snowflake(response_id))


class _Form(lightbulb.components.Modal):
    """The modal behind :meth:`SlashContext.ask`; ``attach`` returns (its context, the values)."""

    def __init__(self, fields: Sequence[TextField]) -> None:
        super().__init__()
        self.inputs = []
        for f in fields:
            add = self.add_paragraph_text_input if f.paragraph else self.add_short_text_input
            self.inputs.append((f.name, add(f.label[:45], custom_id=f.name, min_length=f.min_length,
                                            max_length=f.max_length, required=f.required,
                                            placeholder=f.placeholder or hikari.UNDEFINED,
                                            value=f.value or hikari.UNDEFINED)))

    async def on_submit(self, ctx: lightbulb.components.ModalContext) -> tuple[Any, dict[str, str]]:
        return ctx, {name: ctx.value_for(component) or "" for name, component in self.inputs}


def _lb_option(app: App, opt: Option) -> Any:
    kwargs: dict[str, Any] = {}
    if not opt.required:
        kwargs["default"] = None
    if opt.choices is not None and opt.type in (OptionType.STRING, OptionType.INTEGER, OptionType.NUMBER):
        kwargs["choices"] = [lightbulb.Choice(str(c), c) for c in opt.choices]
    if opt.type in (OptionType.INTEGER, OptionType.NUMBER):
        if opt.min_value is not None:
            kwargs["min_value"] = opt.min_value
        if opt.max_value is not None:
            kwargs["max_value"] = opt.max_value
    if opt.type is OptionType.STRING:
        if opt.min_length is not None:
            kwargs["min_length"] = opt.min_length
        if opt.max_length is not None:
            kwargs["max_length"] = opt.max_length
        if opt.autocomplete is not None and opt.choices is None:
            kwargs["autocomplete"] = _autocomplete(app, opt)
    return _LB_OPTION[opt.type](opt.name, opt.description, **kwargs)  # type: ignore[operator]


def _autocomplete(app: App, opt: Option) -> Any:
    async def provide(actx: lightbulb.AutocompleteContext[str]) -> None:
        partial = str(actx.focused.value or "")
        assert opt.autocomplete is not None
        try:
            choices = list(await opt.autocomplete(app, partial))[:25]
        except Exception:
            log.exception("autocomplete for option %s failed", opt.name)
            choices = []
        await actx.respond([c[:100] for c in choices])

    return provide


def build_slash_command(app: App, cmd: Command) -> type[lightbulb.SlashCommand]:
    """A lightbulb SlashCommand class for one declared command."""
    attrs: dict[str, Any] = {opt.name: _lb_option(app, opt) for opt in cmd.options}

    async def run(self: lightbulb.SlashCommand, lb_ctx: lightbulb.Context) -> None:
        await dispatch_slash(app, cmd, lb_ctx, {opt.name: getattr(self, opt.name) for opt in cmd.options})

    attrs["invoke"] = lightbulb.invoke(run)
    meta = {"name": cmd.name, "description": cmd.description}
    return types.new_class(f"Slash_{cmd.qualified_name.replace(' ', '_')}", (lightbulb.SlashCommand,), meta,
                           lambda ns: ns.update(attrs))


def build_message_command(app: App, cmd: MessageCommand) -> type[lightbulb.MessageCommand]:
    """A lightbulb MessageCommand class: the target message is the callback's first argument."""

    async def run(self: lightbulb.MessageCommand, lb_ctx: lightbulb.Context) -> None:
        await dispatch_slash(app, cmd, lb_ctx, {}, self.target)

    class_name = "Message_" + re.sub(r"\W", "_", cmd.name)
    return types.new_class(class_name, (lightbulb.MessageCommand,), {"name": cmd.name},
                           lambda ns: ns.update({"invoke": lightbulb.invoke(run)}))


def build_slash(app: App, target: Command | Group) -> Any:
    """The lightbulb object (command class or Group) to register for a command or group."""
    if isinstance(target, MessageCommand):
        return build_message_command(app, target)
    if isinstance(target, Command):
        return build_slash_command(app, target)
    grp = lightbulb.Group(target.name, target.description)
    for sub in target.subcommands.values():
        grp.register(build_slash_command(app, sub))
    return grp


async def dispatch_slash(app: App, cmd: Command, lb_ctx: lightbulb.Context, values: dict[str, Any],
                         *targets: Any) -> None:
    ctx = SlashContext(app, cmd, lb_ctx)
    if not app.plugins.enabled_in(cmd.plugin, ctx.guild_id):
        await ctx.error(f"`{ctx.mention_command(cmd.qualified_name)}` is disabled in this server.")
        return
    raw = {name: (MISSING if value is None else value) for name, value in values.items()}
    timer = asyncio.get_running_loop().call_later(
        AUTO_DEFER_AFTER, lambda: asyncio.ensure_future(_auto_defer(ctx)))
    try:
        await invoke(ctx, cmd, raw, *targets)
    finally:
        timer.cancel()
    if not ctx.responded:
        await ctx.respond("Done.", ephemeral=True)


async def _auto_defer(ctx: SlashContext) -> None:
    if ctx.responded:
        return
    try:
        await ctx.defer()
    except hikari.HikariError:
        log.warning("auto-defer of /%s failed", ctx.command.qualified_name, exc_info=True)


_UNRESOLVED = re.compile(r"no option resolved and no default provided for option: (\w+)")


def install_error_handler(client: lightbulb.Client) -> None:
    """Answer what lightbulb rejects before our pipeline runs (an interaction missing a required
    option, which only a non-Discord client sends) with the same message as the prefix surface."""

    async def handler(exc: lightbulb.exceptions.ExecutionPipelineFailedException) -> bool:
        cause = exc.__cause__
        match = _UNRESOLVED.search(str(cause)) if cause is not None else None
        message = (f"Option `{match.group(1)}` is required." if match
                   else "Sorry, that command failed unexpectedly. The error was logged.")
        log.warning("slash command %s rejected before invocation: %s", exc.context.command_data.qualified_name, cause)
        await exc.context.respond(message, ephemeral=True)
        return True

    client.error_handler(handler)
