"""Benchmark the MusicSet builders on this machine and Basic Pitch's melody note-F1 on the synthetic set.

    python benchmarks/dataset_build.py --num-clips 30 --audio-tracks 10

Writes `benchmarks/results/dataset_build.json`: clips per minute of the synthetic builder (planning, i.e.
music21 parsing, timed apart from rendering + transcription) and of the own-audio builder (30 s tracks cut into
10 s clips), projected single-process build times of the `small` and `full` presets, and the note-F1 (onsets
within 50 ms, pitch within 50 cents, offsets ignored; mir_eval) of the `melody` column against `melody_gt`, for
solo clips and for accompanied ones (where Basic Pitch also transcribes the accompaniment).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np

from mmgen.audio import save_audio
from mmgen.data.build import build_musicset_from_audio
from mmgen.data.format import SPLITS, SYNTH_COLUMNS, decode_audio, musicset_features
from mmgen.data.jobs import load_results, run_jobs
from mmgen.data.synthetic_musicset import PRESETS, plan_synthetic_jobs, render_clip
from mmgen.eval.bench import write_json
from mmgen.melody import string_to_notes


def note_f1(reference: str, estimate: str) -> tuple[float, float, float]:
    import mir_eval

    ref, est = string_to_notes(reference), string_to_notes(estimate)
    if not ref or not est:
        return 0.0, 0.0, 0.0

    def arrays(notes):
        intervals = np.array([[n.onset, max(n.offset, n.onset + 1e-3)] for n in notes])
        return intervals, 440.0 * 2 ** ((np.array([n.pitch for n in notes]) - 69) / 12)

    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(*arrays(ref), *arrays(est), offset_ratio=None)
    return p, r, f


def summarise(scores: list[tuple[float, float, float]]) -> dict:
    if not scores:
        return {"clips": 0}
    values = np.array(scores)
    return {"clips": len(scores), "precision": float(values[:, 0].mean()), "recall": float(values[:, 1].mean()),
            "f1": float(values[:, 2].mean())}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-clips", type=int, default=30, help="synthetic clips to build")
    parser.add_argument("--clip-seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--audio-tracks", type=int, default=10, help="30 s tracks for the own-audio builder")
    parser.add_argument("--seed", type=int, default=0, help="synthetic build seed")
    parser.add_argument("--output", default="benchmarks/results/dataset_build.json", help="result file")
    args = parser.parse_args()
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_average_at_start": os.getloadavg()}, "arguments": vars(args)}  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        # 1. synthetic builder: planning (music21 parsing) and rendering + Basic Pitch, timed apart
        started = time.perf_counter()
        jobs = plan_synthetic_jobs(args.num_clips, args.clip_seconds, args.seed)
        plan_s = time.perf_counter() - started
        features = musicset_features(SYNTH_COLUMNS)
        started = time.perf_counter()
        run_jobs(jobs, render_clip, os.path.join(tmp, "synth"), features, progress=False)
        render_s = time.perf_counter() - started
        table = load_results(jobs, os.path.join(tmp, "synth"), features)
        clips = len(table)
        per_clip_s = render_s / clips
        result["synth"] = {
            "clips": clips, "clip_seconds": args.clip_seconds, "planning_s": plan_s, "render_transcribe_s": render_s,
            "clips_per_minute": 60.0 * clips / (plan_s + render_s),
            "clips_per_minute_excluding_planning": 60.0 / per_clip_s,
            "projected_hours_one_process": {p: PRESETS[p][0] * per_clip_s / 3600 for p in ("small", "full")},
        }  # fmt: skip

        # 2. melody quality: Basic Pitch (`melody`) against the score's lead line (`melody_gt`)
        solo, accompanied = [], []
        for row in table:
            (solo if row["accompaniment"] == "none" else accompanied).append(note_f1(row["melody_gt"], row["melody"]))
        result["basic_pitch_note_f1"] = {"solo": summarise(solo), "accompanied": summarise(accompanied),
                                         "all": summarise(solo + accompanied)}  # fmt: skip

        # 3. own-audio builder: 30 s tracks made of three synthetic clips each, cut into 10 s clips
        folder = os.path.join(tmp, "audio")
        os.makedirs(folder)
        lines = ["file,caption"]
        for i in range(min(args.audio_tracks, clips // 3)):
            wave = np.concatenate([decode_audio(table[3 * i + k]) for k in range(3)])
            save_audio(os.path.join(folder, f"track{i:03d}.flac"), wave)
            lines.append(f"track{i:03d}.flac,{table[3 * i]['caption']!r}".replace("'", '"'))
        with open(os.path.join(tmp, "captions.csv"), "w") as f:
            f.write("\n".join(lines) + "\n")
        started = time.perf_counter()
        built, _ = build_musicset_from_audio(os.path.join(tmp, "own"), folder, os.path.join(tmp, "captions.csv"),
                                             clip_seconds=args.clip_seconds, progress=False)  # fmt: skip
        audio_s = time.perf_counter() - started
        audio_clips = sum(len(built[s]) for s in SPLITS)
        result["audio_builder"] = {"tracks": len(lines) - 1, "track_seconds": 3 * args.clip_seconds,
                                   "clips": audio_clips, "seconds": audio_s,
                                   "clips_per_minute": 60.0 * audio_clips / audio_s}  # fmt: skip

    write_json(args.output, result, echo=True)


if __name__ == "__main__":
    main()
