"""Plugins installed while the bot runs: found again by name, and loaded as a restart would.

``trainerbot plugins install`` adds an entry point (or a file lands in ``[bot] plugins_dir``)
while the bot is running. Start-up discovery has already happened, so ``/plugins enable NAME``
or ``/plugins reload NAME`` for a name the bot does not know looks again: entry points and
plugins_dir are rescanned for that one name, the plugin's table is read from plugins.toml as it
is now, and the plugin is loaded when plugins.toml enables it (``plugins install`` does), exactly
as a restart would load it. The scan reads the disk in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.metadata
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.config import Config, ConfigError, load_config
from framework.dataroot import check_name
from framework.errors import PathRefused
from framework.plugins import ENTRY_POINT_GROUP, PluginInfo, _import_file

if TYPE_CHECKING:  # pragma: no cover - typing only
    from framework.app import App

log = logging.getLogger(__name__)

Found = tuple[Callable[[], Any], str, str, str, "str | None", dict[str, Any]]


def find_installed(config: Config, name: str) -> Found | None:
    """Where plugin ``name`` can be loaded from now, and its plugins.toml table (blocking)."""
    try:
        name = check_name(name, "plugin name", max_length=100)  # it may become a file name in plugins_dir
    except PathRefused:
        return None
    importlib.invalidate_caches()
    table: dict[str, Any] = {}
    if config.path is not None and config.path.is_file():
        try:
            table = load_config(config.path).plugin_table(name)
        except ConfigError as exc:
            log.warning("rediscovering plugin %s: plugins.toml cannot be read now: %s", name, exc)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            dist = ep.dist
            return (ep.load, f"entry point ({dist.name if dist else '?'})", dist.version if dist else "?",
                    ep.module, ep.attr, table)
    if config.bot.plugins_dir is not None and name.isidentifier():
        path = Path(config.bot.plugins_dir) / f"{name}.py"
        if path.is_file():
            return functools.partial(_import_file, path), f"directory ({path.parent})", "local", str(path), None, table
    return None


async def rediscover(app: App, name: str, *, publish: bool = True) -> PluginInfo | None:
    """Plugin ``name`` installed since start-up, now known (and loaded if plugins.toml enables it);
    ``None`` when nothing of that name is installed. ``publish``: tell the other processes."""
    found = await asyncio.to_thread(find_installed, app.config, name)
    if found is None or name in app.plugins.infos:
        return app.plugins.infos.get(name)
    loader, source, version, origin, attr, table = found
    if table:
        app.config.plugins[name] = table
    info = PluginInfo(name=name, source=source, version=version, status="disabled", origin=origin, attr=attr,
                      loader=loader, error="installed while the bot was running")
    app.plugins.infos[name] = info
    log.warning("plugin %s (%s %s) was installed while the bot ran: found it", name, source, version)
    wanted, why = app.plugins._wanted(name)
    if wanted:
        await (app.set_enabled(name, True) if publish else app._set_enabled(name, True, sync_commands=False))
    else:
        info.error = why
    return info
