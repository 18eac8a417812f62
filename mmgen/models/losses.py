"""Losses of the latent decoder: reconstruction, KL, multi-resolution STFT and the GAN losses.

The GAN losses take the outputs of the discriminators in `mmgen.models.discriminators`: a list with one
logits tensor per sub-discriminator (a single patch discriminator is a list of one) and, for feature
matching, a list per sub-discriminator of its intermediate feature maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (n_fft, hop_length, win_length) for 22.05 kHz audio, the three resolutions of Parallel WaveGAN.
DEFAULT_STFT_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))


def kl_loss(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)), summed over latent elements and averaged over the batch.

    Equals diffusers' `DiagonalGaussianDistribution.kl()` averaged over the batch; written out so that it
    also works on the outputs of a wrapped (distributed) model.
    """
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)
    return kl.flatten(1).sum(dim=1).mean()


# Adapted from ParallelWaveGAN/parallel_wavegan/losses/stft_loss.py (spectral convergence + log magnitude)
def _stft_magnitude(x: torch.Tensor, n_fft: int, hop_length: int, win_length: int) -> torch.Tensor:
    window = torch.hann_window(win_length, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft, hop_length, win_length, window=window, return_complex=True)
    return torch.sqrt(torch.clamp(spec.real**2 + spec.imag**2, min=1e-7))


class MultiResolutionSTFTLoss(nn.Module):
    r"""Spectral convergence plus log-STFT-magnitude L1, averaged over several STFT resolutions.

    Args:
        resolutions (`tuple` of `(n_fft, hop_length, win_length)`): the STFT settings.

    Forward:
        y_hat (`torch.Tensor` of shape `(batch, samples)`): generated audio. y (`torch.Tensor`, same shape): target.
    Returns:
        `tuple` of two scalars `(spectral_convergence, log_magnitude)`.
    """

    def __init__(self, resolutions=DEFAULT_STFT_RESOLUTIONS):
        super().__init__()
        if not resolutions:
            raise ValueError("MultiResolutionSTFTLoss needs at least one resolution")
        self.resolutions = tuple(tuple(r) for r in resolutions)

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if y_hat.shape != y.shape:
            raise ValueError(f"MultiResolutionSTFTLoss: shapes differ, {tuple(y_hat.shape)} vs {tuple(y.shape)}")
        y_hat, y = y_hat.float().reshape(-1, y.shape[-1]), y.float().reshape(-1, y.shape[-1])
        sc_total, mag_total = 0.0, 0.0
        for n_fft, hop, win in self.resolutions:
            mag_hat, mag = _stft_magnitude(y_hat, n_fft, hop, win), _stft_magnitude(y, n_fft, hop, win)
            sc_total = sc_total + torch.linalg.norm(mag - mag_hat) / torch.linalg.norm(mag).clamp(min=1e-7)
            mag_total = mag_total + F.l1_loss(torch.log(mag_hat), torch.log(mag))
        n = len(self.resolutions)
        return sc_total / n, mag_total / n


# Adapted from jik876/hifi-gan/models.py (discriminator_loss, generator_loss, feature_loss): LSGAN.
def discriminator_loss(real_outputs: list[torch.Tensor], fake_outputs: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN discriminator loss, summed over sub-discriminators: mean((1 - D(x))^2) + mean(D(G(z))^2)."""
    loss = 0.0
    for real, fake in zip(real_outputs, fake_outputs):
        loss = loss + torch.mean((1.0 - real.float()) ** 2) + torch.mean(fake.float() ** 2)
    return loss


def generator_adversarial_loss(fake_outputs: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN generator loss, summed over sub-discriminators: mean((1 - D(G(z)))^2)."""
    loss = 0.0
    for fake in fake_outputs:
        loss = loss + torch.mean((1.0 - fake.float()) ** 2)
    return loss


def feature_matching_loss(real_features: list[list[torch.Tensor]], fake_features: list[list[torch.Tensor]]):
    """L1 between the discriminators' feature maps on real and generated input, summed over layers.

    The real features are detached (the generator should move towards them, not the reverse).
    """
    loss = 0.0
    for real_maps, fake_maps in zip(real_features, fake_features):
        for real, fake in zip(real_maps, fake_maps):
            loss = loss + F.l1_loss(fake.float(), real.detach().float())
    return loss


# Adapted from taming-transformers/taming/modules/losses/vqperceptual.py (hinge_d_loss)
def hinge_discriminator_loss(real_outputs: list[torch.Tensor], fake_outputs: list[torch.Tensor]) -> torch.Tensor:
    """Hinge discriminator loss (the AudioLDM / latent-diffusion VAE recipe), averaged over sub-discriminators."""
    loss = 0.0
    for real, fake in zip(real_outputs, fake_outputs):
        loss = loss + 0.5 * (F.relu(1.0 - real.float()).mean() + F.relu(1.0 + fake.float()).mean())
    return loss / max(len(real_outputs), 1)


def hinge_generator_loss(fake_outputs: list[torch.Tensor]) -> torch.Tensor:
    """Generator side of the hinge GAN: -mean(D(G(z)))."""
    return sum(-fake.float().mean() for fake in fake_outputs) / max(len(fake_outputs), 1)
