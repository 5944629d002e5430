"""A minimal sandbox start-up for the web page until the shared ``framework.sandbox_session`` lands:
the emulator, the local voice server, one server with a text and a voice channel, the owner and a
guest without permissions, and the real bot connected to them."""

from __future__ import annotations

from typing import Any

from framework.app import App
from framework.config import Config
from framework.emulator import DiscordEmulator
from framework.emulator.voice_server import LocalVoiceServer


class SandboxSession:
    def __init__(self, config: Config) -> None:
        self.config = config

    async def __aenter__(self) -> SandboxSession:
        self.emu = emu = DiscordEmulator()
        await emu.start()
        self.voice_server = LocalVoiceServer()
        await self.voice_server.start()
        emu.voice_endpoint = self.voice_server.endpoint_for
        self.guild = emu.create_guild("Sandbox")
        self.text = emu.create_channel(self.guild, "general")
        self.voice = emu.create_channel(self.guild, "Voice", kind="voice")
        self.me = emu.application_owner
        guest = emu.create_user("guest")
        for user in (self.me, guest):
            emu.add_member(self.guild, user)
        self.users: dict[str, Any] = {self.me.username: self.me, guest.username: guest}
        self.app = App(self.config, token=emu.token, rest_url=emu.rest_url)
        await self.app.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.close()
        await self.voice_server.stop()
        await self.emu.stop()
