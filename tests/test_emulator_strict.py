"""The strict emulator on its own: raw REST requests (and a raw gateway socket) that Discord refuses
are refused the same way — status, JSON ``code`` and ``message``, the 50035 ``errors`` tree — and
counted in ``emu.refusals``; a relaxed rule lets the request through."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from framework.emulator import DiscordEmulator
from framework.emulator import permissions_calc as perms

pytestmark = pytest.mark.backends("sqlite")  # the emulator's rules do not depend on the database


async def call(emu: DiscordEmulator, method: str, path: str, body: Any = None,
               files: list[tuple[str, bytes]] = ()) -> tuple[int, Any]:
    """One request as the bot makes it ("Bot <token>"); multipart with ``payload_json`` when files."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {emu.token}"}) as session:
        kwargs: dict[str, Any] = {}
        if files:
            form = aiohttp.FormData()
            form.add_field("payload_json", json.dumps(body or {}), content_type="application/json")
            for n, (name, data) in enumerate(files):
                form.add_field(f"files[{n}]", data, filename=name, content_type="application/octet-stream")
            kwargs["data"] = form
        elif body is not None:
            kwargs["json"] = body
        async with session.request(method, emu.rest_url + path, **kwargs) as response:
            return response.status, (await response.json() if response.status != 204 else None)


@pytest.fixture
async def world(discord_emulator: DiscordEmulator):
    emu = discord_emulator
    # These raw REST calls test content, command and permission rules; they do not wait for rate-limit
    # buckets as a library does (tests/test_rate_limits.py covers those), so the limiter is relaxed here.
    emu.relax("ratelimit")
    guild = emu.create_guild("Strict")
    channel = emu.create_channel(guild, "general")
    alice = emu.create_user("alice")
    emu.add_member(guild, alice)
    return emu, guild, channel, alice


def too_long(limit: int) -> dict[str, Any]:
    return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}]}


# ----------------------------------------------------------------------------- messages


async def test_content_over_2000_characters_is_refused_with_the_errors_tree(world) -> None:
    emu, _, channel, _ = world
    assert (await call(emu, "POST", f"/channels/{channel.id}/messages", {"content": "x" * 2000}))[0] == 200
    status, body = await call(emu, "POST", f"/channels/{channel.id}/messages", {"content": "x" * 2001})
    assert status == 400
    assert body == {"message": "Invalid Form Body", "code": 50035, "errors": {"content": too_long(2000)}}
    assert [(r.rule, r.code) for r in emu.refusals] == [("message.content_length", 50035)]
    assert len(emu.sent_messages(channel)) == 1, "the refused message was not recorded"
    emu.relax("message.content_length")
    assert (await call(emu, "POST", f"/channels/{channel.id}/messages", {"content": "x" * 2001}))[0] == 200


@pytest.mark.parametrize(("embeds", "errors"), [
    ([{"title": "t" * 257}], {"embeds": {"0": {"title": too_long(256)}}}),
    ([{"description": "d" * 4097}], {"embeds": {"0": {"description": too_long(4096)}}}),
    ([{"fields": [{"name": "n", "value": "v"}] * 26}], {"embeds": {"0": {"fields": too_long(25)}}}),
    ([{}, {"fields": [{"name": "n" * 257, "value": "v" * 1025}]}],
     {"embeds": {"1": {"fields": {"0": {"name": too_long(256), "value": too_long(1024)}}}}}),
    ([{"footer": {"text": "f" * 2049}, "author": {"name": "a" * 257}}],
     {"embeds": {"0": {"footer": {"text": too_long(2048)}, "author": {"name": too_long(256)}}}}),
    ([{"description": "d" * 4000}, {"description": "d" * 2001}],
     {"embeds": {"_errors": [{"code": "MAX_EMBED_SIZE_EXCEEDED",
                              "message": "Embed size exceeds maximum size of 6000"}]}}),
    ([{"title": "t"}] * 11, {"embeds": too_long(10)}),
])
async def test_embed_limits(world, embeds, errors) -> None:
    emu, _, channel, _ = world
    status, body = await call(emu, "POST", f"/channels/{channel.id}/messages", {"embeds": embeds})
    assert (status, body) == (400, {"message": "Invalid Form Body", "code": 50035, "errors": errors})
    assert [r.rule for r in emu.refusals] == ["message.embeds"]


