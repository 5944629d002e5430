"""Privacy through the real bot: ``mydata export`` returns a JSON file of the user's rows from every
plugin (ephemeral on slash, by DM on prefix in a server); ``mydata delete`` asks for confirmation,
then removes the user's rows and leaves everyone else's."""

from __future__ import annotations

import gzip
import json
import types

from framework import hookimpl
from framework import sql as sa
from plugins.chat import answers, turns
from plugins.corrections import corrections
from plugins.feedback import feedback_table
from plugins.training.schema import examples
from plugins.voice_messages import languages
from tests.test_corrections import OPENAI_TOML, _ask, start


async def _populated(tb_factory, **plugins):
    """Alice and Bob chat, correct, give feedback; Alice adds an example and sets her language."""
    alice = tb_factory.world()[3]
    toml = OPENAI_TOML + f"[permissions.groups.training]\nusers = [{alice.id}]\n"
    tb = await start(tb_factory, toml, **plugins)
    bob = tb.emu.create_user("bob")
    tb.emu.add_member(tb.guild, bob)
    tb.bob = bob
    mine = await _ask(tb, "alice's question")
    theirs = await tb.say(f"<@{tb.emu.bot_user.id}> bob's question", user=bob)
    await tb.answers.get()
    await tb.say("!correct alice's correction", reference=mine)
    await tb.say("!correct bob on alice's answer", reference=mine, user=bob)
    await tb.say("!correct bob's correction", reference=theirs, user=bob)
    await tb.say("!feedback alice's feedback")
    await tb.say("!feedback bob's feedback", user=bob)
    for user, text in ((tb.user, "alice wrote this example"), (tb.owner, "the owner wrote this one")):
        sent = await tb.send(f'!train data="{text}"', user=user)
        added = (await tb.reply_to(sent)).content  # the openai provider is paid: no job unless asked
        assert added.startswith("Added 1 example(s) to `default`.\nNo training job started")
    assert (await tb.say("!language set ko")).content == "Voice messages from you are now read as `ko`."
    return tb


async def _count(tb, table, where) -> int:
    async with tb.app.storage.connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(table).where(where))).scalar()


async def test_export_returns_the_users_rows_from_every_plugin(tb_factory, openai_server) -> None:
    tb = await _populated(tb_factory)
    response = await tb.slash("mydata", subcommand="export")
    assert response.ephemeral and response.attachments[0].filename == f"mydata-{tb.user.id}.json"
    document = json.loads(response.attachments[0].data)
    data = document["data"]
    assert document["user_id"] == tb.user.id
    assert set(data) == {"chat", "corrections", "feedback", "training", "voice_messages"}
    assert [t["content"] for t in data["chat"]["chat_turns"]] == ["alice's question", "Hello from the test model."]
    assert [a["prompt"] for a in data["chat"]["bot_answers"]] == ["alice's question"]
    assert sorted(c["correction"] for c in data["corrections"]["corrections"]) == [
        "alice's correction", "bob on alice's answer"], "her corrections, and those holding her prompt"
    assert [f["text"] for f in data["feedback"]["feedback"]] == ["alice's feedback"]
    examples = [(e["dataset"], e["text"]) for e in data["training"]["examples"]]
    assert examples == [("default", "alice wrote this example")]
    assert data["voice_messages"]["speech_languages"] == [{"scope": "user", "target_id": tb.user.id, "language": "ko"}]
    assert "bob's question" not in response.attachments[0].data.decode()
    assert response.content.startswith("Everything I store about you: 8 record(s)")

    dm = tb.emu.create_dm(tb.user)
    before = len(tb.emu.sent_messages(dm))
    public = await tb.say("!mydata export")
    assert public.content == "I sent you your data in a direct message." and not public.attachments
    private = await tb.emu.wait_until(lambda: tb.emu.sent_messages(dm)[before:], what="the DM")
    assert json.loads(private[0].attachments[0].data)["data"] == data


async def test_delete_asks_first_then_removes_only_the_users_rows(tb_factory, openai_server) -> None:
    tb = await _populated(tb_factory)
    alice, bob = tb.user.id, tb.bob.id
    ask = await tb.say("!mydata delete")
    assert ask.content.startswith("This deletes 8 record(s) about you")
    assert "`!mydata delete confirm=true`" in ask.content
    assert await _count(tb, answers, answers.c.user_id == alice) == 1, "nothing deleted without confirmation"
    done = await tb.slash("mydata", {"confirm": True}, subcommand="delete")
    assert done.ephemeral and done.content == "Deleted 8 record(s) about you."
    assert await _count(tb, turns, turns.c.user_id == alice) == 0
    assert await _count(tb, turns, sa.true()) == 2, "bob's message and its answer stay"
    assert await _count(tb, answers, answers.c.user_id == alice) == 0
    assert await _count(tb, answers, answers.c.user_id == bob) == 1
    assert await _count(tb, corrections, (corrections.c.author_id == alice) | (corrections.c.asker_id == alice)) == 0
    assert await _count(tb, corrections, corrections.c.author_id == bob) == 1
    assert await _count(tb, feedback_table, feedback_table.c.user_id == alice) == 0
    assert await _count(tb, feedback_table, feedback_table.c.user_id == bob) == 1
    assert await _count(tb, examples, examples.c.author_id == alice) == 0
    assert await _count(tb, examples, examples.c.author_id == tb.owner.id) == 1
    assert await _count(tb, languages, languages.c.target_id == alice) == 0
    again = await tb.slash("mydata", subcommand="export")
    assert json.loads(again.attachments[0].data)["data"] == {}


