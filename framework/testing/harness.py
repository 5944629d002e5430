"""Run the whole trainerbot — the real hikari bot, lightbulb, plugins, storage — against the
local Discord emulator, and talk to it as a user would.

    async def test_roll(tb):
        reply = await tb.say("!roll 20")
        assert reply.content.startswith("🎲")
        resp = await tb.slash("roll", {"sides": 20})
        assert not resp.ephemeral
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from framework.app import App
from framework.config import load_config
from framework.emulator import DiscordEmulator
from framework.testing.databases import TestDatabase


@dataclasses.dataclass
class BotHarness:
    emu: DiscordEmulator
    app: App
    guild: Any
    channel: Any
    voice_channel: Any
    user: Any
    """A member with no roles."""
    owner: Any
    """The application's owner (a member of the guild): passes every permission."""
    data_root: Path

    async def send(self, content: str, *, user: Any = None, channel: Any = None, attachments: Sequence[Any] = (),
                   reference: Any = None, flags: int = 0) -> Any:
        """Post a message as a user; returns the emulator's message."""
        return await self.emu.send_message(channel or self.channel, user or self.user, content,
                                           attachments=list(attachments), reference=reference, flags=flags)

    async def reply_to(self, message: Any, *, timeout: float = 15.0, channel: Any = None, skip: int = 0) -> Any:
        """The (skip+1)-th message the bot sent in the channel after ``message``."""
        seen: list[Any] = []

        def after(sent: Any) -> bool:
            if int(sent.id) <= int(message.id) or any(s.id == sent.id for s in seen):
                return False
            seen.append(sent)
            return len(seen) > skip

        return await self.emu.wait_for_message(channel=channel or self.channel, predicate=after, timeout=timeout)

    async def say(self, content: str, *, user: Any = None, channel: Any = None, attachments: Sequence[Any] = (),
                  reference: Any = None, flags: int = 0, timeout: float = 15.0) -> Any:
        """Post a message as a user and return the bot's first message after it."""
        sent = await self.send(content, user=user, channel=channel, attachments=attachments,
                               reference=reference, flags=flags)
        return await self.reply_to(sent, timeout=timeout, channel=channel)

    async def slash(self, name: str, options: dict[str, Any] | None = None, *, user: Any = None,
                    channel: Any = None, subcommand: str | None = None, timeout: float = 15.0) -> Any:
        """Invoke a slash command as a user and return the interaction's first response."""
        path = (name, subcommand) if subcommand else name
        inter = await self.emu.invoke_slash(channel or self.channel, user or self.user, path, options=options or {})
        return await inter.wait_response(timeout=timeout)

    async def interaction(self, name: str, options: dict[str, Any] | None = None, *, user: Any = None,
                          channel: Any = None, subcommand: str | None = None) -> Any:
        """Invoke a slash command and return the emulator's interaction (responses, followups)."""
        path = (name, subcommand) if subcommand else name
        return await self.emu.invoke_slash(channel or self.channel, user or self.user, path, options=options or {})


class HarnessFactory:
    """Builds harnesses on one emulator; closes every app it started."""

    def __init__(self, emu: DiscordEmulator, tmp_path: Path, database: TestDatabase | None = None) -> None:
        self.emu = emu
        self.tmp_path = tmp_path
        self.database = database or TestDatabase("sqlite")
        """The storage backend every bot it starts uses (several bots of one test share the database)."""
        self.apps: list[App] = []
        self._world: tuple[Any, ...] | None = None

    def world(self) -> tuple[Any, ...]:
        if self._world is None:
            emu = self.emu
            guild = emu.create_guild("Test server")
            channel = emu.create_channel(guild, "general")
            voice = emu.create_channel(guild, "Voice", kind="voice")
            user = emu.create_user("alice")
            emu.add_member(guild, user)
            owner = emu.application_owner
            emu.add_member(guild, owner)
            self._world = (guild, channel, voice, user, owner)
        return self._world

    async def __call__(self, *, config_overrides: dict[str, Any] | None = None, plugins_toml: str | None = None,
                       extra_plugins: dict[str, Any] | None = None, data_root: Path | None = None,
                       shards: Sequence[int] | None = None, shard_count: int | None = None) -> BotHarness:
        """A started bot; ``shards``/``shard_count``: only these of the bot's shards (default: all)."""
        guild, channel, voice, user, owner = self.world()
        config_path = self.tmp_path / f"plugins-{len(self.apps)}.toml"
        if plugins_toml is not None:
            config_path.write_text(plugins_toml, "utf-8")
        root = data_root or self.tmp_path / "data"
        overrides: dict[str, dict[str, Any]] = {"bot": {"data_root": str(root)}}
        if self.database.url:  # SQLite: the default file under the data root (or what the test overrides)
            overrides["storage"] = {"url": self.database.url, "schema": self.database.schema}
        for section, values in (config_overrides or {}).items():
            overrides.setdefault(section, {}).update(values)
        config = load_config(config_path, overrides=overrides)
        app = App(config, token=self.emu.token, rest_url=self.emu.rest_url, extra_plugins=extra_plugins)
        self.apps.append(app)
        await app.start(shards=shards, shard_count=shard_count)
        return BotHarness(self.emu, app, guild, channel, voice, user, owner, app.data_root.root)

    async def close(self) -> None:
        for app in reversed(self.apps):
            if not app.closed:
                await app.close()
