"""Smoke test of train/vocoder.py: 2 steps with a tiny generator, checkpoint, resume, final save."""

import os

import pytest
from fixtures import ROOT, run_train_script, save_tiny_musicset, save_tiny_vocoder


@pytest.mark.slow
def test_train_vocoder_two_steps_resume_and_load(tmp_path):
    import torch
    from transformers import SpeechT5HifiGan

    from mmgen.models.discriminators import HifiGanDiscriminator

    dataset = save_tiny_musicset(tmp_path / "musicset", rows={"train": 3, "validation": 2, "test": 2}, seconds=1.5)
    vocoder = save_tiny_vocoder(tmp_path / "tiny-vocoder")
    out = tmp_path / "vocoder"
    common = [
        "--dataset", dataset, "--output_dir", str(out), "--pretrained_vocoder", vocoder, "--disc_preset", "tiny",
        "--train_batch_size", "2", "--segment_seconds", "0.25", "--gan_start_step", "1",
        "--checkpointing_steps", "2", "--validation_steps", "2", "--validation_seconds", "0.5",
        "--num_validation_clips", "1", "--num_validation_samples", "1", "--report_to", "none",
    ]
    run_train_script("vocoder.py", *common, "--max_train_steps", "2")
    assert (out / "checkpoint-2").is_dir()
    assert (out / "model.safetensors").is_file()
    assert (out / "validation" / "step-2" / "00.wav").is_file()
    assert (out / "checkpoint-2" / "vocoder" / "model.safetensors").is_file()  # save_pretrained hooks
    card = (out / "README.md").read_text()
    assert "# MMGen HiFi-GAN vocoder" in card and "| val/log_mel_l1 |" in card

    result = run_train_script("vocoder.py", *common, "--max_train_steps", "3", "--resume_from_checkpoint", "latest")
    assert "at step 2" in result.stderr + result.stdout
    assert (out / "validation" / "step-3" / "metrics.json").is_file()

    generator = SpeechT5HifiGan.from_pretrained(out).eval()
    with torch.no_grad():
        assert generator(torch.zeros(1, 10, 80) - 5).shape == (1, 2560)
    assert len(HifiGanDiscriminator.from_pretrained(out / "discriminator").config.periods) == 5


@pytest.mark.slow
def test_train_vocoder_no_gan_in_process(tmp_path):
    """`--no_gan` trains the generator alone (run in-process through `main(argv)` to skip a second start-up)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_vocoder", os.path.join(ROOT, "train", "vocoder.py"))
    train_vocoder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_vocoder)
    dataset = save_tiny_musicset(tmp_path / "musicset", rows={"train": 2, "validation": 1, "test": 1}, seconds=1.5)
    vocoder = save_tiny_vocoder(tmp_path / "tiny-vocoder")
    out = tmp_path / "vocoder"
    train_vocoder.main([
        "--dataset", dataset, "--output_dir", str(out), "--pretrained_vocoder", vocoder, "--no_gan",
        "--train_batch_size", "2", "--segment_seconds", "0.25", "--max_train_steps", "1", "--validation_steps", "1",
        "--validation_seconds", "0.5", "--num_validation_clips", "1", "--report_to", "none",
    ])
    assert (out / "model.safetensors").is_file()
    assert (out / "validation" / "step-1" / "metrics.json").is_file()
    assert not (out / "discriminator").exists()
