"""benchmarks/guidance_scale.py: its arguments and summary, and the whole script on two tiny random pipelines (a
melody-sketch model and a text-only one) and a fabricated MusicSet."""

import json

import numpy as np
import pytest
import torch
from fixtures import load_benchmark, save_tiny_musicset
from pipeline_dummies import get_dummy_components

from pipelines.pipeline_mmgen import MMGenPipeline, sampler_scheduler


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("guidance_scale")


def test_models_are_name_equals_an_existing_folder(bench, tmp_path):
    assert bench.named_folder(f"v2={tmp_path}", "model") == ("v2", tmp_path)
    with pytest.raises(SystemExit, match="a model is NAME=FOLDER"):
        bench.named_folder(str(tmp_path), "model")
    with pytest.raises(SystemExit, match="does not exist"):
        bench.named_folder(f"v2={tmp_path / 'missing'}", "model")
    with pytest.raises(SystemExit):
        bench.parse_args(["--models", f"v2={tmp_path}", "--guidance_scales", "-1"])


def test_summary_compares_the_first_model_at_equal_and_at_each_best_w(bench):
    def points(fads):
        return {"points": [{"guidance_scale": w, "fad_musicnn": fad} for w, fad in fads.items()]}

    summary = bench.summarise({"v2": points({1.0: 36.0, 3.0: 30.0}), "text_only": points({1.0: 40.0, 3.0: 50.0})})
    assert summary["best_guidance_scale"] == {"v2": 3.0, "text_only": 1.0}
    gap = summary["v2_vs_text_only"]
    assert gap["fad_lower_by_at_equal_w"] == {"1": pytest.approx(0.1), "3": pytest.approx(0.4)}
    assert gap["fad_lower_by_at_each_best_w"] == pytest.approx(0.25)  # 30 against text-only's best, 40


@pytest.mark.slow  # two pipelines, two guidance scales, musicnn and Basic Pitch scoring
def test_the_script_scores_each_model_at_each_w_and_reuses_its_clips(bench, tmp_path):
    for name, melody in (("sketch", True), ("text", False)):
        components = get_dummy_components(use_melody=melody, melody_sketch=melody)
        components["scheduler"] = sampler_scheduler("unipc", components["scheduler"])
        MMGenPipeline(**components).save_pretrained(tmp_path / name)
    data = save_tiny_musicset(tmp_path / "data", {"train": 1, "validation": 1, "test": 3}, seconds=2.0)
    output, clips = tmp_path / "guidance_scale.json", tmp_path / "clips"
    args = ["--models", f"sketch={tmp_path / 'sketch'}", f"text={tmp_path / 'text'}", "--guidance_scales", "0", "3",
            "--dataset", data, "--num_clips", "2", "--seconds", "2", "--steps", "2", "--clips_dir", str(clips),
            "--output", str(output)]  # fmt: skip
    torch.manual_seed(0)
    bench.main(args)
    results = json.loads(output.read_text())
    for name in ("sketch", "text"):
        points = results["models"][name]["points"]
        assert [p["guidance_scale"] for p in points] == [0.0, 3.0]
        assert all(p["clips_generated_now"] == 2 and p["num_clips"] == 2 for p in points)
        assert all((p["sampler"], p["steps"]) == ("unipc", 2) for p in points)
        clip = sorted((clips / f"{name}-w0" / "unipc-2").glob("*.npy"))[0]
        guided = clips / f"{name}-w3" / "unipc-2" / clip.name
        assert not np.array_equal(np.load(clip), np.load(guided))  # w reaches the sampler
    assert results["models"]["sketch"]["points"][0]["chroma_cosine"] is not None  # scored against its melody
    assert results["models"]["text"]["points"][0]["chroma_cosine"] is None  # a text-only model returns none
    summary = results["summary"]
    assert set(summary["best_guidance_scale"]) == {"sketch", "text"}
    assert set(summary["sketch_vs_text"]["fad_lower_by_at_equal_w"]) == {"0", "3"}
    assert output.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    bench.main(args)  # a rerun scores from the cache
    again = json.loads(output.read_text())
    assert all(p["clips_generated_now"] == 0 for m in again["models"].values() for p in m["points"])
    assert again["summary"] == summary
