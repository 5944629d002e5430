"""The bot's own permissions through the real bot: answers without Read Message History, a command
that needs Attach Files where the bot lacks it, the start-up check per server, and the invite URL's
permissions integer in the README."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import hikari
import pytest

from framework.bot_permissions import invite_permissions, names

pytestmark = pytest.mark.backends("sqlite")  # the bot's Discord permissions do not depend on the database

P = hikari.Permissions
README = Path(__file__).resolve().parents[1] / "README.md"


async def channel_denying(tb, name: str, denied: hikari.Permissions):
    """A text channel whose overwrite denies the bot ``denied``, once the bot's cache knows it."""
    channel = tb.emu.create_channel(tb.guild, name, overwrites=[
        {"id": tb.emu.bot_user.id, "type": 1, "deny": str(int(denied))}])
    await tb.emu.wait_until(lambda: tb.app.bot.cache.get_guild_channel(channel.id), what="the bot to see the channel")
    return channel


async def test_without_read_message_history_answers_mention_instead_of_replying(tb, caplog) -> None:
    quiet = await channel_denying(tb, "quiet", P.READ_MESSAGE_HISTORY)
    caplog.set_level(logging.WARNING, logger="framework.replies")
    first = await tb.say("!hi", channel=quiet)
    assert first.content == f"<@{tb.user.id}> Hello, alice! I'm trainerbot. Type `!help` to see what I can do."
    assert first.reference is None, "no reply where Discord refuses replies"
    request = next(r for r in tb.emu.requests if r.method == "POST" and r.path == f"/channels/{quiet.id}/messages")
    assert "message_reference" not in request.json and request.json["allowed_mentions"]["users"] == [str(tb.user.id)]
    unknown = await tb.say("!nosuch", channel=quiet)
    assert unknown.content.startswith(f"<@{tb.user.id}> Unknown command `!nosuch`") and unknown.reference is None
    noted = [r for r in caplog.records if r.name == "framework.replies"]
    assert len(noted) == 1 and "No Read Message History in channel" in noted[0].getMessage()
    elsewhere = await tb.say("!hi")
    assert elsewhere.reference is not None, "where the bot may, it still replies"


async def test_a_reply_discord_refuses_is_sent_again_as_a_mention(tb) -> None:
    """The bot's cache says it may reply; the strict emulator refuses the reply (403, 50013) because
    the overwrite changed without an event: the answer still arrives, as a mention."""
    quiet = tb.emu.create_channel(tb.guild, "silently-quiet")
    await tb.emu.wait_until(lambda: tb.app.bot.cache.get_guild_channel(quiet.id), what="the bot to see the channel")
    tb.emu.set_overwrite(quiet, tb.emu.bot_user, deny=int(P.READ_MESSAGE_HISTORY), announce=False)
    answer = await tb.say("!hi", channel=quiet)
    assert answer.content.startswith(f"<@{tb.user.id}> Hello, alice!") and answer.reference is None
    assert [(r.rule, r.code) for r in tb.emu.refusals] == [("permission.read_message_history", 50013)]


async def test_getfile_without_attach_files_names_the_missing_permission(tb) -> None:
    (tb.data_root / "exports").mkdir(exist_ok=True)
    (tb.data_root / "exports" / "report.csv").write_text("a,b\n", "utf-8")
    no_files = await channel_denying(tb, "no-files", P.ATTACH_FILES)
    refused = await tb.say("!getfile exports/report.csv", user=tb.owner, channel=no_files)
    assert refused.content == ("I can't do that here: I lack the Attach Files permission in this channel, which "
                               "`getfile` needs. A server admin can grant it to my role.")
    assert not refused.attachments
    sent = await tb.say("!getfile exports/report.csv", user=tb.owner)
    assert [a.filename for a in sent.attachments] == ["report.csv"]


async def test_getfile_refused_by_discord_explains_the_missing_permission(tb) -> None:
    """The bot's cache says it may attach files; Discord (the strict emulator) refuses with 50013 because the
    overwrite changed without an event: the answer names the permission, not "failed unexpectedly"."""
    (tb.data_root / "exports").mkdir(exist_ok=True)
    (tb.data_root / "exports" / "report.csv").write_text("a,b\n", "utf-8")
    stale = tb.emu.create_channel(tb.guild, "stale")
    await tb.emu.wait_until(lambda: tb.app.bot.cache.get_guild_channel(stale.id), what="the bot to see the channel")
    tb.emu.set_overwrite(stale, tb.emu.bot_user, deny=int(P.ATTACH_FILES), announce=False)
    refused = await tb.say("!getfile exports/report.csv", user=tb.owner, channel=stale)
    assert refused.content == ("I can't do that here: I lack the Attach Files permission in this channel, which "
                               "`getfile` needs. A server admin can grant it to my role.")
    assert not refused.attachments
    assert {r.rule for r in tb.emu.refusals} == {"permission.attach_files"}


