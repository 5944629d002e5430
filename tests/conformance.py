"""A representative session of every built-in command through the strict emulator, on both
surfaces, success and error paths, long work included (train, test, archive, select_dataset,
exports): the conformance test (tests/test_conformance.py) asserts that the emulator refused
nothing and sent no 429, and ``make bench`` prints both counts from the same session
(tests/bench/bench_conformance.py).

Each step checks only that the bot answered as it should (the commands' own tests check their
texts in detail); what this session checks is that none of it breaks Discord's rules."""

from __future__ import annotations

import json
from typing import Any

from tests.test_training import TRAINING_TOML, labelled_jsonl

SESSION_TOML = TRAINING_TOML + "[bot]\nprogress_interval = 0.5\n"
"""Local training with fast polling; progress edits every half second (more often than the default,
so the session edits progress messages several times, within Discord's buckets)."""


def prepare(data_root: Any) -> None:
    """Files the session reads: an export to fetch, and a folder of examples to import."""
    (data_root / "exports").mkdir(parents=True, exist_ok=True)
    (data_root / "exports" / "report.csv").write_bytes(b"a,b\n1,2\n")
    incoming = data_root / "datasets" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    (incoming / "more.jsonl").write_text(json.dumps({"text": "a fine, warm film", "label": "positive"}) + "\n",
                                         "utf-8")


async def _finished(tb: Any, sent: Any, words: tuple[str, ...], timeout: float = 60) -> Any:
    """The bot's message after ``sent`` that shows one of ``words`` (long work's final state)."""
    def probe() -> Any:
        return next((m for m in tb.emu.sent_messages() if int(m.id) > int(sent.id)
                     and any(w in m.content for w in words)), None)

    return await tb.emu.wait_until(probe, timeout, what=f"a message showing one of {words}")


async def _slash(tb: Any, name: str, options: dict[str, Any] | None = None, *, sub: str | None = None,
                 user: Any = None) -> Any:
    return await tb.slash(name, options or {}, subcommand=sub, user=user, timeout=30)


async def run_session(tb: Any) -> list[str]:
    """Run the session on a started bot (``SESSION_TOML``); returns the steps, for the report."""
    emu, owner = tb.emu, tb.owner
    steps: list[str] = []

    async def say(text: str, *, user: Any = None, **kwargs: Any) -> Any:
        steps.append(text.split(" ")[0])
        answer = await tb.say(text, user=user, timeout=30, **kwargs)
        assert answer.content or answer.attachments, f"{text!r}: an empty answer"
        return answer

    async def slash(name: str, options: dict[str, Any] | None = None, *, sub: str | None = None,
                    user: Any = None) -> Any:
        steps.append(f"/{name}{' ' + sub if sub else ''}")
        answer = await _slash(tb, name, options, sub=sub, user=user)
        assert answer.content or answer.attachments, f"/{name}: an empty answer"
        return answer

    # -- the basics
    assert "Hello" in (await say("!hi")).content
    assert "Hello" in (await slash("hi")).content
    await say("!ping")
    await slash("ping")
    await say("!help")
    await say("!help feedback")
    await slash("help")
    await slash("help", {"command": "train"})
    await say("!plugins list")
    await slash("plugins", sub="list")
    refused = await slash("plugins", {"name": "chat"}, sub="disable")  # not the owner
    assert refused.ephemeral

    # -- training: a long job with a progress message, on both surfaces
    steps.append("!train")
    sent = await tb.send("!train", user=owner, attachments=[emu.file("reviews.jsonl", labelled_jsonl())])
    await _finished(tb, sent, ("succeeded",))
    await say("!model use local-1", user=owner)
    await say("!model list")
    await slash("model", sub="list")
    await say("!dataset show")
    await say("!jobs list")
    await say("!jobs status 1")
    await say("!select_dataset datasets/incoming", user=owner)
    await say("!select_dataset datasets/nosuch", user=owner)  # error path

    # -- testing: inline data on both surfaces, a dataset, errors
    inline = json.dumps({"positive": ["great film, loved it"], "negative": ["boring and far too long"]})
    sent = await tb.send(f"!test {inline}")
    steps.append("!test")
    await _finished(tb, sent, ("accuracy",))
    inter = await tb.interaction("test", {"data": inline})
    steps.append("/test")
    await emu.wait_until(lambda: any("accuracy" in m.content for m in inter.responses), 60,
                         what="the slash test's report")
    await say("!test []")  # error path
    await slash("test", {"data": "[]"})
    await say("!tests history")
    await slash("tests", sub="history")
    await say("!tests review")

    # -- chat with the trained local model, a correction of its answer, exports
    dm = emu.create_dm(tb.user)
    await say("a wonderful, moving story", channel=dm)
    answer = await say(f"<@{emu.bot_user.id}> boring and awful")
    await say("!corrections list")  # one round trip: the answer is recorded by now
    thanks = await say("!correct positive", reference=answer)
    assert thanks.content.startswith("Thanks!"), thanks.content
    await say("!corrections export", user=owner)
    await slash("corrections", sub="list")
    await say("!feedback the bot is really helpful")
    await say("!feedback rating=6 great")  # error path
    await slash("feedback", {"text": "clear answers", "rating": 5})
    await say("!feedbacks export", user=owner)
    await slash("feedbacks", sub="export")

    # -- files: list, fetch, archive (long work), refusals
    await say("!files exports", user=owner)
    await slash("files", {}, user=owner)
    got = await say("!getfile exports/report.csv", user=owner)
    assert got.attachments
    got = await slash("getfile", {"path": "exports/report.csv"}, user=owner)
    assert got.attachments
    await say("!getfile ../outside.txt", user=owner)  # error path
    refused = await slash("getfile", {"path": "../outside.txt"}, user=owner)
    assert refused.ephemeral
    sent = await tb.send("!archive exports", user=owner)
    steps.append("!archive")
    await _finished(tb, sent, ("Archived", "archived"))
    inter = await tb.interaction("archive", {"path": "exports"}, user=owner)
    steps.append("/archive")
    await emu.wait_until(lambda: any("rchived" in m.content for m in inter.responses), 60,
                         what="the slash archive's result")

    # -- a user's own data
    await say("!mydata export")
    await slash("mydata", sub="export")
    return steps
