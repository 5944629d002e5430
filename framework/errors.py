"""What goes wrong because of the user, and the one parser for the numbers users type.

A :class:`UserError` carries a message the user can act on; the invocation pipeline shows it as
is (ephemeral on slash) and logs it at info level, never as a crash. Everything that reads an id
or a row number from user text goes through :func:`parse_id`, so a number no database column can
hold (SQLite and PostgreSQL stop at 2**63-1) is refused with a clear message instead of failing
inside a query.
"""

from __future__ import annotations

import re

__all__ = [
    "UserError", "BadArgument", "CheckFailure", "ProviderError", "SpeechError", "MissingModel", "AudioError",
    "ImportProblem", "UploadProblem", "PathRefused", "MAX_ID", "parse_id", "parse_message_id", "parse_row_number",
    "ECHO_LIMIT", "echo",
]


class UserError(Exception):
    """A problem the user can fix. Its message is shown to them as is (ephemeral on slash)."""


class BadArgument(UserError):
    """An option value that does not convert or validate."""


class CheckFailure(UserError):
    """The caller may not run this command here."""


# ----------------------------------------------------------------------------- domain errors
# Each is a UserError: its message is written for the user, so a call site may add context
# ("The model could not answer: …") but never has to translate it, and one that reaches the
# command pipeline is shown as is instead of "failed unexpectedly".


class ProviderError(UserError):
    """A model provider refused or failed; the message is safe to show (no secrets, no raw payloads)."""


class SpeechError(UserError):
    """A speech engine cannot serve the request (no model, a model that failed its integrity check, a
    phrase word it cannot recognise); the message says what to do."""


class MissingModel(SpeechError):
    """No speech model for the requested language; the message names the command that fixes it."""


class AudioError(UserError):
    """The input is not audio that can be decoded; the message says why, briefly."""


class ImportProblem(UserError):
    """One file could not be imported; the message says where and why (line and column if known)."""


class UploadProblem(UserError):
    """An attachment that could not be downloaded, or was larger than the limit it was read with."""


class PathRefused(UserError):
    """A user-given path that is not allowed, or does not exist. ``reason`` says which, for code
    that reacts to one kind (e.g. offer to create a missing file) without matching the message."""

    REASONS = ("refused", "empty", "nul", "absolute", "parent", "missing", "not_a_folder", "link", "special",
               "is_folder", "is_file", "too_long", "bad_name", "unreadable")

    def __init__(self, message: str, reason: str = "refused") -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown PathRefused reason {reason!r}")
        super().__init__(message)
        self.reason = reason


ECHO_LIMIT = 100
"""Most characters of user input a message repeats: a refusal echoing a 5,000-character path must
still fit one Discord message (2,000 characters) beside the rest of its text."""

_INVISIBLE = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def echo(text: object, limit: int = ECHO_LIMIT) -> str:
    """User input as a message shows it back, between backticks: characters that are invisible or
    would change the message (control characters, NUL, right-to-left marks, zero-width spaces) are
    written as escapes, a backtick becomes ``ˋ`` so the code span holds, and text longer than
    ``limit`` is cut in the middle with ``…`` (its start and its end are what users recognise)."""
    shown = "".join(ch if ch.isprintable() else _INVISIBLE.get(ch) or
                    (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
                    for ch in str(text)).replace("`", "ˋ")
    if len(shown) <= limit:
        return shown
    tail = limit // 3
    return f"{shown[:limit - tail - 1]}…{shown[-tail:]}"


MAX_ID = 2**63 - 1
"""Discord ids and database row ids are below 2**63 (a signed BIGINT): a larger number fails every query."""

_DIGITS = r"#?0*([0-9]{1,19})"  # 19 digits hold MAX_ID; longer cannot be an id (nor reach int()'s digit limit)
_NUMBER = re.compile(_DIGITS)
_NUMBER_OR_LINK = re.compile(r"(?:https?://\S+/channels/(?:[0-9]+|@me)/[0-9]+/)?" + _DIGITS)


def parse_id(text: object, what: str, *, hint: str = "", links: bool = False, maximum: int = MAX_ID) -> int:
    """A positive whole number as users type it (``4``, ``#4``; with ``links`` also a message link
    ``…/channels/guild/channel/4``). Anything else — text, zero, negatives, numbers above
    ``maximum`` — raises :class:`BadArgument` "`text` is not a <what><hint>."."""
    match = (_NUMBER_OR_LINK if links else _NUMBER).fullmatch(str(text).strip())
    number = int(match.group(1)) if match else 0
    if not 0 < number <= maximum:
        raise BadArgument(f"`{echo(text)}` is not a {what}{hint}.")
    return number


def parse_message_id(text: object) -> int:
    """A message id, or a message link (``…/channels/guild/channel/message``), as users paste them."""
    return parse_id(text, "message id or link", hint=" (right-click the message → Copy Message ID)", links=True)


def parse_row_number(text: object, what: str, listed_by: str) -> int:
    """A row's number (``3`` or ``#3``); the error names the thing and the command listing them:
    "`x` is not a job number; `jobs list` shows them."."""
    return parse_id(text, what, hint=f"; `{listed_by}` shows them")
