"""Discriminators for the latent decoder's GAN training, as diffusers models (safetensors checkpoints).

- `HifiGanDiscriminator`: HiFi-GAN's multi-period (periods 2, 3, 5, 7, 11) and multi-scale (3 scales)
  discriminators on waveforms, for fine-tuning the vocoder. The HiFi-GAN package ships no discriminator
  weights, so they train from scratch.
- `PatchDiscriminator`: a small PatchGAN on the VAE's mel images `(batch, 1, frames, 80)` (the AudioLDM /
  latent-diffusion VAE recipe).

Both return a `DiscriminatorOutput` with one logits tensor per sub-discriminator and the feature maps used by
`mmgen.models.losses.feature_matching_loss`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

LRELU_SLOPE = 0.1  # HiFi-GAN's


@dataclass
class DiscriminatorOutput(BaseOutput):
    """
    Args:
        logits (`list[torch.Tensor]`): one tensor per sub-discriminator, each `(batch, ...)` of patch scores.
        features (`list[list[torch.Tensor]]`): per sub-discriminator, its intermediate activations.
    """

    logits: list[torch.Tensor]
    features: list[list[torch.Tensor]]


def _groups(groups: int, in_channels: int, out_channels: int) -> int:
    return math.gcd(math.gcd(groups, in_channels), out_channels)


# Adapted from jik876/hifi-gan/models.py (DiscriminatorP, DiscriminatorS); widths scale with `channels`.
class PeriodDiscriminator(nn.Module):
    """Folds the waveform into `(samples / period, period)` and applies 2-D convolutions along time."""

    def __init__(self, period: int, channels: int = 32, kernel_size: int = 5, stride: int = 3):
        super().__init__()
        self.period = period
        widths = [1, channels, 4 * channels, 16 * channels, 32 * channels, 32 * channels]
        pad = (kernel_size - 1) // 2
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(c_in, c_out, (kernel_size, 1), (s, 1), padding=(pad, 0)))
            for c_in, c_out, s in zip(widths[:-1], widths[1:], [stride] * 4 + [1])
        )
        self.conv_post = weight_norm(nn.Conv2d(widths[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        batch, channels, samples = x.shape
        if samples % self.period:
            x = F.pad(x, (0, self.period - samples % self.period), mode="reflect")
        x = x.view(batch, channels, -1, self.period)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            features.append(x)
        x = self.conv_post(x)
        features.append(x)
        return x.flatten(1), features


class ScaleDiscriminator(nn.Module):
    """Strided grouped 1-D convolutions on the (possibly average-pooled) waveform."""

    def __init__(self, channels: int = 128, use_spectral_norm: bool = False):
        super().__init__()
        norm = spectral_norm if use_spectral_norm else weight_norm
        c = channels
        # (in, out, kernel, stride, groups, padding) of HiFi-GAN's DiscriminatorS for channels = 128
        layers = [
            (1, c, 15, 1, 1, 7),
            (c, c, 41, 2, 4, 20),
            (c, 2 * c, 41, 2, 16, 20),
            (2 * c, 4 * c, 41, 4, 16, 20),
            (4 * c, 8 * c, 41, 4, 16, 20),
            (8 * c, 8 * c, 41, 1, 16, 20),
            (8 * c, 8 * c, 5, 1, 1, 2),
        ]
        self.convs = nn.ModuleList(
            norm(nn.Conv1d(i, o, k, s, groups=_groups(g, i, o), padding=p)) for i, o, k, s, g, p in layers
        )
        self.conv_post = norm(nn.Conv1d(8 * c, 1, 3, 1, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            features.append(x)
        x = self.conv_post(x)
        features.append(x)
        return x.flatten(1), features


class HifiGanDiscriminator(ModelMixin, ConfigMixin):
    r"""HiFi-GAN's multi-period + multi-scale discriminator.

    Args:
        periods (`tuple[int]`): periods of the multi-period discriminator (HiFi-GAN: 2, 3, 5, 7, 11).
        period_channels (`int`): width of the first period-discriminator layer (HiFi-GAN: 32).
        num_scales (`int`): scale discriminators (HiFi-GAN: 3, on x, x pooled by 2 and by 4; 0 disables).
        scale_channels (`int`): width of the first scale-discriminator layer (HiFi-GAN: 128).

    Forward:
        waveform (`torch.Tensor` of shape `(batch, samples)` or `(batch, 1, samples)`).
    Returns:
        `DiscriminatorOutput` with `len(periods) + num_scales` entries.
    """

    @register_to_config
    def __init__(
        self,
        periods: tuple[int, ...] = (2, 3, 5, 7, 11),
        period_channels: int = 32,
        num_scales: int = 3,
        scale_channels: int = 128,
    ):
        super().__init__()
        if not periods and num_scales <= 0:
            raise ValueError("HifiGanDiscriminator needs at least one period or one scale")
        self.period_discriminators = nn.ModuleList(PeriodDiscriminator(p, period_channels) for p in periods)
        # The first scale sees raw audio with spectral norm, as in HiFi-GAN.
        self.scale_discriminators = nn.ModuleList(
            ScaleDiscriminator(scale_channels, use_spectral_norm=i == 0) for i in range(num_scales)
        )
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, waveform: torch.Tensor, return_dict: bool = True):
        if waveform.ndim == 2:
            waveform = waveform.unsqueeze(1)
        if waveform.ndim != 3 or waveform.shape[1] != 1:
            raise ValueError(f"expected a waveform of shape (batch, samples), got {tuple(waveform.shape)}")
        logits, features = [], []
        for disc in self.period_discriminators:
            out, feats = disc(waveform)
            logits.append(out)
            features.append(feats)
        x = waveform
        for i, disc in enumerate(self.scale_discriminators):
            if i > 0:
                x = self.pool(x)
            out, feats = disc(x)
            logits.append(out)
            features.append(feats)
        if not return_dict:
            return logits, features
        return DiscriminatorOutput(logits=logits, features=features)


# Adapted from taming-transformers/taming/modules/discriminator/model.py (NLayerDiscriminator, pix2pix PatchGAN);
# GroupNorm instead of BatchNorm so that small per-device batches behave the same on CPU and across GPUs.
class PatchDiscriminator(ModelMixin, ConfigMixin):
    r"""PatchGAN on mel images: each output logit judges a patch of frames x mel bins.

    Args:
        in_channels (`int`): 1 for the VAE's `(batch, 1, frames, 80)` layout.
        base_channels (`int`): width of the first layer; doubles per layer up to 8x.
        num_layers (`int`): stride-2 layers (3 gives a receptive field of 70 x 70).
        norm_num_groups (`int`): groups of the GroupNorm layers.

    Forward:
        sample (`torch.Tensor` of shape `(batch, in_channels, frames, 80)`).
    Returns:
        `DiscriminatorOutput` with one logits tensor `(batch, 1, h, w)`.
    """

    @register_to_config
    def __init__(self, in_channels: int = 1, base_channels: int = 32, num_layers: int = 3, norm_num_groups: int = 8):
        super().__init__()
        layers = [nn.Sequential(nn.Conv2d(in_channels, base_channels, 4, 2, 1), nn.LeakyReLU(0.2))]
        width = base_channels
        for i in range(1, num_layers + 1):
            out = base_channels * min(2**i, 8)
            stride = 2 if i < num_layers else 1
            layers.append(
                nn.Sequential(
                    nn.Conv2d(width, out, 4, stride, 1, bias=False),
                    nn.GroupNorm(math.gcd(norm_num_groups, out), out),
                    nn.LeakyReLU(0.2),
                )
            )
            width = out
        self.layers = nn.ModuleList(layers)
        self.conv_out = nn.Conv2d(width, 1, 4, 1, 1)

    def forward(self, sample: torch.Tensor, return_dict: bool = True):
        if sample.ndim != 4 or sample.shape[1] != self.config.in_channels:
            raise ValueError(
                f"expected a mel image of shape (batch, {self.config.in_channels}, frames, bins), "
                f"got {tuple(sample.shape)}"
            )
        features, x = [], sample
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        logits = self.conv_out(x)
        if not return_dict:
            return [logits], [features]
        return DiscriminatorOutput(logits=[logits], features=[features])


def frozen_forward(discriminator: nn.Module, *inputs: torch.Tensor) -> DiscriminatorOutput:
    """Run a discriminator for the generator's step: gradients reach `inputs` but never its parameters.

    Its parameters are passed detached through `torch.func.functional_call`, so the discriminator's own
    accumulated gradients stay clean (gradient accumulation) and a DDP wrapper is not involved (pass the
    unwrapped module).
    """
    params = {name: p.detach() for name, p in discriminator.named_parameters()}
    return torch.func.functional_call(discriminator, params, inputs)
