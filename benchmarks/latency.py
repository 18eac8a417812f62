"""Real time on a free 2-vCPU Space (issue 15): what 10 s of music costs, and what the faster settings keep.

Stages (`--stages`, all by default; one run writes `--output` and `<output stem>.png`):

- `sweep`: quality against denoising steps. For each `--sweep` entry `sampler:steps` (`pipelines.pipeline_mmgen.
  sampler_scheduler`: `dpm++` DPM-Solver++ 2M with Karras sigmas, `unipc`, `ddim`), one clip per test caption of
  `--dataset` (the generation benchmark's clips: evenly spaced, seed `--seed + i`, guidance `--guidance_scale`),
  vocoded with `--sweep_vocoder` (today's hybrid, so that every point compares with today's DDIM-50) and scored as
  `benchmarks/generation.py` scores its melody-guided row (`score_row`: FAD / KL / IS-musicnn against the test
  clips, alignment, and, against the melody that guided each clip, chroma cosine, note-F1, audiocraft chroma and
  melody accuracy). The `quality` rows are the `--baseline` (today's settings) and the shipped default (its
  sampler, the app's default steps and the shipped vocoder).
  `--melody_guidance_scales` adds points at the default's sampler and steps with a separate melody guidance (issue
  20: how far it trades the text and FAD for the melody). Run on a text-only ablation (`--pipeline` its folder,
  `--default_sampler dpm++`, its own `--clips_dir`) the same points give issue 20's FAD comparison at the shipped
  sampler.
  Each clip's log-mel (`output_type="mel"`) and guiding notes are cached under `--clips_dir`, and its waveform per
  vocoder, so that a rerun re-scores without denoising again and a new vocoder only re-vocodes.
- `stages`: seconds per 10 s by stage (aligner, retrieval, UNet loop, VAE, vocoder, other; the `StageTimer` of
  `benchmarks/generation.py`) of `pipe(...)` with the model loaded, for the default and the baseline at each of
  `--threads`: the median wall time of `--repeats` calls after a warm-up, and the process CPU seconds of the same
  calls (on a machine shared with other jobs wall time grows with the load; CPU time does much less). The app's own
  call (`mmgen.app.logic.generate_from_text` with the app's defaults) is timed too, as its handler shows it: until
  the audio is there (`median_s`), then until the adherence check is shown beside it (`median_with_check_s`).
- `process`: whole `python -m mmgen generate PROMPT --seconds S` processes with the CLI's defaults (imports, model
  load, generation, the default adherence check, writing the WAV): wall seconds and peak RSS (`os.wait4`) for 10 s
  and `--long_seconds`; and, in a fresh interpreter, the seconds of `import pipelines.pipeline_mmgen` and of
  `MMGenPipeline.from_pretrained`.

    nohup nice -n 10 .venv/bin/python benchmarks/latency.py --pipeline checkpoints/mmgen-default \\
        --dataset data/musicset-small > /work/logs/latency.log 2>&1 &   # -> benchmarks/results/latency.json + .png

`machine.load_average` is recorded before and after each stage: the wall figures are only as clean as the machine
was quiet.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from generation import StageTimer, reference_clips, score_row, select_rows

from mmgen.audio import SAMPLE_RATE
from mmgen.data import load_musicset
from mmgen.eval.adherence import crop_notes
from mmgen.eval.audio_metrics import default_embedder, extract_features
from mmgen.eval.bench import cpu_name, machine, save_figure, write_json
from mmgen.melody.notes import Note
from pipelines.pipeline_mmgen import MMGenPipeline, limit_peak, sampler_scheduler

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "A calm folk melody played on a solo flute, gentle and airy"
STAGE_KEYS = ("aligner", "retrieval", "unet_loop", "vae", "vocoder", "other", "total")
QUALITY_KEYS = ("fad_musicnn", "kl_musicnn", "alignment_score", "chroma_cosine", "note_f1", "ac_chroma_cosine",
                "melody_accuracy")  # fmt: skip


def quality_columns(row: dict) -> dict:
    """The quality columns of a `generation.score_row` row that a point reports."""
    return {**{k: row.get(k) for k in QUALITY_KEYS}, "note_precision": row.get("note_precision"),
            "note_recall": row.get("note_recall"), "num_clips": row["num_clips"]}  # fmt: skip


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default="checkpoints/mmgen-default", help="MMGenPipeline folder (the default).")
    parser.add_argument("--dataset", default="data/musicset-small", help="MusicSet folder whose clips are scored.")
    parser.add_argument("--split", default="test", help="Split whose captions and clips are scored.")
    parser.add_argument("--num_clips", type=int, default=32, help="Clips scored per sweep point (the split's first "
                        "evenly spaced ones, as benchmarks/generation.py picks them).")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of the scored and timed clips (s).")
    parser.add_argument("--guidance_scale", type=float, default=3.0, help="Classifier-free guidance w.")
    parser.add_argument("--seed", type=int, default=0, help="Clip i is generated with seed `seed + i`.")
    parser.add_argument(
        "--sweep", nargs="*", default=["ddim:50", "dpm++:8", "dpm++:12", "dpm++:20", "unipc:8", "unipc:12"],
        help="Sweep points `sampler:steps` (samplers: dpm++, unipc, ddim).",
    )  # fmt: skip
    parser.add_argument("--sweep_vocoder", default="hybrid", help="vocoder_method of the sweep points.")
    parser.add_argument("--melody_guidance_scales", type=float, nargs="*", default=[],
                        help="Also sweep `melody_guidance_scale` (one more UNet pass per step) at the default's "
                        "sampler and steps, vocoded with --sweep_vocoder.")  # fmt: skip
    parser.add_argument("--baseline", default="ddim:50", help="Today's `sampler:steps` (with --baseline_vocoder).")
    parser.add_argument("--baseline_vocoder", default="hybrid", help="vocoder_method of the baseline.")
    parser.add_argument(
        "--baseline_quality", default=None,
        help="A benchmarks/generation.py JSON whose melody_guided row is the baseline's quality (it must have been "
        "measured with the baseline's sampler, steps and vocoder on the same clips, seed and guidance) instead of "
        "generating the baseline's clips again.",
    )  # fmt: skip
    parser.add_argument("--default_sampler", default=None,
                        help="Sampler of the default (the pipeline folder's scheduler when not given; e.g. `dpm++` to "
                        "score a text-only ablation saved with DDIM at the shipped default's settings).")  # fmt: skip
    parser.add_argument("--default_steps", type=int, default=None,
                        help="Steps of the default (the app's when not given: defaults.DEFAULT_STEPS).")  # fmt: skip
    parser.add_argument("--other_steps", type=int, nargs="*", default=[],
                        help="Also time the default sampler at these steps (stage timing only).")  # fmt: skip
    parser.add_argument("--default_quality_vocoder", default=None,
                        help="Vocoder of the default's quality row (default: the shipped one).")  # fmt: skip
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2], help="torch threads of the stage timing.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed calls per setting (after one warm-up call).")
    parser.add_argument("--process_repeats", type=int, default=3, help="Whole CLI processes timed at 10 s.")
    parser.add_argument("--long_seconds", type=float, default=60.0, help="The long generation whose peak RSS is "
                        "reported beside the 10 s one (one process).")  # fmt: skip
    parser.add_argument("--clips_dir", default="outputs/latency-clips", help="Cache of the sweep's mels and waves.")
    parser.add_argument("--stages", nargs="*", default=["sweep", "stages", "process"],
                        choices=["sweep", "stages", "process"], help="What to measure.")  # fmt: skip
    parser.add_argument("--output", default="benchmarks/results/latency.json", help="JSON to write (+ .png beside).")
    parser.add_argument("--update", action="store_true",
                        help="Keep the --output's other stages, replacing only those measured now.")  # fmt: skip
    return parser.parse_args(argv)


def load_average() -> list[float] | None:
    with contextlib.suppress(OSError):
        return [round(x, 2) for x in os.getloadavg()]
    return None


def parse_point(text: str) -> tuple[str, int]:
    sampler, _, steps = text.partition(":")
    if not steps.isdigit():
        raise SystemExit(f"a sweep point is `sampler:steps`, got {text!r}")
    return sampler, int(steps)


def sampler_name(scheduler) -> str:
    """The `sampler_scheduler` name of a scheduler instance (its class name when it is none of them)."""
    names = {"DPMSolverMultistepScheduler": "dpm++", "UniPCMultistepScheduler": "unipc", "DDIMScheduler": "ddim"}
    return names.get(type(scheduler).__name__, type(scheduler).__name__)


def with_settings(pipe: MMGenPipeline, sampler: str, vocoder_method: str | None = None) -> MMGenPipeline:
    """`pipe`'s components with another sampler and, when given, another vocoder method (the shipped vocoder is
    kept when the method needs it)."""
    components = dict(pipe.components)
    components["scheduler"] = sampler_scheduler(sampler, pipe.scheduler)
    method = vocoder_method or pipe.config.vocoder_method
    if vocoder_method is not None and vocoder_method != pipe.config.vocoder_method and method in ("hybrid", "hifigan",
                                                                                                   "griffinlim"):
        components["vocoder"] = None  # today's: the packaged HiFi-GAN (and Griffin-Lim)
    variant = MMGenPipeline(**components, vocoder_method=method)
    variant.set_progress_bar_config(disable=True)
    return variant


# ------------------------------------------------------------------------------------------------- sweep
def vocode(pipe, mel: torch.Tensor, num_samples: int) -> np.ndarray:
    """The pipeline's own waveform path for a one-window clip: vocoder, then the peak limit."""
    return limit_peak(pipe.mel_to_waveform(mel, num_samples))[0].numpy()


