"""Testing models through the real bot: inline JSON and attached files (.json, .jsonl, .csv),
the local provider and the openai SDK against the test server, exact metrics for known sets, the
confusion matrix as a real PNG, history, review items, held-out splits, and bad data."""

from __future__ import annotations

import io
import json
import random
import types

import pytest
from PIL import Image

from framework import hookimpl
from framework import sql as sa
from framework.commands import UserError
from framework.providers import Example, ModelProvider, trained_models
from framework.report import OTHER, compute_metrics, metrics_table, render_confusion_png
from plugins.evaluation import review_items, runs
from tests.test_training import TRAINING_TOML, _progress, labelled_jsonl

# A known set for the local model trained on tests.test_training's reviews: five examples it gets
# right, and one labelled against its words (a negative review marked positive) that it gets wrong.
KNOWN = [("great film, loved it", "positive"), ("brilliant and funny", "positive"),
         ("charming, warm and funny", "positive"), ("I hated every minute", "positive"),
         ("boring and far too long", "negative"), ("awful plot and bad jokes", "negative")]
KNOWN_TABLE = """\
label      precision  recall    f1  support
positive        1.00    0.75  0.86        4
negative        0.67    1.00  0.80        2
macro avg       0.83    0.88  0.83        6"""


def table_of(content: str) -> str:
    return content.split("```\n", 1)[1].split("\n```", 1)[0]


def png_of(message) -> Image.Image:
    assert len(message.attachments) == 1 and message.attachments[0].filename.endswith(".png")
    image = Image.open(io.BytesIO(message.attachments[0].data))
    image.load()
    assert image.format == "PNG" and 300 <= image.width <= 2000 and 200 <= image.height <= 2000
    return image


