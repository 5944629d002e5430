"""What the page is told: the emulator's records (users, channels, messages, commands, forms) as
plain JSON, and the version of a message that says when it changed.

Attachment URLs point at the sandbox's own server (``/attachments/{id}/{name}``), so the page needs
no access to the emulator's port.
"""

from __future__ import annotations

from typing import Any

from framework.emulator import DiscordEmulator, Message

IMAGE_TYPES = ("image/",)
AUDIO_TYPES = ("audio/",)
AUDIO_SUFFIXES = (".wav", ".ogg", ".mp3", ".opus", ".flac", ".webm", ".m4a")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


def attachment_kind(filename: str, content_type: str | None) -> str:
    """``image``, ``audio`` or ``file``: how the page shows an attachment."""
    kind = (content_type or "").lower()
    name = filename.lower()
    if kind.startswith(IMAGE_TYPES) or name.endswith(IMAGE_SUFFIXES):
        return "image"
    if kind.startswith(AUDIO_TYPES) or name.endswith(AUDIO_SUFFIXES):
        return "audio"
    return "file"


def attachment_view(att: Any) -> dict[str, Any]:
    return {"id": str(att.id), "filename": att.filename, "size": len(att.data), "content_type": att.content_type,
            "url": f"/attachments/{att.id}/{att.filename}", "kind": attachment_kind(att.filename, att.content_type),
            "duration": att.duration_secs}


def _embed_view(embed: dict[str, Any], message: Message) -> dict[str, Any]:
    """An embed with ``attachment://name`` images pointed at the attachment's URL."""
    by_name = {a.filename: f"/attachments/{a.id}/{a.filename}" for a in message.attachments}

    def url(obj: Any) -> str | None:
        if not isinstance(obj, dict) or not obj.get("url"):
            return None
        raw = str(obj["url"])
        return by_name.get(raw.removeprefix("attachment://"), raw) if raw.startswith("attachment://") else raw

    return {"title": embed.get("title"), "description": embed.get("description"), "color": embed.get("color"),
            "fields": [{"name": f.get("name", ""), "value": f.get("value", "")} for f in embed.get("fields") or []],
            "footer": (embed.get("footer") or {}).get("text"), "image": url(embed.get("image")),
            "thumbnail": url(embed.get("thumbnail"))}


def visible_to(emu: DiscordEmulator, message: Message) -> str | None:
    """The one user who sees an ephemeral message (the interaction's user); ``None``: everyone."""
    if not message.ephemeral or message.interaction_id is None:
        return None
    inter = emu.interactions.get(message.interaction_id)
    return str(inter.user.id) if inter is not None else None


def message_view(emu: DiscordEmulator, message: Message) -> dict[str, Any]:
    reactions: dict[str, list[str]] = {}
    for user_id, emoji in message.reactions:
        reactions.setdefault(emoji, []).append(str(user_id))
    reply = None
    if message.reference is not None:
        ref = emu.messages.get(message.reference)
        excerpt = "original message was deleted" if ref is None else ref.content[:120] or " ".join(
            f"📎 {a.filename}" for a in ref.attachments)
        reply = {"id": str(message.reference), "author": ref.author.username if ref else None, "content": excerpt}
    inter = emu.interactions.get(message.interaction_id) if message.interaction_id else None
    return {
        "id": str(message.id), "channel_id": str(message.channel_id),
        "author": {"id": str(message.author.id), "name": message.author.username, "bot": message.author.bot},
        "content": message.content, "timestamp": message.timestamp, "edited": bool(message.edits),
        "ephemeral": message.ephemeral, "visible_to": visible_to(emu, message), "thinking": message.placeholder,
        "voice_message": bool(message.flags & (1 << 13)),
        "command": ({"user": inter.user.username, "name": inter.data.get("name")} if inter is not None
                    and inter.kind == 2 and inter.messages and inter.messages[0] is message else None),
        "reply": reply, "attachments": [attachment_view(a) for a in message.attachments],
        "embeds": [_embed_view(e, message) for e in message.embeds],
        "reactions": [{"emoji": e, "users": u} for e, u in reactions.items()],
    }


def version(message: Message) -> tuple[Any, ...]:
    """Changes when anything the page shows of ``message`` changes."""
    return (message.content, len(message.edits), message.deleted, message.placeholder, tuple(message.reactions),
            len(message.attachments), len(message.embeds), message.flags)


def shown(message: Message, channel_ids: set[int]) -> bool:
    return message.channel_id in channel_ids and not message.deleted


def commands_view(emu: DiscordEmulator, guild: Any) -> list[dict[str, Any]]:
    """The commands the bot synced (global and this server's), as Discord's client lists them."""
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for cmd in [*emu.synced_commands(), *emu.synced_commands(guild)]:
        seen[(cmd["name"], int(cmd.get("type", 1)))] = cmd
    return sorted(seen.values(), key=lambda c: c["name"])


def modal_view(interaction_id: int, callback: dict[str, Any]) -> dict[str, Any]:
    """A form (callback type 9): its title and text inputs, from action rows or labels."""
    data = callback.get("data") or {}
    inputs: list[dict[str, Any]] = []

    def walk(components: list[dict[str, Any]], label: str | None) -> None:
        for comp in components:
            if comp.get("type") == 4:
                inputs.append({"custom_id": comp.get("custom_id"), "label": comp.get("label") or label or "",
                               "style": comp.get("style", 1), "placeholder": comp.get("placeholder") or "",
                               "required": comp.get("required", True), "value": comp.get("value") or "",
                               "max_length": comp.get("max_length")})
            if comp.get("component"):
                walk([comp["component"]], comp.get("label"))
            walk(comp.get("components") or [], label)

    walk(data.get("components") or [], None)
    return {"interaction": str(interaction_id), "title": data.get("title", ""), "inputs": inputs}
