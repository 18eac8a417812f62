"""The first real model, measured (issue 8): generation quality on a MusicSet split, and latency by stage.

Rows (keys of the JSON):

- `melody_guided`: the `--pipeline` (retrieval-guided MMGen), one clip per test caption;
- `text_only`: the `--text_only_pipeline` ablation (same captions, seeds, steps and guidance); when the flag is
  absent the key holds `{"missing": <why>}` instead of numbers;
- `own_melody`: the `--pipeline` given each test clip's own transcribed melody as `melody=` (the user-melody case);
- `global_only`: the `--global_only_pipeline` ablation (melody only as the global vector c, the paper's design);
- `previous`: the `--previous_pipeline` (the previously shipped default), a reference point at other compute;
- `reference`: the test clips themselves (the upper bound of every column);
- `round_trip`: each test clip through the `--pipeline`'s VAE and vocoder (the ceiling of any generation);
- `condition_sensitivity`: per model, the mean CQT-dB correlation of clips of one seed under different conditions
  against one condition under different seeds (`<output stem>_sensitivity.png` beside the JSON);
- `latency`: seconds per 10 s of audio of the `--pipeline` for each of `--latency_steps`, split by stage
  (aligner, retrieval, UNet loop, VAE, vocoder, other).

Metrics (all from `mmgen.eval`): FAD / KL / IS with musicnn features (generated clips against the test references;
KL over the caption pairs; the reference row's FAD is against clips of the `--fad_floor_split` split, a
real-vs-real floor, and its KL is undefined), the alignment score (cosine of the aligner's audio embedding of a
clip and its text embedding of the caption, judged for every row by the `--pipeline`'s aligner so the rows are
comparable), and melody adherence: chroma cosine and Basic Pitch note F1 of each clip against the notes of the
melody that guided it (the pipeline output's `melodies[i]`). The text-only model has no guiding melody, so it is
scored against the melody the melody-guided model retrieved for the same caption (what guidance would have asked
for); the references are scored against their own `melody` column (Basic Pitch transcription) and, for synthetic
sets, also against `melody_gt`. Reference clips and melodies are cut to the first `--seconds`.

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/generation.py \
        --pipeline checkpoints/mmgen-default --text_only_pipeline checkpoints/mmgen-text-only \
        --dataset data/musicset-small          # -> benchmarks/results/generation.json and generation.md

Stage timing wraps the components' methods for the duration of the latency calls: `aligner.embed_text` /
`embed_audio` / `embed_melody` (aligner), `retriever.search` (retrieval), `vae.decode` (VAE), the pipeline's
`mel_to_waveform` (vocoder, Griffin-Lim refinement included for `vocoder_method="hybrid"`); the UNet loop runs
from the start of the first UNet call to the last `callback_on_step_end` (UNet passes, guidance and scheduler).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmgen.audio import SAMPLE_RATE, pad_or_trim, save_audio
from mmgen.data import decode_audio, load_musicset
from mmgen.eval.adherence import crop_notes, melody_adherence, melody_notes, parse_notes
from mmgen.eval.alignment import alignment_score
from mmgen.eval.audio_metrics import default_embedder, extract_features, set_metrics
from mmgen.eval.bench import cpu_name, json_safe, save_figure
from mmgen.eval.distributions import MetricInputError
from mmgen.eval.generation import markdown_table
from mmgen.melody.notes import Note
from mmgen.melody.sketch import SKETCH_MAX_PITCH, SKETCH_MIN_PITCH

STAGES = ("aligner", "retrieval", "unet_loop", "vae", "vocoder")
ALL_ROWS = ("melody_guided", "own_melody", "global_only", "text_only", "previous", "reference", "round_trip",
            "sensitivity", "latency")  # fmt: skip
ROW_NAMES = {
    "melody_guided": "MMGen (melody-guided)",
    "own_melody": "MMGen, the clip's own melody given",
    "global_only": "Global-vector-only ablation",
    "previous": "Previous default",
    "text_only": "Text-only ablation",
    "reference": "Test references",
    "round_trip": "Decoder round trip (VAE + vocoder)",
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", type=str, required=True, help="Melody-guided MMGenPipeline folder.")
    parser.add_argument(
        "--text_only_pipeline",
        type=str,
        default=None,
        help="Text-only ablation pipeline folder (trained with `--condition text_only` at equal compute).",
    )
    parser.add_argument(
        "--global_only_pipeline",
        type=str,
        default=None,
        help="Ablation whose melody reaches the UNet only as the global vector c (`train/diffusion.py "
        "--melody_input none`, the paper's design) at equal compute.",
    )
    parser.add_argument(
        "--previous_pipeline",
        type=str,
        default=None,
        help="The previously shipped default, scored the same way (a reference point, not an equal-compute ablation).",
    )
    parser.add_argument("--dataset", type=str, required=True, help="MusicSet folder (`mmgen.data.load_musicset`).")
    parser.add_argument("--split", type=str, default="test", help="Split whose captions and clips are evaluated.")
    parser.add_argument(
        "--fad_floor_split",
        type=str,
        default="validation",
        help="Split whose clips the references' FAD is measured against (real-vs-real floor); '' to skip.",
    )
    parser.add_argument(
        "--num_clips",
        type=int,
        default=None,
        help="Evaluate this many clips, evenly spaced over the split (deterministic); default: all.",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of generated and reference clips (s).")
    parser.add_argument("--steps", type=int, default=100, help="Inference steps of the generations that are scored.")
    parser.add_argument("--guidance_scale", type=float, default=3.0, help="Classifier-free guidance weight w.")
    parser.add_argument(
        "--num_candidates",
        type=int,
        default=1,
        help="Candidates per clip re-ranked by aligner score (the official setting is 3; costs that many times more).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Clip i is generated with seed `seed + i` by every model.")
    parser.add_argument(
        "--latency_steps",
        type=int,
        nargs="*",
        default=[50, 100],
        help="Step counts to time (seconds per 10 s of audio); none to skip the latency measurement.",
    )
    parser.add_argument("--latency_repeats", type=int, default=3, help="Timed calls per step count (after a warm-up).")
    parser.add_argument(
        "--latency_seconds", type=float, default=10.0, help="Audio length of the timed calls (results scaled to 10 s)."
    )
    parser.add_argument(
        "--sensitivity_clips",
        type=int,
        default=6,
        help="Condition-sensitivity figure: this many captions under one seed and one caption under this many seeds, "
        "per model (0 to skip).",
    )
    parser.add_argument(
        "--rows",
        nargs="+",
        choices=ALL_ROWS,
        default=list(ALL_ROWS),
        help="The rows to measure (default: all; `sensitivity` is measured for --pipeline and every other model row "
        "measured in the run).",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="Keep the rows already in --output (same clips and settings, else refused); replace the measured ones.",
    )
    parser.add_argument(
        "--exclude_indexed_by",
        type=str,
        default=None,
        help="A MelodyRetriever folder: leave out the clips whose melodies it indexes (clips the models built on "
        "its training split have seen), then pick --num_clips of the rest.",
    )
    parser.add_argument(
        "--melody_guidance_scale",
        type=float,
        default=None,
        help="The pipeline's melody_guidance_scale (beta; None: the paper's single guidance).",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice).")
    parser.add_argument("--output", type=str, default="benchmarks/results/generation.json", help="JSON to write.")
    parser.add_argument(
        "--markdown", type=str, default=None, help="Markdown table to write (default: the --output path with .md)."
    )
    parser.add_argument(
        "--save_audio",
        type=str,
        default=None,
        help="Folder for the clips as WAV (<row>/<id>.wav) and the guiding melodies (<row>/<id>.txt token strings).",
    )
    args = parser.parse_args(argv)
    if args.sensitivity_clips < 0 or args.sensitivity_clips == 1:
        parser.error("--sensitivity_clips must be 0 or at least 2")
    for name in ("num_clips", "steps", "latency_repeats", "num_candidates"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be a positive integer, got {value}")
    if any(s < 1 for s in args.latency_steps):
        parser.error(f"--latency_steps must be positive integers, got {args.latency_steps}")
    if args.seconds <= 0 or args.latency_seconds <= 0:
        parser.error("--seconds and --latency_seconds must be positive")
    return args


# ------------------------------------------------------------------------------------------------------- data
def select_rows(split, num_clips: int | None) -> list[dict]:
    """`num_clips` rows evenly spaced over the split (all of them by default), in split order."""
    total = len(split)
    if total == 0:
        raise ValueError("the split has no rows")
    count = total if num_clips is None else min(num_clips, total)
    indices = sorted({int(round(i)) for i in np.linspace(0, total - 1, count)})
    return [split[i] for i in indices]


def reference_clips(rows: list[dict], seconds: float) -> list[np.ndarray]:
    """Decoded clips cut (or zero-padded) to `seconds`."""
    length = int(round(seconds * SAMPLE_RATE))
    return [pad_or_trim(decode_audio(row).astype(np.float32), length) for row in rows]


# ------------------------------------------------------------------------------------------------ metrics
def audio_set_metrics(features, reference_features, *, paired: bool) -> dict:
    """FAD / KL / IS-musicnn, with the reason in `errors` when a metric cannot be computed."""
    out = {"fad_musicnn": None, "kl_musicnn": None, "is_musicnn": None, "is_musicnn_std": None}
    try:
        out.update(set_metrics(features, reference_features, "musicnn", paired=paired))
    except MetricInputError as error:  # e.g. a single clip: FAD needs two embeddings per set
        out["errors"] = [f"FAD/KL/IS: {error}"]
        try:
            out.update(set_metrics(features, None, "musicnn"))
        except MetricInputError:
            pass
    return out


def score_row(
    waves, captions, melodies, features, reference_features, aligner, *, paired: bool, reference_audio=None
) -> dict:
    """Every metric of one row of the table."""
    row = audio_set_metrics(features, reference_features, paired=paired)
    row["alignment_score"] = float(np.mean(alignment_score(aligner, list(waves), list(captions))))
    row.update(melody_adherence(waves, melodies, reference_audio=reference_audio))
    row["num_clips"] = len(waves)
    return row


# ------------------------------------------------------------------------------------------------- models
def load_pipeline(path: str):
    from pipelines.pipeline_mmgen import MMGenPipeline

    pipe = MMGenPipeline.from_pretrained(path)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(
    pipe,
    captions: Sequence[str],
    args: argparse.Namespace,
    user_melodies: Sequence[list[Note]] | None = None,
    seeds: Sequence[int] | None = None,
) -> tuple[list[np.ndarray], list, float]:
    """One clip per caption (clip i with seed `args.seed + i`, or `seeds[i]`), guided by `user_melodies[i]` when given
    (else by retrieval); returns the clips, their guiding melodies and the wall seconds spent."""
    waves, melodies = [], []
    start = time.perf_counter()
    for i, caption in enumerate(captions):
        out = pipe(
            prompt=caption,
            melody=user_melodies[i] if user_melodies is not None else None,
            audio_length_in_s=args.seconds,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance_scale,
            num_candidates=args.num_candidates,
            melody_guidance_scale=getattr(args, "melody_guidance_scale", None) if pipe.uses_melody else None,
            generator=torch.Generator().manual_seed(args.seed + i if seeds is None else seeds[i]),
            output_type="np",
        )
        waves.append(np.asarray(out.audios[0], dtype=np.float32))
        melodies.append(out.melodies[0])
    return waves, melodies, time.perf_counter() - start


def describe_melody(info: dict | None) -> dict | None:
    if info is None:
        return None
    return {k: info.get(k) for k in ("id", "caption", "source", "score")}


# ------------------------------------------------------------------------------------------------ latency
class StageTimer:
    """Sums the wall time of the pipeline's stages while active (see the module docstring for what is wrapped)."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.reset()

    def reset(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.unet_forward = 0.0
        self.unet_calls = 0
        self._loop_start = None
        self._loop_end = None

    def _wrap(self, stack: contextlib.ExitStack, owner, name: str, stage: str | None) -> None:
        if owner is None or not hasattr(owner, name):
            return
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                if stage is None:  # the UNet: the loop starts at its first call
                    self._loop_start = start if self._loop_start is None else self._loop_start
                    self.unet_forward += elapsed
                    self.unet_calls += 1
                else:
                    self.seconds[stage] += elapsed

        setattr(owner, name, timed)  # an instance attribute shadows the method ...
        stack.callback(delattr, owner, name)  # ... and deleting it restores the method

    def callback(self, pipe, step, timestep, callback_kwargs) -> dict:
        """`callback_on_step_end`: marks the end of the step."""
        self._loop_end = time.perf_counter()
        return {}

    @contextlib.contextmanager
    def active(self):
        pipe = self.pipe
        with contextlib.ExitStack() as stack:
            for name in ("embed_text", "embed_audio", "embed_melody"):
                self._wrap(stack, pipe.aligner, name, "aligner")
            self._wrap(stack, getattr(pipe, "retriever", None), "search", "retrieval")
            self._wrap(stack, pipe.unet, "forward", None)
            self._wrap(stack, pipe.vae, "decode", "vae")
            self._wrap(stack, pipe, "mel_to_waveform", "vocoder")
            yield self

    def result(self, total: float) -> dict:
        seconds = dict(self.seconds)
        if self._loop_start is not None and self._loop_end is not None:
            seconds["unet_loop"] = self._loop_end - self._loop_start
        seconds["other"] = max(total - sum(seconds[s] for s in STAGES), 0.0)
        seconds["total"] = total
        return seconds


def retrieval_guided_row(path, captions, args, embedder, reference_features, aligner, melody_target: str):
    """Load the pipeline at `path`, generate one clip per caption and score it against the melody that guided it.

    Returns:
        `(pipeline, row)`.
    """
    pipe = load_pipeline(path)
    waves, info, seconds = generate(pipe, captions, args)
    notes = [crop_notes(melody_notes(i), args.seconds) for i in info]
    row = score_row(waves, captions, notes, extract_features(waves, SAMPLE_RATE, embedder), reference_features,
                    aligner, paired=True)  # fmt: skip
    row.update(pipeline=path, melody_target=melody_target, generation_seconds_per_clip=seconds / len(captions))
    return pipe, row


def sketchable(notes: list[Note] | None) -> list[Note] | None:
    """The notes the melody sketch can render (a transcription may hold a stray note outside A0..C8)."""
    kept = [n for n in notes or [] if SKETCH_MIN_PITCH <= n.pitch <= SKETCH_MAX_PITCH]
    return kept or None


@torch.no_grad()
def decoder_round_trip(pipe, wave: np.ndarray) -> np.ndarray:
    """A clip through the pipeline's VAE (posterior mean) and vocoder, peak-limited as the pipeline's output is."""
    from mmgen.audio import log_mel_spectrogram
    from mmgen.models.vae import encode_mels
    from pipelines.pipeline_mmgen import limit_peak

    mel = torch.from_numpy(log_mel_spectrogram(wave))[None]
    decoded = pipe.decode_latents(encode_mels(pipe.vae, mel), mel.shape[-1])
    return limit_peak(pipe.mel_to_waveform(decoded, len(wave)))[0].numpy()


def cqt_db(wave: np.ndarray) -> np.ndarray:
    """Constant-Q magnitude in dB (84 semitones from C1), the view in which the sensitivity is measured."""
    import librosa

    return librosa.amplitude_to_db(np.abs(librosa.cqt(wave, sr=SAMPLE_RATE, n_bins=84)), ref=1.0, top_db=80.0)


def mean_pairwise_correlation(waves: Sequence[np.ndarray]) -> float:
    """Mean Pearson correlation of the CQT (dB) of every pair of clips."""
    views = [cqt_db(w).ravel() for w in waves]
    pairs = [np.corrcoef(views[i], views[j])[0, 1] for i in range(len(views)) for j in range(i + 1, len(views))]
    return float(np.mean(pairs))


def condition_sensitivity(pipe, captions: Sequence[str], args: argparse.Namespace) -> dict:
    """Clips of one seed under different conditions (the first `--sensitivity_clips` captions, each with its own
    retrieved melody) against one condition (the first caption) under different seeds. A model that listens to its
    condition gives `same_seed_other_condition` well below `same_condition_other_seed`."""
    n = min(args.sensitivity_clips, len(captions))
    one_seed, _, _ = generate(pipe, captions[:n], args, seeds=[args.seed] * n)
    one_condition, _, _ = generate(pipe, [captions[0]] * n, args, seeds=[args.seed + i for i in range(n)])
    return {
        "same_seed_other_condition": mean_pairwise_correlation(one_seed),
        "same_condition_other_seed": mean_pairwise_correlation(one_condition),
        "clips_per_set": n,
        "measure": "mean pairwise Pearson correlation of CQT magnitudes in dB (84 bins from C1, top_db 80)",
    }


def plot_sensitivity(sensitivity: dict, path: Path) -> None:
    """Bars: correlation under another condition vs under another seed, per model."""
    if not sensitivity:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(sensitivity)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(4.8, 1.8 + 1.6 * len(names)), 3.2))
    ax.bar(x - 0.18, [sensitivity[n]["same_seed_other_condition"] for n in names], 0.36,
           label="same seed, other condition")  # fmt: skip
    ax.bar(x + 0.18, [sensitivity[n]["same_condition_other_seed"] for n in names], 0.36,
           label="same condition, other seed")  # fmt: skip
    ax.set_xticks(x, [ROW_NAMES.get(n, n) for n in names], fontsize=7)
    ax.set_ylabel("CQT (dB) correlation")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax.set_title("Who decides the output: the condition or the seed?", fontsize=9)
    save_figure(fig, path)