def as_files() -> dict[str, bytes]:
    """KNOWN in every attachment format test data may come in."""
    by_label: dict[str, list[str]] = {}
    for text, label in KNOWN:
        by_label.setdefault(label, []).append(text)
    return {
        "known.json": json.dumps([{"text": t, "label": label} for t, label in KNOWN]).encode(),
        "by-label.json": json.dumps(by_label).encode(),
        "known.jsonl": "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in KNOWN).encode(),
        "known.csv": ("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in KNOWN)).encode(),
    }


def plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


async def local_bot(tb_factory, toml: str = "", **kwargs):
    """The bot with `local-1` trained on the reviews and active."""
    tb = await tb_factory(plugins_toml=TRAINING_TOML + toml, **kwargs)
    sent = await tb.send("!train", user=tb.owner, attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
    await _progress(tb, sent, "succeeded")
    assert (await tb.say("!model use local-1", user=tb.owner)).content == "Active model: `local-1` (local)."
    return tb


# ----------------------------------------------------------------------------- pure parts


def test_metrics_for_a_known_confusion() -> None:
    expected = ["a", "a", "a", "b", "b", "c"]
    predicted = ["a", "b", "a", "b", "zzz", "a"]
    m = compute_metrics(expected, predicted, ["a", "b", "c"])
    assert m.columns == ("a", "b", "c", OTHER)
    assert m.matrix == ((2, 1, 0, 0), (0, 1, 0, 1), (1, 0, 0, 0))
    assert (m.correct, m.total, m.accuracy) == (3, 6, 0.5)
    a, b, c = m.per_label
    assert (a.precision, a.recall, a.support) == (2 / 3, 2 / 3, 3) and a.f1 == pytest.approx(2 / 3)
    assert (b.precision, b.recall, b.f1) == (0.5, 0.5, 0.5)
    assert (c.precision, c.recall, c.f1, c.support) == (0.0, 0.0, 0.0, 1)
    assert m.macro_f1 == pytest.approx((2 / 3 + 0.5) / 3)
    assert type(m).from_dict(json.loads(json.dumps(m.to_dict()))) == m


def test_report_image_is_a_png_with_a_cell_per_count() -> None:
    m = compute_metrics([t for _, t in KNOWN], ["positive"] * 3 + ["negative"] * 3, ["positive", "negative"])
    image = Image.open(io.BytesIO(render_confusion_png(m, "Test run #1 - local-1")))
    assert image.format == "PNG" and image.mode == "RGB"
    assert metrics_table(m) == KNOWN_TABLE


# ----------------------------------------------------------------------------- through the bot


async def test_inline_json_then_attachment_on_the_local_model_with_history_and_review(tb_factory) -> None:
    tb = await local_bot(tb_factory)
    inline = json.dumps([{"text": t, "label": label} for t, label in KNOWN])
    first = await tb.say(f"!test {inline}")
    assert first.content.startswith("🧪 **Test run #1**: `local-1` (local) on inline data — accuracy **83.3%** (5/6), "
                                    "macro F1 **0.83**")
    assert table_of(first.content) == KNOWN_TABLE
    assert "review #1: expected **positive**, got **negative**: `I hated every minute`" in first.content
    png_of(first)

    second = await tb.slash("test", {"attachment": tb.emu.file("known.csv", as_files()["known.csv"])})
    assert not second.ephemeral
    assert second.content.startswith("🧪 **Test run #2**: `local-1` (local) on `known.csv` — accuracy **83.3%**")
    assert "Against run #1 on the same data (`local-1`): accuracy +0.0 points, macro F1 +0.00" in second.content
    assert table_of(second.content) == KNOWN_TABLE
    assert "`/tests review` lists them" in second.content
    png_of(second)

    history = await tb.say("!tests history")
    lines = table_of(history.content).splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["#1", "#2"]
    assert "inline data" in lines[1] and "83.3%" in lines[1] and "known.csv" in lines[2] and "83.3% (+0.0)" in lines[2]

    review = await tb.say("!tests review")
    assert ("review #2, run #2 (`local-1`): expected **positive**, got **negative**: `I hated every minute`"
            in review.content)
    assert "review #1, run #1" in review.content
    async with tb.app.storage.connect() as conn:
        stored = (await conn.execute(sa.select(review_items).order_by(review_items.c.id))).all()
        run = (await conn.execute(sa.select(runs).where(runs.c.id == 1))).one()
    assert [(r.text, r.expected, r.predicted, r.status) for r in stored] == [
        ("I hated every minute", "positive", "negative", "open")] * 2
    assert (run.user_id, run.source_kind, run.model_id, run.example_count) == (tb.user.id, "inline", "local-1", 6)
    assert json.loads(run.metrics)["matrix"] == [[3, 1], [0, 2]]

    refused = await tb.say("!tests resolve 1")
    assert refused.content.startswith("You don't have permission")
    assert (await tb.say("!tests resolve #1, 2", user=tb.owner)).content == "Resolved #1, #2."
    assert (await tb.say("!tests resolve 2", user=tb.owner)).content == "Nothing to do. Already resolved: #2."
    # add:true puts the examples, with their right labels, into the dataset (the two items are one example)
    added = await tb.say("!tests resolve 1,2 add:true", user=tb.owner)
    assert added.content == ("Nothing to resolve. Already resolved: #1, #2. Added 1 example(s) with their right "
                             "labels to `default` (1 already there).")
    other = await tb.slash("tests", {"items": "1", "add": True, "dataset": "fixes"}, subcommand="resolve",
                           user=tb.owner)
    assert other.content.endswith("Added 1 example(s) with their right labels to `fixes`.")
    for name in ("default", "fixes"):
        examples = await tb.app.plugins.call("dataset_examples", scope=None, app=tb.app, name=name, split="all")
        assert Example("I hated every minute", "positive") in examples
    assert (await tb.say("!tests review")).content == "No open review items."
    assert "✅ review #1, run #1" in (await tb.say("!tests review 1 status=all")).content
    shown = await tb.say("!tests show 1")
    assert shown.content.startswith("🧪 **Test run #1**") and table_of(shown.content) == KNOWN_TABLE
    png_of(shown)


@pytest.mark.backends("sqlite")  # reading file formats: not the database
async def test_every_attachment_format_gives_the_same_metrics(tb_factory) -> None:
    tb = await local_bot(tb_factory)
    for number, (name, data) in enumerate(as_files().items(), 1):
        reply = await tb.say("!test", attachments=[tb.emu.file(name, data)])
        assert reply.content.startswith(f"🧪 **Test run #{number}**: `local-1` (local) on `{name}` — "
                                        "accuracy **83.3%** (5/6)"), name
        assert table_of(reply.content) == KNOWN_TABLE, name
        png_of(reply)


async def test_openai_model_answers_per_text_and_odd_answers_count_as_other(tb_factory, openai_server) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML + '[engines]\nprovider = "openai"\n'
                          "[plugins.provider_openai]\nmax_retries = 1\n")
    sent = await tb.send("!train start:true", user=tb.owner,
                         attachments=[tb.emu.file("reviews.jsonl", labelled_jsonl())])
    await _progress(tb, sent, "succeeded")
    model_id = next(iter(openai_server.jobs.values())).fine_tuned_model
    await tb.say(f"!model use {model_id}", user=tb.owner)
    answers = {"great film, loved it": "positive", "brilliant and funny": "Positive", "dull": "negative",
               "tedious": "negative", "so-so": "I am not sure", "bad jokes": "positive"}
    openai_server.chat_reply = lambda messages: answers[messages[-1]["content"]]
    data = (b'text,label\n"great film, loved it",positive\nbrilliant and funny,positive\ndull,negative\n'
            b"tedious,negative\nso-so,negative\nbad jokes,negative\n")
    reply = await tb.say("!test", attachments=[tb.emu.file("mixed.csv", data)])
    assert reply.content.startswith(f"🧪 **Test run #1**: `{model_id}` (openai) on `mixed.csv` — accuracy **66.7%** "
                                    "(4/6), macro F1 **0.73**")
    assert table_of(reply.content) == """\
label      precision  recall    f1  support
positive        0.67    1.00  0.80        2
negative        1.00    0.50  0.67        4
macro avg       0.83    0.75  0.73        6"""
    async with tb.app.storage.connect() as conn:
        run = (await conn.execute(sa.select(runs))).one()
        items = (await conn.execute(sa.select(review_items).order_by(review_items.c.id))).all()
    metrics = json.loads(run.metrics)
    assert metrics["columns"] == ["positive", "negative", OTHER]
    assert metrics["matrix"] == [[2, 0, 0], [1, 2, 1]]
    assert [(i.text, i.predicted) for i in items] == [("so-so", "I am not sure"), ("bad jokes", "positive")]
    assert [r["messages"][-1]["content"] for r in openai_server.chat_requests[-6:]] == [
        "great film, loved it", "brilliant and funny", "dull", "tedious", "so-so", "bad jokes"]
    assert all(r["model"] == model_id for r in openai_server.chat_requests[-6:])
    trained_with = openai_server.uploaded_jsonl()[0]["messages"][0]
    assert trained_with["role"] == "system" and "positive, negative" in trained_with["content"]
    assert all(r["messages"][:-1] == [trained_with] for r in openai_server.chat_requests[-6:]), \
        "each text is asked with the instruction the model was trained with"
    png_of(reply)

    inline = await tb.slash("test", {"data": json.dumps({"positive": ["great film, loved it", "brilliant and funny"],
                                                          "negative": ["dull", "tedious", "so-so", "bad jokes"]})})
    assert inline.content.startswith(f"🧪 **Test run #2**: `{model_id}` (openai) on inline data — accuracy **66.7%**")
    assert "Against run #1 on the same data" in inline.content and "accuracy +0.0 points" in inline.content
    png_of(inline)

    openai_server.fail_next(500, count=2)
    failed = await tb.say("!test " + json.dumps([{"text": "dull", "label": "negative"}]))
    assert failed.content == "The model could not answer: OpenAI refused to answer: injected 500"
    assert "Traceback" not in failed.content and "sk-test" not in failed.content
    async with tb.app.storage.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(runs))).scalar() == 2


