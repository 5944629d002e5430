"""REST connections are kept alive: round trips reuse a few TCP connections instead of opening
one per request (hikari's default), counted by the emulator as the connections it accepted."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.backends("sqlite")  # REST connections do not depend on the database

MAX_CONNECTIONS = 4
"""hikari may run a few requests at once (a reply while another is in flight); 100 trips, one at a time,
need no more."""


async def round_trips(tb: Any, count: int) -> set[Any]:
    """``count`` times `!hi` and its reply; returns the REST connections opened meanwhile."""
    before = set(tb.emu.rest_connections)
    for _ in range(count):
        reply = await tb.say("!hi")
        assert reply.content.startswith("Hello, alice!")
    return tb.emu.rest_connections - before


async def test_100_round_trips_reuse_a_bounded_number_of_connections(tb) -> None:
    # 100 replies in one channel would be paced by the per-channel message bucket (5 per 5 s) to
    # 100 s; connection reuse is what this counts (tests/test_rate_limits.py checks the pacing).
    tb.emu.relax("ratelimit")
    assert not tb.app.bot.http_settings.force_close_transports
    opened = await round_trips(tb, 100)
    assert len(tb.emu.rest_connections) <= MAX_CONNECTIONS, "start-up and 100 trips together"
    assert len(opened) <= MAX_CONNECTIONS


async def test_keepalive_off_opens_a_connection_per_request(tb_factory) -> None:
    tb = await tb_factory(config_overrides={"bot": {"http_keepalive": False, "http_pool_size": 8}})
    tb.emu.relax("ratelimit")  # 20 replies in one channel: paced to 15 s by its bucket, as above
    assert tb.app.bot.http_settings.force_close_transports
    assert tb.app.bot.http_settings.connection_limit == 8
    opened = await round_trips(tb, 20)
    assert len(opened) >= 20, "each reply needs its own connection: the emulator counts them"
