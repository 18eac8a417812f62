"""`python -m mmgen eval generation` on two folders of WAVs, and the local `evaluate` metric modules."""

import json
import os

import numpy as np
import pytest
from fixtures import ROOT, sine_notes_waveform

from mmgen.audio import save_audio
from mmgen.cli import build_parser, main
from mmgen.melody.notes import Note
from mmgen.melody.tokenizer import notes_to_string


def _melody(seed):
    rng = np.random.default_rng(seed)
    return [Note(0.1 + 0.3 * i, 0.35 + 0.3 * i, int(p), 100) for i, p in enumerate(rng.integers(55, 75, size=9))]


@pytest.fixture
def folders(tmp_path):
    gen, ref, mel = tmp_path / "gen", tmp_path / "ref", tmp_path / "mel"
    for folder in (gen, ref, mel):
        folder.mkdir()
    for i in range(3):
        notes = _melody(i)
        save_audio(ref / f"clip{i}.wav", sine_notes_waveform(notes))
        wave = sine_notes_waveform(notes, amplitude=0.3)
        save_audio(gen / f"clip{i}.wav", wave + 0.01 * np.sin(0.05 * np.arange(wave.size)))
        (mel / f"clip{i}.txt").write_text(notes_to_string(notes))
    return gen, ref, mel


@pytest.mark.slow
def test_eval_generation_writes_json_and_table(folders, tmp_path):
    gen, ref, mel = folders
    out = tmp_path / "out" / "results.json"
    code = main(["eval", "generation", "--generated", str(gen), "--reference", str(ref), "--melodies", str(mel),
                 "--no-note-f1", "--output", str(out)])  # fmt: skip
    assert code == 0
    results = json.loads(out.read_text())
    for key in ("fad_musicnn", "kl_musicnn", "is_musicnn", "chroma_cosine"):
        assert isinstance(results[key], float) and np.isfinite(results[key]), key
    assert results["num_pairs"] == 3 and results["fad_musicnn"] >= 0 and results["is_musicnn"] >= 1
    assert results["chroma_cosine"] > 0.8  # the generated clips play the conditioning melodies
    assert "note_f1" not in results
    table = out.with_suffix(".md").read_text().splitlines()
    assert table[0].startswith("| Model | FAD-musicnn ↓ | KL-musicnn ↓ | IS-musicnn ↑ | Chroma cos ↑")
    assert table[2].startswith("| MMGen (ours) | ")
    assert f"{results['fad_musicnn']:.2f}" in table[2]


def test_eval_generation_against_itself_is_zero(folders, tmp_path):
    _, ref, _ = folders
    out = tmp_path / "self.json"
    assert main(["eval", "generation", "--generated", str(ref), "--reference", str(ref), "--output", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["fad_musicnn"] == pytest.approx(0.0, abs=1e-6)
    assert results["kl_musicnn"] == pytest.approx(0.0, abs=1e-9)


def test_eval_generation_errors(folders, tmp_path, capsys):
    gen, _, _ = folders
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["eval", "generation", "--generated", str(gen), "--reference", str(empty), "--output", "x.json"]) == 1
    assert "no audio files" in capsys.readouterr().err
    args = ["eval", "generation", "--generated", str(gen), "--reference", str(gen), "--prompts", "p.txt"]
    assert main([*args, "--output", "x.json"]) == 1
    assert "--prompts needs --aligner" in capsys.readouterr().err


def test_eval_command_has_generation_subcommand():
    parser = build_parser()
    args = parser.parse_args(["eval", "generation", "--generated", "a", "--reference", "b", "--output", "c"])
    assert args.func.__name__ == "run_generation"


@pytest.mark.slow
def test_evaluate_metric_modules_load_offline(folders):
    import evaluate

    from mmgen.audio import load_audio

    gen, ref, mel = folders
    generated = [load_audio(p) for p in sorted(gen.iterdir())]
    reference = [load_audio(p) for p in sorted(ref.iterdir())]
    metrics = os.path.join(ROOT, "metrics")
    fad = evaluate.load(os.path.join(metrics, "fad_musicnn")).compute(predictions=generated, references=reference)
    assert fad["fad_musicnn"] >= 0
    same = evaluate.load(os.path.join(metrics, "kl_musicnn")).compute(predictions=reference, references=reference)
    assert same["kl_musicnn"] == pytest.approx(0.0, abs=1e-9)
    score = evaluate.load(os.path.join(metrics, "is_musicnn")).compute(predictions=generated)
    assert 1.0 <= score["is_musicnn"] <= 50.0
    melodies = [p.read_text() for p in sorted(mel.iterdir())]
    chroma = evaluate.load(os.path.join(metrics, "chroma_cosine")).compute(predictions=generated, references=melodies)
    assert chroma["chroma_cosine"] > 0.8
