"""One test per hook in framework/hookspecs.py, each through a throwaway plugin on the real bot."""

from __future__ import annotations

import importlib
import types

import hikari
import pytest
from pydantic import BaseModel

from framework import hookimpl
from framework import sql as sa
from framework.cli import main as cli_main
from framework.commands import CheckFailure, Context, UserError, command
from framework.engines import KINDS, EngineUnavailable
from framework.settings import Settings
from framework.storage import Migration

pytestmark = pytest.mark.backends("sqlite")  # calling hooks does not depend on the database (migrations: both)


def plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


@pytest.mark.parametrize("base", [Settings, BaseModel], ids=["framework.settings", "pydantic"])
async def test_hook_settings_model(tb_factory, base) -> None:
    """A ``framework.settings.Settings`` class, or (for plugins written for it) a pydantic model."""
    class MottoSettings(base):  # type: ignore[misc,valid-type]
        motto: str = "default"

    @command("motto", "Show the motto")
    async def motto(ctx: Context) -> None:
        await ctx.respond(ctx.settings.motto)

    p = plugin(settings_model=lambda: MottoSettings, register_commands=lambda register: register(motto))
    tb = await tb_factory(extra_plugins={"mottos": p}, plugins_toml='[plugins.mottos]\nmotto = "carpe diem"\n')
    assert (await tb.say("!motto")).content == "carpe diem"
    assert isinstance(tb.app.settings("mottos"), MottoSettings)


async def test_hook_register_commands(tb_factory) -> None:
    @command("twice", "Say it twice", aliases=("two",))
    async def twice(ctx: Context) -> None:
        await ctx.respond("twice")
        await ctx.respond("twice again")

    tb = await tb_factory(extra_plugins={"t": plugin(register_commands=lambda register: register(twice))})
    first = await tb.send("!two")
    assert (await tb.reply_to(first)).content == "twice"
    assert (await tb.reply_to(first, skip=1)).content == "twice again"
    assert tb.app.commands.targets["twice"].plugin == "t"


async def test_hook_register_listeners(tb_factory) -> None:
    async def heard(event: hikari.GuildMessageCreateEvent, app) -> None:
        if event.content == "marco" and not event.is_bot:
            await app.bot.rest.create_message(event.channel_id, "polo")

    p = plugin(register_listeners=lambda register: register(hikari.GuildMessageCreateEvent, heard))
    tb = await tb_factory(extra_plugins={"marco": p})
    assert (await tb.say("marco")).content == "polo"


