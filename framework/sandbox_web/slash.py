"""A slash line typed in the page (``/name [sub] option:value …``) read against the definition the
bot synced: the path, the typed options and the focused option for autocomplete. Values with
spaces are quoted; bare words fill the first text option not given yet (``/say hello there``);
uploaded files fill attachment options in order. Every mistake is a ``ValueError`` with a message
for the user.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

SUBCOMMAND, GROUP, STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(1, 12)
_MENTION = re.compile(r"<[@#][!&]?(\d+)>")


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        raise ValueError("a quote is not closed") from None


def _find(commands: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for cmd in commands:
        if cmd["name"] == name and cmd.get("type", 1) == 1:
            return cmd
    raise ValueError(f"no slash command /{name}; type / to see the list")


def parse(commands: list[dict[str, Any]], line: str) -> tuple[tuple[str, ...], dict[str, Any], list[dict[str, Any]]]:
    """``(path, raw option values, declared options)`` of a typed slash line (without files)."""
    words = _words(line.strip().removeprefix("/"))
    if not words:
        raise ValueError("type a command after /")
    cmd = _find(commands, words[0].lower())
    path, declared, rest = [cmd["name"]], cmd.get("options", []), words[1:]
    while any(o["type"] in (SUBCOMMAND, GROUP) for o in declared):
        subs = {o["name"]: o for o in declared if o["type"] in (SUBCOMMAND, GROUP)}
        if not rest or rest[0] not in subs:
            raise ValueError(f"/{' '.join(path)} takes one of: {', '.join(subs)}")
        path.append(rest[0])
        declared, rest = subs[rest[0]].get("options", []), rest[1:]
    by_name = {o["name"]: o for o in declared}
    options: dict[str, Any] = {}
    loose: list[str] = []
    for word in rest:
        key, sep, value = word.partition(":")
        if sep and key in by_name:
            options[key] = value
        elif sep and re.fullmatch(r"[\w-]+", key) and not loose:
            raise ValueError(f"/{' '.join(path)} has no option `{key}`; its options: "
                             f"{', '.join(by_name) or 'none'}")
        else:
            loose.append(word)
    if loose:
        target = next((o for o in declared if o["type"] == STRING and o["name"] not in options), None)
        if target is None:
            raise ValueError(f"write options as name:value (options of /{' '.join(path)}: "
                             f"{', '.join(by_name) or 'none'})")
        options[target["name"]] = " ".join(loose)
    return tuple(path), options, declared


def convert(options: dict[str, Any], declared: list[dict[str, Any]], files: list[Any]) -> dict[str, Any]:
    """Typed option values as the emulator takes them; attachments from ``files``."""
    by_name = {o["name"]: o for o in declared}
    typed: dict[str, Any] = {}
    for key, value in options.items():
        kind = by_name[key]["type"]
        try:
            if kind == INTEGER:
                typed[key] = int(value)
            elif kind == NUMBER:
                typed[key] = float(value)
            elif kind == BOOLEAN:
                if value.lower() not in {"true", "false", "yes", "no", "1", "0"}:
                    raise ValueError
                typed[key] = value.lower() in {"true", "yes", "1"}
            elif kind in (USER, CHANNEL, ROLE, MENTIONABLE):
                match = _MENTION.fullmatch(value)
                typed[key] = int(match.group(1) if match else value)
            elif kind == ATTACHMENT:
                raise ValueError
            else:
                typed[key] = value
        except ValueError:
            what = {INTEGER: "a whole number", NUMBER: "a number", BOOLEAN: "true or false",
                    ATTACHMENT: "a file: drop one on the page"}.get(kind, "a mention or an id")
            raise ValueError(f"option `{key}` needs {what}") from None
    for opt in declared:
        if opt["type"] == ATTACHMENT and files and opt["name"] not in typed:
            typed[opt["name"]] = files.pop(0)
    missing = [o["name"] for o in declared if o.get("required") and o["name"] not in typed]
    if missing:
        raise ValueError(f"missing required option{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    return typed