def _store_plugin() -> tuple[types.SimpleNamespace, dict[int, list[str]]]:
    notes: dict[int, list[str]] = {}

    def export_user_data(app, user_id):
        return {"notes": [{"note": n} for n in notes.get(user_id, [])]}

    def delete_user_data(app, user_id):
        return len(notes.pop(user_id, []))

    return types.SimpleNamespace(export_user_data=hookimpl(export_user_data),
                                 delete_user_data=hookimpl(delete_user_data)), notes


async def test_hook_export_user_data(tb_factory, openai_server) -> None:
    """A third-party plugin's rows join the export, under the plugin's name."""
    plugin, notes = _store_plugin()
    tb = await start(tb_factory, OPENAI_TOML, notebook=plugin)
    notes[tb.user.id] = ["likes jazz"]
    notes[tb.owner.id] = ["someone else"]
    response = await tb.slash("mydata", subcommand="export")
    assert json.loads(response.attachments[0].data)["data"] == {"notebook": {"notes": [{"note": "likes jazz"}]}}


async def test_hook_delete_user_data(tb_factory, openai_server) -> None:
    """Every plugin deletes its rows; the counts add up in the answer."""
    plugin, notes = _store_plugin()
    tb = await start(tb_factory, OPENAI_TOML, notebook=plugin)
    notes[tb.user.id] = ["a", "b"]
    notes[tb.owner.id] = ["c"]
    await _ask(tb, "hello")  # chat stores the message, its answer and the answer record
    done = await tb.say("!mydata delete confirm=true")
    assert done.content == "Deleted 5 record(s) about you."
    assert notes == {tb.owner.id: ["c"]}


async def test_large_export_is_gzipped_or_refused(tb_factory, openai_server) -> None:
    tb = await start(tb_factory, OPENAI_TOML)
    tb.app.config.bot.max_upload_bytes = 1000
    await tb.say("!feedback " + "so much to say " * 100)
    response = await tb.slash("mydata", subcommand="export")
    assert response.attachments[0].filename == f"mydata-{tb.user.id}.json.gz"
    document = json.loads(gzip.decompress(response.attachments[0].data))
    assert document["data"]["feedback"]["feedback"][0]["text"].startswith("so much to say")
    tb.app.config.bot.max_upload_bytes = 100
    refused = await tb.slash("mydata", subcommand="export")
    assert refused.ephemeral and "even compressed, more than I may attach (100 bytes)" in refused.content


async def test_delete_also_removes_the_users_examples_from_past_job_snapshots(tb_factory) -> None:
    from tests.test_training import TRAINING_TOML, _progress, labelled_jsonl

    alice = tb_factory.world()[3]
    tb = await tb_factory(plugins_toml=TRAINING_TOML + f"[permissions.groups.training]\nusers = [{alice.id}]\n")
    sent = await tb.send("!train", attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
    await _progress(tb, sent, "succeeded")
    sent = await tb.send('!train data="the owner kept this one"', user=tb.owner)
    await _progress(tb, sent, "succeeded")
    snapshots = sorted((tb.data_root / "datasets" / "snapshots").glob("job-*.jsonl"))
    assert [len(p.read_text("utf-8").splitlines()) for p in snapshots] == [16, 17]
    done = await tb.say("!mydata delete confirm=true")
    assert done.content == "Deleted 16 record(s) about you."
    assert [p.read_text("utf-8") for p in snapshots] == [
        "", json.dumps({"text": "the owner kept this one", "label": "positive"}) + "\n"]
    assert not list(snapshots[0].parent.glob("*.scrubbing"))


async def test_a_plugin_failing_to_export_or_delete_is_named_not_hidden(tb_factory, openai_server) -> None:
    """A plugin that raises is left out by the host (and disabled); the user hears their file is
    incomplete, or that part of their data is still kept, instead of a clean-looking answer."""
    def export_user_data(app, user_id):
        raise RuntimeError("disk on fire")

    def delete_user_data(app, user_id):
        raise RuntimeError("disk on fire")

    tb = await start(tb_factory, OPENAI_TOML, broken_export=types.SimpleNamespace(
        export_user_data=hookimpl(export_user_data)), broken_delete=types.SimpleNamespace(
        delete_user_data=hookimpl(delete_user_data)))
    await tb.say("!feedback hello")
    response = await tb.slash("mydata", subcommand="export")
    assert response.content == ("Everything I store about you: 1 record(s) (feedback 1).\n⚠️ Plugin `broken_export` "
                                "could not give its part, so this is incomplete; the bot's owners can see why in the "
                                "log.")
    document = json.loads(response.attachments[0].data)
    assert document["incomplete"] == ["broken_export"] and "disk on fire" not in response.content
    done = await tb.slash("mydata", {"confirm": True}, subcommand="delete")
    assert done.content == ("Deleted 1 record(s) about you.\n⚠️ Plugin `broken_delete` could not delete its part, "
                            "so that is still kept; the bot's owners can see why in the log.")