def measure_latency(pipe, prompt: str, args: argparse.Namespace) -> dict:
    """Seconds per 10 s of audio by stage, the median over `--latency_repeats` calls after one warm-up call."""
    timer = StageTimer(pipe)
    scale = 10.0 / args.latency_seconds
    kwargs = dict(prompt=prompt, audio_length_in_s=args.latency_seconds, guidance_scale=args.guidance_scale,
                  output_type="np", callback_on_step_end=timer.callback)  # fmt: skip
    results = {}
    with timer.active():
        pipe(num_inference_steps=min(args.latency_steps), generator=torch.Generator().manual_seed(args.seed), **kwargs)
        for steps in args.latency_steps:
            runs = []
            for repeat in range(args.latency_repeats):
                timer.reset()
                start = time.perf_counter()
                pipe(num_inference_steps=steps, generator=torch.Generator().manual_seed(args.seed + repeat), **kwargs)
                run = timer.result(time.perf_counter() - start)
                run["unet_forward"] = timer.unet_forward
                run["unet_calls"] = timer.unet_calls
                runs.append(run)
            keys = (*STAGES, "other", "total")
            results[f"{steps}_steps"] = {
                "num_inference_steps": steps,
                "seconds_per_10s_audio": {k: float(np.median([r[k] for r in runs])) * scale for k in keys},
                "unet_seconds_per_step": float(np.median([r["unet_forward"] / steps for r in runs])),
                "unet_calls_per_step": runs[0]["unet_calls"] / steps,
                "real_time_factor": float(np.median([r["total"] for r in runs])) / args.latency_seconds,
                "runs_seconds": [{k: round(r[k], 4) for k in keys} for r in runs],
            }
    return results


