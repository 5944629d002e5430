"""pytest fixtures for trainerbot and its plugins (installed as the ``pytest11`` entry point).

- ``discord_emulator``: a started :class:`~framework.emulator.DiscordEmulator`.
- ``voice_server``: a started :class:`~framework.emulator.voice_server.LocalVoiceServer` (the local
  voice server a bot's voice channels point at; see ``tests/test_voice.py``). It asks the test's
  ``discord_emulator`` who may speak: a member without SPEAK is not heard (rule ``permission.speak``).
- ``database``: the test's storage backend (:class:`~framework.testing.databases.TestDatabase`).
  Every test that uses it (``tb_factory`` and ``tb`` do) runs once per backend: SQLite, and
  PostgreSQL in a schema of its own when ``TRAINERBOT_TEST_DATABASE_URL`` is set (skipped with the
  reason otherwise). ``@pytest.mark.backends("sqlite")`` keeps a test to the backends it names.
- ``tb_factory``: ``await tb_factory(config_overrides=..., plugins_toml=..., extra_plugins=...)``
  starts the whole bot on the emulator with a temporary data root and returns a
  :class:`~framework.testing.harness.BotHarness`; every bot it started is closed afterwards.
- ``tb``: the default bot, ready: ``reply = await tb.say("!hi")``.
- ``openai_server``: a started :class:`~framework.testing.openai_server.OpenAIServer` with
  ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` pointing the real ``openai`` SDK at it.

Async tests run on the event loop the bot runs on by default (``[bot] event_loop = "auto"``):
uvloop where it is installed, else asyncio's own; ``TRAINERBOT_TEST_EVENT_LOOP=asyncio`` (or
``uvloop``) picks one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from framework.emulator import DiscordEmulator
from framework.runtime import loop_factory
from framework.testing import databases
from framework.testing.databases import TestDatabase
from framework.testing.harness import BotHarness, HarnessFactory
from framework.testing.openai_server import OpenAIServer

if TYPE_CHECKING:  # pragma: no cover - typing only
    from framework.emulator.voice_server import LocalVoiceServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*names): run this test on these storage backends only "
                                       "(sqlite, postgresql); default: all")


@pytest.hookimpl(optionalhook=True)  # pytest-asyncio >= 1.4 defines it; older ones keep asyncio's loop
def pytest_asyncio_loop_factories(config: pytest.Config,
                                   item: pytest.Item) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """pytest-asyncio's hook: the event loop async tests run on (see the module's docstring)."""
    choice = os.environ.get("TRAINERBOT_TEST_EVENT_LOOP", "auto")
    return {choice: loop_factory(choice) or asyncio.new_event_loop}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One run per storage backend for every test that (through any fixture) uses ``database``."""
    if "database" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    chosen = [b for b in databases.BACKENDS if marker is None or b in marker.args]
    metafunc.parametrize("database", chosen, indirect=True, ids=chosen)


@pytest.fixture
async def database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestDatabase]:
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.delenv("TRAINERBOT_DATABASE_SCHEMA", raising=False)
        yield TestDatabase("sqlite")
        return
    url = databases.server_url()
    if url is None:
        pytest.skip(databases.SKIP_REASON)
    schema = await databases.create_schema(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("TRAINERBOT_DATABASE_SCHEMA", schema)
    try:
        yield TestDatabase("postgresql", url, schema)
    finally:
        await databases.drop_schema(url, schema)


@pytest.fixture
async def discord_emulator() -> AsyncIterator[DiscordEmulator]:
    emu = DiscordEmulator()
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def voice_server(discord_emulator: DiscordEmulator) -> AsyncIterator[LocalVoiceServer]:
    from framework.emulator.voice_server import LocalVoiceServer  # only the voice tests pay for its imports

    server = LocalVoiceServer()
    server.speech = discord_emulator  # members without SPEAK are not heard
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def tb_factory(discord_emulator: DiscordEmulator, tmp_path: Path,
                     database: TestDatabase) -> AsyncIterator[HarnessFactory]:
    factory = HarnessFactory(discord_emulator, tmp_path, database)
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