@pytest.mark.parametrize(("command", "files", "message"), [
    ('!test [{"text": "fine", "label": }]', {},
     "The test data is not valid JSON: Expecting value at line 1, column 28."),
    ('!test [{"text": "fine"}]', {}, "The test data: example 1 (`fine`) has no label; every test example needs one."),
    ("!test", {"bad.csv": b"text,label\ngood,positive\nonly text\n"}, "`bad.csv` line 3: expected 2 columns, found 1."),
    ("!test", {"spans.csv": b'text,label\n"two\nlines",positive\nonly text\n'},
     "`spans.csv` line 4: expected 2 columns, found 1."),
    ("!test", {"bad.jsonl": b'{"text": "a", "label": "positive"}\n{"text": "b", label}\n'},
     "`bad.jsonl` line 2 is not valid JSON: Expecting property name enclosed in double quotes at column 15."),
    ("!test", {"bad.json": b'[{"text": "a",\n  "label": "positive"\n'},
     "`bad.json` is not valid JSON: Expecting ',' delimiter at line 3, column 1."),
    ("!test", {"notes.txt": b"hello"},
     "`notes.txt`: test data must be .json, .jsonl, .csv (with a label per example)."),
    ("!test []", {}, "The test data contains no examples."),
    ('!test [{"text": "fine", "label": "positive"}]', {},
     "No active model to test: train one with `!train`, then choose it with `!model use`."),
    ("!test dataset=nosuch", {}, "No dataset `nosuch`. `dataset list` shows them."),
])
@pytest.mark.backends("sqlite")  # refused before anything is stored
async def test_bad_test_data_is_answered_clearly(tb_factory, command, files, message) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML)
    attachments = [tb.emu.file(name, data) for name, data in files.items()]
    reply = await tb.say(command, attachments=attachments)
    assert reply.content == message


