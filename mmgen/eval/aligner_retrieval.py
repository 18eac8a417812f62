"""Cross-modal retrieval of a TriModalAligner on a MusicSet split (the paper's Table 2).

    python -m mmgen eval align --model PATH [--baseline PATH] --dataset DIR --split test --output FILE.json

Every item of the split is a query once, in each of the six directions (A2T, T2A, A2M, M2A, T2M, M2T); its own
counterpart in the other modality is the one true match among all the split's items. Reported: R@1, R@5, R@10
(share of queries whose match ranks in the top k) and mAP@10 (with one relevant item: the mean of 1/rank when
rank <= 10, else 0). Ties are resolved in favour of the true match (template captions can repeat verbatim).
Audio is the first `clip_seconds` of each clip (the aligner's window), melody the tokens of the notes inside it.
"""

from __future__ import annotations

import json
import os

DIRECTIONS = {
    "A2T": ("audio", "text"),
    "T2A": ("text", "audio"),
    "A2M": ("audio", "melody"),
    "M2A": ("melody", "audio"),
    "T2M": ("text", "melody"),
    "M2T": ("melody", "text"),
}
METRICS = ("R@1", "R@5", "R@10", "mAP@10")


def retrieval_metrics(queries, candidates) -> dict[str, float]:
    """Paired retrieval scores: query i's true match is candidate i.

    Args:
        queries (`torch.Tensor` of shape `(N, D)`), candidates (`torch.Tensor` of shape `(N, D)`): normalised.
    Returns:
        `{"R@1", "R@5", "R@10", "mAP@10"}` floats in [0, 1].
    """
    import torch

    if queries.shape != candidates.shape or queries.ndim != 2 or queries.shape[0] == 0:
        raise ValueError(
            f"queries and candidates must both be (N, D) with N > 0, got {queries.shape}, {candidates.shape}"
        )
    scores = queries.float() @ candidates.float().t()
    true = scores.diagonal().unsqueeze(1)
    rank = (scores > true).sum(1)  # 0-based rank of the true match
    out = {f"R@{k}": float((rank < k).float().mean()) for k in (1, 5, 10)}
    out["mAP@10"] = float(torch.where(rank < 10, 1.0 / (rank + 1).float(), torch.zeros(())).mean())
    return out


def embed_split(model, split, clip_seconds: float | None = None, batch_size: int = 32, max_items: int | None = None):
    """Embed every row of a MusicSet split in each modality the model has.

    Args:
        model (`TriModalAligner`): the aligner.
        split (`datasets.Dataset`): a MusicSet split.
        clip_seconds (`float`, *optional*): audio crop from each clip's start (default: the model's window).
        max_items (`int`, *optional*): only the first rows.
    Returns:
        `dict[str, torch.Tensor]`: `(N, D)` float32 CPU embeddings per modality.
    """
    import torch
    from torch.utils.data import DataLoader

    from mmgen.data import MusicSetCollator, MusicSetTorchDataset
    from mmgen.models.aligner import stack_audio_features

    if max_items is not None:
        split = split.select(range(min(max_items, len(split))))
    clip_seconds = clip_seconds or model.config.audio_clip_seconds
    dataset = MusicSetTorchDataset(
        split,
        clip_seconds=clip_seconds,
        random_crop=False,
        cache_mels=False,
        pitch_features=bool(model.config.audio_pitch_bins),
    )
    collator = MusicSetCollator(max_melody_tokens=model.config.melody_config.max_position_embeddings)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collator)
    modalities = model.config.modalities
    out = {m: [] for m in modalities}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                if "audio" in modalities:
                    features = stack_audio_features(batch["mel"], batch.get("pitch")).to(model.device)
                    out["audio"].append(model.get_audio_features(features).float().cpu())
                if "melody" in modalities:
                    ids = batch["melody_input_ids"].to(model.device)
                    mask = batch["melody_attention_mask"].to(model.device)
                    out["melody"].append(model.get_melody_features(ids, mask).float().cpu())
                if "text" in modalities:
                    out["text"].append(model.embed_text(batch["captions"]))
    finally:
        model.train(was_training)
    return {m: torch.cat(v) for m, v in out.items()}


