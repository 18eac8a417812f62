"""Which frame-aligned melody representation: the melody sketch or a piano roll, on an equal short budget (issue 20).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/melody_representation.py \
        --pipelines runs-v2/probe-sketch runs-v2/probe-pianoroll --dataset data/musicset-small \
        --num_clips 8 --steps 50    # -> benchmarks/results/melody_representation.json

Both pipelines are trained from the same start (the v1 default), on the same crops, steps, learning rate and dropout
(`train/diffusion.py --melody_input sketch|pianoroll --max_train_steps 250`, the commands are in the JSON, read from
each folder's `training_args.json`); they differ only in how the guiding notes reach the UNet's extra input channels:

- `sketch`: the notes rendered with one harmonic timbre -> log-mel -> the pipeline's own VAE encoder;
- `pianoroll`: an 88-pitch piano roll on the latent's frame grid -> a learned linear projection
  (`mmgen.models.melody_encoder.PianoRollEncoder`, JASCO's salience -> linear).

Each pipeline generates one clip per test caption (clip i with seed i) twice: guided by the melody it retrieves, and
given the test clip's own transcribed melody; both are scored against the guiding notes with the generation
benchmark's adherence metrics (`benchmarks/generation.py`: the project's chroma cosine and note-F1, audiocraft's
chroma cosine, MuseControlLite's melody accuracy) and FAD-musicnn against the test clips. `--melody_guidance_scale`
adds a run of each with double guidance (audiocraft's `cfg_coef_beta`).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import generation as bench  # benchmarks/generation.py beside this script: rows, metrics and generation helpers
import torch

from mmgen.audio import SAMPLE_RATE
from mmgen.data import load_musicset
from mmgen.eval.audio_metrics import default_embedder, extract_features
from mmgen.eval.bench import write_json

METRICS = ("fad_musicnn", "alignment_score", "chroma_cosine", "note_f1", "ac_chroma_cosine", "melody_accuracy")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", nargs="+", required=True, help="Pipeline folders to compare.")
    parser.add_argument("--dataset", required=True, help="MusicSet folder.")
    parser.add_argument("--split", default="test")
    parser.add_argument("--num_clips", type=int, default=8, help="Test clips, evenly spaced over the split.")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps.")
    parser.add_argument("--guidance_scale", type=float, default=3.0)
    parser.add_argument("--melody_guidance_scale", type=float, default=None,
                        help="Also measure each pipeline with this beta (double guidance).")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="benchmarks/results/melody_representation.json")
    args = parser.parse_args(argv)
    if args.num_clips < 2 or args.steps < 1 or args.seconds <= 0:
        parser.error("--num_clips must be at least 2 (FAD needs two clips), --steps and --seconds positive")
    return args


def measure(pipe, captions, rows, references, reference_features, embedder, args) -> dict:
    """The retrieved-melody and own-melody rows of one pipeline (the generation benchmark's scoring)."""
    out = {}
    waves, info, seconds = bench.generate(pipe, captions, args)
    notes = [bench.crop_notes(bench.melody_notes(i), args.seconds) for i in info]
    out["retrieved_melody"] = bench.score_row(waves, captions, notes, extract_features(waves, SAMPLE_RATE, embedder),
                                              reference_features, pipe.aligner, paired=True)  # fmt: skip
    out["retrieved_melody"]["generation_seconds_per_clip"] = seconds / len(captions)
    own = [bench.sketchable(bench.crop_notes(bench.parse_notes(r.get("melody")), args.seconds)) for r in rows]
    keep = [i for i, n in enumerate(own) if n]
    waves, info, seconds = bench.generate(pipe, [captions[i] for i in keep], args,
                                          user_melodies=[own[i] for i in keep], seeds=[args.seed + i for i in keep])
    out["own_melody"] = bench.score_row(waves, [captions[i] for i in keep], [bench.melody_notes(i) for i in info],
                                        extract_features(waves, SAMPLE_RATE, embedder),
                                        [reference_features[i] for i in keep], pipe.aligner, paired=True,
                                        reference_audio=[references[i] for i in keep])  # fmt: skip
    out["own_melody"]["generation_seconds_per_clip"] = seconds / max(1, len(keep))
    return out


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    rows = bench.select_rows(load_musicset(args.dataset)[args.split], args.num_clips)
    captions = [str(r["caption"]) for r in rows]
    embedder = default_embedder()
    references = bench.reference_clips(rows, args.seconds)
    reference_features = extract_features(references, SAMPLE_RATE, embedder)
    results = {}
    for path in args.pipelines:
        pipe = bench.load_pipeline(path)
        training = Path(path, "training_args.json")
        entry = {"training_args": json.loads(training.read_text()) if training.is_file() else None,
                 "representation": "pianoroll" if pipe.melody_encoder is not None else
                 "sketch" if pipe.uses_melody_sketch else "none"}  # fmt: skip
        betas = [None] + ([args.melody_guidance_scale] if args.melody_guidance_scale is not None else [])
        for beta in betas:
            run_args = argparse.Namespace(**{**vars(args), "melody_guidance_scale": beta, "num_candidates": 1})
            key = "guidance" if beta is None else f"melody_guidance_scale_{beta:g}"
            entry[key] = measure(pipe, captions, rows, references, reference_features, embedder, run_args)
            print(f"{path} {key}: " + ", ".join(f"{m} {entry[key]['own_melody'][m]:.3f}" for m in METRICS
                                                  if entry[key]["own_melody"].get(m) is not None),
                  file=sys.stderr)  # fmt: skip
        results[path] = entry
        del pipe
    results["settings"] = {
        "command": " ".join(["benchmarks/melody_representation.py", *(sys.argv[1:] if argv is None else argv)]),
        "clip_ids": [str(r["id"]) for r in rows],
        "steps": args.steps, "seconds": args.seconds, "guidance_scale": args.guidance_scale, "seed": args.seed,
        "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
        "wall_seconds": time.perf_counter() - started,
    }  # fmt: skip
    output = write_json(args.output, results)
    print(f"wrote {output}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
