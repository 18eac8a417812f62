"""Intersection rate (paper eq. 8) and the sweep that uses it to choose an index without labels.

ISR(q, D1, D2, arg) = |R1 ∩ R2| / K, where R1 and R2 are the top-K results of the same query q against two
databases D1 and D2 holding the same items in two modalities (e.g. the melody embeddings and the audio embeddings
of the same clips), both searched with the same retrieval setting `arg`; averaged over the queries.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .index import INDEX_PARAM_DEFAULTS, auto_nlist, build_index, l2_normalize, resolve_index_params
from .retriever import MelodyRetriever, _as_matrix
from .serialization import RetrieverError


def _split_index_params(index_params: dict[str, Any] | None) -> tuple[str, dict]:
    params = dict(index_params or {"index_type": "flat"})
    return params.pop("index_type", "flat"), params


def _top_k(queries: np.ndarray, database, k: int, index_params: dict | None) -> np.ndarray:
    """Row ids `(n_queries, k)` of the top-k items of `database` (a retriever or an `(n, dim)` array)."""
    if isinstance(database, MelodyRetriever) and index_params is None:
        return database.search(queries, k).ids.numpy()
    if isinstance(database, MelodyRetriever):
        database = database.embeddings.detach().cpu().float().numpy()
    index_type, params = _split_index_params(index_params)
    vectors = l2_normalize(_as_matrix(database, "database"), "database")
    index = build_index(vectors, index_type, params)
    return search_ids(index, queries, k, vectors)


def search_ids(index, queries: np.ndarray, k: int, vectors: np.ndarray) -> np.ndarray:
    """`index.search` ids `(n_queries, k)`, with rows an approximate index left incomplete (-1) searched exactly."""
    _, ids = index.search(queries, k)
    incomplete = np.flatnonzero((ids < 0).any(axis=1))
    if len(incomplete):
        similarity = queries[incomplete] @ vectors.T
        ids[incomplete] = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return ids


def intersection_rate(
    queries,
    db_1,
    db_2,
    k: int = 1,
    index_params: dict[str, Any] | None = None,
    return_per_query: bool = False,
) -> float | np.ndarray:
    r"""
    Intersection rate of eq. 8: the share of the top-`k` results that two databases of the same items agree on.

    Args:
        queries (`torch.Tensor` or `np.ndarray` of shape `(n_queries, dim)`):
            Query embeddings (e.g. text embeddings of captions); L2-normalised here.
        db_1, db_2 (`MelodyRetriever` or array of shape `(n_items, dim)`):
            The same `n_items` items in two modalities: row `i` of `db_1` and row `i` of `db_2` are the same item.
        k (`int`, defaults to 1): the retrieval set size K (clamped to `n_items`).
        index_params (`dict`, *optional*):
            The retrieval setting: `{"index_type": "hnsw", "M": 32, "efSearch": 64, ...}`, applied to both databases.
            `None`: retrievers are searched with their own index, arrays with exact (flat) search.
        return_per_query (`bool`, defaults to `False`): return the `(n_queries,)` rates instead of their mean.

    Returns:
        `float` in [0, 1] (or `np.ndarray` of shape `(n_queries,)`).
    """
    n_1, n_2 = len(db_1), len(db_2)
    if n_1 != n_2:
        raise RetrieverError(f"the two databases must hold the same items, got {n_1} and {n_2} rows")
    if n_1 == 0:
        raise RetrieverError("intersection_rate needs non-empty databases")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise RetrieverError(f"k must be a positive integer, got {k!r}")
    queries = l2_normalize(_as_matrix(queries, "queries"), "queries")
    k = int(min(k, n_1))
    ids_1 = _top_k(queries, db_1, k, index_params)
    ids_2 = _top_k(queries, db_2, k, index_params)
    rates = _row_intersections(ids_1, ids_2) / k
    return rates if return_per_query else float(rates.mean())


def _row_intersections(ids_1: np.ndarray, ids_2: np.ndarray) -> np.ndarray:
    return np.array([len(set(a.tolist()) & set(b.tolist())) for a, b in zip(ids_1, ids_2)], dtype=np.float64)


def default_sweep_settings(n_items: int) -> list[dict[str, Any]]:
    """The grid scored by the sweep: flat, IVF and hierarchical over several `nprobe`, HNSW over `M` x `efSearch`.

    Settings that collapse to the same search for this database size (`nprobe >= nlist`) are kept once.
    """
    nlist = auto_nlist(n_items)
    settings: list[dict[str, Any]] = [{"index_type": "flat"}]
    for index_type in ("ivf", "hierarchical"):
        probes = sorted({min(p, nlist) for p in (1, 2, 4, 8, 16, 32)})
        settings += [{"index_type": index_type, "nlist": nlist, "nprobe": p} for p in probes]
    settings += [
        {"index_type": "hnsw", "M": m, "efConstruction": 40, "efSearch": ef} for m in (8, 32) for ef in (4, 16, 64)
    ]
    return settings


@dataclass
class SweepRow:
    index: str
    params: dict[str, Any]
    isr: float
    recall_at_1: float
    recall_at_k: float
    query_ms: float


@dataclass
class SweepResult:
    """Scores of every setting, the one with the highest ISR, and how well ISR ranks settings by recall."""

    k: int
    n_items: int
    n_queries: int
    rows: list[SweepRow]
    best: SweepRow
    spearman: float | None
    spearman_recall_at_1: float | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        lines = [
            f"# Index sweep by intersection rate (K = {self.k}, {self.n_items} items, {self.n_queries} queries)",
            "",
            f"Best by ISR: **{self.best.index}** {_format_params(self.best.params)}.",
            f"Spearman(ISR, recall@{self.k}) over the settings: {_format_float(self.spearman)}; "
            f"Spearman(ISR, recall@1): {_format_float(self.spearman_recall_at_1)}.",
            "",
            f"| index | params | ISR@{self.k} | recall@1 | recall@{self.k} | ms/query |",
            "|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            lines.append(
                f"| {row.index} | {_format_params(row.params)} | {row.isr:.4f} | {row.recall_at_1:.4f} | "
                f"{row.recall_at_k:.4f} | {row.query_ms:.4f} |"
            )
        lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def sweep_index_settings(
    queries,
    melody_db,
    audio_db,
    k: int = 10,
    settings: list[dict[str, Any]] | None = None,
) -> SweepResult:
    r"""
    Score index settings by ISR (melody database vs audio database, no labels) and by supervised recall.

    Args:
        queries (array of shape `(n, dim)`):
            One query per item, row `i` describing item `i` (the caption of clip `i`, embedded as text).
        melody_db, audio_db (arrays of shape `(n, dim)`):
            Melody and audio embeddings of the same `n` clips (row `i` is clip `i` in both).
        k (`int`, defaults to 10): K of the ISR and of recall@K.
        settings (`list[dict]`, *optional*): `{"index_type": ..., **params}` per setting; default
            [`default_sweep_settings`].

    Returns:
        [`SweepResult`]: recall@1 / recall@K count how often query `i` retrieves clip `i` from the melody database;
        the best setting is the one with the highest ISR (ties: the faster one).
    """
    queries = l2_normalize(_as_matrix(queries, "queries"), "queries")
    melody = l2_normalize(_as_matrix(melody_db, "melody_db"), "melody_db")
    audio = l2_normalize(_as_matrix(audio_db, "audio_db"), "audio_db")
    n = len(melody)
    if not (len(queries) == n == len(audio)):
        raise RetrieverError(f"queries, melody_db and audio_db need one row per item, got {len(queries)}, {n}, "
                             f"{len(audio)}")  # fmt: skip
    if n == 0:
        raise RetrieverError("the sweep needs at least one item")
    k = int(min(k, n))
    targets = np.arange(n)[:, None]
    rows = []
    for setting in settings or default_sweep_settings(n):
        index_type, params = _split_index_params(setting)
        params = resolve_index_params(index_type, params, n=n)
        melody_index = build_index(melody, index_type, params)
        audio_index = build_index(audio, index_type, params)
        start = time.perf_counter()
        melody_ids = search_ids(melody_index, queries, k, melody)
        query_ms = (time.perf_counter() - start) * 1000 / n
        audio_ids = search_ids(audio_index, queries, k, audio)
        rows.append(
            SweepRow(
                index=index_type,
                params={key: value for key, value in params.items() if key in INDEX_PARAM_DEFAULTS[index_type]},
                isr=float((_row_intersections(melody_ids, audio_ids) / k).mean()),
                recall_at_1=float((melody_ids[:, :1] == targets).any(axis=1).mean()),
                recall_at_k=float((melody_ids == targets).any(axis=1).mean()),
                query_ms=query_ms,
            )
        )
    best = max(rows, key=lambda row: (row.isr, -row.query_ms))
    notes = []
    spearman = _spearman([r.isr for r in rows], [r.recall_at_k for r in rows])
    spearman_1 = _spearman([r.isr for r in rows], [r.recall_at_1 for r in rows])
    if spearman is None:
        notes.append("Spearman is undefined (fewer than 3 settings, or ISR or recall is equal for every setting).")
    return SweepResult(k, n, len(queries), rows, best, spearman, spearman_1, notes)


def _spearman(x: list[float], y: list[float]) -> float | None:
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    from scipy.stats import spearmanr

    value = float(spearmanr(x, y).statistic)
    return None if math.isnan(value) else value


def _format_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in params.items()) or "-"


def _format_float(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