@pytest.mark.backends("sqlite", "postgresql")  # the bot's tables in each database
async def test_hook_register_migrations(tb_factory, tmp_path) -> None:
    meta = sa.MetaData()
    notes = sa.Table("notes_test", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("text", sa.Text))
    runs: list[int] = []

    async def add_column(conn) -> None:
        runs.append(2)
        await conn.execute(sa.text("ALTER TABLE notes_test ADD COLUMN author TEXT"))

    async def create(conn) -> None:
        runs.append(1)
        await meta.create_all(conn)

    def register_migrations(register) -> None:
        register(Migration(2, "author column", add_column))
        register(Migration(1, "create notes", create))

    tb = await tb_factory(extra_plugins={"notes": plugin(register_migrations=register_migrations)})
    async with tb.app.storage.begin() as conn:
        await conn.execute(sa.text("INSERT INTO notes_test (text, author) VALUES ('a', 'b')"))
        if tb.app.storage.backend == "sqlite":
            assert (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar() == "wal"
        else:  # the test's own schema, where the bot's tables are
            assert (await conn.execute(sa.text("SELECT current_schema()"))).scalar() == tb_factory.database.schema
    assert runs == [1, 2]
    await tb.app.close()
    tb2 = await tb_factory(extra_plugins={"notes": plugin(register_migrations=register_migrations)})
    assert runs == [1, 2], "applied migrations never run again"
    async with tb2.app.storage.connect() as conn:
        assert (await conn.execute(sa.select(notes.c.text))).scalar() == "a"
    assert (tb2.data_root / "trainerbot.sqlite3").exists() == (tb2.app.storage.backend == "sqlite")


def written_to(protocol: type, **attributes) -> object:
    """An engine that is exactly its protocol: the protocol's own methods, as a subclass."""
    return type(f"Fake{protocol.__name__}", (protocol,), attributes)()


async def _engine_hook(tb_factory, hook: str, setting: str, attr: str) -> None:
    kind = next(k for k in KINDS if k.hook == hook)
    protocol = getattr(importlib.import_module(kind.protocol.split(":")[0]), kind.protocol.split(":")[1])
    engine = written_to(protocol, name="fake", min_examples=1, events=None)
    p = plugin(**{hook: lambda register: register("fake", engine)})
    tb = await tb_factory(extra_plugins={"fakes": p}, config_overrides={"engines": {setting: "fake"}})
    registry = getattr(tb.app.engines, attr)
    assert registry.active() is engine
    assert registry.owner("fake") == "fakes"
    registry.selected = "missing"
    with pytest.raises(EngineUnavailable, match=rf"`\[engines\] {setting}`"):
        registry.active()


async def test_hook_register_model_providers(tb_factory) -> None:
    await _engine_hook(tb_factory, "register_model_providers", "provider", "providers")


async def test_hook_register_speech_to_text(tb_factory) -> None:
    await _engine_hook(tb_factory, "register_speech_to_text", "stt", "stt")


async def test_hook_register_text_to_speech(tb_factory) -> None:
    await _engine_hook(tb_factory, "register_text_to_speech", "tts", "tts")


async def test_hook_register_voice_backends(tb_factory) -> None:
    await _engine_hook(tb_factory, "register_voice_backends", "voice", "voice")


def test_hook_register_cli_commands(tmp_path, capsys) -> None:
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "greeter.py").write_text(
        "from framework import hookimpl\n"
        "def configure(parser):\n    parser.add_argument('name')\n"
        "def run(config, args):\n    print(f'hello {args.name} from {config.bot.data_root.name}')\n    return 3\n"
        "@hookimpl\ndef register_cli_commands(register, config):\n"
        "    register('greet', 'Greet', configure, lambda args: run(config, args))\n",
        "utf-8")
    config = tmp_path / "plugins.toml"
    config.write_text(f"[bot]\nplugins_dir = '{folder}'\ndata_root = '{tmp_path / 'data'}'\n", "utf-8")
    assert cli_main(["--config", str(config), "greet", "world"]) == 3
    assert "hello world from data" in capsys.readouterr().out


def test_hook_register_model_catalogs(tmp_path, capsys) -> None:
    """A third-party catalog registered through the hook joins `trainerbot models`, beside the
    built-in engines' catalogs; its fetch receives the CLI's progress callback."""
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "chimes.py").write_text(
        "from framework import hookimpl\n"
        "from framework.models import ModelEntry\n"
        "class Chimes:\n"
        "    engine = 'chime'\n"
        "    def __init__(self, root):\n        self.root = root\n"
        "    def installed(self):\n"
        "        return [ModelEntry(p.stem, 'en', p.stat().st_size, 'data root', p) for p in self.root.glob('*.bin')]\n"
        "    def available(self):\n        return [ModelEntry('chime-en', 'en', 4, 'local')]\n"
        "    def fetch(self, name, progress=None):\n"
        "        self.root.mkdir(parents=True, exist_ok=True)\n"
        "        (self.root / f'{name}.bin').write_bytes(b'ding')\n"
        "        progress(name, 4, 4)\n"
        "        return self.root / f'{name}.bin'\n"
        "@hookimpl\ndef register_model_catalogs(register, config):\n"
        "    register(Chimes(config.bot.data_root / 'models' / 'chime'))\n",
        "utf-8")
    config = tmp_path / "plugins.toml"
    config.write_text(f"[bot]\nplugins_dir = '{folder}'\ndata_root = '{tmp_path / 'data'}'\n", "utf-8")
    cli = ["--config", str(config), "models"]
    assert cli_main([*cli, "list", "--available", "--engine", "chime"]) == 0
    before = capsys.readouterr().out
    assert cli_main([*cli, "download", "chime-en"]) == 0
    fetched = capsys.readouterr()
    assert cli_main([*cli, "list"]) == 0
    after = capsys.readouterr().out
    assert before.split("available:")[0].strip() == "installed:" and "chime-en" in before.split("available:")[1]
    assert "installed chime model chime-en" in fetched.out and "100%" in fetched.err
    assert (tmp_path / "data/models/chime/chime-en.bin").read_bytes() == b"ding"
    assert any(line.split()[:4] == ["chime", "en", "4", "B"] for line in after.splitlines()), after
    assert "vosk" in after and "whisper" in after, "the built-in engines' catalogs are listed too"


