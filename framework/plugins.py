"""Plugin discovery and hook calls.

Plugins come from three places, in this order: the built-in ``plugins`` package
(:data:`plugins.BUILTIN_PLUGINS`), installed distributions that declare an entry point in the
group ``trainerbot.plugins``, and ``*.py`` files in ``[bot] plugins_dir``. All are registered
the same way. ``[plugins.NAME] enabled = false`` keeps one from loading;
``TRAINERBOT_LOAD_PLUGINS=a,b`` loads only those (the way out of a broken install).

A plugin that raises while loading or inside a hook is marked failed, unregistered, logged and
listed by ``/plugins``; the bot keeps running. Hooks are called plugin by plugin so that every
registration is attributed to its plugin and one plugin's failure cannot hide another's work.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from framework import hookspecs
from framework.config import Config, ConfigError, validate_plugin_settings
from framework.errors import CheckFailure, UserError

if TYPE_CHECKING:  # pragma: no cover
    from framework.commands import Command, Context

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "trainerbot.plugins"
LOAD_ENV = "TRAINERBOT_LOAD_PLUGINS"
API_VERSION = "2.0"
"""The version of the hook surface (``framework/hookspecs.py``, documented in ``docs/plugin_hooks.md``).

A plugin may declare ``TRAINERBOT_API = ">=2.0,<3"``. Every hook is public: within a major version
it keeps its name, arguments, return value and first-answer rule. A minor version may add hooks or
arguments (an implementation takes only the arguments it names). Anything else is a new major
version. Since 1.0 this includes the five hooks one built-in uses today: ``answer_text`` (provide
the conversation), ``reply_sent`` (observe replies), ``bot_answer`` (answers by other plugins can be
corrected and rated; its dict keys are the contract and may only grow), ``dataset_examples`` (keep
datasets elsewhere) and ``training_corrections`` (add corrections). ``register_cli_commands``
gained ``config`` within 1.0: an implementation that does not name it is unaffected. In 1.2
``settings_model`` may also return a ``framework.settings.Settings`` class (a pydantic model still works);
in 1.3 ``register_listeners``' ``register`` takes ``bots=False`` for ``MessageCreateEvent``.
"""


def host_version() -> str:
    try:
        return importlib.metadata.version("trainerbot")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


class PluginLoadError(Exception):
    """A plugin could not be loaded; the message is shown in the log and ``/plugins``."""


@dataclasses.dataclass
class PluginInfo:
    name: str
    source: str
    version: str
    status: str = "enabled"
    """``enabled``, ``disabled`` (by plugins.toml or TRAINERBOT_LOAD_PLUGINS) or ``failed``."""
    error: str | None = None
    module: Any = None
    hooks: list[str] = dataclasses.field(default_factory=list)
    settings: Any = None
    """The validated ``[plugins.NAME]`` table: an instance of the plugin's ``settings_model``, or None."""
    disabled_guilds: set[int] = dataclasses.field(default_factory=set)
    origin: str | None = None
    """Module name or file the plugin was imported from (for reload)."""
    attr: str | None = None
    """Attribute of the module that is the plugin (entry points ``module:attr``), if any."""
    loader: Callable[[], Any] | None = dataclasses.field(default=None, repr=False)


def check_compatibility(name: str, obj: Any) -> None:
    spec = getattr(obj, "TRAINERBOT_API", None)
    if spec is None:
        return
    try:
        ok = Version(API_VERSION) in SpecifierSet(str(spec))
    except InvalidSpecifier:
        raise PluginLoadError(f"plugin {name!r} declares an invalid TRAINERBOT_API {spec!r}") from None
    if not ok:
        raise PluginLoadError(
            f"plugin {name!r} requires trainerbot API {spec}, but this trainerbot (version {host_version()}) "
            f"provides API {API_VERSION}")


