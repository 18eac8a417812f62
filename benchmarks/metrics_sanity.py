"""Sanity of the evaluation metrics on rendered music, and their cost per clip on this CPU.

    .venv/bin/python benchmarks/metrics_sanity.py [--pieces 8] [--seconds 5]

Renders Essen folk tunes (mmgen.melody.corpus + synth, FluidSynth where installed) and measures:
- FAD-musicnn of the set against itself, against noise-corrupted copies (SNR 30 ... 0 dB), against copies with a
  growing share of clips re-rendered in another instrument, and against different tunes in the same instrument;
- KL-musicnn for the same pairs, IS-musicnn of the reference set;
- chroma cosine of each melody with its own rendering and with renderings transposed by 1 to 6 semitones;
- Basic Pitch note-F1 of each rendering against its notes;
- seconds per clip for musicnn features, chroma cosine and note-F1.
Writes benchmarks/results/metrics_sanity.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from mmgen.audio import SAMPLE_RATE
from mmgen.eval.audio_metrics import set_metrics
from mmgen.eval.bench import write_json
from mmgen.eval.embedders import MusicnnEmbedder
from mmgen.eval.melody import chroma_cosine, melody_note_f1
from mmgen.melody.corpus import iter_corpus_pieces
from mmgen.melody.notes import Note
from mmgen.melody.synth import find_soundfont, render_notes

OTHER_PROGRAM = 40  # violin, against the reference set's piano (0)


def _clip(notes, seconds, program=0):
    wave = render_notes(notes, SAMPLE_RATE, program=program)[: int(seconds * SAMPLE_RATE)]
    return np.pad(wave, (0, int(seconds * SAMPLE_RATE) - wave.size))


def _add_noise(wave, snr_db, rng):
    noise = rng.normal(size=wave.size)
    scale = np.sqrt(np.mean(wave**2) / (10 ** (snr_db / 10)) / np.mean(noise**2))
    return (wave + scale * noise).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=8, help="tunes per set")
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results", "metrics_sanity.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    # 1. Melodies: 2 x pieces tunes, the first half is the reference set, the second "different pieces"
    pieces = list(iter_corpus_pieces("essen", limit=2 * args.pieces, seed=0))
    melodies = [[n for n in p.to_notes(bpm=120) if n.onset < args.seconds - 0.3] for p in pieces]
    reference_notes, other_notes = melodies[: args.pieces], melodies[args.pieces :]
    reference = [_clip(n, args.seconds) for n in reference_notes]

    # 2. musicnn features of every set
    embedder = MusicnnEmbedder("MTT_musicnn")
    start = time.perf_counter()
    ref_features = embedder.features_batch(reference, SAMPLE_RATE)
    seconds_features = (time.perf_counter() - start) / len(reference)
    sets = {"self": reference, "different_pieces_same_instrument": [_clip(n, args.seconds) for n in other_notes]}
    for snr in (30, 20, 10, 0):
        sets[f"noise_snr_{snr}db"] = [_add_noise(w, snr, rng) for w in reference]
    for share in (0.25, 0.5, 1.0):
        changed = int(round(share * args.pieces))
        sets[f"instrument_shuffled_{int(share * 100)}pct"] = [
            _clip(n, args.seconds, OTHER_PROGRAM) if i < changed else reference[i]
            for i, n in enumerate(reference_notes)
        ]
    distances = {}
    for name, waves in sets.items():
        metrics = set_metrics(embedder.features_batch(waves, SAMPLE_RATE), ref_features, embedder.name)
        distances[name] = {k: round(v, 4) for k, v in metrics.items() if not k.startswith("is_")}
        print(name, distances[name])
    inception = set_metrics(ref_features, None, embedder.name)

    # 3. Melody adherence
    start = time.perf_counter()
    own = [chroma_cosine(w, n, SAMPLE_RATE) for w, n in zip(reference, reference_notes)]
    seconds_chroma = (time.perf_counter() - start) / len(reference)
    transposed = {}
    for semitones in (1, 2, 3, 6):
        shifted = [[Note(x.onset, x.offset, x.pitch + semitones, x.velocity) for x in n] for n in reference_notes]
        transposed[str(semitones)] = round(
            float(np.mean([chroma_cosine(_clip(s, args.seconds), n, SAMPLE_RATE)
                           for s, n in zip(shifted, reference_notes)])), 4)  # fmt: skip
    melody_note_f1(reference[0], reference_notes[0], SAMPLE_RATE)  # load Basic Pitch before timing
    start = time.perf_counter()
    f1 = [melody_note_f1(w, n, SAMPLE_RATE)["f1"] for w, n in zip(reference, reference_notes)]
    seconds_f1 = (time.perf_counter() - start) / len(reference)

    result = {
        "command": "python benchmarks/metrics_sanity.py " + f"--pieces {args.pieces} --seconds {args.seconds}",
        "setup": {
            "collection": "essen",
            "pieces_per_set": args.pieces,
            "clip_seconds": args.seconds,
            "reference_program": 0,
            "other_program": OTHER_PROGRAM,
            "renderer": "fluidsynth" if find_soundfont() else "sine fallback",
            "embedder": "musicnn MTT penultimate (200-d), 3 s windows every 1.5 s",
        },
        "against_reference": distances,
        "is_musicnn_reference": round(inception["is_musicnn"], 4),
        "chroma_cosine_own_rendering": round(float(np.mean(own)), 4),
        "chroma_cosine_transposed_by_semitones": transposed,
        "note_f1_own_rendering": round(float(np.mean(f1)), 4),
        "seconds_per_clip": {
            "musicnn_features": round(seconds_features, 3),
            "chroma_cosine": round(seconds_chroma, 3),
            "basic_pitch_note_f1": round(seconds_f1, 3),
        },
        "machine": {"processor": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads()},
    }
    write_json(args.output, result, echo=True)


if __name__ == "__main__":
    main()
