"""Third-party plugins from the CLI: a real distribution built from the scaffold is pip-installed
into this environment (pinned by constraints), answers through the bot, is disabled, reinstalled by
`sync`, and uninstalled; incompatible, broken and conflicting plugins are refused clearly."""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import io
import subprocess
import sys
from pathlib import Path

import pytest

from framework import plugin_admin
from framework.config import load_config


def scaffold(tmp_path: Path, name: str) -> Path:
    out = io.StringIO()
    assert plugin_admin.new_plugin(name, tmp_path, out=out) == 0, out.getvalue()
    return tmp_path / f"trainerbot-{name.replace('_', '-')}"


def installed(name: str) -> bool:
    importlib.invalidate_caches()
    return any(ep.name == name for ep in importlib.metadata.entry_points(group="trainerbot.plugins"))


@pytest.fixture
def cleanup():
    names: list[tuple[str, str]] = []
    yield names
    for dist, module in names:  # leave the test environment as it was, even when a test fails
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", dist], capture_output=True, check=False)
        sys.modules.pop(module, None)
    importlib.invalidate_caches()


async def test_install_use_disable_sync_uninstall(tb_factory, tmp_path, cleanup) -> None:
    folder = scaffold(tmp_path, "greeter")
    cleanup.append(("trainerbot-greeter", "trainerbot_greeter"))
    config_path = tmp_path / "plugins.toml"
    config_path.write_text("# my bot\n", "utf-8")
    out = io.StringIO()
    assert plugin_admin.install(load_config(config_path), str(folder), yes=True, out=out) == 0, out.getvalue()
    assert f"from the local folder or file {folder}" in out.getvalue()
    assert "hikari==2.6.0" in out.getvalue() and "Installed plugin 'greeter' 0.1.0" in out.getvalue()
    assert f'package = "{folder}"' in config_path.read_text("utf-8")

    tb = await tb_factory(plugins_toml=config_path.read_text("utf-8"))
    assert tb.app.plugins.infos["greeter"].source == "entry point (trainerbot-greeter)"
    assert (await tb.say("!greeter Ann")).content == "Hello, Ann, from greeter!"
    assert (await tb.slash("greeter", {"who": "Bob"})).content == "Hello, Bob, from greeter!"
    await tb.app.close()

    from framework.cli import main as cli_main

    assert await asyncio.to_thread(cli_main, ["--config", str(config_path), "plugins", "disable", "greeter"]) == 0
    tb2 = await tb_factory(plugins_toml=config_path.read_text("utf-8"))
    assert tb2.app.plugins.infos["greeter"].status == "disabled"
    assert (await tb2.say("!greeter")).content.startswith("Unknown command `!greeter`")
    await tb2.app.close()

    subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "trainerbot-greeter"], check=True)
    assert not installed("greeter")
    assert plugin_admin.sync(load_config(config_path), out=io.StringIO()) == 0
    assert installed("greeter"), "sync reinstalled what plugins.toml lists"

    out = io.StringIO()
    assert plugin_admin.uninstall(load_config(config_path), "greeter", out=out) == 0
    assert not installed("greeter") and "[plugins.greeter]" not in config_path.read_text("utf-8")
    assert "# my bot" in config_path.read_text("utf-8")


def test_a_plugin_asking_for_another_hikari_is_refused(tmp_path, cleanup) -> None:
    folder = scaffold(tmp_path, "oldhikari")
    cleanup.append(("trainerbot-oldhikari", "trainerbot_oldhikari"))
    pyproject = folder / "pyproject.toml"
    pinned = pyproject.read_text("utf-8").replace('dependencies = ["trainerbot"]',
                                                  'dependencies = ["trainerbot", "hikari==2.5.0"]')
    pyproject.write_text(pinned, "utf-8")
    out = io.StringIO()
    assert plugin_admin.install(load_config(tmp_path / "plugins.toml"), str(folder), yes=True, out=out) == 1
    assert out.getvalue().count("Refused: the plugin cannot be installed without changing what trainerbot pins") == 1
    assert "hikari" in out.getvalue().split("Refused:", 1)[1]
    assert not installed("oldhikari")
    assert importlib.metadata.version("hikari") == "2.6.0"


@pytest.mark.parametrize(("name", "edit", "reason"), [
    ("future", ('TRAINERBOT_API = ">=1.0,<2"', 'TRAINERBOT_API = ">=2,<3"'),
     "requires trainerbot API >=2,<3, but this trainerbot (version 0.1.0) provides API 1.1"),
    ("crashy", ("from framework import hookimpl", 'raise RuntimeError("crashy on import")'),
     "RuntimeError: crashy on import"),
])
def test_incompatible_or_broken_plugins_are_reported_and_disabled(tmp_path, cleanup, name, edit, reason) -> None:
    folder = scaffold(tmp_path, name)
    cleanup.append((f"trainerbot-{name}", f"trainerbot_{name}"))
    module = folder / f"trainerbot_{name}.py"
    module.write_text(module.read_text("utf-8").replace(*edit), "utf-8")
    config_path = tmp_path / "plugins.toml"
    out = io.StringIO()
    assert plugin_admin.install(load_config(config_path), str(folder), yes=True, out=out) == 1
    assert f"plugin {name!r} does not load, so it is disabled" in out.getvalue() and reason in out.getvalue()
    assert "enabled = false" in config_path.read_text("utf-8")


def test_installing_asks_first_and_refuses_without_a_terminal(tmp_path) -> None:
    out = io.StringIO()
    assert plugin_admin.install(load_config(tmp_path / "p.toml"), "some-plugin", yes=False, out=out,
                                stdin=io.StringIO("")) == 1
    assert "from the PyPI package 'some-plugin'" in out.getvalue()
    assert "Only install code you trust" in out.getvalue()
    assert "run again with --yes" in out.getvalue()


def test_scaffold_contents(tmp_path) -> None:
    folder = scaffold(tmp_path, "dice")
    entry_point = '[project.entry-points."trainerbot.plugins"]\ndice = "trainerbot_dice"'
    assert entry_point in (folder / "pyproject.toml").read_text()
    assert "async def test_dice_answers_on_both_surfaces(tb)" in (folder / "tests" / "test_dice.py").read_text()
    compile((folder / "trainerbot_dice.py").read_text(), "plugin", "exec")
    assert plugin_admin.new_plugin("Bad Name", tmp_path, out=io.StringIO()) == 1
