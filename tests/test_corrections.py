"""Corrections through the real bot: the three ways (command, reply, message menu + form) store the
same record; bad input is refused clearly; the next training job learns from corrections — OpenAI
gets supervised lines and a DPO stage on the supervised model, the local classifier label
corrections; the stage change survives in the job row."""

from __future__ import annotations

import asyncio
import json
import types

import pytest

from framework import hookimpl
from framework import sql as sa
from framework.providers import Correction
from plugins.corrections import corrections
from plugins.training.schema import jobs
from tests.test_training import TRAINING_TOML, _progress, labelled_jsonl

OPENAI_TOML = ('[engines]\nprovider = "openai"\n[plugins.training]\npoll_interval = 0.01\n'
               '[plugins.provider_openai]\ndpo_min_pairs = 1\n')
RIGHT = "Paris is in France."
FIELDS = ("message_id", "channel_id", "guild_id", "author_id", "asker_id", "prompt", "answer", "correction",
          "instruction")


async def start(tb_factory, toml: str, **plugins):
    """The bot, with a plugin observing ``reply_sent`` (chat calls it once the answer is recorded)."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    observer = types.SimpleNamespace(reply_sent=hookimpl(lambda app, message, text: queue.put_nowait(text)))
    tb = await tb_factory(plugins_toml=toml, extra_plugins={"observer": observer, **plugins})
    tb.answers = queue
    return tb


async def _ask(tb, text: str):
    """A chat answer from the bot (mentioned), as the emulator's message, once it is recorded."""
    answer = await tb.say(f"<@{tb.emu.bot_user.id}> {text}")
    assert await tb.answers.get() == answer.content
    return answer


async def _records(tb) -> list:
    async with tb.app.storage.connect() as conn:
        return (await conn.execute(sa.select(corrections).order_by(corrections.c.id))).all()


async def test_three_ways_of_correcting_store_the_same_record(tb_factory, openai_server) -> None:
    tb = await start(tb_factory, OPENAI_TOML)
    openai_server.chat_reply = "Paris is in Germany."
    answer = await _ask(tb, "where is Paris?")
    seen = []

    response = await tb.slash("correct", {"message_id": str(answer.id), "correction": RIGHT})
    assert response.ephemeral and response.content.startswith("Thanks! Correction #1 saved")
    seen.append((await _records(tb))[-1])

    reply = await tb.say(f"!correct {RIGHT}", reference=answer)
    assert reply.content.startswith("Thanks! Correction #1 saved")
    seen.append((await _records(tb))[-1])

    inter = await tb.emu.invoke_message_command(tb.channel, tb.user, "Correct this answer", answer)
    form = await inter.wait_callback()
    assert form["type"] == 9 and form["data"]["title"] == "Correct this answer"
    submitted = await tb.emu.submit_modal(inter, {"correction": RIGHT})
    done = await submitted.wait_response()
    assert done.ephemeral and done.content.startswith("Thanks! Correction #1 saved")
    seen.append((await _records(tb))[-1])

    seed = await tb.say(f"!correct {answer.id} {RIGHT}")
    assert seed.content.startswith("Thanks! Correction #1 saved")
    seen.append((await _records(tb))[-1])

    assert len(await _records(tb)) == 1, "a user's newer correction of an answer replaces theirs"
    expected = (answer.id, tb.channel.id, tb.guild.id, tb.user.id, tb.user.id, "where is Paris?",
                "Paris is in Germany.", RIGHT, "You are trainerbot, a helpful assistant for a team that trains models.")
    assert [tuple(getattr(r, f) for f in FIELDS) for r in seen] == [expected] * 4
    assert [r.source for r in seen] == ["command", "reply", "menu", "command"]


