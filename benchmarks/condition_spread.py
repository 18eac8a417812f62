"""Why the global condition carried nothing: how much the query q, the melody r and the condition c = MLP([q, r]) vary
over prompts, and how often the melody a caption retrieves is the clip's own.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/condition_spread.py --pipelines runs-v2/mmgen-v1 \
        checkpoints/mmgen-default runs-v2/mmgen-v2-global --dataset data/musicset-small
        # -> benchmarks/results/condition_spread.json (v1, v2, and the global-only ablation whose projector centres and
        #    scales q and r: `ConditionProjector(normalize_inputs=True)`)

For `--num_clips` test captions: the mean pairwise cosine of q (aligner text embeddings), of r retrieved with q (what
v1 trained and sampled with), of the clips' own melody embeddings (what v2 trains with), and of c for both kinds of
r; the per-dimension standard deviation of c over prompts against its norm; the cosine between retrieved and own
melody; and the share of captions that retrieve their own clip's melody (only possible where the retriever indexes
that split). Training on a retrieved r that is rarely the clip's own gives the UNet nothing about the target it is
asked to denoise; a c whose pairwise cosine is near 1 tells it little about the prompt.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from mmgen.data import load_musicset
from mmgen.eval.bench import write_json


def mean_pairwise_cosine(x: torch.Tensor) -> float:
    """Mean cosine over all pairs of distinct rows of `x` `(n, d)`."""
    x = torch.nn.functional.normalize(x.float(), dim=-1)
    sim = x @ x.T
    n = len(x)
    return float((sim.sum() - sim.diagonal().sum()) / (n * n - n))


@torch.no_grad()
def spread(pipe, captions: list[str], melodies: list[str], ids: list[str]) -> dict:
    q = pipe.aligner.embed_text(captions).float()
    out = {"q_mean_pairwise_cosine": mean_pairwise_cosine(q)}
    if not pipe.uses_melody:
        c = pipe.condition_projector(q, None)
        return out | {"c_mean_pairwise_cosine": mean_pairwise_cosine(c)}
    result = pipe.retriever.search(q, k=1)
    retrieved = torch.as_tensor(result.embeddings)[:, 0].float()
    own = pipe.aligner.embed_melody(melodies).float()
    null = pipe.condition_projector.null_condition(1)
    for name, r in (("retrieved", retrieved), ("own", own)):
        c = pipe.condition_projector(q, r)
        out |= {
            f"r_{name}_mean_pairwise_cosine": mean_pairwise_cosine(r),
            f"c_{name}_mean_pairwise_cosine": mean_pairwise_cosine(c),
            f"c_{name}_std_per_dim_over_prompts": float(c.std(0).mean()),
            f"c_{name}_norm": float(c.norm(dim=-1).mean()),
            f"c_{name}_distance_to_null": float((c - null).norm(dim=-1).mean()),
        }
    out["cosine_retrieved_vs_own_melody"] = float(torch.nn.functional.cosine_similarity(retrieved, own).mean())
    own_hits = [hits[0].get("id") == clip_id for hits, clip_id in zip(result.metadata, ids)]
    out["share_retrieving_own_clip"] = float(np.mean(own_hits))
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pipelines", nargs="+", required=True, help="MMGenPipeline folders to compare.")
    parser.add_argument("--dataset", required=True, help="MusicSet folder.")
    parser.add_argument("--split", default="test", help="Split whose captions and melodies are used.")
    parser.add_argument("--num_clips", type=int, default=64, help="Captions used (evenly spaced over the split).")
    parser.add_argument("--output", default="benchmarks/results/condition_spread.json", help="JSON to write.")
    args = parser.parse_args(argv)
    from pipelines.pipeline_mmgen import MMGenPipeline

    split = load_musicset(args.dataset)[args.split]
    index = np.unique(np.linspace(0, len(split) - 1, min(args.num_clips, len(split))).round().astype(int))
    rows = [split[int(i)] for i in index]
    captions, melodies, ids = [r["caption"] for r in rows], [r["melody"] for r in rows], [r["id"] for r in rows]
    results = {"settings": {"command": " ".join(["benchmarks/condition_spread.py", *(argv or sys.argv[1:])]),
                            "dataset": args.dataset, "split": args.split, "num_clips": len(rows)}}  # fmt: skip
    for path in args.pipelines:
        pipe = MMGenPipeline.from_pretrained(path)
        results[path] = spread(pipe, captions, melodies, ids)
    write_json(args.output, results, echo=True)
    return results


if __name__ == "__main__":
    main()
