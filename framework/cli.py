"""``trainerbot`` — run the bot, the local sandbox, and manage plugins and configuration.

    trainerbot run              connect to Discord (needs DISCORD_TOKEN); --shards 0-3 --shard-count 8
    trainerbot cluster --processes N   N processes on this machine, each with its slice of the shards
    trainerbot sandbox          the whole bot against a local Discord emulator, in a page in your browser
                                (--terminal: a terminal chat instead)
    trainerbot plugins list     what is installed, enabled, failed
    trainerbot config check     validate plugins.toml and every plugin's settings
    trainerbot models list      the models of every engine (--available: downloadable ones); models download NAME
    trainerbot storage migrate --to URL   copy the database into an empty PostgreSQL, verified

Plugins add subcommands through the ``register_cli_commands`` hook.

Every call, ``--help`` included, builds the parser with the plugins' subcommands, so this module
imports only what parsing needs: the bot (hikari, storage, engines) and the plugin manager's
helpers are imported by the subcommand that uses them, and only plugins whose source mentions
``register_cli_commands`` are imported to find subcommands (``framework.plugin_scan``).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from framework.config import DEFAULT_CONFIG, Config, ConfigError, load_config, write_plugin_enabled
from framework.logs import setup_logging
from framework.plugins import PluginHost

log = logging.getLogger("trainerbot")


def _load(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def looks_like_bot_token(token: str) -> bool:
    """A bot token is three dot-separated parts, the first the bot's id in base64 (as hikari reads it)."""
    import base64
    import binascii

    parts = token.removeprefix("Bot ").split(".")
    if len(parts) != 3 or not all(parts):
        return False
    try:
        return base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)).decode("ascii").isdigit()
    except (binascii.Error, ValueError):
        return False


def _token() -> str | None:
    token = os.environ.get("DISCORD_TOKEN", "").strip()
    if not token:
        print("DISCORD_TOKEN is not set. Create a bot at https://discord.com/developers/applications, "
              "copy its token, then: export DISCORD_TOKEN=...  (or run `trainerbot sandbox` to try it locally)",
              file=sys.stderr)
        return None
    if not looks_like_bot_token(token):  # never echo it: it may be a real secret pasted wrongly
        print("DISCORD_TOKEN does not look like a bot token (three parts separated by dots, the first the "
              "bot's id): copy it again from https://discord.com/developers/applications → your app → Bot "
              "→ Reset Token (not the client secret or public key)", file=sys.stderr)
        return None
    return token


def cmd_run(args: argparse.Namespace) -> int:
    from framework.app import App
    from framework.cluster import REST_URL_VARIABLE, ShardSpecError, check_shards, parse_count, parse_shards

    token = _token()
    if token is None:
        return 2
    try:
        shards = parse_shards(args.shards) if args.shards else None
        count = parse_count(args.shard_count)
        check_shards(shards, count)
    except ShardSpecError as exc:
        print(f"trainerbot run: {exc}", file=sys.stderr)
        return 2
    config = _load(args)
    setup_logging(config.bot.log_level)
    App(config, token=token, rest_url=os.environ.get(REST_URL_VARIABLE) or None).run(shards=shards, shard_count=count)
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    import asyncio

    from framework.cluster import (
        DISCORD_REST,
        REST_URL_VARIABLE,
        ShardSpecError,
        Supervisor,
        format_shards,
        parse_count,
        recommended_shards,
        split,
    )

    token = _token()
    if token is None:
        return 2
    config = _load(args)
    setup_logging(config.bot.log_level)
    try:
        count = parse_count(args.shard_count)
        if count is None:
            count, _ = asyncio.run(recommended_shards(token, os.environ.get(REST_URL_VARIABLE) or DISCORD_REST))
        slices = split(max(count, args.processes), args.processes)
    except ShardSpecError as exc:
        print(f"trainerbot cluster: {exc}", file=sys.stderr)
        return 2
    count = max(count, args.processes)
    log.warning("cluster: %d processes, %d shards: %s", args.processes, count,
                "; ".join(format_shards(s) for s in slices))
    return asyncio.run(Supervisor(slices, count, args.config).run())


def cmd_sandbox(args: argparse.Namespace) -> int:
    config = _load(args)
    if args.terminal or args.script:
        from framework.sandbox import run_sandbox

        return run_sandbox(config, script=args.script, reply_wait=args.reply_wait)
    from framework.sandbox_web import run_web_sandbox

    return run_web_sandbox(config, port=args.port)


def cmd_storage_migrate(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_storage_migrate(_load(args), args.to, args.schema))


