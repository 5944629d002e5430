"""The strict rules of a message the bot sends (channel messages, their edits, interaction
callbacks, follow-ups and webhook edits): Discord's length and count limits, the upload limit per
file, and ``allowed_mentions``, which decides whom the recorded message mentions.

Every check here is one named rule of the rule book (``rules.py``): ``message.content_length``,
``message.embeds``, ``message.files``, ``message.file_size``, ``message.empty`` and
``message.allowed_mentions``. Each names the documentation page it comes from; where Discord's
documentation is silent the stricter reading is taken.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from framework.emulator.rules import Rules, field_error, invalid_form, nest
from framework.emulator.state import FileSpec, Guild, Message

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
"""docs: reference#uploading-files, "the default file upload limit is 10 MiB" (boosted servers: more)."""

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_FILES = 10
EMBED_LIMITS = {"title": 256, "description": 4096, "fields": 25, "field.name": 256, "field.value": 1024,
                "footer.text": 2048, "author.name": 256, "total": 6000}
"""docs: resources/message#embed-object-embed-limits."""

_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")
_EVERYONE = re.compile(r"@(everyone|here)")


def _too_long(limit: int) -> dict[str, Any]:
    return field_error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def embed_problems(embeds: list[Any]) -> dict[str, Any]:
    """The ``errors`` tree of the embeds' limits (empty when they are within them)."""
    # docs: resources/message#embed-object-embed-limits, every limit below and "the combined sum of
    # characters in all title, description, field.name, field.value, footer.text, and author.name
    # fields across all embeds attached to a message must not exceed 6000 characters"
    errors: dict[str, Any] = {}
    if len(embeds) > MAX_EMBEDS:  # docs: resources/message#create-message, "up to 10 rich embeds"
        return {"embeds": _too_long(MAX_EMBEDS)}
    total = 0
    for index, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            continue
        texts: list[tuple[list[str | int], str, int]] = [
            (["title"], str(embed.get("title") or ""), EMBED_LIMITS["title"]),
            (["description"], str(embed.get("description") or ""), EMBED_LIMITS["description"]),
            (["footer", "text"], str((embed.get("footer") or {}).get("text") or ""), EMBED_LIMITS["footer.text"]),
            (["author", "name"], str((embed.get("author") or {}).get("name") or ""), EMBED_LIMITS["author.name"])]
        fields = embed.get("fields") or []
        if len(fields) > EMBED_LIMITS["fields"]:
            errors.setdefault("embeds", {}).setdefault(str(index), {})["fields"] = _too_long(EMBED_LIMITS["fields"])
        for n, fld in enumerate(f for f in fields[:EMBED_LIMITS["fields"] + 1] if isinstance(f, dict)):
            texts.append((["fields", n, "name"], str(fld.get("name") or ""), EMBED_LIMITS["field.name"]))
            texts.append((["fields", n, "value"], str(fld.get("value") or ""), EMBED_LIMITS["field.value"]))
        for path, text, limit in texts:
            total += len(text)
            if len(text) > limit:
                _merge(errors, nest(["embeds", index, *path], _too_long(limit)))
    if total > EMBED_LIMITS["total"] and not errors:
        errors["embeds"] = field_error("MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    return errors


def _merge(into: dict[str, Any], tree: dict[str, Any]) -> None:
    for key, value in tree.items():
        if key in into and isinstance(into[key], dict) and isinstance(value, dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _has_body(body: dict[str, Any], files: list[FileSpec]) -> bool:
    return bool(body.get("content") or body.get("embeds") or files or body.get("sticker_ids")
                or body.get("components") or body.get("poll"))


def check_message_body(rules: Rules, request: web.Request | None, body: dict[str, Any], files: list[FileSpec],
                       guild: Guild | None, *, edit: bool) -> web.Response | None:
    """The refusal Discord would answer a message body with, or None when it is within the rules."""
    content = body.get("content")
    if rules.on("message.content_length") and isinstance(content, str) and len(content) > MAX_CONTENT:
        # docs: resources/message#create-message, "content: message contents (up to 2000 characters)"
        return invalid_form(request, rules, "message.content_length", {"content": _too_long(MAX_CONTENT)})
    if rules.on("message.embeds") and (errors := embed_problems(list(body.get("embeds") or []))):
        return invalid_form(request, rules, "message.embeds", errors)
    if rules.on("message.files") and len(files) > MAX_FILES:
        # docs: resources/message#create-message, "files[n]"; Discord's clients and API take at most 10 files
        return invalid_form(request, rules, "message.files", {"files": _too_long(MAX_FILES)})
    limit = guild.upload_limit if guild is not None else DEFAULT_UPLOAD_LIMIT
    if rules.on("message.file_size") and any(len(f.data) > limit for f in files):
        # docs: reference#uploading-files, "if a file exceeds the limit, the request fails with 413"
        # (topics/opcodes-and-status-codes: 40005 "Request entity too large")
        return rules.refuse(request, "message.file_size", 413, 40005,
                            "Request entity too large. Try sending something smaller in size.")
    if rules.on("message.empty") and not edit and not _has_body(body, files):
        # docs: topics/opcodes-and-status-codes, 50006 "Cannot send an empty message"
        return rules.refuse(request, "message.empty", 400, 50006, "Cannot send an empty message")
    allowed = body.get("allowed_mentions")
    if rules.on("message.allowed_mentions") and isinstance(allowed, dict):
        parse = allowed.get("parse") or []
        for kind in ("users", "roles"):
            # docs: resources/message#allowed-mentions-object, "parse" and the id list of one kind are
            # mutually exclusive; each id list holds at most 100 ids
            if kind in parse and allowed.get(kind):
                return invalid_form(request, rules, "message.allowed_mentions", {"allowed_mentions": field_error(
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    f"parse:[\"{kind}\"] and {kind}: [ids] are mutually exclusive.")})
            if len(allowed.get(kind) or []) > 100:
                return invalid_form(request, rules, "message.allowed_mentions",
                                    {"allowed_mentions": {kind: _too_long(100)}})
        if any(p not in ("users", "roles", "everyone") for p in parse):
            return invalid_form(request, rules, "message.allowed_mentions", {"allowed_mentions": {"parse": field_error(
                "BASE_TYPE_CHOICES", "Value must be one of {'users', 'roles', 'everyone'}.")}})
    return None


def apply_mentions(message: Message, body: dict[str, Any], replied_author: int | None) -> None:
    """Whom the message mentions, from its content as ``allowed_mentions`` lets it (without the
    field, every mention in the content counts; with it, only what it allows)."""
    # docs: resources/message#allowed-mentions-object: "parse" lists the kinds parsed from the content,
    # "users"/"roles" allow those ids only, "replied_user" (default false) mentions a replied-to author
    content = message.content
    allowed = body.get("allowed_mentions")
    users = [int(u) for u in _USER.findall(content)]
    roles = [int(r) for r in _ROLE.findall(content)]
    everyone = bool(_EVERYONE.search(content))
    if isinstance(allowed, dict):
        parse = allowed.get("parse") or []
        allowed_users = {int(u) for u in allowed.get("users") or []}
        allowed_roles = {int(r) for r in allowed.get("roles") or []}
        users = [u for u in users if "users" in parse or u in allowed_users]
        roles = [r for r in roles if "roles" in parse or r in allowed_roles]
        everyone = everyone and "everyone" in parse
        if replied_author is not None and allowed.get("replied_user") and replied_author not in users:
            users.append(replied_author)
    elif replied_author is not None and replied_author not in users:
        users.append(replied_author)
    message.mention_users = list(dict.fromkeys(users))
    message.mention_roles = list(dict.fromkeys(roles))
    message.mention_everyone = everyone
