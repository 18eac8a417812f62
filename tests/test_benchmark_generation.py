"""benchmarks/generation.py end to end on tiny random pipelines and a fabricated MusicSet."""

import json
import math
import os
import subprocess
import sys

import pytest
from fixtures import load_benchmark, save_tiny_musicset
from pipeline_dummies import get_dummy_components

from pipelines.pipeline_mmgen import MMGenPipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "generation.py")
STAGES = ("aligner", "retrieval", "unet_loop", "vae", "vocoder", "other", "total")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A melody-guided (frame-aligned sketch), a global-vector-only and a text-only tiny pipeline, and a MusicSet of
    4 test clips of 2 s."""
    folder = tmp_path_factory.mktemp("bench")
    MMGenPipeline(**get_dummy_components(melody_sketch=True)).save_pretrained(folder / "guided")
    MMGenPipeline(**get_dummy_components()).save_pretrained(folder / "global_only")
    MMGenPipeline(**get_dummy_components(use_melody=False)).save_pretrained(folder / "text_only")
    save_tiny_musicset(folder / "musicset", rows={"train": 2, "validation": 2, "test": 4}, seconds=2.0)
    return folder


def load_script():
    return load_benchmark("generation")


def run(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, SCRIPT, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def assert_finite(row, keys):
    for key in keys:
        assert isinstance(row[key], (int, float)) and math.isfinite(row[key]), (key, row[key])


def test_benchmark_writes_every_row_and_the_latency_by_stage(inputs, tmp_path):
    output = tmp_path / "generation.json"
    run("--pipeline", str(inputs / "guided"), "--text_only_pipeline", str(inputs / "text_only"),
        "--global_only_pipeline", str(inputs / "global_only"), "--sensitivity_clips", "2",
        "--previous_pipeline", str(inputs / "global_only"),
        "--dataset", str(inputs / "musicset"), "--num_clips", "2", "--seconds", "2", "--steps", "2",
        "--latency_steps", "2", "3", "--latency_repeats", "1", "--latency_seconds", "2", "--output", str(output),
        "--save_audio", str(tmp_path / "clips"))  # fmt: skip
    results = json.loads(output.read_text())
    assert list(results) == ["melody_guided", "own_melody", "global_only", "text_only", "previous", "reference",
                             "round_trip", "condition_sensitivity", "latency", "settings"]  # fmt: skip

    metrics = ("fad_musicnn", "kl_musicnn", "is_musicnn", "alignment_score", "chroma_cosine", "note_f1",
               "ac_chroma_cosine", "melody_accuracy")  # fmt: skip
    for key in ("melody_guided", "own_melody", "global_only", "text_only", "previous", "round_trip"):
        row = results[key]
        assert_finite(row, metrics)
        assert row["num_clips"] == 2 and row["num_melodies"] == 2  # every clip scored against a melody
        assert -1.0 <= row["alignment_score"] <= 1.0 and 0.0 <= row["chroma_cosine"] <= 1.0
    assert results["melody_guided"]["uses_melody"] and not results["text_only"]["uses_melody"]
    assert all(m["id"].startswith("mel-") for m in results["melody_guided"]["guiding_melodies"])
    own, trip = results["own_melody"], results["round_trip"]
    assert_finite(own, ("ac_chroma_cosine_vs_audio", "melody_accuracy_vs_audio"))
    assert trip["ac_chroma_cosine_vs_audio"] > own["ac_chroma_cosine_vs_audio"]  # a random model vs the decoder
    for entry in results["condition_sensitivity"].values():
        assert_finite(entry, ("same_seed_other_condition", "same_condition_other_seed"))
    assert sorted(results["condition_sensitivity"]) == ["global_only", "melody_guided", "previous", "text_only"]
    assert (tmp_path / "generation_sensitivity.png").is_file()

    reference = results["reference"]
    assert_finite(reference, ("fad_musicnn", "is_musicnn", "alignment_score", "chroma_cosine", "note_f1"))
    assert reference["kl_musicnn"] is None and "validation" in reference["fad_against"]
    # sine renderings of their own melodies: far better adherence than random models
    assert reference["chroma_cosine"] > 0.8 > results["melody_guided"]["chroma_cosine"]

    latency = results["latency"]["per_steps"]
    assert sorted(latency) == ["2_steps", "3_steps"]
    for steps, entry in ((2, latency["2_steps"]), (3, latency["3_steps"])):
        per_10s = entry["seconds_per_10s_audio"]
        assert_finite(per_10s, STAGES)
        assert all(per_10s[s] > 0 for s in ("aligner", "retrieval", "unet_loop", "vae", "vocoder"))
        assert sum(per_10s[s] for s in STAGES[:-1]) == pytest.approx(per_10s["total"], rel=1e-6)
        assert entry["unet_calls_per_step"] == 1  # guidance batches the two branches in one UNet call
        assert entry["num_inference_steps"] == steps

    settings = results["settings"]
    assert settings["clip_ids"] == ["test-4", "test-7"]  # first and last of 4, evenly spaced
    markdown = output.with_suffix(".md").read_text()
    assert "| MMGen (melody-guided) |" in markdown and "| Text-only ablation |" in markdown
    assert "| Test references |" in markdown and "## Latency" in markdown and "## Condition sensitivity" in markdown
    assert "| Global-vector-only ablation |" in markdown and "| Decoder round trip (VAE + vocoder) |" in markdown
    assert f"steps of {settings['scheduler']}, guidance 3, vocoder" in markdown  # the sampler measured, not "DDIM"
    assert len(list((tmp_path / "clips" / "melody_guided").glob("*.wav"))) == 2
    assert len(list((tmp_path / "clips" / "reference").glob("*.txt"))) == 2


def test_missing_ablation_is_reported_not_fabricated(inputs, tmp_path):
    output = tmp_path / "generation.json"
    load_script().main([
        "--pipeline", str(inputs / "guided"), "--dataset", str(inputs / "musicset"), "--num_clips", "2",
        "--seconds", "1", "--steps", "1", "--latency_steps", "--fad_floor_split", "", "--output", str(output),
    ])  # fmt: skip
    results = json.loads(output.read_text())
    assert "previous" not in results  # an optional reference point: absent, not fabricated
    assert set(results["text_only"]) == {"missing"} and "--text_only_pipeline" in results["text_only"]["missing"]
    assert set(results["global_only"]) == {"missing"} and "--melody_input none" in results["global_only"]["missing"]
    assert results["latency"]["per_steps"] == {}
    assert results["reference"]["fad_musicnn"] is None
    assert "Text-only ablation row missing" in output.with_suffix(".md").read_text()


def test_update_measures_only_the_asked_rows_and_keeps_the_others(inputs, tmp_path):
    """--rows + --update: a second run replaces only its rows, refuses other settings; --exclude_indexed_by leaves
    out the clips a retriever indexes; the JSON is written as each row finishes."""
    import torch

    from mmgen.retrieval import MelodyRetriever

    output, script = tmp_path / "generation.json", load_script()
    common = ["--pipeline", str(inputs / "guided"), "--dataset", str(inputs / "musicset"), "--num_clips", "2",
              "--seconds", "1", "--steps", "1", "--latency_steps", "--fad_floor_split", "", "--output", str(output)]
    script.main([*common, "--rows", "melody_guided", "reference"])
    first = json.loads(output.read_text())
    assert set(first) == {"melody_guided", "reference", "settings"}
    script.main([*common, "--rows", "text_only", "sensitivity", "--sensitivity_clips", "2", "--update",
                 "--text_only_pipeline", str(inputs / "text_only")])  # fmt: skip
    second = json.loads(output.read_text())
    assert second["melody_guided"] == first["melody_guided"] and second["reference"] == first["reference"]
    assert_finite(second["text_only"], ("fad_musicnn", "chroma_cosine", "note_f1"))
    assert second["text_only"]["num_melodies"] == 2  # scored against the melodies the guided model retrieves
    assert sorted(second["condition_sensitivity"]) == ["melody_guided", "text_only"]  # --pipeline's always
    with pytest.raises(SystemExit, match="another steps"):
        other_steps = [("2" if previous == "--steps" else value) for previous, value in zip(["", *common], common)]
        script.main([*other_steps, "--rows", "reference", "--update"])

    seen = tmp_path / "seen"
    MelodyRetriever.from_embeddings(torch.randn(1, 16), [{"id": "test-4", "melody": "", "caption": "",
                                                          "source": ""}], index_type="flat").save_pretrained(seen)
    unseen = tmp_path / "unseen.json"
    script.main([*common[:-1], str(unseen), "--rows", "reference", "--exclude_indexed_by", str(seen)])
    settings = json.loads(unseen.read_text())["settings"]
    assert "test-4" not in settings["clip_ids"] and len(settings["clip_ids"]) == 2


def test_markdown_names_the_melody_guidance():
    bench = load_benchmark("generation")
    assert bench.melody_guidance_note({"melody_guidance_scale": 2.0}) == ", melody guidance β = 2"
    assert bench.melody_guidance_note({"melody_guidance_scale": None}) == ""
