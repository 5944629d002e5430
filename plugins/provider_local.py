"""The ``local`` model provider: an offline text classifier trained on the dataset snapshot.

Multinomial naive Bayes over word unigrams and bigrams with Laplace smoothing, in numpy (already
a dependency): no scikit-learn/scipy (~100 MB more). Trains in milliseconds on thousands of
examples; saved as JSON under ``data/models/local``. Its "chat" answers honestly with the
predicted label and its probability — it is a classifier, not a language model.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import hookimpl
from framework.errors import ProviderError
from framework.lazy import import_engine
from framework.providers import Correction, JobStatus, StartProgress, TrainingRequest

if TYPE_CHECKING:  # pragma: no cover - typing only; numpy is imported when a model is first trained or used
    import numpy as np

    from framework.hookspecs import RegisterEngine
    from framework.host import Host

TOKEN = re.compile(r"\w+", re.UNICODE)
MODEL_ID = re.compile(r"local-[0-9]{1,19}")
"""The ids this provider gives its models (``local-<job>``)."""


def _numpy() -> Any:
    """numpy, imported on the first training or prediction (always in the thread pool)."""
    return import_engine("numpy", "local provider")


def features(text: str) -> list[str]:
    words = [w.lower() for w in TOKEN.findall(text)]
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


class NaiveBayes:
    def __init__(self, labels: list[str], vocabulary: dict[str, int], log_prior: np.ndarray,
                 log_likelihood: np.ndarray) -> None:
        self.labels, self.vocabulary = labels, vocabulary
        self.log_prior, self.log_likelihood = log_prior, log_likelihood

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], alpha: float = 1.0) -> NaiveBayes:
        np = _numpy()
        classes = sorted(set(labels))
        vocabulary: dict[str, int] = {}
        docs = [Counter(features(t)) for t in texts]
        for doc in docs:
            for token in doc:
                vocabulary.setdefault(token, len(vocabulary))
        counts = np.zeros((len(classes), len(vocabulary)))
        for doc, label in zip(docs, labels, strict=True):
            row = classes.index(label)
            for token, n in doc.items():
                counts[row, vocabulary[token]] += n
        prior = np.array([labels.count(c) for c in classes], dtype=float)
        smoothed = counts + alpha
        return cls(classes, vocabulary, np.log(prior / prior.sum()),
                   np.log(smoothed / smoothed.sum(axis=1, keepdims=True)))

    def scores(self, text: str) -> np.ndarray:
        result = self.log_prior.copy()
        for token, n in Counter(features(text)).items():
            if (index := self.vocabulary.get(token)) is not None:
                result += n * self.log_likelihood[:, index]
        return result

    def predict(self, text: str) -> tuple[str, float]:
        np = _numpy()
        scores = self.scores(text)
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        best = int(probabilities.argmax())
        return self.labels[best], float(probabilities[best])

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"labels": self.labels, "vocabulary": self.vocabulary,
                                    "log_prior": self.log_prior.tolist(),
                                    "log_likelihood": self.log_likelihood.tolist()}), "utf-8")

    @classmethod
    def load(cls, path: Path) -> NaiveBayes:
        data = json.loads(path.read_text("utf-8"))
        np = _numpy()
        return cls(data["labels"], data["vocabulary"], np.array(data["log_prior"]), np.array(data["log_likelihood"]))


def label_corrections(request: TrainingRequest) -> list[dict[str, str]]:
    """Corrections this classifier can learn from: those whose corrected text is one of the labels
    (any case), as prompt → label examples. Free-text corrections need a language model."""
    labels = {label.lower(): label for label in request.labels}
    return [{"text": c.prompt, "label": labels[c.correction.strip().lower()]}
            for c in request.corrections if c.correction.strip().lower() in labels]


class LocalProvider:
    name = "local"
    min_examples = 2
    free_training = True
    """Training runs here, in milliseconds: ``train`` starts a job by itself."""

    def learns_from(self, correction: Correction, labels: Sequence[str]) -> bool:
        """Only a correction that is one of the labels: free text needs a language model."""
        return correction.correction.strip().lower() in {label.lower() for label in labels}

    def __init__(self, app: Host) -> None:
        self.app = app
        self._loaded: dict[str, NaiveBayes] = {}

    def _path(self, model_id: str) -> Path:
        """A model's file, ``models/local/<id>.json``: the id goes through the data root's one door for names."""
        return self.app.data_root.name_path("models/local", model_id, ".json", what="model id")

    def _train(self, request: TrainingRequest) -> str:
        rows = [json.loads(line) for line in request.snapshot.read_text("utf-8").splitlines() if line.strip()]
        rows += label_corrections(request)
        if len({r["label"] for r in rows}) < 2:
            raise ProviderError("The local model needs examples of at least two labels.")
        model = NaiveBayes.fit([r["text"] for r in rows], [r["label"] for r in rows])
        model_id = f"local-{request.job_id}"
        model.save(self._path(model_id))
        return model_id

    async def start(self, request: TrainingRequest) -> str:
        """Train in the thread pool. The saved model is recorded as the start's file: a start
        resumed after a restart uses it, and a job cancelled meanwhile has it deleted (``discard``)."""
        progress = request.progress
        done = progress.files.get("model") if progress is not None else None
        if done and MODEL_ID.fullmatch(done):
            saved: bool = await self.app.run_blocking(self._saved, done)
            if saved:  # trained and recorded before a restart: launched already
                return done
        model_id = await self.app.run_blocking(self._train, request)
        if progress is not None:
            await progress.uploaded({"model": model_id})
        return model_id

    def _saved(self, model_id: str) -> bool:
        return self._path(model_id).exists()

    async def discard(self, progress: StartProgress) -> None:
        """Delete the model a start saved for a job that will not run."""
        model_id = progress.files.get("model", "")
        if MODEL_ID.fullmatch(model_id):  # only names this provider made: never a path from elsewhere
            await self.app.run_blocking(lambda: self._path(model_id).unlink(missing_ok=True))
            self._loaded.pop(model_id, None)

    async def poll(self, provider_job_id: str) -> JobStatus:
        exists = (await self.app.run_blocking(self._path, provider_job_id)).exists()
        return JobStatus("succeeded", ("trained a naive Bayes classifier",), model_id=provider_job_id) if exists \
            else JobStatus("failed", error="the trained model file is missing")

    async def cancel(self, provider_job_id: str) -> None:
        raise ProviderError("Local training finishes immediately; there is nothing to cancel.")

    def _model(self, model_id: str) -> NaiveBayes:
        if model_id not in self._loaded:
            path = self._path(model_id)
            if not path.exists():
                raise ProviderError(f"No local model `{model_id}`.")
            self._loaded[model_id] = NaiveBayes.load(path)
        return self._loaded[model_id]

    async def predict(self, model_id: str, texts: Sequence[str], labels: Sequence[str] = (), *,
                      instruction: str = "") -> list[str]:
        """Naive Bayes reads the text alone; the instruction does not apply."""
        model = await self.app.run_blocking(self._model, model_id)
        return await self.app.run_blocking(lambda: [model.predict(t)[0] for t in texts])

    async def chat(self, model_id: str | None, messages: Sequence[dict[str, str]]) -> str:
        if model_id is None:
            raise ProviderError("No local model is active yet: train one with `train`, then `model use`.")
        model = await self.app.run_blocking(self._model, model_id)
        label, probability = await self.app.run_blocking(model.predict, messages[-1]["content"])
        return f"{label} ({probability:.0%} sure)"


@hookimpl
def register_model_providers(register: RegisterEngine, app: Host) -> None:
    register("local", LocalProvider(app))


def accuracy(predicted: Sequence[str], expected: Sequence[str]) -> float:
    return sum(p == e for p, e in zip(predicted, expected, strict=True)) / len(expected) if expected else math.nan
