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
from framework.plugins import API_VERSION

NEXT = int(API_VERSION.split(".")[0]) + 1
"""The next major version of the plugin API, which no plugin here can be compatible with yet."""

pytestmark = [
    pytest.mark.backends("sqlite"),  # installing plugins does not depend on the database
    pytest.mark.serial,  # pip-installs into the environment every other test's bot loads plugins from
]


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
    assert plugin_admin.uninstall(load_config(config_path), "greeter", yes=True, out=out) == 0
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
    ("future", (f'TRAINERBOT_API = ">={API_VERSION},<{NEXT}"', f'TRAINERBOT_API = ">={NEXT},<{NEXT + 1}"'),
     f"requires trainerbot API >={NEXT},<{NEXT + 1}, but this trainerbot (version 0.1.0) provides API {API_VERSION}"),
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


TRAINERBOT = str(Path(sys.executable).with_name("trainerbot"))


def trainerbot(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("TRAINERBOT_CONFIG", "DISCORD_TOKEN")}
    return subprocess.run([TRAINERBOT, *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
                          timeout=300)


async def test_install_from_the_plugin_folder_then_enable_in_the_running_bot(tb_factory, tmp_path, cleanup) -> None:
    """Run from the plugin's own folder inside the bot's project, `plugins install .` records the
    plugin in the project's plugins.toml (none appears in the plugin folder); the bot that was
    already running finds it on `/plugins enable`; `plugins uninstall` asks, or takes --yes."""
    project = tmp_path / "bot"
    project.mkdir()
    (project / "plugins.toml").write_text("# my bot\n", "utf-8")
    folder = scaffold(project, "latedice")
    cleanup.append(("trainerbot-latedice", "trainerbot_latedice"))
    tb = await tb_factory()
    before = await tb.slash("plugins", {"name": "latedice"}, subcommand="enable", user=tb.owner)
    assert before.content == "No plugin named `latedice`. `plugins list` shows them."

    done = await asyncio.to_thread(trainerbot, "plugins", "install", ".", "--yes", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"using {project / 'plugins.toml'}" in done.stderr
    assert "[plugins.latedice]" in (project / "plugins.toml").read_text("utf-8")
    assert "# my bot" in (project / "plugins.toml").read_text("utf-8")
    assert not (folder / "plugins.toml").exists(), "no new plugins.toml in the plugin's folder"

    enabled = await tb.slash("plugins", {"name": "latedice"}, subcommand="enable", user=tb.owner)
    assert enabled.content == "Plugin `latedice` is now enabled in this server."
    assert tb.app.plugins.infos["latedice"].source == "entry point (trainerbot-latedice)"
    assert (await tb.say("!latedice Ann")).content == "Hello, Ann, from latedice!"
    assert (await tb.slash("latedice", {"who": "Bob"})).content == "Hello, Bob, from latedice!"
    assert "latedice" in {c["name"] for c in tb.emu.synced_commands()}

    asked = await asyncio.to_thread(trainerbot, "plugins", "uninstall", "latedice", cwd=folder, stdin="")
    assert asked.returncode == 1 and "run again with --yes" in asked.stdout and installed("latedice")
    gone = await asyncio.to_thread(trainerbot, "plugins", "uninstall", "latedice", "--yes", cwd=project)
    assert gone.returncode == 0 and "Uninstalled plugin 'latedice'" in gone.stdout, gone.stdout + gone.stderr
    assert not installed("latedice") and "[plugins.latedice]" not in (project / "plugins.toml").read_text("utf-8")


def test_plugin_commands_change_the_projects_plugins_toml_or_refuse(tmp_path) -> None:
    project = tmp_path / "bot"
    deep = project / "plugins-src" / "mine"
    deep.mkdir(parents=True)
    (project / "plugins.toml").write_text("# my bot\n", "utf-8")
    disabled = trainerbot("plugins", "disable", "feedback", cwd=deep)
    assert disabled.returncode == 0, disabled.stderr
    assert "enabled = false" in (project / "plugins.toml").read_text("utf-8")
    assert not (deep / "plugins.toml").exists() and not (deep.parent / "plugins.toml").exists()

    nowhere = tmp_path / "elsewhere"
    nowhere.mkdir()
    refused = trainerbot("plugins", "install", "some-plugin", "--yes", cwd=nowhere)
    assert refused.returncode == 2 and f"No plugins.toml in {nowhere} or any folder above it" in refused.stderr
    assert "--config" in refused.stderr and not (nowhere / "plugins.toml").exists()
    missing = trainerbot("plugins", "enable", "feedback", "--config", "gone.toml", cwd=nowhere)
    assert missing.returncode == 2 and "gone.toml: no such file" in missing.stderr
    assert sorted(p.name for p in nowhere.iterdir()) == []


async def test_a_plugin_file_added_to_plugins_dir_is_found_by_reload(tb_factory, tmp_path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    tb = await tb_factory(plugins_toml=f"[bot]\nplugins_dir = '{local}'\n")
    (local / "knock.py").write_text(
        "from framework import hookimpl\nfrom framework.commands import Context, command\n"
        "@command('knock', 'Knock knock')\nasync def knock(ctx: Context) -> None:\n"
        "    await ctx.respond(\"Who's there?\")\n"
        "@hookimpl\ndef register_commands(register):\n    register(knock)\n", "utf-8")
    done = await tb.slash("plugins", {"name": "knock"}, subcommand="reload", user=tb.owner)
    assert done.content == "Plugin `knock` reloaded."
    assert (await tb.say("!knock")).content == "Who's there?"
    escape = await tb.slash("plugins", {"name": "../knock"}, subcommand="enable", user=tb.owner)
    assert escape.content == "No plugin named `../knock`. `plugins list` shows them."