class PluginHost:
    """Owns the pluggy manager and what is known about each plugin."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.on_failure: list[Callable[[str], None]] = []

    # ------------------------------------------------------------------ discovery
    def load_all(self, extra: dict[str, Any] | None = None, *,
                 select: Callable[[str | None], bool] | None = None) -> None:
        """Discover and register every plugin; ``extra`` maps names to objects (tests, embedding).

        ``select(origin)`` (a module name or file) skips, before importing, the plugins it rejects
        (the CLI loads only plugins that may add subcommands, see ``framework.plugin_scan``)."""
        from plugins import BUILTIN_PLUGINS

        def wanted(origin: str) -> bool:
            return select is None or select(origin)

        version = host_version()
        for module_name in filter(wanted, BUILTIN_PLUGINS):
            self.load(module_name.rsplit(".", 1)[-1], functools.partial(importlib.import_module, module_name),
                      source="built-in", version=version, origin=module_name)
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if not wanted(ep.module):
                continue
            dist = ep.dist
            self.load(ep.name, ep.load, source=f"entry point ({dist.name if dist else '?'})",
                      version=dist.version if dist else "?", origin=ep.module, attr=ep.attr)
        if self.config.bot.plugins_dir is not None:
            for path in sorted(Path(self.config.bot.plugins_dir).glob("*.py")):
                if not wanted(str(path)):
                    continue
                self.load(path.stem, functools.partial(_import_file, path), source=f"directory ({path.parent})",
                          version="local", origin=str(path))
        for name, obj in (extra or {}).items():
            self.load(name, functools.partial(_itself, obj), source="registered", version="local")

    def _wanted(self, name: str) -> tuple[bool, str | None]:
        only = os.environ.get(LOAD_ENV)
        if only is not None and name not in {n.strip() for n in only.split(",") if n.strip()}:
            return False, f"not listed in {LOAD_ENV}"
        if not self.config.plugin_enabled(name):
            return False, "disabled in plugins.toml"
        return True, None

    def load(self, name: str, loader: Callable[[], Any], *, source: str, version: str, origin: str | None = None,
             attr: str | None = None) -> PluginInfo:
        if name in self.infos:
            other = self.infos[name]
            info = PluginInfo(name=f"{name}@{source}", source=source, version=version, status="failed",
                              error=f"name {name!r} is already taken by the plugin from {other.source}")
            self.infos[info.name] = info
            log.error("plugin %s: %s", name, info.error)
            return info
        info = PluginInfo(name=name, source=source, version=version, origin=origin, attr=attr, loader=loader)
        self.infos[name] = info
        wanted, why = self._wanted(name)
        if not wanted:
            info.status, info.error = "disabled", why
            log.info("plugin %s not loaded: %s", name, why)
            return info
        return self.activate(info)

    def activate(self, info: PluginInfo) -> PluginInfo:
        """Import and register a known plugin (at start-up, or when enabled at run time)."""
        name = info.name
        assert info.loader is not None
        try:
            obj = info.loader()
            check_compatibility(name, obj)
            self.pm.register(obj, name=name)
            info.module = obj
            info.hooks = self.hook_names(obj)
            info.settings = self._settings(name, obj)
            info.status, info.error = "enabled", None
        except ConfigError:
            self._forget(name)
            raise
        except Exception as exc:
            self._mark_failed(info, exc, "loading")
        else:
            log.info("plugin %s %s loaded from %s", name, info.version, info.source)
        return info

    def hook_names(self, obj: Any) -> list[str]:
        return sorted(h.name for h in self.pm.get_hookcallers(obj) or [])

    def deactivate(self, name: str, why: str) -> None:
        """Unregister an enabled plugin (disabled at run time)."""
        info = self.infos[name]
        self._forget(name)
        info.status, info.error, info.module = "disabled", why, None

    def fresh_import(self, info: PluginInfo) -> tuple[Any, Callable[[], None]]:
        """Import a new copy of a plugin's code (its module and submodules) without touching the
        running copy. Returns the new plugin object and an ``undo`` that restores the old modules."""
        if info.origin is None:
            raise PluginLoadError(f"plugin {info.name!r} was registered in code, not imported: it cannot be reloaded")
        if info.origin.endswith(".py"):
            return _import_file(Path(info.origin)), lambda: None
        base = info.origin
        saved = {k: m for k, m in sys.modules.items() if k == base or k.startswith(base + ".")}
        for key in saved:
            del sys.modules[key]
        importlib.invalidate_caches()

        def undo() -> None:
            for key in [k for k in sys.modules if k == base or k.startswith(base + ".")]:
                del sys.modules[key]
            sys.modules.update(saved)

        try:
            module = importlib.import_module(base)
            obj = getattr(module, info.attr) if info.attr else module
        except BaseException:
            undo()
            raise
        return obj, undo

    def _settings(self, name: str, obj: Any, registered_as: str | None = None) -> Any:
        impls = [i for i in self.pm.hook.settings_model.get_hookimpls() if i.plugin_name == (registered_as or name)]
        model: type[Any] | None = impls[0].function() if impls else None  # type: ignore[assignment]
        return validate_plugin_settings(self.config, name, model)

    def _forget(self, name: str) -> None:
        info = self.infos.get(name)
        if info and info.module is not None and self.pm.is_registered(info.module):
            self.pm.unregister(info.module)

    def _mark_failed(self, info: PluginInfo, exc: BaseException, during: str) -> None:
        info.status = "failed"
        info.error = f"{during}: {type(exc).__name__}: {exc}"
        log.error("plugin %s failed while %s and is disabled", info.name, during, exc_info=exc)
        self._forget(info.name)
        for callback in self.on_failure:
            callback(info.name)

    def fail(self, name: str, exc: BaseException, during: str) -> None:
        """Disable a plugin after an error in one of its hooks."""
        self._mark_failed(self.infos[name], exc, during)

    # ------------------------------------------------------------------ state
    def enabled(self) -> Iterator[PluginInfo]:
        return (i for i in self.infos.values() if i.status == "enabled")

    def enabled_in(self, name: str, guild_id: int | None) -> bool:
        info = self.infos.get(name)
        if info is None or info.status != "enabled":
            return False
        return guild_id is None or int(guild_id) not in info.disabled_guilds

    def settings(self, name: str) -> Any:
        info = self.infos.get(name)
        return info.settings if info else None

    # ------------------------------------------------------------------ calling hooks
    async def call(self, hook_name: str, *, scope: int | None, only: set[str] | None = None, strict: bool = False,
                   per_plugin: Callable[[str], dict[str, Any]] | None = None, **kwargs: Any) -> Any:
        """Call a hook: THE one way the host calls plugins.

        ``scope`` is the guild the call is about (a plugin switched off there is skipped), or
        ``None`` for a global call; it is required so no caller can forget it. Whether the hook
        is ``firstresult`` comes from its spec: such a call returns the first answer that is not
        ``None`` (or ``None``); any other returns ``[(plugin, answer), ...]``. Plugins are called
        in pluggy's order, so ``tryfirst``/``trylast`` and wrappers (``wrapper=True`` and the old
        ``hookwrapper=True``) work as in any pluggy host; awaitables are awaited.

        ``per_plugin(name)`` adds arguments bound to the plugin being called (a ``register`` that
        records who registered what). ``only`` limits the call to those plugins (enabled or not,
        for staging a reload). A ``UserError`` reaches the caller (it is an answer for the user);
        any other exception disables the plugin that raised it, unless ``strict``, when it
        propagates.
        """
        caller = getattr(self.pm.hook, hook_name)
        firstresult = bool(caller.spec and caller.spec.opts.get("firstresult"))
        impls = [i for i in reversed(caller.get_hookimpls()) if self._callable_in(i.plugin_name, scope, only)]
        if not impls:  # the per-command ``check`` call, most often: nothing to await or unwind
            return None if firstresult else []
        teardowns: list[tuple[str, Any, bool]] = []
        for impl in (i for i in impls if i.wrapper or i.hookwrapper):
            try:
                gen = impl.function(*self._arguments(impl, kwargs, per_plugin))
                next(gen)
            except Exception as exc:
                self._hook_failed(impl.plugin_name, exc, hook_name, strict)
                continue
            teardowns.append((impl.plugin_name, gen, bool(impl.hookwrapper)))
        results: list[tuple[str, Any]] = []
        error: BaseException | None = None
        for impl in (i for i in impls if not (i.wrapper or i.hookwrapper)):
            try:
                result = impl.function(*self._arguments(impl, kwargs, per_plugin))
                if inspect.isawaitable(result):
                    result = await result
            except UserError as exc:
                error = exc
                break
            except Exception as exc:
                try:
                    self._hook_failed(impl.plugin_name, exc, hook_name, strict)
                except Exception as raised:
                    error = raised
                    break
                continue
            if firstresult and result is not None:
                results.append((impl.plugin_name, result))
                break
            if not firstresult:
                results.append((impl.plugin_name, result))
        outcome: Any = (results[0][1] if results else None) if firstresult else results
        for name, gen, old_style in reversed(teardowns):
            outcome, error = self._teardown(name, gen, old_style, outcome, error, hook_name, strict)
        if error is not None:
            raise error
        return outcome

    def _callable_in(self, name: str, scope: int | None, only: set[str] | None) -> bool:
        return name in only if only is not None else self.enabled_in(name, scope)

    @staticmethod
    def _arguments(impl: pluggy.HookImpl, kwargs: dict[str, Any],
                   per_plugin: Callable[[str], dict[str, Any]] | None) -> list[Any]:
        arguments = {**kwargs, **(per_plugin(impl.plugin_name) if per_plugin else {})}
        try:
            return [arguments[a] for a in impl.argnames]
        except KeyError as exc:
            raise TypeError(f"hook {impl.function.__name__} of plugin {impl.plugin_name!r} takes "
                            f"{exc.args[0]!r}, which the hook does not provide") from None

    def _hook_failed(self, plugin: str, exc: BaseException, hook_name: str, strict: bool) -> None:
        if strict:
            raise exc
        self.fail(plugin, exc, f"in hook {hook_name}")

    def _teardown(self, plugin: str, gen: Any, old_style: bool, outcome: Any, error: BaseException | None,
                  hook_name: str, strict: bool) -> tuple[Any, BaseException | None]:
        """Finish one wrapper: it sees the answer (or the error) and may replace it, as in pluggy."""
        try:
            if old_style:
                result = pluggy.Result(outcome, error)
                try:
                    gen.send(result)
                except StopIteration:
                    pass
                return result.get_result(), None
            if error is not None:
                gen.throw(error)
            else:
                gen.send(outcome)
        except StopIteration as stop:
            return stop.value, None
        except UserError as exc:
            return None, exc
        except Exception as exc:
            if exc is error:
                return outcome, error
            try:
                self._hook_failed(plugin, exc, hook_name, strict)
            except Exception as raised:
                return outcome, raised
            return outcome, error
        finally:
            gen.close()
        self._hook_failed(plugin, RuntimeError("wrapper yielded twice"), hook_name, strict)
        return outcome, error

    async def run_check_hooks(self, ctx: Context, cmd: Command) -> None:
        for name, result in await self.call("check", scope=ctx.guild_id, ctx=ctx, command=cmd):
            if result is False:
                log.info("plugin %s refused %s for %s", name, cmd.qualified_name, ctx.author.id)
                raise CheckFailure(f"You can't use `{cmd.qualified_name}` here.")


def _itself(obj: Any) -> Any:
    return obj


def _import_file(path: Path) -> Any:
    module_name = f"trainerbot_local_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginLoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module