async def test_bad_corrections_are_refused_clearly(tb_factory, openai_server) -> None:
    tb = await start(tb_factory, OPENAI_TOML)
    answer = await _ask(tb, "hello")
    mine = await tb.send("just a user message")
    not_answer = await tb.say(f"!correct {mine.id} better")
    assert not_answer.content == f"Message {mine.id} is not one of my chat answers; only those can be corrected."
    assert (await tb.say("!correct abc better")).content.startswith("`abc` is not a message id or link")
    assert (await tb.say(f"!correct {answer.id}")).content == "Option `correction` is required."
    too_long = await tb.slash("correct", {"message_id": str(answer.id), "correction": "x" * 2001})
    assert too_long.ephemeral and too_long.content == "Option `correction` must be at most 2000 characters long."
    same = await tb.say("!correct Hello from the test model.", reference=answer)
    assert same.content == "That is exactly what I answered; a correction should differ."
    menu = await tb.emu.invoke_message_command(tb.channel, tb.user, "Correct this answer", mine)
    refused = await menu.wait_response()
    assert refused.ephemeral and refused.content.startswith(f"Message {mine.id} is not one of my chat answers")
    assert menu.callbacks[0]["type"] == 4, "no form for a message that is not an answer"
    inter = await tb.emu.invoke_message_command(tb.channel, tb.user, "Correct this answer", answer)
    await inter.wait_callback()
    blank = await (await tb.emu.submit_modal(inter, {"correction": "   "})).wait_response()
    assert blank.ephemeral and blank.content == "The correction is empty: write the answer I should have given."
    link = f"https://discord.com/channels/{tb.guild.id}/{tb.channel.id}/{answer.id}"
    assert (await tb.say(f"!correct {link} Hi there!")).content.startswith("Thanks! Correction #1 saved")
    assert len(await _records(tb)) == 1


async def test_corrections_list_export_remove_respect_permissions(tb_factory, openai_server) -> None:
    tb = await start(tb_factory, OPENAI_TOML)
    bob = tb.emu.create_user("bob")
    tb.emu.add_member(tb.guild, bob)
    answer = await _ask(tb, "2+2?")
    await tb.say("!correct 4", reference=answer)
    await tb.say("!correct four", reference=answer, user=bob)
    own = await tb.slash("corrections", subcommand="list")
    assert own.ephemeral and "→ 4" in own.content and "four" not in own.content
    refused = await tb.say(f"!corrections list <@{bob.id}>")
    assert refused.content == "Seeing other people's corrections needs the `feedback` permission."
    everyone = await tb.say("!corrections list", user=tb.owner)
    assert "→ 4" in everyone.content and "→ four" in everyone.content
    # authors are shown by name (their display name here), not as raw <@id> mentions
    assert f"<@{bob.id}>" not in everyone.content and f" {bob.username} on `{answer.id}`" in everyone.content
    exported = await tb.say("!corrections export", user=tb.owner)
    rows = [json.loads(line) for line in exported.attachments[0].data.decode().splitlines()]
    assert [r["correction"] for r in rows] == ["4", "four"] and rows[0]["prompt"] == "2+2?"
    assert (await tb.say("!corrections remove 2")).content == \
        "Correction #2 is someone else's; removing it needs the `feedback` permission."
    assert (await tb.say("!corrections remove 2", user=bob)).content == "Removed correction #2."
    assert (await tb.say("!corrections remove 2", user=tb.owner)).content == "No correction #2."
    assert (await tb.say("!corrections remove 1", user=tb.owner)).content == "Removed correction #1."
    assert await _records(tb) == []


