"""One running sandbox: the emulator, the local voice server and the real :class:`App`, with a
persisted world — what the terminal chat (``sandbox.py``) and the web page build on.

    async with SandboxSession(config) as s:
        outcome = await s.perform(parse("!hi", s.catalog()))
        ...

``s.users`` has the application's owner (``owner``) and ``guest``, a member without any of the
bot's permission groups, so refusals can be seen; ``s.me`` is who acts (``/as guest``). The world
(``sandbox_world.py``) is restored on entry with the same ids and saved after every action and
on exit.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework.app import App
from framework.config import Config
from framework.emulator import DiscordEmulator
from framework.emulator.state import Channel, FileSpec, Guild, Interaction, Message, User
from framework.emulator.voice_server import LocalVoiceServer
from framework.sandbox_input import Catalog, Control, FilePath, Menu, Problem, React, Say, Slash
from framework.sandbox_world import WorldStore, needed_files, restore, snapshot

log = logging.getLogger(__name__)

GUEST = "guest"


class SandboxError(Exception):
    """A one-line message for the sandbox's user (a bad id, an unreadable file...)."""


@dataclass
class Outcome:
    """What one action did: the message you posted or the interaction you started, and a note."""

    sent: Message | None = None
    interaction: Interaction | None = None
    note: str = ""
    quit: bool = False


