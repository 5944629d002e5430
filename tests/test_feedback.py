"""Feedback through the real bot: free text, about an answer (id or reply) with a rating, bad input
refused; 👍/👎 on answers recorded once (removed when taken back), other reactions and messages
ignored; listing and export limited to one's own without the feedback permission."""

from __future__ import annotations

import json
import types

import hikari

from framework import hookimpl
from framework import sql as sa
from plugins.feedback import feedback_table
from tests.test_corrections import OPENAI_TOML, _ask, start


async def _rows(tb) -> list:
    async with tb.app.storage.connect() as conn:
        return (await conn.execute(sa.select(feedback_table).order_by(feedback_table.c.id))).all()


async def test_feedback_with_and_without_an_answer_and_rating(tb_factory, openai_server) -> None:
    tb = await start(tb_factory, OPENAI_TOML)
    answer = await _ask(tb, "what is 2+2?")
    general = await tb.say("!feedback the bot is really helpful")
    assert general.content == "Thanks for your feedback (#1)!"
    slash = await tb.slash("feedback", {"text": "wrong sum", "rating": 2, "message_id": str(answer.id)})
    assert slash.ephemeral and slash.content == "Thanks for your feedback (#2)!"
    replied = await tb.say("!feedback rating=5 now it is right", reference=answer)
    assert replied.content == "Thanks for your feedback (#3)!"
    rows = await _rows(tb)
    assert [(r.kind, r.text, r.rating, r.message_id, r.user_id) for r in rows] == [
        ("text", "the bot is really helpful", None, None, tb.user.id),
        ("text", "wrong sum", 2, answer.id, tb.user.id),
        ("text", "now it is right", 5, answer.id, tb.user.id)]
    assert (rows[1].prompt, rows[1].answer) == ("what is 2+2?", "Hello from the test model.")

    assert (await tb.say("!feedback rating=6 great")).content == "Option `rating` must be between 1 and 5, got `6`."
    assert (await tb.say("!feedback")).content == "Option `text` is required."
    mine = await tb.send("a user message")
    refused = await tb.say(f"!feedback message_id={mine.id} nice")
    assert refused.content.startswith(f"Message {mine.id} is not one of my chat answers")
    on_user = await tb.say("!feedback nice", reference=mine)  # message_id comes from the reply: say so
    assert on_user.content == ("The message you replied to is not one of my chat answers; for general feedback, "
                               "send it without replying.")
    assert "[rating=…] [message_id=…]" in (await tb.say("!help feedback")).content
    assert len(await _rows(tb)) == 3


def _reactions_seen() -> tuple[types.SimpleNamespace, list]:
    """A plugin listening to reactions after the feedback plugin (listeners run in load order,
    one after the other), so once it saw an event, feedback has handled it."""
    seen: list = []

    async def on_reaction(event, app) -> None:
        seen.append(event)

    def register_listeners(register) -> None:
        register(hikari.ReactionAddEvent, on_reaction)
        register(hikari.ReactionDeleteEvent, on_reaction)

    return types.SimpleNamespace(register_listeners=hookimpl(register_listeners)), seen


async def test_thumbs_reactions_on_answers_are_feedback(tb_factory, openai_server) -> None:
    observer, seen = _reactions_seen()
    tb = await start(tb_factory, OPENAI_TOML, reactions=observer)
    bob = tb.emu.create_user("bob")
    tb.emu.add_member(tb.guild, bob)
    answer = await _ask(tb, "tell me a joke")
    other = await tb.say("!ping")  # a bot message that is not a chat answer
    await tb.emu.add_reaction(answer, tb.user, "👍")
    # events are handled concurrently: the rows' order below needs the first stored first
    await tb.emu.wait_until(lambda: len(seen) == 1, what="the first reaction handled")
    await tb.emu.add_reaction(answer, bob, "👎")
    await tb.emu.add_reaction(answer, tb.user, "👍")  # again: recorded once
    await tb.emu.add_reaction(answer, tb.user, "🎉")  # not feedback
    await tb.emu.add_reaction(other, tb.user, "👍")  # not an answer
    await tb.emu.wait_until(lambda: len(seen) == 5, what="five reactions handled")
    rows = await _rows(tb)
    assert [(r.kind, r.reaction, r.user_id, r.message_id, r.prompt) for r in rows] == [
        ("reaction", "up", tb.user.id, answer.id, "tell me a joke"),
        ("reaction", "down", bob.id, answer.id, "tell me a joke")]
    listed = await tb.say("!feedbacks list", user=tb.owner)
    assert f"bob on `{answer.id}`: 👎" in listed.content  # names, not raw <@id> mentions
    assert f"{tb.user.username} on `{answer.id}`: 👍" in listed.content and "<@" not in listed.content
    await tb.emu.remove_reaction(answer, bob, "👎")  # taken back: the feedback goes
    await tb.emu.remove_reaction(answer, tb.user, "🎉")
    await tb.emu.wait_until(lambda: len(seen) == 7, what="two removals handled")
    assert [(r.reaction, r.user_id) for r in await _rows(tb)] == [("up", tb.user.id)]


