"""The sandbox's world kept in the data root, so a restart brings the same Discord back.

``<data_root>/sandbox/world.json`` holds the users, the guild (roles, members, channels) and the
messages (content, author, reply, flags, embeds, reactions) with their ids; each attachment's bytes
are a file in ``<data_root>/sandbox/attachments/``. Restored with the same ids, the bot's stored data
(``mydata``, ``chat here on``, datasets, corrections) still names the same user, server and channels.

:func:`snapshot` reads the emulator on the event loop (cheap); :meth:`WorldStore.write` and
:meth:`WorldStore.read` touch the disk and run in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framework.dataroot import slugify
from framework.emulator import DiscordEmulator
from framework.emulator.state import Attachment, Guild, Message, User

log = logging.getLogger(__name__)

VERSION = 1


@dataclass
class Snapshot:
    """What :meth:`WorldStore.write` writes: the JSON document and the attachment bytes it names."""

    document: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    """File name under ``attachments/`` -> bytes (only files not yet written)."""


def _attachment_file(att: Attachment) -> str:
    return f"{att.id}-{slugify(att.filename, fallback='file')}"


def snapshot(emu: DiscordEmulator, guild: Guild, written: set[str]) -> Snapshot:
    """The world as it is now (run on the loop: it only reads the emulator's records)."""
    files: dict[str, bytes] = {}

    def attachment(att: Attachment) -> dict[str, Any]:
        name = _attachment_file(att)
        if name not in written:
            files[name] = att.data
        return {"id": att.id, "filename": att.filename, "content_type": att.content_type,
                "duration_secs": att.duration_secs, "waveform": att.waveform, "file": name}

    channels = {c.id for c in guild.channels}
    messages = [{"id": m.id, "channel_id": m.channel_id, "author_id": m.author.id, "content": m.content,
                 "attachments": [attachment(a) for a in m.attachments], "embeds": m.embeds, "flags": m.flags,
                 "reference": m.reference, "interaction_id": m.interaction_id, "timestamp": m.timestamp,
                 "edited_at": m.edited_at, "reactions": [list(r) for r in m.reactions]}
                for m in emu.messages.values() if m.channel_id in channels and not m.placeholder and not m.deleted]
    document = {
        "version": VERSION,
        "bot": {"id": emu.bot_user.id, "username": emu.bot_user.username},
        "owner": {"id": emu.application_owner.id, "username": emu.application_owner.username},
        "users": [{"id": u.id, "username": u.username, "bot": u.bot} for u in emu.users.values()
                  if u is not emu.bot_user and u is not emu.application_owner],
        "guild": {"id": guild.id, "name": guild.name, "owner_id": guild.owner_id,
                  "roles": [{"id": r.id, "name": r.name, "permissions": int(r.permissions)} for r in guild.roles],
                  "members": [{"user_id": uid, "roles": [r.id for r in m.roles], "joined_at": m.joined_at}
                              for uid, m in guild.members.items() if uid != emu.bot_user.id],
                  "channels": [{"id": c.id, "name": c.name, "kind": c.kind, "user_limit": c.user_limit,
                                "overwrites": c.overwrites} for c in guild.channels]},
        "messages": messages,
    }
    return Snapshot(document, files)


class WorldStore:
    """``<data_root>/sandbox``: the world file, the attachments, and the bot's files saved for you."""

    def __init__(self, data_root: Path) -> None:
        self.folder = data_root / "sandbox"
        self.path = self.folder / "world.json"
        self.attachments = self.folder / "attachments"
        self.downloads = self.folder / "downloads"
        self.written: set[str] = set()
        """Attachment files already on disk (their bytes never change)."""

    def read(self) -> dict[str, Any] | None:
        """The saved world, or ``None`` (none yet, or unreadable: then the sandbox starts afresh)."""
        try:
            document: dict[str, Any] = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("sandbox world %s is unreadable (%s); starting a new one", self.path, exc)
            return None
        if document.get("version") != VERSION:
            log.warning("sandbox world %s has another version; starting a new one", self.path)
            return None
        self.written = {p.name for p in self.attachments.glob("*")} if self.attachments.is_dir() else set()
        return document

    def attachment_bytes(self, name: str) -> bytes:
        try:
            return (self.attachments / Path(name).name).read_bytes()
        except OSError:
            return b""

    def write(self, snap: Snapshot) -> None:
        """Write the attachment files first, then the world atomically (a crash keeps the old one)."""
        self.attachments.mkdir(parents=True, exist_ok=True)
        for name, data in snap.files.items():
            (self.attachments / name).write_bytes(data)
            self.written.add(name)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(snap.document, ensure_ascii=False), "utf-8")
        os.replace(tmp, self.path)

    def save_download(self, message_id: int, att: Attachment) -> Path:
        """A file the bot sent, saved so you can open it: ``downloads/<message id>-<name>``."""
        self.downloads.mkdir(parents=True, exist_ok=True)
        path = self.downloads / f"{message_id}-{slugify(att.filename, fallback='file')}"
        path.write_bytes(att.data)
        return path


def restore(emu: DiscordEmulator, document: dict[str, Any], files: dict[str, bytes]) -> Guild:
    """Rebuild the saved world in a started emulator, before the bot connects; return the guild.

    ``files``: attachment file name -> bytes (read off the loop by the caller)."""
    emu.adopt_identity(document["bot"]["id"], document["owner"]["id"], document["owner"]["username"])
    for u in document["users"]:
        emu.create_user(u["username"], bot=u["bot"], id=u["id"])
    g = document["guild"]
    owner = emu.users.get(g["owner_id"], emu.application_owner)
    roles = g["roles"]
    guild = emu.create_guild(g["name"], owner=owner, id=g["id"], everyone_id=roles[0]["id"] if roles else None)
    if roles:
        guild.roles[0].permissions = str(roles[0]["permissions"])
    for r in roles[1:]:
        emu.create_role(guild, r["name"], permissions=r["permissions"], id=r["id"])
    by_id = {r.id: r for r in guild.roles}
    for m in g["members"]:
        user = emu.users.get(m["user_id"])
        if user is not None:
            member = emu.add_member(guild, user, roles=[by_id[r] for r in m["roles"] if r in by_id])
            member.joined_at = m.get("joined_at", member.joined_at)
    for c in g["channels"]:
        emu.create_channel(guild, c["name"], kind=c["kind"], user_limit=c["user_limit"], overwrites=c["overwrites"],
                           id=c["id"])
    for m in document["messages"]:
        author = emu.users.get(m["author_id"]) or User(m["author_id"], "unknown")
        attachments = [Attachment(a["id"], a["filename"], files.get(a["file"], b""), a["content_type"],
                                  duration_secs=a["duration_secs"], waveform=a["waveform"]) for a in m["attachments"]]
        emu.restore_message(Message(m["id"], m["channel_id"], guild.id, author, m["content"], attachments,
                                    m["embeds"], m["flags"], m["reference"], m["interaction_id"],
                                    timestamp=m["timestamp"], edited_at=m["edited_at"],
                                    reactions=[(int(u), str(e)) for u, e in m["reactions"]]))
    return guild


def needed_files(document: dict[str, Any]) -> list[str]:
    return [a["file"] for m in document["messages"] for a in m["attachments"]]
