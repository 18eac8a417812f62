"""Ceiling and chance floor of the melody-adherence metrics, per instrument: how high a perfect performance scores.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/adherence_ceilings.py [--per-collection 8] [--seconds 10]

Argmax chroma follows an instrument's strongest harmonic, so a model that plays exactly the right notes on a
clarinet need not score what it scores on a flute. This measures that ceiling. Sixteen monophonic tunes (8 Essen
folk songs and 8 O'Neill dance tunes from the music21 corpus, at 120 quarter notes per minute, cut or repeated to
10 s) are rendered with FluidSynth in six General MIDI programs and each rendering is scored against the
reference rendering of the same notes in the melody sketch's timbre (`mmgen.melody.sketch.render_sketch`,
partials 1..8 at 1/k, the audio MMGen's melody condition is made from):

- `audiocraft_chroma_cosine`, `melody_accuracy` (`mmgen.eval.adherence`: MusicGen's and Music ControlNet's
  definitions, audio against the sketch audio);
- `chroma_cosine`, `melody_note_f1` (`mmgen.eval.melody`: against the notes themselves; F1 only).

The chance floor scores, for each tune, another tune's rendering (a seeded derangement, the same for every program)
against this tune's sketch and notes. A `sketch` row scores the sketch audio itself (trivially 1 for the
audio-to-audio metrics; the note-based metrics show what the sketch timbre itself reaches). Std is over tunes
(population std). Writes benchmarks/results/adherence_ceilings.json.

Each waveform's frames are computed once (`audiocraft_chroma`, `melody_chroma_argmax`, one Basic Pitch
transcription) and pairs are scored from them; all clips have the same length, so this equals calling the metric
functions on every pair (checked on the first tune of every program).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from importlib import metadata

import numpy as np

from mmgen.audio import SAMPLE_RATE
from mmgen.eval.adherence import (
    audiocraft_chroma,
    audiocraft_chroma_cosine,
    melody_accuracy,
    melody_chroma_argmax,
)
from mmgen.eval.bench import machine, write_json
from mmgen.eval.melody import chroma_cosine, note_f1
from mmgen.melody.corpus import iter_corpus_pieces
from mmgen.melody.notes import skyline
from mmgen.melody.sketch import check_sketch_pitches, fit_to_length, render_sketch
from mmgen.melody.synth import find_soundfont, fluidsynth_available, render_notes
from mmgen.melody.transcribe import extract_notes

PROGRAMS = {73: "flute", 40: "violin", 71: "clarinet", 0: "piano", 56: "trumpet", 24: "nylon guitar"}
METRICS = ("audiocraft_chroma_cosine", "melody_accuracy", "chroma_cosine", "melody_note_f1")
SKETCH = "sketch"


def _fixed_length(wave: np.ndarray, num_samples: int) -> np.ndarray:
    wave = wave[:num_samples]
    return np.pad(wave, (0, num_samples - wave.size)).astype(np.float32)


def _melodies(collections: list[str], per_collection: int, seconds: float, bpm: float, seed: int):
    melodies = []
    for collection in collections:
        for piece in iter_corpus_pieces(collection, limit=per_collection, seed=seed):
            notes = fit_to_length(skyline(piece.to_notes(bpm, part=0)), seconds)
            check_sketch_pitches(notes, piece.name)
            melodies.append((piece.name, notes))
    return melodies


class _Features:
    """What the pair scores need from one waveform, computed once."""

    def __init__(self, wave: np.ndarray):
        self.wave = wave
        self.audiocraft = audiocraft_chroma(wave, SAMPLE_RATE).argmax(axis=1)
        self.melody = melody_chroma_argmax(wave, SAMPLE_RATE)
        self.transcription = extract_notes(wave, SAMPLE_RATE)


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    frames = min(a.size, b.size)
    return float(np.mean(a[:frames] == b[:frames]))


def _score(generated: _Features, reference: _Features, notes) -> dict:
    return {
        "audiocraft_chroma_cosine": _agreement(generated.audiocraft, reference.audiocraft),
        "melody_accuracy": _agreement(generated.melody, reference.melody),
        "chroma_cosine": chroma_cosine(generated.wave, notes, SAMPLE_RATE),
        "melody_note_f1": note_f1(notes, generated.transcription)["f1"],  # = melody_note_f1(wave, notes, sr)
    }


def _summary(rows: list[dict]) -> dict:
    return {
        m: {
            "mean": round(float(np.mean([r[m] for r in rows])), 4),
            "std": round(float(np.std([r[m] for r in rows])), 4),
        }
        for m in METRICS
    }


def _versions() -> dict:
    out = {}
    for name in ("numpy", "scipy", "librosa", "soxr", "pyfluidsynth", "music21", "basic-pitch", "onnxruntime"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", nargs="+", default=["essen", "oneills"], help="mmgen.melody.corpus names")
    parser.add_argument("--per-collection", type=int, default=8, help="tunes per collection")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--bpm", type=float, default=120.0, help="quarter notes per minute")
    parser.add_argument("--seed", type=int, default=0, help="corpus order and the chance-floor pairing")
    parser.add_argument(
        "--output", default=os.path.join(os.path.dirname(__file__), "results", "adherence_ceilings.json")
    )
    args = parser.parse_args()
    if not fluidsynth_available():
        sys.exit("FluidSynth or a GM soundfont is missing: the ceilings are per GM instrument and need it.")
    start = time.perf_counter()
    timings = {}

    melodies = _melodies(args.collections, args.per_collection, args.seconds, args.bpm, args.seed)
    num_samples = int(round(args.seconds * SAMPLE_RATE))
    rng = np.random.default_rng(args.seed)
    count = len(melodies)
    others = [(i + int(rng.integers(1, count))) % count for i in range(count)]  # never the tune itself
    timings["corpus_s"] = time.perf_counter() - start

    tick = time.perf_counter()
    sketches = [_Features(render_sketch(notes, num_samples)) for _, notes in melodies]
    renders = {
        program: [_Features(_fixed_length(render_notes(notes, program=program), num_samples)) for _, notes in melodies]
        for program in PROGRAMS
    }
    timings["render_and_features_s"] = time.perf_counter() - tick

    tick = time.perf_counter()
    checks = {}
    for program, features in renders.items():  # the cached frames give what the metric functions give
        generated, reference = features[0].wave, sketches[0].wave
        direct = (
            audiocraft_chroma_cosine(generated, reference, SAMPLE_RATE),
            melody_accuracy(generated, reference, SAMPLE_RATE),
        )
        cached = _score(features[0], sketches[0], melodies[0][1])
        assert abs(direct[0] - cached["audiocraft_chroma_cosine"]) < 1e-9, (program, direct, cached)
        assert abs(direct[1] - cached["melody_accuracy"]) < 1e-9, (program, direct, cached)
        checks[PROGRAMS[program]] = True

    rows = {SKETCH: sketches, **{PROGRAMS[p]: f for p, f in renders.items()}}
    ceiling, chance, per_tune = {}, {}, {}
    for name, features in rows.items():
        own = [_score(features[i], sketches[i], melodies[i][1]) for i in range(count)]
        floor = [_score(features[others[i]], sketches[i], melodies[i][1]) for i in range(count)]
        ceiling[name], chance[name] = _summary(own), _summary(floor)
        per_tune[name] = {m: [round(r[m], 4) for r in own] for m in METRICS}
    timings["scoring_s"] = time.perf_counter() - tick
    timings["total_s"] = time.perf_counter() - start

    result = {
        "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/adherence_ceilings.py "
        + f"--collections {' '.join(args.collections)} --per-collection {args.per_collection} "
        + f"--seconds {args.seconds} --bpm {args.bpm} --seed {args.seed}",
        "arguments": {k: v for k, v in vars(args).items() if k != "output"},
        "setup": {
            "sample_rate": SAMPLE_RATE,
            "programs": {str(p): n for p, n in PROGRAMS.items()},
            "reference": "mmgen.melody.sketch.render_sketch of the same notes (partials 1..8 at 1/k)",
            "renderer": "FluidSynth",
            "soundfont": os.path.basename(find_soundfont() or ""),
            "chance": "another tune's rendering (seeded derangement, same pairing for every program)",
            "std": "population std over tunes",
        },
        "metrics": {
            "audiocraft_chroma_cosine": "mmgen.eval.adherence.audiocraft_chroma_cosine(render, sketch)",
            "melody_accuracy": "mmgen.eval.adherence.melody_accuracy(render, sketch)",
            "chroma_cosine": "mmgen.eval.melody.chroma_cosine(render, notes) (argmax, frames where notes sound)",
            "melody_note_f1": "mmgen.eval.melody.melody_note_f1(render, notes)['f1'] (Basic Pitch, 50 ms onsets)",
        },
        "ceiling": ceiling,
        "chance": chance,
        "tunes": [
            {"name": name, "lowest": min(n.pitch for n in notes), "highest": max(n.pitch for n in notes)}
            for name, notes in melodies
        ],
        "per_tune_ceiling": per_tune,
        "cached_frames_match_metric_functions": checks,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "machine": machine(omp_num_threads=os.environ.get("OMP_NUM_THREADS"), packages=_versions()),
    }
    write_json(args.output, result)
    width = max(len(n) for n in rows)
    print(f"{'':{width}}  " + "  ".join(f"{m:>24}" for m in METRICS))
    for name in rows:
        cells = [
            f"{ceiling[name][m]['mean']:.3f}±{ceiling[name][m]['std']:.3f} ({chance[name][m]['mean']:.2f})"
            for m in METRICS
        ]
        print(f"{name:{width}}  " + "  ".join(f"{c:>24}" for c in cells))
    print(f"ceiling mean±std (chance mean); {timings['total_s']:.0f} s; wrote {args.output}")


if __name__ == "__main__":
    main()
