"""Core commands: hi, help, ping, instruction, plugins."""

from __future__ import annotations

from pathlib import PurePosixPath

from framework import hookimpl
from framework.commands import MISSING, Command, Context, Group, Option, UserError, command, group, string, usage
from framework.errors import PathRefused, echo
from framework.logs import redact
from framework.settings import Field
from framework.settings import Settings as SettingsModel


class Settings(SettingsModel):
    greeting: str = Field("Hello, {name}! I'm trainerbot. Type `{help}` to see what I can do.", max_length=500)
    instruction_file: str = "instruction.md"
    """Default file under the data root's ``instructions`` area shown by ``instruction``."""


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


@command("hi", "Say hello to the bot", options=[string("name", "Who to greet (default: you)", default=None,
                                                       max_length=100)])
async def hi(ctx: Context, name: str | None) -> None:
    who = name or getattr(ctx.member, "display_name", None) or ctx.author.username
    await ctx.respond(ctx.settings.greeting.format(name=who, help=ctx.mention_command("help")))


@command("ping", "Show the bot's gateway latency")
async def ping(ctx: Context) -> None:
    latency = ctx.app.bot.heartbeat_latency
    shown = "not measured yet" if latency != latency or latency <= 0 else f"{latency * 1000:.0f} ms"
    await ctx.respond(f"Pong! Gateway latency: {shown}.")


def _describe(target: Command | Group, ctx: Context) -> list[str]:
    if isinstance(target, Group):
        return [f"`{ctx.mention_command(f'{target.name} {s.name}')}` — {s.description}"
                for s in target.subcommands.values()]
    return [f"`{ctx.mention_command(target.name)}` — {target.description}"]


def _overview(target: Command | Group, ctx: Context) -> str:
    """One short entry of the overview: ``/dataset (list, show, export)`` or ``/train``."""
    shown = f"`{ctx.mention_command(target.name)}`"
    if isinstance(target, Group):
        shown += f" ({', '.join(target.subcommands)})"
    return shown


def _details(target: Command | Group, ctx: Context) -> list[str]:
    lines = [f"**{ctx.mention_command(target.qualified_name)}** — {target.description}"]
    if isinstance(target, Group):
        return lines + _describe(target, ctx)
    lines.append(f"Usage: `{usage(target, ctx.prefix, slash=ctx.surface == 'slash')}`")
    for opt in target.options:
        default = "" if opt.default in (MISSING, None) else f" (default: {opt.default})"
        need = "required" if opt.required else "optional"
        lines.append(f"• `{opt.name}` ({opt.type.value}, {need}) — {opt.description}{default}")
    perm = target.permission or (target.parent.permission if target.parent else None)
    if perm:
        lines.append(f"Restricted: permission group `{perm}`.")
    return lines


@command("help", "List commands, or explain a command or plugin", ephemeral=True,
         options=[string("command", "A command or plugin name", default=None, max_length=100)])
async def help_(ctx: Context, command: str | None) -> None:
    """The overview is one line per plugin, so it stays short however many plugins are installed;
    ``help <plugin>`` describes a plugin's commands, ``help <command>`` one command's options."""
    app = ctx.app
    visible = [t for t in app.commands.all() if app.plugins.enabled_in(t.plugin, ctx.guild_id)]
    if command:
        name, _, sub = command.strip().lstrip("/").removeprefix(ctx.prefix).partition(" ")
        target = app.commands.lookup_prefix(name.lower())
        if target is not None and app.plugins.enabled_in(target.plugin, ctx.guild_id):
            if isinstance(target, Group) and sub.strip() in target.subcommands:
                target = target.subcommands[sub.strip()]
            await ctx.respond("\n".join(_details(target, ctx)), ephemeral=True)
            return
        owned = [t for t in visible if t.plugin == name]
        if not owned:
            raise UserError(f"No command or plugin `{echo(name)}`. Use `{ctx.mention_command('help')}` for the list.")
        lines = [f"**{name}**"] + [line for t in owned for line in _describe(t, ctx)]
        await ctx.respond("\n".join(lines), ephemeral=True)
        return
    sections: dict[str, list[str]] = {}
    for target in visible:
        sections.setdefault(target.plugin, []).append(_overview(target, ctx))
    body = [f"**{plugin}** · " + ", ".join(entries) for plugin, entries in sections.items()]
    other = "/" if ctx.surface == "prefix" else ctx.prefix
    footer = (f"Commands work as slash commands and with the `{ctx.prefix}` prefix (e.g. `{other}hi`). "
              f"`{ctx.mention_command('help')} <command>` explains a command, "
              f"`{ctx.mention_command('help')} <plugin>` lists a plugin's commands.")
    await ctx.respond("\n".join([*body, "", footer]), ephemeral=True)


@command("instruction", "Show the instructions for this bot",
         options=[string("name", "Instruction file under data/instructions", default=None)])