async def test_feedback_list_and_export_by_permission(tb_factory, openai_server) -> None:
    tb = await start(tb_factory, OPENAI_TOML)
    bob = tb.emu.create_user("bob")
    tb.emu.add_member(tb.guild, bob)
    await tb.say("!feedback mine")
    await tb.say("!feedback rating=1 bob's", user=bob)
    own = await tb.slash("feedbacks", subcommand="list")
    assert own.ephemeral and "mine" in own.content and "bob's" not in own.content
    erin = tb.emu.create_user("erin")  # only ever uses slash commands: hikari caches no message of hers
    tb.emu.add_member(tb.guild, erin)
    await tb.slash("feedback", {"text": "erin's"}, user=erin)
    assert "erin: erin's" in (await tb.slash("feedbacks", subcommand="list", user=erin)).content
    # her name and roles come with the interaction (a bot without the Presence intent is sent no member
    # list, so she is not in its cache): nothing is fetched over REST for her
    assert not [r for r in tb.emu.requests if r.path == f"/guilds/{tb.guild.id}/members/{erin.id}"]
    refused = await tb.say(f"!feedbacks list <@{bob.id}>")
    assert refused.content == "Seeing other people's feedback needs the `feedback` permission."
    everyone = await tb.say("!feedbacks list", user=tb.owner)
    assert "(1/5): bob's" in everyone.content and "mine" in everyone.content and "erin's" in everyone.content
    exported = await tb.say("!feedbacks export", user=tb.owner)
    rows = [json.loads(line) for line in exported.attachments[0].data.decode().splitlines()]
    assert [(r["text"], r["rating"], r["user_id"]) for r in rows] == [("mine", None, tb.user.id), ("bob's", 1, bob.id),
                                                                      ("erin's", None, erin.id)]
    only_mine = await tb.say("!feedbacks export")
    assert [json.loads(line)["text"] for line in only_mine.attachments[0].data.decode().splitlines()] == ["mine"]


async def test_feedback_on_someones_answer_loses_their_prompt_when_they_delete_their_data(tb_factory,
                                                                                         openai_server) -> None:
    """Feedback copies the question it is about; the asker's ``mydata`` covers that copy: exported
    to them (without the other person's opinion) and cleared on delete, the feedback itself kept."""
    observer, seen = _reactions_seen()
    tb = await start(tb_factory, OPENAI_TOML, reactions=observer)
    bob = tb.emu.create_user("bob")
    tb.emu.add_member(tb.guild, bob)
    answer = await _ask(tb, "alice's private question")
    thanks = await tb.say("!feedback rating=2 meh", reference=answer, user=bob)
    assert thanks.content == "Thanks for your feedback (#1)!"
    await tb.emu.add_reaction(answer, bob, "👎")
    await tb.emu.wait_until(lambda: len(seen) == 1, what="the reaction handled")
    exported = json.loads((await tb.slash("mydata", subcommand="export")).attachments[0].data)["data"]["feedback"]
    assert [(f["message_id"], f["prompt"]) for f in exported["feedback_on_your_questions"]] == [
        (answer.id, "alice's private question")] * 2
    assert "meh" not in json.dumps(exported) and "feedback" not in exported, "bob's opinion is his, not alice's"
    done = await tb.slash("mydata", {"confirm": True}, subcommand="delete")
    assert done.content.startswith("Deleted ")
    rows = await _rows(tb)
    assert [(r.user_id, r.kind, r.text, r.rating, r.reaction, r.prompt, r.answer) for r in rows] == [
        (bob.id, "text", "meh", 2, None, None, None), (bob.id, "reaction", None, None, "down", None, None)]
    export = await tb.slash("mydata", subcommand="export", user=bob)
    assert "alice's private question" not in export.attachments[0].data.decode()
