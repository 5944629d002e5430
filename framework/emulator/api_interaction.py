"""REST resources of interactions: the one callback per interaction (answer, defer, modal,
autocomplete choices) and the webhook routes for the original response and followups.

A deferred answer ("thinking…") is recorded as a placeholder message; editing ``@original``
turns it into the answer, which the user sees as new, not as an edit.

Rules (https://discord.com/developers/docs/interactions/receiving-and-responding):

- ``interaction.deadline`` — the initial response must come within 3 seconds of the interaction
  being sent, else the interaction is gone: 404, 10062 "Unknown interaction".
- ``interaction.acknowledged`` — one initial response only: 400, 40060.
- ``interaction.unacknowledged`` — the token's webhook exists only once the interaction was
  answered or deferred; before that (and forever when the deadline passed) its routes are
  404, 10015 "Unknown Webhook" (the documentation is silent; the stricter choice).
- ``interaction.update_message`` — UPDATE_MESSAGE (7) and DEFERRED_UPDATE_MESSAGE (6) only answer an
  interaction with a message (a component, or a modal opened from one): else 404, 10008. UPDATE_MESSAGE
  edits that message (content, embeds, components, attachments; ``edited_timestamp``) and sends MESSAGE_UPDATE.
- ``interaction.token_expired`` — the token is valid for 15 minutes: then 401, 50027.
- The first follow-up after a deferral edits the deferred "thinking…" original, and keeps the
  deferral's ephemerality whatever flags it carries ("Create Followup Message").
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from framework.emulator.api_message import announce, apply_content, check_message, new_bot_message
from framework.emulator.state import EPHEMERAL, Interaction, Message
from framework.emulator.wire import DIGITS, Route, empty, not_found, read_body, reply
from framework.emulator.world import World

_WHICH = r"(@original|\d+)"
TOKEN_LIFETIME = 15 * 60
"""Interaction tokens are valid for 15 minutes (Discord's "Receiving and Responding" documentation)."""
RESPONSE_DEADLINE = 3.0
"""Seconds the bot has to send the initial response (the same page)."""


class InteractionApi:
    """``/interactions/{id}/{token}/callback`` and ``/webhooks/{application}/{token}`` and below."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        d = DIGITS
        return [
            ("POST", rf"/interactions/{d}/([^/]+)/callback", self._callback),
            ("POST", rf"/webhooks/{d}/([^/]+)", self._followup),
            ("GET", rf"/webhooks/{d}/([^/]+)/messages/{_WHICH}", self._webhook_get),
            ("PATCH", rf"/webhooks/{d}/([^/]+)/messages/{_WHICH}", self._webhook_edit),
            ("DELETE", rf"/webhooks/{d}/([^/]+)/messages/{_WHICH}", self._webhook_delete),
        ]

    def _interaction_by_token(self, token: str) -> Interaction | None:
        """The interaction whose webhook token this is, while the token is valid (by the emulated clock)
        and the interaction was answered (its webhook exists from then on)."""
        inter = next((i for i in self.world.interactions.values() if i.token == token), None)
        if inter is None or not inter.callbacks:
            return None
        return inter if self.world.now() - inter.created_at <= TOKEN_LIFETIME else None

    def _webhook_message(self, token: str, which: str) -> Message | None:
        inter = self._usable(token)
        if inter is None or not inter.messages:
            return None
        if which == "@original":
            return inter.messages[0]
        return next((m for m in inter.messages if m.id == int(which)), None)

    async def _callback(self, request: web.Request, iid: str, token: str) -> web.Response:
        world = self.world
        inter = world.interactions.get(int(iid))
        rules = world.rules
        if inter is None or inter.token != token:
            return rules.refuse(request, "interaction.unknown", 404, 10062, "Unknown interaction")
        if inter.callbacks and rules.on("interaction.acknowledged"):
            return rules.refuse(request, "interaction.acknowledged", 400, 40060,
                                "Interaction has already been acknowledged.")
        if world.now() - inter.created_at > RESPONSE_DEADLINE and rules.on("interaction.deadline"):
            return rules.refuse(request, "interaction.deadline", 404, 10062, "Unknown interaction")
        body, files = await read_body(request)
        kind, data = body.get("type"), body.get("data") or {}
        # docs: interactions/receiving-and-responding#interaction-response-object-interaction-callback-type:
        # DEFERRED_UPDATE_MESSAGE (6) and UPDATE_MESSAGE (7) are "only valid for component-based interactions";
        # without a message to update Discord answers 404 Unknown Message (discord-api-docs#7774)
        if kind in (6, 7) and inter.message is None and rules.on("interaction.update_message"):
            return rules.refuse(request, "interaction.update_message", 404, 10008, "Unknown Message")
        # docs: interactions/receiving-and-responding#interaction-callback-data-structure: a message
        # callback's data has the limits of a message (limits.py)
        if kind in (4, 7) and (refused := check_message(world, request, inter.channel, data, files, edit=kind == 7)):
            return refused
        inter.callbacks.append(body)
        message = None
        if kind in (4, 5):
            message = new_bot_message(world, inter.channel.id, data, files, interaction=inter, placeholder=kind == 5)
        elif kind == 7 and inter.message is not None:  # "edit the message the component was attached to"
            message = inter.message
            apply_content(world, message, data, files, edit=True)
            announce(world, "MESSAGE_UPDATE", message)
        if request.query.get("with_response", "").lower() != "true":
            return empty()
        callback: dict[str, Any] = {"id": str(inter.id), "type": inter.kind}
        resource: dict[str, Any] = {"type": kind}
        if message is not None and kind != 7:
            callback.update(response_message_id=str(message.id), response_message_loading=kind == 5,
                            response_message_ephemeral=message.ephemeral)
        if message is not None:
            resource["message"] = world.message_payload(message)
        return reply({"interaction": callback, "resource": resource})

    def _refused(self, request: web.Request, token: str, what: str) -> web.Response:
        """An expired token is refused as Discord does (401, 50027); the webhook of an interaction not
        answered yet does not exist (10015); an unknown message is 10008."""
        rules = self.world.rules
        inter = next((i for i in self.world.interactions.values() if i.token == token), None)
        if inter is None:
            return not_found("Webhook")
        if not inter.callbacks:
            return rules.refuse(request, "interaction.unacknowledged", 404, 10015, "Unknown Webhook")
        if self.world.now() - inter.created_at > TOKEN_LIFETIME:
            return rules.refuse(request, "interaction.token_expired", 401, 50027, "Invalid Webhook Token")
        return reply({"message": f"Unknown {what}", "code": 10008 if what == "Message" else 10015}, status=404)

    def _usable(self, token: str) -> Interaction | None:
        """The interaction, or — where a test relaxed the rule that refuses it — the interaction anyway."""
        inter = self._interaction_by_token(token)
        if inter is not None:
            return inter
        inter = next((i for i in self.world.interactions.values() if i.token == token), None)
        if inter is None:
            return None
        rules = self.world.rules
        if not inter.callbacks:
            return None if rules.on("interaction.unacknowledged") else inter
        return None if rules.on("interaction.token_expired") else inter

    async def _followup(self, request: web.Request, app_id: str, token: str) -> web.Response:
        inter = self._usable(token)
        if inter is None:
            return self._refused(request, token, "Webhook")
        body, files = await read_body(request)
        if refused := check_message(self.world, request, inter.channel, body, files):
            return refused
        original = inter.messages[0] if inter.messages else None
        if original is not None and original.placeholder and not original.deleted:
            # The first follow-up after a deferral edits the "thinking…" original; the deferral's
            # ephemerality stands whatever flags the follow-up asks for.
            flags = original.flags
            original.placeholder = False
            apply_content(self.world, original, body, files, edit=False)
            original.flags = (original.flags & ~EPHEMERAL) | (flags & EPHEMERAL)
            original.timestamp = time.time()
            announce(self.world, "MESSAGE_UPDATE", original)
            return reply(self.world.message_payload(original))
        message = new_bot_message(self.world, inter.channel.id, body, files, interaction=inter)
        return reply(self.world.message_payload(message))

    async def _webhook_get(self, request: web.Request, app_id: str, token: str, which: str) -> web.Response:
        message = self._webhook_message(token, which)
        return reply(self.world.message_payload(message)) if message else self._refused(request, token, "Message")

    async def _webhook_edit(self, request: web.Request, app_id: str, token: str, which: str) -> web.Response:
        message = self._webhook_message(token, which)
        if message is None:
            return self._refused(request, token, "Message")
        body, files = await read_body(request)
        if refused := check_message(self.world, request, self.world.channels[message.channel_id], body, files,
                                    edit=True):
            return refused
        if message.placeholder:
            message.placeholder = False  # the deferred answer arrives: not an edit to the user's eyes
            apply_content(self.world, message, body, files, edit=False)
            message.timestamp = time.time()
        else:
            apply_content(self.world, message, body, files, edit=True)
        announce(self.world, "MESSAGE_UPDATE", message)
        return reply(self.world.message_payload(message))

    async def _webhook_delete(self, request: web.Request, app_id: str, token: str, which: str) -> web.Response:
        message = self._webhook_message(token, which)
        if message is None:
            return self._refused(request, token, "Message")
        message.deleted = True
        announce(self.world, "MESSAGE_DELETE", message)
        return empty()