async def test_files_are_at_most_ten_and_each_within_the_guilds_upload_limit(world) -> None:
    emu, guild, channel, _ = world
    path = f"/channels/{channel.id}/messages"
    status, body = await call(emu, "POST", path, {"content": "many"}, files=[(f"{n}.txt", b"x") for n in range(11)])
    assert (status, body["code"], body["errors"]) == (400, 50035, {"files": too_long(10)})
    guild.upload_limit = 1000  # as a server without boosts would have a lower limit than the next
    status, body = await call(emu, "POST", path, {}, files=[("big.bin", b"x" * 1001)])
    assert (status, body["code"]) == (413, 40005)
    assert (await call(emu, "POST", path, {}, files=[("ok.bin", b"x" * 1000)]))[0] == 200
    guild.upload_limit = 2000  # boosted
    assert (await call(emu, "POST", path, {}, files=[("big.bin", b"x" * 1001)]))[0] == 200
    assert [r.rule for r in emu.refusals] == ["message.files", "message.file_size"]


async def test_an_empty_message_is_refused(world) -> None:
    emu, _, channel, _ = world
    status, body = await call(emu, "POST", f"/channels/{channel.id}/messages", {"content": ""})
    assert (status, body) == (400, {"message": "Cannot send an empty message", "code": 50006})


async def test_allowed_mentions_decide_whom_the_message_mentions(world) -> None:
    emu, guild, channel, alice = world
    role = emu.create_role(guild, "mods")
    content = f"<@{alice.id}> <@&{role.id}> @everyone"
    path = f"/channels/{channel.id}/messages"
    _, everything = await call(emu, "POST", path, {"content": content})
    assert [u["id"] for u in everything["mentions"]] == [str(alice.id)]
    assert everything["mention_roles"] == [str(role.id)] and everything["mention_everyone"] is True
    _, nothing = await call(emu, "POST", path, {"content": content, "allowed_mentions": {"parse": []}})
    assert (nothing["mentions"], nothing["mention_roles"], nothing["mention_everyone"]) == ([], [], False)
    _, only_alice = await call(emu, "POST", path, {"content": content, "allowed_mentions": {"users": [str(alice.id)]}})
    assert [u["id"] for u in only_alice["mentions"]] == [str(alice.id)] and only_alice["mention_roles"] == []
    _, roles = await call(emu, "POST", path, {"content": content, "allowed_mentions": {"parse": ["roles"]}})
    assert roles["mentions"] == [] and roles["mention_roles"] == [str(role.id)] and not roles["mention_everyone"]
    asked = await emu.send_message(channel, alice, "question")
    _, reply = await call(emu, "POST", path, {"content": "answer", "message_reference": {"message_id": str(asked.id)},
                                              "allowed_mentions": {"parse": [], "replied_user": True}})
    assert [u["id"] for u in reply["mentions"]] == [str(alice.id)]
    status, refused = await call(emu, "POST", path, {"content": content, "allowed_mentions": {
        "parse": ["users"], "users": [str(alice.id)]}})
    assert (status, refused["code"]) == (400, 50035)
    assert refused["errors"]["allowed_mentions"]["_errors"][0]["code"] == "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE"


