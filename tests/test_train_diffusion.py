"""Smoke tests of train/diffusion.py on the tiny MusicSet (diffusers' `examples/test_*.py` pattern)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from pipeline_dummies import tiny_aligner, tiny_vocoder

from mmgen.models.vae import build_vae
from pipelines.pipeline_mmgen import MMGenPipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def frozen_parts(tmp_path_factory):
    """A fabricated tiny MusicSet and tiny aligner, VAE and vocoder folders, as the script loads them."""
    from mmgen.models.aligner.testing_utils import save_tiny_musicset

    folder = tmp_path_factory.mktemp("frozen")
    save_tiny_musicset(folder / "musicset", rows={"train": 8, "validation": 4, "test": 4})
    tiny_aligner().save_pretrained(folder / "aligner")
    torch.manual_seed(0)
    build_vae("tiny").save_pretrained(folder / "vae")
    tiny_vocoder().save_pretrained(folder / "vocoder")
    return folder


def train(frozen, output_dir, *extra):
    command = [
        sys.executable, os.path.join(ROOT, "train", "diffusion.py"),
        "--dataset", str(frozen / "musicset"),
        "--aligner", str(frozen / "aligner"),
        "--vae", str(frozen / "vae"),
        "--vocoder", str(frozen / "vocoder"),
        "--output_dir", str(output_dir),
        "--train_batch_size", "4",
        "--unet_block_out_channels", "8,16",
        "--projector_hidden_dim", "32",
        "--condition_dim", "16",
        "--clip_seconds", "1",
        "--crops_per_clip", "1",
        "--num_validation_clips", "1",
        "--validation_inference_steps", "2",
        "--validation_seconds", "1",
        "--report_to", "none",
        *extra,
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def generate(folder):
    pipe = MMGenPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe("a calm folk tune", audio_length_in_s=1.0, num_inference_steps=2,
                generator=torch.Generator().manual_seed(0))  # fmt: skip


def test_two_steps_save_a_loadable_pipeline(frozen_parts, tmp_path):
    out = tmp_path / "run"
    train(frozen_parts, out, "--max_train_steps", "2", "--checkpointing_steps", "1", "--validation_steps", "2",
          "--melody_dropout", "0.1")  # fmt: skip
    assert (out / "model_index.json").is_file()
    assert (out / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (out / "condition_projector" / "diffusion_pytorch_model.safetensors").is_file()
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    assert (out / "checkpoint-2" / "unet_ema" / "diffusion_pytorch_model.safetensors").is_file()
    validation = json.loads((out / "validation" / "step-2" / "results.json").read_text())
    assert len(validation["alignment_scores"]) == 1 and (out / "validation" / "step-2" / "0.wav").is_file()
    assert json.loads((out / "training_args.json").read_text())["global_step"] == 2
    result = generate(out)
    assert result.audios.shape == (1, 22050) and np.isfinite(result.audios).all()
    assert result.melodies[0]["id"] is not None  # retrieved from the train split's melodies


@pytest.mark.slow
def test_resume_and_text_only_ablation(frozen_parts, tmp_path):
    out = tmp_path / "run"
    train(frozen_parts, out, "--max_train_steps", "1", "--checkpointing_steps", "1", "--validation_steps", "100")
    resumed = train(frozen_parts, out, "--max_train_steps", "2", "--checkpointing_steps", "100",
                    "--validation_steps", "100", "--resume_from_checkpoint", "latest")  # fmt: skip
    assert "resumed from" in resumed.stderr and "checkpoint-1" in resumed.stderr
    assert json.loads((out / "training_args.json").read_text())["global_step"] == 2

    ablation = tmp_path / "text_only"
    train(frozen_parts, ablation, "--max_train_steps", "1", "--checkpointing_steps", "100", "--validation_steps", "1",
          "--condition", "text_only")  # fmt: skip
    pipe = MMGenPipeline.from_pretrained(ablation)
    assert pipe.retriever is None and not pipe.condition_projector.config.use_melody
    assert generate(ablation).melodies == [None]