class SandboxSession:
    def __init__(self, config: Config, *, persist: bool = True) -> None:
        self.config = config
        self.persist = persist
        self.store = WorldStore(Path(config.bot.data_root))
        self.emu = DiscordEmulator()
        self.voice_server = LocalVoiceServer()
        self.app: App
        self.guild: Guild
        self.text: Channel
        self.voice: Channel
        self.users: dict[str, User] = {}
        self.me: User
        self.restored = False
        self.form: Interaction | None = None
        """The last form (modal) the bot opened, for ``/form text``."""
        self._save_lock = asyncio.Lock()
        self._talker: Any = None
        self._started: list[Any] = []

    # -- lifecycle
    async def __aenter__(self) -> SandboxSession:
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stop()

    async def _start(self) -> None:
        await self.emu.start()
        self._started.append(self.emu)
        await self.voice_server.start()
        self._started.append(self.voice_server)
        self.emu.voice_endpoint = self.voice_server.endpoint_for
        self.voice_server.speech = self.emu
        document = await asyncio.to_thread(self.store.read) if self.persist else None
        if document is not None:
            files = await asyncio.to_thread(
                lambda: {name: self.store.attachment_bytes(name) for name in needed_files(document)})
            self.guild = restore(self.emu, document, files)
            self.restored = True
        else:
            self.guild = self.emu.create_guild("Sandbox")
            self.emu.create_channel(self.guild, "general")
            self.emu.create_channel(self.guild, "Voice", kind="voice")
            self.emu.add_member(self.guild, self.emu.application_owner)
            self.emu.add_member(self.guild, self.emu.create_user(GUEST))
        self.text = next(c for c in self.guild.channels if c.kind == "text")
        self.voice = next(c for c in self.guild.channels if c.kind == "voice")
        self.users = {m.user.username: m.user for m in self.guild.members.values() if not m.user.bot}
        self.me = self.emu.application_owner
        self.app = App(self.config, token=self.emu.token, rest_url=self.emu.rest_url)
        self._started.append(self.app)
        await self.app.start()
        for user in self.users.values():  # everyone sits in the voice channel, so `!join` works for all
            await self.emu.set_voice_state(self.guild, user, self.voice)
        await self.save()

    async def _stop(self) -> None:
        if any(isinstance(part, App) for part in self._started):
            try:
                await self.save()
            except Exception:
                log.warning("could not save the sandbox world", exc_info=True)
        for part in reversed(self._started):
            try:
                await (part.close() if isinstance(part, App) else part.stop())
            except Exception:
                log.warning("could not stop %s cleanly", type(part).__name__, exc_info=True)
        self._started.clear()

    async def save(self) -> None:
        """Write the world to the data root (read on the loop, written in a thread)."""
        if not self.persist:
            return
        async with self._save_lock:
            snap = snapshot(self.emu, self.guild, self.store.written)
            await asyncio.to_thread(self.store.write, snap)

    # -- what the parser needs
    def catalog(self) -> Catalog:
        mentions = {self.emu.bot_user.username.lower(): self.emu.bot_user.id}
        mentions.update({name.lower(): user.id for name, user in self.users.items()})
        return Catalog([*self.emu.synced_commands(self.guild), *self.emu.synced_commands()], mentions)

    def resolve(self, ref: str) -> Message:
        """A message of the server by id, by its last digits (``#123456``) or ``^`` (the bot's last in the
        text channel)."""
        channels = {c.id for c in self.guild.channels}
        messages = [m for m in self.emu.messages.values()
                    if m.channel_id in channels and not m.placeholder and not m.deleted]
        if ref == "^":
            bot = [m for m in messages if m.from_bot and m.channel_id == self.text.id]
            if not bot:
                raise SandboxError("the bot has not said anything yet")
            return bot[-1]
        found = [m for m in messages if str(m.id).endswith(ref)]
        exact = [m for m in found if str(m.id) == ref]
        if exact or len(found) == 1:
            return (exact or found)[0]
        raise SandboxError(f"no message #{ref}" if not found else f"#{ref} matches {len(found)} messages; "
                           "give more digits")

    # -- acting
    async def _file(self, spec: FilePath) -> FileSpec:
        path = Path(spec.path).expanduser()
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise SandboxError(f"cannot attach {path}: {exc.strerror or exc}") from None
        return self.emu.file(path.name, data, mimetypes.guess_type(path.name)[0] or "application/octet-stream")

    async def perform(self, action: Any, user: User | None = None) -> Outcome:
        """Do what a parsed line asks, as ``user`` (default ``self.me``); :class:`SandboxError` when it cannot."""
        who = user or self.me
        try:
            outcome = await self._perform(action, who)
        except AssertionError as exc:  # the emulator refuses what Discord's client would not send
            raise SandboxError(str(exc).splitlines()[0]) from None
        if self.persist and not outcome.quit:
            await self.save()
        return outcome

    async def _perform(self, action: Any, who: User) -> Outcome:
        if isinstance(action, Problem):
            raise SandboxError(action.text)
        if isinstance(action, Say):
            files = [await self._file(f) for f in action.files]
            reference = self.resolve(action.reply_to) if action.reply_to else None
            channel = self.emu.channels[reference.channel_id] if reference else self.text  # a reply stays there
            return Outcome(sent=await self.emu.send_message(channel, who, action.text, attachments=files,
                                                           reference=reference))
        if isinstance(action, Slash):
            options = {k: await self._file(v) if isinstance(v, FilePath) else v for k, v in action.options.items()}
            inter = await self.emu.invoke_slash(self.text, who, action.path, options=options)
            return Outcome(interaction=inter)
        if isinstance(action, React):
            target = self.resolve(action.target)
            if action.remove:
                await self.emu.remove_reaction(target, who, action.emoji)
            else:
                await self.emu.add_reaction(target, who, action.emoji)
            return Outcome(note=f"{'took back' if action.remove else 'reacted'} {action.emoji} "
                                f"{'from' if action.remove else 'to'} #{short(target.id)}")
        if isinstance(action, Menu):
            target = self.resolve(action.target)
            inter = await self.emu.invoke_message_command(self.emu.channels[target.channel_id], who, action.name,
                                                          target)
            return Outcome(interaction=inter, note=action.text)
        if isinstance(action, Control):
            return await self._control(action)
        raise SandboxError(f"cannot do {type(action).__name__}")

    async def _control(self, action: Control) -> Outcome:
        if action.verb == "quit":
            return Outcome(quit=True)
        if action.verb == "users":
            return Outcome(note="users: " + ", ".join(f"{n}{' (you)' if u is self.me else ''}"
                                                      for n, u in self.users.items()))
        if action.verb == "as":
            user = self.users.get(action.arg.strip().lstrip("@"))
            if user is None:
                raise SandboxError(f"no user {action.arg!r}; there are: {', '.join(self.users)}")
            self.me = user
            return Outcome(note=f"you are now {user.username}")
        if action.verb == "form":
            if self.form is None:
                raise SandboxError("no form is open (the bot opens one with /apps correct ID)")
            inter, self.form = self.form, None
            return Outcome(interaction=await self.fill_form(inter, action.arg))
        raise SandboxError(f"/{action.verb} is not available here")

    def form_fields(self, inter: Interaction) -> list[tuple[str, str]] | None:
        """``(custom_id, label)`` of the form (modal) the bot answered ``inter`` with, or ``None``."""
        modal = next((c for c in inter.callbacks if c.get("type") == 9), None)
        if modal is None:
            return None
        return [(c["custom_id"], c.get("label", c["custom_id"])) for row in modal["data"]["components"]
                for c in row.get("components", [row.get("component", {})]) if "custom_id" in c]

    async def fill_form(self, inter: Interaction, text: str) -> Interaction:
        """Submit the form: ``text`` split on `` | `` fills its fields in order (the last takes the rest)."""
        fields = self.form_fields(inter) or []
        if not fields:
            raise SandboxError("that form has no fields")
        parts = text.split(" | ", len(fields) - 1)
        parts += [""] * (len(fields) - len(parts))
        return await self.emu.submit_modal(inter, {cid: value for (cid, _), value in zip(fields, parts, strict=True)})

    async def speak_file(self, path: Path, before: Callable[[float], None] | None = None) -> float:
        """Play an audio file into the voice channel as ``self.me`` (a libdave call member); its seconds.
        ``before(seconds)`` is called once the file is read, before it is spoken."""
        from framework.emulator import media
        from framework.emulator.libdave_member import LibdaveMember

        if not self.app.engines.voice.active().is_connected(self.guild.id):
            raise SandboxError("the bot is not in the voice channel: `!join` first, then `!voice listen on`")
        try:
            frames = await asyncio.to_thread(media.encode_opus, await asyncio.to_thread(path.read_bytes))
        except OSError as exc:
            raise SandboxError(f"cannot read {path}: {exc.strerror}") from None
        except media.MediaError:
            raise SandboxError(f"{path.name} is not audio ffmpeg can read") from None
        talker = self._talker
        if talker is None:
            talker = LibdaveMember(self.me.id, dave=self.voice_server.dave)
            await talker.join(self.voice_server, self.guild.id, self.voice.id)
            self._started.insert(0, _Leaver(talker))
            self._talker = talker
        if before is not None:
            before(len(frames) * 0.02)
        await talker.speak(frames)
        return len(frames) * 0.02


class _Leaver:
    """Stops a simulated voice client with the session."""

    def __init__(self, member: Any) -> None:
        self.member = member

    async def stop(self) -> None:
        await self.member.leave()


def short(message_id: int) -> str:
    """The last six digits, as the sandbox shows ids (``#123456``; the full id works too)."""
    return str(message_id)[-6:]
