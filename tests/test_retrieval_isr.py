import numpy as np
import pytest

from mmgen.retrieval import MelodyRetriever, RetrieverError
from mmgen.retrieval.index import l2_normalize
from mmgen.retrieval.isr import default_sweep_settings, intersection_rate, sweep_index_settings


def basis(n):
    return np.eye(n, dtype=np.float32)


def test_identical_databases_agree_fully():
    rng = np.random.default_rng(0)
    db = l2_normalize(rng.standard_normal((50, 8)))
    queries = rng.standard_normal((10, 8))
    assert intersection_rate(queries, db, db.copy(), k=5) == 1.0
    assert intersection_rate(queries, db, db, k=5, index_params={"index_type": "hnsw", "efSearch": 16}) == 1.0


def test_rate_is_intersection_over_k_per_query():
    # Items 0..3 lie along the axes; in db_2 items 1 and 3 swap places (item 1 = e3, item 3 = e1).
    # q1 = e0 + 0.9 e1 + 0.1 e2 ranks (0, 1, 2) in db_1 and (0, 3, 2) in db_2.
    # q2 = 0.2 e0 + e2 + 0.1 e3 ranks (2, 0, 3) in db_1 and (2, 0, 1) in db_2.
    db_1 = basis(4)
    db_2 = basis(4)[[0, 3, 2, 1]]
    queries = np.array([[1, 0.9, 0.1, 0], [0.2, 0, 1, 0.1]], dtype=np.float32)
    np.testing.assert_allclose(intersection_rate(queries, db_1, db_2, k=2, return_per_query=True), [0.5, 1.0])
    assert intersection_rate(queries, db_1, db_2, k=2) == pytest.approx(0.75)
    assert intersection_rate(queries, db_1, db_2, k=3) == pytest.approx(2 / 3)
    assert intersection_rate(queries, db_1, db_2, k=1) == 1.0
    assert intersection_rate(queries, db_1, db_2, k=99) == 1.0  # K clamped to the database size: all items


def test_retrievers_are_searched_with_their_own_index():
    rng = np.random.default_rng(1)
    melody = l2_normalize(rng.standard_normal((200, 16)))
    audio = l2_normalize(melody + 0.3 * rng.standard_normal((200, 16)))
    queries = l2_normalize(melody[:40] + 0.3 * rng.standard_normal((40, 16)))
    db_1 = MelodyRetriever.from_embeddings(melody, index_type="flat")
    db_2 = MelodyRetriever.from_embeddings(audio, index_type="flat")
    exact = intersection_rate(queries, melody, audio, k=5)
    assert intersection_rate(queries, db_1, db_2, k=5) == pytest.approx(exact)
    assert 0.0 < exact < 1.0
    # the same retrievers re-indexed by the given setting: a single probe of 16 clusters agrees less often
    coarse = intersection_rate(queries, db_1, db_2, k=5, index_params={"index_type": "ivf", "nlist": 16, "nprobe": 1})
    assert coarse <= exact


def test_isr_inputs_are_checked():
    db = basis(4)
    with pytest.raises(RetrieverError, match="same items"):
        intersection_rate(db, db, db[:3])
    with pytest.raises(RetrieverError, match="positive integer"):
        intersection_rate(db, db, db, k=0)
    with pytest.raises(RetrieverError, match="non-empty"):
        intersection_rate(db, np.zeros((0, 4)), np.zeros((0, 4)))


def test_sweep_scores_every_index_type_and_ranks_by_isr():
    rng = np.random.default_rng(2)
    n, dim = 400, 16
    centres = rng.standard_normal((10, dim))
    clips = centres[rng.integers(0, 10, n)] + 0.7 * rng.standard_normal((n, dim))
    melody = clips + 0.3 * rng.standard_normal((n, dim))
    audio = clips + 0.3 * rng.standard_normal((n, dim))
    text = clips + 0.3 * rng.standard_normal((n, dim))
    result = sweep_index_settings(text, melody, audio, k=5)

    assert {row.index for row in result.rows} == {"flat", "ivf", "hnsw", "hierarchical"}
    assert len(result.rows) == len(default_sweep_settings(n))
    assert result.best.isr == max(row.isr for row in result.rows)
    flat = next(row for row in result.rows if row.index == "flat")
    assert flat.isr == pytest.approx(intersection_rate(text, melody, audio, k=5))
    assert 0 < flat.recall_at_1 <= flat.recall_at_k <= 1
    one_probe = next(r for r in result.rows if r.index == "ivf" and r.params["nprobe"] == 1)
    assert one_probe.isr < flat.isr and one_probe.recall_at_k < flat.recall_at_k
    assert result.spearman is not None and result.spearman > 0  # ISR ranks settings like recall does
    record = result.to_dict()
    assert record["best"]["index"] == result.best.index and len(record["rows"]) == len(result.rows)
    markdown = result.to_markdown()
    assert "Best by ISR" in markdown and markdown.count("\n| ") == len(result.rows) + 1
