"""Discord's rules for application commands, checked before the host registers anything.

Discord validates a bulk overwrite (``PUT /applications/{id}/commands``) as a whole: one command
that breaks a rule fails the request, and then *no* slash command of the bot registers. So the
host checks every command a plugin registers against the rules below (``App._refuse``) and
refuses that plugin with the reason, keeping everyone else's commands.

The rules, from Discord's documentation ("Application Commands": naming, registering a command,
application command option and choice structures, and the limits under "Registering a Command"):

- a chat-input name (command, subcommand, option) matches ``^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$``
  and uses the lowercase variant of every letter that has one; a context-menu name is 1-32 characters;
- descriptions are 1-100 characters;
- at most 25 options (or subcommands) per level, at most 25 choices per option, each choice name
  1-100 characters and a string choice value at most 100 characters;
- required options come before optional ones; names are unique on each level;
- subcommands nest at most command → group → subcommand (here: a :class:`Group` of :class:`Command`);
- an option has autocomplete or choices, not both, and autocomplete only on string, integer, number;
- choices only on string, integer and number options; integer bounds within ±2^53; string lengths 0-6000;
- name, description and choice names and values of a command together at most 4,000 characters;
- at most 100 chat-input commands, 5 message commands and 5 user commands per scope.

Where the documentation is silent, the stricter reading is taken, so what passes here passes on Discord.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from framework.commands.declarations import Command, Group, MessageCommand, Option, OptionType

MAX_NAME = 32
MAX_DESCRIPTION = 100
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_CHOICE_TEXT = 100
MAX_TOTAL_CHARACTERS = 4000
MAX_STRING_LENGTH = 6000
MAX_INTEGER = 2**53
MAX_CHAT_INPUT_COMMANDS = 100
MAX_MESSAGE_COMMANDS = 5
MAX_USER_COMMANDS = 5

_WITH_CHOICES = (OptionType.STRING, OptionType.INTEGER, OptionType.NUMBER)
_SCRIPT_RANGES = ((0x0900, 0x097F), (0xA8E0, 0xA8FF), (0x11B00, 0x11B5F), (0x0E00, 0x0E7F))
"""Devanagari (with its two extension blocks) and Thai, whose vowel signs are marks, not letters."""
_COMMON_IN_BLOCKS = {0x0964, 0x0965, 0x0E3F}
"""The dandas and the baht sign sit in those blocks but belong to no script (``sc=Common``)."""


class CommandRefused(ValueError):
    """A command Discord would refuse; the message lists every rule it breaks."""


def _name_character(char: str) -> bool:
    if char in "-_" or unicodedata.category(char)[0] in "LN":
        return True
    point = ord(char)
    return point not in _COMMON_IN_BLOCKS and any(lo <= point <= hi for lo, hi in _SCRIPT_RANGES)


def chat_input_name_problems(name: str, what: str) -> list[str]:
    """Why ``name`` is not a valid chat-input name (empty: it is)."""
    if not isinstance(name, str):
        return [f"the {what} name must be text, not {type(name).__name__}"]
    problems = []
    if not 1 <= len(name) <= MAX_NAME:
        problems.append(f"the {what} name `{name}` is {len(name)} characters (Discord allows 1 to {MAX_NAME})")
    bad = sorted({c for c in name if not _name_character(c)})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        problems.append(f"the {what} name `{name}` contains {shown} (Discord allows letters, digits, - and _)")
    if name != name.lower():
        problems.append(f"the {what} name `{name}` must be lowercase")
    return problems


def _description_problems(description: Any, what: str) -> list[str]:
    if not isinstance(description, str):
        return [f"the {what} description must be text"]
    if not 1 <= len(description) <= MAX_DESCRIPTION:
        return [f"the {what} description is {len(description)} characters (Discord allows 1 to {MAX_DESCRIPTION})"]
    return []


def _choice_problems(opt: Option) -> list[str]:
    choices = list(opt.choices or [])
    problems = []
    if opt.type not in _WITH_CHOICES:
        problems.append(f"option `{opt.name}` is a {opt.type.value} option, which cannot have choices")
    if len(choices) > MAX_CHOICES:
        problems.append(f"option `{opt.name}` has {len(choices)} choices (Discord allows at most {MAX_CHOICES})")
    for choice in choices:
        shown = str(choice)
        if not 1 <= len(shown) <= MAX_CHOICE_TEXT:
            problems.append(f"option `{opt.name}` has a choice of {len(shown)} characters "
                            f"(Discord allows 1 to {MAX_CHOICE_TEXT})")
        if opt.type is OptionType.INTEGER and (isinstance(choice, bool) or not isinstance(choice, int)
                                               or abs(choice) > MAX_INTEGER):
            problems.append(f"option `{opt.name}` has the choice {shown!r}, not a whole number within ±2^53")
    if opt.autocomplete is not None and choices:
        problems.append(f"option `{opt.name}` has both autocomplete and choices (Discord allows one of them)")
    return problems


def option_problems(opt: Option) -> list[str]:
    """Why Discord would refuse this option as declared."""
    problems = chat_input_name_problems(opt.name, f"option `{opt.name}`")
    problems += _description_problems(opt.description, f"option `{opt.name}`")
    if opt.choices is not None:
        problems += _choice_problems(opt)
    if opt.autocomplete is not None and opt.type not in _WITH_CHOICES:
        problems.append(f"option `{opt.name}` is a {opt.type.value} option, which cannot have autocomplete")
    if opt.type is OptionType.INTEGER:
        for bound in (opt.min_value, opt.max_value):
            if bound is not None and abs(bound) > MAX_INTEGER:
                problems.append(f"option `{opt.name}` has the bound {bound}, beyond Discord's ±2^53")
    if opt.type is OptionType.STRING:
        if opt.min_length is not None and not 0 <= opt.min_length <= MAX_STRING_LENGTH:
            problems.append(f"option `{opt.name}` has min_length {opt.min_length} "
                            f"(Discord allows 0 to {MAX_STRING_LENGTH})")
        if opt.max_length is not None and not 1 <= opt.max_length <= MAX_STRING_LENGTH:
            problems.append(f"option `{opt.name}` has max_length {opt.max_length} "
                            f"(Discord allows 1 to {MAX_STRING_LENGTH})")
    return problems


def _options_problems(options: Sequence[Option], where: str) -> list[str]:
    problems = []
    if len(options) > MAX_OPTIONS:
        problems.append(f"{where} has {len(options)} options (Discord allows at most {MAX_OPTIONS})")
    names = [o.name for o in options]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        problems.append(f"{where} has more than one option named {', '.join(f'`{n}`' for n in twice)}")
    seen_optional = None
    for opt in options:
        if not opt.required:
            seen_optional = seen_optional or opt.name
        elif seen_optional is not None:
            problems.append(f"{where}: the required option `{opt.name}` follows the optional `{seen_optional}` "
                            "(Discord wants required options first)")
    for opt in options:
        problems += option_problems(opt)
    return problems


def _chars(value: Any) -> int:
    return len(value) if isinstance(value, str) else 0


def total_characters(target: Command | Group) -> int:
    """What Discord counts against a command's 4,000 characters: every name, description and choice."""
    total = _chars(target.name)
    if isinstance(target, MessageCommand):
        return total
    total += _chars(target.description)
    commands = target.subcommands.values() if isinstance(target, Group) else [target]
    for cmd in commands:
        if cmd is not target:
            total += _chars(getattr(cmd, "name", None)) + _chars(getattr(cmd, "description", None))
        for opt in getattr(cmd, "options", ()):
            total += _chars(opt.name) + _chars(opt.description)
            total += sum(2 * len(str(c)) for c in opt.choices or ())  # a choice's name and its value
    return total


