"""The bot scaled out, for real: two `trainerbot run` processes, each running two of four shards,
against the emulator and one PostgreSQL schema (as two machines would), with guilds on every shard.

- every `!hi` and `/hi` in every guild is answered exactly once;
- a server's plugin switch made through shard 0 reaches the process of shards 2-3 within 2 s;
- a training job started in a guild of shard 2 is polled by that process only; killed with
  SIGKILL mid-poll, the other process takes the job over and finishes it within 30 s, editing the
  same progress message (no duplicate), with no event stored twice and the model recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.test_training import labelled_jsonl

pytestmark = pytest.mark.backends("postgresql")  # several processes share one database: PostgreSQL's job

ROOT = Path(__file__).resolve().parents[1]
SHARDS = 4
TOML = """[bot]
data_root = "{root}"
log_level = "INFO"
[engines]
provider = "openai"
[plugins.training]
poll_interval = 0.2
[storage]
lease_seconds = 3
sync_interval = 0.5
"""


class Run:
    """``trainerbot run --shards … --shard-count 4`` in a process of its own."""

    def __init__(self, emu, tmp_path: Path, shards: str) -> None:
        self.emu = emu
        self.shards = shards
        self.config = tmp_path / "plugins.toml"
        self.log = tmp_path / f"run-{shards}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**os.environ, "DISCORD_TOKEN": self.emu.token, "TRAINERBOT_REST_URL": self.emu.rest_url,
               "PYTHONPATH": str(ROOT)}
        with open(self.log, "ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "framework.cli", "--config", str(self.config), "run", "--shards", self.shards,
                "--shard-count", str(SHARDS), cwd=ROOT, env=env, stdout=log, stderr=log)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def lines(self, text: str) -> list[str]:
        return [line for line in self.log.read_text("utf-8", errors="replace").splitlines() if text in line]

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 60)


@pytest.fixture
async def cluster(discord_emulator, tmp_path, database, openai_server):
    emu = discord_emulator
    emu.shard_gateway(SHARDS, max_concurrency=2)  # shards 0 and 2 share a bucket, 1 and 3 the other
    guilds = {}
    for shard in range(SHARDS):
        guild = emu.create_guild(f"shard {shard}", shard=(shard, SHARDS))
        channel = emu.create_channel(guild, "general")
        emu.add_member(guild, emu.application_owner)
        guilds[shard] = (guild, channel)
    (tmp_path / "plugins.toml").write_text(TOML.format(root=tmp_path / "data"), "utf-8")
    runs = [Run(emu, tmp_path, "0-1"), Run(emu, tmp_path, "2-3")]
    try:
        for run in runs:
            await run.start()
        await emu.wait_until(lambda: {s for s, _ in emu.identified} == set(range(SHARDS)), 120,
                             what="all four shards identified")
        await emu.wait_until(lambda: any(c["name"] == "hi" for c in emu.commands.get(None, [])), 60,
                             what="the slash commands synced")
        yield emu, guilds, runs
    finally:
        for run in runs:
            await run.stop()
        for run in runs:
            print(f"--- {run.log.name}\n" + "\n".join(run.log.read_text("utf-8", errors="replace").splitlines()[-40:]))


async def test_two_processes_share_the_work_of_four_shards(cluster, database, openai_server, tmp_path) -> None:
    emu, guilds, (first, second) = cluster
    owner = emu.application_owner
    assert sorted(emu.identified) == [(s, SHARDS) for s in range(SHARDS)], "each shard identified once"

    # every !hi and /hi, in every guild, answered exactly once
    for _shard, (_guild, channel) in guilds.items():
        sent = await emu.send_message(channel, owner, "!hi")
        reply = await emu.wait_until(lambda c=channel, s=sent: next(
            (m for m in emu.sent_messages(channel=c) if int(m.id) > int(s.id)), None), 30, what="!hi answered")
        assert reply.content.startswith("Hello, owner")
        inter = await emu.invoke_slash(channel, owner, "hi")
        assert (await inter.wait_response(30)).content.startswith("Hello, owner")
    for _shard, (_guild, channel) in guilds.items():  # a last command answered in each: nothing more came
        probe = await emu.send_message(channel, owner, "!ping")
        await emu.wait_until(lambda c=channel, p=probe: any(int(m.id) > int(p.id) for m in emu.sent_messages(
            channel=c)), 30, what="!ping answered")
        assert len([m for m in emu.sent_messages(channel=channel) if m.content.startswith("Hello, owner")]) == 2
    assert all(len(i.responses) == 1 for i in emu.interactions.values())

    # a server's switch through shard 0 reaches the process of shards 2-3 within 2 s
    guild0, channel0 = guilds[0]
    sent = await emu.send_message(channel0, owner, "!plugins disable chat")
    done = await emu.wait_until(lambda: next((m for m in emu.sent_messages(channel=channel0)
                                             if int(m.id) > int(sent.id)), None), 30, what="the switch answered")
    assert done.content == "Plugin `chat` is now disabled in this server."
    await emu.wait_until(lambda: second.lines("applied guild of plugin chat made by another process"), 2,
                         what="the switch applied by the other process")
    assert not first.lines("made by another process"), "a process does not apply its own change again"

    # a training job in a guild of shard 2: polled by that process only; SIGKILL it mid-poll
    _guild2, channel2 = guilds[2]
    held = openai_server.hold("GET", "/v1/fine_tuning/jobs/[^/]+")
    train = await emu.send_message(channel2, owner, "!train start:true",
                                   attachments=[emu.file("reviews.jsonl", labelled_jsonl())])
    await asyncio.wait_for(held.reached.wait(), 60)
    (lease,) = database.rows(tmp_path, "SELECT owner FROM leases WHERE name = 'training:job:1'")
    assert f":{second.pid}:" in lease["owner"], lease
    assert not first.lines("training job 1") and not first.lines("training job #1")
    assert second.process is not None
    second.process.kill()
    await second.process.wait()
    held.release()

    def job() -> dict:
        (row,) = database.rows(tmp_path, "SELECT * FROM training_jobs")
        return row

    finished = await emu.wait_until(lambda: job() if job()["status"] == "succeeded" else None, 30,
                                    what="the job finished by the other process")
    assert len(first.lines("resuming polling of training job 1")) == 1
    # the status is written before the job's task ends and lets its lease go: wait for that, bounded
    await emu.wait_until(lambda: database.rows(
        tmp_path, "SELECT count(*) AS n FROM leases WHERE name = 'training:job:1'")[0]["n"] == 0, 10,
        what="the finished job's lease given back")
    events = json.loads(finished["events"])
    assert len(events) == len(set(events)) and "The job has successfully completed" in events
    assert len(json.loads(finished["event_ids"])) == len(set(json.loads(finished["event_ids"])))
    progress = [m for m in emu.sent_messages(channel=channel2) if int(m.id) > int(train.id)
                and m.content.startswith(("🏋️", "⏳", "✅", "❌"))]
    assert len(progress) == 1, [m.content for m in progress]
    await emu.wait_until(lambda: "succeeded" in progress[0].content, 10, what="the progress message edited")
    (model,) = database.rows(tmp_path, "SELECT model_id FROM trained_models")
    assert model["model_id"] == finished["model_id"]


async def test_cluster_runs_a_slice_of_shards_per_process_and_restarts_a_crashed_one(
        discord_emulator, tmp_path, database) -> None:
    """`trainerbot cluster --processes 2` with the shard count Discord recommends (4): shards 0-1 and
    2-3; a child killed is started again (its shards identify anew); SIGTERM stops them all."""
    emu = discord_emulator
    emu.shard_gateway(SHARDS, max_concurrency=SHARDS)
    (tmp_path / "plugins.toml").write_text(TOML.format(root=tmp_path / "data"), "utf-8")
    log_path = tmp_path / "cluster.log"
    env = {**os.environ, "DISCORD_TOKEN": emu.token, "TRAINERBOT_REST_URL": emu.rest_url, "PYTHONPATH": str(ROOT)}
    with open(log_path, "wb") as log:
        supervisor = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "framework.cli", "--config", str(tmp_path / "plugins.toml"), "cluster",
            "--processes", "2", cwd=ROOT, env=env, stdout=log, stderr=log)

    def started() -> list[tuple[str, int]]:
        found = []
        for line in log_path.read_text("utf-8", errors="replace").splitlines():
            if "cluster: process" in line and "started, pid" in line:
                found.append((line.split("(shards ")[1].split(")")[0], int(line.rsplit("pid ", 1)[1])))
        return found

    try:
        await emu.wait_until(lambda: sorted(emu.identified) == [(s, SHARDS) for s in range(SHARDS)], 120,
                             what="the cluster's four shards")
        assert sorted(s for s, _ in started()) == ["0-1", "2-3"]
        (crashed,) = [pid for shards, pid in started() if shards == "2-3"]
        os.kill(crashed, 9)
        await emu.wait_until(lambda: len(emu.identified) == SHARDS + 2, 120, what="shards 2 and 3 identified again")
        assert sorted(emu.identified[SHARDS:]) == [(2, SHARDS), (3, SHARDS)]
        assert [s for s, _ in started()].count("2-3") == 2
    finally:
        supervisor.terminate()
        code = await asyncio.wait_for(supervisor.wait(), 90)
        print(log_path.read_text("utf-8", errors="replace")[-4000:])
    assert code == 0
    for _shards, pid in started():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # every child stopped with the supervisor
