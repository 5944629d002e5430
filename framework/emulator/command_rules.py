"""The strict rules of application commands (``command.*``), as Discord documents them in
interactions/application-commands: what a bulk overwrite (``PUT``) or a create (``POST``) may hold.

Written from the documentation, not from the host's own checker (``framework/commands/discord_rules.py``):
a checker never imports the code it checks. One invalid command fails the whole request and
registers nothing; the answer is 50035 with the ``errors`` tree naming each problem where it is
(``{"0": {"name": {"_errors": [...]}}}``). Where the documentation names no error code, the code
here is the emulator's own, in Discord's style.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

_SCRIPTS = ((0x0900, 0x0950), (0x0955, 0x0963), (0x0966, 0x097F), (0xA8E0, 0xA8FF), (0x11B00, 0x11B09),
            (0x0E01, 0x0E3A), (0x0E40, 0x0E5B))
"""The code points of the scripts Devanagari (``\\p{sc=Deva}``) and Thai (``\\p{sc=Thai}``) (Unicode's
Scripts.txt; the danda U+0964/5 and the baht sign U+0E3F are Common, not in them)."""

CHAT_INPUT, USER, MESSAGE = 1, 2, 3
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, NUMBER = 1, 2, 3, 4, 10
MAX_COMMANDS = {CHAT_INPUT: 100, USER: 15, MESSAGE: 15}
"""docs: interactions/application-commands#registering-a-command, "100 global CHAT_INPUT commands,
15 global USER commands, 15 global MESSAGE commands", and as many per guild."""
TYPE_NAMES = {CHAT_INPUT: "CHAT_INPUT", USER: "USER", MESSAGE: "MESSAGE"}


@dataclass
class Problem:
    """One broken rule: its name, where in the request body it is, Discord's code and message."""

    rule: str
    path: list[str | int]
    code: str
    message: str


def _name_ok(name: str) -> bool:
    """docs: interactions/application-commands#application-command-object-application-command-naming:
    ``^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$``, lowercase where a letter has a lowercase variant."""
    for char in name:
        code = ord(char)
        if char in "-_'" or unicodedata.category(char)[0] in "LN":
            continue
        if not any(lo <= code <= hi for lo, hi in _SCRIPTS):
            return False
    return name == name.lower()


def _longest(item: dict[str, Any], key: str) -> int:
    """docs: #application-command-object, the 4000 total: "when localization fields are present, only
    the longest localization for each field (including the default value) is counted"."""
    values = [str(item.get(key) or "")] + [str(v) for v in (item.get(f"{key}_localizations") or {}).values()]
    return max(len(v) for v in values)


def size(command: dict[str, Any]) -> int:
    """docs: "the combined sum of characters in name, description, and value properties of a command,
    its options (including subcommands and groups), and choices" (the choices' names too)."""
    total = _longest(command, "name") + _longest(command, "description")
    for option in command.get("options") or []:
        total += size(option)
    for choice in command.get("choices") or []:
        total += _longest(choice, "name") + len(str(choice.get("value", "")))
    return total


