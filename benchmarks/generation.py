"""The first real model, measured (issue 8): generation quality on a MusicSet split, and latency by stage.

Rows (keys of the JSON):

- `melody_guided`: the `--pipeline` (retrieval-guided MMGen), one clip per test caption;
- `text_only`: the `--text_only_pipeline` ablation (same captions, seeds, steps and guidance); when the flag is
  absent the key holds `{"missing": <why>}` instead of numbers;
- `reference`: the test clips themselves (the upper bound of every column);
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
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script from anywhere

from mmgen.audio import SAMPLE_RATE, pad_or_trim, save_audio  # noqa: E402
from mmgen.data import decode_audio, load_musicset  # noqa: E402
from mmgen.eval.alignment import alignment_score  # noqa: E402
from mmgen.eval.audio_metrics import default_embedder, extract_features, set_metrics  # noqa: E402
from mmgen.eval.distributions import MetricInputError  # noqa: E402
from mmgen.eval.generation import markdown_table  # noqa: E402
from mmgen.eval.melody import MelodyMetricError, chroma_cosine, melody_note_f1  # noqa: E402
from mmgen.melody.notes import MelodyError, Note  # noqa: E402
from mmgen.melody.tokenizer import string_to_notes  # noqa: E402

STAGES = ("aligner", "retrieval", "unet_loop", "vae", "vocoder")
ROW_NAMES = {
    "melody_guided": "MMGen (melody-guided)",
    "text_only": "Text-only ablation",
    "reference": "Test references",
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


def crop_notes(notes: Sequence[Note] | None, seconds: float) -> list[Note] | None:
    """The notes that start inside the first `seconds` (None when nothing is left)."""
    if not notes:
        return None
    kept = [n for n in notes if n.onset < seconds]
    return kept or None


def parse_notes(tokens: str | None) -> list[Note] | None:
    if not tokens:
        return None
    try:
        return string_to_notes(tokens)
    except MelodyError:
        return None


def reference_clips(rows: list[dict], seconds: float) -> list[np.ndarray]:
    """Decoded clips cut (or zero-padded) to `seconds`."""
    length = int(round(seconds * SAMPLE_RATE))
    return [pad_or_trim(decode_audio(row).astype(np.float32), length) for row in rows]


# ------------------------------------------------------------------------------------------------ metrics
def melody_adherence(waves: Sequence[np.ndarray], melodies: Sequence[list[Note] | None], prefix: str = "") -> dict:
    """Mean chroma cosine and note F1 of each clip against its melody (clips without one are skipped)."""
    chroma, f1, precision, recall, skipped = [], [], [], [], 0
    for wave, notes in zip(waves, melodies):
        if not notes:
            skipped += 1
            continue
        try:
            chroma.append(chroma_cosine(wave, notes, SAMPLE_RATE))
        except MelodyMetricError:
            skipped += 1
            continue
        scores = melody_note_f1(wave, notes, SAMPLE_RATE)
        f1.append(scores["f1"])
        precision.append(scores["precision"])
        recall.append(scores["recall"])
    mean = lambda values: float(np.mean(values)) if values else None  # noqa: E731
    return {
        f"{prefix}chroma_cosine": mean(chroma),
        f"{prefix}note_f1": mean(f1),
        f"{prefix}note_precision": mean(precision),
        f"{prefix}note_recall": mean(recall),
        f"{prefix}num_melodies": len(chroma),
        f"{prefix}num_without_melody": skipped,
    }


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


def score_row(waves, captions, melodies, features, reference_features, aligner, *, paired: bool) -> dict:
    """Every metric of one row of the table."""
    row = audio_set_metrics(features, reference_features, paired=paired)
    row["alignment_score"] = float(np.mean(alignment_score(aligner, list(waves), list(captions))))
    row.update(melody_adherence(waves, melodies))
    row["num_clips"] = len(waves)
    return row


# ------------------------------------------------------------------------------------------------- models
def load_pipeline(path: str):
    from pipelines.pipeline_mmgen import MMGenPipeline

    pipe = MMGenPipeline.from_pretrained(path)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, captions: Sequence[str], args: argparse.Namespace) -> tuple[list[np.ndarray], list, float]:
    """One clip per caption (clip i with seed `args.seed + i`); returns the clips, their guiding melodies and the
    wall seconds spent."""
    waves, melodies = [], []
    start = time.perf_counter()
    for i, caption in enumerate(captions):
        out = pipe(
            prompt=caption,
            audio_length_in_s=args.seconds,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance_scale,
            num_candidates=args.num_candidates,
            generator=torch.Generator().manual_seed(args.seed + i),
            output_type="np",
        )
        waves.append(np.asarray(out.audios[0], dtype=np.float32))
        melodies.append(out.melodies[0])
    return waves, melodies, time.perf_counter() - start


def melody_notes(info: dict | None) -> list[Note] | None:
    """The notes of a pipeline output's melody entry (parsed from its tokens when the notes are absent)."""
    if info is None:
        return None
    return info.get("notes") or parse_notes(info.get("tokens"))


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


