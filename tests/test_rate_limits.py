"""Discord's rate limits in the emulator (https://discord.com/developers/docs/topics/rate-limits):
per-route buckets per top-level resource with Discord's headers on every answer, the per-channel
message bucket, the global limit that interaction endpoints are not bound by, the 429 answer, the
count of 429s the emulator sent; and the real bot under a burst, which honours the headers and so
is never answered 429."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from framework.emulator import DiscordEmulator

pytestmark = pytest.mark.backends("sqlite")  # Discord's rate limits do not depend on the database

ROUTE_HEADERS = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Reset-After",
                 "X-RateLimit-Bucket"}


class Rest:
    def __init__(self, emu: DiscordEmulator, http: aiohttp.ClientSession) -> None:
        self.emu, self.http = emu, http

    async def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any, dict[str, str]]:
        async with self.http.request(method, self.emu.rest_url + path, json=body) as response:
            data = await response.json() if response.status != 204 else None
            return response.status, data, dict(response.headers)


@pytest.fixture
async def rest(discord_emulator: DiscordEmulator) -> AsyncIterator[Rest]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {discord_emulator.token}"}) as http:
        yield Rest(discord_emulator, http)


async def test_five_messages_per_channel_then_429_with_discords_headers_and_body(rest: Rest) -> None:
    emu = rest.emu
    guild = emu.create_guild("g")
    first, second = emu.create_channel(guild, "one"), emu.create_channel(guild, "two")
    answers = [await rest("POST", f"/channels/{first.id}/messages", {"content": f"m{n}"}) for n in range(6)]
    assert [status for status, _, _ in answers] == [200] * 5 + [429]
    assert all(ROUTE_HEADERS <= headers.keys() for _, _, headers in answers)
    assert [h["X-RateLimit-Remaining"] for _, _, h in answers] == ["4", "3", "2", "1", "0", "0"]
    assert {h["X-RateLimit-Limit"] for _, _, h in answers} == {"5"}
    assert len({h["X-RateLimit-Bucket"] for _, _, h in answers}) == 1
    assert 0 < float(answers[0][2]["X-RateLimit-Reset-After"]) <= 5
    status, body, headers = answers[-1]
    assert body["message"] == "You are being rate limited." and body["global"] is False
    assert 0 < body["retry_after"] <= 5 and int(headers["Retry-After"]) >= body["retry_after"]
    assert headers["X-RateLimit-Scope"] == "user"
    assert emu.rate_limited_requests == 1 and emu.refusals == []
    assert [m.content for m in emu.sent_messages(first)] == ["m0", "m1", "m2", "m3", "m4"]

    # Another channel is another bucket (channel_id is a major parameter), with the same bucket id.
    status, _, headers = await rest("POST", f"/channels/{second.id}/messages", {"content": "other"})
    assert (status, headers["X-RateLimit-Remaining"]) == (200, "4")
    assert headers["X-RateLimit-Bucket"] == answers[0][2]["X-RateLimit-Bucket"]
    # Once the window has passed (on the emulator's clock), the channel takes messages again.
    emu.advance_clock(5)
    status, _, headers = await rest("POST", f"/channels/{first.id}/messages", {"content": "later"})
    assert (status, headers["X-RateLimit-Remaining"]) == (200, "4")
    assert emu.rate_limited_requests == 1


async def test_routes_have_buckets_of_their_own(rest: Rest) -> None:
    emu = rest.emu
    channel = emu.create_channel(emu.create_guild("g"), "c")
    _, message, create = await rest("POST", f"/channels/{channel.id}/messages", {"content": "x"})
    _, _, edit = await rest("PATCH", f"/channels/{channel.id}/messages/{message['id']}", {"content": "y"})
    _, _, me = await rest("GET", "/users/@me")
    assert len({h["X-RateLimit-Bucket"] for h in (create, edit, me)}) == 3
    assert ROUTE_HEADERS <= me.keys()


async def test_fifty_requests_a_second_then_the_global_429_but_not_for_interactions(rest: Rest) -> None:
    emu = rest.emu
    guild = emu.create_guild("g")
    user = emu.create_user("alice")
    emu.add_member(guild, user)
    channels = [emu.create_channel(guild, f"c{n}") for n in range(51)]
    await rest("PUT", f"/applications/{emu.application_id}/commands", [{"name": "ping", "description": "P"}])
    emu.advance_clock(1)  # a fresh global window
    answers = [await rest("GET", f"/channels/{c.id}") for c in channels]
    assert [status for status, _, _ in answers] == [200] * 50 + [429]
    status, body, headers = answers[-1]
    assert body["global"] is True and 0 < body["retry_after"] <= 1
    assert headers["X-RateLimit-Global"] == "true" and headers["X-RateLimit-Scope"] == "global"
    assert "Retry-After" in headers and "X-RateLimit-Bucket" not in headers
    # Interaction endpoints are not bound by the global limit; the callback carries no bucket at all.
    inter = await emu.invoke_slash(channels[0], user, "ping")
    status, _, headers = await rest("POST", f"/interactions/{inter.id}/{inter.token}/callback", {"type": 5})
    assert status == 204 and "X-RateLimit-Bucket" not in headers
    status, _, headers = await rest("PATCH", f"/webhooks/{emu.application_id}/{inter.token}/messages/@original",
                                    {"content": "done"})
    assert status == 200 and ROUTE_HEADERS <= headers.keys()
    assert emu.rate_limited_requests == 1


async def test_relaxed_rate_limits_send_no_headers_and_no_429(rest: Rest) -> None:
    emu = rest.emu
    emu.relax("ratelimit")
    channel = emu.create_channel(emu.create_guild("g"), "c")
    answers = [await rest("POST", f"/channels/{channel.id}/messages", {"content": "x"}) for _ in range(8)]
    assert [status for status, _, _ in answers] == [200] * 8
    assert not any("X-RateLimit-Bucket" in headers for _, _, headers in answers)
    assert emu.rate_limited_requests == 0


async def test_an_injected_429_is_not_counted_as_the_limiters(rest: Rest) -> None:
    emu = rest.emu
    emu.inject_rest_fault(method="GET", path_pattern="/users/@me$", status=429, count=1)
    assert [(await rest("GET", "/users/@me"))[0] for _ in range(2)] == [429, 200]
    assert emu.rate_limited_requests == 0


async def test_the_bot_answers_a_burst_in_one_channel_without_a_429(tb) -> None:
    """Eight `!hi` at once: more answers than the channel's bucket takes in a window. hikari reads
    the headers and waits for the bucket, so every answer arrives and the emulator sent no 429."""
    emu = tb.emu
    sent = [await emu.send_message(tb.channel, tb.user, "!hi") for _ in range(8)]
    await emu.wait_until(lambda: len([m for m in emu.sent_messages(tb.channel) if m.reference in
                                      {s.id for s in sent}]) == 8, 30, what="eight answers")
    assert emu.rate_limited_requests == 0
    assert emu.refusals == []


async def test_the_bot_meets_the_global_limit_waits_and_answers_everyone(tb) -> None:
    """Replies in eight channels at once (eight buckets) against a global limit lowered to four
    requests per three seconds: hikari cannot know the global limit before meeting it, so the
    emulator answers 429 (global); the bot waits as told and every user gets the answer."""
    emu = tb.emu
    channels = [emu.create_channel(tb.guild, f"room{n}") for n in range(8)]
    await emu.wait_until(lambda: all(tb.app.bot.cache.get_guild_channel(c.id) for c in channels),
                         what="the channels in the cache")
    emu.set_global_rate_limit(4, 3.0)
    sent = [await emu.send_message(channel, tb.user, "!hi") for channel in channels]
    await emu.wait_until(lambda: all(any(m.reference == s.id for m in emu.sent_messages(c))
                                     for s, c in zip(sent, channels, strict=True)), 60, what="every answer")
    assert emu.rate_limited_requests >= 1
    limited = [r for r in emu.requests if r.status == 429]
    assert limited and all(r.method == "POST" and r.path.endswith("/messages") for r in limited)
    assert emu.refusals == []
