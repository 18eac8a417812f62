"""Smoke test of train/vae.py: 2 steps on a tiny fabricated MusicSet, checkpoint, resume, final save."""

import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_tiny_musicset(path, seconds: float = 1.5, rows=(3, 2, 2)) -> str:
    """Save a MusicSet with the core columns and harmonic-tone clips (train, validation, test row counts)."""
    import datasets

    from mmgen.audio import SAMPLE_RATE
    from mmgen.data.format import encode_flac, musicset_features
    from mmgen.melody.notes import Note
    from mmgen.melody.tokenizer import notes_to_string

    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    splits = {}
    for split, count in zip(("train", "validation", "test"), rows):
        table = {name: [] for name in musicset_features()}
        for i in range(count):
            pitches = rng.integers(55, 80, size=3)
            wave = np.zeros_like(t)
            notes = []
            for j, pitch in enumerate(pitches):
                on, off = j * seconds / 3, (j + 1) * seconds / 3 - 0.05
                active = (t >= on) & (t < off)
                f0 = 440.0 * 2 ** ((pitch - 69) / 12)
                wave[active] += sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t[active]) for k in (1, 2, 3))
                notes.append(Note(on, off, int(pitch), 100))
            table["id"].append(f"{split}-{i}")
            table["audio"].append(encode_flac(wave.astype(np.float32)))
            table["caption"].append("a test tone")
            table["alt_captions"].append([])
            table["melody"].append(notes_to_string(notes))
            table["source"].append("test")
            table["group"].append(f"{split}-{i}")
            table["start_s"].append(0.0)
            table["duration_s"].append(seconds)
        splits[split] = datasets.Dataset.from_dict(table, features=musicset_features())
    datasets.DatasetDict(splits).save_to_disk(os.fspath(path))
    return os.fspath(path)


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train", script), *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


@pytest.mark.slow
def test_train_vae_two_steps_resume_and_load(tmp_path):
    from diffusers import AutoencoderKL

    from mmgen.models.vae import encode_mels, mel_range

    dataset = make_tiny_musicset(tmp_path / "musicset")
    out = tmp_path / "vae"
    common = [
        "--dataset", dataset, "--output_dir", str(out), "--vae_preset", "tiny", "--train_batch_size", "2",
        "--crop_seconds", "0.5", "--disc_weight", "0.5", "--disc_start_step", "1", "--disc_channels", "8",
        "--checkpointing_steps", "2", "--validation_steps", "2", "--num_validation_clips", "2",
        "--num_validation_samples", "1", "--validation_vocoder_method", "griffinlim", "--scaling_factor_batches", "1",
        "--report_to", "none", "--lr_warmup_steps", "0",
    ]
    run_script("vae.py", *common, "--max_train_steps", "2")
    assert (out / "checkpoint-2").is_dir()
    assert (out / "diffusion_pytorch_model.safetensors").is_file()
    assert (out / "discriminator" / "diffusion_pytorch_model.safetensors").is_file()
    assert (out / "checkpoint-2" / "vae" / "diffusion_pytorch_model.safetensors").is_file()  # save_pretrained hooks
    assert (out / "checkpoint-2" / "discriminator" / "config.json").is_file()
    card = (out / "README.md").read_text()
    assert "# MMGen mel VAE" in card and "train/vae.py" in card and "| scaling_factor |" in card
    for name in ("00.png", "00.wav", "metrics.json"):
        assert (out / "validation" / "step-2" / name).is_file()

    result = run_script("vae.py", *common, "--max_train_steps", "3", "--resume_from_checkpoint", "latest")
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