# ------------------------------------------------------------------------------------------------- output
def write_clips(folder: str, row: str, ids: Sequence[str], waves, melodies) -> None:
    out = Path(folder) / row
    out.mkdir(parents=True, exist_ok=True)
    for clip_id, wave, info in zip(ids, waves, melodies):
        save_audio(out / f"{clip_id}.wav", wave, SAMPLE_RATE)
        tokens = info.get("tokens") if isinstance(info, dict) else info
        if tokens:
            (out / f"{clip_id}.txt").write_text(tokens + "\n", encoding="utf-8")


def melody_guidance_note(settings: dict) -> str:
    """`, melody guidance β = 2` when the run set `melody_guidance_scale` (nothing for the plain guidance)."""
    beta = settings.get("melody_guidance_scale")
    return "" if beta is None else f", melody guidance β = {beta:g}"


def results_markdown(results: dict) -> str:
    """The paper's Table 1 layout (one row per model) plus the latency table."""
    columns = ("fad_musicnn", "kl_musicnn", "is_musicnn", "alignment_score", "chroma_cosine", "note_f1",
               "ac_chroma_cosine", "melody_accuracy")  # fmt: skip
    settings = results["settings"]
    lines, header = [], None
    for key, title in ROW_NAMES.items():
        if key not in results:
            continue
        row = results[key]
        if "missing" in row:
            lines.append(f"| {title} | " + " | ".join("–" for _ in columns) + " |")
            continue
        table = markdown_table({c: row.get(c) for c in columns} | {"embedder": "musicnn"}, model=title)
        header = header or table.splitlines()[:2]
        lines.append(table.splitlines()[2])
    text = [
        f"# Generation on {settings['dataset']} ({settings['split']} split)",
        "",
        *(header or []),
        *lines,
        "",
        f"{settings['num_clips']} clips of {settings['seconds']:g} s, {settings['steps']} steps of "
        f"{settings.get('scheduler', 'DDIMScheduler')}, guidance {settings['guidance_scale']:g}"
        f"{melody_guidance_note(settings)}, vocoder {settings.get('vocoder_method', 'hybrid')}. FAD/KL against the "
        "test references"
        + (f"; the references' FAD is against {settings['fad_floor']} and their KL is undefined" if "reference" in
           results else "")  # fmt: skip
        + ". Melody adherence against the melody that "
        "guided each clip (text-only: the melody the melody-guided model retrieved for the same caption; "
        "references and round trip: their transcribed `melody`): the project's chroma cosine and note F1 against "
        "the notes; audiocraft's chroma cosine and MuseControlLite's melody accuracy against the notes rendered with "
        "the sketch timbre (`mmgen.eval.adherence`). musicnn features, not VGGish/PANNs: not comparable with the "
        "paper's numbers.",
    ]
    for key in ("own_melody", "round_trip"):
        row = results.get(key, {})
        if row.get("ac_chroma_cosine_vs_audio") is not None:
            text += ["", f"{ROW_NAMES[key]}, against the test clip's audio (MusicGen's way): audiocraft chroma cosine "
                     f"{row['ac_chroma_cosine_vs_audio']:.3f}, melody accuracy {row['melody_accuracy_vs_audio']:.3f}."]
    sensitivity = results.get("condition_sensitivity") or {}
    if sensitivity:
        text += ["", "## Condition sensitivity (CQT-dB correlation; a model that listens has the first below the "
                 "second)", "", "| Model | same seed, other condition | same condition, other seed |",
                 "|---|---:|---:|"]  # fmt: skip
        for name, entry in sensitivity.items():
            text.append(f"| {ROW_NAMES.get(name, name)} | {entry['same_seed_other_condition']:.2f} | "
                        f"{entry['same_condition_other_seed']:.2f} |")
    for key in ("own_melody", "global_only", "text_only"):
        if "missing" in results.get(key, {}):
            text += ["", f"{ROW_NAMES[key]} row missing: {results[key]['missing']}"]
    latency = results.get("latency") or {}
    if latency.get("per_steps"):
        text += [
            "",
            f"## Latency: seconds per 10 s of audio ({latency['device']})",
            "",
            "| Steps | " + " | ".join(STAGES) + " | other | total |",
            "|---:|" + "---:|" * (len(STAGES) + 2),
        ]
        for entry in latency["per_steps"].values():
            cells = [f"{entry['seconds_per_10s_audio'][k]:.2f}" for k in (*STAGES, "other", "total")]
            text.append(f"| {entry['num_inference_steps']} | " + " | ".join(cells) + " |")
    return "\n".join(text) + "\n"


