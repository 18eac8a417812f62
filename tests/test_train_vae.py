"""Smoke test of train/vae.py: 2 steps on a tiny fabricated MusicSet, checkpoint, resume, final save."""

import numpy as np
import pytest
from fixtures import run_train_script, save_tiny_musicset


@pytest.mark.slow
def test_train_vae_two_steps_resume_and_load(tmp_path):
    from diffusers import AutoencoderKL

    from mmgen.models.vae import encode_mels, mel_range

    dataset = save_tiny_musicset(tmp_path / "musicset", rows={"train": 3, "validation": 2, "test": 2}, seconds=1.5)
    out = tmp_path / "vae"
    common = [
        "--dataset", dataset, "--output_dir", str(out), "--vae_preset", "tiny", "--train_batch_size", "2",
        "--crop_seconds", "0.5", "--disc_weight", "0.5", "--disc_start_step", "1", "--disc_channels", "8",
        "--checkpointing_steps", "2", "--validation_steps", "2", "--num_validation_clips", "2",
        "--num_validation_samples", "1", "--validation_vocoder_method", "griffinlim", "--scaling_factor_batches", "1",
        "--report_to", "none", "--lr_warmup_steps", "0",
    ]
    run_train_script("vae.py", *common, "--max_train_steps", "2")
    assert (out / "checkpoint-2").is_dir()
    assert (out / "diffusion_pytorch_model.safetensors").is_file()
    assert (out / "discriminator" / "diffusion_pytorch_model.safetensors").is_file()
    assert (out / "checkpoint-2" / "vae" / "diffusion_pytorch_model.safetensors").is_file()  # save_pretrained hooks
    assert (out / "checkpoint-2" / "discriminator" / "config.json").is_file()
    card = (out / "README.md").read_text()
    assert "# MMGen mel VAE" in card and "train/vae.py" in card and "| scaling_factor |" in card
    for name in ("00.png", "00.wav", "metrics.json"):
        assert (out / "validation" / "step-2" / name).is_file()

    result = run_train_script("vae.py", *common, "--max_train_steps", "3", "--resume_from_checkpoint", "latest")
    assert "at step 2" in result.stderr + result.stdout  # resumed from checkpoint-2 ...
    assert (out / "validation" / "step-3" / "metrics.json").is_file()  # ... and trained one more step
    assert not (out / "validation" / "step-1").exists()

    vae = AutoencoderKL.from_pretrained(out)
    assert vae.config.latent_channels == 8 and vae.config.scaling_factor != 1.0
    assert np.isfinite(vae.config.scaling_factor) and vae.config.scaling_factor > 0
    assert mel_range(vae)[0] == pytest.approx(-11.5129, abs=1e-3)
    import torch

    with torch.no_grad():
        assert encode_mels(vae, torch.zeros(1, 80, 20) - 5).shape == (1, 8, 5, 20)
