"""Synthetic MusicSet: rendering facts, determinism, the saved format, and the tiny preset end to end."""

import numpy as np
import pytest

from mmgen.audio import SAMPLE_RATE
from mmgen.cli import main as cli_main
from mmgen.data import decode_audio, load_musicset
from mmgen.data.format import SPLITS, SYNTH_COLUMNS, MusicSetError
from mmgen.data.synthetic_musicset import (
    ENSEMBLES,
    LEAD_INSTRUMENTS,
    _accompaniment,
    bar_quarters,
    key_name,
    parse_key,
    plan_synthetic_jobs,
    render_clip,
)
from mmgen.melody import string_to_notes


def test_key_meter_and_accompaniment_helpers():
    assert parse_key("g minor") == (7, "minor") and parse_key("B- major") == (10, "major")
    assert parse_key("f# minor") == (6, "minor") and parse_key("") is None
    assert key_name(7 + 3, "minor") == "bb minor" and key_name(2 - 12, "major") == "D major"
    assert bar_quarters("6/8") == 3.0 and bar_quarters("3/2") == 6.0 and bar_quarters("") == 4.0
    melody = [(0.0, 1.0, 67), (1.0, 1.0, 71), (2.0, 2.0, 74), (4.0, 1.0, 74), (5.0, 1.0, 78), (6.0, 2.0, 69)]
    bass, chords = _accompaniment(melody, 7, "major", 4.0, 8.0, "bass+chords", __import__("random").Random(0))
    assert [p % 12 for _, _, p in bass] == [7, 2]  # G major: I under G-B-D, V under D-F#-A
    scale = {(7 + s) % 12 for s in (0, 2, 4, 5, 7, 9, 11)}
    assert chords and all(p % 12 in scale for _, _, p in chords)
    assert all(36 <= p < 48 for _, _, p in bass)
    assert len(LEAD_INSTRUMENTS) >= 20


# Planning parses music21 corpus files; seed 0 starts with small ones (another seed may open a 1,000-tune opus).
@pytest.fixture(scope="module")
def jobs():
    return plan_synthetic_jobs(8, 3.0, seed=0)


@pytest.mark.slow
def test_plan_spreads_collections(jobs):
    assert len(jobs) == 8 and len({j.key for j in jobs}) == 8
    assert {j.payload.piece.collection for j in jobs} >= {"essen", "oneills", "bach", "palestrina"}
    with pytest.raises(MusicSetError, match="num_clips"):
        plan_synthetic_jobs(0, 3.0)


def _plan_summary(jobs):
    return [(j.key, j.payload.piece.name, j.payload.piece.parts, j.payload.render) for j in jobs]


@pytest.mark.slow
def test_plan_in_parallel_and_from_its_cache_equals_the_serial_plan(jobs, tmp_path, monkeypatch):
    cache = tmp_path / "plan.json"
    parallel = plan_synthetic_jobs(8, 3.0, seed=0, num_proc=2, cache_path=cache)
    assert _plan_summary(parallel) == _plan_summary(jobs) and cache.exists()

    import mmgen.data.synthetic_musicset as synth

    def no_parsing(request):
        raise AssertionError(f"the cached plan should have been used, not parsed again: {request}")

    monkeypatch.setattr(synth, "_collection_pieces", no_parsing)
    assert _plan_summary(plan_synthetic_jobs(8, 3.0, seed=0, cache_path=cache)) == _plan_summary(jobs)
    with pytest.raises(AssertionError, match="should have been used"):  # other arguments: not this plan
        plan_synthetic_jobs(8, 3.0, seed=1, cache_path=cache)
    cache.write_text(cache.read_text()[:100])  # a plan cut short by a kill is ignored (and parsed again)
    with pytest.raises(AssertionError, match="should have been used"):
        plan_synthetic_jobs(8, 3.0, seed=0, cache_path=cache)


@pytest.mark.slow
def test_render_clip_is_deterministic_and_consistent(jobs):
    job = jobs[0].payload
    row = render_clip(job).rows[0]
    again = render_clip(job).rows[0]
    assert row["audio"] == again["audio"] and row["caption"] == again["caption"]
    wave = decode_audio(row)
    assert wave.shape == (3 * SAMPLE_RATE,) and 0.05 < np.abs(wave).max() <= 0.91
    gt = string_to_notes(row["melody_gt"])
    assert len(gt) >= 4 and all(0 <= n.onset < 3.0 and n.offset <= 3.0 + 0.01 for n in gt)
    assert any(name in row["caption"] for name in [row["instruments"][0], *ENSEMBLES])
    assert set(SYNTH_COLUMNS) <= set(row)


@pytest.mark.slow
def test_tiny_preset_through_the_cli(tmp_path):
    assert cli_main(["data", "synth", "--preset", "tiny", "--output", str(tmp_path / "tiny")]) == 0
    loaded = load_musicset(tmp_path / "tiny")
    counts = [len(loaded[s]) for s in SPLITS]
    assert 20 <= sum(counts) <= 40 and all(counts)
    assert {r["collection"] for r in loaded["train"]} | {r["collection"] for r in loaded["test"]} >= {"essen", "bach"}
    assert all(abs(d - 10.0) < 0.01 for d in loaded["train"]["duration_s"])
    rows = [row for split in SPLITS for row in loaded[split]]
    for a in SPLITS:
        for b in SPLITS:
            if a != b:
                assert not set(loaded[a]["group"]) & set(loaded[b]["group"])  # no piece in two splits
    assert all(row["melody"] and row["melody_gt"] and row["caption"] and len(row["alt_captions"]) == 2 for row in rows)
    assert len({row["caption"] for row in rows}) == len(rows)
    assert "synthetic build" in (tmp_path / "tiny" / "README.md").read_text()
    assert cli_main(["data", "synth", "--preset", "tiny", "--output", str(tmp_path / "tiny")]) == 1  # exists