async def test_edits_and_webhook_messages_have_the_same_limits(world) -> None:
    emu, _, channel, alice = world
    _, sent = await call(emu, "POST", f"/channels/{channel.id}/messages", {"content": "short"})
    status, body = await call(emu, "PATCH", f"/channels/{channel.id}/messages/{sent['id']}", {"content": "x" * 2001})
    assert (status, body["errors"]) == (400, {"content": too_long(2000)})
    inter = emu._interaction(channel, alice, 2, {"id": "1", "name": "x", "type": 1})
    callback = f"/interactions/{inter.id}/{inter.token}/callback"
    status, body = await call(emu, "POST", callback, {"type": 4, "data": {"content": "x" * 2001}})
    assert (status, body["code"]) == (400, 50035) and not inter.callbacks, "a refused callback acknowledges nothing"
    assert (await call(emu, "POST", callback, {"type": 5}))[0] == 204
    webhook = f"/webhooks/{emu.application_id}/{inter.token}"
    status, body = await call(emu, "PATCH", f"{webhook}/messages/@original", {"embeds": [{"title": "t" * 257}]})
    assert (status, body["code"]) == (400, 50035)
    status, body = await call(emu, "POST", webhook, {"content": "y" * 2001})
    assert (status, body["errors"]) == (400, {"content": too_long(2000)})
    assert [r.rule for r in emu.refusals] == [
        "message.content_length", "message.content_length", "message.embeds", "message.content_length"]


# ----------------------------------------------------------------------------- permissions


def deny_bot(emu: DiscordEmulator, channel, denied: int) -> None:
    """Deny the bot more in ``channel`` (on top of what its overwrite already denies)."""
    mine = next((o for o in channel.overwrites if int(o["id"]) == emu.bot_user.id), {"deny": "0"})
    emu.set_overwrite(channel, emu.bot_user, deny=int(mine["deny"]) | denied)


async def test_permissions_are_computed_as_discord_documents(world) -> None:
    emu, guild, channel, alice = world
    everyone = guild.roles[0]
    everyone.permissions = str(perms.VIEW_CHANNEL)
    writers = emu.create_role(guild, "writers", permissions=perms.SEND_MESSAGES | perms.ATTACH_FILES)
    muted = emu.create_role(guild, "muted")
    member = emu.add_member(guild, alice, roles=[writers, muted])
    assert perms.base_permissions(guild, alice.id) == perms.VIEW_CHANNEL | perms.SEND_MESSAGES | perms.ATTACH_FILES
    channel.overwrites = [
        {"id": str(guild.id), "type": 0, "allow": str(perms.ADD_REACTIONS), "deny": str(perms.ATTACH_FILES)},
        {"id": str(muted.id), "type": 0, "allow": "0", "deny": str(perms.SEND_MESSAGES)},
        {"id": str(writers.id), "type": 0, "allow": str(perms.SEND_MESSAGES), "deny": "0"}]
    # roles' overwrites together: writers' allow wins over muted's deny; @everyone's deny of files stays
    assert perms.channel_permissions(guild, alice.id, channel) == (
        perms.VIEW_CHANNEL | perms.SEND_MESSAGES | perms.ADD_REACTIONS)
    channel.overwrites.append({"id": str(alice.id), "type": 1, "allow": str(perms.ATTACH_FILES),
                               "deny": str(perms.SEND_MESSAGES)})
    assert perms.channel_permissions(guild, alice.id, channel) == perms.VIEW_CHANNEL | perms.ADD_REACTIONS, (
        "the member's own overwrite comes last; without Send Messages, Attach Files goes too")
    channel.overwrites.append({"id": str(guild.id), "type": 0, "allow": "0", "deny": str(perms.VIEW_CHANNEL)})
    channel.overwrites = channel.overwrites[1:]
    assert perms.channel_permissions(guild, alice.id, channel) == 0, "without View Channel, nothing"
    member.roles.append(emu.create_role(guild, "admins", permissions=perms.ADMINISTRATOR))
    assert perms.channel_permissions(guild, alice.id, channel) == perms.ALL, "administrators skip overwrites"
    assert perms.channel_permissions(guild, guild.owner_id, channel) == perms.ALL, "so does the owner"