async def test_hook_startup(tb_factory) -> None:
    seen: list[object] = []

    async def startup(app) -> None:
        seen.append(app.bot.get_me())

    tb = await tb_factory(extra_plugins={"s": plugin(startup=startup)})
    assert seen and seen[0] is not None and seen[0].id == tb.emu.bot_user.id


async def test_hook_shutdown(tb_factory) -> None:
    seen: list[str] = []
    tb = await tb_factory(extra_plugins={"s": plugin(shutdown=lambda app: seen.append("bye"))})
    await tb.app.close()
    assert seen == ["bye"]


async def test_hook_check(tb_factory) -> None:
    def check(ctx: Context, command) -> bool | None:
        if command.name == "ping":
            return False
        if command.name == "hi" and ctx.surface == "slash":
            raise CheckFailure("No greetings by slash today.")
        return None

    tb = await tb_factory(extra_plugins={"gate": plugin(check=check)})
    assert (await tb.say("!ping")).content == "You can't use `ping` here."
    resp = await tb.slash("ping")
    assert (resp.content, resp.ephemeral) == ("You can't use `ping` here.", True)
    assert (await tb.slash("hi")).content == "No greetings by slash today."
    assert (await tb.say("!hi")).content.startswith("Hello")


async def test_hook_handle_error(tb_factory) -> None:
    @command("boom", "Fail")
    async def boom(ctx: Context) -> None:
        raise RuntimeError(f"internal detail {tb.app.token}")

    tb = await tb_factory(extra_plugins={"b": plugin(register_commands=lambda register: register(boom))})
    generic = await tb.say("!boom")
    assert generic.content == "Sorry, `boom` failed unexpectedly. The error was logged."
    tb2 = await tb_factory(extra_plugins={
        "b": plugin(register_commands=lambda register: register(boom)),
        "h": plugin(handle_error=lambda ctx, error: f"Handled: {type(error).__name__}"),
    })
    resp = await tb2.slash("boom")
    assert (resp.content, resp.ephemeral) == ("Handled: RuntimeError", True)
    assert all(tb.app.token not in m.content for m in tb.emu.sent_messages() if m.content)


async def test_hook_answer_text(tb_factory) -> None:
    p = plugin(answer_text=lambda app, message, text: f"you said {text}")
    tb = await tb_factory(extra_plugins={"a": p, "b": plugin(answer_text=lambda app, message, text: None)})
    assert await tb.app.plugins.call("answer_text", scope=None, app=tb.app, message=None, text="hi") == "you said hi"


async def test_firstresult_hook_user_error_reaches_the_caller_and_keeps_the_plugin(tb_factory) -> None:
    def refuse(app, message, text):
        raise UserError("Not now, please.")

    tb = await tb_factory(extra_plugins={"refuser": plugin(answer_text=refuse)})
    with pytest.raises(UserError, match="Not now, please."):
        await tb.app.plugins.call("answer_text", scope=None, app=tb.app, message=None, text="hi")
    assert tb.app.plugins.infos["refuser"].status == "enabled"


async def test_hook_reply_sent(tb_factory) -> None:
    seen: list[str] = []
    tb = await tb_factory(extra_plugins={"r": plugin(reply_sent=lambda app, message, text: seen.append(text))})
    await tb.app.plugins.call("reply_sent", scope=None, app=tb.app, message=None, text="hello")
    assert seen == ["hello"]