@pytest.mark.backends("sqlite")  # refused before anything is stored
async def test_no_data_unknown_labels_and_too_many_examples(tb_factory) -> None:
    tb = await local_bot(tb_factory, "[plugins.evaluation]\nmax_examples = 3\n")
    assert (await tb.say("!test")).content.startswith("Give test data: JSON (`!test [{")
    refused = await tb.slash("test", {"data": '[{"text": "meh", "label": "neutral"}]'})
    # `test` deferred publicly before it read the data: on Discord the first answer after a deferral takes
    # the deferral's place and visibility, so the error is public there, as it is here (nothing deleted)
    assert (refused.content, refused.ephemeral) == (
        "Label `neutral` is unknown to model `local-1`, which answers with: positive, negative.", False)
    assert not [r for r in tb.emu.requests if r.method == "DELETE"]
    too_many = json.dumps({"positive": ["a", "b"], "negative": ["c", "d"]})
    assert (await tb.say(f"!test {too_many}")).content == (
        "The test data has 4 examples; at most 3 are tested at once (`[plugins.evaluation] max_examples`).")
    two = await tb.say("!test data=[] dataset=default")
    assert two.content == "Give one source of test data at a time: JSON, an attachment or a dataset."
    assert (await tb.say("!test [] split=all")).content == "`split` chooses a part of a dataset: give `dataset` too."


@pytest.mark.backends("sqlite")  # the progress message: not the database
async def test_large_sets_show_progress_while_predicting(tb_factory) -> None:
    tb = await local_bot(tb_factory, "[plugins.evaluation]\nbatch_size = 2\n[bot]\nprogress_interval = 0.2\n")
    sent = await tb.send("!test", attachments=[tb.emu.file("known.jsonl", as_files()["known.jsonl"])])
    progress = await tb.reply_to(sent)
    report = await tb.reply_to(sent, skip=1)
    assert progress.content == "✅ Tested `local-1` on 6 examples… 6/6"
    # throttled: the versions shown are in order, starting at 0/6; a newer one may replace one not shown yet
    shown = [e["content"] for e in progress.edits]
    steps = [f"🧪 Testing `local-1` on 6 examples… {n}/6" for n in (0, 2, 4)]
    assert shown[0] == steps[0] and shown == [s for s in steps if s in shown]
    assert table_of(report.content) == KNOWN_TABLE
    png_of(report)


def reviews(count: int, seed: int = 3) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    good = ["good", "great", "excellent", "lovely", "superb", "fun", "brilliant", "enjoyable"]
    bad = ["bad", "awful", "terrible", "boring", "dull", "poor", "tedious", "horrible"]
    filler = ["the", "film", "was", "really", "quite", "plot", "acting", "and", "story", "very"]
    return [(" ".join(rng.sample(filler, 3) + rng.sample(words, 2)), label)
            for _ in range(count) for words, label in ((good, "positive"), (bad, "negative"))]


