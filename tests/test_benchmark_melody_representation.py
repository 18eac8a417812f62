"""benchmarks/melody_representation.py on tiny random pipelines: a sketch and a piano-roll pipeline compared."""

import json
import math
import os

import torch
from fixtures import load_benchmark, save_tiny_musicset
from pipeline_dummies import get_dummy_components

from mmgen.models.melody_encoder import PianoRollEncoder
from pipelines.pipeline_mmgen import MMGenPipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script():
    return load_benchmark("melody_representation")


def test_both_representations_are_scored_with_and_without_melody_guidance(tmp_path):
    MMGenPipeline(**get_dummy_components(melody_sketch=True)).save_pretrained(tmp_path / "sketch")
    torch.manual_seed(0)
    components = get_dummy_components(melody_sketch=True) | {"melody_encoder": PianoRollEncoder()}
    MMGenPipeline(**components).save_pretrained(tmp_path / "pianoroll")
    save_tiny_musicset(tmp_path / "musicset", rows={"train": 2, "validation": 2, "test": 4}, seconds=2.0)
    output = tmp_path / "out.json"
    load_script().main(["--pipelines", str(tmp_path / "sketch"), str(tmp_path / "pianoroll"), "--dataset",
                        str(tmp_path / "musicset"), "--num_clips", "2", "--seconds", "1", "--steps", "1",
                        "--melody_guidance_scale", "2", "--output", str(output)])  # fmt: skip
    results = json.loads(output.read_text())
    assert results[str(tmp_path / "sketch")]["representation"] == "sketch"
    assert results[str(tmp_path / "pianoroll")]["representation"] == "pianoroll"
    for path in ("sketch", "pianoroll"):
        entry = results[str(tmp_path / path)]
        for key in ("guidance", "melody_guidance_scale_2"):
            for row in ("retrieved_melody", "own_melody"):
                scores = entry[key][row]
                assert scores["num_clips"] == 2 and scores["num_melodies"] == 2
                assert all(math.isfinite(scores[m]) for m in ("chroma_cosine", "note_f1", "melody_accuracy"))
    assert results["settings"]["clip_ids"] == ["test-4", "test-7"]
