"""Phrase mode for speech engines: a recogniser that may only answer one of a few known phrases.

Free recognisers (Whisper) transcribe freely and are then matched to the nearest phrase, with a
threshold below which the audio counts as none of them (an out-of-grammar utterance must be
rejected, not forced onto the closest command). Grammar recognisers (PocketSphinx) need the
phrases as plain lowercase words. Both use :func:`words` so that "Play some music!" and
"play some music" are the same phrase.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

_NOT_WORD = re.compile(r"[^\w']+")


def words(text: str) -> list[str]:
    """Lowercase words without punctuation; hyphens split words ("ill-disposed" -> ill, disposed)."""
    return [w.strip("'") for w in _NOT_WORD.sub(" ", text.lower().replace("_", " ")).split() if w.strip("'")]


def similarity(heard: str, phrase: str) -> float:
    """How alike two texts are, in [0, 1], on their normalised characters (robust to a split or a
    misheard letter, which word-level matching is not)."""
    return difflib.SequenceMatcher(None, " ".join(words(heard)), " ".join(words(phrase)), autojunk=False).ratio()


def nearest(heard: str, phrases: Sequence[str], threshold: float) -> tuple[str | None, float]:
    """The phrase closest to ``heard`` and its similarity; ``None`` when even the closest is below
    ``threshold`` (the speaker said something else)."""
    if not phrases or not words(heard):
        return None, 0.0
    scored = [(similarity(heard, p), i) for i, p in enumerate(phrases)]
    score, index = max(scored, key=lambda pair: (pair[0], -pair[1]))  # ties: the first listed
    return (phrases[index] if score >= threshold else None), score


def prompt(phrases: Sequence[str]) -> str:
    """A decoder prompt that makes the phrases' words likely (Whisper's ``initial_prompt``)."""
    return "Commands: " + ", ".join(" ".join(words(p)) for p in phrases) + "."
