"""Training throughput (clips per second) of the default TriModalAligner on this machine.

    nice -n 10 .venv/bin/python benchmarks/aligner_throughput.py [--batch_size 16] [--steps 5]

One optimizer step = forward of the three towers on `batch_size` random 5 s log-mels, melody token sequences of
`--melody_tokens` and captions, the six-term loss, backward and AdamW.
Writes benchmarks/results/aligner_throughput.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time

import torch

from mmgen.eval.bench import write_json
from mmgen.models.aligner import TriModalAligner, TriModalAlignerConfig

CAPTION = "A calm folk tune played by a nylon-string guitar over a soft electric bass, slow tempo, in E flat major."


def make_batch(model, batch_size, melody_tokens, cached_text):
    generator = torch.Generator().manual_seed(0)
    triple = "<C4>,<114>,<79>|"
    melody = triple * max(1, (melody_tokens - 2) // 6)
    batch = {"input_features": torch.randn(batch_size, 80, 430, generator=generator) * 2 - 5}
    if "melody" in model.config.modalities:
        batch.update(model.tokenize_melody([melody] * batch_size))
    tokens = model.tokenize_text([CAPTION] * batch_size)
    if cached_text:
        with torch.no_grad():
            batch["text_encoder_embeds"] = model.encode_text(**tokens)
    else:
        batch.update(tokens)
    return batch


def measure(modalities, batch_size, steps, melody_tokens, cached_text, bf16):
    torch.manual_seed(0)
    model = TriModalAligner.from_text_pretrained(TriModalAlignerConfig(modalities=modalities)).train()
    batch = make_batch(model, batch_size, melody_tokens, cached_text)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    times = []
    for step in range(steps + 2):
        start = time.perf_counter()
        with autocast:
            loss = model(**batch, return_loss=True).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step >= 2:  # two warm-up steps
            times.append(time.perf_counter() - start)
    median = sorted(times)[len(times) // 2]
    return {
        "modalities": modalities, "batch_size": batch_size, "melody_tokens": melody_tokens,
        "text": "cached frozen features" if cached_text else "frozen MiniLM run every step",
        "precision": "bf16 autocast" if bf16 else "fp32", "median_step_s": round(median, 4),
        "clips_per_s": round(batch_size / median, 2), "steps_timed": steps,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch_size", type=int, default=16, help="clips per step")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per setting (after 2 warm-up steps)")
    parser.add_argument("--melody_tokens", type=int, default=128, help="melody tokens per clip")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--output", default=os.path.join(os.path.dirname(__file__), "results", "aligner_throughput.json")
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tri = ["audio", "text", "melody"]
    settings = [
        (tri, True, False),
        (tri, True, True),
        (tri, False, False),
        (["audio", "text"], True, False),
    ]
    results = []
    for modalities, cached, bf16 in settings:
        results.append(measure(modalities, args.batch_size, args.steps, args.melody_tokens, cached, bf16))
        print(json.dumps(results[-1]))
    payload = {
        "benchmark": "TriModalAligner training throughput (default config)",
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpu_threads": args.threads,
            "platform": platform.platform(),
            "torch": torch.__version__,
        },
        "load_average_1_5_15min_at_end": [round(x, 2) for x in os.getloadavg()],
        "note": "load average above the core count means other jobs shared the CPU: treat these as lower bounds",
        "results": results,
    }
    write_json(args.output, payload)


if __name__ == "__main__":
    main()
