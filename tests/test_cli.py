"""The `trainerbot` CLI: sandbox, config check, plugins list, run without a token; secrets."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from framework.logs import RedactSecrets, redact

TRAINERBOT = str(Path(sys.executable).with_name("trainerbot"))


def run(*args: str, cwd: Path, env: dict[str, str] | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "TRAINERBOT_CONFIG")}
    full_env.update(env or {})
    return subprocess.run([TRAINERBOT, *args], cwd=cwd, env=full_env, input=stdin, capture_output=True,
                          text=True, timeout=120)


def test_sandbox_answers_prefix_slash_and_attachments(tmp_path) -> None:
    (tmp_path / "note.txt").write_text("hello", "utf-8")
    (tmp_path / "script.txt").write_text("!hi\n/hi name:Bob\n!help hi\n/nope\n/quit\n!never\n", "utf-8")
    result = run("sandbox", "--script", "script.txt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "For real Discord: export DISCORD_TOKEN" in out
    assert "bot> Hello, owner! I'm trainerbot. Type `!help`" in out
    assert "bot> Hello, Bob! I'm trainerbot. Type `/help`" in out
    assert "Usage: `!hi [name]`" in out
    assert "sandbox> no slash command /nope; try /help" in out
    assert "!never" not in out and (tmp_path / "data" / "trainerbot.sqlite3").exists()


def test_sandbox_has_a_voice_channel_with_a_local_voice_server(tmp_path) -> None:
    result = run("sandbox", "--terminal", cwd=tmp_path, stdin="!join\n!say hello there\n!ping\n!leave\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "bot> 🔊 Joined **Voice**." in out and "bot> 👋 Left **Voice**." in out
    assert "Opus frames" in out and "reached the voice channel" in out
    assert "Audio saved to" not in out, "pyttsx3's own prints stay out of the chat"


def test_sandbox_reads_stdin_and_ends_at_eof(tmp_path) -> None:
    result = run("sandbox", "--terminal", cwd=tmp_path, stdin="!ping\n")
    assert result.returncode == 0, result.stderr
    assert "bot> Pong! Gateway latency:" in result.stdout


def test_run_without_token_explains_how_to_get_one(tmp_path) -> None:
    result = run("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN is not set" in result.stderr and "trainerbot sandbox" in result.stderr


def test_config_check_and_plugins_list(tmp_path) -> None:
    good = run("config", "check", cwd=tmp_path)
    assert good.returncode == 0 and "OK" in good.stdout, good.stderr
    (tmp_path / "plugins.toml").write_text("[plugins.core]\ngreeting = 3\n[plugins.nosuch]\n", "utf-8")
    bad = run("config", "check", cwd=tmp_path)
    assert bad.returncode == 2
    assert "[plugins.core]: key `greeting`: Input should be a valid string" in bad.stderr
    (tmp_path / "plugins.toml").write_text("[plugins.nosuch]\nenabled = true\n", "utf-8")
    unknown = run("config", "check", cwd=tmp_path)
    assert unknown.returncode == 1 and "[plugins.nosuch]: no plugin of that name is installed" in unknown.stderr
    listing = run("plugins", "list", cwd=tmp_path)
    assert listing.returncode == 0
    core = next(line.split() for line in listing.stdout.splitlines() if line.startswith("core "))
    assert core[2:4] == ["enabled", "built-in"] and "register_commands" in core[-1]


def test_config_check_reports_every_problem_and_a_missing_file(tmp_path) -> None:
    (tmp_path / "plugins.toml").write_text(
        "[bot]\nprefix = ''\nblocking_workers = 0\n[engines]\ntts = 3\n[plugins.training]\nnonsense = 1\n"
        "labels = 5\n[plugins.voice]\nidle_timeout = 'x'\n[plugins.nosuch]\na = 1\n", "utf-8")
    every = run("config", "check", cwd=tmp_path)
    assert every.returncode == 2 and "OK" not in every.stdout
    for problem in ("key `bot.prefix`: String should have at least 1 character",
                    "key `bot.blocking_workers`: Input should be greater than or equal to 1",
                    "key `engines.tts`: Input should be a valid string",
                    "[plugins.training]: unknown key `nonsense`",
                    "[plugins.training]: key `labels`: Input should be a valid list",
                    "[plugins.voice]: key `idle_timeout`: Input should be a valid number",
                    "[plugins.nosuch]: no plugin of that name is installed",
                    "plugins.toml: 6 error(s), 1 warning(s)"):
        assert problem in every.stderr, (problem, every.stderr)
    assert "Traceback" not in every.stderr
    for args in (("config", "check", "--config", "missing.toml"), ("--config", "missing.toml", "config", "check")):
        missing = run(*args, cwd=tmp_path)
        assert missing.returncode == 2 and "OK" not in missing.stdout, missing.stdout
        assert "missing.toml: no such file" in missing.stderr and "Traceback" not in missing.stderr
    from_env = run("config", "check", cwd=tmp_path, env={"TRAINERBOT_CONFIG": str(tmp_path / "gone.toml")})
    assert from_env.returncode == 2 and "gone.toml: no such file" in from_env.stderr


def test_run_refuses_a_malformed_token_in_one_line_without_printing_it(tmp_path) -> None:
    secret = "abc-not-a-token-SECRET"
    result = run("run", cwd=tmp_path, env={"DISCORD_TOKEN": secret})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("DISCORD_TOKEN does not look like a bot token")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert secret not in result.stderr + result.stdout
    cluster = run("cluster", "--processes", "2", cwd=tmp_path, env={"DISCORD_TOKEN": "a.b"})
    assert cluster.returncode == 2 and "does not look like a bot token" in cluster.stderr


HEAVY = {"hikari", "lightbulb", "numpy", "sqlalchemy", "openai", "vosk", "pyttsx3", "cryptography", "davey",
         "PIL", "pydub", "aiohttp"}


def imported_modules(importtime_log: str) -> set[str]:
    """Top-level names of the modules a ``python -X importtime`` run imported."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "[us]" not in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def local_plugins(tmp_path: Path) -> Path:
    """A plugins_dir with one plugin that adds a subcommand and one that records being imported."""
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "hello_cli.py").write_text(
        "from framework import hookimpl\n"
        "@hookimpl\ndef register_cli_commands(register, config):\n"
        "    register('hello', 'say hello from ' + config.bot.prefix, lambda p: None, lambda a: 0)\n", "utf-8")
    (folder / "chatty.py").write_text(
        "import pathlib\npathlib.Path(__file__).with_name('chatty.imported').touch()\n"
        "from framework import hookimpl\n@hookimpl\ndef startup(app):\n    pass\n", "utf-8")
    (tmp_path / "plugins.toml").write_text(f"[bot]\nprefix = '?'\nplugins_dir = '{folder}'\n", "utf-8")
    return folder


