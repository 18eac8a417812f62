"""How long a `MelodyRetriever` folder takes to load and answer its first query, and what it weighs on disk.

Start-up time matters to the Space and the CLI (issue 15). For one retriever folder: its files and their sizes,
`from_pretrained` (median of `--repeats` loads in this process, imports done), the first search after a fresh load
(which builds the FAISS index when the folder ships none) and the two together. With `--reference`, the folder's
top-`--k` results are compared with another folder's (e.g. the old format with its saved `index.faiss`) for
`--queries` of the set's own melody embeddings as queries and, with `--aligner`, the text embeddings of the first
`--caption-queries` captions of the set (what generation asks): how many queries get the same best melody and the same
ordered top-k, and each index's recall@1 against exact search.

Each run is stored under `--label` in the results file, beside the runs of other labels, with the folder of the
`mmgen` code that ran (the old format is measured with the code of its day, put first on PYTHONPATH):

    OLD=/tmp/old; mkdir -p $OLD && git archive 709a34d mmgen checkpoints/mmgen-default/retriever | tar -x -C $OLD
    PYTHONPATH=$OLD python benchmarks/retriever_load.py --folder $OLD/checkpoints/mmgen-default/retriever \
        --label first_format_first_code --repeats 9
    python benchmarks/retriever_load.py --folder $OLD/checkpoints/mmgen-default/retriever \
        --label first_format_today --repeats 9
    python benchmarks/retriever_load.py --folder checkpoints/mmgen-default/retriever --label new_format \
        --repeats 9 --reference $OLD/checkpoints/mmgen-default/retriever --aligner checkpoints/mmgen-default/aligner
    -> benchmarks/results/retriever_load.json (run each with nice -n 10 env OMP_NUM_THREADS=1)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time

import numpy as np

import mmgen
from mmgen.eval.bench import machine, write_json
from mmgen.retrieval import MelodyRetriever

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", required=True, help="the MelodyRetriever folder to measure")
    parser.add_argument("--label", required=True, help="the name this run is stored under in the results file")
    parser.add_argument("--repeats", type=int, default=5, help="loads timed (median reported; default 5)")
    parser.add_argument("--reference", default=None, help="another retriever folder to compare top-k results with")
    parser.add_argument("--queries", type=int, default=0, help="melodies used as queries (default 0: all)")
    parser.add_argument("--k", type=int, default=10, help="results per query compared (default 10)")
    parser.add_argument("--aligner", default=None, help="TriModalAligner folder: also compare caption queries")
    parser.add_argument("--caption-queries", type=int, default=3000, help="captions embedded with --aligner")
    parser.add_argument("--output", default="benchmarks/results/retriever_load.json", help="JSON file to update")
    args = parser.parse_args(argv)
    if not 1 <= args.repeats <= 50:
        parser.error(f"--repeats must be within 1-50, got {args.repeats}")
    if args.k < 1 or args.queries < 0:
        parser.error("--k must be at least 1 and --queries at least 0")
    if not os.path.isdir(args.folder):
        parser.error(f"--folder {args.folder!r} is not a folder")
    return args


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def measure_load(folder: str, repeats: int) -> dict:
    loads, first_searches = [], []
    for _ in range(repeats):
        retriever, load_s = timed(MelodyRetriever.from_pretrained, folder)
        _, search_s = timed(retriever.search, retriever.embeddings[:1], k=1)
        loads.append(load_s)
        first_searches.append(search_s)
    totals = [a + b for a, b in zip(loads, first_searches)]
    return {
        "load_s": statistics.median(loads),
        "first_search_s": statistics.median(first_searches),
        "load_and_first_search_s": statistics.median(totals),
        "load_s_all": loads,
        "first_search_s_all": first_searches,
    }


def compare(ours, theirs, exact, query, k: int) -> dict:
    a, b, e = ours.search(query, k=k), theirs.search(query, k=k), exact.search(query, k=1)
    return {
        "queries": len(query),
        "same_top1": float((a.ids[:, 0] == b.ids[:, 0]).float().mean()),
        "same_ordered_topk": float((a.ids == b.ids).all(dim=1).float().mean()),
        "max_score_difference": float((a.scores - b.scores).abs().max()),
        "recall_at_1": float((a.ids[:, 0] == e.ids[:, 0]).float().mean()),
        "reference_recall_at_1": float((b.ids[:, 0] == e.ids[:, 0]).float().mean()),
    }


def agreement(folder: str, reference: str, queries: int, k: int, aligner: str | None, captions: int) -> dict:
    """Top-k of `folder` vs `reference`: the set's own melodies as queries, and captions embedded by `aligner`."""
    ours, theirs = MelodyRetriever.from_pretrained(folder), MelodyRetriever.from_pretrained(reference)
    if not np.array_equal(ours.embeddings.numpy(), theirs.embeddings.numpy()):
        raise SystemExit(f"{folder} and {reference} hold different embeddings: nothing to compare")
    exact = MelodyRetriever.from_embeddings(ours.embeddings, ours.metadata, index_type="flat")
    result = {"reference": os.path.abspath(reference), "k": k}
    result["melody_queries"] = compare(ours, theirs, exact, ours.embeddings[: queries or None], k)
    if aligner:
        import torch

        from mmgen.models.aligner import TriModalAligner

        model = TriModalAligner.from_pretrained(aligner).eval()
        texts = [str(row["caption"]) for row in ours.metadata[:captions]]
        with torch.no_grad():
            query = torch.cat([model.embed_text(texts[i : i + 128]).float() for i in range(0, len(texts), 128)])
        result["caption_queries"] = compare(ours, theirs, exact, query, k) | {"aligner": aligner}
    return result


def main(argv=None):
    args = parse_args(argv)
    files = {name: os.path.getsize(os.path.join(args.folder, name)) for name in sorted(os.listdir(args.folder))}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    run = {
        "folder": os.path.abspath(args.folder),
        "commit": commit.stdout.strip() or None,
        "mmgen_code": os.path.dirname(os.path.abspath(mmgen.__file__)),
        "files_bytes": files,
        "total_bytes": sum(files.values()),
        "repeats": args.repeats,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_avg_1min": os.getloadavg()[0],
        **measure_load(args.folder, args.repeats),
    }
    if args.reference:
        run["agreement"] = agreement(args.folder, args.reference, args.queries, args.k, args.aligner,
                                     args.caption_queries)
    results = {}
    if os.path.isfile(args.output):
        with open(args.output, encoding="utf-8") as handle:
            results = json.load(handle)
    results.setdefault("runs", {})[args.label] = run
    results["machine"] = machine()
    results["description"] = __doc__.split("\n\n")[0]
    write_json(args.output, results)
    print(json.dumps({args.label: {k: v for k, v in run.items() if not k.endswith("_all")}}, indent=2))


if __name__ == "__main__":
    main()
