"""What an aligner's wrong audio -> melody matches have in common with the right ones (issue 5).

Embeds a MusicSet split as `python -m mmgen eval align` does (5 s from each clip's start), takes each clip's top-1
melody by cosine similarity and, for the clips whose top-1 is wrong, counts how often that wrong melody's clip shares
an attribute with the true one (key, tonic, register, meter, tempo within 10%, lead instrument, accompaniment, the
same source piece), next to the same rate for random other clips of the split (chance). An attribute the errors share
far above chance is one the aligner uses in place of the melody itself.

Two more measures of how finely the melody tower tells melodies apart: `melody_to_score_R@1`, the top-1 rate of
matching each clip's Basic Pitch melody to the ground-truth lead line of the score (`melody_gt`, same 5 s) among all
the split's lead lines, and the median cosine between each melody embedding and its nearest other one.

    # benchmarks/results/alignment_errors.json (about 4 minutes on one core)
    python benchmarks/alignment_errors.py --aligner checkpoints/mmgen-default/aligner --dataset data/musicset-full
"""

from __future__ import annotations

import argparse

import numpy as np

from mmgen.eval.bench import write_json

ATTRIBUTES = {
    "key": lambda a, b: a["key"] == b["key"],
    "tonic": lambda a, b: a["key"].split()[0].lower() == b["key"].split()[0].lower(),
    "register": lambda a, b: a["register"] == b["register"],
    "meter": lambda a, b: a["meter"] == b["meter"],
    "tempo_within_10pct": lambda a, b: abs(a["bpm"] - b["bpm"]) < 0.1 * a["bpm"],
    "lead_instrument": lambda a, b: a["programs"][0] == b["programs"][0],
    "accompaniment": lambda a, b: a["accompaniment"] == b["accompaniment"],
    "same_piece": lambda a, b: a["group"] == b["group"],
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aligner", required=True, help="TriModalAligner folder (with a melody tower).")
    parser.add_argument("--dataset", required=True, help="Synthetic MusicSet folder (it has the attribute columns).")
    parser.add_argument("--split", default="test", help="Split to embed and match.")
    parser.add_argument("--chance_samples", type=int, default=20, help="Random other clips per error for chance.")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the chance samples.")
    parser.add_argument("--output", default="benchmarks/results/alignment_errors.json", help="JSON file to write.")
    return parser.parse_args(argv)


def error_profile(similarity: np.ndarray, rows: list[dict], chance_samples: int, seed: int) -> dict:
    """Rates of shared attributes for the wrong top-1 matches of `similarity` `(N, N)` (row i's truth is column i)."""
    n = similarity.shape[0]
    top = similarity.argmax(axis=1)
    wrong = np.flatnonzero(top != np.arange(n))
    rng = np.random.default_rng(seed)
    profile = {}
    for name, shared in ATTRIBUTES.items():
        errors = [shared(rows[i], rows[top[i]]) for i in wrong]
        others = [shared(rows[i], rows[j]) for i in wrong for j in rng.choice(n, chance_samples) if j != i]
        profile[name] = {"wrong_match": float(np.mean(errors)) if errors else None, "chance": float(np.mean(others))}
    return {"items": n, "top1_correct": int(n - wrong.size), "top1_wrong": int(wrong.size), "shared": profile}


def melody_tower_spread(aligner, split, melody_embeds) -> dict:
    """`melody_to_score_R@1` (Basic Pitch melody -> score lead line, when the split has `melody_gt`) and the median
    nearest-other-melody cosine."""
    import torch

    from mmgen.data import crop_melody

    seconds = aligner.config.audio_clip_seconds
    others = melody_embeds @ melody_embeds.T
    others.fill_diagonal_(-1.0)
    result = {"melody_nearest_other_cosine_median": float(others.max(dim=1).values.median())}
    if "melody_gt" in split.column_names:
        transcribed = aligner.embed_melody([crop_melody(m, 0.0, seconds) for m in split["melody"]])
        score = aligner.embed_melody([crop_melody(m, 0.0, seconds) for m in split["melody_gt"]])
        top = (transcribed @ score.T).argmax(dim=1)
        result["melody_to_score_R@1"] = float((top == torch.arange(len(top))).float().mean())
    return result


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from mmgen.data import load_musicset
    from mmgen.eval.aligner_retrieval import embed_split
    from mmgen.models.aligner import TriModalAligner

    aligner = TriModalAligner.from_pretrained(args.aligner).eval()
    if not aligner.config.uses_melody:
        raise SystemExit(f"{args.aligner} has no melody tower")
    split = load_musicset(args.dataset)[args.split]
    columns = ["key", "register", "meter", "bpm", "programs", "accompaniment", "group"]
    missing = set(columns) - set(split.column_names)
    if missing:
        raise SystemExit(f"{args.dataset} lacks the synthetic MusicSet column(s) {sorted(missing)}")
    embeds = embed_split(aligner, split)
    similarity = (embeds["audio"] @ embeds["melody"].T).numpy()
    rows = split.select_columns(columns).to_list()
    result = {
        "aligner": args.aligner,
        "dataset": args.dataset,
        "split": args.split,
        "direction": "A2M",
        **error_profile(similarity, rows, args.chance_samples, args.seed),
        **melody_tower_spread(aligner, split, embeds["melody"]),
    }
    write_json(args.output, result, echo=True)
    return result


if __name__ == "__main__":
    main()