def excluded_clip_ids(retriever_folder: str | None) -> set[str]:
    """The ids of the melodies a retriever folder indexes (the clips its training split holds): clips a model built
    on that split has seen."""
    if not retriever_folder:
        return set()
    from mmgen.retrieval import MelodyRetriever

    return {str(entry["id"]) for entry in MelodyRetriever.from_pretrained(retriever_folder).metadata}


def previous_results(path: Path, settings: dict) -> dict:
    """With `--update`: the rows already in `path`, when they were measured on the same clips and settings."""
    if not path.is_file():
        return {}
    results = json.loads(path.read_text(encoding="utf-8"))
    old = results.get("settings", {})
    for key in ("dataset", "split", "clip_ids", "seconds", "steps", "guidance_scale", "num_candidates", "seed"):
        if old.get(key) != settings[key]:
            raise SystemExit(f"--update: {path} was measured with another {key} ({old.get(key)!r}, now "
                             f"{settings[key]!r}); write to another --output")  # fmt: skip
    return results


def write_results(results: dict, args: argparse.Namespace) -> None:
    """The JSON and the markdown table, rewritten after every row so that a run cut short keeps what it measured.

    With `--update`, the file is re-read under a lock and only this run's rows replaced, so that several runs on
    other rows (e.g. one ablation per core) can update one file at the same time.
    """
    import fcntl

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(output.parent, os.O_RDONLY)  # the lock: the results folder itself
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        if args.update and output.is_file():
            merged = json.loads(output.read_text(encoding="utf-8"))
            sensitivity = merged.get("condition_sensitivity") or {}
            merged.update(results)
            merged["condition_sensitivity"] = sensitivity | (results.get("condition_sensitivity") or {})
            results = merged
        _write_results(results, output, args)
        if results.get("condition_sensitivity"):
            plot_sensitivity(results["condition_sensitivity"], output.with_name(output.stem + "_sensitivity.png"))
    finally:
        os.close(folder)  # releases the lock


