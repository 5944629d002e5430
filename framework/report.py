"""Evaluation reports: classification metrics and a confusion-matrix image, as pure functions.

Kept free of Discord and storage so they are unit-tested directly and run in a worker thread
(``await app.run_blocking(render_confusion_png, metrics)``). Metrics follow the usual
definitions (scikit-learn's, with 0 where a ratio is undefined): per label precision, recall,
F1 and support, accuracy over all examples, and macro averages over the given labels.

A prediction outside the labels (a language model answering in words) counts as wrong and is
shown in the matrix as the column :data:`OTHER`; it is nobody's precision.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from typing import Any

OTHER = "(other)"
"""The confusion-matrix column for predictions that are none of the labels."""


@dataclasses.dataclass(frozen=True)
class LabelMetrics:
    label: str
    precision: float
    recall: float
    f1: float
    support: int
    """How many examples truly have this label."""


@dataclasses.dataclass(frozen=True)
class Metrics:
    total: int
    correct: int
    labels: tuple[str, ...]
    """The matrix rows (true labels), in order; columns are these plus :data:`OTHER` when used."""
    columns: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]
    """``matrix[i][j]``: examples of ``labels[i]`` predicted as ``columns[j]``."""
    per_label: tuple[LabelMetrics, ...]

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def _macro(self, field: str) -> float:
        return sum(getattr(m, field) for m in self.per_label) / len(self.per_label) if self.per_label else 0.0

    @property
    def macro_precision(self) -> float:
        return self._macro("precision")

    @property
    def macro_recall(self) -> float:
        return self._macro("recall")

    @property
    def macro_f1(self) -> float:
        return self._macro("f1")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the derived figures too (for export and history)."""
        return {"total": self.total, "correct": self.correct, "accuracy": self.accuracy,
                "labels": list(self.labels), "columns": list(self.columns), "matrix": [list(r) for r in self.matrix],
                "per_label": [dataclasses.asdict(m) for m in self.per_label],
                "macro": {"precision": self.macro_precision, "recall": self.macro_recall, "f1": self.macro_f1}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metrics:
        return cls(data["total"], data["correct"], tuple(data["labels"]), tuple(data["columns"]),
                   tuple(tuple(r) for r in data["matrix"]), tuple(LabelMetrics(**m) for m in data["per_label"]))


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def compute_metrics(expected: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> Metrics:
    """Metrics of ``predicted`` against ``expected``. ``labels`` fixes the order and the classes
    the macro averages run over; expected labels missing from it are appended."""
    if len(expected) != len(predicted):
        raise ValueError(f"{len(expected)} expected labels but {len(predicted)} predictions")
    rows = list(dict.fromkeys([*labels, *expected]))
    index = {label: i for i, label in enumerate(rows)}
    other = any(p not in index for p in predicted)
    columns = (*rows, OTHER) if other else tuple(rows)
    matrix = [[0] * len(columns) for _ in rows]
    for want, got in zip(expected, predicted, strict=True):
        matrix[index[want]][index.get(got, len(rows))] += 1
    per_label = []
    for i, label in enumerate(rows):
        tp = matrix[i][i]
        predicted_as = sum(matrix[r][i] for r in range(len(rows)))
        support = sum(matrix[i])
        precision, recall = _ratio(tp, predicted_as), _ratio(tp, support)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label.append(LabelMetrics(label, precision, recall, f1, support))
    correct = sum(matrix[i][i] for i in range(len(rows)))
    return Metrics(len(expected), correct, tuple(rows), columns, tuple(tuple(r) for r in matrix), tuple(per_label))


def metrics_table(metrics: Metrics, width: int = 14) -> str:
    """A fixed-width table (for a code block): one line per label, then the macro average."""
    name = max(9, min(width, max((len(m.label) for m in metrics.per_label), default=0)))

    def cut(text: str) -> str:
        return text if len(text) <= name else text[: name - 1] + "…"

    lines = [f"{'label':<{name}}  precision  recall    f1  support"]
    for m in metrics.per_label:
        lines.append(f"{cut(m.label):<{name}}  {m.precision:9.2f}  {m.recall:6.2f}  {m.f1:4.2f}  {m.support:7d}")
    lines.append(f"{'macro avg':<{name}}  {metrics.macro_precision:9.2f}  {metrics.macro_recall:6.2f}  "
                 f"{metrics.macro_f1:4.2f}  {metrics.total:7d}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the image


def _short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _font(size: int, bold: bool = False) -> Any:
    """DejaVu Sans where the system has it (wide glyph coverage), else Pillow's bundled font."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def render_confusion_png(metrics: Metrics, title: str = "") -> bytes:
    """The confusion matrix as a PNG: true labels down the side, predicted along the top, the
    count in every cell, shaded by the share of its row (so small classes read as clearly)."""
    from PIL import Image, ImageDraw

    font, small, bold = _font(16), _font(13), _font(18, bold=True)
    rows = [_short(label) for label in metrics.labels]
    cols = [_short(label) for label in metrics.columns]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_width(text: str, f: Any = font) -> int:
        return int(probe.textlength(text, font=f))

    cell = max(72, max(text_width(c) for c in cols) + 16)
    left = 40 + max(text_width(r) for r in rows) + 16
    top = 40 + (30 if title else 0) + 30
    footer = f"accuracy {metrics.accuracy:.1%} · macro F1 {metrics.macro_f1:.2f} · {metrics.total} examples"
    width = max(left + cell * len(cols) + 30, text_width(title, bold) + 40, left + text_width(footer, small) + 20)
    height = top + cell * len(rows) + 50
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    if title:
        draw.text((20, 14), title, fill="black", font=bold)
    draw.text((left + cell * len(cols) / 2, top - 48), "Predicted label", fill="black", font=font, anchor="mm")
    for j, name in enumerate(cols):
        draw.text((left + cell * j + cell / 2, top - 14), name, fill="black", font=small, anchor="mm")
    axis = Image.new("RGBA", (cell * len(rows), 24), (255, 255, 255, 0))
    ImageDraw.Draw(axis).text((axis.width / 2, 12), "True label", fill="black", font=font, anchor="mm")
    rotated = axis.rotate(90, expand=True)
    image.paste(rotated, (8, top), rotated)
    for i, name in enumerate(rows):
        draw.text((left - 10, top + cell * i + cell / 2), name, fill="black", font=small, anchor="rm")
        total = sum(metrics.matrix[i]) or 1
        for j, count in enumerate(metrics.matrix[i]):
            share = count / total
            good = i == j
            base = (46, 125, 50) if good else (198, 40, 40)
            colour = tuple(int(255 - (255 - c) * share) for c in base)
            box = (left + cell * j, top + cell * i, left + cell * (j + 1), top + cell * (i + 1))
            draw.rectangle(box, fill=colour, outline=(90, 90, 90))
            ink = "white" if share > 0.55 else "black"
            draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), str(count), fill=ink, font=bold, anchor="mm")
    draw.text((left, top + cell * len(rows) + 16), footer, fill=(60, 60, 60), font=small)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