@pytest.mark.parametrize(("denied", "method", "what", "rule"), [
    (perms.SEND_MESSAGES, "POST", {"content": "hi"}, "permission.send_messages"),
    (perms.READ_MESSAGE_HISTORY, "POST", "reply", "permission.read_message_history"),
    (perms.ATTACH_FILES, "POST", "file", "permission.attach_files"),
    (perms.EMBED_LINKS, "POST", {"embeds": [{"title": "t"}]}, "permission.embed_links"),
])
async def test_sending_needs_its_permissions(world, denied, method, what, rule) -> None:
    emu, _, channel, alice = world
    asked = await emu.send_message(channel, alice, "question")
    body, files = ({"content": "answer", "message_reference": {"message_id": str(asked.id)}}, []) if what == "reply" \
        else ({"content": "here"}, [("a.txt", b"a")]) if what == "file" else (what, [])
    path = f"/channels/{channel.id}/messages"
    assert (await call(emu, method, path, body, files))[0] == 200
    deny_bot(emu, channel, denied)
    status, answer = await call(emu, method, path, body, files)
    assert (status, answer) == (403, {"message": "Missing Permissions", "code": 50013})
    assert [r.rule for r in emu.refusals] == [rule]
    emu.relax(rule)
    assert (await call(emu, method, path, body, files))[0] == 200


async def test_reactions_deletes_views_and_dms(world) -> None:
    emu, _, channel, alice = world
    theirs = await emu.send_message(channel, alice, "theirs")
    deny_bot(emu, channel, perms.ADD_REACTIONS | perms.MANAGE_MESSAGES)
    react = f"/channels/{channel.id}/messages/{theirs.id}/reactions/👍/@me"
    assert (await call(emu, "PUT", react))[1]["code"] == 50013, "the first 👍 needs Add Reactions"
    await emu.add_reaction(theirs, alice, "👍")
    assert (await call(emu, "PUT", react))[0] == 204, "adding to an existing reaction does not"
    assert (await call(emu, "DELETE", f"/channels/{channel.id}/messages/{theirs.id}"))[1]["code"] == 50013
    _, mine = await call(emu, "POST", f"/channels/{channel.id}/messages", {"content": "mine"})
    assert (await call(emu, "DELETE", f"/channels/{channel.id}/messages/{mine['id']}"))[0] == 204
    deny_bot(emu, channel, perms.READ_MESSAGE_HISTORY)
    assert (await call(emu, "GET", f"/channels/{channel.id}/messages"))[1] == [], "no history: no messages"
    assert (await call(emu, "GET", f"/channels/{channel.id}/messages/{theirs.id}"))[1]["code"] == 50013
    deny_bot(emu, channel, perms.VIEW_CHANNEL)
    status, body = await call(emu, "POST", f"/channels/{channel.id}/messages", {"content": "hi"})
    assert (status, body) == (403, {"message": "Missing Access", "code": 50001})
    dm = emu.create_dm(alice)
    in_dm = await call(emu, "POST", f"/channels/{dm.id}/messages", {"content": "hi"})
    assert in_dm[0] == 200, "no permissions in DMs"


async def test_interaction_responses_are_not_subject_to_channel_permissions(world) -> None:
    emu, _, channel, alice = world
    deny_bot(emu, channel, perms.SEND_MESSAGES | perms.ATTACH_FILES | perms.EMBED_LINKS)
    inter = emu._interaction(channel, alice, 2, {"id": "1", "name": "x", "type": 1})
    status, _ = await call(emu, "POST", f"/interactions/{inter.id}/{inter.token}/callback",
                           {"type": 4, "data": {"content": "answer", "embeds": [{"title": "t"}]}})
    assert status == 204
    status, _ = await call(emu, "POST", f"/webhooks/{emu.application_id}/{inter.token}", {"content": "more"},
                           files=[("a.txt", b"a")])
    assert status == 200 and emu.refusals == []


# ----------------------------------------------------------------------------- application commands


def chat(name: str = "hi", description: str = "Say hi", **extra: Any) -> dict[str, Any]:
    return {"type": 1, "name": name, "description": description, **extra}


def opt(name: str, kind: int = 3, description: str = "An option", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "name": name, "description": description, **extra}


def codes(tree: dict[str, Any], *path: str) -> list[str]:
    for key in path:
        tree = tree[key]
    return [e["code"] for e in tree["_errors"]]


