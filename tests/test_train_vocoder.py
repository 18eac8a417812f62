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


@pytest.mark.slow
def test_train_vocos_with_vae_mels_resumes_in_process(tmp_path):
    """`--architecture vocos` trains the VocosVocoder (here on VAE round-trip mels, against tiny discriminators),
    checkpoints, resumes from the checkpoint and saves a folder that loads on its own."""
    import importlib.util

    import torch

    from mmgen.models.discriminators import HifiGanDiscriminator
    from mmgen.models.vae import build_vae
    from mmgen.models.vocoder import load_vocoder
    from mmgen.models.vocos import VocosVocoder

    spec = importlib.util.spec_from_file_location("train_vocoder", os.path.join(ROOT, "train", "vocoder.py"))
    train_vocoder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_vocoder)
    dataset = save_tiny_musicset(tmp_path / "musicset", rows={"train": 3, "validation": 1, "test": 1}, seconds=1.5)
    torch.manual_seed(0)
    VocosVocoder(hidden_dim=16, intermediate_dim=32, num_layers=1).save_pretrained(tmp_path / "tiny-vocos")
    build_vae("tiny").save_pretrained(tmp_path / "tiny-vae")
    out = tmp_path / "vocos"
    common = [
        "--architecture", "vocos", "--pretrained_vocoder", str(tmp_path / "tiny-vocos"), "--mel_source", "vae",
        "--pretrained_vae", str(tmp_path / "tiny-vae"), "--disc_preset", "tiny", "--gan_start_step", "1",
        "--dataset", dataset, "--output_dir", str(out), "--train_batch_size", "2", "--segment_seconds", "0.25",
        "--checkpointing_steps", "2", "--validation_steps", "2", "--validation_seconds", "0.5",
        "--num_validation_clips", "1", "--num_validation_samples", "1", "--report_to", "none",
    ]
    train_vocoder.main([*common, "--max_train_steps", "2"])
    assert (out / "checkpoint-2" / "vocoder" / "diffusion_pytorch_model.safetensors").is_file()
    first = VocosVocoder.from_pretrained(out)
    assert "# MMGen Vocos vocoder" in (out / "README.md").read_text()

    train_vocoder.main([*common, "--max_train_steps", "3", "--resume_from_checkpoint", "latest"])
    assert (out / "validation" / "step-3" / "metrics.json").is_file()
    resumed = load_vocoder(str(out))
    assert isinstance(resumed, VocosVocoder) and resumed.config.hidden_dim == 16
    changed = [not torch.equal(a, b) for a, b in zip(first.state_dict().values(), resumed.state_dict().values())]
    assert any(changed)  # the resumed run trained on
    assert resumed.decode(torch.zeros(1, 80, 10) - 5).shape == (1, 2560)
    assert len(HifiGanDiscriminator.from_pretrained(out / "discriminator").config.periods) == 5


def test_vocos_defaults_are_vocos_own():
    """A Vocos from scratch gets Vocos' learning rate and warm-up unless told; the HiFi-GAN keeps its fine-tuning
    step."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_vocoder", os.path.join(ROOT, "train", "vocoder.py"))
    train_vocoder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_vocoder)
    base = ["--dataset", "d", "--output_dir", "o"]
    vocos = train_vocoder.parse_args([*base, "--architecture", "vocos"])
    hifigan = train_vocoder.parse_args(base)
    assert (vocos.learning_rate, vocos.lr_warmup_steps) == (5e-4, 100)
    assert (hifigan.learning_rate, hifigan.lr_warmup_steps) == (2e-5, 0)
    told = train_vocoder.parse_args([*base, "--architecture", "vocos", "--learning_rate", "1e-3"])
    assert told.learning_rate == 1e-3
