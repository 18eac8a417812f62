"""benchmarks/fad_decomposition.py: its arguments, the comparison arithmetic, and the whole script on a fabricated
MusicSet (the references themselves score zero on both terms; a set that is not waveforms is refused)."""

import json

import numpy as np
import pytest
from fixtures import load_benchmark, save_tiny_musicset


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("fad_decomposition")


def test_sets_are_name_equals_an_existing_folder(bench, tmp_path):
    assert bench.parse_set(f"v2={tmp_path}") == ("v2", tmp_path)
    with pytest.raises(SystemExit, match="NAME=FOLDER"):
        bench.parse_set(str(tmp_path))
    with pytest.raises(SystemExit, match="does not exist"):
        bench.parse_set(f"v2={tmp_path / 'missing'}")
    with pytest.raises(SystemExit, match="built-in"):
        bench.parse_set(f"validation={tmp_path}")


def test_comparison_splits_the_difference_by_term(bench):
    lower = {"fad_musicnn": 30.0, "mean_term": 10.0, "covariance_term": 20.0}
    higher = {"fad_musicnn": 36.0, "mean_term": 14.0, "covariance_term": 22.0}
    out = bench.comparison(lower, higher)
    assert out["difference"] == 6.0 and out["fad_lower_by"] == pytest.approx(1 / 6)
    assert (out["from_mean_term"], out["from_covariance_term"]) == (4.0, 2.0)
    assert out["higher_fad_at_which_this_difference_is_20pc"] == pytest.approx(30.0)  # 6 is 20% of 30


def test_between_clip_spread_is_the_spread_of_the_clip_means(bench):
    same = [np.ones((3, 4)), np.ones((2, 4))]
    assert bench.between_clip_spread(same) == 0.0  # identical clips, whatever their windows
    apart = [np.zeros((3, 4)), np.full((2, 4), 2.0)]
    assert bench.between_clip_spread(apart) == pytest.approx(4 * 2.0)  # variance 2 (ddof 1) per dimension


def test_the_script_splits_each_sets_fad(bench, tmp_path):
    data = save_tiny_musicset(tmp_path / "data", {"train": 1, "validation": 2, "test": 3}, seconds=3.0)
    rows = bench.select_rows(bench.load_musicset(data)["test"], 2)
    same, noisy, mels = tmp_path / "same", tmp_path / "noisy", tmp_path / "mels"
    for folder in (same, noisy, mels):
        folder.mkdir()
    rng = np.random.default_rng(0)
    for row, wave in zip(rows, bench.reference_clips(rows, 3.0)):
        np.save(same / f"{row['id']}.npy", wave)
        np.save(noisy / f"{row['id']}.npy", (0.3 * rng.standard_normal(wave.shape)).astype(np.float32))
        np.save(mels / f"{row['id']}.npy", np.zeros((80, 10), dtype=np.float32))
    output = tmp_path / "fad.json"
    common = ["--dataset", data, "--num_clips", "2", "--seconds", "3", "--output", str(output)]
    bench.main(["--sets", f"same={same}", f"noisy={noisy}", "--compare", "same", "noisy", *common])
    results = json.loads(output.read_text())
    sets = results["sets"]
    assert set(sets) == {"validation", "same", "noisy"}
    for row in sets.values():
        assert row["fad_musicnn"] == pytest.approx(row["mean_term"] + row["covariance_term"])
        assert row["reference_spread"] == pytest.approx(sets["same"]["spread"])
    assert sets["same"]["mean_term"] == pytest.approx(0.0, abs=1e-6)  # the references against themselves
    assert sets["same"]["covariance_term"] == pytest.approx(0.0, abs=1e-3)
    assert sets["same"]["between_clip_spread"] == pytest.approx(sets["same"]["reference_between_clip_spread"])
    assert sets["noisy"]["fad_musicnn"] > 1.0
    gap = results["comparisons"]["same_vs_noisy"]
    assert gap["difference"] == pytest.approx(sets["noisy"]["fad_musicnn"] - sets["same"]["fad_musicnn"])
    with pytest.raises(SystemExit, match="not waveforms"):
        bench.main(["--sets", f"mels={mels}", *common])
    with pytest.raises(SystemExit, match="not among the sets"):
        bench.main(["--sets", f"same={same}", "--compare", "same", "other", *common])
    (same / f"{rows[0]['id']}.npy").unlink()
    with pytest.raises(SystemExit, match="lacks 1 of the 2 clips"):
        bench.main(["--sets", f"same={same}", *common])
