"""REST resources of a channel: the channel, its messages (create, list, get, edit, delete),
typing and the bot's reactions; and how a message the bot writes is recorded, which the
interaction responses (``api_interaction.py``) share.

Rules on interaction responses reached through channel endpoints
(https://discord.com/developers/docs/interactions/receiving-and-responding):

- ``interaction.ephemeral_via_channel`` — an ephemeral message exists only for its interaction's
  token: fetching, editing or deleting it through ``/channels/{id}/messages/{id}`` is 404, 10008
  "Unknown Message".
- ``interaction.channel_edit_outside_guild`` — Discord promises nothing about editing or deleting
  an interaction's response through the channel endpoint outside a guild where the bot is present
  (DMs, user-installed contexts); the emulator refuses it, 403, 50001 "Missing Access" (stricter).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from framework.emulator import permissions_calc as perms
from framework.emulator.limits import apply_mentions, check_message_body
from framework.emulator.state import Channel, FileSpec, Guild, Interaction, Message
from framework.emulator.wire import DIGITS, JSON_KEY, Route, empty, not_found, read_body, reply
from framework.emulator.world import World


def apply_content(world: World, message: Message, body: dict[str, Any], files: list[FileSpec], *, edit: bool) -> None:
    """Write a create or edit body into ``message``; an edit keeps the earlier version in ``edits``
    and the attachments the body lists by id."""
    if edit:
        message.edits.append({"content": message.content, "attachments": list(message.attachments),
                              "embeds": list(message.embeds)})
        message.edited_at = time.time()
    if "content" in body:
        message.content = body["content"] or ""
    if "content" in body or not edit:
        replied = world.messages.get(message.reference) if message.reference else None
        apply_mentions(message, body, replied.author.id if replied is not None else None)
    if "embeds" in body:
        message.embeds = body["embeds"] or []
    if "components" in body:
        message.components = body["components"] or []
    if "flags" in body and body["flags"] is not None and not edit:
        message.flags = int(body["flags"])
    if "attachments" in body or files:
        kept_ids = {str(a.get("id")) for a in body.get("attachments") or []}
        kept = [a for a in message.attachments if str(a.id) in kept_ids] if edit else []
        message.attachments = kept + [world._store_attachment(f) for f in files]


def announce(world: World, event: str, message: Message) -> None:
    """Tell the bot's gateway about its own message, as Discord does: a bot receives MESSAGE_CREATE,
    MESSAGE_UPDATE and MESSAGE_DELETE for what it posts, edits and deletes too (docs:
    events/gateway-events#message-create, "sent when a message is created"; no exception for the
    author), so every bot spends the time to skip its own messages. Ephemeral messages live only in
    their interaction: no event. ``emu.relax("gateway.own_messages")`` stops these events."""
    if message.ephemeral or not world.rules.on("gateway.own_messages"):
        return
    if event == "MESSAGE_DELETE":
        payload: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
    else:
        payload = world.message_payload(message)
    world.dispatch(event, payload)


def new_bot_message(world: World, channel_id: int, body: dict[str, Any], files: list[FileSpec], *,
                    interaction: Interaction | None = None, placeholder: bool = False) -> Message:
    """Record a message the bot sends (to a channel, or as an interaction's response or followup)."""
    channel = world.channels[channel_id]
    ref = body.get("message_reference") or {}
    message = Message(world._snowflake(), channel_id, channel.guild_id, world.bot_user, "",
                      reference=int(ref["message_id"]) if ref.get("message_id") else None,
                      interaction_id=interaction.id if interaction else None, placeholder=placeholder)
    apply_content(world, message, body, files, edit=False)
    world.messages[message.id] = message
    if interaction is not None:
        interaction.messages.append(message)
    announce(world, "MESSAGE_CREATE", message)
    return message


def check_message(world: World, request: web.Request | None, channel: Channel, body: dict[str, Any],
                  files: list[FileSpec], *, edit: bool = False) -> web.Response | None:
    """The refusal Discord would answer a message body for ``channel`` with (``limits.py``), or None."""
    return check_message_body(world.rules, request, body, files, world._guild_of(channel), edit=edit)


class ChannelApi:
    """``/channels/{id}`` and below."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        d = DIGITS
        return [
            ("GET", f"/channels/{d}", self._get_channel),
            ("POST", f"/channels/{d}/messages", self._create_message),
            ("GET", f"/channels/{d}/messages", self._list_messages),
            ("GET", f"/channels/{d}/messages/{d}", self._get_message),
            ("PATCH", f"/channels/{d}/messages/{d}", self._edit_message),
            ("DELETE", f"/channels/{d}/messages/{d}", self._delete_message),
            ("POST", f"/channels/{d}/typing", self._typing),
            ("PUT", rf"/channels/{d}/messages/{d}/reactions/([^/]+)/@me", self._add_bot_reaction),
        ]

    def _refused(self, request: web.Request, channel: Channel, needed: int) -> web.Response | None:
        """403 where the bot lacks ``needed`` in ``channel`` (``permissions_calc.py``)."""
        return perms.check(self.world.rules, request, self._guild(channel), self.world.bot_user.id, channel, needed)

    def _guild(self, channel: Channel) -> Guild | None:
        return self.world._guild_of(channel)

    def _message(self, cid: str, mid: str) -> Message | None:
        message = self.world.messages.get(int(mid))
        return message if message and message.channel_id == int(cid) and not message.deleted else None

    async def _get_channel(self, request: web.Request, cid: str) -> web.Response:
        channel = self.world.channels.get(int(cid))
        return reply(channel.payload()) if channel else not_found("Channel")

    async def _create_message(self, request: web.Request, cid: str) -> web.Response:
        channel = self.world.channels.get(int(cid))
        if channel is None:
            return not_found("Channel")
        body, files = await read_body(request)
        request[JSON_KEY] = body
        # docs: resources/message#create-message: "requires SEND_MESSAGES; if sending a reply
        # (message_reference), requires READ_MESSAGE_HISTORY"; files need ATTACH_FILES, embeds EMBED_LINKS
        needed = perms.VIEW_CHANNEL | perms.SEND_MESSAGES
        needed |= perms.READ_MESSAGE_HISTORY if body.get("message_reference") else 0
        needed |= perms.ATTACH_FILES if files else 0
        needed |= perms.EMBED_LINKS if body.get("embeds") else 0
        if refused := self._refused(request, channel, needed) or check_message(self.world, request, channel,
                                                                               body, files):
            return refused
        message = new_bot_message(self.world, int(cid), body, files)
        return reply(self.world.message_payload(message))

    async def _typing(self, request: web.Request, cid: str) -> web.Response:
        channel = self.world.channels.get(int(cid))
        if channel is None:
            return not_found("Channel")
        # docs: resources/channel#trigger-typing-indicator: silent on permissions; stricter: the bot
        # must be able to send messages where it shows that it is typing
        return self._refused(request, channel, perms.VIEW_CHANNEL | perms.SEND_MESSAGES) or empty()

    async def _list_messages(self, request: web.Request, cid: str) -> web.Response:
        channel = self.world.channels.get(int(cid))
        if channel is None:
            return not_found("Channel")
        if refused := self._refused(request, channel, perms.VIEW_CHANNEL):
            return refused
        # docs: resources/message#get-channel-messages: "if the current user is missing the
        # READ_MESSAGE_HISTORY permission in the channel, then no messages will be returned"
        guild = self._guild(channel)
        if guild is not None and self.world.rules.on("permission.read_message_history") and not (
                perms.channel_permissions(guild, self.world.bot_user.id, channel) & perms.READ_MESSAGE_HISTORY):
            return reply([])
        limit = int(request.query.get("limit", 50))
        found = [m for m in self.world.messages.values()
                 if m.channel_id == int(cid) and not m.deleted and not m.ephemeral]
        return reply([self.world.message_payload(m) for m in reversed(found)][:limit])

    def _interaction_refusal(self, request: web.Request, message: Message, *, change: bool) -> web.Response | None:
        """The refusal of a channel-endpoint request on an interaction's response, if a rule refuses it."""
        rules = self.world.rules
        if message.ephemeral and rules.on("interaction.ephemeral_via_channel"):
            return rules.refuse(request, "interaction.ephemeral_via_channel", 404, 10008, "Unknown Message")
        if (change and message.interaction_id is not None and message.guild_id is None
                and rules.on("interaction.channel_edit_outside_guild")):
            return rules.refuse(request, "interaction.channel_edit_outside_guild", 403, 50001, "Missing Access")
        return None

    async def _get_message(self, request: web.Request, cid: str, mid: str) -> web.Response:
        message = self._message(cid, mid)
        if message is None:
            return not_found("Message")
        # docs: resources/message#get-channel-message: "requires READ_MESSAGE_HISTORY" (and VIEW_CHANNEL)
        if refused := self._interaction_refusal(request, message, change=False) or self._refused(
                request, self.world.channels[message.channel_id], perms.VIEW_CHANNEL | perms.READ_MESSAGE_HISTORY):
            return refused
        return reply(self.world.message_payload(message))

    async def _edit_message(self, request: web.Request, cid: str, mid: str) -> web.Response:
        message = self._message(cid, mid)
        if message is None or not message.from_bot:
            return not_found("Message")
        if (refusal := self._interaction_refusal(request, message, change=True)) is not None:
            return refusal
        body, files = await read_body(request)
        channel = self.world.channels[message.channel_id]
        # docs: resources/message#edit-message: the author may edit their message; silent on permissions:
        # stricter, the bot must see the channel, and new files and embeds need what they need on create
        needed = perms.VIEW_CHANNEL | (perms.ATTACH_FILES if files else 0)
        needed |= perms.EMBED_LINKS if body.get("embeds") else 0
        if refused := self._refused(request, channel, needed) or check_message(self.world, request, channel, body,
                                                                               files, edit=True):
            return refused
        apply_content(self.world, message, body, files, edit=True)
        announce(self.world, "MESSAGE_UPDATE", message)
        return reply(self.world.message_payload(message))

    async def _delete_message(self, request: web.Request, cid: str, mid: str) -> web.Response:
        message = self._message(cid, mid)
        if message is None:
            return not_found("Message")
        if (refusal := self._interaction_refusal(request, message, change=True)) is not None:
            return refusal
        # docs: resources/message#delete-message: "if operating on a guild channel and trying to delete a
        # message that was not sent by the current user, this endpoint requires MANAGE_MESSAGES"
        needed = perms.VIEW_CHANNEL | (0 if message.author.id == self.world.bot_user.id else perms.MANAGE_MESSAGES)
        if refused := self._refused(request, self.world.channels[message.channel_id], needed):
            return refused
        message.deleted = True
        announce(self.world, "MESSAGE_DELETE", message)
        return empty()

    async def _add_bot_reaction(self, request: web.Request, cid: str, mid: str, emoji: str) -> web.Response:
        message = self._message(cid, mid)
        if message is None:
            return not_found("Message")
        # docs: resources/message#create-reaction: "requires READ_MESSAGE_HISTORY; additionally, if
        # nobody else has reacted to the message using this emoji, requires ADD_REACTIONS"
        first = not any(e == emoji for _, e in message.reactions)
        needed = perms.VIEW_CHANNEL | perms.READ_MESSAGE_HISTORY | (perms.ADD_REACTIONS if first else 0)
        if refused := self._refused(request, self.world.channels[message.channel_id], needed):
            return refused
        message.reactions.append((self.world.bot_user.id, emoji))
        return empty()
