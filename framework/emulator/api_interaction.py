"""REST resources of interactions: the one callback per interaction (answer, defer, modal,
autocomplete choices) and the webhook routes for the original response and followups.

A deferred answer ("thinking…") is recorded as a placeholder message; editing ``@original``
turns it into the answer, which the user sees as new, not as an edit.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from framework.emulator.api_message import apply_content, check_message, new_bot_message
from framework.emulator.state import DISCORD_EPOCH_MS, Interaction, Message
from framework.emulator.wire import DIGITS, Route, empty, not_found, read_body, reply
from framework.emulator.world import World

_WHICH = r"(@original|\d+)"
TOKEN_LIFETIME = 15 * 60
"""Interaction tokens are valid for 15 minutes (Discord's "Receiving and Responding" documentation)."""


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
        """The interaction whose webhook token this is, while the token is valid (by the emulated clock)."""
        inter = next((i for i in self.world.interactions.values() if i.token == token), None)
        created = ((inter.id >> 22) + DISCORD_EPOCH_MS) / 1000 if inter else 0.0
        return inter if inter is not None and self.world.now() - created <= TOKEN_LIFETIME else None

    def _webhook_message(self, token: str, which: str) -> Message | None:
        inter = self._interaction_by_token(token)
        if inter is None or not inter.messages:
            return None
        if which == "@original":
            return inter.messages[0]
        return next((m for m in inter.messages if m.id == int(which)), None)

    async def _callback(self, request: web.Request, iid: str, token: str) -> web.Response:
        world = self.world
        inter = world.interactions.get(int(iid))
        if inter is None or inter.token != token:
            return not_found("Interaction")
        if inter.callbacks:
            return reply({"message": "Interaction has already been acknowledged.", "code": 40060}, status=400)
        body, files = await read_body(request)
        kind, data = body.get("type"), body.get("data") or {}
        # docs: interactions/receiving-and-responding#interaction-callback-data-structure: a message
        # callback's data has the limits of a message (limits.py)
        if kind in (4, 7) and (refused := check_message(world, request, inter.channel, data, files, edit=kind == 7)):
            return refused
        inter.callbacks.append(body)
        message = None
        if kind in (4, 5):
            message = new_bot_message(world, inter.channel.id, data, files, interaction=inter, placeholder=kind == 5)
        if request.query.get("with_response", "").lower() != "true":
            return empty()
        callback: dict[str, Any] = {"id": str(inter.id), "type": inter.kind}
        resource: dict[str, Any] = {"type": kind}
        if message is not None:
            callback.update(response_message_id=str(message.id), response_message_loading=kind == 5,
                            response_message_ephemeral=message.ephemeral)
            resource["message"] = world.message_payload(message)
        return reply({"interaction": callback, "resource": resource})

    def _refused(self, token: str, what: str) -> web.Response:
        """An expired token is refused as Discord does (401, 50027); an unknown one is not found."""
        known = any(i.token == token for i in self.world.interactions.values())
        if known and self._interaction_by_token(token) is None:
            return web.json_response({"message": "Invalid Webhook Token", "code": 50027}, status=401)
        return not_found(what)

    async def _followup(self, request: web.Request, app_id: str, token: str) -> web.Response:
        inter = self._interaction_by_token(token)
        if inter is None:
            return self._refused(token, "Webhook")
        body, files = await read_body(request)
        if refused := check_message(self.world, request, inter.channel, body, files):
            return refused
        message = new_bot_message(self.world, inter.channel.id, body, files, interaction=inter)
        return reply(self.world.message_payload(message))

    async def _webhook_get(self, request: web.Request, app_id: str, token: str, which: str) -> web.Response:
        message = self._webhook_message(token, which)
        return reply(self.world.message_payload(message)) if message else self._refused(token, "Message")

    async def _webhook_edit(self, request: web.Request, app_id: str, token: str, which: str) -> web.Response:
        message = self._webhook_message(token, which)
        if message is None:
            return self._refused(token, "Message")
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
        return reply(self.world.message_payload(message))

    async def _webhook_delete(self, request: web.Request, app_id: str, token: str, which: str) -> web.Response:
        message = self._webhook_message(token, which)
        if message is None:
            return self._refused(token, "Message")
        message.deleted = True
        return empty()