async def test_dataset_held_out_split_is_tested_and_never_trained_on(tb_factory) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML)
    data = "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in reviews(30)).encode()
    sent = await tb.send("!train", user=tb.owner, attachments=[tb.emu.file("many.jsonl", data)])
    done = await _progress(tb, sent, "succeeded")
    held_out = await tb.app.plugins.call("dataset_examples", scope=None, app=tb.app, name="default", split="test")
    trained = await tb.app.plugins.call("dataset_examples", scope=None, app=tb.app, name="default", split="train")
    assert held_out and len(held_out) + len(trained) == 60
    assert f"({len(trained)} examples)" in done.content
    shown = await tb.say("!dataset show")
    assert shown.content.startswith(f"**default** — 60 examples; labels: positive 30, negative 30; {len(held_out)} "
                                    "held out for `test dataset:default`")
    snapshot = (tb.data_root / "datasets" / "snapshots" / "job-1.jsonl").read_text("utf-8").splitlines()
    assert sorted(json.loads(line)["text"] for line in snapshot) == sorted(e.text for e in trained)
    await tb.say("!model use local-1", user=tb.owner)
    reply = await tb.say("!test dataset=default")
    assert reply.content.startswith(f"🧪 **Test run #1**: `local-1` (local) on the held-out examples of `default` — "
                                    f"accuracy **100.0%** ({len(held_out)}/{len(held_out)})")
    png_of(reply)
    everything = await tb.interaction("test", {"dataset": "default", "split": "all"})
    report = await tb.emu.wait_until(lambda: next((m for m in everything.followups if "(60/60)" in m.content), None),
                                     what="the report after the progress message")
    assert "on the examples of `default`" in report.content
    assert everything.responses[0].content == "✅ Tested `local-1` on 60 examples… 60/60"


async def test_small_datasets_have_no_held_out_part(tb_factory) -> None:
    tb = await local_bot(tb_factory)
    assert await tb.app.plugins.call("dataset_examples", scope=None, app=tb.app, name="default", split="test") == []
    assert (await tb.say("!test dataset=default")).content.startswith(
        "Dataset `default` has no held-out examples yet")


async def test_hook_dataset_examples(tb_factory) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML)
    data = "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in reviews(20)).encode()
    sent = await tb.send("!train", user=tb.owner, attachments=[tb.emu.file("many.jsonl", data)])
    await _progress(tb, sent, "succeeded")

    async def split(name: str) -> list:
        return await tb.app.plugins.call("dataset_examples", scope=None, app=tb.app, name="default", split=name)

    train, test, everything = await split("train"), await split("test"), await split("all")
    assert sorted(train + test, key=repr) == sorted(everything, key=repr) and not set(train) & set(test)
    assert {e.label for e in test} == {e.label for e in train} == {"positive", "negative"}
    assert 0 < len(test) < len(train) and await split("test") == test  # deterministic
    assert await tb.app.plugins.call("dataset_examples", scope=None, app=tb.app, name="nosuch", split="all") is None
    with pytest.raises(UserError, match="Unknown split `everything`"):
        await tb.app.plugins.call("dataset_examples", scope=None, app=tb.app, name="default", split="everything")
    assert tb.app.plugins.enabled_in("training", None)


async def test_hook_add_dataset_examples(tb_factory) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML)

    async def add(name, examples):
        return await tb.app.plugins.call("add_dataset_examples", scope=None, app=tb.app, name=name,
                                         examples=examples, author_id=int(tb.owner.id))

    assert await add(None, [Example("lovely", "positive"), Example("awful", "negative")]) == ("default", 2, 0)
    assert await add("extra", [Example("lovely", "positive")]) == ("extra", 1, 0)
    assert await add(None, [Example("lovely", "positive")]) == ("default", 0, 1)
    assert await add("../escape", [Example("x", "positive")]) is None  # no dataset of training's has that name
    with pytest.raises(UserError, match="Label `meh` is not one of dataset `default`'s labels"):
        await add(None, [Example("so-so", "meh")])
    stored = await tb.app.plugins.call("dataset_examples", scope=None, app=tb.app, name="default", split="all")
    assert sorted(stored, key=repr) == [Example("awful", "negative"), Example("lovely", "positive")]


async def test_another_plugin_can_keep_datasets_for_testing(tb_factory) -> None:
    def examples(app, name: str, split: str) -> list[Example] | None:
        return [Example(text, label) for text, label in KNOWN] if name == "fixtures" else None

    tb = await local_bot(tb_factory, extra_plugins={"fixtures": plugin(dataset_examples=examples)})
    reply = await tb.say("!test dataset=fixtures")
    assert reply.content.startswith("🧪 **Test run #1**: `local-1` (local) on the held-out examples of `fixtures` — "
                                    "accuracy **83.3%** (5/6)")
    assert table_of(reply.content) == KNOWN_TABLE


