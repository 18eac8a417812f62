"""benchmarks/latency.py: its helpers, and the whole script on a tiny random pipeline and a fabricated MusicSet."""

import json

import pytest
import torch
from fixtures import load_benchmark, save_tiny_musicset
from pipeline_dummies import get_dummy_components

from pipelines.pipeline_mmgen import MMGenPipeline, sampler_scheduler

STAGES = ("aligner", "retrieval", "unet_loop", "vae", "vocoder", "other", "total")


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("latency")


def tiny_pipe(sampler="dpm++"):
    components = get_dummy_components(melody_sketch=True)
    components["scheduler"] = sampler_scheduler(sampler, components["scheduler"])
    return MMGenPipeline(**components)


def test_points_and_variants(bench):
    assert bench.parse_point("dpm++:12") == ("dpm++", 12)
    with pytest.raises(SystemExit, match="sampler:steps"):
        bench.parse_point("dpm++")
    pipe = tiny_pipe()
    assert bench.sampler_name(pipe.scheduler) == "dpm++"
    today = bench.with_settings(pipe, "ddim", "griffinlim")
    assert bench.sampler_name(today.scheduler) == "ddim" and today.config.vocoder_method == "griffinlim"
    assert today.unet is pipe.unet and today.scheduler is not pipe.scheduler  # shared weights, own sampler


def test_the_baseline_quality_is_taken_only_from_a_run_that_measured_it(bench, tmp_path):
    settings = {"scheduler": "DDIMScheduler", "steps": 50, "vocoder_method": "hybrid", "clip_ids": ["a", "b"],
                "seed": 0, "guidance_scale": 3.0, "seconds": 10.0, "num_candidates": 1}  # fmt: skip
    row = {"pipeline": "pipe", "fad_musicnn": 38.0, "chroma_cosine": 0.68, "num_clips": 2, "command": "generation.py"}
    path = tmp_path / "generation.json"
    path.write_text(json.dumps({"settings": settings, "melody_guided": row}))
    args = bench.parse_args(["--pipeline", "pipe", "--baseline_vocoder", "hybrid"])
    ctx = {"clip_ids": ["a", "b"]}
    baseline = bench.generation_row(str(path), ("ddim", 50), ctx, args)
    assert baseline["fad_musicnn"] == 38.0 and baseline["steps"] == 50 and "generation.json" in baseline["from"]
    with pytest.raises(SystemExit, match="'steps': 50"):
        bench.generation_row(str(path), ("ddim", 12), ctx, args)
    with pytest.raises(SystemExit, match="clip_ids"):
        bench.generation_row(str(path), ("ddim", 50), {"clip_ids": ["a"]}, args)


@pytest.mark.slow  # several processes, each loading a pipeline
def test_the_script_writes_every_stage_and_reuses_its_clips(bench, tmp_path):
    tiny_pipe().save_pretrained(tmp_path / "pipe")
    data = save_tiny_musicset(tmp_path / "data", {"train": 1, "validation": 1, "test": 3}, seconds=2.0)
    output, clips = tmp_path / "latency.json", tmp_path / "clips"
    args = ["--pipeline", str(tmp_path / "pipe"), "--dataset", data, "--num_clips", "2", "--seconds", "2",
            "--sweep", "dpm++:2", "dpm++:3", "ddim:3", "--sweep_vocoder", "griffinlim", "--baseline", "ddim:3",
            "--baseline_vocoder", "griffinlim", "--default_steps", "2", "--threads", "1", "--repeats", "1",
            "--process_repeats", "1", "--long_seconds", "3", "--clips_dir", str(clips),
            "--melody_guidance_scales", "2", "--output", str(output)]  # fmt: skip
    torch.manual_seed(0)
    bench.main(args)
    results = json.loads(output.read_text())
    assert results["default"]["sampler"] == "dpm++" and results["default"]["steps"] == 2
    sweep = results["sweep"]
    assert [(p["sampler"], p["steps"]) for p in sweep["points"]] == [("dpm++", 2), ("dpm++", 3), ("ddim", 3)]
    for point in sweep["points"]:
        assert point["num_clips"] == 2 and point["clips_generated_now"] == 2 and point["chroma_cosine"] is not None
    (guided,) = sweep["melody_guidance"]  # at the default's sampler and steps, in its own clip folder
    assert (guided["sampler"], guided["steps"], guided["melody_guidance_scale"]) == ("dpm++", 2, 2.0)
    assert guided["clips_generated_now"] == 2 and (clips / "dpm++-2-mg2").is_dir()
    assert sweep["points"][0]["melody_guidance_scale"] is None
    quality = sweep["quality"]
    assert quality["baseline"] == sweep["points"][2]  # found in the sweep, not generated again
    assert (quality["default"]["sampler"], quality["default"]["steps"]) == ("dpm++", 2)
    assert quality["default"]["vocoder_method"] == "hybrid"  # the tiny pipeline's own vocoder, re-vocoded
    assert set(quality["default_vs_baseline"]) == set(bench.QUALITY_KEYS)
    for name in ("baseline", "default"):
        (timing,) = results["stages"][name]["timings"]
        assert timing["threads"] == 1 and set(timing["wall_s_per_10s"]) == set(STAGES)
        assert timing["wall_s_per_10s"]["total"] > 0 and timing["cpu_s_per_10s"] > 0
    app_call = results["stages"]["app_call"][0]
    assert app_call["median_with_check_s"] > app_call["median_s"] > 0  # the audio first, then the adherence check
    process = results["process"]
    assert process["wall_s"] > 0 and process["peak_rss_gb"] > 0.1 and process["peak_rss_gb_3s"] > 0.1
    assert process["import_pipeline_s"] > 0 and process["from_pretrained_s"] > 0
    assert output.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    # a rerun scores the cached clips without denoising them again
    bench.main([*args, "--stages", "sweep"])
    again = json.loads(output.read_text())["sweep"]
    assert all(p["clips_generated_now"] == 0 for p in again["points"])
    assert again["points"][0]["chroma_cosine"] == sweep["points"][0]["chroma_cosine"]
    # another default sampler (a text-only ablation saved with DDIM, scored at the shipped sampler): from the cache
    bench.main([*args, "--stages", "sweep", "--default_sampler", "ddim", "--default_steps", "3",
                "--default_quality_vocoder", "griffinlim"])  # fmt: skip
    other = json.loads(output.read_text())
    default = other["sweep"]["quality"]["default"]
    assert other["default"]["sampler"] == "ddim" and default["clips_generated_now"] == 0
    assert {k: default[k] for k in bench.QUALITY_KEYS} == {k: again["points"][2][k] for k in bench.QUALITY_KEYS}