async def test_openai_training_gets_supervised_corrections_and_a_dpo_stage(tb_factory, openai_server) -> None:
    tb = await start(tb_factory, OPENAI_TOML)
    openai_server.chat_reply = "Paris is in Germany."
    first = await _ask(tb, "where is Paris?")
    await tb.say(f"!correct {RIGHT}", reference=first)
    openai_server.chat_reply = "negative"
    second = await _ask(tb, "a lovely film")
    await tb.say("!correct positive", reference=second)
    sent = await tb.send("!train start:true", user=tb.owner, attachments=[tb.emu.file("r.jsonl", labelled_jsonl())])
    progress = await _progress(tb, sent, "Training job #1")
    first = progress.edits[0]["content"] if progress.edits else progress.content
    assert first.endswith("(8 negative, 8 positive; 2 correction(s)) with `openai`: starting…")
    done = await _progress(tb, sent, "succeeded")

    sft, dpo = list(openai_server.jobs.values())
    assert sft.method == {"type": "supervised"} and dpo.method["type"] == "dpo"
    assert dpo.method["dpo"]["hyperparameters"] == {"beta": 0.1}
    assert dpo.model == sft.fine_tuned_model, "the DPO stage tunes the supervised model"
    instruction = "You are trainerbot, a helpful assistant for a team that trains models."
    supervised = openai_server.uploaded_jsonl(sft.training_file)
    snapshot = (await _job_row(tb)).snapshot
    examples = [line for line in open(snapshot, encoding="utf-8").read().splitlines() if line.strip()]
    assert len(supervised) == len(examples) + 2, "the dataset's examples, then the corrections"
    assert supervised[-2:] == [
        {"messages": [{"role": "system", "content": instruction}, {"role": "user", "content": "where is Paris?"},
                      {"role": "assistant", "content": RIGHT}]},
        {"messages": [{"role": "system", "content": instruction}, {"role": "user", "content": "a lovely film"},
                      {"role": "assistant", "content": "positive"}]}]
    assert openai_server.uploaded_jsonl(dpo.training_file) == [
        {"input": {"messages": [{"role": "system", "content": instruction},
                                {"role": "user", "content": "where is Paris?"}]},
         "preferred_output": [{"role": "assistant", "content": RIGHT}],
         "non_preferred_output": [{"role": "assistant", "content": "Paris is in Germany."}]},
        {"input": {"messages": [{"role": "system", "content": instruction},
                                {"role": "user", "content": "a lovely film"}]},
         "preferred_output": [{"role": "assistant", "content": "positive"}],
         "non_preferred_output": [{"role": "assistant", "content": "negative"}]}]
    assert f"Model: `{dpo.fine_tuned_model}`" in done.content
    assert "preference stage (DPO) started" in " ".join(json.loads((await _job_row(tb)).events))
    assert (await _job_row(tb)).provider_job_id == dpo.id, "the host keeps the stage's job id (restart-safe)"


async def _job_row(tb):
    async with tb.app.storage.connect() as conn:
        return (await conn.execute(sa.select(jobs).order_by(jobs.c.id.desc()))).first()


async def test_without_enough_pairs_openai_trains_supervised_only(tb_factory, openai_server) -> None:
    tb = await start(tb_factory, OPENAI_TOML.replace("dpo_min_pairs = 1", "dpo_min_pairs = 10"))
    answer = await _ask(tb, "where is Paris?")
    await tb.say(f"!correct {RIGHT}", reference=answer)
    sent = await tb.send("!train start:true", user=tb.owner, attachments=[tb.emu.file("r.jsonl", labelled_jsonl())])
    await _progress(tb, sent, "succeeded")
    assert [j.method for j in openai_server.jobs.values()] == [{"type": "supervised"}]
    assert openai_server.uploaded_jsonl()[-1]["messages"][-1] == {"role": "assistant", "content": RIGHT}


async def test_local_provider_learns_label_corrections(tb_factory) -> None:
    tb = await start(tb_factory, TRAINING_TOML)
    sent = await tb.send("!train", user=tb.owner, attachments=[tb.emu.file("r.jsonl", labelled_jsonl())])
    await _progress(tb, sent, "succeeded")
    await tb.say("!model use local-1", user=tb.owner)
    answer = await _ask(tb, "great great wonderful")
    assert answer.content.startswith("positive (")
    learnt = await tb.say("!correct NEGATIVE", reference=answer)  # a label, any case: learnt
    assert learnt.content == "Thanks! Correction #1 saved; the next training job with the `local` provider " \
                             "learns from it."
    other = await _ask(tb, "wonderful story")
    skipped = await tb.say("!correct this is not a label", reference=other)  # free text: the classifier skips it
    assert skipped.content == ("Thanks! Correction #2 saved, but the `local` provider cannot learn from this "
                               "correction (the labels: positive, negative); it is kept for a provider that can, "
                               "and `corrections export` has it.")
    sent2 = await tb.send("!train", user=tb.owner)
    await _progress(tb, sent2, "Model: `local-2`")
    await tb.say("!model use local-2", user=tb.owner)
    assert (await _ask(tb, "great great wonderful")).content.startswith("negative (")


