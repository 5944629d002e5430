"""The emulated REST API v10: the route table (one resource class per part of Discord's API,
in ``api_*.py``), the middleware that injects faults (429 with rate-limit headers, 5xx), applies
Discord's rate limits (``ratelimits.py``) and records every request, and the attachment files the emulator serves.

A route nobody emulates answers 404 and is listed in ``unhandled_requests``, so a test sees
which call of the bot the emulator does not know yet. A rule every request must obey belongs
in ``middleware``; a rule of one endpoint belongs in its resource's handler.
"""

from __future__ import annotations

import inspect
import logging
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from framework.emulator.api_application import ApplicationApi
from framework.emulator.api_guild import GuildApi
from framework.emulator.api_interaction import InteractionApi
from framework.emulator.api_message import ChannelApi
from framework.emulator.ratelimits import RateLimiter
from framework.emulator.state import RecordedRequest
from framework.emulator.wire import JSON_KEY, Route, reply
from framework.emulator.world import World

log = logging.getLogger(__name__)

PREFIX = "/api/v10"


class RestApi:
    """The HTTP side of the emulator, mounted under ``/api/v10`` and ``/attachments``."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.routes: list[Route] = [*ApplicationApi(world).routes(), *ChannelApi(world).routes(),
                                    *GuildApi(world).routes(), *InteractionApi(world).routes()]
        self.limiter = RateLimiter(world.rules, world.application_id)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Faults first (a matching fault answers instead of the route), then the rate limits
        (``ratelimits.py``: a 429, or the bucket's headers on the route's answer), then record the request."""
        if not request.path.startswith("/api/"):
            return await handler(request)
        world = self.world
        path = request.path[len(PREFIX):]
        world.rest_connections.add(request.transport.get_extra_info("peername") if request.transport else None)
        for fault in world.faults:
            if fault.count > 0 and fault.method in ("*", request.method) and fault.pattern.search(path):
                fault.count -= 1
                world.requests.append(RecordedRequest(request.method, path, None, fault.status, time.monotonic()))
                await world._notify()
                if fault.status == 429:
                    return reply(
                        {"message": "You are being rate limited.", "retry_after": fault.retry_after, "global": False},
                        status=429, headers={"Retry-After": str(fault.retry_after), "X-RateLimit-Scope": "shared",
                                             "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                                             "X-RateLimit-Reset-After": str(fault.retry_after),
                                             "X-RateLimit-Bucket": "emulated"})
                return reply({"message": "emulated server error", "code": 0}, status=fault.status)
        verdict = self.limiter.check(request.method, path, world.now())
        if verdict.refusal is not None:
            world.requests.append(RecordedRequest(request.method, path, None, 429, time.monotonic()))
            await world._notify()
            return verdict.refusal
        response = await handler(request)
        response.headers.update(verdict.headers)
        world.requests.append(RecordedRequest(request.method, path, request.get(JSON_KEY),
                                              response.status, time.monotonic()))
        await world._notify()
        return response

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Find the route for the method and path; unknown ones answer 404 and are listed."""
        path = "/" + request.match_info["tail"]
        method = request.method
        for route_method, pattern, handler in self.routes:
            if route_method == method and (m := re.fullmatch(pattern, path)):
                result = handler(request, *m.groups())
                response: web.StreamResponse = await result if inspect.isawaitable(result) else result
                return response
        self.world.unhandled_requests.append(f"{method} {path}")
        log.warning("emulator: unhandled %s %s", method, path)
        return reply({"message": "404: Not Found (not emulated)", "code": 0}, status=404)

    async def serve_attachment(self, request: web.Request) -> web.Response:
        att = self.world.attachments.get(int(request.match_info["id"]))
        if att is None:
            raise web.HTTPNotFound()
        return web.Response(body=att.data, content_type=att.content_type or "application/octet-stream")