def _write_results(results: dict, output: Path, args: argparse.Namespace) -> None:
    order = ("melody_guided", "own_melody", "global_only", "text_only", "previous", "reference", "round_trip",
             "condition_sensitivity", "latency", "settings")  # fmt: skip
    results = {k: results[k] for k in order if k in results and results[k] != {}}
    tmp = output.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(json_safe(results), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, output)
    markdown = Path(args.markdown) if args.markdown else output.with_suffix(".md")
    markdown.write_text(results_markdown(results), encoding="utf-8")


@dataclass
class Run:
    """What the steps of one benchmark run share: its arguments, the clips, the --pipeline and the judge, the reference
    clips and their features, the models measured so far and the results (written after every row)."""

    args: argparse.Namespace
    command: str
    started: float
    dataset: Any
    split: Any
    rows: list[dict]
    pipe: Any
    results: dict
    previous: dict
    embedder: Any = None
    references: list[np.ndarray] = field(default_factory=list)
    reference_features: Any = None
    reference_notes: list = field(default_factory=list)
    models: dict = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return [str(r["id"]) for r in self.rows]

    @property
    def captions(self) -> list[str]:
        return [str(r["caption"]) for r in self.rows]

    @property
    def wanted(self) -> set[str]:
        return set(self.args.rows)

    def finish(self, name: str, row: dict) -> None:
        """Store a measured row and write the results so far."""
        # Every measured row names the command that measured it (with --update, rows come from several runs).
        tagged = "missing" in row or name == "condition_sensitivity"
        self.results[name] = row if tagged else row | {"command": self.command}
        self.results["settings"]["wall_seconds"] = time.perf_counter() - self.started
        write_results(self.results, self.args)
        print(f"{name}: done ({time.perf_counter() - self.started:.0f} s)", file=sys.stderr)

    def score(self, waves, captions, notes, **kwargs) -> dict:
        """`score_row` of generated clips against the references, judged by the --pipeline's aligner."""
        features = extract_features(waves, SAMPLE_RATE, self.embedder)
        return score_row(waves, captions, notes, features, kwargs.pop("reference_features", self.reference_features),
                         self.pipe.aligner, paired=True, **kwargs)  # fmt: skip

    def save_clips(self, name: str, ids, waves, melodies) -> None:
        if self.args.save_audio:
            write_clips(self.args.save_audio, name, ids, waves, melodies)


