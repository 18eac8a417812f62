"""benchmarks/fad_reference_size.py on a fabricated MusicSet and cached clips (musicnn runs on them: slow)."""

import json

import numpy as np
import pytest
from fixtures import load_benchmark, save_tiny_musicset

from mmgen.audio import SAMPLE_RATE


@pytest.mark.slow  # musicnn over a few clips
def test_scores_cached_sets_against_three_reference_sets(tmp_path):
    bench = load_benchmark("fad_reference_size")
    data = save_tiny_musicset(tmp_path / "data", {"train": 1, "validation": 3, "test": 4}, seconds=3.0)
    ids = [str(row["id"]) for row in bench.select_rows(bench.load_musicset(data)["test"], 2)]
    rng = np.random.default_rng(0)
    for name, level in (("a", 0.1), ("b", 0.3)):
        folder = tmp_path / name
        folder.mkdir()
        for clip_id in ids:
            np.save(folder / f"{clip_id}.npy", (level * rng.standard_normal(3 * SAMPLE_RATE)).astype(np.float32))
    output = tmp_path / "fad.json"
    bench.main(["--dataset", data, "--num_clips", "2", "--seconds", "3", "--sets", f"a={tmp_path / 'a'}",
                f"b={tmp_path / 'b'}", "--output", str(output)])  # fmt: skip
    results = json.loads(output.read_text())
    references = ["test_paired_2", "test_all_4", "validation_all_3"]
    for name in ("a", "b"):
        assert all(results["sets"][name][ref] > 0 for ref in references)
    assert set(results["a_below_b"]) == set(references) and len(results["floors"]) == 2
    assert results["clip_ids"] == ids
