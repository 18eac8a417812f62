"""How well does `extract_notes` (Basic Pitch, ONNX) recover the notes of rendered music, and how fast is it?

Clips of `--seconds` s are cut from the music21 corpus (monophonic folk tunes: Essen, O'Neill, Ryan, Aird;
polyphonic: Bach chorales with two or more voices, Palestrina), played at a seeded random tempo with FluidSynth
(several General MIDI instruments, round robin), transcribed, and scored with mir_eval against the notes that
were rendered: note F1 with a 50 ms onset tolerance, without and with offsets (20% of the duration or 50 ms).

Notes are played for `--gate` of their written length (0.9: detached, as players articulate; a fully legato
repeated note is not re-attacked by most GM wind and string patches and cannot be heard as two notes).

Basic Pitch's thresholds are chosen on separate tuning clips (other tunes, other seed): the grid below is
scored on `--tune-clips` monophonic clips and the best mean onset-F1 wins; the test clips are then scored
with both the default and the tuned settings. Speed is CPU seconds (all threads) per audio second of the
default-config transcription, after one warm-up call that loads the model; measured once with onnxruntime's
default threading (as `extract_notes` runs it) and once more with a single intra-op thread.

    nice -n 10 .venv/bin/python benchmarks/melody_extraction.py            # 4-8 minutes on 2 busy cores
    -> benchmarks/results/melody_extraction.json
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import asdict

import numpy as np

from mmgen.audio import SAMPLE_RATE
from mmgen.eval.bench import machine, write_json
from mmgen.melody.corpus import iter_corpus_pieces
from mmgen.melody.inspection import note_scores
from mmgen.melody.notes import Note
from mmgen.melody.synth import find_soundfont, fluidsynth_available, render_parts
from mmgen.melody.transcribe import TranscriptionConfig, _basic_pitch_model, extract_notes

MONO_COLLECTIONS = ("essen", "oneills", "ryans", "airds")
POLY_COLLECTIONS = ("bach", "palestrina")
# GM program -> (name, lowest, highest MIDI pitch it plays well); melodies are moved by octaves into range
MONO_INSTRUMENTS = {73: ("flute", 60, 96), 40: ("violin", 55, 100), 71: ("clarinet", 50, 91), 0: ("piano", 21, 108)}
MONO_INSTRUMENTS.update({56: ("trumpet", 55, 84), 68: ("oboe", 58, 91)})
POLY_INSTRUMENTS = {0: ("piano", 21, 108), 48: ("string ensemble", 28, 103), 19: ("church organ", 24, 108)}
POLY_INSTRUMENTS.update({52: ("choir aahs", 36, 84)})
THRESHOLD_GRID = [(onset, frame) for onset in (0.5, 0.6, 0.7, 0.8, 0.9) for frame in (0.3, 0.4, 0.5)]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mono-clips", type=int, default=24, help="Monophonic test clips.")
    parser.add_argument("--poly-clips", type=int, default=16, help="Polyphonic test clips.")
    parser.add_argument("--tune-clips", type=int, default=12, help="Monophonic clips for threshold tuning (0: none).")
    parser.add_argument("--seconds", type=float, default=10.0, help="Clip length in seconds.")
    parser.add_argument("--gate", type=float, default=0.9, help="Played fraction of each note's written length.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the test clips (tuning uses seed + 1000).")
    parser.add_argument("--soundfont", default=None, help="A .sf2 file; default: mmgen.melody.synth.find_soundfont.")
    parser.add_argument(
        "--output", default="benchmarks/results/melody_extraction.json", help="Where to write the JSON results."
    )
    return parser.parse_args()


def fit_range(notes: list[Note], low: int, high: int) -> list[Note]:
    """Move notes by octaves so that as many as possible lie in [low, high]."""
    pitches = np.array([n.pitch for n in notes])
    shift = max(range(-48, 49, 12), key=lambda s: (np.sum((pitches + s >= low) & (pitches + s <= high)), -abs(s)))
    return [Note(n.onset, n.offset, n.pitch + shift, n.velocity) for n in notes]


def make_clips(kind: str, count: int, seconds: float, gate: float, seed: int, exclude=frozenset()) -> list[dict]:
    """`count` clips, collections and instruments round robin: dicts with `parts` (note lists) and metadata."""
    collections, instruments = (
        (MONO_COLLECTIONS, MONO_INSTRUMENTS) if kind == "mono" else (POLY_COLLECTIONS, POLY_INSTRUMENTS)
    )
    rng = random.Random(seed)
    wanted = -(-count // len(collections)) + 2  # a few spares for pieces too short to use
    by_collection = []
    for c, collection in enumerate(collections):
        pieces = []
        for piece in iter_corpus_pieces(collection, limit=None, seed=seed + c):
            if len(pieces) >= wanted:
                break
            if piece.name in exclude or (kind == "poly" and len(piece.parts) < 2):
                continue  # the other split's pieces; Roman-numeral analyses filed under bach
            pieces.append(piece)
        by_collection.append(pieces)
    pieces = [p for group in zip(*by_collection) for p in group]  # interleaved: collections round robin
    programs = list(instruments)
    clips = []
    for piece in pieces:
        if len(clips) == count:
            break
        bpm = rng.uniform(80, 130)
        program = programs[len(clips) % len(programs)]
        _, low, high = instruments[program]
        parts = []
        for p in range(len(piece.parts)):
            notes = [
                Note(n.onset, n.onset + gate * (min(n.offset, seconds) - n.onset), n.pitch, rng.randint(70, 110))
                for n in piece.to_notes(bpm, part=p)
                if n.onset < seconds - 0.1
            ]
            if notes:
                parts.append(notes)
        if sum(len(p) for p in parts) < 8:
            continue
        if kind == "mono":
            parts = [fit_range(parts[0], low, high)]
        clips.append(
            {"name": piece.name, "kind": kind, "program": program, "instrument": instruments[program][0],
             "bpm": round(bpm, 2), "parts": parts}  # fmt: skip
        )
    if len(clips) < count:
        raise RuntimeError(f"only {len(clips)} usable {kind} clips, {count} wanted")
    return clips


def set_onnx_threads(threads: int) -> None:
    """Rebuild Basic Pitch's ONNX session with `threads` intra-op threads (0: onnxruntime's default, all cores)."""
    import onnxruntime as ort
    from basic_pitch import FilenameSuffix, build_icassp_2022_model_path

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    path = str(build_icassp_2022_model_path(FilenameSuffix.onnx))
    _basic_pitch_model().model = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def render(clip: dict, soundfont: str | None) -> np.ndarray:
    return render_parts(clip["parts"], [clip["program"]] * len(clip["parts"]), SAMPLE_RATE, soundfont=soundfont)


def reference_notes(clip: dict) -> list[Note]:
    return sorted(n for part in clip["parts"] for n in part)


def tune_thresholds(clips: list[dict], soundfont: str | None) -> tuple[TranscriptionConfig, list[dict]]:
    """The grid point with the best mean onset-F1 on `clips`."""
    audio = [(render(clip, soundfont), reference_notes(clip)) for clip in clips]
    table = []
    for onset, frame in THRESHOLD_GRID:
        config = TranscriptionConfig(onset_threshold=onset, frame_threshold=frame)
        f1 = [note_scores(ref, extract_notes(wave, SAMPLE_RATE, config))["f1"] for wave, ref in audio]
        table.append({"onset_threshold": onset, "frame_threshold": frame, "mean_f1": float(np.mean(f1))})
        print(f"tuning onset {onset} frame {frame}: mean onset-F1 {np.mean(f1):.3f}", flush=True)
    best = max(table, key=lambda row: row["mean_f1"])
    return TranscriptionConfig(onset_threshold=best["onset_threshold"], frame_threshold=best["frame_threshold"]), table


def summarise(rows: list[dict]) -> dict:
    audio_s = sum(r["audio_s"] for r in rows)
    cpu_s = sum(r["cpu_s"] for r in rows)
    wall_s = sum(r["wall_s"] for r in rows)
    summary = {"num_clips": len(rows), "audio_s": round(audio_s, 2)}
    for setting in ("default", "tuned"):
        if setting not in rows[0]:
            continue
        for key in ("precision", "recall", "f1", "f1_offset"):
            summary[f"{setting}_{key}"] = round(float(np.mean([r[setting][key] for r in rows])), 4)
    summary.update(
        cpu_s_per_audio_s=round(cpu_s / audio_s, 5),
        realtime_factor_cpu=round(audio_s / cpu_s, 1),
        realtime_factor_wall=round(audio_s / wall_s, 1),
        instruments=sorted({r["instrument"] for r in rows}),
    )
    return summary


def main():
    args = parse_args()
    if not fluidsynth_available():
        raise SystemExit("FluidSynth and a GM soundfont are required (apt fluid-soundfont-gm libfluidsynth3)")
    soundfont = find_soundfont(args.soundfont)
    started = time.time()

    # 1. Test clips, then tuning clips from other pieces
    clips = make_clips("mono", args.mono_clips, args.seconds, args.gate, args.seed)
    clips += make_clips("poly", args.poly_clips, args.seconds, args.gate, args.seed)
    test_names = frozenset(c["name"] for c in clips)
    tuned, table = None, []
    if args.tune_clips:
        tune = make_clips("mono", args.tune_clips, args.seconds, args.gate, args.seed + 1000, exclude=test_names)
        tuned, table = tune_thresholds(tune, soundfont)
        print(f"tuned: {tuned}", flush=True)

    # 2. Transcribe and score the test clips
    extract_notes(np.zeros(SAMPLE_RATE, dtype=np.float32) + 1e-3)  # warm-up: load the ONNX model
    set_onnx_threads(0)  # first pass with onnxruntime's default thread pool; single thread in step 3
    rows = []
    for clip in clips:
        wave = render(clip, soundfont)
        reference = reference_notes(clip)
        cpu, wall = time.process_time(), time.perf_counter()
        estimate = extract_notes(wave, SAMPLE_RATE, TranscriptionConfig.basic_pitch_defaults())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        row = {key: clip[key] for key in ("name", "kind", "instrument", "program", "bpm")}
        row.update(audio_s=round(len(wave) / SAMPLE_RATE, 3), cpu_s=round(cpu, 4), wall_s=round(wall, 4))
        row.update(num_reference=len(reference), num_estimated=len(estimate))
        row["default"] = {k: round(v, 4) for k, v in note_scores(reference, estimate).items()}
        if tuned is not None:
            tuned_notes = extract_notes(wave, SAMPLE_RATE, tuned)
            row["tuned"] = {k: round(v, 4) for k, v in note_scores(reference, tuned_notes).items()}
        rows.append(row)
        print(f"{clip['kind']} {clip['instrument']:>15} {clip['name']}: onset-F1 {row['default']['f1']:.3f}"
              + (f" (tuned {row['tuned']['f1']:.3f})" if tuned else "") + f", {cpu / row['audio_s']:.4f} CPU-s/s",
              flush=True)  # fmt: skip

    # 3. Speed with a single ONNX thread (spinning worker threads cost CPU time without shortening short clips)
    set_onnx_threads(1)
    extract_notes(np.zeros(SAMPLE_RATE, dtype=np.float32) + 1e-3)
    single_cpu = 0.0
    for clip in clips:
        wave = render(clip, soundfont)
        cpu = time.process_time()
        extract_notes(wave, SAMPLE_RATE, TranscriptionConfig())
        single_cpu += time.process_time() - cpu
    set_onnx_threads(0)

    # 4. Summaries
    groups = {kind: summarise([r for r in rows if r["kind"] == kind]) for kind in ("mono", "poly")}
    for kind in ("mono", "poly"):
        groups[kind]["by_instrument"] = {
            name: summarise([r for r in rows if r["kind"] == kind and r["instrument"] == name])
            for name in sorted({r["instrument"] for r in rows if r["kind"] == kind})
        }
    overall = summarise(rows)
    overall["single_thread_cpu_s_per_audio_s"] = round(single_cpu / overall["audio_s"], 5)
    overall["single_thread_realtime_factor_cpu"] = round(overall["audio_s"] / single_cpu, 1)
    best_mono_f1 = max(groups["mono"]["default_f1"], groups["mono"].get("tuned_f1", 0.0))
    result = {
        "benchmark": "melody_extraction",
        "command": "python benchmarks/melody_extraction.py " + " ".join(sys.argv[1:]),
        "settings": {
            "seconds": args.seconds, "gate": args.gate, "seed": args.seed, "tune_clips": args.tune_clips,
            "onset_tolerance_s": 0.05, "offset_ratio": 0.2, "offset_min_tolerance_s": 0.05,
            "soundfont": os.path.basename(soundfont),
            "default_config": asdict(TranscriptionConfig.basic_pitch_defaults()),
            "mmgen_default_config": asdict(TranscriptionConfig()),
            "tuned_config": asdict(tuned) if tuned else None, "tuning_table": table,
        },  # fmt: skip
        "machine": machine(),
        "overall": overall,
        "groups": groups,
        "targets": {
            "mono_onset_f1": 0.9, "mono_onset_f1_met_default": groups["mono"]["default_f1"] >= 0.9,
            "mono_onset_f1_met_tuned": best_mono_f1 >= 0.9 and tuned is not None,
            "realtime_factor_cpu": 50, "realtime_factor_met": overall["realtime_factor_cpu"] >= 50,
            "realtime_factor_met_single_thread": overall["single_thread_realtime_factor_cpu"] >= 50,
        },  # fmt: skip
        "clips": rows,
        "elapsed_s": round(time.time() - started, 1),
    }
    write_json(args.output, result)
    for kind, g in groups.items():
        print(f"{kind}: {g['num_clips']} clips, onset-F1 default {g['default_f1']:.3f}"
              + (f" tuned {g['tuned_f1']:.3f}" if tuned else "")
              + f", with offsets {g['default_f1_offset']:.3f}, {g['realtime_factor_cpu']}x real time")  # fmt: skip
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