def _command_problems(cmd: Command, where: str, *, top_level: bool) -> list[str]:
    problems = chat_input_name_problems(cmd.name, "command" if top_level else "subcommand")
    problems += _description_problems(cmd.description, "command" if top_level else f"subcommand `{cmd.name}`")
    return problems + _options_problems(cmd.options, where)


def problems(target: Any) -> list[str]:
    """Every rule of Discord's that this command, message command or group breaks (empty: none)."""
    if isinstance(target, MessageCommand):
        if not isinstance(target.name, str) or not 1 <= len(target.name) <= MAX_NAME:
            return [f"a message command's name must be 1 to {MAX_NAME} characters"]
        return ["a message command cannot have options"] if target.options else []
    if isinstance(target, Command):
        return _command_problems(target, "the command", top_level=True)
    if not isinstance(target, Group):
        return [f"register() takes a Command or Group, not {type(target).__name__}"]
    found = chat_input_name_problems(target.name, "group") + _description_problems(target.description, "group")
    subs = list(target.subcommands.values())
    if len(subs) > MAX_OPTIONS:
        found.append(f"the group has {len(subs)} subcommands (Discord allows at most {MAX_OPTIONS})")
    for sub in subs:
        if isinstance(sub, (Group, MessageCommand)) or not isinstance(sub, Command):
            found.append(f"subcommand `{getattr(sub, 'name', sub)}` must be a plain command: Discord nests "
                         "a group's subcommands no deeper")
            continue
        found += _command_problems(sub, f"subcommand `{sub.name}`", top_level=False)
    return found


def reasons(target: Any) -> list[str]:
    """Every rule ``target`` breaks, the 4,000-character total included, each naming the command."""
    found = problems(target)
    if isinstance(target, (Command, Group)):
        total = total_characters(target)
        if total > MAX_TOTAL_CHARACTERS:
            found.append(f"its names, descriptions and choices come to {total} characters "
                         f"(Discord allows {MAX_TOTAL_CHARACTERS} per command)")
    if not found:
        return []
    return [f"command `{getattr(target, 'name', '?')}` breaks Discord's rules: " + "; ".join(found)]


def check(target: Any) -> None:
    """Raise :class:`CommandRefused` naming every rule ``target`` breaks."""
    found = reasons(target)
    if found:
        raise CommandRefused(found[0])


def kind(target: Command | Group) -> str:
    """Which of Discord's per-scope limits the command counts against."""
    return "message" if isinstance(target, MessageCommand) else "chat input"


LIMITS = {"chat input": MAX_CHAT_INPUT_COMMANDS, "message": MAX_MESSAGE_COMMANDS, "user": MAX_USER_COMMANDS}


def over_limit(kept: Iterable[Command | Group], adding: Sequence[Command | Group]) -> str | None:
    """Why registering ``adding`` beside ``kept`` would exceed Discord's command counts, or None."""
    counts: dict[str, int] = {}
    for target in [*kept, *adding]:
        counts[kind(target)] = counts.get(kind(target), 0) + 1
    for which, count in counts.items():
        if count > LIMITS[which]:
            return (f"registering {len(adding)} command(s) would make {count} {which} commands "
                    f"(Discord allows {LIMITS[which]})")
    return None