async def test_users_test_runs_are_exported_and_deleted(tb_factory) -> None:
    tb = await local_bot(tb_factory)
    await tb.say("!test " + json.dumps([{"text": t, "label": label} for t, label in KNOWN]))
    exported = dict(await tb.app.plugins.call("export_user_data", scope=None, app=tb.app,
                                              user_id=tb.user.id))["evaluation"]
    assert [r["source"] for r in exported["test_runs"]] == ["inline data"]
    assert [r["text"] for r in exported["test_review_items"]] == ["I hated every minute"]
    owner = dict(await tb.app.plugins.call("export_user_data", scope=None, app=tb.app,
                                           user_id=tb.owner.id))["evaluation"]
    assert owner == {"test_runs": [], "test_review_items": []}
    deleted = dict(await tb.app.plugins.call("delete_user_data", scope=None, app=tb.app, user_id=tb.user.id))
    assert deleted["evaluation"] == 2
    assert (await tb.say("!tests history")).content.startswith("No test runs yet.")


async def test_a_provider_answering_too_few_texts_is_refused_not_a_traceback(tb_factory) -> None:
    """Answers are matched to examples by position: a (third-party) provider that skips one would
    pair every later answer with the wrong example, so the run stops with a clear message."""
    class Short(ModelProvider):
        name = "short"
        min_examples = 1

        async def predict(self, model_id, texts, labels, *, instruction=""):
            return ["positive"] * (len(texts) - 1)

    def register_model_providers(register, app) -> None:
        register("short", Short())

    tb = await tb_factory(plugins_toml=TRAINING_TOML, extra_plugins={
        "short_provider": plugin(register_model_providers=register_model_providers)})
    async with tb.app.storage.begin() as conn:
        await conn.execute(trained_models.insert().values(provider="short", model_id="short-1", active=True,
                                                          labels=json.dumps(["positive", "negative"])))
    reply = await tb.say('!test {"positive": ["great"], "negative": ["awful"]}')
    assert reply.content == ("The model could not answer: The `short` provider gave 1 answers for 2 examples, so "
                             "they cannot be matched; nothing was stored.")
    assert (await tb.say("!tests history")).content.startswith("No test runs yet.")


async def test_run_and_item_numbers_beyond_any_id_are_refused_clearly(tb_factory) -> None:
    tb = await local_bot(tb_factory)
    huge = "99999999999999999999"
    assert (await tb.say(f"!tests show {huge}")).content == (
        f"`{huge}` is not a test run number; `tests history` shows them.")
    assert (await tb.say(f"!tests review {huge}")).content.startswith(f"`{huge}` is not a test run number")
    refused = await tb.say(f"!tests resolve 1,{huge}", user=tb.owner)
    assert refused.content == f"`1,{huge}`: give review item numbers, e.g. `4` or `4,5,6`."


@pytest.mark.backends("sqlite")  # the report's image: not the database
async def test_too_many_labels_for_an_image_still_get_the_report(tb_factory) -> None:
    """A model without labels takes them from the test data, up to one per example: the image
    (growing with the square) is left out beyond 30 labels, the figures are all there."""
    class Echo(ModelProvider):
        name, min_examples = "echo", 1

        async def predict(self, model_id, texts, labels, *, instruction=""):
            return [text.split()[0] for text in texts]

    def register_model_providers(register, app) -> None:
        register("echo", Echo())

    tb = await tb_factory(plugins_toml=TRAINING_TOML + "[plugins.evaluation]\nbatch_size = 100\n", extra_plugins={
        "echo_provider": plugin(register_model_providers=register_model_providers)})
    async with tb.app.storage.begin() as conn:
        await conn.execute(trained_models.insert().values(provider="echo", model_id="echo-1", active=True))
    data = json.dumps([{"text": f"l{n} text", "label": f"l{n}"} for n in range(31)])
    sent = await tb.send(f"!test {data}")
    report = await tb.reply_to(sent)
    assert report.content.startswith("🧪 **Test run #1**: `echo-1` (echo) on inline data — accuracy **100.0%** (31/31)")
    assert table_of(report.content).splitlines()[-1].split() == ["macro", "avg", "1.00", "1.00", "1.00", "31"]
    assert report.content.endswith("No misclassified examples.\n(No confusion-matrix image: 31 labels are more than "
                                   "the 30 one can show.)")
    assert not report.attachments