async def test_hook_training_corrections(tb_factory) -> None:
    """A plugin's corrections reach the training job (here: a label correction for the local model)."""
    extra = types.SimpleNamespace(training_corrections=hookimpl(
        lambda app, dataset: [Correction("zebra quokka", "positive", "negative")] if dataset == "default" else []))
    tb = await start(tb_factory, TRAINING_TOML, extra_corrections=extra)
    sent = await tb.send("!train", user=tb.owner, attachments=[tb.emu.file("r.jsonl", labelled_jsonl())])
    await _progress(tb, sent, "succeeded")
    await tb.say("!model use local-1", user=tb.owner)
    assert (await _ask(tb, "zebra quokka")).content.startswith("negative (")


async def test_a_plugin_refusing_corrections_leaves_no_job_stuck_starting(tb_factory) -> None:
    """``training_corrections`` may answer the user with a UserError; that comes before the job
    exists, so no job stays at "starting" (with a snapshot ``mydata delete`` could not find)."""
    from framework.commands import UserError

    def refuse(app, dataset):
        raise UserError("The corrections store is being migrated; train again in a minute.")

    tb = await start(tb_factory, TRAINING_TOML, extra_corrections=types.SimpleNamespace(
        training_corrections=hookimpl(refuse)))
    sent = await tb.send("!train", user=tb.owner, attachments=[tb.emu.file("r.jsonl", labelled_jsonl())])
    refused = await tb.reply_to(sent, skip=1)
    assert refused.content == "The corrections store is being migrated; train again in a minute."
    async with tb.app.storage.connect() as conn:
        assert (await conn.execute(sa.select(jobs))).all() == []
    assert not list((tb.data_root / "datasets" / "snapshots").glob("job-*"))


async def test_hook_bot_answer(tb_factory, openai_server) -> None:
    """Chat answers ``bot_answer`` for its recorded answers, and another plugin's answer is used by
    corrections for messages chat does not know."""
    extra = types.SimpleNamespace(bot_answer=hookimpl(
        lambda app, message_id: {"prompt": "q", "answer": "a", "user_id": 7} if message_id == 424242 else None))
    tb = await start(tb_factory, OPENAI_TOML, other_chat=extra)
    answer = await _ask(tb, "hi there")
    found = await tb.app.plugins.call("bot_answer", scope=None, app=tb.app, message_id=answer.id)
    assert found["prompt"] == "hi there" and found["answer"] == "Hello from the test model."
    assert found["user_id"] == tb.user.id and found["channel_id"] == tb.channel.id
    assert await tb.app.plugins.call("bot_answer", scope=None, app=tb.app, message_id=1) is None
    assert (await tb.say("!correct 424242 b")).content.startswith("Thanks! Correction #1 saved")
    assert [(r.prompt, r.answer, r.correction, r.asker_id) for r in await _records(tb)] == [("q", "a", "b", 7)]


async def test_dpo_stage_survives_restarts(tb_factory, openai_server) -> None:
    """Restarted while the supervised stage runs, then again once the DPO stage started: polling goes
    on with the right job each time and no stage is started twice."""
    slow = OPENAI_TOML.replace("poll_interval = 0.01", "poll_interval = 3600")
    tb = await start(tb_factory, slow)
    answer = await _ask(tb, "where is Paris?")
    await tb.say(f"!correct {RIGHT}", reference=answer)
    sent = await tb.send("!train start:true", user=tb.owner, attachments=[tb.emu.file("r.jsonl", labelled_jsonl())])
    await _progress(tb, sent, "queued")
    await tb.app.close()
    sft = next(iter(openai_server.jobs.values()))
    while sft.status != "succeeded":
        openai_server._advance(sft)  # the supervised stage finishes while the bot is down
    tb2 = await start(tb_factory, slow)
    await _progress(tb2, sent, "preference stage (DPO) started")
    await tb2.app.close()
    tb3 = await start(tb_factory, OPENAI_TOML)
    done = await _progress(tb3, sent, "succeeded")
    assert [j.method["type"] for j in openai_server.jobs.values()] == ["supervised", "dpo"]
    dpo = list(openai_server.jobs.values())[1]
    assert f"Model: `{dpo.fine_tuned_model}`" in done.content
    assert (await _job_row(tb3)).model_id == dpo.fine_tuned_model


