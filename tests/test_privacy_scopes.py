"""Privacy scopes through the real bot: an answer given in a direct message can be corrected or
given feedback only in that DM, and listings and exports in a server never show DM text; in a
server, text from a channel is shown, and acted on, only by people who may view that channel
(computed from the roles and overwrites Discord sends)."""

from __future__ import annotations

import asyncio
import json
import types

from framework import hookimpl
from tests.test_corrections import OPENAI_TOML

VIEW_CHANNEL = 1 << 10
DM_REFUSED = "That answer was given in a direct message; it can be corrected only there."


async def _start(tb_factory, toml: str = OPENAI_TOML):
    """The bot, with a plugin telling when chat recorded an answer, in a server that has a private
    #staff channel (only the staff role and the bot see it: on Discord a bot that cannot see a channel
    can neither read nor answer there), bob (staff) and carol (feedback group, not staff)."""
    emu = tb_factory.emu
    guild = tb_factory.world()[0]
    role = emu.create_role(guild, "staff")
    staff = emu.create_channel(guild, "staff", overwrites=[
        {"id": guild.id, "type": 0, "deny": str(VIEW_CHANNEL)}, {"id": role.id, "type": 0, "allow": str(VIEW_CHANNEL)},
        {"id": emu.bot_user.id, "type": 1, "allow": str(VIEW_CHANNEL)}])
    bob, carol = emu.create_user("bob"), emu.create_user("carol")
    emu.add_member(guild, bob, roles=[role])
    emu.add_member(guild, carol)
    answers: asyncio.Queue[str] = asyncio.Queue()
    observer = types.SimpleNamespace(reply_sent=hookimpl(lambda app, message, text: answers.put_nowait(text)))
    toml += f"[permissions.groups.feedback]\nusers = [{carol.id}]\n"
    tb = await tb_factory(plugins_toml=toml, extra_plugins={"observer": observer})
    tb.answers, tb.staff, tb.bob, tb.carol = answers, staff, bob, carol
    return tb


async def _ask(tb, text: str, *, user, channel):
    """A chat answer (mentioning the bot in a server; plainly in a DM), once it is recorded."""
    mention = "" if channel.kind == "dm" else f"<@{tb.emu.bot_user.id}> "
    answer = await tb.say(mention + text, user=user, channel=channel)
    assert await tb.answers.get() == answer.content
    return answer


async def test_a_dm_answer_cannot_be_corrected_or_rated_from_a_server_channel(tb_factory, openai_server) -> None:
    """The leak: knowing the id of the bot's answer in someone's DM, anyone corrected it or gave
    feedback on it from a server channel, and `corrections list` there showed the DM question."""
    tb = await _start(tb_factory)
    dm = tb.emu.create_dm(tb.user)
    private = await _ask(tb, "my private question", user=tb.user, channel=dm)

    assert (await tb.say(f"!correct {private.id} a public correction", user=tb.bob)).content == DM_REFUSED
    assert (await tb.say(f"!correct {private.id} mine, but here")).content == DM_REFUSED, "not even its asker"
    refused = await tb.slash("correct", {"message_id": str(private.id), "correction": "x"}, user=tb.owner)
    assert (refused.content, refused.ephemeral) == (DM_REFUSED, True)
    assert (await tb.say(f"!feedback message_id={private.id} leaky", user=tb.bob)).content == (
        "That answer was given in a direct message; feedback on it can be given only there.")
    assert (await tb.say("!corrections list", user=tb.owner)).content == "No corrections yet."
    assert (await tb.say("!feedbacks list", user=tb.owner)).content == "No feedback yet."

    assert (await tb.say("!correct a better answer", user=tb.user, channel=dm, reference=private)).content \
        .startswith("Thanks! Correction #1 saved")
    assert (await tb.say(f"!feedback message_id={private.id} rating=2 meh", channel=dm)).content == \
        "Thanks for your feedback (#1)!"

    listed = (await tb.say("!corrections list", user=tb.owner)).content
    assert "my private question" not in listed and listed.startswith("No corrections yet.\n(1 not shown here")
    exported = await tb.say("!corrections export", user=tb.owner)
    assert exported.content.startswith("0 correction(s).") and exported.attachments[0].data == b""
    assert "my private question" not in (await tb.say("!feedbacks export", user=tb.owner)).attachments[0].data.decode()
    assert "my private question" not in (await tb.say("!corrections list")).content, "the asker, but in public"

    assert "“my private question”" in (await tb.say("!corrections list", channel=dm)).content
    owner_dm = tb.emu.create_dm(tb.owner)
    assert "“my private question”" in (await tb.say("!corrections list", user=tb.owner, channel=owner_dm)).content
    rows = [json.loads(line) for line in
            (await tb.say("!feedbacks export", user=tb.owner, channel=owner_dm)).attachments[0].data.splitlines()]
    assert [(r["prompt"], r["text"]) for r in rows] == [("my private question", "meh")]
    carol_dm = tb.emu.create_dm(tb.carol)
    assert (await tb.say("!corrections list", user=tb.carol, channel=carol_dm)).content.startswith(
        "No corrections yet.\n(1 not shown here"), "the feedback group is not a participant of alice's DM"


