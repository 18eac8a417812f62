"""The piano-roll melody encoder: the frame-aligned melody condition as a learned projection (JASCO's salience ->
linear), the alternative to the VAE-encoded melody sketch (`mmgen.melody.sketch`).

Each latent frame's 88-pitch piano-roll column is mapped by one linear layer onto `out_channels` x `latent_width`
values, i.e. extra input channels of the UNet laid over the latent's frequency rows, so the UNet sees the melody at
the same place in time as the noisy latent it denoises.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class PianoRollEncoder(ModelMixin, ConfigMixin):
    r"""
    Piano roll `(B, num_pitches, T)` -> melody latent `(B, out_channels, T, latent_width)`.

    Parameters:
        num_pitches (`int`, defaults to 88): rows of the piano roll (MIDI 21..108, `mmgen.melody.sketch.piano_roll`).
        out_channels (`int`, defaults to 8): channels added to the UNet input (the VAE's latent channels).
        latent_width (`int`, defaults to 20): frequency rows of the latent (80 mel bins / the VAE's factor 4).
    """

    @register_to_config
    def __init__(self, num_pitches: int = 88, out_channels: int = 8, latent_width: int = 20):
        super().__init__()
        self.proj = nn.Linear(num_pitches, out_channels * latent_width)

    def forward(self, piano_roll: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if piano_roll.ndim != 3 or piano_roll.shape[1] != cfg.num_pitches:
            raise ValueError(f"`piano_roll` must have shape (batch, {cfg.num_pitches}, frames), "
                             f"got {tuple(piano_roll.shape)}.")  # fmt: skip
        batch, _, frames = piano_roll.shape
        out = self.proj(piano_roll.transpose(1, 2).to(self.proj.weight.dtype))  # (B, T, C * W)
        return out.reshape(batch, frames, cfg.out_channels, cfg.latent_width).permute(0, 2, 1, 3)
