"""Retrieval metrics of `python -m mmgen eval align` and the JSON / markdown it writes."""

import json

import pytest
import torch
from fixtures import save_tiny_musicset, save_tiny_text_encoder, tiny_aligner_config

from mmgen.cli import main
from mmgen.eval.aligner_retrieval import markdown_table, retrieval_metrics
from mmgen.models.aligner import TriModalAligner


def test_perfect_and_known_rankings():
    eye = torch.eye(12)
    assert retrieval_metrics(eye, eye) == {"R@1": 1.0, "R@5": 1.0, "R@10": 1.0, "mAP@10": 1.0}
    # query i's match is ranked (i % 12)-th: a shifted identity puts i at rank i for a crafted score matrix
    queries = torch.eye(12)
    candidates = torch.zeros(12, 12)
    for i in range(12):
        candidates[i, i] = 1.0 - 0.05 * i  # the true match's score decreases with i
        candidates[:i, i] = 1.0 - 0.05 * i + 0.01  # i candidates beat it
    scores = retrieval_metrics(queries, candidates)
    ranks = torch.arange(12)
    assert scores["R@1"] == pytest.approx(1 / 12)
    assert scores["R@5"] == pytest.approx(5 / 12)
    assert scores["R@10"] == pytest.approx(10 / 12)
    assert scores["mAP@10"] == pytest.approx(float((1 / (ranks[:10] + 1)).sum() / 12))


def test_ties_favour_the_true_match_and_bad_shapes_raise():
    same = torch.ones(3, 4) / 2
    assert retrieval_metrics(same, same)["R@1"] == 1.0
    with pytest.raises(ValueError, match="N, D"):
        retrieval_metrics(torch.ones(3, 4), torch.ones(2, 4))


def test_markdown_table_has_one_row_per_model_and_direction():
    scores = {"R@1": 0.5, "R@5": 0.75, "R@10": 1.0, "mAP@10": 0.6}
    table = markdown_table({"trimodal": {"A2T": scores, "M2A": scores}, "bimodal": {"A2T": scores}}, "t")
    rows = [line for line in table.splitlines() if line.startswith("| ") and "direction" not in line]
    assert len(rows) == 3 and rows[0].startswith("| CLAP-style") and "| M2A | 0.5000 | 0.7500 |" in rows[2]


def test_eval_align_cli_writes_json_and_markdown(tmp_path):
    dataset = save_tiny_musicset(tmp_path / "musicset", rows={"train": 1, "validation": 1, "test": 5}, seconds=1.0)
    text = save_tiny_text_encoder(tmp_path / "text")
    torch.manual_seed(0)
    TriModalAligner.from_text_pretrained(tiny_aligner_config(text)).save_pretrained(tmp_path / "tri")
    bi_config = tiny_aligner_config(text, modalities=["audio", "text"])
    TriModalAligner.from_text_pretrained(bi_config).save_pretrained(tmp_path / "bi")
    output = tmp_path / "out" / "alignment.json"
    code = main(["eval", "align", "--model", str(tmp_path / "tri"), "--baseline", str(tmp_path / "bi"),
                 "--dataset", dataset, "--split", "test", "--output", str(output)])  # fmt: skip
    assert code == 0
    results = json.loads(output.read_text())
    assert list(results["trimodal"]) == ["A2T", "T2A", "A2M", "M2A", "T2M", "M2T"]
    assert list(results["bimodal"]) == ["A2T", "T2A"]
    for scores in [*results["trimodal"].values(), *results["bimodal"].values()]:
        assert set(scores) == {"R@1", "R@5", "R@10", "mAP@10"}
        assert 0.0 <= scores["R@1"] <= scores["R@5"] <= scores["R@10"] == 1.0  # 5 items: always in the top 10
        assert scores["mAP@10"] >= scores["R@1"]
    assert results["info"]["items"] == 5
    assert "| MMGen (audio, text, melody) | T2M |" in output.with_suffix(".md").read_text()


def test_eval_align_rejects_an_unknown_split(tmp_path):
    dataset = save_tiny_musicset(tmp_path / "musicset", rows={"train": 1, "validation": 1, "test": 1}, seconds=1.0)
    code = main(["eval", "align", "--model", str(tmp_path), "--dataset", dataset, "--split", "dev",
                 "--output", str(tmp_path / "x.json")])  # fmt: skip
    assert code == 1
