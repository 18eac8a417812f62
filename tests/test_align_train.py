"""train/align.py smoke tests: a few steps on a fabricated tiny MusicSet, checkpoints, resume, final model."""

import json
import os
import subprocess
import sys

import pytest
from safetensors import safe_open

from mmgen.models.aligner import TriModalAligner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "train", "align.py")


def run_align(tiny_assets, output_dir, *extra, ok=True):
    command = [
        sys.executable, SCRIPT, "--dataset_dir", tiny_assets["musicset"], "--output_dir", str(output_dir),
        "--model_config", "tiny", "--text_encoder", tiny_assets["text"], "--clip_seconds", "1.0",
        "--train_batch_size", "4", "--report_to", "none", "--lr_warmup_steps", "0", *extra,
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert (result.returncode == 0) == ok, result.stderr[-3000:]
    return result.stderr + result.stdout


@pytest.mark.slow
def test_two_steps_write_a_checkpoint_and_a_loadable_model_then_resume(tiny_assets, tmp_path):
    log = run_align(
        tiny_assets,
        tmp_path,
        "--max_train_steps",
        "2",
        "--checkpointing_steps",
        "1",
        "--checkpoints_total_limit",
        "1",
        "--validation_steps",
        "2",
        "--audio_pitch_bins",
        "64",
        "--batch_grouping",  # hard-negative batches; every tiny clip has the same source: one group per batch
        "source",
        "--groups_per_batch",
        "1",
    )
    assert "step 2 validation R@1" in log
    assert sorted(os.listdir(tmp_path)) >= ["README.md", "checkpoint-2", "config.json", "model.safetensors"]
    assert not (tmp_path / "checkpoint-1").exists()  # rotated by --checkpoints_total_limit 1
    with safe_open(tmp_path / "checkpoint-2" / "aligner" / "model.safetensors", "pt") as f:
        assert not any(k.startswith("text_model.") for k in f.keys())  # frozen text weights stay out
    model = TriModalAligner.from_pretrained(tmp_path)
    assert model.config.modalities == ["audio", "text", "melody"]
    assert model.config.audio_pitch_bins == 64  # the tower reads semitone rows beside the log-mel
    summary = model.config.training_summary
    assert summary["max_train_steps"] == 2 and set(summary["metrics"]) == {"A2T", "T2A", "A2M", "M2A", "T2M", "M2T"}
    assert "R@1" in (tmp_path / "README.md").read_text()

    log = run_align(tiny_assets, tmp_path, "--max_train_steps", "3", "--resume_from_checkpoint", "latest",
                    "--checkpointing_steps", "3", "--validation_steps", "100", "--batch_grouping", "source",
                    "--groups_per_batch", "1", "--audio_pitch_bins", "64")  # fmt: skip
    assert "resumed from" in log and "checkpoint-2 at step 2" in log
    assert (tmp_path / "checkpoint-3").is_dir()
    assert json.loads((tmp_path / "train_summary.json").read_text())["max_train_steps"] == 3

    # Resuming with flags that build another architecture is refused by name, not with a state-dict traceback.
    log = run_align(tiny_assets, tmp_path, "--max_train_steps", "4", "--resume_from_checkpoint", "latest", ok=False)
    assert "the aligner in" in log and "has another architecture" in log and "--audio_pitch_bins" in log


@pytest.mark.slow
def test_bimodal_baseline_trains_with_the_same_script(tiny_assets, tmp_path):
    run_align(tiny_assets, tmp_path, "--modalities", "audio,text", "--max_train_steps", "1", "--validation_steps", "1",
              "--checkpointing_steps", "100")  # fmt: skip
    model = TriModalAligner.from_pretrained(tmp_path)
    assert model.config.modalities == ["audio", "text"] and model.melody_model is None
    assert model.config.audio_pitch_bins == 0 and model.config.audio_config.num_mel_bins == 64  # the default tower
    assert set(model.config.training_summary["metrics"]) == {"A2T", "T2A"}


def test_bad_flags_are_reported():
    result = subprocess.run([sys.executable, SCRIPT, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--modalities" in result.stdout and "--resume_from_checkpoint" in result.stdout