def test_help_lists_plugin_subcommands_and_imports_only_their_plugins(tmp_path) -> None:
    folder = local_plugins(tmp_path)
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "models" in result.stdout and "speech models: list, download" in result.stdout
    assert "hello" in result.stdout and "say hello from ?" in result.stdout, "a local plugin's command, its config"
    assert not (folder / "chatty.imported").exists(), "a plugin without CLI commands was imported for --help"
    listing = run("plugins", "list", cwd=tmp_path)
    assert listing.returncode == 0 and "chatty" in listing.stdout and (folder / "chatty.imported").exists()


def test_help_does_not_import_the_bot_or_engines(tmp_path) -> None:
    local_plugins(tmp_path)
    result = subprocess.run([sys.executable, "-X", "importtime", TRAINERBOT, "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "models" in result.stdout, result.stderr[-2000:]
    imported = imported_modules(result.stderr)
    assert {"framework", "plugins", "argparse"} <= imported, "the log lists what --help imported"
    assert not HEAVY & imported, f"--help imported {sorted(HEAVY & imported)}"


def test_plugins_list_does_not_import_engines(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-X", "importtime", TRAINERBOT, "plugins", "list"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert any(line.startswith("provider_openai ") for line in result.stdout.splitlines()), result.stdout
    imported = imported_modules(result.stderr)
    assert "hikari" in imported, "plugin modules were imported (they use hikari)"
    engines = {"numpy", "openai", "cryptography", "davey", "vosk", "pyttsx3", "PIL", "pydub"}
    assert not engines & imported, f"`plugins list` imported {sorted(engines & imported)}"


def test_secrets_are_redacted_from_logs_and_messages(monkeypatch, caplog) -> None:
    token = "MTIzNDU2Nzg5.secret.token-value-here"
    monkeypatch.setenv("DISCORD_TOKEN", token)
    assert redact(f"failed with {token}") == "failed with [redacted]"
    logger = logging.getLogger("trainerbot.test-redaction")
    logger.addFilter(RedactSecrets([token]))
    with caplog.at_level(logging.INFO):
        logger.info("connecting with %s", token)
    assert token not in caplog.text and "[redacted]" in caplog.text