async def test_the_issues_bad_command_fails_the_whole_put_and_registers_nothing(discord_emulator) -> None:
    emu = discord_emulator
    path = f"/applications/{emu.application_id}/commands"
    assert (await call(emu, "PUT", path, [chat("old")]))[0] == 200
    reports = chat("Reports", "d" * 150, options=[opt(f"field{i}") for i in range(26)])
    status, body = await call(emu, "PUT", path, [chat("hi"), reports])
    assert (status, body["code"], body["message"]) == (400, 50035, "Invalid Form Body")
    errors = body["errors"]
    assert list(errors) == ["1"], "the errors name the second command only"
    assert codes(errors, "1", "name") == ["APPLICATION_COMMAND_INVALID_NAME"]
    assert errors["1"]["description"]["_errors"] == [
        {"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be between 1 and 100 in length."}]
    assert codes(errors, "1", "options") == ["BASE_TYPE_MAX_LENGTH"]
    assert [c["name"] for c in emu.synced_commands()] == ["old"], "nothing registered, nothing replaced"
    assert [r.rule for r in emu.refusals] == ["command.name"]


@pytest.mark.parametrize(("command", "where", "code"), [
    (chat("two words"), ("0", "name"), "APPLICATION_COMMAND_INVALID_NAME"),
    (chat("x" * 33), ("0", "name"), "BASE_TYPE_BAD_LENGTH"),
    (chat("hi", ""), ("0", "description"), "BASE_TYPE_BAD_LENGTH"),
    (chat(options=[opt("a"), opt("a")]), ("0", "options", "1", "name"), "APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME"),
    (chat(options=[opt("a"), opt("b", required=True)]), ("0", "options", "1", "required"),
     "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"),
    (chat(options=[opt("a", choices=[{"name": str(n), "value": str(n)} for n in range(26)])]),
     ("0", "options", "0", "choices"), "BASE_TYPE_MAX_LENGTH"),
    (chat(options=[opt("a", choices=[{"name": "x", "value": "x"}], autocomplete=True)]),
     ("0", "options", "0", "autocomplete"), "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_WITH_CHOICES"),
    (chat(options=[opt("Loud")]), ("0", "options", "0", "name"), "APPLICATION_COMMAND_INVALID_NAME"),
    (chat(options=[opt("g", 2, options=[opt("s", 1, options=[opt("deeper", 1)])])]),
     ("0", "options", "0", "options", "0", "options", "0", "type"), "APPLICATION_COMMAND_OPTION_TYPE_INVALID"),
    (chat(options=[opt("s", 1), opt("plain")]), ("0", "options"), "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID"),
    (chat(integration_types=[]), ("0", "integration_types"), "BASE_TYPE_MIN_LENGTH"),
    (chat(options=[opt(f"o{i}", description="d" * 100, choices=[{"name": "c" * 50, "value": "v" * 50}] * 7)
                   for i in range(5)]), ("0",), "APPLICATION_COMMAND_TOO_LARGE"),
    ({"type": 3, "name": "Menu", "description": "no"}, ("0", "description"), "BASE_TYPE_MAX_LENGTH"),
])
async def test_command_rules(discord_emulator, command, where, code) -> None:
    emu = discord_emulator
    guild = emu.create_guild("G")
    status, body = await call(emu, "PUT", f"/applications/{emu.application_id}/guilds/{guild.id}/commands", [command])
    assert (status, body["code"]) == (400, 50035)
    assert code in codes(body["errors"], *where)
    assert emu.synced_commands(guild) == []


async def test_what_discord_accepts_is_registered(discord_emulator) -> None:
    emu = discord_emulator
    accepted = [chat("데이터"), chat("नमस्ते"), chat("สวัสดี"), chat("it's"), chat("a-b_c", options=[
        opt("g", 2, options=[opt("s", 1, options=[opt("req", required=True), opt("free", autocomplete=True)])]),
        opt("t", 1)]), {"type": 3, "name": "Mixed Case Menu"}, {"type": 2, "name": "Mixed Case Menu"},
        chat("hi", integration_types=[0], contexts=[0, 1, 2])]
    status, body = await call(emu, "PUT", f"/applications/{emu.application_id}/commands", accepted)
    assert status == 200, body
    assert len(emu.synced_commands()) == len(accepted) and emu.refusals == []
    duplicate = await call(emu, "PUT", f"/applications/{emu.application_id}/commands", [chat("hi"), chat("hi")])
    assert codes(duplicate[1]["errors"], "1", "name") == ["APPLICATION_COMMANDS_DUPLICATE_NAME"]