def sweep_point(
    pipe, sampler: str, steps: int, vocoder_method: str, rows, ctx: dict, args, melody_guidance_scale=None
) -> dict:
    """Generate (or read from the cache) and score one sampler:steps point with one vocoder (and, when given, one
    `melody_guidance_scale`). The scores are cached too (`score-<vocoder>.json`, for these clips and this pipeline):
    scoring is deterministic, and on a shared 2-core machine a point's scoring costs minutes."""
    variant = with_settings(pipe, sampler, vocoder_method)
    beta = "" if melody_guidance_scale is None else f"-mg{melody_guidance_scale:g}"
    folder = Path(args.clips_dir) / f"{sampler}-{steps}{beta}"
    wave_folder = folder / f"wav-{vocoder_method}"
    wave_folder.mkdir(parents=True, exist_ok=True)
    score_path = folder / f"score-{vocoder_method}.json"
    ids = [str(row["id"]) for row in rows]
    if score_path.exists():
        cached = json.loads(score_path.read_text())
        if cached.get("clip_ids") == ids and cached.get("pipeline") == args.pipeline:
            return {**cached["point"], "clips_generated_now": 0, "scores_from_cache": True}
    num_samples = int(round(args.seconds * SAMPLE_RATE))
    waves, notes, cpu_generate, cpu_vocode, generated = [], [], [], [], 0
    for i, row in enumerate(rows):
        clip_id = str(row["id"])
        mel_path, notes_path = folder / f"{clip_id}.npy", folder / f"{clip_id}.notes.json"
        if mel_path.exists() and notes_path.exists():
            mel = torch.from_numpy(np.load(mel_path))
            clip_notes = [Note(*n) for n in json.loads(notes_path.read_text())]
        else:
            start = time.process_time()
            out = variant(prompt=str(row["caption"]), audio_length_in_s=args.seconds, num_inference_steps=steps,
                          guidance_scale=args.guidance_scale, melody_guidance_scale=melody_guidance_scale,
                          generator=torch.Generator().manual_seed(args.seed + i), output_type="mel")  # fmt: skip
            cpu_generate.append(time.process_time() - start)
            generated += 1
            mel = out.audios
            clip_notes = list((out.melodies[0] or {}).get("notes") or [])
            np.save(mel_path, mel.numpy())
            notes_path.write_text(json.dumps([[n.onset, n.offset, n.pitch, n.velocity] for n in clip_notes]))
        wave_path = wave_folder / f"{clip_id}.npy"  # float32, exactly what the pipeline returns
        if wave_path.exists():
            wave = np.load(wave_path)
        else:
            start = time.process_time()
            wave = vocode(variant, mel, num_samples)
            cpu_vocode.append(time.process_time() - start)
            np.save(wave_path, wave)
        waves.append(wave)
        notes.append(crop_notes(clip_notes, args.seconds))
        print(f"  {sampler}:{steps} {vocoder_method} clip {i + 1}/{len(rows)}", file=sys.stderr, flush=True)
    features = extract_features(waves, SAMPLE_RATE, ctx["embedder"])
    row = score_row(waves, ctx["captions"], notes, features, reference_features(ctx, rows, args), ctx["aligner"],
                    paired=True)  # fmt: skip
    point = {
        "sampler": sampler, "steps": steps, "scheduler": type(variant.scheduler).__name__,
        "melody_guidance_scale": melody_guidance_scale, "vocoder_method": vocoder_method,
        **quality_columns(row), "clips_generated_now": generated,
        "cpu_s_per_clip_denoise_and_decode": statistics.mean(cpu_generate) if cpu_generate else None,
        "cpu_s_per_clip_vocoder": statistics.mean(cpu_vocode) if cpu_vocode else None,
        "scored_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }  # fmt: skip
    write_json(score_path, {"clip_ids": ids, "pipeline": args.pipeline, "point": point})
    return point


def generation_row(path: str, baseline: tuple[str, int], ctx: dict, args) -> dict:
    """The melody-guided row of a `benchmarks/generation.py` result as the baseline's quality, after checking that it
    measured the same thing: sampler, steps, vocoder, clips, seed, guidance and length."""
    results = json.loads(Path(path).read_text())
    settings, row = results["settings"], results["melody_guided"]
    expected = {"scheduler": type(sampler_scheduler(baseline[0])).__name__, "steps": baseline[1],
                "vocoder_method": args.baseline_vocoder, "clip_ids": ctx["clip_ids"], "seed": args.seed,
                "guidance_scale": args.guidance_scale, "seconds": args.seconds, "num_candidates": 1}  # fmt: skip
    wrong = {k: settings.get(k) for k, v in expected.items() if settings.get(k) != v}
    if wrong or row.get("pipeline") != args.pipeline:
        what = wrong or {"pipeline": row.get("pipeline")}
        raise SystemExit(f"{path} did not measure the baseline {baseline} on these clips: {what}")
    return {"sampler": baseline[0], "steps": baseline[1], "scheduler": settings["scheduler"],
            "vocoder_method": args.baseline_vocoder, **quality_columns(row),
            "from": f"{path} (melody_guided: {row.get('command')})"}  # fmt: skip


def reference_features(ctx: dict, rows, args):
    """The test clips' musicnn features (computed once, when a point is scored rather than read from its cache)."""
    if "reference_features" not in ctx:
        ctx["reference_features"] = extract_features(reference_clips(rows, args.seconds), SAMPLE_RATE, ctx["embedder"])
    return ctx["reference_features"]


def run_sweep(pipe, args, default: tuple[str, int], shipped_vocoder: str) -> dict:
    dataset = load_musicset(args.dataset)
    rows = select_rows(dataset[args.split], args.num_clips)
    ctx = {"embedder": default_embedder(), "captions": [str(r["caption"]) for r in rows], "aligner": pipe.aligner,
           "clip_ids": [str(r["id"]) for r in rows]}  # fmt: skip
    points = [parse_point(p) for p in args.sweep]
    sweep = []
    for sampler, steps in points:
        sweep.append(sweep_point(pipe, sampler, steps, args.sweep_vocoder, rows, ctx, args))
        print(f"sweep {sampler}:{steps}: {json.dumps({k: sweep[-1][k] for k in QUALITY_KEYS})}", file=sys.stderr)
        write_json(Path(args.clips_dir) / "sweep-so-far.json", {"points": sweep})  # a long sweep's progress
    guided = []
    for beta in args.melody_guidance_scales:
        guided.append(sweep_point(pipe, *default, args.sweep_vocoder, rows, ctx, args, melody_guidance_scale=beta))
        print(f"melody guidance {beta:g}: {json.dumps({k: guided[-1][k] for k in QUALITY_KEYS})}", file=sys.stderr)
    baseline = parse_point(args.baseline)
    quality = {"baseline": next((p for p in sweep if (p["sampler"], p["steps"]) == baseline
                                 and p["vocoder_method"] == args.baseline_vocoder), None)}  # fmt: skip
    if quality["baseline"] is None and args.baseline_quality:
        quality["baseline"] = generation_row(args.baseline_quality, baseline, ctx, args)
    if quality["baseline"] is None:
        quality["baseline"] = sweep_point(pipe, *baseline, args.baseline_vocoder, rows, ctx, args)
    vocoder = args.default_quality_vocoder or shipped_vocoder
    match = next((p for p in sweep if (p["sampler"], p["steps"]) == default and p["vocoder_method"] == vocoder),
                 None)  # fmt: skip
    quality["default"] = match or sweep_point(pipe, *default, vocoder, rows, ctx, args)
    if vocoder != shipped_vocoder:
        quality["default"] = {**quality["default"], "note": f"vocoded with {vocoder}, not the shipped "
                              f"{shipped_vocoder} (--default_quality_vocoder)"}  # fmt: skip
    base = quality["baseline"]
    quality["default_vs_baseline"] = {
        k: (quality["default"][k] - base[k]) / abs(base[k]) if base.get(k) else None for k in QUALITY_KEYS
    }
    return {"dataset": args.dataset, "split": args.split, "clip_ids": [str(r["id"]) for r in rows],
            "points": sweep, "melody_guidance": guided, "quality": quality}  # fmt: skip


# ------------------------------------------------------------------------------------------------- stages
def time_stages(pipe, steps: int, threads: int, args, **call_kwargs) -> dict:
    """Seconds per 10 s of `pipe(...)` (`call_kwargs` added) by stage at `threads` torch threads: median wall over
    `--repeats` calls after a warm-up, and the median process CPU seconds of the same calls."""
    torch.set_num_threads(threads)
    timer, scale = StageTimer(pipe), 10.0 / args.seconds
    kwargs = dict(prompt=PROMPT, audio_length_in_s=args.seconds, num_inference_steps=steps,
                  guidance_scale=args.guidance_scale, callback_on_step_end=timer.callback, **call_kwargs)  # fmt: skip
    runs, cpu = [], []
    with timer.active():
        pipe(generator=torch.Generator().manual_seed(args.seed), **kwargs)
        for repeat in range(args.repeats):
            timer.reset()
            start, cpu_start = time.perf_counter(), time.process_time()
            pipe(generator=torch.Generator().manual_seed(args.seed + 1 + repeat), **kwargs)
            cpu.append(time.process_time() - cpu_start)
            runs.append(timer.result(time.perf_counter() - start))
    return {
        "threads": threads,
        "wall_s_per_10s": {k: round(float(np.median([r[k] for r in runs])) * scale, 3) for k in STAGE_KEYS},
        "cpu_s_per_10s": round(float(np.median(cpu)) * scale, 3),
        "real_time_factor": round(float(np.median([r["total"] for r in runs])) / args.seconds, 3),
        "runs_total_s": [round(r["total"], 3) for r in runs],
        "load_average": load_average(),
    }


def time_app_call(pipe_path: str, threads: int, args) -> dict:
    """The app's text-to-music call with its defaults, the model loaded, as its handler makes it (`app.audio_first`):
    the audio first (`median_s`: until the WAV is written and shown), then the adherence check (`median_with_check_s`:
    until the clip's transcription over its melody is shown too)."""
    from mmgen.app import logic
    from mmgen.app.settings import GenerationSettings

    torch.set_num_threads(threads)
    store = logic.PipelineStore(pipe_path)
    store.get()
    audio_times, all_times = [], []
    with tempfile.TemporaryDirectory(prefix="mmgen-latency-") as work:
        for i in range(args.repeats + 1):
            start = time.perf_counter()
            settings = GenerationSettings(seconds=args.seconds, seed=i, adherence=False)
            result = logic.generate_from_text(store, PROMPT, settings, output_dir=work)
            audio_times.append(time.perf_counter() - start)
            logic.check_adherence(result)
            all_times.append(time.perf_counter() - start)
    return {"threads": threads, "median_s": round(statistics.median(audio_times[1:]), 3),
            "median_with_check_s": round(statistics.median(all_times[1:]), 3),
            "runs_s": [round(t, 3) for t in audio_times[1:]],
            "runs_with_check_s": [round(t, 3) for t in all_times[1:]], "load_average": load_average()}  # fmt: skip


# ------------------------------------------------------------------------------------------------ process
def run_process(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (GB) and CPU seconds (user + system) of one child process (its own, `os.wait4`)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read().decode(errors="replace")
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed: {stderr[-2000:]}")
    return wall, usage.ru_maxrss / 1024**2, usage.ru_utime + usage.ru_stime  # ru_maxrss is in KiB on Linux


def cli_command(pipe_path: str, seconds: float, seed: int, output: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mmgen", "generate", PROMPT, "-o", output, "--model", pipe_path,
            "--seconds", f"{seconds:g}", "--seed", str(seed), "-q", *extra]  # fmt: skip


def measure_process(pipe_path: str, args) -> dict:
    code = ("import json, time; t = time.perf_counter(); from pipelines.pipeline_mmgen import MMGenPipeline; "
            "i = time.perf_counter() - t; t = time.perf_counter(); MMGenPipeline.from_pretrained(" + repr(pipe_path)
            + "); print(json.dumps({'import_s': i, 'load_s': time.perf_counter() - t}))")  # fmt: skip
    startup = []
    for _ in range(args.process_repeats):
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        startup.append(json.loads(result.stdout.strip().splitlines()[-1]))
    out = {"import_pipeline_s": round(statistics.median(s["import_s"] for s in startup), 3),
           "from_pretrained_s": round(statistics.median(s["load_s"] for s in startup), 3)}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mmgen-latency-") as work:
        runs = [run_process(cli_command(pipe_path, args.seconds, i, os.path.join(work, f"{i}.wav")))
                for i in range(args.process_repeats)]  # fmt: skip
        bare = [run_process(cli_command(pipe_path, args.seconds, i, os.path.join(work, f"b{i}.wav"), "--no-adherence"))
                for i in range(args.process_repeats)]  # fmt: skip
        long_wall, long_rss, _ = run_process(cli_command(pipe_path, args.long_seconds, 0,
                                                         os.path.join(work, "long.wav")))  # fmt: skip
    out.update({
        "cli_command": " ".join(["python", *cli_command(pipe_path, args.seconds, 0, "out.wav")[1:]]),
        "threads": "the CLI's: one per physical core (mmgen.cli.generate.set_threads)",
        "wall_s": round(statistics.median(r[0] for r in runs), 3), "runs_wall_s": [round(r[0], 3) for r in runs],
        "cpu_s": round(statistics.median(r[2] for r in runs), 3), "peak_rss_gb": round(max(r[1] for r in runs), 3),
        "wall_s_no_adherence": round(statistics.median(r[0] for r in bare), 3),
        "cpu_s_no_adherence": round(statistics.median(r[2] for r in bare), 3),
        f"wall_s_{args.long_seconds:g}s": round(long_wall, 3),
        f"peak_rss_gb_{args.long_seconds:g}s": round(long_rss, 3),
        "load_average": load_average(),
    })  # fmt: skip
    return out


# ------------------------------------------------------------------------------------------------- output
def plot(results: dict, path: Path) -> None:
    """Left: FAD-musicnn and chroma cosine against steps per sampler (today's baseline dashed). Right: seconds per
    10 s by stage, today vs the default, at each thread count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_fad, ax_time) = plt.subplots(1, 2, figsize=(11, 4))
    sweep = results.get("sweep")
    if sweep:
        ax_chroma = ax_fad.twinx()
        for sampler, marker in (("dpm++", "o"), ("unipc", "s"), ("ddim", "^")):
            points = sorted((p for p in sweep["points"] if p["sampler"] == sampler), key=lambda p: p["steps"])
            if not points:
                continue
            steps = [p["steps"] for p in points]
            ax_fad.plot(steps, [p["fad_musicnn"] for p in points], marker=marker, color="tab:blue", label=sampler)
            if all(p["chroma_cosine"] is not None for p in points):  # a text-only model follows no melody
                ax_chroma.plot(steps, [p["chroma_cosine"] for p in points], marker=marker, color="tab:orange",
                               linestyle=":")  # fmt: skip
        base = sweep["quality"]["baseline"]
        ax_fad.axhline(base["fad_musicnn"] * 1.05, color="tab:blue", linestyle="--", linewidth=0.8,
                       label="today's FAD + 5%")  # fmt: skip
        if base["chroma_cosine"] is not None:
            ax_chroma.axhline(base["chroma_cosine"] * 0.95, color="tab:orange", linestyle="--", linewidth=0.8)
        ax_fad.set_xscale("log")
        ax_fad.set_xlabel("denoising steps")
        ax_fad.set_ylabel("FAD-musicnn (solid, lower is better)", color="tab:blue")
        ax_chroma.set_ylabel("chroma cosine (dotted, higher is better)", color="tab:orange")
        ax_fad.legend(fontsize=7, loc="upper right")
        vocoder = sweep["points"][0]["vocoder_method"]
        ax_fad.set_title(f"Quality vs steps ({len(sweep['clip_ids'])} test clips, vocoder {vocoder})", fontsize=9)
    stages = results.get("stages")
    if stages:
        rows = [(f"{name}\n{t['threads']} thr", t) for name in ("baseline", "default")
                for t in stages[name]["timings"]]  # fmt: skip
        bottoms = np.zeros(len(rows))
        for stage in STAGE_KEYS[:-1]:
            values = np.array([t["wall_s_per_10s"][stage] for _, t in rows])
            ax_time.bar(range(len(rows)), values, bottom=bottoms, label=stage)
            bottoms += values
        labels = [label for label, _ in rows]
        ax_time.set_xticks(range(len(rows)), labels, fontsize=7)
        ax_time.axhline(5.0, color="k", linestyle="--", linewidth=0.8, label="target 5 s")
        ax_time.set_ylabel("wall seconds per 10 s of audio")
        ax_time.legend(fontsize=6)
        ax_time.set_title("Where the time goes (model loaded)", fontsize=9)
    save_figure(fig, path)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    from mmgen.app.defaults import DEFAULT_STEPS

    started = time.perf_counter()
    pipe = MMGenPipeline.from_pretrained(args.pipeline)
    pipe.set_progress_bar_config(disable=True)
    default_steps = args.default_steps or DEFAULT_STEPS
    default = (args.default_sampler or sampler_name(pipe.scheduler), default_steps)
    shipped_vocoder = pipe.config.vocoder_method
    output = Path(args.output)
    previous = json.loads(output.read_text()) if args.update and output.exists() else {}
    results = {
        "benchmark": "latency",
        "command": " ".join(["python benchmarks/latency.py", *(sys.argv[1:] if argv is None else argv)]),
        "pipeline": args.pipeline,
        "default": {"sampler": default[0], "scheduler": type(pipe.scheduler).__name__, "steps": default_steps,
                    "vocoder_method": shipped_vocoder,
                    "vocoder": type(pipe.vocoder).__name__ if pipe.vocoder is not None else None},
        "baseline": {"settings": args.baseline, "vocoder_method": args.baseline_vocoder},
        "machine": machine(cpu=cpu_name(), torch=torch.__version__, load_average_at_start=load_average()),
        "settings": {"seconds": args.seconds, "guidance_scale": args.guidance_scale, "seed": args.seed,
                     "repeats": args.repeats, "prompt": PROMPT},
    }  # fmt: skip
    for stage in ("sweep", "stages", "process"):  # kept from the run that measured them (each names its command)
        if stage not in args.stages and stage in previous:
            results[stage] = previous[stage]
    if "sweep" in args.stages:
        torch.set_num_threads(1)
        results["sweep"] = run_sweep(pipe, args, default, shipped_vocoder)
        results["sweep"].update(clips_dir=args.clips_dir, command=results["command"])
        write_json(output, results)
    if "stages" in args.stages:
        baseline = with_settings(pipe, parse_point(args.baseline)[0], args.baseline_vocoder)
        results["stages"] = {
            "baseline": {"steps": parse_point(args.baseline)[1],
                         "timings": [time_stages(baseline, parse_point(args.baseline)[1], t, args)
                                     for t in args.threads]},
            "default": {"steps": default_steps, "timings": [time_stages(pipe, default_steps, t, args)
                                                            for t in args.threads]},
            "default_at_other_steps": {str(n): [time_stages(pipe, n, t, args) for t in args.threads]
                                       for n in args.other_steps},
            "app_call": [time_app_call(args.pipeline, t, args) for t in args.threads],
            "command": results["command"],
        }  # fmt: skip
        write_json(output, results)
    if "process" in args.stages:
        results["process"] = measure_process(args.pipeline, args) | {"command": results["command"]}
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    write_json(output, results)
    plot(results, output.with_suffix(".png"))
    print(f"wrote {output}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