def _length(problems: list[Problem], rule: str, path: list[str | int], text: Any, low: int, high: int) -> None:
    if not isinstance(text, str) or not low <= len(text) <= high:
        problems.append(Problem(rule, path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length."))


def _options(problems: list[Problem], options: list[dict[str, Any]], path: list[str | int], parent: int | None) -> None:
    """The options under the command (``parent`` None), a group or a subcommand: groups only under the
    command, subcommands under it or a group, plain options under it or a subcommand
    (docs: #subcommands-and-subcommand-groups, "nesting ... no deeper")."""
    # docs: #application-command-object-application-command-structure, "options: max of 25"
    if len(options) > 25:
        problems.append(Problem("command.options", [*path, "options"], "BASE_TYPE_MAX_LENGTH",
                                "Must be 25 or fewer in length."))
    kinds = {SUB_COMMAND if o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP) else STRING for o in options}
    if len(kinds) > 1:  # docs: subcommands and groups make the base command unusable: no plain options beside
        problems.append(Problem("command.nesting", [*path, "options"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                                "Sub-command and sub-command group option types are mutually exclusive to all "
                                "other types"))
    seen: set[str] = set()
    optional_seen = False
    for n, option in enumerate(options):
        where: list[str | int] = [*path, "options", n]
        kind = option.get("type")
        name = option.get("name")
        _length(problems, "command.name", [*where, "name"], name, 1, 32)
        if isinstance(name, str) and not _name_ok(name):
            problems.append(Problem("command.name", [*where, "name"], "APPLICATION_COMMAND_INVALID_NAME",
                                    "Command name is invalid"))
        if name in seen:  # docs: "name must be unique within an array of application command options"
            problems.append(Problem("command.unique_names", [*where, "name"],
                                    "APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME", "Option names must be unique"))
        seen.add(str(name))
        _length(problems, "command.description", [*where, "description"], option.get("description"), 1, 100)
        allowed = {SUB_COMMAND_GROUP: (None,), SUB_COMMAND: (None, SUB_COMMAND_GROUP)}.get(
            kind, (None, SUB_COMMAND))  # type: ignore[arg-type]
        if parent not in allowed:
            problems.append(Problem("command.nesting", [*where, "type"], "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                                    "Sub-command groups hold sub-commands only, sub-commands plain options only"))
        if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
            _options(problems, list(option.get("options") or []), where, kind)
            continue
        # docs: #application-command-option-structure, "required options must be listed before optional options"
        if option.get("required"):
            if optional_seen:
                problems.append(Problem("command.option_order", [*where, "required"],
                                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                                        "Required options must be placed before non-required options"))
        else:
            optional_seen = True
        _choices(problems, option, where)


def _choices(problems: list[Problem], option: dict[str, Any], where: list[str | int]) -> None:
    choices = option.get("choices")
    kind = option.get("type")
    if choices is not None:
        # docs: #application-command-option-structure, "choices: ... max 25", for STRING, INTEGER and NUMBER
        if kind not in (STRING, INTEGER, NUMBER):
            problems.append(Problem("command.choices", [*where, "choices"], "APPLICATION_COMMAND_OPTION_CHOICES_TYPE",
                                    "Choices are allowed for string, integer and number options only"))
        if len(choices) > 25:
            problems.append(Problem("command.choices", [*where, "choices"], "BASE_TYPE_MAX_LENGTH",
                                    "Must be 25 or fewer in length."))
        for c, choice in enumerate(choices):
            # docs: #application-command-option-choice-structure, name 1-100, a string value up to 100
            _length(problems, "command.choices", [*where, "choices", c, "name"], choice.get("name"), 1, 100)
            if kind == STRING:
                _length(problems, "command.choices", [*where, "choices", c, "value"], choice.get("value"), 1, 100)
    if option.get("autocomplete"):
        # docs: "autocomplete may not be set to true if choices are present"; only string, integer, number
        if choices:
            problems.append(Problem("command.autocomplete", [*where, "autocomplete"],
                                    "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_WITH_CHOICES",
                                    "Autocomplete cannot be set with choices"))
        if kind not in (STRING, INTEGER, NUMBER):
            problems.append(Problem("command.autocomplete", [*where, "autocomplete"],
                                    "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_TYPE",
                                    "Autocomplete is allowed for string, integer and number options only"))
    for key, low in (("min_length", 0), ("max_length", 1)):
        # docs: #application-command-option-structure, min_length 0-6000, max_length 1-6000
        value = option.get(key)
        if value is not None and not (isinstance(value, int) and low <= value <= 6000):
            problems.append(Problem("command.options", [*where, key], "NUMBER_TYPE_MAX",
                                    f"Must be between {low} and 6000."))


def command_problems(command: dict[str, Any], path: list[str | int]) -> list[Problem]:
    """What is wrong with one command of the request (``path``: where it is in the body)."""
    problems: list[Problem] = []
    kind = command.get("type", CHAT_INPUT)
    name = command.get("name")
    if kind not in (CHAT_INPUT, USER, MESSAGE):
        # docs: #application-command-object-application-command-types (PRIMARY_ENTRY_POINT: activities only)
        problems.append(Problem("command.type", [*path, "type"], "BASE_TYPE_CHOICES",
                                "Value must be one of {1, 2, 3}."))
        return problems
    _length(problems, "command.name", [*path, "name"], name, 1, 32)
    if kind == CHAT_INPUT:
        if isinstance(name, str) and not _name_ok(name):
            problems.append(Problem("command.name", [*path, "name"], "APPLICATION_COMMAND_INVALID_NAME",
                                    "Command name is invalid"))
        # docs: "description: 1-100 character description for CHAT_INPUT commands"
        _length(problems, "command.description", [*path, "description"], command.get("description"), 1, 100)
        _options(problems, list(command.get("options") or []), path, None)
    else:
        # docs: "empty string for USER and MESSAGE commands"; "options can only be set for CHAT_INPUT"
        if command.get("description"):
            problems.append(Problem("command.description", [*path, "description"], "BASE_TYPE_MAX_LENGTH",
                                    "Must be 0 or fewer in length."))
        if command.get("options"):
            problems.append(Problem("command.options", [*path, "options"], "APPLICATION_COMMAND_OPTIONS_INVALID",
                                    "Options are allowed for CHAT_INPUT commands only"))
    for key, values in (("integration_types", (0, 1)), ("contexts", (0, 1, 2))):
        # docs: #application-command-object: integration_types and contexts, when given, list at least one
        # of the installation contexts / interaction context types (an empty list is refused)
        given = command.get(key)
        if given is not None and (not given or any(v not in values for v in given)):
            problems.append(Problem(f"command.{key}", [*path, key], "BASE_TYPE_MIN_LENGTH",
                                    "Must be 1 or more in length." if not given else "Value is not a valid enum."))
    # docs: "the combined sum of characters ... may not exceed 4000"
    if (total := size(command)) > 4000:
        problems.append(Problem("command.size", list(path), "APPLICATION_COMMAND_TOO_LARGE",
                                f"Command exceeds maximum size ({total} > 4000)"))
    return problems


def bulk_problems(commands: list[dict[str, Any]], existing: list[dict[str, Any]] | None = None) -> list[Problem]:
    """What is wrong with a bulk overwrite's list (``existing`` None), or with one created command
    joining ``existing`` (a POST)."""
    problems: list[Problem] = []
    post = existing is not None
    if not isinstance(commands, list) or not all(isinstance(c, dict) for c in commands):
        return [Problem("command.type", [], "BASE_TYPE_ARRAY", "Must be an array of application commands.")]
    seen: set[tuple[str, int]] = set()
    for index, command in enumerate(commands):
        problems += command_problems(command, [] if post else [index])
        key = (str(command.get("name")), int(command.get("type", CHAT_INPUT)))
        # docs: #registering-a-command, "command names must be unique per application, per type, and
        # within each scope (global and guild)"
        if key in seen:
            problems.append(Problem("command.unique_names", [index, "name"], "APPLICATION_COMMANDS_DUPLICATE_NAME",
                                    "Application command names must be unique"))
        seen.add(key)
    replaced = {(d.get("name"), d.get("type", CHAT_INPUT)) for d in commands}
    together = commands + [c for c in existing or [] if (c["name"], c.get("type", CHAT_INPUT)) not in replaced]
    for kind, limit in MAX_COMMANDS.items():
        count = sum(1 for c in together if c.get("type", CHAT_INPUT) == kind)
        if count > limit:
            problems.append(Problem("command.count", [], "APPLICATION_COMMANDS_LIMIT",
                                    f"Maximum number of {TYPE_NAMES[kind]} commands reached ({limit})"))
    return problems
