"""`python -m mmgen retrieval {build,search,sweep}`: build a melody database, query it, choose its index by ISR."""

from __future__ import annotations

import json
import os

# `mmgen.retrieval.index.INDEX_TYPES`, copied: importing anything from `mmgen.retrieval` loads the retriever
# (torch, diffusers). `resolve_index_params` there does the real check; tests/test_cli_startup.py checks that
# the two tuples are equal.
INDEX_TYPES = ("flat", "ivf", "hnsw", "hierarchical")


def load_aligner(path: str):
    """The `TriModalAligner` saved at `path`, in eval mode."""
    from mmgen.models.aligner import TriModalAligner

    return TriModalAligner.from_pretrained(path).eval()


def load_split(dataset: str, split: str):
    """One split of a MusicSet folder."""
    from mmgen.data import load_musicset

    splits = load_musicset(dataset)
    if split not in splits:
        raise ValueError(f"{dataset} has no split {split!r} (splits: {', '.join(splits)})")
    return splits[split]


def _parse_params(pairs: list[str]) -> dict[str, int]:
    params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise ValueError(f"--param expects KEY=INTEGER (e.g. efSearch=128), got {pair!r}")
        params[key.strip()] = int(value)
    return params


def _build(args) -> int:
    from mmgen.retrieval import MelodyRetriever

    params = _parse_params(args.param)
    aligner = load_aligner(args.aligner)
    split = load_split(args.dataset, args.split)
    if args.max_items:
        split = split.select(range(min(args.max_items, len(split))))
    retriever = MelodyRetriever.build(aligner, split, index_type=args.index, batch_size=args.batch_size, **params)
    retriever.register_to_config(aligner_name_or_path=args.aligner)
    retriever.save_pretrained(args.output)
    print(f"saved {len(retriever)} melodies ({retriever.config.index_type} index) to {args.output}")
    return 0


def _search(args) -> int:
    from mmgen.retrieval import MelodyRetriever

    retriever = MelodyRetriever.from_pretrained(args.retriever)
    aligner_path = args.aligner or retriever.config.aligner_name_or_path
    if not aligner_path:
        raise ValueError("the retriever does not record its aligner: pass --aligner PATH")
    queries = load_aligner(aligner_path).embed_text(args.text)
    output = retriever.search(queries, k=args.k)
    results = [
        {"query": text, "results": [{"score": round(float(s), 4), **m} for s, m in zip(scores, rows)]}
        for text, scores, rows in zip(args.text, output.scores.tolist(), output.metadata)
    ]
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for result in results:
            print(f"query: {result['query']}")
            for rank, hit in enumerate(result["results"], start=1):
                print(f"  {rank}. {hit['score']:.4f}  {hit['id']}  {hit['caption'][:80]}  ({hit['source']})")
    return 0


def _sweep(args) -> int:
    from mmgen.retrieval.embed import embed_split
    from mmgen.retrieval.isr import sweep_index_settings

    aligner = load_aligner(args.aligner)
    split = load_split(args.dataset, args.split)
    if args.max_items:
        split = split.select(range(min(args.max_items, len(split))))
    embeds = embed_split(aligner, split, ("melody", "audio", "text"), batch_size=args.batch_size)
    result = sweep_index_settings(embeds["text"], embeds["melody"], embeds["audio"], k=args.k)
    record = {"aligner": args.aligner, "dataset": args.dataset, "split": args.split, **result.to_dict()}
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
    markdown_path = os.path.splitext(args.output)[0] + ".md"
    with open(markdown_path, "w", encoding="utf-8") as handle:
        handle.write(result.to_markdown())
    best = result.best
    print(f"best by ISR@{result.k}: {best.index} {best.params} (ISR {best.isr:.4f}, recall@1 {best.recall_at_1:.4f})")
    print(f"wrote {args.output} and {markdown_path}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "retrieval",
        help="melody database: build, search, sweep index settings by intersection rate",
        description="Build a MelodyRetriever from an aligner and a MusicSet split, query it with text, or score "
        "every index type and parameter setting by intersection rate (paper eq. 8) and supervised recall.",
    )
    commands = parser.add_subparsers(dest="retrieval_command", metavar="<build|search|sweep>")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)

    build = commands.add_parser("build", help="embed a split's melodies and save a retriever folder")
    build.add_argument("--aligner", required=True, help="TriModalAligner folder")
    build.add_argument("--dataset", required=True, help="MusicSet folder (datasets save_to_disk)")
    build.add_argument("--split", default="train", help="split to index (default: train)")
    build.add_argument("--index", default="hnsw", choices=INDEX_TYPES, help="index type (default: hnsw)")
    build.add_argument("--param", action="append", metavar="KEY=VALUE",
                       help="index parameter, repeatable: nlist, nprobe, M, efConstruction, efSearch")  # fmt: skip
    build.add_argument("--batch-size", type=int, default=64, help="melodies per aligner call (default: 64)")
    build.add_argument("--max-items", type=int, default=None, help="index only the first N rows")
    build.add_argument("--output", required=True, help="folder to write the retriever to")
    build.set_defaults(func=_build)

    search = commands.add_parser("search", help="retrieve melodies for text queries")
    search.add_argument("--retriever", required=True, help="retriever folder or Hub repo id")
    search.add_argument("--text", required=True, action="append", help="text query, repeatable")
    search.add_argument("--aligner", default=None, help="aligner folder (default: the one the retriever records)")
    search.add_argument("-k", type=int, default=5, help="results per query (default: 5)")
    search.add_argument("--json", action="store_true", help="print JSON instead of a table")
    search.set_defaults(func=_search)

    sweep = commands.add_parser("sweep", help="score index settings by ISR and recall; pick the best by ISR")
    sweep.add_argument("--aligner", required=True, help="TriModalAligner folder")
    sweep.add_argument("--dataset", required=True, help="MusicSet folder (datasets save_to_disk)")
    sweep.add_argument("--split", default="validation", help="split to score on (default: validation)")
    sweep.add_argument("-k", type=int, default=10, help="K of the intersection rate and recall@K (default: 10)")
    sweep.add_argument("--batch-size", type=int, default=32, help="rows per aligner call (default: 32)")
    sweep.add_argument("--max-items", type=int, default=None, help="use only the first N rows")
    sweep.add_argument("--output", required=True, help="JSON file to write; a .md table is written beside it")
    sweep.set_defaults(func=_sweep)