async def test_command_counts(discord_emulator) -> None:
    emu = discord_emulator
    path = f"/applications/{emu.application_id}/commands"
    menus = [{"type": 3, "name": f"Menu {n}"} for n in range(15)]
    assert (await call(emu, "PUT", path, [chat(f"c{n}") for n in range(100)] + menus))[0] == 200
    status, body = await call(emu, "PUT", path, [chat(f"c{n}") for n in range(101)])
    assert (status, codes(body["errors"])) == (400, ["APPLICATION_COMMANDS_LIMIT"])
    status, body = await call(emu, "POST", path, {"type": 3, "name": "Menu 15"})
    assert status == 400 and body["errors"]["_errors"][0]["message"] == (
        "Maximum number of MESSAGE commands reached (15)")
    assert (await call(emu, "POST", path, {"type": 2, "name": "User menu"}))[0] == 201


async def test_the_application_object_is_realistic(discord_emulator) -> None:
    emu = discord_emulator
    _, app = await call(emu, "GET", "/oauth2/applications/@me")
    assert app["integration_types_config"] == {"0": {"oauth2_install_params": {
        "scopes": ["applications.commands", "bot"], "permissions": "0"}}}
    assert app["flags"] == (1 << 13) | (1 << 15) | (1 << 19), "presence, members and content intents enabled"
    emu.privileged_intents &= ~(1 << 15)
    assert (await call(emu, "GET", "/applications/@me"))[1]["flags"] == (1 << 13) | (1 << 15)


async def test_the_bot_registers_its_commands_as_discord_accepts_them(tb) -> None:
    put = [r for r in tb.emu.requests if r.method == "PUT" and r.path.endswith("/commands")]
    assert put and all(r.status == 200 for r in put) and tb.emu.refusals == []
    for request in put:
        for command in request.json:
            assert command.get("integration_types") in (None, [0]), command["name"]
    assert (await tb.slash("hi")).content.startswith("Hello, alice!")


# ----------------------------------------------------------------------------- intents

GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT, GUILD_MEMBERS = 1, 1 << 9, 1 << 12, 1 << 15, 1 << 1


async def identify(session: aiohttp.ClientSession, emu: DiscordEmulator, intents: int):
    ws = await session.ws_connect(emu.gateway_url)
    assert (await ws.receive_json())["op"] == 10
    await ws.send_json({"op": 2, "d": {"token": emu.token, "intents": intents, "properties": {}}})
    return ws


async def next_event(ws, name: str) -> dict[str, Any]:
    while True:
        frame = await ws.receive_json(timeout=5)
        if frame.get("t") == name:
            return frame["d"]


async def test_without_message_content_messages_arrive_empty_except_dms_and_mentions(world) -> None:
    emu, _, channel, alice = world
    async with aiohttp.ClientSession() as session:
        ws = await identify(session, emu, GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES)
        await next_event(ws, "READY")
        await emu.send_message(channel, alice, "secret", attachments=[emu.file("a.txt", b"a")])
        plain = await next_event(ws, "MESSAGE_CREATE")
        assert (plain["content"], plain["attachments"], plain["embeds"]) == ("", [], [])
        await emu.send_message(channel, alice, f"<@{emu.bot_user.id}> for you")
        assert (await next_event(ws, "MESSAGE_CREATE"))["content"] == f"<@{emu.bot_user.id}> for you"
        await emu.send_message(emu.create_dm(alice), alice, "private")
        assert (await next_event(ws, "MESSAGE_CREATE"))["content"] == "private"
        await ws.close()
        ws = await identify(session, emu, GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT)
        await next_event(ws, "READY")
        await emu.send_message(channel, alice, "visible")
        assert (await next_event(ws, "MESSAGE_CREATE"))["content"] == "visible"
        await ws.close()


