"""Datasets and training through the real bot: the local provider, and the real openai SDK against
the local OpenAI-compatible test server; progress edited live, resume after restart, bad inputs."""

from __future__ import annotations

import json
import random
import types

import pytest

from framework import hookimpl
from framework import sql as sa
from framework.engines import KINDS, check_engine
from framework.errors import ImportProblem
from framework.importers import parse_file
from framework.providers import Correction, JobStatus, ModelProvider, learns_from, trained_models, trains_for_free
from plugins.provider_local import LocalProvider, NaiveBayes, accuracy
from plugins.training.schema import Settings, jobs

POSITIVE = ["great film, loved it", "wonderful acting and a moving story", "brilliant and funny",
            "a delight from start to finish", "superb direction, great cast", "loved the music and the story",
            "excellent, I would watch it again", "charming, warm and funny"]
NEGATIVE = ["boring and far too long", "terrible acting, awful script", "I hated every minute",
            "a dull, lifeless mess", "awful plot and bad jokes", "the worst film this year",
            "tedious, boring, forgettable", "bad direction and a terrible ending"]


def labelled_jsonl() -> bytes:
    rows = [{"text": t, "label": "positive"} for t in POSITIVE] + [{"text": t, "label": "negative"} for t in NEGATIVE]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


TRAINING_TOML = '[plugins.training]\npoll_interval = 0.01\n'


async def _progress(tb, sent, word: str):
    """The job's progress message (the last reply to ``sent``) once it shows ``word``."""
    def probe():
        replies = [m for m in tb.emu.sent_messages(tb.channel) if int(m.id) > int(sent.id)
                   and m.content.startswith(("🏋️", "⏳", "✅", "❌"))]
        return next((m for m in replies if word in m.content), None)

    return await tb.emu.wait_until(probe, 20, what=f"a progress message showing {word!r}")


