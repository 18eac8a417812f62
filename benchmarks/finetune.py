"""Fine-tuning the default MMGen on a style it never heard (issue 17, item 3), measured.

    nohup nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/finetune.py > /work/logs/finetune.log 2>&1 &

Stages (each resumable: a finished stage is skipped, a killed fine-tune resumes from its last checkpoint, generated
clips are kept as WAVs; `--stages` and `--variants` / `--models` split the work between processes, each merging its
part into the results file):

1. `data`: render the chiptune style (`benchmarks/finetune_style.py`, 110 + 16 tracks of 20 s) into a folder of WAV
   tracks and a disjoint held-out folder, then build both with the user's path, `mmgen.data.build`.
2. `train`: `train/diffusion.py --pretrained_pipeline checkpoints/mmgen-default` on the built set's train split, once
   with full fine-tuning and once with a UNet LoRA, each for the same process CPU time (`--cpu_minutes`, one thread;
   the frozen-feature cache is built once before and not counted); each saves a complete pipeline folder with the
   style's melodies added to its retriever.
3. `eval`: one clip per held-out caption (the first `--clips`) from the default (before) and both fine-tuned
   pipelines (after), with the same seeds, `--steps` DDIM steps and `--vocoder_method` for all; FAD-musicnn of each
   set against every held-out clip, beside the floor of the style's own fine-tuning clips against them; then how
   often text prompts (held-out and fine-tuning captions) retrieve an added melody from the grown database.

Writes `benchmarks/results/finetune.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from finetune_style import write_style_folders  # noqa: E402

from mmgen.audio import SAMPLE_RATE, pad_or_trim  # noqa: E402
from mmgen.data import decode_audio, load_musicset  # noqa: E402
from mmgen.data.build import build_musicset_from_audio  # noqa: E402
from mmgen.eval.audio_metrics import default_embedder, extract_features, set_metrics  # noqa: E402
from mmgen.eval.bench import machine, write_json  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work_dir", default="data/finetune-chiptune", help="style audio, MusicSets and runs")
    parser.add_argument("--pipeline", default="checkpoints/mmgen-default", help="pipeline folder fine-tuned")
    parser.add_argument("--train_tracks", type=int, default=110, help="20 s tracks in the fine-tuning folder")
    parser.add_argument("--heldout_tracks", type=int, default=16, help="20 s tracks held out (2 clips each)")
    parser.add_argument("--track_seconds", type=float, default=20.0, help="length of a rendered track")
    parser.add_argument("--cpu_minutes", type=float, default=6.0, help="CPU-time budget of each fine-tune")
    parser.add_argument("--variants", nargs="+", default=["full", "lora"], help="fine-tuning modes to run")
    parser.add_argument("--learning_rate_full", type=float, default=1e-4, help="learning rate of full fine-tuning")
    parser.add_argument("--learning_rate_lora", type=float, default=1e-3, help="learning rate of the LoRA")
    parser.add_argument("--lora_rank", type=int, default=16, help="LoRA rank")
    parser.add_argument("--vocoder_method", default="hifigan",
                        help="vocoder of every generated clip (before and after alike): 'hifigan' skips the shipped "
                             "'hybrid' Griffin-Lim refinement, which costs 3x the 10 UNet steps on this CPU")
    parser.add_argument("--steps", type=int, default=10, help="DDIM steps per generated clip (before and after)")
    parser.add_argument("--clips", type=int, default=16,
                        help="generate for the first N held-out captions (FAD against every held-out clip)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of generated and reference clips")
    parser.add_argument("--stages", nargs="+", default=["data", "train", "eval"], help="stages to run")
    parser.add_argument("--models", nargs="+", default=["before", "full", "lora"],
                        help="pipelines the eval stage generates with and scores ('before': --pipeline)")
    parser.add_argument("--output", default="benchmarks/results/finetune.json", help="results JSON")
    parser.add_argument("--seed", type=int, default=0, help="seed of the style, the splits and generation")
    return parser.parse_args(argv)


def stage_data(args) -> dict:
    folders = write_style_folders(args.work_dir, args.train_tracks, args.heldout_tracks, args.track_seconds,
                                  seed=args.seed)  # fmt: skip
    info = {}
    for name in ("audio", "heldout"):
        out = os.path.join(args.work_dir, f"musicset-{name}")
        if not os.path.isfile(os.path.join(out, "dataset_dict.json")) or os.path.isdir(os.path.join(out, "_work")):
            build_musicset_from_audio(out, folders[name], os.path.join(args.work_dir, f"{name}_captions.csv"),
                                      seed=args.seed, progress=False)  # fmt: skip
        with open(os.path.join(out, "build_info.json"), encoding="utf-8") as f:
            built = json.load(f)
        info[name] = {split: len(rows) for split, rows in load_musicset(out).items()} | {
            "files": built["report"]["files"],
            "skipped": len(built["report"]["skipped"]),
            "build_wall_seconds_shared_cpu": built["build_seconds"],
        }
    return info


# ----------------------------------------------------------------------------------------------------- 2. fine-tune
def train_command(args, variant: str) -> list[str]:
    """The user's command, as the README gives it, with the benchmark's budget and a shared feature cache."""
    lr = args.learning_rate_full if variant == "full" else args.learning_rate_lora
    return [
        sys.executable, os.path.join(ROOT, "train", "diffusion.py"),
        "--pretrained_pipeline", args.pipeline,
        "--dataset", os.path.join(args.work_dir, "musicset-audio"),
        "--output_dir", os.path.join(args.work_dir, f"run-{variant}"),
        "--cache_dir", os.path.join(args.work_dir, "cache"),
        "--finetune", variant,
        "--lora_rank", str(args.lora_rank),
        "--learning_rate", str(lr),
        "--lr_scheduler", "constant_with_warmup",
        "--lr_warmup_steps", "10",
        "--no-use_ema",  # a short run: the raw weights (LoRA has no EMA either)
        "--train_batch_size", "16",
        "--clip_seconds", "5",
        "--crops_per_clip", "2",
        "--train_crop_seconds", "2.8",  # as the default was trained
        "--max_train_steps", "100000",
        "--max_train_cpu_seconds", str(args.cpu_minutes * 60),
        "--checkpointing_steps", "20",
        "--checkpoints_total_limit", "1",
        "--resume_from_checkpoint", "latest",
        "--validation_steps", "100000",
        "--num_threads", "1",
        "--seed", str(args.seed),
        "--report_to", "none",
    ]  # fmt: skip


def stage_train(args) -> dict:
    info = {}
    for variant in args.variants:
        out = os.path.join(args.work_dir, f"run-{variant}")
        done = os.path.join(out, "training_args.json")
        if not os.path.isfile(os.path.join(out, "model_index.json")) or not os.path.isfile(done):
            command = train_command(args, variant)
            print(" ".join(command), flush=True)
            subprocess.run(command, cwd=ROOT, check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
        with open(done, encoding="utf-8") as f:
            trained = json.load(f)
        info[variant] = {
            "steps": trained["global_step"],
            "train_cpu_seconds": trained["train_cpu_seconds"],
            "seconds_per_step": trained["train_cpu_seconds"] / max(1, trained["global_step"]),
            "melodies_added": trained["melodies_added"],
            "learning_rate": trained["learning_rate"],
            "lora_rank": trained["lora_rank"] if variant == "lora" else None,
            "command": " ".join(train_command(args, variant)[1:]).replace(ROOT + os.sep, ""),
        }
    return info


# ---------------------------------------------------------------------------------------------------------- 3. eval
def heldout_rows(args) -> list[dict]:
    dataset = load_musicset(os.path.join(args.work_dir, "musicset-heldout"))
    rows = [row for split in ("train", "validation", "test") for row in dataset[split]]
    return sorted(rows, key=lambda row: row["id"])


def generate_clips(args, name: str, folder: str, prompts: list[str]) -> tuple[list[np.ndarray], list[dict]]:
    """One clip per prompt (seed = args.seed + i), cached as WAVs so a killed run resumes."""
    from mmgen.audio import load_audio, save_audio
    from pipelines.pipeline_mmgen import MMGenPipeline

    budget = "" if name == "before" else f"-{args.cpu_minutes:g}cpumin"  # clips of another fine-tune are not reused
    out_dir = os.path.join(args.work_dir, "generated", f"{name}{budget}-{args.steps}steps-{args.vocoder_method}")
    os.makedirs(out_dir, exist_ok=True)
    meta_path = os.path.join(out_dir, "melodies.json")
    melodies = json.load(open(meta_path, encoding="utf-8")) if os.path.isfile(meta_path) else {}
    pipe = None
    waves = []
    for i, prompt in enumerate(prompts):
        path = os.path.join(out_dir, f"{i:03d}.wav")
        if not os.path.isfile(path) or str(i) not in melodies:
            if pipe is None:
                pipe = MMGenPipeline.from_pretrained(folder)
                pipe.register_to_config(vocoder_method=args.vocoder_method)
                pipe.set_progress_bar_config(disable=True)
            started = time.perf_counter()
            out = pipe(prompt, audio_length_in_s=args.seconds, num_inference_steps=args.steps,
                       generator=torch.Generator().manual_seed(args.seed + i))  # fmt: skip
            save_audio(path, out.audios[0], SAMPLE_RATE)
            melody = out.melodies[0] if out.melodies else None
            melodies[str(i)] = {"id": melody.get("id") if melody else None,
                                "source": melody.get("source") if melody else None,
                                "seconds": time.perf_counter() - started}  # fmt: skip
            with open(meta_path, "w", encoding="utf-8") as f:
                json.dump(melodies, f)
            print(f"{name} {i + 1}/{len(prompts)} {melodies[str(i)]['seconds']:.1f} s", flush=True)
        waves.append(pad_or_trim(load_audio(path, SAMPLE_RATE, max_duration_s=None), int(args.seconds * SAMPLE_RATE)))
    return waves, [melodies[str(i)] for i in range(len(prompts))]


def text_retrieval(args, folder: str, added_ids: set[str], queries: dict[str, list[str]]) -> dict:
    """How often a text prompt retrieves one of the added melodies (top 1 / top 10), per query set."""
    from mmgen.models.aligner import TriModalAligner
    from mmgen.retrieval import MelodyRetriever

    aligner = TriModalAligner.from_pretrained(os.path.join(folder, "aligner")).eval()
    retriever = MelodyRetriever.from_pretrained(os.path.join(folder, "retriever"))
    out = {"database": len(retriever), "added": len(added_ids)}
    for name, texts in queries.items():
        with torch.no_grad():
            result = retriever.search(aligner.embed_text(texts).float(), k=10)
        ids = [[row["id"] for row in hits] for hits in result.metadata]
        out[name] = {
            "queries": len(texts),
            "top1_added": float(np.mean([hits[0] in added_ids for hits in ids])),
            "top10_added": float(np.mean([any(h in added_ids for h in hits) for hits in ids])),
            "chance_top1": len(added_ids) / len(retriever),
            # a random top 10 of the database holds an added melody this often
            "chance_top10": 1.0 - float(np.prod([1 - len(added_ids) / (len(retriever) - i) for i in range(10)])),
        }
    return out


def stage_eval(args) -> dict:
    rows = heldout_rows(args)
    prompts = [row["caption"] for row in rows][: args.clips]  # the references stay every held-out clip
    paired = len(prompts) == len(rows)
    n = int(args.seconds * SAMPLE_RATE)
    references = [pad_or_trim(decode_audio(row["audio"]), n) for row in rows]
    embedder = default_embedder()
    reference_features = extract_features(references, SAMPLE_RATE, embedder)
    every = {"before": args.pipeline} | {v: os.path.join(args.work_dir, f"run-{v}") for v in ("full", "lora")}
    models = {name: every[name] for name in args.models}
    train_ids = set(load_musicset(os.path.join(args.work_dir, "musicset-audio"))["train"]["id"])
    results = {}
    for name, folder in models.items():
        waves, melodies = generate_clips(args, name, folder, prompts)
        metrics = set_metrics(extract_features(waves, SAMPLE_RATE, embedder), reference_features, "musicnn",
                              paired=paired)  # fmt: skip
        results[name] = metrics | {
            "pipeline": folder,
            "clips": len(waves),
            "retrieved_added_melody": float(np.mean([m["id"] in train_ids for m in melodies])),
            "wall_seconds_per_clip_shared_cpu": float(np.median([m["seconds"] for m in melodies])),
        }
    # FAD floor: the style's own fine-tuning clips against the held-out ones (what a perfect model would reach)
    fit = load_musicset(os.path.join(args.work_dir, "musicset-audio"))["train"]
    floor = [pad_or_trim(decode_audio(row["audio"]), n) for row in fit.select(range(min(len(prompts), len(fit))))]
    results["style_floor"] = set_metrics(extract_features(floor, SAMPLE_RATE, embedder), reference_features,
                                         "musicnn", paired=False)  # fmt: skip
    queries = {"heldout_captions": prompts, "finetune_captions": list(fit["caption"])}
    # Both fine-tunes add the same melodies with the same frozen aligner: their retrievers answer alike.
    after = [name for name in models if name != "before"]
    retrieval = {"after_finetune": text_retrieval(args, models[after[0]], train_ids, queries)} if after else {}
    return {"generation": results, "retrieval": retrieval, "heldout_clips": len(rows), "generated_clips": len(prompts)}


def save(args, updates: dict) -> dict:
    """Merge `updates` into the results file as it is now (stages may run in separate processes)."""
    results = {}
    if os.path.isfile(args.output):
        with open(args.output, encoding="utf-8") as f:
            results = json.load(f)
    for key, value in updates.items():
        results[key] = results.get(key, {}) | value if isinstance(value, dict) and key != "arguments" else value
    write_json(args.output, results)
    return results


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    save(args, {"arguments": vars(args), "machine": machine()})
    if "data" in args.stages:
        save(args, {"data": stage_data(args)})
    if "train" in args.stages:
        save(args, {"train": stage_train(args)})
    if "eval" in args.stages:
        results = save(args, stage_eval(args))
        print(json.dumps({k: results[k] for k in ("generation", "retrieval") if k in results}, indent=1))

if __name__ == "__main__":
    main()
