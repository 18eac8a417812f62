"""Long pieces and continuations (issue 17): do the joins between windows show, does the melody hold over the whole
piece, and what do time and memory do as the piece grows.

For each length, the shipped default makes one piece from a text prompt (its retrieved melody repeated over the
piece) at the CLI's default settings, windows of `--window` s sharing `--overlap` s (the first part held, the last
`--crossfade` s made afresh and cross-faded: the pipeline's `window_crossfade_in_s`, by default half the overlap):

- **seams vs interiors**: on the output's log-mel (`mmgen.audio`), the frame-to-frame change (mean |dM|, natural-log
  units) and the spectral flux (sum of positive magnitude increases) at each join (where a window's shared frames
  start, where its held frames end and where its new frames begin, +-4 frames) against the frames away from every
  join; the ratio of their means should be <= 1.2 (a join no louder than music);
- the same for two baselines: every shared frame held (`window_crossfade_in_s=0`, plain RePaint-style inpainting),
  and windows generated independently (their own seeds, the same melody span each) cross-faded over the overlap;
- **further retrieved melodies** (`--chained_lengths`): the same piece with `melody_extension="retrieve"` (the
  query's next matches, moved into the first melody's key and tempo) against the repeated melody: joins and adherence;
- **a continuation**: a test clip of MusicSet (its first `--prompt_s`) continued: the frames around the join against
  the new music and against the prompt;
- **melody adherence over the whole piece** (`mmgen.eval.adherence.melody_adherence` against the notes the pipeline
  reports);
- **seconds per minute of audio** and **peak RSS** (each length in its own process; `ru_maxrss` right after the
  generation call, model load included, and the RSS after loading, so the growth with length shows).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/long_form.py --lengths 60 300 --threads 1
    -> benchmarks/results/long_form.json   (--update re-measures some lengths and keeps the rest)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch

from mmgen.app.defaults import DEFAULT_GUIDANCE, DEFAULT_STEPS
from mmgen.audio import HOP_LENGTH, SAMPLE_RATE, log_mel_spectrogram, pad_or_trim, save_audio
from mmgen.eval.bench import json_safe, machine
from mmgen.long_form import Window, crossfade_into, plan_windows, scale_window, split_held
from mmgen.melody.sketch import notes_in_span

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT = "a calm waltz on a music box"
SEAM_MARGIN = 2  # log-mel frames on each side of a cross-fade that still count as the join
INTERIOR_GAP = 8  # log-mel frames between a join and the frames that count as interior


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default=os.path.join(ROOT, "checkpoints", "mmgen-default"))
    parser.add_argument("--lengths", type=float, nargs="+", default=[60.0, 300.0], help="Piece lengths in seconds.")
    parser.add_argument("--baseline_lengths", type=float, nargs="*", default=[60.0],
                        help="Lengths also made by independent windows (the join baseline).")  # fmt: skip
    parser.add_argument("--held_all_lengths", type=float, nargs="*", default=[60.0],
                        help="Lengths also made holding every shared frame (window_crossfade_in_s=0).")  # fmt: skip
    parser.add_argument("--chained_lengths", type=float, nargs="*", default=[60.0],
                        help="Lengths also made with melody_extension='retrieve' (further retrieved melodies).")
    parser.add_argument("--continuation_s", type=float, default=20.0, help="New seconds after a test clip.")
    parser.add_argument("--prompt_s", type=float, default=10.0, help="Seconds of the test clip continued.")
    parser.add_argument("--dataset", default=os.path.join(ROOT, "data", "musicset-small"))
    parser.add_argument("--window", type=float, default=20.0, help="window_length_in_s")
    parser.add_argument("--overlap", type=float, default=2.0, help="window_overlap_in_s")
    parser.add_argument("--crossfade", type=float, default=None,
                        help="window_crossfade_in_s (default: the pipeline's, half the overlap)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="Denoising steps (the app's and CLI's).")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE, help="guidance_scale (the app's, CLI's).")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--update", action="store_true",
                        help="Keep the --output's rows of other lengths (same settings required), replacing those "
                        "measured now.")  # fmt: skip
    parser.add_argument("--audio_dir", default=None, help="Also write each piece here as a WAV (to listen and look).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results", "long_form.json"))
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # "piece:60", "baseline:60", "continuation"
    return parser.parse_args(argv)


# --- joins -----------------------------------------------------------------------------------------------------------
def frame_changes(wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame-to-frame change of a clip's log-mel, shape `(frames - 1,)` each: mean |dM| and spectral flux."""
    log_mel = log_mel_spectrogram(wave.astype(np.float32))
    change = np.abs(np.diff(log_mel, axis=1)).mean(axis=0)
    flux = np.clip(np.diff(np.exp(log_mel), axis=1), 0, None).sum(axis=0)
    return change, flux


