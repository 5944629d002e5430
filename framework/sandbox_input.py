"""One typed sandbox line → one action, as a Discord client would turn what you do into a request.

The syntax (the terminal sandbox's, and the web sandbox's text box):

    !hi / any text           a message (prefix commands, chat); ``@trainerbot`` or ``@guest`` mention
    @file:PATH               attach a local file to a message
    /hi name:Bob             a slash command, options as name:value ("quote values with spaces")
    /test attachment:PATH    an attachment option takes a path (``attachment:@file:PATH`` too)
    >ID text                 reply to message ID (``/reply ID text`` too; ID ``^`` = the bot's last message)
    +ID 👍   -ID 👍           react to message ID, or take the reaction back
    /apps                    list the message context menu (Apps ›)
    /apps correct ID [text]  run "Correct this answer" on message ID; text fills its form
    /form text               fill the form the bot opened last
    /as guest                act as another user (``/users`` lists them)
    /quit                    leave

IDs are a message's full id or the last digits shown as ``#123456``. Commands come from what the
bot synced (as a Discord client knows them), so the parser never imports the bot's command model.
:func:`parse` never raises: a line it cannot use becomes a :class:`Problem` with one-line text.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

OPTION_KINDS = {3: "text", 4: "whole number", 5: "true or false", 6: "user", 7: "channel", 8: "role",
                9: "user or role", 10: "number", 11: "attachment"}
_FILE = re.compile(r"@file:(\"[^\"]+\"|'[^']+'|\S+)")
_REF = re.compile(r"^(?:\^|#?\d{1,20})$")
_MENTION = re.compile(r"(?<![<\w])@([\w.-]+)")


@dataclass(frozen=True)
class FilePath:
    """A local file to attach (read when the action is performed)."""

    path: str


@dataclass
class Say:
    """Post a message (``reply_to``: a message reference as typed)."""

    text: str
    files: list[FilePath] = field(default_factory=list)
    reply_to: str | None = None


@dataclass
class Slash:
    name: str
    path: tuple[str, ...]
    """``("dataset", "list")`` for a subcommand; ``("hi",)`` otherwise."""
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class React:
    target: str
    emoji: str
    remove: bool = False


@dataclass
class Menu:
    """A message context-menu command (Apps ›) on ``target``; ``text`` fills its form, if any."""

    name: str
    target: str
    text: str = ""


@dataclass
class Control:
    """A sandbox verb, not a Discord action: ``quit``, ``as``, ``users``, ``apps``, ``form``, ``listen``."""

    verb: str
    arg: str = ""


@dataclass
class Problem:
    text: str


Action = Say | Slash | React | Menu | Control | Problem


@dataclass
class Catalog:
    """What the parser knows: the synced application commands and the names one may mention."""

    commands: Sequence[Mapping[str, Any]] = ()
    mentions: Mapping[str, int] = field(default_factory=dict)
    """Lower-case name → user id (``trainerbot`` → the bot)."""

    def slash(self) -> dict[str, Mapping[str, Any]]:
        return {c["name"]: c for c in self.commands if c.get("type", 1) == 1}

    def menus(self) -> list[str]:
        return [c["name"] for c in self.commands if c.get("type") == 3]


def parse(line: str, catalog: Catalog) -> Action:
    """The action ``line`` asks for; never raises."""
    try:
        return _parse(line.strip(), catalog)
    except Exception as exc:  # the contract: one line, never a crash
        return Problem(f"cannot read that line: {exc}")


def _parse(line: str, catalog: Catalog) -> Action:
    if not line:
        return Problem("type a message, or /help")
    if m := re.fullmatch(r"([+-])(\S+)\s+(\S+)", line):
        if _REF.match(m[2]):
            return React(m[2].lstrip("#"), m[3], remove=m[1] == "-")
    if line.startswith(">"):
        ref, _, text = line[1:].strip().partition(" ")
        return _say(text, catalog, ref) if _REF.match(ref) else Problem("write a reply as >ID text (ID: #123456 or ^)")
    if line.startswith("!listen ") or line == "!listen":
        return Control("listen", line.removeprefix("!listen").strip())
    if not line.startswith("/"):
        return _say(line, catalog)
    head, _, rest = line[1:].partition(" ")
    verb, rest = head.lower(), rest.strip()
    if not verb:
        names = ", ".join(f"/{n}" for n in sorted(catalog.slash())[:12])
        return Problem(f"type a command after /: {names} …")
    if verb in {"quit", "exit"}:
        return Control("quit")
    if verb in {"as", "users", "form"}:
        return Control(verb, rest)
    if verb == "reply":
        ref, _, text = rest.partition(" ")
        return _say(text, catalog, ref) if _REF.match(ref) else Problem("write a reply as /reply ID text")
    if verb == "apps":
        return _menu(rest, catalog)
    return _slash(verb, rest, catalog)


def _mentions(text: str, catalog: Catalog) -> str:
    def swap(m: re.Match[str]) -> str:
        uid = catalog.mentions.get(m[1].lower())
        return f"<@{uid}>" if uid is not None else m[0]
    return _MENTION.sub(swap, text)


def _say(text: str, catalog: Catalog, reply_to: str | None = None) -> Action:
    files = [FilePath(m[1].strip("\"'")) for m in _FILE.finditer(text)]
    body = _mentions(_FILE.sub("", text).strip(), catalog)
    if not body and not files:
        return Problem("that message is empty")
    return Say(body, files, reply_to.lstrip("#") if reply_to else None)


def _menu(rest: str, catalog: Catalog) -> Action:
    menus = catalog.menus()
    words = rest.split()
    at = next((i for i, w in enumerate(words) if _REF.match(w)), None)
    if not words or at is None:
        listed = "; ".join(f"/apps {n.lower()} ID" for n in menus) or "none"
        return Problem(f"message menu (Apps ›): {listed}")
    query = " ".join(words[:at]).lower()
    found = [n for n in menus if n.lower().startswith(query)] if query else []
    if len(found) != 1:
        return Problem(f"no single menu command {query!r}; there are: {', '.join(menus) or 'none'}")
    return Menu(found[0], words[at].lstrip("#"), " ".join(words[at + 1:]))


def _slash(name: str, rest: str, catalog: Catalog) -> Action:
    commands = catalog.slash()
    command = commands.get(name)
    if command is None:
        return Problem(f"no slash command /{name}; try /help")
    words = shlex.split(rest)
    path: tuple[str, ...] = (name,)
    declared: Sequence[Mapping[str, Any]] = command.get("options", [])
    while declared and all(o["type"] in (1, 2) for o in declared):
        subs = {o["name"]: o for o in declared}
        if not words or words[0] not in subs:
            return Problem(f"/{' '.join(path)} takes one of: {', '.join(subs)}")
        path, declared, words = (*path, words[0]), subs[words[0]].get("options", []), words[1:]
    usage = f"/{' '.join(path)} " + " ".join(f"{o['name']}:…" if o.get("required") else f"[{o['name']}:…]"
                                             for o in declared)
    by_name = {o["name"]: o for o in declared}
    options: dict[str, Any] = {}
    for word in words:
        key, sep, value = word.partition(":")
        if not sep:
            return Problem(f"write options as name:value — {usage.strip()}")
        spec = by_name.get(key)
        if spec is None:
            return Problem(f"/{' '.join(path)} has no option `{key}` — {usage.strip()}")
        converted = _value(spec, value, catalog)
        if isinstance(converted, Problem):
            return converted
        options[key] = converted
    missing = [o["name"] for o in declared if o.get("required") and o["name"] not in options]
    if missing:
        return Problem(f"/{' '.join(path)} needs {', '.join(missing)} — {usage.strip()}")
    return Slash(name, path, options)


def _value(spec: Mapping[str, Any], value: str, catalog: Catalog) -> Any:
    kind, name = spec["type"], spec["name"]
    if kind == 11:
        path = value.removeprefix("@file:").strip("\"'")
        return FilePath(path) if path else Problem(f"`{name}` needs a file: {name}:PATH")
    try:
        if kind == 4:
            return int(value)
        if kind == 10:
            return float(value)
    except ValueError:
        return Problem(f"`{name}` needs a {OPTION_KINDS[kind]}, got `{value}`")
    if kind == 5:
        lowered = value.lower()
        if lowered not in {"true", "false", "yes", "no", "1", "0"}:
            return Problem(f"`{name}` needs true or false, got `{value}`")
        return lowered in {"true", "yes", "1"}
    if kind in (6, 7, 8, 9):
        if value.startswith("@") and value[1:].lower() in catalog.mentions:
            return catalog.mentions[value[1:].lower()]
        digits = re.sub(r"\D", "", value)
        return int(digits) if digits else Problem(f"`{name}` needs a {OPTION_KINDS[kind]} id or <@id>")
    return value
