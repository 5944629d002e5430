"""Installing and managing third-party plugins from the command line.

``trainerbot plugins install NAME|PATH|git-URL`` runs pip in the bot's own environment with a
constraints file that pins trainerbot and every one of its dependencies to the installed versions,
so a plugin can never move hikari, lightbulb or trainerbot. It says where the code comes from and
asks once (``--yes`` for scripts), records the plugin in plugins.toml (``package = ...``) so
``plugins sync`` can reinstall it in a new environment, and loads it once to report problems.
``plugins uninstall NAME`` asks the same way (``--yes``). The CLI finds the bot's plugins.toml
(``--config``, or the nearest one in a parent folder), never a new one in a plugin's folder.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import tomlkit
from packaging.requirements import Requirement

from framework.config import Config, write_plugin_enabled
from framework.plugins import API_VERSION, ENTRY_POINT_GROUP, PluginHost


def host_pins() -> list[str]:
    """``name==version`` for trainerbot and every installed dependency it declares."""
    pins = {"trainerbot": importlib.metadata.version("trainerbot")}
    for spec in importlib.metadata.requires("trainerbot") or []:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            pins[req.name] = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def describe_source(spec: str) -> str:
    if spec.startswith(("git+", "git@")) or spec.endswith(".git"):
        return f"the git repository {spec}"
    if "://" in spec:
        return f"the URL {spec}"
    if Path(spec).expanduser().exists():
        return f"the local folder or file {Path(spec).expanduser().resolve()}"
    return f"the PyPI package {spec!r}"


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, check=False)


def _conflict_summary(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines()
             if re.search(r"(depends on|conflict|requested|constraint|Cannot install)", line, re.I)]
    if lines:
        return "\n  ".join(lines[:8])
    return stderr.strip().splitlines()[-1] if stderr.strip() else "pip failed"


def _entry_points_of(dists: list[str]) -> dict[str, str]:
    found = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else ""
        if dist.lower().replace("_", "-") in {d.lower().replace("_", "-") for d in dists}:
            found[ep.name] = dist
    return found


def _confirm(message: str, yes: bool, out: TextIO, stdin: TextIO) -> bool:
    out.write(message + "\n")
    if yes:
        return True
    if not stdin.isatty():
        out.write("Refusing to install third-party code without confirmation: run again with --yes.\n")
        return False
    out.write("Install it? [y/N] ")
    out.flush()
    return stdin.readline().strip().lower() in {"y", "yes"}


def install(config: Config, spec: str, *, yes: bool, out: TextIO = sys.stdout, stdin: TextIO = sys.stdin) -> int:
    pins = host_pins()
    shown = ", ".join(p for p in pins if p.split("==")[0] in ("trainerbot", "hikari", "hikari-lightbulb"))
    message = (f"Installing a trainerbot plugin from {describe_source(spec)}.\n"
               "Plugins are Python code that runs inside the bot with all its permissions "
               "(its token, its data). Only install code you trust.\n"
               f"Pinned so the plugin cannot change them: {shown}.")
    if not _confirm(message, yes, out, stdin):
        return 1
    target = str(Path(spec).expanduser().resolve()) if Path(spec).expanduser().exists() else spec
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(pins) + "\n", "utf-8")
        report = Path(tmp) / "report.json"
        done = _pip("install", "--quiet", "--report", str(report), "-c", str(constraints), target)
        if done.returncode != 0:
            out.write("Refused: the plugin cannot be installed without changing what trainerbot pins, "
                      "or pip failed:\n  " + _conflict_summary(done.stderr) + "\n")
            return 1
        installed = [item["metadata"]["name"] for item in json.loads(report.read_text("utf-8")).get("install", [])]
    importlib.invalidate_caches()
    plugins = _entry_points_of(installed)
    if not plugins:
        out.write(f"Installed {', '.join(installed) or 'nothing new'}, but no package declares an entry point "
                  f"in [{ENTRY_POINT_GROUP}]: it is not a trainerbot plugin.\n")
        return 1
    status = 0
    for name, dist in plugins.items():
        _record(config, name, target)
        host = PluginHost(config)
        host.load_all()
        info = host.infos.get(name)
        if info is None or info.status != "enabled":
            reason = info.error if info else "not found after installing"
            write_plugin_enabled(config, name, False)
            out.write(f"Installed {dist} but plugin {name!r} does not load, so it is disabled: {reason}\n")
            status = 1
        else:
            out.write(f"Installed plugin {name!r} {info.version} from {dist}; hooks: {', '.join(info.hooks)}.\n"
                      "Restart the bot (or `/plugins enable` it) to use it.\n")
    return status


def _record(config: Config, name: str, spec: str) -> None:
    write_plugin_enabled(config, name, True)
    if config.path is None:
        return
    doc = tomlkit.parse(config.path.read_text("utf-8"))
    doc["plugins"][name]["package"] = spec
    config.path.write_text(tomlkit.dumps(doc), "utf-8")


def uninstall(config: Config, name: str, *, yes: bool = False, out: TextIO = sys.stdout,
              stdin: TextIO = sys.stdin) -> int:
    """pip-uninstall the distribution of plugin ``name`` and drop its table from plugins.toml; asks
    first unless ``yes`` (without a terminal to ask on, refuses instead of waiting)."""
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    if name not in eps or eps[name].dist is None:
        out.write(f"No installed plugin {name!r} (built-in plugins are disabled, not uninstalled).\n")
        return 1
    found = eps[name].dist
    assert found is not None  # checked above
    dist = found.name
    message = (f"Uninstalling plugin {name!r}: the package {dist} {found.version}, "
               f"and [plugins.{name}] in {config.path}.")
    if not yes:
        out.write(message + "\n")
        if not stdin.isatty():
            out.write("Refusing to uninstall without confirmation: run again with --yes.\n")
            return 1
        out.write("Uninstall it? [y/N] ")
        out.flush()
        if stdin.readline().strip().lower() not in {"y", "yes"}:
            out.write("Nothing uninstalled.\n")
            return 1
    done = _pip("uninstall", "--yes", "--quiet", dist)
    if done.returncode != 0:
        out.write(f"pip could not uninstall {dist}: {done.stderr.strip()}\n")
        return 1
    if config.path is not None and config.path.exists():
        doc = tomlkit.parse(config.path.read_text("utf-8"))
        if "plugins" in doc and name in doc["plugins"]:
            del doc["plugins"][name]
            config.path.write_text(tomlkit.dumps(doc), "utf-8")
    out.write(f"Uninstalled plugin {name!r} ({dist}).\n")
    return 0


def sync(config: Config, *, out: TextIO = sys.stdout) -> int:
    """Install every plugin plugins.toml lists with a ``package`` that is not installed."""
    installed = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    status = 0
    for name, table in config.plugins.items():
        spec = table.get("package")
        if spec and name not in installed:
            status |= install(config, spec, yes=True, out=out)
    if status == 0:
        out.write("All plugins listed in plugins.toml are installed.\n")
    return status


def info(config: Config, name: str, *, out: TextIO = sys.stdout) -> int:
    host = PluginHost(config)
    host.load_all()
    plugin = host.infos.get(name)
    if plugin is None:
        out.write(f"No plugin {name!r}.\n")
        return 1
    out.write(f"{plugin.name} {plugin.version}\n  status: {plugin.status}\n  source: {plugin.source}\n"
              f"  hooks: {', '.join(plugin.hooks) or '-'}\n")
    if package := config.plugin_table(name).get("package"):
        out.write(f"  installed from: {package}\n")
    if plugin.error:
        out.write(f"  last error: {plugin.error}\n")
    return 0


SCAFFOLD_PYPROJECT = '''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A trainerbot plugin"
requires-python = ">=3.11"
dependencies = ["trainerbot"]

[project.entry-points."trainerbot.plugins"]
{name} = "{module}"

[tool.setuptools]
py-modules = ["{module}"]
'''

SCAFFOLD_MODULE = '''"""{name}: a trainerbot plugin. `/{name}` and `!{name}` answer with a greeting."""

from framework import hookimpl
from framework.commands import Context, command, string

TRAINERBOT_API = ">={api},<{next_major}"


@command("{name}", "Say hello from the {name} plugin", options=[string("who", "Who to greet", default="world")])
async def {func}(ctx: Context, who: str) -> None:
    await ctx.respond(f"Hello, {{who}}, from {name}!")


@hookimpl
def register_commands(register):
    register({func})
'''

SCAFFOLD_TEST = '''"""Runs the real bot on trainerbot's local Discord emulator (the `tb` fixture)."""


