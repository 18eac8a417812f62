"""Hummed and sung melodies: plain Basic Pitch against the voice path (`transcribe_voice`), note-F1 on known notes.

Voice-like test material is synthesised here (`mmgen.melody.sing`: a harmonic source through vowel formants, with
scoops into notes, glides, vibrato, per-note mistuning, pitch drift, aspiration and breaths): the opening
`--seconds` of Essen folk tunes (music21 corpus), at `--bpm`, sung in four registers (bass, tenor, alto, soprano:
the tune moved by octaves so that its median pitch is near MIDI 45, 55, 64 or 72) in four styles (clean vowel,
wide vibrato, scoops with loose intonation, a breathy hum). Scores are mir_eval note precision / recall / F1 with
onsets within 50 ms and pitches within 50 cents, offsets ignored (`mmgen.eval.melody.note_f1`, as the generation
benchmark scores melody adherence).

The voice path's Basic Pitch thresholds are chosen on separate tuning tunes (a small grid, best mean F1 with the
clean-up applied); the test tunes are then scored with plain Basic Pitch (MMGen's default `TranscriptionConfig`,
as `load_melody` uses for any audio), plain Basic Pitch with its original defaults, the voice path as shipped
(`transcribe_voice`: its thresholds, then `clean_voice_notes` with the recording's loudness envelope), and three
ablations: the clean-up without the loudness envelope (notes only), the first version of the voice path (onset 0.5
/ frame 0.4, every touching same-pitch pair joined, so repeated notes were lost) and the voice thresholds alone.

    nice -n 19 .venv/bin/python benchmarks/voice_melody.py --example examples/hummed_melody.flac
    -> benchmarks/results/voice_melody.json (about 5 minutes of CPU), and the example clip

Basic Pitch's network runs once per clip (`reuse_basic_pitch_outputs`): its outputs do not depend on the thresholds
that the grid and the methods vary, only the note creation after it does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, replace

import numpy as np

from mmgen.audio import SAMPLE_RATE
from mmgen.eval.melody import note_f1
from mmgen.melody.corpus import iter_corpus_pieces
from mmgen.melody.notes import Note
from mmgen.melody.sing import SingingStyle, sing_notes
from mmgen.melody.transcribe import TranscriptionConfig, extract_notes
from mmgen.melody.voice import VoiceCleanup, clean_voice_notes, loudness_envelope, voice_transcription_config

REGISTERS = {"bass": 45, "tenor": 55, "alto": 64, "soprano": 72}
STYLES = {
    "clean vowel": SingingStyle(vowel="a"),
    "wide vibrato": SingingStyle(vowel="o", vibrato_cents=90.0, vibrato_hz=6.0, vibrato_delay_s=0.1),
    "scoops, loose intonation": SingingStyle(
        vowel="a", scoop_semitones=2.0, scoop_s=0.14, intonation_cents=25.0, drift_cents=30.0, glide_s=0.08
    ),
    "breathy hum": SingingStyle(vowel="m", breath_level=0.3, aspiration_level=0.05, vibrato_cents=30.0),
}
JOIN_EVERY_SAME_PITCH = VoiceCleanup(dip_ratio=0.0)  # the first version: repeated notes joined into one
GRID = [(onset, frame) for onset in (0.5, 0.6, 0.7, 0.8) for frame in (0.3, 0.4, 0.5)]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tunes", type=int, default=6, help="Test tunes (each sung in 4 registers x 4 styles).")
    parser.add_argument("--tune-tunes", type=int, default=3, help="Separate tunes for choosing the thresholds.")
    parser.add_argument("--seconds", type=float, default=8.0, help="Length of each sung excerpt.")
    parser.add_argument("--bpm", type=float, default=100.0, help="Tempo of the quarter note.")
    parser.add_argument("--seed", type=int, default=0, help="Tune order and voice randomness.")
    parser.add_argument("--output", default="benchmarks/results/voice_melody.json", help="Where to write the JSON.")
    parser.add_argument(
        "--example", default=None, help="Also write the first test clip (audio, by extension) and its notes (JSON)."
    )
    return parser.parse_args()


def reuse_basic_pitch_outputs() -> None:
    """Make `extract_notes` run Basic Pitch's network once per waveform in this process: its posteriorgrams are
    cached by the audio's digest and handed out as copies (Basic Pitch's note creation zeroes bands in place)."""
    from mmgen.melody import transcribe

    network, cache = transcribe.basic_pitch_posteriorgrams, {}

    def posteriorgrams(waveform: np.ndarray) -> dict[str, np.ndarray]:
        key = hashlib.sha1(np.ascontiguousarray(waveform, dtype=np.float32).tobytes()).hexdigest()
        if key not in cache:
            cache[key] = network(waveform)
        return {name: gram.copy() for name, gram in cache[key].items()}

    transcribe.basic_pitch_posteriorgrams = posteriorgrams


def tune_notes(piece, bpm: float, seconds: float, register: int) -> list[Note]:
    """The first part's notes in seconds, cut at `seconds`, moved by octaves so the median pitch is near `register`."""
    beat = 60.0 / bpm
    notes = [Note(0.2 + on * beat, 0.2 + (on + dur) * beat, p, 100) for on, dur, p in piece.parts[0] if dur > 0]
    notes = [n for n in notes if n.offset <= seconds]
    shift = 12 * round((register - statistics.median(n.pitch for n in notes)) / 12)
    return [Note(n.onset, n.offset, n.pitch + shift, n.velocity) for n in notes]


