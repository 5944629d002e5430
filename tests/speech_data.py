"""Speech test material, for tests and `make bench` alike: human clips, synthetic voices, noise, WER.

Human speech: the 12 clips of Debian's ``pocketsphinx-testdata`` package that come with transcripts
(5 LibriVox sentences, 5 "cards" utterances, TIDIGITS ``2934z`` and ``goforward``; 101 words). It is
the only recorded human speech that installs here; `.ci/run` installs it with apt-get.

Synthetic voices: espeak-ng (through the pyttsx3 engine's library) and Festival's ``kal_diphone``
(Debian's ``festival`` + ``festvox-kallpc16k``, also installed by `.ci/run`), three speaking rates
each, with white noise 20 dB below the speech.

This module is the checker's own: its normalisation and WER do not come from the code under test.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

TESTDATA = Path("/usr/share/pocketsphinx/test/data")
TESTDATA_MISSING = ("Debian's pocketsphinx-testdata package is not installed (apt-get install pocketsphinx-testdata; "
                    ".ci/run installs it)")
FESTIVAL_MISSING = "Festival is not installed (apt-get install festival festvox-kallpc16k; .ci/run installs it)"

WAKE = "hey computer"
COMMANDS = ["play some music", "stop the music", "next song", "turn the volume up", "turn the volume down",
            "what time is it", "tell me a joke", "start training", "show the results", "leave the channel"]
OUT_OF_GRAMMAR = ["the weather is nice today", "please open the window", "hey computer bake a chocolate cake",
                  "my dog likes to run", "call my mother tonight"]
"""Not commands; one starts with the wake phrase (a command the bot does not have)."""
PHRASES = [f"{WAKE} {c}" for c in COMMANDS]
ESPEAK_RATES = (150, 175, 200)
FESTIVAL_STRETCH = (0.9, 1.0, 1.15)


def _pcm_of(path: Path) -> bytes:
    if path.suffix == ".wav":
        with wave.open(str(path)) as source:
            assert (source.getframerate(), source.getnchannels(), source.getsampwidth()) == (16000, 1, 2)
            return source.readframes(source.getnframes())
    return path.read_bytes()  # .raw: 16 kHz mono s16le already


def _transcripts(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text("utf-8").splitlines():
        match = re.match(r"<s>(.*)</s>\s*\((.+)\)", line.strip())
        if match:
            found[match.group(2)] = match.group(1).strip()
    return found


def human_clips() -> list[tuple[str, bytes, str]]:
    """(name, 16 kHz s16le PCM, reference transcript) of the 12 clips; empty without the package."""
    if not TESTDATA.is_dir():
        return []
    clips = []
    for folder, listing in (("librivox", "transcription"), ("cards", "cards.transcription")):
        for name, text in sorted(_transcripts(TESTDATA / folder / listing).items()):
            clips.append((f"{folder}/{name}", _pcm_of(TESTDATA / folder / f"{name}.wav"), text))
    clips.append(("tidigits/dhd.2934z", _pcm_of(TESTDATA / "tidigits/dhd.2934z.raw"), "two nine three four zero"))
    clips.append(("goforward", _pcm_of(TESTDATA / "goforward.raw"), "go forward ten meters"))
    return clips


def wav_bytes(pcm: bytes, rate: int = 16000) -> bytes:
    import io

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------- WER

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
        "seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SPELLED = {"mr": "mister", "mrs": "missus", "dr": "doctor", "metres": "meters"}


def _number_words(n: int) -> list[str]:
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (_number_words(n % 100) if n % 100 else [])
    return [_ONES[int(d)] for d in str(n)]


def normalise(text: str) -> list[str]:
    """Lowercase words, punctuation and hyphens gone, numbers spelled out ("10" -> "ten")."""
    out: list[str] = []
    for token in re.sub(r"[^a-z0-9']+", " ", text.lower()).split():
        token = token.strip("'")
        if token.isdigit():
            out.extend(_number_words(int(token)))
        elif token:
            out.append(_SPELLED.get(token, token))
    return out


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words): Levenshtein over words."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[len(hyp)], len(ref)


# ----------------------------------------------------------------------------------------- voices


def festival_available() -> bool:
    return shutil.which("text2wave") is not None


def festival_pcm(text: str, stretch: float = 1.0) -> bytes:
    """Festival's kal_diphone voice speaking ``text``, as 16 kHz s16le PCM (blocking)."""
    from framework.audio import decode_pcm

    done = subprocess.run(["text2wave", "-eval", f"(Parameter.set 'Duration_Stretch {stretch})", "-o", "/dev/stdout"],
                          input=text.encode(), capture_output=True, check=True, timeout=60)
    return decode_pcm(done.stdout)


async def espeak_pcm(engine: object, text: str, rate: int = 175) -> bytes:
    """espeak-ng (US English) speaking ``text`` through a pyttsx3 engine, as 16 kHz s16le PCM."""
    from framework.audio import decode_pcm

    audio = await engine.synthesize(text, language="en-us", rate=rate)  # type: ignore[attr-defined]
    return decode_pcm(audio.wav)


def with_noise(pcm: bytes, snr_db: float = 20.0, seed: int = 0) -> bytes:
    """White noise ``snr_db`` below the clip's RMS level, added (a fixed seed: the same every run)."""
    signal = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    rms = float(np.sqrt(np.mean(signal ** 2))) if signal.size else 0.0
    noise = np.random.default_rng(seed).normal(0.0, rms / (10 ** (snr_db / 20)), signal.size)
    return np.clip(signal + noise, -32768, 32767).astype(np.int16).tobytes()


async def command_clips(espeak_engine: object) -> list[tuple[str, str, bytes, str]]:
    """(voice, expected phrase or "" for out-of-grammar, noisy PCM, the text spoken): wake phrase + each
    command by both voices at three rates (60 clips), then the 5 out-of-grammar sentences by both (10)."""
    import asyncio

    clips: list[tuple[str, str, bytes, str]] = []
    for rate in ESPEAK_RATES:
        for command in COMMANDS:
            text = f"{WAKE}, {command}"
            clips.append(("espeak", f"{WAKE} {command}", await espeak_pcm(espeak_engine, text, rate), text))
    for stretch in FESTIVAL_STRETCH:
        for command in COMMANDS:
            text = f"{WAKE}, {command}"
            clips.append(("festival", f"{WAKE} {command}", await asyncio.to_thread(festival_pcm, text, stretch), text))
    for sentence in OUT_OF_GRAMMAR:
        clips.append(("espeak", "", await espeak_pcm(espeak_engine, sentence), sentence))
        clips.append(("festival", "", await asyncio.to_thread(festival_pcm, sentence), sentence))
    return [(voice, expected, with_noise(pcm, 20.0, seed), text)
            for seed, (voice, expected, pcm, text) in enumerate(clips)]
