import numpy as np
import pytest

from mmgen.retrieval.index import (
    INDEX_TYPES,
    IndexParamsError,
    auto_nlist,
    build_index,
    l2_normalize,
    resolve_index_params,
    set_search_params,
)


def clustered(n, dim, clusters=8, seed=0):
    """Unit vectors around `clusters` random centres (shape (n, dim)), like real embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    return l2_normalize(centres[rng.integers(0, clusters, n)] + 0.5 * rng.standard_normal((n, dim)))


@pytest.mark.parametrize("index_type", INDEX_TYPES)
def test_every_index_finds_near_duplicates(index_type):
    vectors = clustered(2000, 32)
    rng = np.random.default_rng(1)
    queries = l2_normalize(vectors[:200] + 0.05 * rng.standard_normal((200, 32)))
    index = build_index(vectors, index_type, {"nprobe": 8} if index_type in ("ivf", "hierarchical") else {})
    assert index.ntotal == 2000 and index.d == 32
    scores, ids = index.search(queries, 5)
    assert (ids[:, 0] == np.arange(200)).mean() >= 0.9
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    assert np.all(scores <= 1 + 1e-5)  # cosine similarities


def test_exact_index_matches_brute_force():
    vectors = clustered(500, 16)
    queries = clustered(20, 16, seed=3)
    _, ids = build_index(vectors, "flat").search(queries, 3)
    np.testing.assert_array_equal(ids, np.argsort(-(queries @ vectors.T), axis=1)[:, :3])


def test_search_params_change_the_ivf_probe():
    vectors = clustered(3000, 16, clusters=30)
    queries = clustered(100, 16, clusters=30, seed=5)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, 0]
    index = build_index(vectors, "ivf", {"nlist": 32, "nprobe": 1})
    low = (index.search(queries, 1)[1][:, 0] == exact).mean()
    set_search_params(index, "ivf", {"nprobe": 32})
    assert index.nprobe == 32
    assert (index.search(queries, 1)[1][:, 0] == exact).mean() == 1.0 > low


def test_resolve_params_defaults_and_auto_nlist():
    assert resolve_index_params("flat") == {}
    assert resolve_index_params("hnsw", {"efSearch": 128}) == {"M": 32, "efConstruction": 40, "efSearch": 128}
    assert resolve_index_params("ivf", n=10_000)["nlist"] == auto_nlist(10_000) == 256
    assert resolve_index_params("hierarchical")["nlist"] is None  # resolved when the size is known
    assert auto_nlist(10) == 1 and auto_nlist(1_000_000) == 4000


@pytest.mark.parametrize(
    "index_type, params, n, message",
    [
        ("annoy", {}, None, "unknown index_type"),
        ("flat", {"nprobe": 4}, None, "does not take nprobe"),
        ("hnsw", {"M": 0}, None, "positive integer"),
        ("hnsw", {"efSearch": 1.5}, None, "positive integer"),
        ("ivf", {"nlist": 100}, 50, "nlist=100"),
    ],
)
def test_bad_params_raise(index_type, params, n, message):
    with pytest.raises(IndexParamsError, match=message):
        resolve_index_params(index_type, params, n=n)
    assert issubclass(IndexParamsError, ValueError)


def test_normalize_refuses_zero_and_nan():
    np.testing.assert_allclose(np.linalg.norm(l2_normalize(np.ones((3, 4))), axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="all-zero"):
        l2_normalize(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        l2_normalize(np.full((1, 4), np.nan))
    with pytest.raises(IndexParamsError, match="non-empty"):
        build_index(np.zeros((0, 4), np.float32), "flat")
