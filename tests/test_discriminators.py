"""Discriminators (mmgen/models/discriminators.py) and decoder losses (mmgen/models/losses.py)."""

import pytest
import torch

from mmgen.models.discriminators import HifiGanDiscriminator, PatchDiscriminator
from mmgen.models.losses import (
    MultiResolutionSTFTLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    kl_loss,
)


@pytest.fixture
def tiny_hifigan_disc():
    torch.manual_seed(0)
    return HifiGanDiscriminator(period_channels=2, scale_channels=8)


def test_hifigan_discriminator_has_5_periods_and_3_scales(tiny_hifigan_disc):
    out = tiny_hifigan_disc(torch.randn(2, 4000))
    assert len(out.logits) == len(out.features) == 8
    assert all(logit.shape[0] == 2 and logit.ndim == 2 for logit in out.logits)
    # period discriminators fold the waveform into (samples / p, p): 5 conv layers + post conv per sub-discriminator
    assert [len(f) for f in out.features] == [6] * 5 + [8] * 3
    assert out.features[0][0].shape[-1] == 2 and out.features[4][0].shape[-1] == 11
    assert tiny_hifigan_disc(torch.randn(2, 1, 4000)).logits[-1].shape == out.logits[-1].shape
    with pytest.raises(ValueError, match="waveform"):
        tiny_hifigan_disc(torch.randn(2, 2, 100))


def test_patch_discriminator_shapes():
    disc = PatchDiscriminator(base_channels=8, num_layers=3, norm_num_groups=4)
    out = disc(torch.randn(2, 1, 64, 80))
    assert len(out.logits) == 1 and out.logits[0].shape == (2, 1, 6, 8)
    assert len(out.features[0]) == 4
    with pytest.raises(ValueError, match="mel image"):
        disc(torch.randn(2, 80, 64))


def test_gan_losses_are_finite_and_have_the_lsgan_values():
    ones, zeros = [torch.ones(2, 5)], [torch.zeros(2, 5)]
    assert discriminator_loss(ones, zeros).item() == 0.0  # a perfect discriminator
    assert discriminator_loss(zeros, ones).item() == 2.0
    assert generator_adversarial_loss(ones).item() == 0.0
    assert generator_adversarial_loss(zeros).item() == 1.0
    assert hinge_discriminator_loss(ones, [-o for o in ones]).item() == 0.0
    assert hinge_generator_loss(ones).item() == -1.0
    feats = [[torch.ones(2, 3), torch.zeros(2, 4)]]
    assert feature_matching_loss(feats, feats).item() == 0.0
    assert feature_matching_loss(feats, [[torch.zeros(2, 3), torch.zeros(2, 4)]]).item() == 1.0


def test_gradients_flow_through_discriminators_and_losses(tiny_hifigan_disc):
    fake = torch.randn(2, 3000, requires_grad=True)
    real = torch.randn(2, 3000)
    d_real, d_fake = tiny_hifigan_disc(real), tiny_hifigan_disc(fake)
    loss = generator_adversarial_loss(d_fake.logits) + feature_matching_loss(d_real.features, d_fake.features)
    loss.backward()
    assert torch.isfinite(loss) and fake.grad is not None and fake.grad.abs().sum() > 0
    tiny_hifigan_disc.zero_grad()
    d_loss = discriminator_loss(tiny_hifigan_disc(real).logits, tiny_hifigan_disc(fake.detach()).logits)
    d_loss.backward()
    grads = [p.grad for p in tiny_hifigan_disc.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    patch = PatchDiscriminator(base_channels=8, norm_num_groups=4)
    mel = torch.randn(1, 1, 48, 80, requires_grad=True)
    hinge_generator_loss(patch(mel).logits).backward()
    assert mel.grad.abs().sum() > 0


def test_multi_resolution_stft_loss():
    loss_fn = MultiResolutionSTFTLoss()
    torch.manual_seed(0)
    y = torch.randn(2, 8000)
    sc, mag = loss_fn(y, y)
    assert sc.item() == pytest.approx(0.0, abs=1e-5) and mag.item() == pytest.approx(0.0, abs=1e-5)
    y_hat = (0.5 * y).requires_grad_()
    sc, mag = loss_fn(y_hat, y)
    assert sc.item() == pytest.approx(0.5, rel=1e-3)  # ||S - S/2|| / ||S||
    assert mag.item() == pytest.approx(float(torch.log(torch.tensor(2.0))), rel=1e-2)  # |log S - log S/2|
    (sc + mag).backward()
    assert torch.isfinite(y_hat.grad).all()
    with pytest.raises(ValueError, match="shapes differ"):
        loss_fn(y, y[:, :100])


def test_kl_loss_zero_for_standard_normal():
    zeros = torch.zeros(2, 8, 4, 20)
    assert kl_loss(zeros, zeros).item() == 0.0
    assert kl_loss(torch.ones(2, 8, 4, 20), zeros).item() == pytest.approx(0.5 * 8 * 4 * 20)


def test_discriminators_save_and_load_safetensors(tiny_hifigan_disc, tmp_path):
    tiny_hifigan_disc.save_pretrained(tmp_path / "d")
    assert (tmp_path / "d" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = HifiGanDiscriminator.from_pretrained(tmp_path / "d").eval()
    x = torch.randn(1, 2048)
    torch.testing.assert_close(loaded(x).logits[3], tiny_hifigan_disc.eval()(x).logits[3])
    PatchDiscriminator(base_channels=8).save_pretrained(tmp_path / "p")
    assert PatchDiscriminator.from_pretrained(tmp_path / "p").config.base_channels == 8