def join_frames(
    joins: Sequence[tuple[int, int]], num_frames: int, interior_span: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Masks over the `num_frames` frame changes: those inside a join `[start, stop)` (+- `SEAM_MARGIN`), and the
    interior ones (inside `interior_span` when given), at least `INTERIOR_GAP` frames away from every join."""
    seam, near = np.zeros(num_frames, bool), np.zeros(num_frames, bool)
    for start, stop in joins:
        seam[max(0, start - SEAM_MARGIN) : stop + SEAM_MARGIN] = True
        near[max(0, start - INTERIOR_GAP) : stop + INTERIOR_GAP] = True
    interior = ~near
    if interior_span is not None:
        interior[: interior_span[0]] = interior[interior_span[1] :] = False
    return seam, interior


def seam_report(
    wave: np.ndarray, joins: Sequence[tuple[int, int]], interior_span: tuple[int, int] | None = None
) -> dict:
    """Seams vs interiors of one clip; `joins` and `interior_span` in log-mel frames."""
    change, flux = frame_changes(wave)
    seam, interior = join_frames(joins, change.shape[0], interior_span)
    report = {"num_join_spans": len(joins)}
    for name, values in (("logmel_change", change), ("spectral_flux", flux)):
        report[f"{name}_seam"] = float(values[seam].mean())
        report[f"{name}_interior"] = float(values[interior].mean())
        report[f"{name}_ratio"] = report[f"{name}_seam"] / report[f"{name}_interior"]
        report[f"{name}_worst_seam_ratio"] = (
            max(float(values[max(0, a - SEAM_MARGIN) : b + SEAM_MARGIN].mean()) for a, b in joins)
            / report[f"{name}_interior"]
        )
        report[f"{name}_worst_of_as_many_interior_spans"] = worst_interior_span(values, interior, joins)
    return report


def worst_interior_span(values: np.ndarray, interior: np.ndarray, joins: Sequence[tuple[int, int]]) -> float | None:
    """What the worst seam is to be read against: music alone has loud spans. Of all interior spans as wide as a
    seam span, the quantile that the worst of `len(joins)` of them reaches on average (1 - 1 / (joins + 1)), as a
    ratio to the interior mean. None when the interiors hold no such span."""
    width = max(b - a for a, b in joins) + 2 * SEAM_MARGIN
    starts = [i for i in range(len(values) - width + 1) if interior[i : i + width].all()]
    if not starts:
        return None
    means = np.array([values[i : i + width].mean() for i in starts])
    return float(np.quantile(means, 1 - 1 / (len(joins) + 1)) / values[interior].mean())


EDGES = ("starts", "holds", "ends")
ROWS = {"piece": "pieces", "chained": "chained", "heldall": "held_all", "baseline": "baselines"}  # job kind -> key


def window_joins(
    pipe, total_frames: int, window_s: float, overlap_s: float, crossfade_s: float | None = None, held: int = 0,
    edges: Sequence[str] = EDGES,
) -> list[tuple[int, int]]:
    """Where each window of a piece of `total_frames` latent frames could show, in log-mel frames: where its shared
    frames start (`"starts"`: the decoders' cross-fade begins), where its held frames end (`"holds"`: the latent
    cross-fade begins) and where its new frames begin (`"ends"`); a narrow span around each, so that a step there is
    not averaged away."""
    window, overlap = pipe.window_sizes(window_s, overlap_s)
    crossfade = pipe.window_crossfade_frames(overlap, crossfade_s)
    points = set()
    for w in plan_windows(total_frames, window, overlap, held):
        hold, _ = split_held(w, crossfade)
        if w.held:
            points.update({"starts": w.start, "holds": w.start + hold, "ends": w.start + w.held}[e] for e in edges)
    return [(point * pipe.vae_scale_factor - 2, point * pipe.vae_scale_factor + 2) for point in sorted(points)]


# --- one measurement per process ----------------------------------------------------------------------------------
def load(args):
    from pipelines import MMGenPipeline

    torch.set_num_threads(args.threads)
    pipe = MMGenPipeline.from_pretrained(args.pipeline)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def adherence(wave: np.ndarray, notes) -> dict:
    from mmgen.eval.adherence import melody_adherence

    return melody_adherence([wave], [notes])


def measure_piece(args, seconds: float, crossfade_s: float | None, melody_extension: str = "repeat") -> dict:
    pipe = load(args)
    loaded_rss = current_rss_mb()
    started = time.perf_counter()
    out = pipe(PROMPT, audio_length_in_s=seconds, num_inference_steps=args.steps, guidance_scale=args.guidance,
               window_length_in_s=args.window, window_overlap_in_s=args.overlap, window_crossfade_in_s=crossfade_s,
               melody_extension=melody_extension, generator=torch.Generator().manual_seed(args.seed))  # fmt: skip
    elapsed = time.perf_counter() - started
    peak = rss_mb()
    wave, melody = out.audios[0], out.melodies[0]
    notes = melody["notes"]
    if args.audio_dir:
        os.makedirs(args.audio_dir, exist_ok=True)
        save_audio(os.path.join(args.audio_dir, f"{melody_extension}-{seconds:g}s-crossfade{crossfade_s}.wav"), wave)
    total_frames = pipe.window_frames(seconds)
    window, overlap = pipe.window_sizes(args.window, args.overlap)
    joins = window_joins(pipe, total_frames, args.window, args.overlap, crossfade_s)
    return {"seconds": seconds, "melody_extension": melody_extension,
            "melodies_followed": [melody["id"], *melody.get("followed_by", [])],
            "num_windows": len(plan_windows(total_frames, window, overlap)),
            "crossfade_frames": pipe.window_crossfade_frames(overlap, crossfade_s), "overlap_frames": overlap,
            "wall_s": elapsed, "s_per_minute_of_audio": elapsed / (seconds / 60), "rss_after_load_mb": loaded_rss,
            "peak_rss_mb": peak, "output_waveform_mb": wave.nbytes / 2**20,
            "joins": seam_report(wave, joins), **edge_reports(pipe, wave, total_frames, args, crossfade_s),
            "melody_adherence": adherence(wave, notes)}  # fmt: skip


def edge_reports(pipe, wave: np.ndarray, total_frames: int, args, crossfade_s: float | None) -> dict:
    """The joins split by kind (`EDGES`): where the shared frames start, where the held ones end, where the new
    ones begin."""
    return {f"joins_{edge}": seam_report(wave, window_joins(pipe, total_frames, args.window, args.overlap,
                                                            crossfade_s, edges=(edge,)))
            for edge in EDGES}  # fmt: skip


def measure_baseline(args, seconds: float) -> dict:
    """Independent windows (no held frames), each following its span of the same melody, cross-faded together."""
    pipe = load(args)
    melody = pipe(PROMPT, audio_length_in_s=seconds, num_inference_steps=1, output_type="latent",
                  window_length_in_s=args.window, window_overlap_in_s=args.overlap).melodies[0]  # fmt: skip
    total = pipe.window_frames(seconds)
    window, overlap = pipe.window_sizes(args.window, args.overlap)
    frame_s = pipe.vae_scale_factor * HOP_LENGTH / SAMPLE_RATE
    piece = torch.zeros(1, total * pipe.vae_scale_factor * HOP_LENGTH)
    started = time.perf_counter()
    for k, w in enumerate(plan_windows(total, window, overlap)):
        notes = notes_in_span(melody["notes"], w.start * frame_s, w.stop * frame_s)
        clip = pipe(PROMPT, melody=notes, audio_length_in_s=w.length * frame_s, num_inference_steps=args.steps,
                    guidance_scale=args.guidance, window_length_in_s=args.window,
                    generator=torch.Generator().manual_seed(args.seed + k)).audios  # fmt: skip
        samples = scale_window(w, pipe.vae_scale_factor * HOP_LENGTH)
        crossfade_into(piece, torch.from_numpy(pad_or_trim(clip[0], samples.length))[None], samples)
    elapsed = time.perf_counter() - started
    wave = piece[0, : int(round(seconds * SAMPLE_RATE))].numpy()
    joins = window_joins(pipe, total, args.window, args.overlap, 0.0)
    return {"seconds": seconds, "wall_s": elapsed, "joins": seam_report(wave, joins),
            **edge_reports(pipe, wave, total, args, 0.0),
            "melody_adherence": adherence(wave, melody["notes"])}  # fmt: skip


def measure_continuation(args) -> dict:
    from mmgen.data import decode_audio, load_musicset

    pipe = load(args)
    row = load_musicset(args.dataset)["test"][0]
    prompt = decode_audio(row["audio"])[: int(args.prompt_s * SAMPLE_RATE)]
    started = time.perf_counter()
    out = pipe(audio_prompt=prompt, audio_length_in_s=args.continuation_s, num_inference_steps=args.steps,
               guidance_scale=args.guidance, window_length_in_s=args.window, window_overlap_in_s=args.overlap,
               window_crossfade_in_s=args.crossfade, generator=torch.Generator().manual_seed(args.seed))  # fmt: skip
    elapsed = time.perf_counter() - started
    # the prompt's held frames end, then its cross-faded ones: the join is the frames around both, against the new
    # music and against the prompt
    scale, prompt_frames = pipe.vae_scale_factor, len(prompt) // HOP_LENGTH // pipe.vae_scale_factor
    crossfade = pipe.window_crossfade_frames(pipe.window_sizes(args.window, args.overlap)[1], args.crossfade)
    hold, _ = split_held(Window(0, prompt_frames, prompt_frames), crossfade)
    hold, end = hold * scale, prompt_frames * scale
    wave, join = out.audios[0], sorted({(hold - 2, hold + 2), (end - 2, end + 2)})
    return {"prompt_clip": row["id"], "prompt_s": len(prompt) / SAMPLE_RATE, "new_s": args.continuation_s,
            "wall_s": elapsed,
            "join_vs_new_music": seam_report(wave, join, (end, len(wave) // HOP_LENGTH)),
            "join_vs_prompt": seam_report(wave, join, (0, end)),
            "melody_source": out.melodies[0]["source"]}  # fmt: skip


def run_one(args) -> dict:
    kind, _, value = args.one.partition(":")
    if kind == "piece":
        return measure_piece(args, float(value), args.crossfade)
    if kind == "chained":
        return measure_piece(args, float(value), args.crossfade, melody_extension="retrieve")
    if kind == "heldall":
        return measure_piece(args, float(value), 0.0)
    if kind == "baseline":
        return measure_baseline(args, float(value))
    return measure_continuation(args)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.one:
        print(json.dumps(json_safe(run_one(args))))
        return {}
    jobs = [f"piece:{s:g}" for s in args.lengths] + [f"heldall:{s:g}" for s in args.held_all_lengths]
    jobs += [f"chained:{s:g}" for s in args.chained_lengths] + [f"baseline:{s:g}" for s in args.baseline_lengths]
    jobs.append("continuation")
    results = {"settings": {k: v for k, v in vars(args).items() if k not in ("one", "output")},
               "machine": machine(torch=torch.__version__), **{key: [] for key in ROWS.values()}}  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    # each child parses these again: pass the resolved values, so that a default changed meanwhile cannot split a run
    given = list(argv if argv is not None else sys.argv[1:])
    passthrough = [*given, "--steps", str(args.steps), "--guidance", str(args.guidance)]
    for job in jobs:
        print(f"--- {job}", flush=True)
        done = subprocess.run([sys.executable, __file__, *passthrough, "--one", job], env=env, check=True,
                              capture_output=True, text=True)  # fmt: skip
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(measured), flush=True)
        key = ROWS.get(job.split(":")[0])
        if key:
            results[key].append(measured)
        else:
            results["continuation"] = measured
    results["commands"] = [" ".join(["python benchmarks/long_form.py", *given])]
    if args.update and os.path.isfile(args.output):
        with open(args.output) as f:
            results = merge_runs(json.load(f), results)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(json_safe(results), f, indent=2)
    return results


SAME_SETTINGS = ("pipeline", "dataset", "window", "overlap", "crossfade", "steps", "guidance", "threads", "seed")


def merge_runs(previous: dict, new: dict) -> dict:
    """`new`'s rows over `previous`'s: a row of a length measured now replaces the old one, the others stay; both
    runs' commands are kept. Runs of other settings are refused (their rows would not compare)."""
    old_settings, new_settings = previous.get("settings", {}), new["settings"]
    differ = {k: (old_settings.get(k), new_settings.get(k)) for k in SAME_SETTINGS
              if old_settings.get(k) != new_settings.get(k)}  # fmt: skip
    if differ:
        raise SystemExit(f"--update: {previous.get('commands')} ran with other settings: {differ}")
    merged = {**new, "commands": [*previous.get("commands", []), *new["commands"]]}
    for key in ROWS.values():
        measured = {row["seconds"] for row in new.get(key, [])}
        kept = [row for row in previous.get(key, []) if row["seconds"] not in measured]
        merged[key] = sorted(kept + new.get(key, []), key=lambda row: row["seconds"])
    for key in ("lengths", "held_all_lengths", "chained_lengths", "baseline_lengths"):
        merged["settings"][key] = sorted({*old_settings.get(key, []), *new_settings.get(key, [])})
    return merged


if __name__ == "__main__":
    main()