async def test_local_training_end_to_end(tb_factory) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML)
    sent = await tb.send("!train", user=tb.owner, attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
    added = await tb.reply_to(sent)
    assert added.content == "Added 16 example(s) to `default`."
    done = await _progress(tb, sent, "succeeded")
    assert "Model: `local-1`" in done.content
    assert (await tb.say("!model use local-1", user=tb.owner)).content == "Active model: `local-1` (local)."
    assert "⭐ `local-1`" in (await tb.slash("model", subcommand="list")).content
    sent2 = await tb.send("!train data=\"great film, loved it\"", user=tb.owner)
    assert (await tb.reply_to(sent2)).content == "Added 0 example(s) to `default` (1 already there)."
    await _progress(tb, sent2, "Training job #2")
    await tb.emu.wait_until(lambda: "succeeded" in (tb.emu.sent_messages()[-1].content or ""))
    shown = await tb.say("!dataset show")
    assert shown.content.startswith("**default** — 16 examples; labels: positive 8, negative 8")


async def test_local_provider_accuracy_on_held_out_split() -> None:
    rng = random.Random(7)
    good = ["good", "great", "excellent", "lovely", "superb", "fun", "brilliant", "enjoyable"]
    bad = ["bad", "awful", "terrible", "boring", "dull", "poor", "tedious", "horrible"]
    filler = ["the", "film", "was", "really", "quite", "plot", "acting", "and", "story", "very"]

    def sample(words: list[str], label: str) -> tuple[str, str]:
        return " ".join(rng.sample(filler, 4) + rng.sample(words, 2)), label

    data = [sample(good, "positive") for _ in range(100)] + [sample(bad, "negative") for _ in range(100)]
    rng.shuffle(data)
    train, held_out = data[:150], data[150:]
    model = NaiveBayes.fit([t for t, _ in train], [label for _, label in train])
    predicted = [model.predict(t)[0] for t, _ in held_out]
    assert accuracy(predicted, [label for _, label in held_out]) >= 0.95  # the stated floor for a separable set


async def test_openai_fine_tuning_with_live_progress(tb_factory, openai_server) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML + '[engines]\nprovider = "openai"\n')
    sent = await tb.send("!train start:true", user=tb.owner,
                         attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
    done = await _progress(tb, sent, "succeeded")
    job = next(iter(openai_server.jobs.values()))
    assert f"Model: `ft:gpt-4o-mini-2024-07-18:trainerbot:{job.id}`" in done.content
    assert "The job has successfully completed" in done.content and done.edits, "the message was edited as it went"
    lines = openai_server.uploaded_jsonl()
    assert len(lines) == 16
    assert lines[0]["messages"][0]["role"] == "system" and "positive, negative" in lines[0]["messages"][0]["content"]
    assert [m["role"] for m in lines[0]["messages"]] == ["system", "user", "assistant"]
    assert {line["messages"][2]["content"] for line in lines} == {"positive", "negative"}
    model_id = job.fine_tuned_model
    assert (await tb.say(f"!model use {model_id}", user=tb.owner)).content == f"Active model: `{model_id}` (openai)."
    everything = "".join(m.content for m in tb.emu.sent_messages())
    assert "sk-test-key" not in everything


async def test_polling_resumes_after_restart(tb_factory, openai_server) -> None:
    slow = '[plugins.training]\npoll_interval = 3600\n[engines]\nprovider = "openai"\n'
    tb = await tb_factory(plugins_toml=slow)
    sent = await tb.send("!train start:true", user=tb.owner,
                         attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
    await _progress(tb, sent, "queued")
    job = next(iter(openai_server.jobs.values()))
    assert job.status != "succeeded"
    await tb.app.close()
    tb2 = await tb_factory(plugins_toml=TRAINING_TOML + '[engines]\nprovider = "openai"\n')
    done = await _progress(tb2, sent, "succeeded")
    assert job.fine_tuned_model in done.content


async def test_failed_openai_job_shows_openai_error(tb_factory, openai_server) -> None:
    openai_server.fail_jobs = True
    tb = await tb_factory(plugins_toml=TRAINING_TOML + '[engines]\nprovider = "openai"\n')
    sent = await tb.send("!train start:true", user=tb.owner,
                         attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
    failed = await _progress(tb, sent, "failed")
    assert "Error: Training file has too few examples of each class." in failed.content


async def test_openai_server_errors_are_retried_then_reported(tb_factory, openai_server) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML + '[engines]\nprovider = "openai"\n'
                          '[plugins.provider_openai]\nmax_retries = 1\n')
    openai_server.fail_next(500, count=2)
    sent = await tb.send("!train start:true", user=tb.owner,
                         attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
    failed = await _progress(tb, sent, "could not start")
    assert "OpenAI refused to upload the training file: injected 500" in failed.content
    openai_server.fail_next(429, count=1)
    retry = await tb.send("!train start:true", user=tb.owner)
    assert "succeeded" in (await _progress(tb, retry, "succeeded")).content


@pytest.mark.parametrize(("command", "message"), [
    ('!train data="   "', "Nothing to add: the data contains no text."),
    ("!dataset show nosuch", "No dataset `nosuch`. `dataset list` shows them."),
    ("!train data_dir=../", "`../` leaves the data folder (`..` is not allowed)."),
    ("!train provider=nosuch", "The model provider `nosuch` is not available (registered: local, openai). "
                                "Check `[engines] provider` in plugins.toml and that its plugin is installed and "
                                "enabled."),
    ("!jobs status abc", "`abc` is not a job number; `jobs list` shows them."),
    # no row id can be this large: refused as such, not an OverflowError from the database
    ("!jobs status 99999999999999999999", "`99999999999999999999` is not a job number; `jobs list` shows them."),
    ("!jobs cancel 0", "`0` is not a job number; `jobs list` shows them."),
])
async def test_bad_inputs_are_answered_clearly(tb_factory, command, message) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML)
    assert (await tb.say(command, user=tb.owner)).content == message


async def test_too_few_examples_for_openai_keeps_the_data_and_starts_nothing(tb_factory, openai_server) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML + '[engines]\nprovider = "openai"\n')
    sent = await tb.send('!train "good film\n\nnice plot" start:true', user=tb.owner)
    assert (await tb.reply_to(sent)).content == "Added 2 example(s) to `default`."
    refused = await tb.reply_to(sent, skip=1)
    assert refused.content == "Not training yet: the `openai` provider needs at least 10 examples, the dataset has 2."
    assert openai_server.files == {} and openai_server.jobs == {}
    assert (await tb.say("!jobs list")).content == "No training jobs yet."


async def test_broken_file_is_reported_and_the_rest_imported(tb_factory) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML)
    folder = tb.data_root / "datasets" / "incoming"
    folder.mkdir()
    (folder / "good.txt").write_text("lovely film\nsplendid cast\n", "utf-8")
    (folder / "broken.json").write_text('[{"text": "ok"}, {"text": ', "utf-8")
    (folder / "image.png").write_bytes(b"\x89PNG")
    (folder / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    reply = await tb.say("!select_dataset datasets/incoming", user=tb.owner)
    assert reply.content.startswith("Added 2 example(s) to `default`.\nSkipped:")
    assert "`datasets/incoming/broken.json` is not valid JSON: Expecting value at line 1, column 27." in reply.content
    assert "`datasets/incoming/image.png`: unsupported file type" in reply.content
    assert "`datasets/incoming/latin1.txt` is not UTF-8 text (undecodable byte at position 3)." in reply.content
    assert "Archived the folder as `archives/incoming-" in reply.content
    assert len(list((tb.data_root / "archives").glob("incoming-*.zip"))) == 1


async def test_training_is_restricted_but_status_is_public(tb_factory) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML)
    refused = await tb.slash("train", {"data": "fine"})
    assert (refused.content, refused.ephemeral) == (
        "You don't have permission to use `train`: it is limited to the bot's owners.", True)
    assert (await tb.say("!dataset list")).content.startswith("No datasets yet.")
    assert (await tb.say("!jobs list")).content == "No training jobs yet."


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("a.csv", b"text,label\nnice,positive\nbad,negative\n", [("nice", "positive"), ("bad", "negative")]),
    ("b.json", json.dumps({"positive": ["yay"], "negative": ["nay"]}).encode(),
     [("yay", "positive"), ("nay", "negative")]),
    ("c.html", b"<html><script>x()</script><p>Hello <b>world</b></p></html>", [("Hello world", None)]),
    ("d.md", b"# one\n\nsecond para", [("# one", None), ("second para", None)]),
])
def test_importers(name, data, expected) -> None:
    assert parse_file(name, data) == expected


