"""The sandbox: the whole bot against the local Discord emulator, and a terminal chat in which
you type as a user. No Discord account needed.

    you> !hi
    you> /hi name:Bob
    you> /train data:"great film" positive:true
    you> !train @file:reviews.txt          (attach a local file)
"""

from __future__ import annotations

import asyncio
import functools
import logging
import mimetypes
import re
import shlex
import sys
from pathlib import Path
from typing import Any, TextIO

from framework.app import App
from framework.commands import Group, OptionType
from framework.config import Config
from framework.emulator import DiscordEmulator
from framework.emulator.voice_server import LocalVoiceServer
from framework.logs import setup_logging

log = logging.getLogger(__name__)

INTRO = """\
trainerbot sandbox — the real bot, connected to a local Discord emulator.
You are {user} (the bot's owner) in #{channel} of "{guild}".
  !hi, !help            prefix commands
  /hi name:Bob          slash commands (option:value, quote values with spaces)
  @file:PATH            attach a local file to the message
  !join, !say hello     you sit in the "{voice}" voice channel; a local voice server listens
  /quit                 leave
For real Discord: export DISCORD_TOKEN=... and run `make run` again.
"""

_FILE = re.compile(r"@file:(\"[^\"]+\"|\S+)")


def _attachments(emu: DiscordEmulator, line: str) -> tuple[str, list[Any]]:
    files = []
    for match in _FILE.finditer(line):
        path = Path(match.group(1).strip('"')).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot attach {path}: {exc.strerror}") from None
        files.append(emu.file(path.name, data, mimetypes.guess_type(path.name)[0] or "application/octet-stream"))
    return _FILE.sub("", line).strip(), files


def _slash_options(app: App, text: str, files: list[Any]) -> tuple[str, str | None, dict[str, Any]]:
    words = shlex.split(text)
    name, rest = words[0].lower(), words[1:]
    target = app.commands.targets.get(name)
    if target is None:
        raise ValueError(f"no slash command /{name}; try /help")
    sub = None
    if isinstance(target, Group):
        if not rest or rest[0] not in target.subcommands:
            raise ValueError(f"/{name} takes one of: {', '.join(target.subcommands)}")
        sub, rest = rest[0], rest[1:]
        target = target.subcommands[sub]
    declared = {o.name: o for o in target.options}
    options: dict[str, Any] = {}
    for word in rest:
        key, sep, value = word.partition(":")
        if not sep or key not in declared:
            raise ValueError(f"write options as name:value (options of /{target.qualified_name}: "
                             f"{', '.join(declared) or 'none'})")
        kind = declared[key].type
        try:
            options[key] = (int(value) if kind is OptionType.INTEGER else float(value) if kind is OptionType.NUMBER
                            else value.lower() in {"true", "yes", "1"} if kind is OptionType.BOOLEAN else value)
        except ValueError:
            raise ValueError(f"{key} needs a {kind.value}") from None
    for opt in target.options:
        if opt.type is OptionType.ATTACHMENT and files and opt.name not in options:
            options[opt.name] = files.pop(0)
    return name, sub, options


def _after(sent: Any, message: Any) -> bool:
    return int(message.id) > int(sent.id)


def _show(message: Any, out: TextIO) -> None:
    flag = " (only you can see this)" if getattr(message, "ephemeral", False) else ""
    edited = " (edited)" if getattr(message, "edits", None) else ""
    text = message.content or ""
    for a in getattr(message, "attachments", []) or []:
        text += f"\n  📎 {a.filename} ({len(a.data)} bytes)"
    out.write(f"bot{flag}{edited}> {text}\n")
    out.flush()


async def chat(config: Config, lines: Any, out: TextIO) -> int:
    """Run the sandbox, reading user lines from the async iterator ``lines``."""
    emu = DiscordEmulator()
    await emu.start()
    voice_server = LocalVoiceServer()
    await voice_server.start()
    emu.voice_endpoint = voice_server.endpoint
    guild = emu.create_guild("Sandbox")
    channel = emu.create_channel(guild, "general")
    voice = emu.create_channel(guild, "Voice", kind="voice")
    me = emu.application_owner
    emu.add_member(guild, me)
    app = App(config, token=emu.token, rest_url=emu.rest_url)
    shown: dict[int, int] = {}
    heard = [0]
    try:
        await app.start()
        await emu.set_voice_state(guild, me, voice)
        out.write(INTRO.format(user=me.username, channel=channel.name, guild=guild.name, voice=voice.name))
        out.flush()
        async for raw in lines:
            line = raw.strip()
            if not line:
                continue
            if line in {"/quit", "/exit"}:
                break
            try:
                text, files = _attachments(emu, line)
                if text.startswith("/"):
                    name, sub, options = _slash_options(app, text[1:], files)
                    inter = await emu.invoke_slash(channel, me, (name, sub) if sub else name, options=options)
                    await inter.wait_response(timeout=120)
                else:
                    sent = await emu.send_message(channel, me, text, attachments=files)
                    await emu.wait_for_message(channel=channel, predicate=functools.partial(_after, sent),
                                               timeout=120)
            except (TimeoutError, ValueError, AssertionError) as exc:
                out.write(f"sandbox> {exc}\n")
                continue
            await _settle(emu, shown, out)
            _report_voice(voice_server, heard, out)
    finally:
        await app.close()
        await voice_server.stop()
        await emu.stop()
    return 0


def _report_voice(server: LocalVoiceServer, heard: list[int], out: TextIO) -> None:
    """Say what reached the voice channel since the last line (the sandbox has no loudspeaker)."""
    packets = [p for session in server.sessions for p in session.audio_packets]
    if len(packets) > heard[0]:
        fresh = len(packets) - heard[0]
        out.write(f"voice> 🔊 {fresh} Opus frames ({fresh * 0.02:.1f} s of audio) reached the voice channel\n")
        out.flush()
        heard[0] = len(packets)


async def _settle(emu: DiscordEmulator, shown: dict[int, int], out: TextIO) -> None:
    """Print bot messages that are new or were edited since last shown; wait briefly for more."""
    for _ in range(20):
        fresh = False
        for message in emu.sent_messages():
            version = len(getattr(message, "edits", []) or [])
            if shown.get(int(message.id)) != version:
                shown[int(message.id)] = version
                _show(message, out)
                fresh = True
        if not fresh:
            break
        await asyncio.sleep(0.2)  # let follow-up messages and edits of long work arrive


async def _stdin_lines(prompt: str) -> Any:
    loop = asyncio.get_running_loop()
    while True:
        if sys.stdin.isatty():
            sys.stdout.write(prompt)
            sys.stdout.flush()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line


async def _file_lines(path: Path) -> Any:
    for line in path.read_text("utf-8").splitlines():
        yield line


def run_sandbox(config: Config, script: str | None = None) -> int:
    setup_logging("WARNING")
    lines = _file_lines(Path(script)) if script else _stdin_lines("you> ")
    return asyncio.run(chat(config, lines, sys.stdout))
