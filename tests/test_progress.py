"""Long work and Discord's interaction rules through the real bot: a `/test` run that outlives the
interaction's 15-minute token still delivers its report, a training job's progress is edited at most
once per throttle window (through the interaction, never through the channel), and a command's
declared privacy decides its deferral, errors included."""

from __future__ import annotations

import asyncio
import json
import re
import types

import pytest

from framework import hookimpl
from framework.commands import UserError, command
from framework.providers import ModelProvider, trained_models
from tests.test_training import TRAINING_TOML, labelled_jsonl

pytestmark = pytest.mark.backends("sqlite")  # Discord's interaction rules for long work do not depend on the database

EPHEMERAL = 1 << 6


class Gated(ModelProvider):
    """Predicts "positive" for every text, one batch each time the test opens the gate."""

    name, min_examples = "gated", 1

    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Semaphore(0)

    async def predict(self, model_id, texts, labels, *, instruction=""):
        self.calls += 1
        await self.gate.acquire()
        return ["positive"] * len(texts)


async def test_a_test_run_that_outlives_the_interaction_token_still_delivers_its_report(tb_factory) -> None:
    provider = Gated()
    gated = types.SimpleNamespace(register_model_providers=hookimpl(lambda register: register("gated", provider)))
    tb = await tb_factory(plugins_toml="[plugins.evaluation]\nbatch_size = 2\n[bot]\nprogress_interval = 0.2\n",
                          extra_plugins={"gated": gated})
    async with tb.app.storage.begin() as conn:
        await conn.execute(trained_models.insert().values(provider="gated", model_id="gated-1", active=True,
                                                          labels=json.dumps(["positive", "negative"])))
    data = json.dumps({"positive": ["great", "lovely"], "negative": ["awful", "dull"]})
    inter = await tb.interaction("test", {"data": data})
    await tb.emu.wait_until(lambda: provider.calls == 1, what="the first batch")
    progress = await inter.wait_response()
    assert progress.content == "🧪 Testing `gated-1` on 4 examples… 0/4"
    provider.gate.release()
    await tb.emu.wait_until(lambda: provider.calls == 2, what="the second batch")
    tb.emu.advance_clock(16 * 60)  # the run now lasts longer than the interaction's token
    provider.gate.release()

    def in_channel(prefix: str):
        return lambda: next((m for m in tb.emu.sent_messages(tb.channel)
                             if m.content.startswith(prefix) and m.interaction_id is None), None)

    report = await tb.emu.wait_until(in_channel("🧪 **Test run #1**: `gated-1` (gated) on inline data — accuracy "
                                                "**50.0%** (2/4)"), what="the report as a channel message")
    assert report.attachments and report.attachments[0].filename == "confusion-run-1.png"
    done = await tb.emu.wait_until(in_channel("✅ Tested `gated-1` on 4 examples… 4/4"),
                                   what="the final progress as a channel message")
    assert int(done.id) < int(report.id)
    refused = [r for r in tb.emu.requests if r.status == 401]
    assert refused and all(r.path.startswith("/webhooks/") for r in refused)
    assert not [r for r in tb.emu.requests if r.method in ("PATCH", "DELETE") and r.path.startswith("/channels/")
                and tb.emu.messages[int(r.path.rsplit("/", 1)[1])].interaction_id is not None], \
        "an interaction's message was edited or deleted through the channel"


async def test_training_progress_is_edited_at_most_once_per_window_through_the_interaction(
        tb_factory, openai_server) -> None:
    window = 0.5
    tb = await tb_factory(plugins_toml=TRAINING_TOML + f'[engines]\nprovider = "openai"\n[bot]\nprogress_interval = '
                          f'{window}\n[permissions.groups.training]\nusers = [{tb_factory.world()[3].id}]\n')
    inter = await tb.interaction("train", {"attachment": tb.emu.file("reviews.jsonl", labelled_jsonl()),
                                          "start": True})
    progress = await tb.emu.wait_until(
        lambda: next((m for m in inter.followups if m.content.startswith(("🏋️", "⏳", "✅"))), None),
        what="the job's progress message")
    await tb.emu.wait_until(lambda: "**succeeded**" in progress.content, timeout=30, what="the job to succeed")
    assert "The job has successfully completed" in progress.content
    edits = [r.timestamp for r in tb.emu.requests if r.method == "PATCH" and r.status == 200
             and re.fullmatch(rf"/webhooks/\d+/[^/]+/messages/{progress.id}", r.path)]
    assert len(edits) == len(progress.edits) >= 2, "the progress reached the user before the end"
    gaps = [later - earlier for earlier, later in zip(edits, edits[1:], strict=False)]
    assert min(gaps) >= window, f"two edits of one message within {window} s: {gaps}"
    assert not [r for r in tb.emu.requests if r.method == "PATCH" and r.path.startswith("/channels/")]


def privacy_plugin() -> types.SimpleNamespace:
    @command("secret", "A private answer after a deferral", ephemeral=True)
    async def secret(ctx) -> None:
        await ctx.defer()
        await ctx.respond("only you see this")

    @command("public_fails", "A public command failing after its deferral")
    async def public_fails(ctx) -> None:
        await ctx.defer()
        raise UserError("That did not work.")

    @command("private_fails", "A private command failing after its deferral", ephemeral=True)
    async def private_fails(ctx) -> None:
        await ctx.defer()
        raise UserError("That did not work either.")

    def register_commands(register) -> None:
        for target in (secret, public_fails, private_fails):
            register(target)

    return types.SimpleNamespace(register_commands=hookimpl(register_commands))


async def test_a_commands_declared_privacy_decides_its_deferral_and_its_errors(tb_factory) -> None:
    tb = await tb_factory(extra_plugins={"privacy_check": privacy_plugin()})
    for name, text, private in [("secret", "only you see this", True), ("public_fails", "That did not work.", False),
                                ("private_fails", "That did not work either.", True)]:
        inter = await tb.interaction(name)
        answer = await inter.wait_response()
        deferral = await inter.wait_callback()
        assert deferral["type"] == 5 and bool((deferral.get("data") or {}).get("flags", 0) & EPHEMERAL) is private
        assert (answer.content, answer.ephemeral, len(inter.messages)) == (text, private, 1), name
    assert not [r for r in tb.emu.requests if r.method == "DELETE"], "no answer was deleted to change its visibility"