def start_run(args: argparse.Namespace, argv: Sequence[str] | None) -> Run:
    """Load the clips (less those `--exclude_indexed_by` indexes), the --pipeline and the embedder, and embed the
    reference clips."""
    started = time.perf_counter()
    command = " ".join(["benchmarks/generation.py", *(sys.argv[1:] if argv is None else argv)])
    dataset = load_musicset(args.dataset)
    if args.split not in dataset:
        raise SystemExit(f"{args.dataset} has no split {args.split!r} (splits: {list(dataset)})")
    split = dataset[args.split]
    excluded = excluded_clip_ids(args.exclude_indexed_by)
    if excluded:
        split = split.filter(lambda row: str(row["id"]) not in excluded)
        print(f"{len(split)} {args.split} clips left after excluding those {args.exclude_indexed_by} indexes",
              file=sys.stderr)  # fmt: skip
    rows = select_rows(split, args.num_clips)
    print(f"{len(rows)} clips of {args.dataset}/{args.split}", file=sys.stderr)

    pipe = load_pipeline(args.pipeline)
    settings = {
        "command": command,
        "dataset": args.dataset,
        "split": args.split,
        "excluded_clips_indexed_by": args.exclude_indexed_by,
        "num_clips": len(rows),
        "clip_ids": [str(r["id"]) for r in rows],
        "seconds": args.seconds,
        "steps": args.steps,
        "guidance_scale": args.guidance_scale,
        "melody_guidance_scale": args.melody_guidance_scale,
        "num_candidates": args.num_candidates,
        "seed": args.seed,
        "sensitivity_clips": args.sensitivity_clips,
        "scheduler": type(pipe.scheduler).__name__,
        "vocoder_method": pipe.config.get("vocoder_method"),
        "alignment_judge": f"the aligner of {args.pipeline} for every row",
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    previous = previous_results(Path(args.output), settings) if args.update else {}  # checked here, merged later
    results = {"settings": settings | {"embedder": "musicnn",
                                       "fad_floor": previous.get("settings", {}).get("fad_floor")}}  # fmt: skip
    run = Run(args, command, started, dataset, split, rows, pipe, results, previous, models={"melody_guided": pipe})
    run.embedder = default_embedder()
    results["settings"]["embedder"] = f"musicnn ({type(run.embedder).__name__})"
    run.references = reference_clips(rows, args.seconds)
    run.reference_features = extract_features(run.references, SAMPLE_RATE, run.embedder)
    run.reference_notes = [crop_notes(parse_notes(r.get("melody")), args.seconds) for r in rows]
    return run


def melody_guided_row(run: Run) -> list | None:
    """1. The melody-guided model. Returns the melodies that guided it (None when the row is not asked for)."""
    if "melody_guided" not in run.wanted:
        return None
    args, pipe = run.args, run.pipe
    guided_waves, guided_info, guided_seconds = generate(pipe, run.captions, args)
    guided_notes = [crop_notes(melody_notes(info), args.seconds) for info in guided_info]
    row = run.score(guided_waves, run.captions, guided_notes)
    row.update(
        pipeline=args.pipeline,
        uses_melody=bool(pipe.uses_melody),
        melody_target="the melody that guided each clip (pipeline output `melodies`)",
        generation_seconds_per_clip=guided_seconds / len(run.rows),
        guiding_melodies=[describe_melody(info) for info in guided_info],
    )
    run.finish("melody_guided", row)
    run.save_clips("melody_guided", run.ids, guided_waves, guided_info)
    return guided_info


def own_melody_row(run: Run) -> None:
    """1b. The same model given each test clip's own melody (its Basic Pitch `melody`, cut to the clip length) as a
    user melody: scored against those notes and, as MusicGen's evaluation does, against the clip's audio."""
    if "own_melody" not in run.wanted:
        return
    if not run.pipe.uses_melody:
        run.finish("own_melody", {"missing": "the --pipeline is text-only"})
        return
    args, captions = run.args, run.captions
    own = [sketchable(notes) for notes in run.reference_notes]
    keep = [i for i, notes in enumerate(own) if notes]
    own_waves, own_info, own_seconds = generate(run.pipe, [captions[i] for i in keep], args,
                                                user_melodies=[own[i] for i in keep],
                                                seeds=[args.seed + i for i in keep])  # fmt: skip
    row = run.score(own_waves, [captions[i] for i in keep], [melody_notes(info) for info in own_info],
                    reference_features=[run.reference_features[i] for i in keep],
                    reference_audio=[run.references[i] for i in keep])  # fmt: skip
    row.update(
        pipeline=args.pipeline,
        melody_target="the test clip's own transcribed melody, given as `melody=` (notes outside the sketch's "
        "range dropped); `*_vs_audio` against the clip's audio",
        clips_without_melody=len(run.rows) - len(keep),
        generation_seconds_per_clip=own_seconds / max(1, len(keep)),
    )
    run.finish("own_melody", row)
    run.save_clips("own_melody", [run.ids[i] for i in keep], own_waves, own_info)


def ablation_rows(run: Run, guided_info: list | None) -> None:
    """2. The ablations and the previous default (same captions, seeds, steps, guidance)."""
    args, wanted, captions = run.args, run.wanted, run.captions
    if "global_only" in wanted and args.global_only_pipeline:
        run.models["global_only"], row = retrieval_guided_row(
            args.global_only_pipeline, captions, args, run.embedder, run.reference_features, run.pipe.aligner,
            "the melody that guided each clip (retrieved; reaches the UNet only through c)",
        )  # fmt: skip
        run.finish("global_only", row)
    elif "global_only" in wanted:
        run.finish("global_only", {
            "missing": "no --global_only_pipeline given: train it with `train/diffusion.py --melody_input none` at "
            "the same budget"
        })  # fmt: skip
    if "previous" in wanted and args.previous_pipeline:
        run.models["previous"], row = retrieval_guided_row(
            args.previous_pipeline, captions, args, run.embedder, run.reference_features, run.pipe.aligner,
            "the melody that guided each clip (that model's own output `melodies`)",
        )  # fmt: skip
        run.finish("previous", row)
    if "text_only" in wanted and args.text_only_pipeline:
        # Scored against the melody the melody-guided model retrieves for the same caption (none guided this model).
        if guided_info is None:
            guided_info = [retrieved_melody(run.pipe, caption, args.seconds) for caption in captions]
        guided_notes = [crop_notes(melody_notes(info), args.seconds) for info in guided_info]
        run.models["text_only"] = ablation = load_pipeline(args.text_only_pipeline)
        text_waves, _, text_seconds = generate(ablation, captions, args)
        row = run.score(text_waves, captions, guided_notes)
        row.update(
            pipeline=args.text_only_pipeline,
            uses_melody=bool(ablation.uses_melody),
            melody_target="the melody the melody-guided model retrieved for the same caption (none guided this model)",
            generation_seconds_per_clip=text_seconds / len(run.rows),
        )
        run.finish("text_only", row)
        run.save_clips("text_only", run.ids, text_waves, [None] * len(run.rows))
    elif "text_only" in wanted:
        run.finish("text_only", {
            "missing": "no --text_only_pipeline given: train the ablation with `train/diffusion.py --condition "
            "text_only` at the same budget and rerun with --text_only_pipeline"
        })  # fmt: skip


def reference_rows(run: Run) -> None:
    """3. The references: FAD against another split (real-vs-real floor), melodies from their own columns; 3b. the
    decoder round trip: each reference through the VAE and the vocoder (the ceiling of any generation)."""
    args, rows, captions = run.args, run.rows, run.captions
    if "reference" in run.wanted:
        floor_features, fad_floor = None, "nothing (no --fad_floor_split)"
        if args.fad_floor_split and args.fad_floor_split in run.dataset and len(run.dataset[args.fad_floor_split]):
            floor_rows = select_rows(run.dataset[args.fad_floor_split], len(rows))
            floor_features = extract_features(reference_clips(floor_rows, args.seconds), SAMPLE_RATE, run.embedder)
            fad_floor = f"{len(floor_rows)} clips of the {args.fad_floor_split} split"
        elif args.fad_floor_split:
            fad_floor = f"nothing (the dataset has no non-empty {args.fad_floor_split!r} split)"
        run.results["settings"]["fad_floor"] = fad_floor
        row = score_row(run.references, captions, run.reference_notes, run.reference_features, floor_features,
                        run.pipe.aligner, paired=False)  # fmt: skip
        row.update(
            fad_against=fad_floor,
            kl_note="KL(reference || reference) is 0 by definition; not reported",
            melody_target="each clip's own `melody` column (Basic Pitch transcription)",
        )
        if "melody_gt" in run.split.column_names:
            gt_notes = [crop_notes(parse_notes(r.get("melody_gt")), args.seconds) for r in rows]
            row.update(melody_adherence(run.references, gt_notes, prefix="melody_gt_"))
        run.finish("reference", row)
        run.save_clips("reference", run.ids, run.references, [r.get("melody") for r in rows])
    if "round_trip" in run.wanted:
        round_trip = [decoder_round_trip(run.pipe, wave) for wave in run.references]
        row = run.score(round_trip, captions, run.reference_notes, reference_audio=run.references)
        row.update(melody_target="each clip's own `melody` column; `*_vs_audio` against the clip")
        run.finish("round_trip", row)
        run.save_clips("round_trip", run.ids, round_trip, [r.get("melody") for r in rows])


def sensitivity_row(run: Run) -> None:
    """3c. Condition sensitivity of every model measured in this run: does the condition or the seed decide the
    output?"""
    if "sensitivity" in run.wanted and run.args.sensitivity_clips:
        sensitivity = run.previous.get("condition_sensitivity") or {}
        for name in ("melody_guided", "global_only", "text_only", "previous"):
            if name in run.models and (name in run.wanted or name == "melody_guided"):  # the --pipeline's always
                measured = condition_sensitivity(run.models[name], run.captions, run.args)
                sensitivity[name] = measured | {"command": run.command}
        run.finish("condition_sensitivity", sensitivity)


def latency_row(run: Run) -> None:
    """4. Latency of the melody-guided model, by stage."""
    if "latency" in run.wanted:
        args = run.args
        device = f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
        per_steps = measure_latency(run.pipe, run.captions[0], args) if args.latency_steps else {}
        latency = {"device": device, "pipeline": args.pipeline, "audio_seconds": args.latency_seconds,
                   "repeats": args.latency_repeats, "statistic": "median over repeats, scaled to 10 s of audio",
                   "per_steps": per_steps}  # fmt: skip
        run.finish("latency", latency)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    run = start_run(args, argv)
    guided_info = melody_guided_row(run)
    own_melody_row(run)
    ablation_rows(run, guided_info)
    reference_rows(run)
    sensitivity_row(run)
    latency_row(run)
    print(f"wrote {args.output}", file=sys.stderr)
    return run.results


def retrieved_melody(pipe, caption: str, seconds: float) -> dict | None:
    """The melody `pipe` retrieves for `caption` (fitted to `seconds` as the pipeline's output reports it)."""
    _, melodies, _ = pipe.encode_prompt(prompt=caption, do_classifier_free_guidance=False, audio_length_in_s=seconds)
    return melodies[0]


if __name__ == "__main__":
    main()
