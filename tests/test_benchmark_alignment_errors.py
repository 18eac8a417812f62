"""benchmarks/alignment_errors.py: the shared-attribute profile of wrong top-1 matches."""

import numpy as np
from fixtures import load_benchmark

bench = load_benchmark("alignment_errors")
error_profile, melody_tower_spread = bench.error_profile, bench.melody_tower_spread


def row(key, register="middle", group="g"):
    return {"key": key, "register": register, "meter": "4/4", "bpm": 100.0, "programs": [0], "accompaniment": "none",
            "group": group}  # fmt: skip


def test_errors_that_always_pick_the_same_key_are_profiled_as_such():
    keys = ["C major", "C major", "a minor", "a minor", "G major", "G major"]
    rows = [row(k, group=f"p{i}") for i, k in enumerate(keys)]
    similarity = np.eye(6)
    similarity[0] = [0, 1, 0, 0, 0, 0]  # clip 0 matches clip 1: same key
    similarity[2] = [0, 0, 0, 1, 0, 0]  # clip 2 matches clip 3: same key
    profile = error_profile(similarity, rows, chance_samples=50, seed=0)
    assert profile["top1_correct"] == 4 and profile["top1_wrong"] == 2
    assert profile["shared"]["key"]["wrong_match"] == 1.0 and profile["shared"]["key"]["chance"] < 0.5
    assert profile["shared"]["register"] == {"wrong_match": 1.0, "chance": 1.0}  # every clip shares it
    assert profile["shared"]["same_piece"]["wrong_match"] == 0.0


def test_melody_tower_spread_matches_identical_melodies(tmp_path):
    import datasets
    import torch
    from fixtures import save_tiny_text_encoder, tiny_aligner_config

    from mmgen.models.aligner import TriModalAligner

    torch.manual_seed(0)
    aligner = TriModalAligner(tiny_aligner_config(save_tiny_text_encoder(tmp_path / "text"))).eval()
    melodies = [f"<{p}4>,<114>,<79>|<{q}4>,<200>,<79>" for p, q in ["CE", "DF", "EG", "FA", "GB", "AC"]]
    split = datasets.Dataset.from_dict({"melody": melodies, "melody_gt": melodies})
    spread = melody_tower_spread(aligner, split, aligner.embed_melody(melodies))
    assert spread["melody_to_score_R@1"] == 1.0  # the same notes embed the same
    assert -1.0 <= spread["melody_nearest_other_cosine_median"] <= 1.0
    assert "melody_to_score_R@1" not in melody_tower_spread(aligner, split.remove_columns("melody_gt"),
                                                            aligner.embed_melody(melodies))  # fmt: skip