def test_importer_errors_point_at_the_line() -> None:
    with pytest.raises(ImportProblem, match=r"`x.jsonl` line 2 is not valid JSON"):
        parse_file("x.jsonl", b'{"text": "a"}\n{oops\n')
    with pytest.raises(ImportProblem, match=r"`x.csv` line 3: expected 2 columns, found 1"):
        parse_file("x.csv", b"text,label\na,positive\nb\n")


async def test_a_running_job_can_be_cancelled(tb_factory, openai_server) -> None:
    tb = await tb_factory(plugins_toml='[plugins.training]\npoll_interval = 3600\n[engines]\nprovider = "openai"\n')
    sent = await tb.send("!train start:true", user=tb.owner,
                         attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
    await _progress(tb, sent, "queued")
    assert (await tb.say("!jobs cancel 1")).content.startswith("You don't have permission")
    assert (await tb.say("!jobs cancel #1", user=tb.owner)).content == "Cancelled training job #1."
    assert next(iter(openai_server.jobs.values())).status == "cancelled"
    assert (await tb.say("!jobs status 1")).content.startswith("⏹️ Training job #1")
    assert (await tb.say("!jobs cancel 1", user=tb.owner)).content == "Job #1 already cancelled."


async def test_a_file_error_while_starting_is_logged_not_shown(tb_factory, caplog) -> None:
    class DiskTrouble(ModelProvider):
        name, min_examples = "disk-trouble", 1

        async def start(self, request):
            raise FileNotFoundError(2, "No such file or directory", "/srv/secret/area/upload.jsonl")

    plugin = types.SimpleNamespace(register_model_providers=hookimpl(
        lambda register: register("disk-trouble", DiskTrouble())))
    tb = await tb_factory(plugins_toml=TRAINING_TOML + '[engines]\nprovider = "disk-trouble"\n',
                          extra_plugins={"disk": plugin})
    sent = await tb.send("!train start:true", user=tb.owner,
                         attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
    failed = await _progress(tb, sent, "could not start")
    assert failed.content == ("❌ Training job #1 could not start: the training files could not be read or written "
                              "(FileNotFoundError); the error was logged")
    assert "/srv/secret" not in (await tb.say("!jobs status 1")).content
    assert "/srv/secret/area/upload.jsonl" in caplog.text


async def test_the_training_package_reloads_with_every_hook(tb_factory) -> None:
    """The plugin is a package of modules: a reload imports each afresh and registers all its hooks again."""
    tb = await tb_factory(plugins_toml=TRAINING_TOML)
    info = tb.app.plugins.infos["training"]
    before, hooks = info.module, info.hooks
    assert hooks == ["add_dataset_examples", "dataset_examples", "delete_user_data", "export_user_data",
                     "register_commands", "register_migrations", "settings_model", "shutdown", "startup"]
    sent = await tb.send("!train", user=tb.owner, attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
    await _progress(tb, sent, "succeeded")
    done = await tb.slash("plugins", {"name": "training"}, subcommand="reload", user=tb.owner)
    assert done.content == "Plugin `training` reloaded."
    assert info.module is not before and info.hooks == hooks
    assert (await tb.say("!dataset show")).content.startswith("**default** — 16 examples")
    assert (await tb.say("!jobs status #1")).content.startswith("✅ Training job #1")
    huge = "99999999999999999999"
    assert (await tb.say(f"!jobs cancel {huge}", user=tb.owner)).content == (
        f"`{huge}` is not a job number; `jobs list` shows them.")


# --- training that does not surprise: adding and starting are distinct; what is activated, and why

async def test_a_paid_provider_adds_examples_and_starts_only_when_asked(tb_factory, openai_server) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML + '[engines]\nprovider = "openai"\n')
    added = await tb.say("!train great movie", user=tb.owner)  # unquoted free text: one example, no job
    assert added.content == ("Added 1 example(s) to `default`.\nNo training job started (the `openai` provider's "
                             "training is not free, so I start it only when asked): `!train start:true` starts one.")
    slash = await tb.slash("train", {"attachment": tb.emu.file("reviews.jsonl", labelled_jsonl())}, user=tb.owner)
    assert slash.content.startswith("Added 16 example(s) to `default`.") and slash.content.endswith(
        "`/train start:true` starts one.")
    assert openai_server.jobs == {} and (await tb.say("!jobs list")).content == "No training jobs yet."
    sent = await tb.send("!train start:true", user=tb.owner)
    await _progress(tb, sent, "succeeded")
    assert len(openai_server.jobs) == 1


async def test_a_free_provider_starts_by_itself_unless_told_not_to(tb_factory) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML)
    quiet = await tb.say("!train a lovely film start:false", user=tb.owner)
    assert quiet.content == "Added 1 example(s) to `default`.\nNo training job started: `!train start:true` starts one."
    sent = await tb.send("!train", user=tb.owner, attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
    await _progress(tb, sent, "succeeded")  # local training is free: started without asking


def _many() -> bytes:
    """Enough examples that the held-out split keeps both labels."""
    rows = [{"text": f"{t} ({n})", "label": label} for n in range(3)
            for label, texts in (("positive", POSITIVE), ("negative", NEGATIVE)) for t in texts]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


class Scripted(ModelProvider):
    """Trains for free; model ``m-N`` (job N) predicts the right label unless N is in ``wrong``."""

    name, min_examples, free_training = "scripted", 1, True

    def __init__(self, wrong: set[int]) -> None:
        self.wrong = wrong

    async def start(self, request):
        return str(request.job_id)

    async def poll(self, provider_job_id):
        return JobStatus("succeeded", model_id=f"m-{provider_job_id}")

    async def predict(self, model_id, texts, labels, *, instruction=""):
        bad = int(model_id.split("-")[1]) in self.wrong
        right = ["positive" if any(w in t for w in POSITIVE) else "negative" for t in texts]
        return [{"positive": "negative", "negative": "positive"}[r] if bad else r for r in right]


async def _active(tb) -> list[str]:
    async with tb.app.storage.connect() as conn:
        return [r.model_id for r in await conn.execute(sa.select(trained_models).where(trained_models.c.active))]


async def test_if_better_activates_the_first_model_then_only_one_as_good_on_the_held_out_split(tb_factory) -> None:
    scripted = types.SimpleNamespace(register_model_providers=hookimpl(
        lambda register: register("scripted", Scripted(wrong={2}))))
    tb = await tb_factory(plugins_toml=TRAINING_TOML + '[engines]\nprovider = "scripted"\n',
                          extra_plugins={"scripted": scripted})
    sent = await tb.send("!train", user=tb.owner, attachments=[tb.emu.file("many.jsonl", _many())])
    first = await _progress(tb, sent, "succeeded")
    held = first.content.split("on the ")[1].split(" held-out")[0]
    assert int(held) > 0
    assert f"Model: `m-1`. Activated `m-1`, the first model (accuracy 1.00 on the {held} held-out example(s) of " \
           "`default`)." in first.content
    worse = await tb.send("!train", user=tb.owner)
    kept = await _progress(tb, worse, "Kept")
    assert f"Kept `m-1` active: `m-2` scored 0.00 vs 1.00 on the {held} held-out example(s) of `default`; " \
           "`model use m-2` makes it the active one." in kept.content
    assert await _active(tb) == ["m-1"]
    better = await tb.send("!train", user=tb.owner)
    done = await _progress(tb, better, "Activated")
    assert f"Activated `m-3` (accuracy 1.00 on the {held} held-out example(s) of `default`, was 1.00 with `m-1`)." \
        in done.content
    assert await _active(tb) == ["m-3"]
    async with tb.app.storage.connect() as conn:
        scores = [(r.id, r.accuracy, r.baseline_accuracy) for r in
                  await conn.execute(sa.select(jobs).order_by(jobs.c.id))]
    assert scores == [(1, 1.0, None), (2, 0.0, 1.0), (3, 1.0, 1.0)]


@pytest.mark.parametrize(("policy", "said", "active"), [
    ("always", 'Activated `local-1` (`[plugins.training] activate = "always"`).', ["local-1"]),
    ("never", 'Not activated (`[plugins.training] activate = "never"`): `model use local-1` makes it the active one.',
     ["local-0"]),
])
async def test_activate_always_and_never(tb_factory, policy, said, active) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML + f'activate = "{policy}"\n')
    async with tb.app.storage.begin() as conn:
        await conn.execute(trained_models.insert().values(provider="local", model_id="local-0", active=True))
    sent = await tb.send("!train", user=tb.owner, attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
    done = await _progress(tb, sent, "succeeded")
    assert done.content.splitlines()[1] == f"Model: `local-1`. {said}"
    assert await _active(tb) == active


def test_an_unknown_activate_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="activate"):
        Settings(activate="sometimes")


def test_a_provider_without_the_optional_members_registers_as_paid_and_silent_about_corrections() -> None:
    """``free_training`` and ``learns_from`` are optional: a provider written before them still
    registers, is taken as paid (``train`` never starts it by itself) and says nothing about corrections."""
    class Plain:
        name, min_examples = "plain", 1

        async def start(self, request): ...
        async def poll(self, provider_job_id): ...
        async def cancel(self, provider_job_id): ...
        async def predict(self, model_id, texts, labels, *, instruction=""): ...
        async def chat(self, model_id, messages): ...

    kind = next(k for k in KINDS if k.attr == "providers")
    check_engine(kind, Plain())
    assert trains_for_free(Plain()) is False
    assert learns_from(Plain(), Correction("q", "a", "positive"), ["positive"]) is None
    local = LocalProvider(types.SimpleNamespace())
    assert trains_for_free(local) is True
    assert learns_from(local, Correction("q", "a", " Positive "), ["positive", "negative"]) is True
    assert learns_from(local, Correction("q", "a", "a better answer"), ["positive", "negative"]) is False
