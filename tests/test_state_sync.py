"""State changes reach every process sharing the database within a bounded delay: a server's plugin
switch, a plugin disabled or enabled everywhere, a reload. Two bots on one database (PostgreSQL:
one schema; SQLite: one file) stand for two processes; changes go through the first, the second
follows within 2 s ([storage] sync_interval 0.5 s) and never applies its own changes twice."""

from __future__ import annotations

import logging

from framework import sql as sa
from framework.state_sync import state_changes

SYNC = {"storage": {"sync_interval": 0.5}}


async def test_switches_enables_and_reloads_reach_the_other_process(tb_factory, caplog) -> None:
    caplog.set_level(logging.INFO, logger="framework.state_sync")
    first = await tb_factory(config_overrides=SYNC)
    second = await tb_factory(config_overrides=SYNC)
    guild = int(first.guild.id)
    emu, other = first.emu, second.app

    await first.app.set_guild_enabled("chat", guild, False)
    await emu.wait_until(lambda: not other.plugins.enabled_in("chat", guild), 2, what="chat off in the guild")
    assert other.plugins.enabled_in("chat", guild + 1), "only that server"
    await first.app.set_guild_enabled("chat", guild, True)
    await emu.wait_until(lambda: other.plugins.enabled_in("chat", guild), 2, what="chat on again")

    await first.app.set_enabled("feedback", False)
    await emu.wait_until(lambda: other.plugins.infos["feedback"].status == "disabled", 2, what="feedback off")
    assert "feedback" not in {t.plugin for t in other.commands.targets.values()}
    await first.app.set_enabled("feedback", True)
    await emu.wait_until(lambda: "feedback" in {t.plugin for t in other.commands.targets.values()}, 2,
                         what="feedback on, its commands back")
    assert other.plugins.infos["feedback"].status == "enabled"

    def applied() -> list[str]:
        return [r.getMessage() for r in caplog.records if "made by another process" in r.getMessage()]

    module = other.plugins.infos["feedback"].module
    await first.app.reload_plugin("feedback")
    await emu.wait_until(lambda: len(applied()) == 5, 2, what="feedback reloaded")
    assert other.plugins.infos["feedback"].module is not module

    async with first.app.storage.connect() as conn:
        kinds = [r.kind for r in await conn.execute(sa.select(state_changes).order_by(state_changes.c.id))]
    assert kinds == ["guild", "guild", "enabled", "enabled", "reload"]
    await second.app.sync.catch_up()
    assert len(applied()) == 5, applied()  # each change applied once, by the other process only