def evaluate_alignment(model, split, **kwargs) -> dict[str, dict[str, float]]:
    """`{"A2T": {"R@1": ..., ...}, ...}` for every direction between the model's modalities (see `embed_split`)."""
    embeds = embed_split(model, split, **kwargs)
    return {
        name: retrieval_metrics(embeds[q], embeds[c])
        for name, (q, c) in DIRECTIONS.items()
        if q in embeds and c in embeds
    }


def markdown_table(results: dict[str, dict[str, dict[str, float]]], title: str = "") -> str:
    """Rows laid out like the paper's Table 2: the bi-modal baseline (CLAP-style) first, then the tri-modal model."""
    names = {"bimodal": "CLAP-style (audio, text)", "trimodal": "MMGen (audio, text, melody)"}
    lines = [f"### {title}", ""] if title else []
    lines += ["| model | direction | " + " | ".join(METRICS) + " |", "|---|---|" + "---|" * len(METRICS)]
    for key in ("bimodal", "trimodal"):
        for direction, scores in results.get(key, {}).items():
            lines.append(f"| {names[key]} | {direction} | " + " | ".join(f"{scores[m]:.4f}" for m in METRICS) + " |")
    return "\n".join(lines) + "\n"


def run_align_eval(args) -> int:
    from mmgen.data import load_musicset
    from mmgen.models.aligner import TriModalAligner

    dataset = load_musicset(args.dataset)
    if args.split not in dataset:
        raise ValueError(f"--split: '{args.split}' is not a split of {args.dataset} (has {sorted(dataset)})")
    split = dataset[args.split]
    kwargs = {"clip_seconds": args.clip_seconds, "batch_size": args.batch_size, "max_items": args.max_items}
    results = {"trimodal": evaluate_alignment(TriModalAligner.from_pretrained(args.model), split, **kwargs)}
    if args.baseline:
        results["bimodal"] = evaluate_alignment(TriModalAligner.from_pretrained(args.baseline), split, **kwargs)
    results["info"] = {
        "dataset": os.fspath(args.dataset),
        "split": args.split,
        "items": min(len(split), args.max_items or len(split)),
        "model": os.fspath(args.model),
        "baseline": args.baseline,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)  # keep the order of Table 2
    markdown = args.markdown or os.path.splitext(args.output)[0] + ".md"
    title = f"Multimodal alignment, {args.split} split of {args.dataset} ({results['info']['items']} items)"
    with open(markdown, "w", encoding="utf-8") as f:
        f.write(markdown_table(results, title))
    print(markdown_table(results, title))
    return 0


def register_align_eval(subparsers) -> None:
    """Add `align` to the `python -m mmgen eval` sub-commands."""
    parser = subparsers.add_parser(
        "align",
        help="retrieval R@1/5/10 and mAP@10 of a TriModalAligner in six directions (paper Table 2)",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--model", required=True, help="folder of the tri-modal TriModalAligner (save_pretrained)")
    parser.add_argument("--baseline", default=None, help="folder of the bi-modal (audio, text) baseline aligner")
    parser.add_argument("--dataset", required=True, help="MusicSet folder (datasets.save_to_disk layout)")
    parser.add_argument("--split", default="test", help="split to evaluate on (default: test)")
    parser.add_argument("--output", required=True, help="JSON file for the results")
    parser.add_argument("--markdown", default=None, help="markdown table file (default: OUTPUT with .md)")
    parser.add_argument(
        "--clip_seconds", type=float, default=None, help="audio crop per clip (default: the model's window)"
    )
    parser.add_argument("--batch_size", type=int, default=32, help="items embedded per batch")
    parser.add_argument("--max_items", type=int, default=None, help="evaluate only the first N rows of the split")
    parser.set_defaults(func=run_align_eval)