async def test_{func}_answers_on_both_surfaces(tb):
    assert (await tb.say("!{name} Ann")).content == "Hello, Ann, from {name}!"
    assert (await tb.slash("{name}", {{"who": "Bob"}})).content == "Hello, Bob, from {name}!"
'''

SCAFFOLD_README = '''# {dist}

A trainerbot plugin. Install it into a bot: `trainerbot plugins install ./{dist}`.
Test it: `pip install -e . pytest pytest-asyncio` then `pytest` (asyncio_mode is set in pyproject).
'''


def new_plugin(name: str, where: Path, *, out: TextIO = sys.stdout) -> int:
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,30}", name):
        out.write("A plugin name is lowercase letters, digits and _ (it is also its command's name).\n")
        return 1
    dist = f"trainerbot-{name.replace('_', '-')}"
    module = f"trainerbot_{name}"
    folder = where / dist
    if folder.exists():
        out.write(f"{folder} already exists.\n")
        return 1
    (folder / "tests").mkdir(parents=True)
    values = {"name": name, "dist": dist, "module": module, "func": name, "api": API_VERSION,
              "next_major": int(API_VERSION.split(".")[0]) + 1}
    (folder / "pyproject.toml").write_text(SCAFFOLD_PYPROJECT.format(**values)
                                           + '\n[tool.pytest.ini_options]\nasyncio_mode = "auto"\n', "utf-8")
    (folder / f"{module}.py").write_text(SCAFFOLD_MODULE.format(**values), "utf-8")
    (folder / "tests" / f"test_{name}.py").write_text(SCAFFOLD_TEST.format(**values), "utf-8")
    (folder / "README.md").write_text(SCAFFOLD_README.format(**values), "utf-8")
    out.write(f"Created {folder}: {module}.py (one command), tests/test_{name}.py, pyproject.toml.\n"
              f"Install it into this bot with: trainerbot plugins install {folder}\n")
    return 0