async def _storage_migrate(config: Config, to: str, schema: str | None) -> int:
    from framework.app import App
    from framework.errors import UserError
    from framework.storage import Storage, describe_url
    from framework.storage_copy import copy_database

    app = App(config, token="MTAw.not.connecting")  # a well-formed token; nothing connects
    target = None
    try:
        migrations = await app.collect_migrations()
        target = Storage(to, schema=schema)
        print(f"copying {describe_url(app.storage.url)} to {describe_url(target.url)}"
              + (f" (schema {schema})" if schema else ""))
        report = await copy_database(app.storage, target, migrations)
    except UserError as exc:
        print(f"storage migrate: {exc}", file=sys.stderr)
        return 1
    finally:
        await app.storage.close()
        if target is not None:
            await target.close()
        app.executor.shutdown(wait=False)
    for name, rows in report.tables.items():
        print(f"  {name}: {rows} rows")
    print(f"done: {report.rows} rows in {len(report.tables)} tables copied and verified row by row. Point the bot at "
          "the new database ([storage] url or DATABASE_URL) and start it.")
    return 0


def _host(config: Config) -> PluginHost:
    host = PluginHost(config)
    host.load_all()
    return host


def cmd_plugins_list(args: argparse.Namespace) -> int:
    import asyncio

    from framework.registry import refuse_commands  # the bot's own check of Discord's command rules

    host = _host(_load(args))
    asyncio.run(refuse_commands(host))
    rows = [("NAME", "VERSION", "STATUS", "SOURCE", "HOOKS")]
    for info in host.infos.values():
        rows.append((info.name, info.version, info.status, info.source, ",".join(info.hooks)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    for info in host.infos.values():
        if info.error:
            print(f"{info.name}: {info.error}")
    return 0


def project_config(args: argparse.Namespace) -> Config | None:
    """The plugins.toml a command that changes it must change: ``--config``/``TRAINERBOT_CONFIG``, else
    the nearest ``plugins.toml`` in this folder or a parent (a plugin's folder inside the bot's
    project finds the project's); ``None`` (said why) rather than a new file in a random folder."""
    explicit = args.config or os.environ.get("TRAINERBOT_CONFIG")
    if explicit:
        if not Path(explicit).is_file():
            print(f"{explicit}: no such file. Pass the bot's plugins.toml with --config.", file=sys.stderr)
            return None
        return load_config(explicit)
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_CONFIG).is_file():
            if folder != here:
                print(f"using {folder / DEFAULT_CONFIG} (the nearest plugins.toml above this folder)", file=sys.stderr)
            return load_config(folder / DEFAULT_CONFIG)
    print(f"No {DEFAULT_CONFIG} in {here} or any folder above it: run this in your bot's folder, or say which "
          "bot to change with --config PATH (or TRAINERBOT_CONFIG); for a new bot, create an empty "
          f"{DEFAULT_CONFIG} in its folder first.", file=sys.stderr)
    return None


def cmd_plugin_verb(verb: str, args: argparse.Namespace) -> int:
    from framework import plugin_admin  # pip and tomlkit: only for the subcommands that use them

    if verb == "info":
        return plugin_admin.info(_load(args), args.name)
    config = project_config(args)
    if config is None:
        return 2
    if verb == "uninstall":
        return plugin_admin.uninstall(config, args.name, yes=args.yes)
    write_plugin_enabled(config, args.name, verb == "enable")
    print(f"plugin {args.name!r} {verb}d in {config.path}; restart the bot (or use /plugins {verb}) to apply")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from framework.config_check import check

    report = check(args.config)
    for line in [*report.errors, *report.warnings]:
        print(line, file=sys.stderr)
    if report.errors or report.warnings:
        errors, warnings = (sum(len(p.splitlines()) for p in found) for found in (report.errors, report.warnings))
        print(f"{report.path}: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
        return 2 if report.errors else 1
    config = report.config
    assert config is not None
    where = str(config.path) if config.path and config.path.is_file() else f"{config.path} (not found: the defaults)"
    print(f"{where}: OK ({report.plugins} plugins, provider {config.provider}, "
          f"stt {config.engines.stt}, tts {config.engines.tts})")
    return 0


def cmd_plugins_install(args: argparse.Namespace) -> int:
    from framework import plugin_admin

    config = project_config(args)
    return 2 if config is None else plugin_admin.install(config, args.spec, yes=args.yes)


def cmd_plugins_sync(args: argparse.Namespace) -> int:
    from framework import plugin_admin

    return plugin_admin.sync(_load(args))


def cmd_models(args: argparse.Namespace) -> int:
    from framework import models

    return models.run(_load(args), args)


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from framework import plugin_admin

    return plugin_admin.new_plugin(args.name, Path(args.dir))


CliCommand = tuple[str, str, Callable[..., Any], Callable[..., int]]


def build_parser(extra: Sequence[CliCommand] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trainerbot", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="path to plugins.toml (default: $TRAINERBOT_CONFIG or ./plugins.toml)")
    sub = parser.add_subparsers(dest="command", required=True)
    runner = sub.add_parser("run", help="connect to Discord (DISCORD_TOKEN)")
    runner.add_argument("--shards", help="run only these shards, e.g. 0-3 or 0,2,4-5 (needs --shard-count)")
    runner.add_argument("--shard-count", help="how many shards the bot has in all, or `auto` (Discord's "
                                           "recommendation, the default)")
    runner.set_defaults(func=cmd_run)
    cluster = sub.add_parser("cluster", help="run the bot's shards in several processes on this machine")
    cluster.add_argument("--processes", type=int, required=True, help="how many processes (each gets a slice)")
    cluster.add_argument("--shard-count", default="auto", help="shards in all, or `auto` (the default)")
    cluster.set_defaults(func=cmd_cluster)
    sandbox = sub.add_parser("sandbox", help="the bot on a local Discord emulator, in a page in your browser")
    sandbox.add_argument("--terminal", action="store_true", help="chat in this terminal instead of the browser")
    sandbox.add_argument("--script", help="read chat lines from this file (the terminal chat, without a terminal)")
    sandbox.add_argument("--reply-wait", type=float, default=3.0, metavar="SECONDS",
                         help="terminal: how long a line waits for an answer before `(no reply)` (default 3)")
    sandbox.add_argument("--port", type=int, default=0,
                         help="serve the page on this port of 127.0.0.1 (default: a free port)")
    sandbox.set_defaults(func=cmd_sandbox)
    plugins = sub.add_parser("plugins", help="manage plugins").add_subparsers(dest="plugins_command", required=True)
    plugins.add_parser("list", help="installed plugins and their state").set_defaults(func=cmd_plugins_list)
    install = plugins.add_parser("install", help="pip-install a plugin (NAME, PATH or git URL), pinned to this bot")
    install.add_argument("spec")
    install.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    install.set_defaults(func=cmd_plugins_install)
    for verb, helptext in (("uninstall", "pip-uninstall a plugin"), ("info", "one plugin in detail"),
                           ("enable", "enable a plugin in plugins.toml"),
                           ("disable", "disable a plugin in plugins.toml")):
        p = plugins.add_parser(verb, help=helptext)
        p.add_argument("name")
        if verb == "uninstall":
            p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        p.set_defaults(func=functools.partial(cmd_plugin_verb, verb))
    plugins.add_parser("sync", help="install the plugins plugins.toml lists").set_defaults(func=cmd_plugins_sync)
    scaffold = sub.add_parser("new-plugin", help="create a plugin package to start from")
    scaffold.add_argument("name")
    scaffold.add_argument("--dir", default=".", help="where to create it (default: here)")
    scaffold.set_defaults(func=cmd_new_plugin)
    storage = sub.add_parser("storage", help="the database").add_subparsers(dest="storage_command", required=True)
    move = storage.add_parser("migrate", help="copy this bot's database into an empty one (e.g. PostgreSQL), verified")
    move.add_argument("--to", required=True, metavar="URL", help="the target, e.g. postgresql://user@host/db")
    move.add_argument("--schema", help="PostgreSQL: the schema to fill (default: the URL's default, public)")
    move.set_defaults(func=cmd_storage_migrate)
    from framework import models

    models_parser = sub.add_parser("models", help="speech models: list, download (every engine)")
    models.configure(models_parser)
    models_parser.set_defaults(func=cmd_models)
    config = sub.add_parser("config", help="configuration").add_subparsers(dest="config_command", required=True)
    config.add_parser("check", help="validate plugins.toml").set_defaults(func=cmd_config_check)
    for name, help_text, configure, run in extra:
        p = sub.add_parser(name, help=help_text)
        configure(p)
        p.set_defaults(func=run)
    return parser


def plugin_cli_commands(config: Config) -> list[tuple[str, str, Callable[..., Any], Callable[..., int]]]:
    """The subcommands plugins register; only plugins that may implement the hook are imported."""
    import asyncio

    from framework.plugin_scan import may_implement

    host = PluginHost(config)
    host.load_all(select=lambda origin: may_implement(origin, "register_cli_commands"))
    found: list[tuple[str, str, Callable[..., Any], Callable[..., int]]] = []

    def register(name: str, help: str, configure: Callable[..., Any], run: Callable[..., int]) -> None:
        found.append((name, help, configure, run))

    asyncio.run(host.call("register_cli_commands", scope=None, config=config,
                          per_plugin=lambda _p: {"register": register}))
    return found


def _config_first(argv: list[str]) -> list[str]:
    """``--config PATH`` is accepted anywhere (``trainerbot config check --config x.toml``)."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--config" and i + 1 < len(argv):
            return ["--config", argv[i + 1], *argv[:i], *argv[i + 2:]]
        if arg.startswith("--config="):
            return ["--config", arg.partition("=")[2], *argv[:i], *argv[i + 1:]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    setup_logging(os.environ.get("TRAINERBOT_LOG_LEVEL", "WARNING"))
    argv = _config_first(argv)
    try:
        config_path = argv[1] if argv[:1] == ["--config"] and len(argv) > 1 else None
        try:
            extra = plugin_cli_commands(load_config(config_path))
        except ConfigError:
            if [a for a in argv[2 if config_path else 0:] if not a.startswith("-")][:2] != ["config", "check"]:
                raise
            extra = []  # `config check` reports every problem itself
        args = build_parser(extra).parse_args(argv)
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
