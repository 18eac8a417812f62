"""Text guidance `w` for the melody-guided model and its text-only ablation: issue 20's FAD gap at each `w`.

Issue 20 asks for a melody-guided FAD at least 20% below the text-only ablation's at equal compute. Every figure so far
compared the two at the one text guidance both were measured at (w = 3). A model that is told the melody has less to
guess than one that is not, so its best `w` may be lower (guidance trades diversity for fidelity), and the fair
comparison is each model at its own best `w` as well as both at the same one. This script measures both.

For each `--models NAME=FOLDER` and each `--guidance_scales` value, one clip per test caption exactly as
`benchmarks/latency.py`'s sweep makes them (`latency.sweep_point`: the same evenly spaced test clips, seed
`--seed + i`, `--sampler:--steps`, `--vocoder`), cached under `--clips_dir/NAME-wW`, scored as the generation
benchmark scores its melody-guided row: FAD / KL-musicnn against the test clips, alignment by each model's own aligner
(the v2 default and its ablations share one), and, against the notes each clip's pipeline returned, chroma cosine,
note-F1, audiocraft chroma and melody accuracy. The summary gives, per `w`, the first model's FAD relative to each
other model's, and the same at each model's lowest-FAD `w`.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/guidance_scale.py --models v2=checkpoints/mmgen-default \
        text_only=runs-v2/mmgen-v2-text-only global_only=runs-v2/mmgen-v2-global --guidance_scales 1 1.5 3 4 5
    # -> benchmarks/results/guidance_scale.json + .png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from generation import select_rows
from latency import QUALITY_KEYS, sweep_point

from mmgen.data import load_musicset
from mmgen.eval.audio_metrics import default_embedder
from mmgen.eval.bench import cpu_name, machine, named_folder, save_figure, write_json
from pipelines.pipeline_mmgen import MMGenPipeline


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True,
                        help="NAME=FOLDER MMGenPipeline folders; the first is the one compared with the others")
    parser.add_argument("--guidance_scales", type=float, nargs="+", required=True, help="text guidance w values")
    parser.add_argument("--dataset", default="data/musicset-small", help="MusicSet folder whose test clips are used")
    parser.add_argument("--split", default="test", help="split whose captions and clips are scored")
    parser.add_argument("--num_clips", type=int, default=32, help="test clips (evenly spaced, as latency.py)")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (s)")
    parser.add_argument("--seed", type=int, default=0, help="clip i uses seed + i")
    parser.add_argument("--sampler", default="unipc", help="sampler_scheduler name (the shipped: unipc)")
    parser.add_argument("--steps", type=int, default=12, help="denoising steps (the shipped: 12)")
    parser.add_argument("--vocoder", default="griffinlim", help="vocoder_method (latency.py's sweep: griffinlim)")
    parser.add_argument("--clips_dir", default="outputs/guidance-scale", help="cache of the clips, per model and w")
    parser.add_argument("--output", default="benchmarks/results/guidance_scale.json", help="results JSON (+ .png)")
    args = parser.parse_args(argv)
    if min(args.guidance_scales) < 0:
        parser.error("--guidance_scales must be >= 0 (0 = no guidance)")
    return args


def point_args(args, folder: str, name: str, w: float) -> argparse.Namespace:
    """The namespace `latency.sweep_point` reads, for one model at one `w` (its own cache folder)."""
    return argparse.Namespace(pipeline=folder, seconds=args.seconds, seed=args.seed, guidance_scale=w,
                              clips_dir=str(Path(args.clips_dir) / f"{name}-w{w:g}"))  # fmt: skip


def relative_gap(first: float, other: float) -> float:
    """How much lower `first` is than `other`, as a fraction of `other` (issue 20: >= 0.2 for FAD)."""
    return (other - first) / other


def summarise(models: dict) -> dict:
    names = list(models)
    first = names[0]
    fad = {n: {p["guidance_scale"]: p["fad_musicnn"] for p in models[n]["points"]} for n in names}
    best = {n: min(fad[n], key=fad[n].get) for n in names}
    summary = {"best_guidance_scale": best, "best_fad_musicnn": {n: fad[n][best[n]] for n in names}}
    for other in names[1:]:
        shared = sorted(set(fad[first]) & set(fad[other]))
        summary[f"{first}_vs_{other}"] = {
            "fad_lower_by_at_equal_w": {f"{w:g}": relative_gap(fad[first][w], fad[other][w]) for w in shared},
            "fad_lower_by_at_each_best_w": relative_gap(fad[first][best[first]], fad[other][best[other]]),
        }
    return summary


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [("fad_musicnn", "FAD-musicnn (lower is better)"), ("melody_accuracy", "melody accuracy"),
               ("alignment_score", "text-audio alignment")]  # fmt: skip
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.4))
    for name, model in results["models"].items():
        points = sorted(model["points"], key=lambda p: p["guidance_scale"])
        for ax, (key, label) in zip(axes, columns):
            ax.plot([p["guidance_scale"] for p in points], [p[key] for p in points], marker="o", label=name)
            ax.set_xlabel("text guidance w")
            ax.set_title(label)
    axes[0].legend()
    save_figure(fig, path)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    # folders as typed: the clip caches key their scores on the pipeline string
    models = {name: str(folder) for name, folder in (named_folder(text, "model") for text in args.models)}
    started = time.perf_counter()
    torch.set_num_threads(1)
    rows = select_rows(load_musicset(args.dataset)[args.split], args.num_clips)
    results = {
        "benchmark": "guidance_scale",
        "command": " ".join(["python benchmarks/guidance_scale.py", *(sys.argv[1:] if argv is None else argv)]),
        "settings": {k: v for k, v in vars(args).items() if k != "models"}
        | {"clip_ids": [str(row["id"]) for row in rows]},  # fmt: skip
        "machine": machine(cpu=cpu_name(), torch=torch.__version__, threads=1),
        "models": {},
    }
    ctx = {"embedder": default_embedder(), "captions": [str(r["caption"]) for r in rows]}
    for name, folder in models.items():
        pipe = MMGenPipeline.from_pretrained(folder)
        pipe.set_progress_bar_config(disable=True)
        ctx["aligner"] = pipe.aligner
        points = []
        for w in args.guidance_scales:
            point = sweep_point(pipe, args.sampler, args.steps, args.vocoder, rows, ctx, point_args(args, folder,
                                                                                                     name, w))
            points.append({"guidance_scale": w, **point})
            print(f"{name} w={w:g}: {json.dumps({k: point[k] for k in QUALITY_KEYS})}", file=sys.stderr, flush=True)
            results["models"][name] = {"pipeline": folder, "points": points}
            write_json(args.output, results)
    results["summary"] = summarise(results["models"])
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    write_json(args.output, results)
    plot(results, Path(args.output).with_suffix(".png"))
    print(json.dumps(results["summary"], indent=1), file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