def results_markdown(results: dict) -> str:
    """The paper's Table 1 layout (one row per model) plus the latency table."""
    columns = ("fad_musicnn", "kl_musicnn", "is_musicnn", "alignment_score", "chroma_cosine", "note_f1")
    settings = results["settings"]
    lines, header = [], None
    for key, title in ROW_NAMES.items():
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
        f"{settings['num_clips']} clips of {settings['seconds']:g} s, {settings['steps']} DDIM steps, guidance "
        f"{settings['guidance_scale']:g}. FAD/KL against the test references; the references' FAD is against "
        f"{settings['fad_floor']} and their KL is undefined. Chroma cosine and note F1 against the melody that "
        "guided each clip (text-only: the melody the melody-guided model retrieved for the same caption; "
        "references: their transcribed `melody`). musicnn features, not VGGish/PANNs: not comparable with the "
        "paper's numbers.",
    ]
    if "text_only" in results and "missing" in results["text_only"]:
        text += ["", f"Text-only row missing: {results['text_only']['missing']}"]
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


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    dataset = load_musicset(args.dataset)
    if args.split not in dataset:
        raise SystemExit(f"{args.dataset} has no split {args.split!r} (splits: {list(dataset)})")
    rows = select_rows(dataset[args.split], args.num_clips)
    ids, captions = [str(r["id"]) for r in rows], [str(r["caption"]) for r in rows]
    print(f"{len(rows)} clips of {args.dataset}/{args.split}", file=sys.stderr)

    embedder = default_embedder()
    references = reference_clips(rows, args.seconds)
    reference_features = extract_features(references, SAMPLE_RATE, embedder)

    # 1. The melody-guided model
    pipe = load_pipeline(args.pipeline)
    aligner = pipe.aligner
    guided_waves, guided_info, guided_seconds = generate(pipe, captions, args)
    guided_notes = [crop_notes(melody_notes(info), args.seconds) for info in guided_info]
    results = {}
    results["melody_guided"] = score_row(guided_waves, captions, guided_notes,
                                         extract_features(guided_waves, SAMPLE_RATE, embedder), reference_features,
                                         aligner, paired=True)  # fmt: skip
    results["melody_guided"].update(
        pipeline=args.pipeline,
        uses_melody=bool(pipe.uses_melody),
        melody_target="the melody that guided each clip (pipeline output `melodies`)",
        generation_seconds_per_clip=guided_seconds / len(rows),
        guiding_melodies=[describe_melody(info) for info in guided_info],
    )

    # 2. The text-only ablation (same captions, seeds, steps, guidance)
    if args.text_only_pipeline:
        ablation = load_pipeline(args.text_only_pipeline)
        text_waves, text_info, text_seconds = generate(ablation, captions, args)
        results["text_only"] = score_row(text_waves, captions, guided_notes,
                                         extract_features(text_waves, SAMPLE_RATE, embedder), reference_features,
                                         aligner, paired=True)  # fmt: skip
        results["text_only"].update(
            pipeline=args.text_only_pipeline,
            uses_melody=bool(ablation.uses_melody),
            melody_target="the melody the melody-guided model retrieved for the same caption (none guided this model)",
            generation_seconds_per_clip=text_seconds / len(rows),
        )
        del ablation
    else:
        text_waves = None
        results["text_only"] = {
            "missing": "no --text_only_pipeline given: train the ablation with `train/diffusion.py --condition "
            "text_only` at the same budget and rerun with --text_only_pipeline"
        }

    # 3. The references: FAD against another split (real-vs-real floor), melodies from their own columns
    floor_features, fad_floor = None, "nothing (no --fad_floor_split)"
    if args.fad_floor_split and args.fad_floor_split in dataset and len(dataset[args.fad_floor_split]):
        floor_rows = select_rows(dataset[args.fad_floor_split], len(rows))
        floor_features = extract_features(reference_clips(floor_rows, args.seconds), SAMPLE_RATE, embedder)
        fad_floor = f"{len(floor_rows)} clips of the {args.fad_floor_split} split"
    elif args.fad_floor_split:
        fad_floor = f"nothing (the dataset has no non-empty {args.fad_floor_split!r} split)"
    reference_notes = [crop_notes(parse_notes(r.get("melody")), args.seconds) for r in rows]
    results["reference"] = score_row(references, captions, reference_notes, reference_features, floor_features,
                                     aligner, paired=False)  # fmt: skip
    results["reference"].update(
        fad_against=fad_floor,
        kl_note="KL(reference || reference) is 0 by definition; not reported",
        melody_target="each clip's own `melody` column (Basic Pitch transcription)",
    )
    if "melody_gt" in dataset[args.split].column_names:
        gt_notes = [crop_notes(parse_notes(r.get("melody_gt")), args.seconds) for r in rows]
        results["reference"].update(melody_adherence(references, gt_notes, prefix="melody_gt_"))

    # 4. Latency of the melody-guided model, by stage
    device = f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    latency = {"device": device, "pipeline": args.pipeline, "audio_seconds": args.latency_seconds,
               "repeats": args.latency_repeats, "statistic": "median over repeats, scaled to 10 s of audio",
               "per_steps": {}}  # fmt: skip
    if args.latency_steps:
        latency["per_steps"] = measure_latency(pipe, captions[0], args)
    results["latency"] = latency

    if args.save_audio:
        write_clips(args.save_audio, "melody_guided", ids, guided_waves, guided_info)
        if text_waves is not None:
            write_clips(args.save_audio, "text_only", ids, text_waves, [None] * len(ids))
        write_clips(args.save_audio, "reference", ids, references, [r.get("melody") for r in rows])

    results["settings"] = {
        "command": " ".join(["benchmarks/generation.py", *(sys.argv[1:] if argv is None else argv)]),
        "dataset": args.dataset,
        "split": args.split,
        "num_clips": len(rows),
        "clip_ids": ids,
        "seconds": args.seconds,
        "steps": args.steps,
        "guidance_scale": args.guidance_scale,
        "num_candidates": args.num_candidates,
        "seed": args.seed,
        "scheduler": type(pipe.scheduler).__name__,
        "vocoder_method": pipe.config.get("vocoder_method"),
        "embedder": f"musicnn ({type(embedder).__name__})",
        "alignment_judge": f"the aligner of {args.pipeline} for every row",
        "fad_floor": fad_floor,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "wall_seconds": time.perf_counter() - started,
    }
    results = {k: results[k] for k in ("melody_guided", "text_only", "reference", "latency", "settings")}
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(_finite_or_none(results), indent=2) + "\n", encoding="utf-8")
    markdown = Path(args.markdown) if args.markdown else output.with_suffix(".md")
    markdown.write_text(results_markdown(results), encoding="utf-8")
    print(f"wrote {output} and {markdown}", file=sys.stderr)
    return results


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo where there is one)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _finite_or_none(value):
    """JSON-safe: NaN/inf (which `json` would write as invalid tokens) become null."""
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


if __name__ == "__main__":
    main()