def _shout_plugin() -> types.SimpleNamespace:
    from framework.commands import TextField, command, message_command

    @message_command("Shout it", "Repeat a message loudly")
    async def shout(ctx, message) -> None:
        values = await ctx.ask("How loud?", [TextField("marks", "Exclamation marks", max_length=5, value="!")])
        await ctx.respond(message.content.upper() + values["marks"])

    @command("askme", "A prefix command cannot show a form")
    async def askme(ctx) -> None:
        await ctx.ask("Form", [TextField("x", "X")])

    @message_command("Ask late", "Answers, then asks: refused")
    async def late(ctx, message) -> None:
        await ctx.respond("first")
        await ctx.ask("Too late", [TextField("x", "X")])

    return types.SimpleNamespace(register_commands=hookimpl(
        lambda register: [register(shout), register(askme), register(late)]))


@pytest.mark.backends("sqlite")  # commands and forms: not the database
async def test_any_plugin_can_declare_message_commands_with_forms(tb_factory) -> None:
    tb = await tb_factory(extra_plugins={"shout": _shout_plugin()})
    synced = {c["name"]: c["type"] for c in tb.emu.synced_commands()}
    assert synced["Shout it"] == 3 and synced["Correct this answer"] == 3 and synced["correct"] == 1
    target = await tb.send("hello there")
    inter = await tb.emu.invoke_message_command(tb.channel, tb.user, "Shout it", target)
    form = await inter.wait_callback()
    row = form["data"]["components"][0]["components"][0]
    assert (row["custom_id"], row["label"], row["value"], row["max_length"]) == ("marks", "Exclamation marks", "!", 5)
    answered = await (await tb.emu.submit_modal(inter, {"marks": "!!!"})).wait_response()
    assert answered.content == "HELLO THERE!!!" and not answered.ephemeral
    assert (await tb.say("!askme")).content == "This needs a form, which only slash and app commands can show."
    late = await tb.emu.invoke_message_command(tb.channel, tb.user, "Ask late", target)
    refused = await tb.emu.wait_until(lambda: late.responses[1:], what="the refusal")
    assert refused[0].content == "A form must be the first answer, and this command has answered already."
    assert "`Apps › Shout it`" in (await tb.slash("help")).content
    described = await tb.slash("help", {"command": "shout"})
    assert "`Apps › Shout it` — Repeat a message loudly" in described.content


async def test_numbers_too_long_for_an_id_are_refused_and_chat_stays_enabled(tb_factory, openai_server) -> None:
    """A 20-digit "message id" passed the parser and overflowed SQLite inside chat's ``bot_answer``
    hook, which disabled the chat plugin; an integer option as long failed unexpectedly."""
    tb = await start(tb_factory, OPENAI_TOML)
    huge = "99999999999999999999"
    assert (await tb.say(f"!correct {huge} better")).content.startswith(f"`{huge}` is not a message id or link")
    assert (await tb.say(f"!feedback message_id={huge} nice")).content.startswith(f"`{huge}` is not a message id")
    assert tb.app.plugins.infos["chat"].status == "enabled"
    assert (await _ask(tb, "still there?")).content == "Hello from the test model."
    refused = await tb.say(f"!corrections remove {huge}")
    assert refused.content == (f"Option `id` must be a whole number between -{2**53} and {2**53}, got `{huge}`.")
