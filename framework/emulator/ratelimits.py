"""Discord's REST rate limits, emulated: per-route buckets counted per top-level resource (the
"major parameter": channel, guild, webhook id + token), a per-channel message-create bucket and
the global limit of 50 requests a second, answered with Discord's headers.

Rules (https://discord.com/developers/docs/topics/rate-limits):

- ``ratelimit.route.<bucket>`` — every rate-limited route belongs to a bucket; its answers carry
  ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` (epoch seconds), ``-Reset-After`` and
  ``-Bucket`` (an id that does not include the major parameter). A request over the bucket's limit
  gets 429 with ``X-RateLimit-Scope: user``, ``Retry-After`` and the JSON body
  ``{message, retry_after, global}``. Discord does not publish the limits ("parse the headers,
  don't hard-code them"); the ones below are what bots observe in practice: 5 messages per 5 s per
  channel, 5 edits per 5 s per channel, 5 webhook executions per 2 s per webhook.
- ``ratelimit.global`` — at most 50 requests a second for the whole bot; a request over it gets 429
  with ``X-RateLimit-Global: true`` and ``X-RateLimit-Scope: global``. Interaction endpoints
  (the callback, and the webhook routes of an interaction's token) are not bound by it.

The interaction callback carries no bucket headers at all: it has no route limit on Discord, and
hikari (which marks it ``has_ratelimits=False``) would log an error on an unexpected bucket header.

Buckets are fixed windows measured on the emulator's clock (``world.now()``, which a test can
advance), starting at a bucket's first request. ``X-RateLimit-Reset`` is given on the real wall
clock, which is the one the bot compares it with. Every 429 the limiter sends is counted in
``world.rules.rate_limited`` (injected faults are not).
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass

from aiohttp import web

from framework.emulator.rules import Rules
from framework.emulator.wire import reply

GLOBAL_LIMIT = 50
GLOBAL_PERIOD = 1.0


@dataclass(frozen=True)
class BucketKind:
    """A bucket's limits: ``limit`` requests per ``period`` seconds for each major parameter."""

    name: str
    limit: int
    period: float


MESSAGE_CREATE = BucketKind("message_create", 5, 5.0)
DEFAULT = BucketKind("default", 20, 1.0)
_TABLE: list[tuple[str, re.Pattern[str], BucketKind]] = [
    ("POST", re.compile(r"/channels/\d+/messages"), MESSAGE_CREATE),
    ("PATCH", re.compile(r"/channels/\d+/messages/\d+"), BucketKind("message_edit", 5, 5.0)),
    ("DELETE", re.compile(r"/channels/\d+/messages/\d+"), BucketKind("message_delete", 5, 1.0)),
    ("PUT", re.compile(r"/channels/\d+/messages/\d+/reactions/[^/]+/@me"), BucketKind("reaction", 1, 0.25)),
    ("POST", re.compile(r"/webhooks/\d+/[^/]+"), BucketKind("webhook_execute", 5, 2.0)),
    ("*", re.compile(r"/webhooks/\d+/[^/]+/messages/[^/]+"), BucketKind("webhook_message", 5, 1.0)),
]
_MAJOR = re.compile(r"^/(channels|guilds)/(\d+)|^/webhooks/(\d+)/([^/]+)")
_CALLBACK = re.compile(r"/interactions/\d+/[^/]+/callback")
_INTERACTION_WEBHOOK = re.compile(r"/webhooks/(\d+)/")


@dataclass
class Window:
    """One bucket's current window for one major parameter."""

    ends: float
    used: int = 0


@dataclass
class Verdict:
    """What the limiter says of one request: the headers to add, or the 429 to answer instead."""

    headers: dict[str, str]
    refusal: web.Response | None = None


def route_template(method: str, path: str) -> str:
    """``PATCH /channels/{id}/messages/{id}``: the route without its ids and tokens."""
    path = re.sub(r"^/webhooks/\d+/[^/]+", "/webhooks/{id}/{token}", path)
    return f"{method} " + re.sub(r"/\d+(?=/|$)", "/{id}", path)


class RateLimiter:
    """The buckets of one emulated application (one bot token)."""

    def __init__(self, rules: Rules, application_id: int) -> None:
        self.rules = rules
        self.application_id = application_id
        self.windows: dict[tuple[str, str], Window] = {}
        self.global_window = Window(0.0)
        self.global_limit, self.global_period = GLOBAL_LIMIT, GLOBAL_PERIOD
        """Discord's 50 a second; a test may lower it to see a bot meet the global limit without 50 requests."""

    def _kind(self, method: str, path: str) -> BucketKind:
        for kind_method, pattern, kind in _TABLE:
            if kind_method in ("*", method) and pattern.fullmatch(path):
                return kind
        return DEFAULT

    def _interaction_endpoint(self, path: str) -> bool:
        """The interaction callback and the webhook routes of an interaction's token (the application's id)."""
        m = _INTERACTION_WEBHOOK.match(path)
        return bool(_CALLBACK.fullmatch(path)) or (m is not None and int(m.group(1)) == self.application_id)

    def check(self, method: str, path: str, now: float) -> Verdict:
        """Count the request in its buckets; a 429 answer when one is exhausted."""
        if _CALLBACK.fullmatch(path):
            return Verdict({})
        if not self._interaction_endpoint(path) and self.rules.on("ratelimit.global"):
            window = self.global_window
            if now >= window.ends:
                window.ends, window.used = now + self.global_period, 0
            if window.used >= self.global_limit:
                return Verdict({}, self._too_many(window.ends - now, {
                    "X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"}, is_global=True))
            window.used += 1
        kind = self._kind(method, path)
        if not self.rules.on(f"ratelimit.route.{kind.name}"):
            return Verdict({})
        template = route_template(method, path)
        major = _MAJOR.match(path)
        key = (template, major.group(0) if major else "")
        window = self.windows.get(key) or Window(0.0)
        self.windows[key] = window
        if now >= window.ends:
            window.ends, window.used = now + kind.period, 0
        reset_after = window.ends - now
        headers = {
            "X-RateLimit-Limit": str(kind.limit),
            "X-RateLimit-Remaining": str(max(0, kind.limit - window.used - 1)),
            # The wall clock the bot reads, rounded up so a bot waiting for it never comes too early.
            "X-RateLimit-Reset": f"{math.ceil((time.time() + reset_after) * 1000) / 1000:.3f}",
            "X-RateLimit-Reset-After": f"{math.ceil(reset_after * 1000) / 1000:.3f}",
            "X-RateLimit-Bucket": hashlib.sha1(template.encode()).hexdigest()[:16],
        }
        if window.used >= kind.limit:
            headers["X-RateLimit-Remaining"] = "0"
            return Verdict(headers, self._too_many(reset_after, {**headers, "X-RateLimit-Scope": "user"},
                                                   is_global=False))
        window.used += 1
        return Verdict(headers)

    def _too_many(self, retry_after: float, headers: dict[str, str], *, is_global: bool) -> web.Response:
        self.rules.rate_limited += 1
        retry_after = math.ceil(retry_after * 1000) / 1000
        return reply({"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global},
                     status=429, headers={**headers, "Retry-After": str(math.ceil(retry_after))})
