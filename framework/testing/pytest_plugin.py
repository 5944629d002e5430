"""pytest fixtures for trainerbot and its plugins (installed as the ``pytest11`` entry point).

- ``discord_emulator``: a started :class:`~framework.emulator.DiscordEmulator`.
- ``tb_factory``: ``await tb_factory(config_overrides=..., plugins_toml=..., extra_plugins=...)``
  starts the whole bot on the emulator with a temporary data root and returns a
  :class:`~framework.testing.harness.BotHarness`; every bot it started is closed afterwards.
- ``tb``: the default bot, ready: ``reply = await tb.say("!hi")``.
- ``openai_server``: a started :class:`~framework.testing.openai_server.OpenAIServer` with
  ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` pointing the real ``openai`` SDK at it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from framework.emulator import DiscordEmulator
from framework.testing.harness import BotHarness, HarnessFactory
from framework.testing.openai_server import OpenAIServer


@pytest.fixture
async def discord_emulator() -> AsyncIterator[DiscordEmulator]:
    emu = DiscordEmulator()
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def tb_factory(discord_emulator: DiscordEmulator, tmp_path: Path) -> AsyncIterator[HarnessFactory]:
    factory = HarnessFactory(discord_emulator, tmp_path)
    try:
        yield factory
    finally:
        await factory.close()


@pytest.fixture
async def tb(tb_factory: HarnessFactory) -> BotHarness:
    return await tb_factory()


@pytest.fixture
async def openai_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OpenAIServer]:
    server = OpenAIServer()
    await server.start()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-never-shown-0123456789")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    try:
        yield server
    finally:
        await server.stop()