def clips(pieces, bpm: float, seconds: float, seed: int):
    """(tune, register, style, notes, waveform) for every tune x register x style."""
    for t, piece in enumerate(pieces):
        for register, median in REGISTERS.items():
            notes = tune_notes(piece, bpm, seconds, median)
            for s, (style_name, style) in enumerate(STYLES.items()):
                wave = sing_notes(notes, SAMPLE_RATE, style=style, seed=seed * 1000 + t * 100 + median + s)
                yield piece.name, register, style_name, notes, wave


def score(notes, estimate) -> dict:
    return {key: round(value, 4) for key, value in note_f1(notes, estimate).items()}


def mean(rows, key, method) -> float:
    return round(float(np.mean([r[method][key] for r in rows])), 4)


def voice_path(wave, raw_notes, cleanup: VoiceCleanup = VoiceCleanup(), loudness: bool = True):
    """`transcribe_voice`'s clean-up of Basic Pitch notes already transcribed from `wave` (so that the methods sharing
    thresholds share one transcription)."""
    return clean_voice_notes(raw_notes, cleanup, loudness_envelope(wave, SAMPLE_RATE) if loudness else None)


def main():
    args = parse_args()
    started = time.perf_counter()
    reuse_basic_pitch_outputs()
    pieces = [p for p in iter_corpus_pieces("essen", limit=4 * (args.tunes + args.tune_tunes), seed=args.seed)
              if len(p.parts[0]) >= 8][: args.tunes + args.tune_tunes]  # fmt: skip
    tuning_pieces, test_pieces = pieces[: args.tune_tunes], pieces[args.tune_tunes :]

    # 1. Choose the voice path's thresholds on the tuning tunes.
    tuning_clips = list(clips(tuning_pieces, args.bpm, args.seconds, args.seed + 1))
    base = voice_transcription_config()
    grid = []
    for onset, frame in GRID:
        config = replace(base, onset_threshold=onset, frame_threshold=frame)
        f1 = [note_f1(n, voice_path(w, extract_notes(w, SAMPLE_RATE, config)))["f1"] for *_, n, w in tuning_clips]
        grid.append({"onset_threshold": onset, "frame_threshold": frame, "mean_f1": round(float(np.mean(f1)), 4)})
    best = max(grid, key=lambda row: row["mean_f1"])

    # 2. Score the test tunes: (thresholds, what follows the transcription) per method.
    first_version = replace(base, onset_threshold=0.5, frame_threshold=0.4)
    configs = {"mmgen": TranscriptionConfig(), "original": TranscriptionConfig.basic_pitch_defaults(), "voice": base,
               "first_version": first_version}  # fmt: skip
    methods = {
        "basic_pitch_mmgen_default": ("mmgen", lambda w, notes: notes),
        "basic_pitch_original_defaults": ("original", lambda w, notes: notes),
        "voice_path_shipped": ("voice", voice_path),
        "voice_path_without_loudness": ("voice", lambda w, notes: voice_path(w, notes, loudness=False)),
        "voice_path_first_version": ("first_version", lambda w, notes: voice_path(w, notes, JOIN_EVERY_SAME_PITCH)),
        "voice_thresholds_without_cleanup": ("voice", lambda w, notes: notes),
    }
    rows = []
    for i, (name, register, style, notes, wave) in enumerate(clips(test_pieces, args.bpm, args.seconds, args.seed)):
        row = {"tune": name, "register": register, "style": style, "notes": len(notes)}
        transcribed = {key: extract_notes(wave, SAMPLE_RATE, config) for key, config in configs.items()}
        for method, (key, post) in methods.items():
            row[method] = score(notes, post(wave, transcribed[key]))
        rows.append(row)
        if i == 0 and args.example:
            from mmgen.audio import save_audio

            save_audio(args.example, wave, SAMPLE_RATE)
            with open(os.path.splitext(args.example)[0] + "_notes.json", "w", encoding="utf-8") as f:
                json.dump({"tune": name, "register": register, "style": style, "bpm": args.bpm,
                           "notes": [[round(n.onset, 4), round(n.offset, 4), n.pitch] for n in notes]}, f)  # fmt: skip

    summary = {method: {k: mean(rows, k, method) for k in ("precision", "recall", "f1")} for method in methods}
    by = {}
    for field, values in (("style", STYLES), ("register", REGISTERS)):
        by[field] = {
            value: {method: mean([r for r in rows if r[field] == value], "f1", method) for method in methods}
            for value in values
        }
    result = {
        "description": "note-F1 (onsets within 50 ms, pitch within 50 cents) of synthesised singing, "
        "plain Basic Pitch vs the voice path (tuned thresholds + clean_voice_notes with the loudness envelope)",
        "command": "python benchmarks/voice_melody.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("output", "example")),
        "clips": len(rows),
        "test_tunes": [p.name for p in test_pieces],
        "tuning": {"tunes": [p.name for p in tuning_pieces], "clips": len(tuning_clips), "grid": grid, "best": best},
        "shipped_voice_config": asdict(base),
        "shipped_voice_cleanup": asdict(VoiceCleanup()),
        "summary": summary,
        "voice_path_beats_plain_basic_pitch": summary["voice_path_shipped"]["f1"]
        > summary["basic_pitch_mmgen_default"]["f1"],
        "f1_by": by,
        "rows": rows,
        "seconds_total": round(time.perf_counter() - started, 1),
        "machine": platform.processor() or platform.machine(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({"summary": summary, "best_tuning": best, "shipped": asdict(base)}, indent=2))


if __name__ == "__main__":
    main()
