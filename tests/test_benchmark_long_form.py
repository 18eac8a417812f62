"""benchmarks/long_form.py: the seam measure on signals with and without a join, and the whole script on a tiny
random pipeline (pieces in windows, the independent-window baseline, a continuation)."""

import json

import numpy as np
import pytest
import torch
from fixtures import load_benchmark, save_tiny_musicset
from pipeline_dummies import get_dummy_components

from mmgen.audio import HOP_LENGTH, SAMPLE_RATE
from pipelines.pipeline_mmgen import MMGenPipeline


def test_a_hard_join_shows_and_a_seamless_one_does_not():
    bench = load_benchmark("long_form")
    t = np.arange(6 * SAMPLE_RATE) / SAMPLE_RATE
    hiss = 1e-3 * np.random.default_rng(0).standard_normal(t.size)
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) + hiss  # stationary: no join anywhere
    join = [(203, 207)]  # log-mel frames, about 2.4 s in
    smooth = bench.seam_report(tone.astype(np.float32), join)
    cut = tone.copy()
    cut[205 * HOP_LENGTH :] = 0.3 * np.sin(2 * np.pi * 660 * t[205 * HOP_LENGTH :]) + hiss[205 * HOP_LENGTH :]
    hard = bench.seam_report(cut.astype(np.float32), join)  # another note from one sample to the next
    assert 0.7 < smooth["logmel_change_ratio"] < 1.3  # (the flux of a steady tone is ~0 everywhere: no ratio)
    assert hard["logmel_change_ratio"] > 2 and hard["spectral_flux_ratio"] > 2
    # the control a worst seam is read against: a steady tone has no loud spans, a note change in the interior does
    assert 0.7 < smooth["logmel_change_worst_of_as_many_interior_spans"] < 1.3
    onsets = np.ones(1000)
    onsets[::50] = 20.0  # a loud frame change every 50 frames: 16% of the 8-frame spans hold one
    everywhere = np.ones(1000, bool)
    assert bench.worst_interior_span(onsets, everywhere, [(0, 4)] * 24) > 2  # the worst of 24 spans meets one
    assert bench.worst_interior_span(onsets, everywhere, [(0, 4)]) < 1  # one span: the median, none
    seam, interior = bench.join_frames(join, 500, interior_span=(250, 500))
    assert seam[201:209].all() and not seam[:201].any() and not interior[:250].any() and interior[260:].all()


@pytest.mark.slow  # four processes, each loading a pipeline
def test_the_script_measures_pieces_a_baseline_and_a_continuation(tmp_path):
    MMGenPipeline(**get_dummy_components(melody_sketch=True)).save_pretrained(tmp_path / "pipe")
    data = save_tiny_musicset(tmp_path / "data", {"train": 2, "validation": 1, "test": 1}, seconds=3.0)
    output = tmp_path / "long_form.json"
    torch.manual_seed(0)
    load_benchmark("long_form").main([
        "--pipeline", str(tmp_path / "pipe"), "--dataset", data, "--lengths", "9", "--baseline_lengths", "9",
        "--held_all_lengths", "9", "--chained_lengths", "9",
        "--continuation_s", "5", "--prompt_s", "3", "--window", "4", "--overlap", "1", "--steps", "2",
        "--output", str(output),
    ])  # fmt: skip
    results = json.loads(output.read_text())
    piece, held_all, baseline = results["pieces"][0], results["held_all"][0], results["baselines"][0]
    assert piece["seconds"] == 9 and piece["num_windows"] == 3 and 0 < piece["crossfade_frames"]
    # two joins, each where the shared frames start, where the held ones end and where the new ones begin
    assert piece["joins"]["num_join_spans"] == 6 and piece["joins_holds"]["num_join_spans"] == 2
    assert held_all["crossfade_frames"] == 0 and held_all["joins"]["num_join_spans"] == 4  # held end = new start
    assert piece["peak_rss_mb"] >= piece["rss_after_load_mb"] > 0 and piece["s_per_minute_of_audio"] > 0
    assert 0 < piece["joins"]["logmel_change_ratio"] and baseline["joins"]["num_join_spans"] == 4
    assert piece["melody_adherence"]["num_melodies"] == 1
    assert piece["melody_extension"] == "repeat" and len(piece["melodies_followed"]) == 1
    chained = results["chained"][0]  # the retrieved melody, then the query's next matches
    assert chained["melody_extension"] == "retrieve" and len(set(chained["melodies_followed"])) > 1
    assert chained["melodies_followed"][0] == piece["melodies_followed"][0] and chained["num_windows"] == 3
    continuation = results["continuation"]
    assert continuation["prompt_s"] == 3.0 and continuation["join_vs_new_music"]["num_join_spans"] == 2


def test_update_keeps_other_lengths_and_refuses_other_settings():
    bench = load_benchmark("long_form")
    settings = {"steps": 20, "guidance": 3.0, "window": 20.0, "overlap": 2.0, "seed": 0, "lengths": [60.0, 300.0]}
    previous = {"settings": settings, "commands": ["first"], "pieces": [{"seconds": 60.0, "wall_s": 1},
                {"seconds": 300.0, "wall_s": 2}], "baselines": [{"seconds": 60.0}]}  # fmt: skip
    new = {"settings": {**settings, "lengths": [300.0]}, "commands": ["second"],
           "pieces": [{"seconds": 300.0, "wall_s": 3}], "baselines": []}  # fmt: skip
    merged = bench.merge_runs(previous, new)
    assert merged["pieces"] == [{"seconds": 60.0, "wall_s": 1}, {"seconds": 300.0, "wall_s": 3}]
    assert merged["baselines"] == [{"seconds": 60.0}] and merged["commands"] == ["first", "second"]
    assert merged["settings"]["lengths"] == [60.0, 300.0]
    with pytest.raises(SystemExit, match="steps"):
        bench.merge_runs(previous, {**new, "settings": {**new["settings"], "steps": 12}})