async def test_a_privileged_intent_the_application_has_not_enabled_closes_with_4014(world) -> None:
    emu, *_ = world
    emu.privileged_intents &= ~GUILD_MEMBERS
    async with aiohttp.ClientSession() as session:
        ws = await identify(session, emu, GUILDS | GUILD_MEMBERS)
        closed = await ws.receive(timeout=5)
        assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4014
        assert [(r.rule, r.code) for r in emu.refusals] == [("intent.privileged", 4014)]
        ws = await identify(session, emu, GUILDS | MESSAGE_CONTENT)
        assert (await next_event(ws, "READY"))["application"]["flags"] == (1 << 13) | (1 << 19)
        await ws.close()


async def test_joining_voice_needs_connect_and_speaking_needs_speak(world) -> None:
    emu, guild, _, _ = world
    locked = emu.create_channel(guild, "Locked", kind="voice", overwrites=[
        {"id": emu.bot_user.id, "type": 1, "deny": str(perms.CONNECT)}])
    open_ = emu.create_channel(guild, "Open", kind="voice")
    mute = emu.create_channel(guild, "Mute", kind="voice", overwrites=[
        {"id": emu.bot_user.id, "type": 1, "deny": str(perms.SPEAK)}])
    async with aiohttp.ClientSession() as session:
        ws = await identify(session, emu, GUILDS | (1 << 7))
        await next_event(ws, "READY")
        await ws.send_json({"op": 4, "d": {"guild_id": str(guild.id), "channel_id": str(locked.id),
                                           "self_mute": False, "self_deaf": False}})
        await emu.wait_until(lambda: emu.refusals, what="the refusal")
        assert [(r.rule, r.path) for r in emu.refusals] == [("permission.connect", "VOICE_STATE_UPDATE")]
        assert emu.bot_user.id not in guild.voice_states, "a refused join is answered with nothing"
        await ws.send_json({"op": 4, "d": {"guild_id": str(guild.id), "channel_id": str(open_.id),
                                           "self_mute": False, "self_deaf": False}})
        state = await next_event(ws, "VOICE_STATE_UPDATE")
        assert state["channel_id"] == str(open_.id) and state["suppress"] is False
        await ws.send_json({"op": 4, "d": {"guild_id": str(guild.id), "channel_id": str(mute.id),
                                           "self_mute": False, "self_deaf": False}})
        state = await next_event(ws, "VOICE_STATE_UPDATE")
        assert state["channel_id"] == str(mute.id) and state["suppress"] is True, "joined, but may not speak"
        await ws.close()


async def test_a_guild_built_with_the_bots_permissions(discord_emulator) -> None:
    emu = discord_emulator
    guild = emu.create_guild("Read only", bot_permissions=perms.VIEW_CHANNEL | perms.READ_MESSAGE_HISTORY)
    channel = emu.create_channel(guild, "news")
    status, body = await call(emu, "POST", f"/channels/{channel.id}/messages", {"content": "hi"})
    assert (status, body["code"]) == (403, 50013)
    emu.set_overwrite(channel, emu.bot_user, allow=perms.SEND_MESSAGES)
    assert (await call(emu, "POST", f"/channels/{channel.id}/messages", {"content": "hi"}))[0] == 200



async def test_messages_in_a_channel_the_bot_cannot_see_do_not_reach_it(world) -> None:
    emu, guild, channel, alice = world
    hidden = emu.create_channel(guild, "hidden", overwrites=[
        {"id": emu.bot_user.id, "type": 1, "deny": str(perms.VIEW_CHANNEL)}])
    async with aiohttp.ClientSession() as session:
        ws = await identify(session, emu, GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT)
        await next_event(ws, "READY")
        await emu.send_message(hidden, alice, "unseen")
        await emu.send_message(channel, alice, "seen")
        assert (await next_event(ws, "MESSAGE_CREATE"))["content"] == "seen"
        await ws.close()


async def test_a_put_that_is_not_a_list_of_commands_is_refused(discord_emulator) -> None:
    emu = discord_emulator
    status, body = await call(emu, "PUT", f"/applications/{emu.application_id}/commands", {"name": "hi"})
    assert (status, body["code"], codes(body["errors"])) == (400, 50035, ["BASE_TYPE_ARRAY"])
