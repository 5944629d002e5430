"""``trainerbot config check``: every problem of a plugins.toml in one run.

Loading a configuration stops at its first bad table (the bot must not start with it); a check
goes on: the host tables are validated one by one, every plugin is loaded with its own table,
and each problem is listed with the table and key it is in. A ``--config`` (or
``TRAINERBOT_CONFIG``) naming a file that does not exist is an error, not the defaults.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framework.config import DEFAULT_CONFIG, Config, ConfigError, config_from, describe_validation_error, load_config
from framework.plugins import PluginHost, PluginInfo
from framework.settings import ValidationError

HOST_TABLES = ("bot", "storage", "engines", "permissions")


@dataclass
class Report:
    path: Path
    errors: list[str] = field(default_factory=list)
    """Invalid settings: the bot would refuse to start."""
    warnings: list[str] = field(default_factory=list)
    """Plugins that fail to load, tables no plugin reads: the bot starts without them."""
    config: Config | None = None
    plugins: int = 0


class _CheckingHost(PluginHost):
    """Loads every plugin; a plugin whose table is wrong is noted and skipped instead of stopping."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.problems: list[str] = []

    def activate(self, info: PluginInfo) -> PluginInfo:
        try:
            return super().activate(info)
        except ConfigError as exc:
            info.status, info.error = "failed", str(exc)
            self.problems.append(str(exc))
            return info


def _host_tables(path: Path, data: dict[str, Any], report: Report) -> dict[str, Any]:
    """The host tables that are valid (the others are reported and left at their defaults)."""
    good: dict[str, Any] = {}
    for key, value in data.items():
        if key == "plugins":
            continue
        if key not in HOST_TABLES:
            report.errors.append(f"{path}: unknown table `[{key}]`")
            continue
        try:
            Config.model_validate({key: value})
        except ValidationError as exc:
            report.errors.append(describe_validation_error(str(path), exc))
        else:
            good[key] = value
    return good


def check(given: str | None) -> Report:
    explicit = given or os.environ.get("TRAINERBOT_CONFIG")
    path = Path(explicit or DEFAULT_CONFIG)
    report = Report(path)
    if not path.is_file():
        if explicit:
            report.errors.append(f"{path}: no such file (check the path given to --config or TRAINERBOT_CONFIG)")
            return report
    else:
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            report.errors.append(f"{path}: not valid TOML: {exc}")
            return report
        good = _host_tables(path, data, report)
        try:
            report.config = config_from({**good, "plugins": data.get("plugins", {})}, path)
        except ConfigError as exc:
            report.errors.append(str(exc))
            return report
    config = report.config or load_config(path)
    report.config = config
    host = _CheckingHost(config)
    host.load_all()
    report.plugins = len(host.infos)
    report.errors.extend(host.problems)
    for info in host.infos.values():
        if info.status == "failed" and info.error not in host.problems:
            report.warnings.append(f"plugin {info.name}: {info.error}")
    report.warnings.extend(f"[plugins.{name}]: no plugin of that name is installed"
                           for name in config.plugins if name not in host.infos)
    return report