async def test_a_private_channel_answer_is_shown_and_corrected_only_by_who_sees_it(tb_factory, openai_server) -> None:
    tb = await _start(tb_factory)
    staff = tb.staff
    secret = await _ask(tb, "staff only question", user=tb.bob, channel=staff)
    public = await _ask(tb, "public question", user=tb.user, channel=tb.channel)

    refused = await tb.say(f"!correct {secret.id} nosy")
    assert refused.content == "That answer is in a channel you cannot see; it can be corrected only by those who can."
    assert (await tb.say(f"!feedback message_id={secret.id} nosy")).content.startswith("That answer is in a channel")
    assert (await tb.say(f"!correct {secret.id} fixed", user=tb.bob)).content.startswith("Thanks!"), \
        "staff may correct it, also from another channel they see"
    assert (await tb.say(f"!correct {public.id} better", user=tb.bob, channel=staff)).content \
        .startswith("Thanks!")

    carol = tb.carol  # may see everyone's corrections, but not #staff
    listed = (await tb.say("!corrections list", user=carol)).content
    assert "public question" in listed and "staff only question" not in listed and "(1 not shown here" in listed
    everything = (await tb.say("!corrections list", user=tb.owner)).content  # the server's owner sees #staff
    assert "public question" in everything and "staff only question" in everything
    rows = (await tb.say("!corrections export", user=carol)).attachments[0].data.decode()
    assert "public question" in rows and "staff only question" not in rows
    assert "staff only question" in (await tb.say("!corrections list", user=tb.bob)).content


async def test_the_viewers_roles_come_from_the_member_the_command_carries(tb_factory, openai_server) -> None:
    """Discord sends a bot without the Presence intent no member list (GUILD_CREATE holds the bot and
    the members in voice): whether the author of a slash command may see a channel is computed from the
    member the interaction carries, not looked up over REST for each action."""
    tb = await _start(tb_factory)
    secret = await _ask(tb, "staff only question", user=tb.bob, channel=tb.staff)
    erin = tb.emu.create_user("erin")  # staff, and has never written anything the bot could cache her from
    tb.emu.add_member(tb.guild, erin, roles=[r for r in tb.guild.roles if r.name == "staff"])
    saved = await tb.slash("correct", {"message_id": str(secret.id), "correction": "fixed"}, user=erin)
    assert saved.content.startswith("Thanks! Correction #1 saved")
    refused = await tb.slash("correct", {"message_id": str(secret.id), "correction": "nosy"}, user=tb.carol)
    assert refused.content.startswith("That answer is in a channel you cannot see")
    fetched = [r.path for r in tb.emu.requests if r.method == "GET" and "/members/" in r.path]
    assert fetched == [], "the interaction's member says who they are"


async def test_someone_outside_the_server_cannot_act_on_its_answers(tb_factory, openai_server) -> None:
    """From a DM, a server's answers are acted on only by its members who see the channel (a member
    the bot has not cached is looked up over REST; one that is not a member sees nothing)."""
    tb = await _start(tb_factory)
    public = await _ask(tb, "public question", user=tb.user, channel=tb.channel)
    dave = tb.emu.create_user("dave")  # not a member of the server
    refused = await tb.say(f"!correct {public.id} outsider", user=dave, channel=tb.emu.create_dm(dave))
    assert refused.content == "That answer is in a channel you cannot see; it can be corrected only by those who can."
    assert any(r.method == "GET" and r.path == f"/guilds/{tb.guild.id}/members/{dave.id}" for r in tb.emu.requests)
    saved = await tb.say(f"!correct {public.id} from my DM", user=tb.carol, channel=tb.emu.create_dm(tb.carol))
    assert saved.content.startswith("Thanks! Correction #1 saved")
