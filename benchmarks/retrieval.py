"""Speed, memory and recall of the melody database's index types at scale (issue 7).

For each index type and a few parameter settings: build time, resident memory of the index, queries per second at
batch 1 and batch 64, and recall@1 / recall@10 against exact search. The database is `--n` synthetic unit vectors
shaped like the default aligner's melody embeddings (a clustered mixture in a low-dimensional subspace with a common
mean direction; see `synthetic_embeddings`), which are far harder for approximate search than isotropic random
vectors; queries are fresh draws from the same mixture. With `--real`, the melody embeddings of a MusicSet split
(embedded by `--aligner`) are added to the database and their captions' text embeddings to the queries.

    # benchmarks/results/retrieval.json (about 6 minutes on an idle 2-core machine)
    python benchmarks/retrieval.py --n 1000000 --threads 2 --real --aligner checkpoints/mmgen-default/aligner \
        --dataset data/musicset-small --split train
    python benchmarks/retrieval.py --n 100000 --output /tmp/retrieval.json    # a quick, synthetic-only run

Timing: `qps_*` are queries per wall-clock second; `cpu_qps_*` are queries per CPU-second of this process, which
stay meaningful when other jobs share the CPU (`load_avg_1min` is recorded with each row). With `--threads 1` a
query batch runs on one core, so an idle 2-core machine serves about 2 x `cpu_qps_batch64` batched queries/s.

Settings of one build share the build (`build_s`, `memory_mb`); only their search parameters differ. The run stops
building new indexes once `--max-minutes` have passed and says which settings it skipped.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time

import numpy as np

from mmgen.eval.bench import write_json
from mmgen.retrieval.index import build_index, l2_normalize, require_faiss, set_search_params

# (index type, build parameters, list of search-parameter settings); nlist None = auto_nlist(n).
SETTINGS = [
    ("flat", {}, [{}]),
    ("ivf", {"nlist": None}, [{"nprobe": 16}, {"nprobe": 64}]),
    ("hierarchical", {"nlist": None, "M": 32}, [{"nprobe": 16, "efSearch": 64}, {"nprobe": 64, "efSearch": 128}]),
    ("hnsw", {"M": 32, "efConstruction": 80}, [{"efSearch": 64}, {"efSearch": 128}, {"efSearch": 256}]),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic database size (default: 1,000,000)")
    parser.add_argument("--dim", type=int, default=256, help="embedding dimension (default: 256, the aligner's)")
    parser.add_argument("--queries", type=int, default=1000, help="queries for recall and batch-64 QPS")
    parser.add_argument("--batch1-queries", type=int, default=300, help="queries timed one at a time")
    parser.add_argument("--clusters", type=int, default=1000, help="mixture components (default: 1000)")
    parser.add_argument("--global-dim", type=int, default=32, help="dimension of the subspace the vectors live in")
    parser.add_argument("--decay", type=float, default=0.65, help="power-law decay of that subspace's spectrum")
    parser.add_argument("--mean-norm", type=float, default=0.35, help="length of the common mean direction")
    parser.add_argument("--spread", type=float, default=0.35, help="cluster width relative to the centres' spread")
    parser.add_argument("--noise", type=float, default=0.15, help="scale of the isotropic noise (all dimensions)")
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="print the statistics of the synthetic vectors (and of the real ones with --real) and stop",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--max-minutes", type=float, default=40.0, help="stop starting new builds after this")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="FAISS threads (default 1: on a shared CPU, OpenMP threads spin and distort timings)",
    )
    parser.add_argument("--only", nargs="*", default=None, help="index types to run (default: all)")
    parser.add_argument("--real", action="store_true", help="also add real MusicSet embeddings (needs --aligner)")
    parser.add_argument("--aligner", default=None, help="TriModalAligner folder (for --real)")
    parser.add_argument("--dataset", default=None, help="MusicSet folder (for --real)")
    parser.add_argument("--split", default="train", help="MusicSet split (for --real)")
    parser.add_argument("--output", default="benchmarks/results/retrieval.json", help="JSON file to write")
    return parser.parse_args(argv)


def synthetic_embeddings(n, dim, clusters, spec, rng, model=None, chunk=100_000):
    """`n` unit vectors `(n, dim)` float32 shaped like the aligner's melody embeddings.

    Real embeddings are far from isotropic (the default aligner's melody embeddings of the MusicSet test split:
    participation ratio of the covariance 8.7, norm of the mean 0.36, pairwise cosine 0.12 +- 0.31); random
    directions in 256 dimensions would be almost orthogonal and trivially separable. So the vectors are drawn in
    a `spec["global_dim"]`-dimensional subspace with a power-law spectrum (`spec["decay"]`), offset by a common
    mean direction (`spec["mean_norm"]`), as a mixture of `clusters` Gaussian clusters (`spec["spread"]`: their
    width relative to the spread of the centres), plus isotropic noise (`spec["noise"]`) in all dimensions. The
    defaults reproduce those statistics (`--calibrate` prints them for the real and the synthetic vectors).

    Returns `(vectors, model)`; pass `model` back to draw queries from the same mixture.
    """
    global_dim = spec["global_dim"]
    if model is None:
        basis = np.linalg.qr(rng.standard_normal((dim, global_dim + 1)))[0].T  # orthonormal rows
        scales = np.arange(1, global_dim + 1, dtype=np.float64) ** -spec["decay"]
        scales /= np.linalg.norm(scales)
        centres = rng.standard_normal((clusters, global_dim)) * scales
        model = {"mean": basis[0] * spec["mean_norm"], "basis": basis[1:], "scales": scales, "centres": centres}
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        labels = rng.integers(0, len(model["centres"]), stop - start)
        z = (
            model["centres"][labels]
            + rng.standard_normal((stop - start, len(model["scales"]))) * model["scales"] * spec["spread"]
        )
        block = model["mean"] + z @ model["basis"]
        block += rng.standard_normal(block.shape) * (spec["noise"] / np.sqrt(dim))
        out[start:stop] = l2_normalize(block.astype(np.float32))
    return out, model


def model_from_real(real: np.ndarray, clusters: int, spec: dict, rng) -> dict:
    """A mixture for `synthetic_embeddings` in the real embeddings' own space: their mean and principal axes.

    With `--real`, the synthetic vectors must live where the real ones do (a random subspace would put the real
    queries far from every synthetic vector, and the benchmark would measure nothing); the centres are drawn from
    the Gaussian fitted to the real vectors (mean, top `spec["global_dim"]` principal components).
    """
    global_dim = min(spec["global_dim"], len(real) - 1, real.shape[1])
    mean = real.mean(0).astype(np.float64)
    _, singular, axes = np.linalg.svd(real - mean, full_matrices=False)
    scales = singular[:global_dim] / np.sqrt(len(real) - 1)
    centres = rng.standard_normal((clusters, global_dim)) * scales
    return {"mean": mean, "basis": axes[:global_dim], "scales": scales, "centres": centres}


def embedding_statistics(vectors: np.ndarray, sample: int = 200, seed: int = 0) -> dict:
    """Shape of a set of unit vectors: participation ratio, norm of the mean, pairwise cosines (on `sample`)."""
    rng = np.random.default_rng(seed)
    v = vectors[rng.permutation(len(vectors))[:sample]].astype(np.float64)
    eig = np.linalg.eigvalsh(np.cov((v - v.mean(0)).T))
    cos = v @ v.T
    np.fill_diagonal(cos, np.nan)
    return {
        "participation_ratio": round(float(eig.sum() ** 2 / (eig**2).sum()), 2),
        "mean_norm": round(float(np.linalg.norm(v.mean(0))), 3),
        "pairwise_cos_mean": round(float(np.nanmean(cos)), 3),
        "pairwise_cos_std": round(float(np.nanstd(cos)), 3),
        "nearest_cos_mean": round(float(np.nanmax(cos, 1).mean()), 3),
    }


def real_embeddings(args):
    """Melody embeddings (database) and caption embeddings (queries) of a MusicSet split."""
    from mmgen.cli.retrieval import load_aligner, load_split
    from mmgen.retrieval.embed import embed_split

    embeds = embed_split(load_aligner(args.aligner), load_split(args.dataset, args.split), ("melody", "text"))
    return l2_normalize(embeds["melody"]), l2_normalize(embeds["text"])


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def time_queries(index, queries, batch_size, max_seconds=20.0):
    """Search `queries` in batches (stopping after `max_seconds`).

    Returns:
        `(qps, cpu_qps, ids)`: queries per wall-clock second, queries per CPU-second of this process, and the top-10
        ids `(n_done, 10)`.
    """
    done, ids, start, cpu_start = 0, [], time.perf_counter(), time.process_time()
    while done < len(queries) and (time.perf_counter() - start) < max_seconds:
        ids.append(index.search(queries[done : done + batch_size], 10)[1])
        done += len(ids[-1])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return done / wall, done / max(cpu, 1e-9), np.concatenate(ids)


def main(argv=None):
    args = parse_args(argv)
    faiss = require_faiss()
    faiss.omp_set_num_threads(args.threads)
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)

    real_db = real_queries = None
    if args.real:
        if not (args.aligner and args.dataset):
            raise SystemExit("--real needs --aligner and --dataset")
        real_db, real_queries = real_embeddings(args)
        args.dim = real_db.shape[1]
    print(f"generating {args.n:,} x {args.dim} synthetic vectors ...", flush=True)
    spec = {k: getattr(args, k) for k in ("global_dim", "decay", "mean_norm", "spread", "noise")}
    model = None if real_db is None else model_from_real(real_db, args.clusters, spec, rng)
    database, model = synthetic_embeddings(args.n, args.dim, args.clusters, spec, rng, model)
    queries, _ = synthetic_embeddings(args.queries, args.dim, args.clusters, spec, rng, model)
    statistics = {"synthetic": embedding_statistics(database)}
    if real_db is not None:
        statistics["real_melody"] = embedding_statistics(real_db)
    print("statistics:", json.dumps(statistics), flush=True)
    if args.calibrate:
        return
    data = "synthetic"
    n_synthetic_queries = len(queries)
    if real_db is not None:
        database, queries, data = np.concatenate([database, real_db]), np.concatenate([queries, real_queries]), "mixed"
    n = len(database)
    print(f"database {database.shape}, {len(queries)} queries ({time.perf_counter() - started:.0f} s)", flush=True)

    rows, skipped, truth = [], [], None
    for index_type, build_params, search_settings in SETTINGS:
        if args.only and index_type not in args.only:
            continue
        elapsed_min = (time.perf_counter() - started) / 60
        if elapsed_min > args.max_minutes:
            skipped.append(index_type)
            print(f"skipping {index_type}: {elapsed_min:.1f} min > --max-minutes", flush=True)
            continue
        gc.collect()
        before = rss_mb()
        start = time.perf_counter()
        params = {key: value for key, value in {**build_params, **search_settings[0]}.items() if value is not None}
        index = build_index(database, index_type, params)
        build_s = time.perf_counter() - start
        memory_mb = rss_mb() - before
        if truth is None:  # exact top-10 for recall (flat search)
            exact = index if index_type == "flat" else build_index(database, "flat")
            truth = exact.search(queries, 10)[1]
            del exact
        for search_params in search_settings:
            all_params = {**build_params, **search_params}
            if "nlist" in all_params:
                all_params["nlist"] = int(faiss.extract_index_ivf(index).nlist)
            set_search_params(index, index_type, all_params)
            qps1, cpu_qps1, _ = time_queries(index, queries[: args.batch1_queries], 1)
            qps64, cpu_qps64, ids = time_queries(index, queries, 64, max_seconds=120.0)
            found = len(ids)
            hit_1 = ids[:, 0] == truth[:found, 0]
            hit_10 = np.array([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth[:found])])
            recall_1, recall_10 = float(hit_1.mean()), float(hit_10.mean())
            row = {
                "index": index_type,
                "params": all_params,
                "n": n,
                "dim": args.dim,
                "data": data,
                "build_s": round(build_s, 2),
                "memory_mb": round(memory_mb, 1),
                "qps_batch1": round(qps1, 1),
                "qps_batch64": round(qps64, 1),
                "recall_at_1": round(recall_1, 4),
                "recall_at_10": round(recall_10, 4),
                "cpu_qps_batch1": round(cpu_qps1, 1),
                "cpu_qps_batch64": round(cpu_qps64, 1),
                "queries": found,
                **(
                    {}
                    if real_db is None
                    else {
                        "recall_at_1_synthetic_queries": round(float(hit_1[:n_synthetic_queries].mean()), 4),
                        "recall_at_1_real_queries": round(float(hit_1[n_synthetic_queries:].mean()), 4),
                    }
                ),
                "threads": faiss.omp_get_max_threads(),
                "load_avg_1min": os.getloadavg()[0],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        del index
    for row in rows:
        row["data_statistics"] = statistics
    write_json(args.output, rows)
    good = [r for r in rows if r["recall_at_1"] >= 0.95 and max(r["qps_batch1"], r["qps_batch64"]) >= 2000]
    print(f"wrote {args.output} ({(time.perf_counter() - started) / 60:.1f} min); skipped: {skipped or 'none'}")
    print("meets recall@1 >= 0.95 at >= 2000 QPS:", [(r["index"], r["params"]) for r in good] or "none")


if __name__ == "__main__":
    main()
