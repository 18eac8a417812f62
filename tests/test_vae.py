"""The mel VAE presets and helpers (mmgen/models/vae.py)."""

import pytest
import torch
from diffusers import AutoencoderKL

from mmgen.audio import LOG_MEL_SILENCE
from mmgen.models.vae import (
    DEFAULT_MEL_MAX,
    DEFAULT_MEL_MIN,
    VaeInputError,
    build_vae,
    compute_scaling_factor,
    decode_latents,
    encode_mels,
    mel_range,
    mel_to_vae_input,
    pad_frames,
    vae_config,
    vae_output_to_mel,
)


@pytest.fixture
def tiny_vae():
    torch.manual_seed(0)
    return build_vae("tiny").eval()


def test_default_preset_is_r4_with_8_channels_and_no_attention():
    config = vae_config("default")
    assert config["block_out_channels"] == (32, 64, 128)
    assert config["latent_channels"] == 8 and config["in_channels"] == 1 and config["out_channels"] == 1
    assert config["mid_block_add_attention"] is False
    assert len(config["down_block_types"]) == 3  # 2 ** (3 - 1) = 4
    with pytest.raises(ValueError, match="unknown VAE preset"):
        vae_config("huge")


def test_default_vae_shapes():
    vae = build_vae("default").eval()
    mel = torch.full((1, 80, 32), -4.0)
    with torch.no_grad():
        latents = encode_mels(vae, mel)
        assert latents.shape == (1, 8, 8, 20)
        assert decode_latents(vae, latents).shape == (1, 80, 32)


def test_tiny_vae_shapes_and_padding(tiny_vae):
    mel = torch.randn(2, 80, 30) - 5.0  # 30 frames: padded to 32
    x = mel_to_vae_input(mel)
    assert x.shape == (2, 1, 32, 80)
    with torch.no_grad():
        out = tiny_vae.encode(x).latent_dist.mode()
        assert out.shape == (2, 8, 8, 20)
        latents = encode_mels(tiny_vae, mel)
        assert latents.shape == (2, 8, 8, 20)
        assert decode_latents(tiny_vae, latents, num_frames=30).shape == (2, 80, 30)
        assert decode_latents(tiny_vae, latents).shape == (2, 80, 32)


def test_single_mel_gets_a_batch_axis(tiny_vae):
    with torch.no_grad():
        assert encode_mels(tiny_vae, torch.zeros(80, 16)).shape == (1, 8, 4, 20)


def test_normalisation_maps_range_to_unit_interval_and_inverts():
    mel = torch.tensor([[DEFAULT_MEL_MIN, DEFAULT_MEL_MAX, 0.5 * (DEFAULT_MEL_MIN + DEFAULT_MEL_MAX), -3.0]])
    mel = mel.T.expand(4, 80).T.reshape(1, 80, 4).contiguous()  # (1, 80, 4), frame j constant over bins
    x = mel_to_vae_input(mel)
    assert x.shape == (1, 1, 4, 80)
    torch.testing.assert_close(x[0, 0, :3, 0], torch.tensor([-1.0, 1.0, 0.0]))
    torch.testing.assert_close(vae_output_to_mel(x), mel)
    y = torch.randn(3, 80, 12) * 3 - 5
    torch.testing.assert_close(vae_output_to_mel(mel_to_vae_input(y, -10.0, 3.0), -10.0, 3.0), y)


def test_padding_uses_silence_and_multiple_of_four():
    mel = torch.zeros(1, 80, 5)
    padded = pad_frames(mel)
    assert padded.shape[-1] == 8
    assert torch.all(padded[..., 5:] == LOG_MEL_SILENCE)
    assert pad_frames(torch.zeros(1, 80, 8)).shape[-1] == 8
    with pytest.raises(VaeInputError, match="multiple of 4"):
        mel_to_vae_input(mel, pad=False)


def test_bad_shapes_raise():
    with pytest.raises(VaeInputError, match=r"\(batch, 80, frames\)"):
        mel_to_vae_input(torch.zeros(1, 64, 16))
    with pytest.raises(VaeInputError, match="VAE image"):
        vae_output_to_mel(torch.zeros(1, 2, 16, 80))
    with pytest.raises(VaeInputError, match="latents"):
        decode_latents(build_vae("tiny"), torch.zeros(1, 4, 4, 20))
    with pytest.raises(ValueError, match="mel_max"):
        build_vae("tiny", mel_min=1.0, mel_max=0.0)


def test_scaling_factor_and_mel_range_survive_save_load(tiny_vae, tmp_path):
    mels = [torch.randn(2, 80, 16) - 5 for _ in range(2)]
    factor = compute_scaling_factor(tiny_vae, mels)
    assert factor > 0
    tiny_vae.register_to_config(scaling_factor=factor)
    tiny_vae.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = AutoencoderKL.from_pretrained(tmp_path).eval()
    assert loaded.config.scaling_factor == pytest.approx(factor)
    assert mel_range(loaded) == (DEFAULT_MEL_MIN, DEFAULT_MEL_MAX)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        z = torch.cat([encode_mels(loaded, m, sample_posterior=True, generator=generator, scale=False) for m in mels])
        # posterior samples, scaled, have about unit variance on the data the factor was computed from
        assert float((z * factor).std()) == pytest.approx(1.0, rel=0.1)
        torch.testing.assert_close(encode_mels(loaded, mels[0]), encode_mels(tiny_vae, mels[0]))
    with pytest.raises(ValueError, match="at least one batch"):
        compute_scaling_factor(tiny_vae, [])
