"""FAISS index construction for the melody database: flat, IVF, HNSW and hierarchical (IVF over an HNSW coarse index).

Every index scores by inner product; the retriever stores L2-normalised vectors and normalises its queries, so the
scores are cosine similarities. faiss is imported lazily (as transformers' `RagRetriever` does), so importing
`mmgen.retrieval` costs nothing until an index is built.

Parameters (all optional, defaults chosen from the database size `n`):

| index | build-time | search-time |
|---|---|---|
| `flat` | - | - |
| `ivf` | `nlist` (coarse clusters; default `auto_nlist(n)`) | `nprobe` (clusters visited; default 16) |
| `hnsw` | `M` (graph degree; 32), `efConstruction` (40) | `efSearch` (64) |
| `hierarchical` | `nlist` (`auto_nlist(n)`), `M` (32) of the HNSW over centroids | `nprobe` (16), `efSearch` (64) |

`hierarchical` is the paper's "partition the database into groups automatically, then search inside the best
groups": spherical k-means finds `nlist` groups, an HNSW graph over the group centroids picks the `nprobe` best
groups for a query, and an exact scan inside those groups returns the top K.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

INDEX_TYPES = ("flat", "ivf", "hnsw", "hierarchical")

# Parameters each index type accepts, with their defaults (None: chosen from the database size).
INDEX_PARAM_DEFAULTS: dict[str, dict[str, int | None]] = {
    "flat": {},
    "ivf": {"nlist": None, "nprobe": 16},
    "hnsw": {"M": 32, "efConstruction": 40, "efSearch": 64},
    "hierarchical": {"nlist": None, "nprobe": 16, "M": 32, "efSearch": 64},
}
SEARCH_PARAMS = ("nprobe", "efSearch")

# k-means settings for the coarse clusters: a few points per centroid and few iterations are enough for IVF
# (faiss' own defaults, 256 points x 25 iterations, cost minutes at 1M vectors on two cores for no recall gain).
KMEANS_ITERATIONS = 10
KMEANS_MAX_POINTS_PER_CENTROID = 64


class IndexParamsError(ValueError):
    """Raised for an unknown index type, an unknown parameter or a parameter value that cannot be used."""


def require_faiss():
    """Import faiss, with a readable error when it is missing."""
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - faiss-cpu is a dependency
        raise ImportError("MelodyRetriever needs FAISS: `pip install faiss-cpu`.") from err
    return faiss


_THREADS_LOCK = threading.Lock()


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run FAISS on one OpenMP thread inside the block (the setting is process-wide; it is restored after).

    HNSW inserts vectors in parallel, so a graph built on several threads depends on their timing; on one thread
    the same vectors and parameters always give the same index, byte for byte (IVF's k-means is seeded too).
    """
    faiss = require_faiss()
    with _THREADS_LOCK:
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            yield
        finally:
            faiss.omp_set_num_threads(before)


def auto_nlist(n: int) -> int:
    """Number of coarse clusters for `n` vectors: about 4 * sqrt(n), with at least 39 training points per cluster."""
    if n <= 0:
        return 1
    return int(max(1, min(round(4 * math.sqrt(n)), n // 39)))


def resolve_index_params(index_type: str, params: dict[str, Any] | None = None, n: int | None = None) -> dict:
    """Validate `params` for `index_type` and fill in the defaults.

    Args:
        index_type (`str`): one of `INDEX_TYPES`.
        params (`dict`, *optional*): user parameters; unknown keys are refused.
        n (`int`, *optional*): database size, used for `nlist` when it is not given. With `n=None` an unset
            `nlist` stays `None` (resolved when the index is built).

    Returns:
        `dict`: every parameter of `index_type` with a value (plain Python ints), in a stable order.
    """
    if index_type not in INDEX_TYPES:
        raise IndexParamsError(f"unknown index_type {index_type!r}; expected one of {', '.join(INDEX_TYPES)}")
    params = dict(params or {})
    defaults = INDEX_PARAM_DEFAULTS[index_type]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        allowed = ", ".join(defaults) or "none"
        raise IndexParamsError(f"index {index_type!r} does not take {', '.join(unknown)} (parameters: {allowed})")
    resolved = {}
    for name, default in defaults.items():
        value = params.get(name, default)
        if value is None and name == "nlist" and n is not None:
            value = auto_nlist(n)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise IndexParamsError(f"{index_type} parameter {name} must be a positive integer, got {value!r}")
            value = int(value)
        resolved[name] = value
    if index_type in ("ivf", "hierarchical") and n is not None and resolved["nlist"] > max(n, 1):
        raise IndexParamsError(
            f"{index_type} index: nlist={resolved['nlist']} coarse clusters need at least as many vectors, got {n}"
        )
    return resolved


def l2_normalize(vectors: np.ndarray, name: str = "vectors") -> np.ndarray:
    """Row-wise L2 normalisation to a C-contiguous float32 array; refuses zero, NaN and infinite rows."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if not np.isfinite(vectors).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{name} contain an all-zero vector, which has no direction to compare")
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


def build_index(vectors: np.ndarray, index_type: str = "hnsw", params: dict[str, Any] | None = None):
    """Build a FAISS inner-product index over `vectors`.

    Args:
        vectors (`np.ndarray` of shape `(n, dim)`): L2-normalised float32 vectors; `n >= 1`.
        index_type (`str`): one of `INDEX_TYPES`.
        params (`dict`, *optional*): see the module docstring.

    Returns:
        `faiss.Index` holding the `n` vectors (ids `0 .. n-1`), with the search parameters set.
    """
    faiss = require_faiss()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise IndexParamsError(f"an index needs a non-empty (n, dim) array, got shape {tuple(vectors.shape)}")
    n, dim = vectors.shape
    params = resolve_index_params(index_type, params, n=n)

    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, params["M"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params["efConstruction"]
    else:
        if index_type == "ivf":
            quantizer = faiss.IndexFlatIP(dim)
        else:
            quantizer = faiss.IndexHNSWFlat(dim, params["M"], faiss.METRIC_INNER_PRODUCT)
        index = faiss.IndexIVFFlat(quantizer, dim, params["nlist"], faiss.METRIC_INNER_PRODUCT)
        if index_type == "hierarchical":
            # k-means assigns with an exact index; the HNSW graph is built over the final centroids.
            index.quantizer_trains_alone = 2
        index.cp.niter = KMEANS_ITERATIONS
        index.cp.max_points_per_centroid = KMEANS_MAX_POINTS_PER_CENTROID
        index.cp.spherical = True
        index.cp.seed = 1234
        index.train(vectors)
    index.add(vectors)
    set_search_params(index, index_type, params)
    return index


def set_search_params(index, index_type: str, params: dict[str, Any]) -> None:
    """Apply the search-time parameters (`nprobe`, `efSearch`) of `params` to a built index, in place."""
    faiss = require_faiss()
    if index_type == "hnsw" and params.get("efSearch"):
        index.hnsw.efSearch = int(params["efSearch"])
    if index_type in ("ivf", "hierarchical"):
        ivf = faiss.extract_index_ivf(index)
        ivf.nprobe = int(min(params.get("nprobe") or 1, ivf.nlist))
        if index_type == "hierarchical" and params.get("efSearch"):
            faiss.downcast_index(ivf.quantizer).hnsw.efSearch = int(params["efSearch"])


def build_params(index_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that shape the built index (everything but the search-time ones)."""
    return {name: value for name, value in params.items() if name not in SEARCH_PARAMS or index_type == "flat"}