async def instruction(ctx: Context, name: str | None) -> None:
    wanted = (name or ctx.settings.instruction_file).strip()
    if wanted and not PurePosixPath(wanted).suffix:
        wanted += ".md"  # `instruction guide` (either surface) names guide.md
    try:
        path = ctx.app.data_root.resolve(wanted, base="instructions", kind="file")
    except PathRefused as exc:
        if exc.reason == "missing":
            where = f"{ctx.app.data_root.display(ctx.app.data_root.area('instructions'))}/{wanted}"
            raise UserError(f"No instruction file `{echo(wanted)}` yet. An admin can create `{echo(where)}` "
                            "in the bot's data folder (Markdown).") from None
        raise
    text = await ctx.run_blocking(path.read_text, "utf-8", "replace")
    if not text.strip():
        raise UserError(f"The instruction file `{echo(wanted)}` is empty.")
    await ctx.respond(text)


plugins_group = group("plugins", "List and manage plugins")


def _owner_only(ctx: Context) -> None:
    ctx.app.permissions.require_owner(ctx)


def _status_line(ctx: Context, info) -> str:
    mark = {"enabled": "✅", "disabled": "⏸️", "failed": "❌"}.get(info.status, "?")
    status = info.status
    if info.status == "enabled" and ctx.guild_id is not None and int(ctx.guild_id) in info.disabled_guilds:
        mark, status = "⏸️", "disabled in this server"
    return f"{mark} **{info.name}** {info.version} — {status} · {info.source}"


@plugins_group.command("list", "List plugins: enabled, disabled and failed", ephemeral=True)
async def plugins_list(ctx: Context) -> None:
    lines = []
    for info in ctx.app.plugins.infos.values():
        line = _status_line(ctx, info)
        hooks = [h for h in info.hooks if h != "settings_model"]
        if hooks:
            line += f"\n  hooks: {', '.join(hooks)}"
        if info.error and info.status != "enabled":
            line += f"\n  reason: {redact(info.error)}"
        lines.append(line)
    await ctx.respond("\n".join(lines) or "No plugins.", ephemeral=True)


def _plugin_name() -> Option:
    """A plugin's name: an entry point or module name, so 100 characters are plenty."""
    return string("name", "Plugin name", max_length=100)


@plugins_group.command("info", "Details of one plugin", ephemeral=True, options=[_plugin_name()])
async def plugins_info(ctx: Context, name: str) -> None:
    info = ctx.app.plugins.infos.get(name)
    if info is None:
        raise UserError(f"No plugin named `{echo(name)}`. `{ctx.mention_command('plugins list')}` shows them.")
    commands = [t.qualified_name for t in ctx.app.commands.all() if t.plugin == name]
    lines = [_status_line(ctx, info),
             f"hooks: {', '.join(info.hooks) or 'none'}",
             f"commands: {', '.join(f'`{c}`' for c in commands) or 'none'}"]
    if info.disabled_guilds:
        lines.append(f"disabled in {len(info.disabled_guilds)} server(s)")
    if info.error:
        lines.append(f"last error: {redact(info.error)}")
    await ctx.respond("\n".join(lines), ephemeral=True)


SCOPE = string("scope", "Where: this server, or everywhere", default="server", choices=["server", "everywhere"])


async def _switch(ctx: Context, name: str, scope: str, enabled: bool) -> None:
    if name == "core" and not enabled:
        raise UserError("The core plugin cannot be disabled: it provides `plugins` itself.")
    word = "enabled" if enabled else "disabled"
    if scope == "server":
        if ctx.guild_id is None:
            raise UserError("In direct messages use `scope:everywhere`.")
        await ctx.app.set_guild_enabled(name, int(ctx.guild_id), enabled)
        await ctx.respond(f"Plugin `{name}` is now {word} in this server.", ephemeral=True)
        return
    await ctx.defer(ephemeral=True)
    await ctx.app.set_enabled(name, enabled)
    await ctx.respond(f"Plugin `{name}` is now {word} everywhere (saved in plugins.toml).", ephemeral=True)


@plugins_group.command("enable", "Enable a plugin here or everywhere", ephemeral=True,
                        options=[_plugin_name(), SCOPE])
async def plugins_enable(ctx: Context, name: str, scope: str) -> None:
    await _switch(ctx, name, scope, True)


@plugins_group.command("disable", "Disable a plugin here or everywhere", ephemeral=True,
                        options=[_plugin_name(), SCOPE])
async def plugins_disable(ctx: Context, name: str, scope: str) -> None:
    await _switch(ctx, name, scope, False)


@plugins_group.command("reload", "Load a plugin's code again, without a restart", ephemeral=True,
                        options=[_plugin_name()])
async def plugins_reload(ctx: Context, name: str) -> None:
    await ctx.defer(ephemeral=True)
    await ctx.app.reload_plugin(name)
    await ctx.respond(f"Plugin `{name}` reloaded.", ephemeral=True)


for _sub in (plugins_enable, plugins_disable, plugins_reload):
    _sub.checks.append(_owner_only)


@hookimpl
def register_commands(register) -> None:  # type: ignore[no-untyped-def]
    for cmd in (hi, ping, help_, instruction, plugins_group):
        register(cmd)
