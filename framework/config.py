"""plugins.toml + environment -> validated settings.

Host tables (``[bot]``, ``[engines]``, ``[permissions]``) are validated here; each
``[plugins.NAME]`` table is validated against the model the plugin returns from its
``settings_model`` hook. Errors name the table and the key. Secrets (``DISCORD_TOKEN``,
``OPENAI_API_KEY``) come only from the environment and are never printed.
"""

from __future__ import annotations

import os
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from framework.settings import Field, Settings, ValidationError, is_pydantic_model

DEFAULT_CONFIG = "plugins.toml"
RESERVED_PLUGIN_KEYS = {"enabled", "package"}
"""Keys of a ``[plugins.NAME]`` table that belong to the host, not to the plugin's model."""


class ConfigError(Exception):
    """plugins.toml (or the environment) is wrong; the message says where."""


class Strict(Settings):
    """Unknown keys are errors; assignments are validated (both are ``framework.settings`` defaults)."""


class BotSettings(Strict):
    prefix: str = Field("!", min_length=1, max_length=5)
    data_root: Path = Path("data")
    database_url: str | None = None
    """The older name of ``[storage] url`` (which wins when both are set)."""
    guilds: list[int] = []
    """Register slash commands in these guilds (instant) instead of globally."""
    plugins_dir: Path | None = None
    """A local directory of ``*.py`` plugins, loaded after built-ins and entry points."""
    log_level: str = "INFO"
    max_upload_bytes: int = Field(10 * 1024 * 1024, gt=0)
    """Discord's upload limit for the bot's files (10 MiB for bots without boosts)."""
    blocking_workers: int = Field(4, ge=1, le=64)
    progress_interval: float = Field(3.0, gt=0, le=60)
    """Seconds between two edits of one progress message (training, tests, archives): Discord
    rate-limits edits, and a user reads no faster."""
    http_keepalive: bool | None = None
    """Reuse REST connections to Discord instead of opening one per request. Default (unset): on,
    except on Windows, where hikari's docs advise closing them (its ``force_close_transports``)."""
    http_pool_size: int = Field(100, ge=1, le=1000)
    """At most this many REST connections open at once (hikari's ``connection_limit``)."""
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    """``auto``: uvloop where it is installed (Linux, macOS), else asyncio's loop (see ``framework.runtime``)."""
    message_cache: int = Field(0, ge=0, le=100_000)
    """How many recent messages hikari keeps in its cache (``bot.cache.get_message``); 0: none."""


