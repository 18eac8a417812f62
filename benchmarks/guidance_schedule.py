"""Do guidance schedules pay? Melody guidance, the melody sketch or text guidance applied on only part of the steps.

Issues 15 and 20 left two trade-offs open: melody guidance (beta = 2) meets the adherence targets but costs FAD, and
skipping passes would save time. Diffusion models decide coarse structure (here: which pitch sounds when) at high
noise and detail (timbre) at low noise, and guidance limited to an interval of noise levels has improved FID in
images (Kynkaenniemi et al. 2024; diffusers' ControlNet pipelines end a control at `control_guidance_end`). This
script measures whether any of that shifts our trade-offs before the pipeline gets a parameter for it.

A schedule (`--schedules NAME:key=value,...`) sets, as fractions of the denoising steps counted from the first:
`beta` (the `melody_guidance_scale`) until `beta_end` (after it the query-only pass is dropped: beta = 1),
the melody sketch until `melody_end` (after it every branch gets the null sketch, as a run without a melody), and
text guidance (`--guidance_scale`) from `cfg_start` until `cfg_end` (outside it the conditional pass alone runs).
Defaults are the shipped run: beta 1, everything on for all steps. The schedule is applied around
`MMGenPipeline.predict_noise`, one call per step (DPM-Solver++ 2M calls the UNet once per step; checked).

Each schedule makes one clip per test caption, exactly as `benchmarks/latency.py`'s sweep does (the same 32 evenly
spaced test clips, seed `--seed + i`, DPM-Solver++ `--steps`, `--vocoder`), cached under `--clips_dir/NAME`, and is
scored with `generation.score_row` (FAD / KL-musicnn against the test clips, alignment, chroma cosine, note-F1,
audiocraft chroma, melody accuracy against the notes that guided each clip).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/guidance_schedule.py --schedules shipped: \\
        beta2_first_half:beta=2,beta_end=0.5 beta3_first_30pc:beta=3,beta_end=0.3 sketch_first_70pc:melody_end=0.7 \\
        cfg_from_10pc:cfg_start=0.1 cfg_first_70pc:cfg_end=0.7   # -> benchmarks/results/guidance_schedule.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from generation import load_pipeline, reference_clips, score_row, select_rows  # noqa: E402
from latency import quality_columns, vocode, with_settings  # noqa: E402

from mmgen.audio import SAMPLE_RATE  # noqa: E402
from mmgen.data import load_musicset  # noqa: E402
from mmgen.eval.adherence import crop_notes  # noqa: E402
from mmgen.eval.audio_metrics import default_embedder, extract_features  # noqa: E402
from mmgen.eval.bench import machine, write_json  # noqa: E402
from mmgen.melody.notes import Note  # noqa: E402


@dataclass(frozen=True)
class Schedule:
    beta: float = 1.0
    beta_end: float = 1.0
    melody_end: float = 1.0
    cfg_start: float = 0.0
    cfg_end: float = 1.0


def parse_schedule(text: str) -> tuple[str, Schedule]:
    """`NAME:key=value,...` -> (name, Schedule); `NAME:` is the shipped run."""
    name, sep, body = text.partition(":")
    if not name or not sep:
        raise SystemExit(f"a schedule is NAME:key=value,..., got {text!r}")
    known = {f.name for f in fields(Schedule)}
    values = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        if key not in known:
            raise SystemExit(f"unknown schedule key {key!r} in {text!r}; keys: {sorted(known)}")
        try:
            values[key] = float(value)
        except ValueError:
            raise SystemExit(f"schedule value of {key!r} is not a number: {value!r}") from None
    return name, Schedule(**values)


class ScheduledNoisePrediction:
    """`pipe.predict_noise` with the guidance of `schedule` at step `i` of `num_steps` (counted per call)."""

    def __init__(self, pipe, num_steps: int):
        self.pipe, self.num_steps, self.predict = pipe, num_steps, pipe.predict_noise
        self.schedule, self.step = Schedule(), 0

    def start(self, schedule: Schedule) -> None:
        self.schedule, self.step = schedule, 0

    def __call__(self, latents, t, condition_embeds, melody_latents=None):
        step, s = self.step / self.num_steps, self.schedule
        self.step += 1
        branches = condition_embeds.shape[0] // latents.shape[0]
        if melody_latents is not None and step >= s.melody_end:
            melody_latents = torch.zeros_like(melody_latents)
        if not s.cfg_start <= step < s.cfg_end:  # the conditional pass alone (guidance 0 for this step)
            guidance, self.pipe._guidance_scale = self.pipe._guidance_scale, 0.0
            try:
                return self.predict(latents, t, condition_embeds.chunk(branches)[-1], melody_latents)
            finally:
                self.pipe._guidance_scale = guidance
        if branches == 3 and step >= s.beta_end:  # [uncond, query only, cond] -> [uncond, cond]: beta = 1
            chunks = condition_embeds.chunk(3)
            condition_embeds = torch.cat([chunks[0], chunks[2]])
        return self.predict(latents, t, condition_embeds, melody_latents)


def guiding_notes(pipe, caption: str, seconds: float) -> list[Note]:
    """The notes the pipeline retrieves for `caption` (what guided a cached clip made from it)."""
    _, melodies, _ = pipe.encode_prompt(caption, device=pipe._execution_device, audio_length_in_s=seconds)
    return list((melodies[0] or {}).get("notes") or [])


def run_schedule(pipe, name: str, schedule: Schedule, rows, args) -> tuple[list, list, list]:
    folder = Path(args.clips_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    predictor = pipe.predict_noise
    waves, notes, cpu = [], [], []
    for i, row in enumerate(rows):
        wave_path, notes_path = folder / f"{row['id']}.npy", folder / f"{row['id']}.notes.json"
        if wave_path.exists():
            wave = np.load(wave_path)
            if notes_path.exists():
                clip_notes = [Note(*n) for n in json.loads(notes_path.read_text())]
            else:
                clip_notes = guiding_notes(pipe, str(row["caption"]), args.seconds)
        else:
            predictor.start(schedule)
            began = time.process_time()
            out = pipe(prompt=str(row["caption"]), audio_length_in_s=args.seconds, num_inference_steps=args.steps,
                       guidance_scale=args.guidance_scale,
                       melody_guidance_scale=schedule.beta if schedule.beta != 1.0 else None,
                       generator=torch.Generator().manual_seed(args.seed + i), output_type="mel")  # fmt: skip
            if predictor.step != args.steps:
                raise SystemExit(f"expected one UNet call per step, got {predictor.step} for {args.steps} steps")
            wave = vocode(pipe, out.audios, int(round(args.seconds * SAMPLE_RATE)))
            cpu.append(time.process_time() - began)
            clip_notes = list((out.melodies[0] or {}).get("notes") or [])
            np.save(wave_path, wave)
        notes_path.write_text(json.dumps([[n.onset, n.offset, n.pitch, n.velocity] for n in clip_notes]))
        waves.append(wave)
        notes.append(crop_notes(clip_notes, args.seconds))
        print(f"  {name} clip {i + 1}/{len(rows)}", file=sys.stderr, flush=True)
    return waves, notes, cpu


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pipeline", default="checkpoints/mmgen-default", help="MMGenPipeline folder")
    parser.add_argument("--dataset", default="data/musicset-small", help="MusicSet folder whose test clips are used")
    parser.add_argument("--num_clips", type=int, default=32, help="test clips (evenly spaced, as latency.py)")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--steps", type=int, default=20, help="DPM-Solver++ steps")
    parser.add_argument("--guidance_scale", type=float, default=3.0, help="text guidance w")
    parser.add_argument("--seed", type=int, default=0, help="clip i uses seed + i")
    parser.add_argument("--vocoder", default="griffinlim", help="vocoder_method (latency.py's sweep uses griffinlim)")
    parser.add_argument("--schedules", nargs="+", required=True, help="NAME:key=value,... (see the docstring)")
    parser.add_argument("--clips_dir", default="outputs/guidance-schedule", help="cache of the generated clips")
    parser.add_argument("--output", default="benchmarks/results/guidance_schedule.json", help="results JSON")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    schedules = dict(parse_schedule(text) for text in args.schedules)
    torch.set_num_threads(1)
    pipe = with_settings(load_pipeline(args.pipeline), "dpm++", args.vocoder)
    pipe.predict_noise = ScheduledNoisePrediction(pipe, args.steps)
    rows = select_rows(load_musicset(args.dataset)["test"], args.num_clips)
    embedder = default_embedder()
    reference = extract_features(reference_clips(rows, args.seconds), SAMPLE_RATE, embedder)
    captions = [str(row["caption"]) for row in rows]
    results = {
        "benchmark": "guidance_schedule",
        "command": " ".join(["python benchmarks/guidance_schedule.py", *(sys.argv[1:] if argv is None else argv)]),
        "settings": {k: v for k, v in vars(args).items() if k != "schedules"}
        | {"sampler": "dpm++", "clip_ids": [str(row["id"]) for row in rows]},  # fmt: skip
        "machine": machine(threads=1),
        "schedules": {},
    }
    for name, schedule in schedules.items():
        waves, notes, cpu = run_schedule(pipe, name, schedule, rows, args)
        row = score_row(waves, captions, notes, extract_features(waves, SAMPLE_RATE, embedder), reference,
                        pipe.aligner, paired=True)  # fmt: skip
        results["schedules"][name] = {
            "schedule": asdict(schedule), **quality_columns(row), "clips_generated_now": len(cpu),
            "cpu_s_per_clip": float(np.mean(cpu)) if cpu else None,
        }  # fmt: skip
        print(f"{name}: {json.dumps(results['schedules'][name])}", file=sys.stderr, flush=True)
        write_json(args.output, results)
    return results


if __name__ == "__main__":
    main()