async def test_the_start_up_check_says_once_per_server_what_will_not_work(tb_factory, caplog) -> None:
    caplog.set_level(logging.INFO, logger="framework.bot_permissions")
    tb_factory.emu.create_guild("Locked server",
                                bot_permissions=int(P.VIEW_CHANNEL | P.SEND_MESSAGES | P.CONNECT | P.SPEAK))
    tb = await tb_factory()

    def said() -> list[str] | None:
        lines = [r.getMessage() for r in caplog.records if r.name == "framework.bot_permissions"]
        return lines if len(lines) >= 2 else None

    lines = await tb.emu.wait_until(said, what="the check of both servers")
    [warning] = [line for line in lines if "'Locked server'" in line]
    assert "without Attach Files: `corrections export`, `feedbacks export`, `getfile`." in warning
    assert "without Read Message History: answering as replies" in warning
    assert "Send Messages" not in warning and "Speak" not in warning
    assert [line for line in lines if "'Test server'" in line] == [
        f"In the server 'Test server' ({tb.guild.id}) the bot has every permission its commands need."]


async def test_the_readme_invite_asks_for_exactly_what_the_built_ins_need(tb) -> None:
    needed = invite_permissions(tb.app)
    assert names(needed) == "View Channel, Send Messages, Attach Files, Read Message History, Connect and Speak"
    urls = re.findall(r"https://discord\.com/oauth2/authorize\?\S*permissions=(\d+)", README.read_text("utf-8"))
    assert urls == [str(int(needed))]


async def test_a_permission_change_counts_for_the_next_message(tb) -> None:
    """The bot remembers its permissions per channel between messages; a changed overwrite or role
    counts for the very next message, with no refused request."""
    channel = tb.channel
    assert (await tb.say("!hi")).reference is not None
    tb.emu.set_overwrite(channel, tb.emu.bot_user, deny=int(P.READ_MESSAGE_HISTORY))
    await tb.emu.wait_until(lambda: tb.app.bot.cache.get_guild_channel(channel.id).permission_overwrites,
                            what="the bot to see the overwrite")
    assert (await tb.say("!hi")).reference is None, "the overwrite denies replies now"
    tb.emu.set_overwrite(channel, tb.emu.bot_user)
    await tb.emu.wait_until(lambda: not tb.app.bot.cache.get_guild_channel(channel.id).permission_overwrites[
        tb.emu.bot_user.id].deny, what="the bot to see the overwrite cleared")
    assert (await tb.say("!hi")).reference is not None
    everyone = tb.guild.roles[0]
    allowed = int(everyone.permissions)
    tb.emu.update_role(everyone, permissions=allowed & ~int(P.READ_MESSAGE_HISTORY))
    await tb.emu.wait_until(lambda: not tb.app.bot.cache.get_role(everyone.id).permissions & P.READ_MESSAGE_HISTORY,
                            what="the bot to see the role change")
    assert (await tb.say("!hi")).reference is None, "the role lacks Read Message History now"
    tb.emu.update_role(everyone, permissions=allowed)
    await tb.emu.wait_until(lambda: tb.app.bot.cache.get_role(everyone.id).permissions & P.READ_MESSAGE_HISTORY,
                            what="the bot to see the role change back")
    assert (await tb.say("!hi")).reference is not None
    assert not tb.emu.refusals, "the bot never tried a reply Discord refuses"


def test_the_permission_memo_asks_for_no_intent_the_bot_lacks() -> None:
    """The memo listens for updates of the bot's own member, which Discord sends without the
    GUILD_MEMBERS intent: hikari's warning about that intent is not shown at every start."""
    import warnings

    from framework.app import INTENTS
    from framework.bot_permissions import PermissionMemo

    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.Gxxxxx.yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"  # a token of the right shape
    bot = hikari.GatewayBot(token, intents=INTENTS, banner=None, logs=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        PermissionMemo(bot)
    assert [w for w in caught if issubclass(w.category, hikari.MissingIntentWarning)] == []
    assert not INTENTS & hikari.Intents.GUILD_MEMBERS