class StorageSettings(Strict):
    """Where state lives: SQLite under the data root (one process) or a shared PostgreSQL (several)."""

    url: str | None = None
    """Database URL, e.g. ``postgresql://bot@db.example/trainerbot`` (``postgres://…`` works too).
    Unset: ``DATABASE_URL`` from the environment, then ``[bot] database_url``, then SQLite under the data root."""
    schema_name: str | None = Field(None, alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """PostgreSQL only: the schema the bot's tables live in (created if missing); default ``public``,
    or ``TRAINERBOT_DATABASE_SCHEMA`` from the environment."""
    lease_seconds: float = Field(10.0, ge=0.5, le=600)
    """How long a background job's owner keeps it without renewing: the bound on a takeover after it dies."""
    sync_interval: float = Field(0.5, ge=0.05, le=60)
    """How often each process looks for state changes made by the others (plugin switches, reloads, models)."""


class EngineSettings(Strict):
    stt: str | dict[str, str] = {"en": "whisper", "ko": "vosk"}
    """One engine name, or a table language -> engine; see ``framework.speech_routing``."""
    tts: str = "pyttsx3"
    provider: str | None = None
    """Model provider; default ``openai`` when OPENAI_API_KEY is set, else ``local``."""
    voice: str = "native"


class PermissionGroup(Strict):
    roles: list[str | int] = []
    users: list[int] = []


class PermissionSettings(Strict):
    owners: list[int] = []
    """Bot owners in addition to the application's owner (or team members)."""
    groups: dict[str, PermissionGroup] = {}


class Config(Strict):
    bot: BotSettings = BotSettings()
    storage: StorageSettings = StorageSettings()
    engines: EngineSettings = EngineSettings()
    permissions: PermissionSettings = PermissionSettings()
    plugins: dict[str, dict[str, Any]] = {}
    path: Path | None = None

    def plugin_table(self, name: str) -> dict[str, Any]:
        return self.plugins.get(name, {})

    def plugin_enabled(self, name: str) -> bool:
        return bool(self.plugin_table(name).get("enabled", True))

    @property
    def provider(self) -> str:
        return self.engines.provider or ("openai" if os.environ.get("OPENAI_API_KEY") else "local")

    def engine(self, setting: str) -> str | dict[str, str] | None:
        """The engine ``[engines] SETTING`` picks (the provider has a default that depends on the environment)."""
        return self.provider if setting == "provider" else getattr(self.engines, setting)


class _Errors(Protocol):
    def errors(self) -> Sequence[Mapping[str, Any]]: ...


def describe_validation_error(where: str, exc: _Errors) -> str:
    """One line per error of a ``framework.settings`` (or pydantic) ValidationError, naming the key."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(table)"
        if err["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key `{key}`")
        else:
            lines.append(f"{where}: key `{key}`: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def load_config(path: str | Path | None = None, *, overrides: dict[str, Any] | None = None) -> Config:
    """Read plugins.toml (``TRAINERBOT_CONFIG`` or ./plugins.toml); a missing file means defaults."""
    path = Path(path or os.environ.get("TRAINERBOT_CONFIG") or DEFAULT_CONFIG)
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for section, values in (overrides or {}).items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    return config_from(data, path)


def config_from(data: dict[str, Any], path: Path) -> Config:
    """The validated ``Config`` of plugins.toml's ``data`` read from ``path`` (``TRAINERBOT_DATA_ROOT``
    applied, a relative data root taken from the file's folder)."""
    if env_root := os.environ.get("TRAINERBOT_DATA_ROOT"):
        data.setdefault("bot", {})["data_root"] = env_root
    plugins = data.get("plugins", {})
    if not isinstance(plugins, dict) or any(not isinstance(v, dict) for v in plugins.values()):
        raise ConfigError(f"{path}: [plugins] must hold one table per plugin, e.g. [plugins.core]")
    try:
        config = Config.model_validate({**data, "path": path})
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(str(path), exc)) from None
    if not config.bot.data_root.is_absolute():
        base = path.parent if path.exists() else Path.cwd()
        config.bot.data_root = (base / config.bot.data_root).resolve()
    return config


def validate_plugin_settings(config: Config, plugin: str, model: type[Any] | None) -> Any:
    """Validate ``[plugins.NAME]`` against the plugin's model; raise ConfigError naming plugin and key.

    The model is a ``framework.settings.Settings`` class or a pydantic ``BaseModel`` class (then
    pydantic is loaded already, by the plugin that imported it)."""
    table = {k: v for k, v in config.plugin_table(plugin).items() if k not in RESERVED_PLUGIN_KEYS}
    if model is None:
        if table:
            raise ConfigError(f"[plugins.{plugin}]: this plugin takes no settings, but plugins.toml sets "
                              + ", ".join(f"`{k}`" for k in table))
        return None
    errors: tuple[type[Exception], ...] = (ValidationError,)
    if is_pydantic_model(model):
        import pydantic

        errors = (pydantic.ValidationError,)
    elif not (isinstance(model, type) and issubclass(model, Settings)):
        raise TypeError(f"settings_model returned {model!r}, not a framework.settings.Settings (or pydantic) class")
    known = {name for name, field in model.model_fields.items()} | {
        field.alias for field in model.model_fields.values() if field.alias}
    unknown = sorted(set(table) - known) if model.model_config.get("extra") != "allow" else []
    problems = [f"[plugins.{plugin}]: unknown key `{k}`" for k in unknown]
    try:  # every problem of the table in one message: unknown keys and wrong values together
        settings = model.model_validate({k: v for k, v in table.items() if k not in unknown})
    except errors as exc:
        problems.append(describe_validation_error(f"[plugins.{plugin}]", typing.cast(_Errors, exc)))
    if problems:
        raise ConfigError("\n".join(problems))
    return settings


def write_plugin_enabled(config: Config, plugin: str, enabled: bool) -> None:
    """Record ``[plugins.NAME] enabled`` in plugins.toml, keeping its comments and layout."""
    import tomlkit

    config.plugins.setdefault(plugin, {})["enabled"] = enabled
    if config.path is None:
        return
    doc = tomlkit.parse(config.path.read_text("utf-8")) if config.path.exists() else tomlkit.document()
    plugins = doc.setdefault("plugins", tomlkit.table(is_super_table=True))
    table = plugins.setdefault(plugin, tomlkit.table())
    table["enabled"] = enabled
    config.path.write_text(tomlkit.dumps(doc), "utf-8")
