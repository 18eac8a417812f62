"""A Vocos-style vocoder: MMGen log-mel -> 22,050 Hz waveform through ConvNeXt blocks and an inverse STFT.

Vocos (Siuzdenko, 2023) never upsamples to the sample rate: a stack of ConvNeXt blocks runs at the mel frame rate
and predicts, for every frame, the log-magnitude and the phase of an STFT frame; the inverse STFT turns them into
audio. Here that STFT is the front end's own (`mmgen.audio`: n_fft 1024, hop 256, Hann, reflect padding of 384
samples, no centering), inverted by `mmgen.griffin_lim.istft`, so `T` mel frames give `T * 256` samples, aligned
with the analysis that produced the mel (re-analysing the output gives frames on the same grid).

Two fixed priors make it learn in the few thousand CPU steps it gets here (the network predicts corrections to
them, not the whole spectrogram; both can be switched off in the config):

- `magnitude_prior`: the head's log-magnitude is added to the log of the mel's non-negative least-squares
  inverse (`mmgen.griffin_lim.mel_to_linear_magnitude`, `prior_iters` updates), so the filterbank need not be
  learned and the first steps already have the mel's magnitude below 8 kHz;
- `phase_prior`: the head's phase is added to the phase advance of a steady partial at each bin's centre frequency
  (`pi * k * t / 2` for bin `k`, frame `t`, since hop / n_fft = 1/4), instead of starting from zero phase (a click
  train at the frame rate).

    from mmgen.models.vocos import VocosVocoder
    vocoder = VocosVocoder.from_pretrained("checkpoints/mmgen-default/vocoder")
    waveform = vocoder.decode(log_mel)  # (batch, 80, frames) -> (batch, frames * 256)

Trained with `train/vocoder.py --architecture vocos`; judged by `benchmarks/vocoder.py`.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from ..audio import HOP_LENGTH, LOG_CLAMP, N_FFT, N_MELS
from ..griffin_lim import istft, mel_to_linear_magnitude

MAX_LOG_MAGNITUDE = 10.0  # exp(10) ~ 22,000, above any full-scale frame of the front end's unnormalised STFT


def steady_phase(num_bins: int, frames: int, device=None) -> torch.Tensor:
    """`(num_bins, frames)` phase of a steady partial at each bin's centre frequency, `2 pi k t hop / n_fft` with
    hop / n_fft = 1/4: `k t` quarter turns, reduced modulo 4 in integers so that long inputs lose no precision."""
    k = torch.arange(num_bins, device=device)[:, None]
    t = torch.arange(frames, device=device)[None, :]
    return ((k * t) % 4).float() * (torch.pi / 2)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block over frames (Liu et al., 2022, as in Vocos): depthwise conv, LayerNorm, pointwise MLP with
    GELU, layer scale, residual."""

    def __init__(self, dim: int, intermediate_dim: int, kernel_size: int, layer_scale_init: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale_init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        x = self.dwconv(x).transpose(1, 2)  # (batch, frames, dim)
        x = self.pwconv2(self.act(self.pwconv1(self.norm(x))))
        return residual + (self.gamma * x).transpose(1, 2)


class VocosVocoder(ModelMixin, ConfigMixin):
    r"""Log-mel `(batch, 80, frames)` -> waveform `(batch, frames * 256)` with an inverse-STFT head.

    Args:
        num_mels (`int`): mel bins of the input (the front end's 80).
        hidden_dim (`int`): channels of the ConvNeXt blocks.
        intermediate_dim (`int`): width of their pointwise MLP.
        num_layers (`int`): ConvNeXt blocks.
        kernel_size (`int`): depthwise kernel (frames), odd.
        n_fft (`int`), hop_length (`int`): the STFT the head predicts; only the front end's (1024, 256) is supported,
            since `mmgen.griffin_lim.istft` inverts exactly that one.
        magnitude_prior (`bool`), prior_iters (`int`): predict the log-magnitude relative to the mel's
            least-squares inverse (with this many multiplicative updates).
        phase_prior (`bool`): predict the phase relative to the steady-partial phase advance.
    """

    @register_to_config
    def __init__(
        self,
        num_mels: int = N_MELS,
        hidden_dim: int = 256,
        intermediate_dim: int = 768,
        num_layers: int = 8,
        kernel_size: int = 7,
        n_fft: int = N_FFT,
        hop_length: int = HOP_LENGTH,
        magnitude_prior: bool = True,
        prior_iters: int = 8,
        phase_prior: bool = True,
    ):
        super().__init__()
        if (n_fft, hop_length) != (N_FFT, HOP_LENGTH):
            raise ValueError(f"VocosVocoder supports the front end's STFT only (n_fft {N_FFT}, hop {HOP_LENGTH}), "
                             f"got n_fft {n_fft}, hop {hop_length}")  # fmt: skip
        if kernel_size % 2 != 1 or kernel_size < 1:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        self.embed = nn.Conv1d(num_mels, hidden_dim, kernel_size, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(hidden_dim, intermediate_dim, kernel_size, layer_scale_init=1.0 / num_layers)
            for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.head = nn.Linear(hidden_dim, n_fft + 2)  # log-magnitude and phase of n_fft / 2 + 1 bins
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Conv1d, nn.Linear)):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def check_mel(self, log_mel) -> torch.Tensor:
        """`log_mel` as a `(batch, num_mels, frames)` tensor, or a `VocoderError` naming what is wrong."""
        from .vocoder import MIN_FRAMES, VocoderError

        if not isinstance(log_mel, torch.Tensor):
            raise VocoderError(f"log_mel must be a torch tensor, got {type(log_mel).__name__}")
        shape, mels = tuple(log_mel.shape), self.config.num_mels
        if len(shape) not in (2, 3) or shape[-2] != mels:
            raise VocoderError(f"log_mel must have shape ({mels}, frames) or (batch, {mels}, frames), got {shape}")
        if shape[-1] < MIN_FRAMES:
            raise VocoderError(f"log_mel has {shape[-1]} frames, shape {shape}; at least {MIN_FRAMES} are needed")
        if not torch.isfinite(log_mel).all():
            raise VocoderError(f"log_mel of shape {shape} contains NaN or infinite values")
        return log_mel if log_mel.dim() == 3 else log_mel.unsqueeze(0)

    def spectrogram(self, log_mel: torch.Tensor) -> torch.Tensor:
        """The predicted complex STFT `(batch, n_fft / 2 + 1, frames)` of a checked `(batch, 80, frames)` log-mel."""
        x = self.embed(log_mel.to(self.dtype))
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        log_magnitude, phase = self.head(self.final_norm(x.transpose(1, 2))).float().transpose(1, 2).chunk(2, dim=1)
        if self.config.magnitude_prior:
            with torch.no_grad():
                prior = mel_to_linear_magnitude(log_mel.float(), n_iter=self.config.prior_iters)
            log_magnitude = log_magnitude + torch.log(prior.clamp(min=LOG_CLAMP))
        if self.config.phase_prior:
            phase = phase + steady_phase(phase.shape[1], phase.shape[2], phase.device)
        magnitude = torch.exp(log_magnitude.clamp(max=MAX_LOG_MAGNITUDE))
        # cos/sin of an unbounded phase, as in Vocos: no wrapping discontinuity for the gradient
        return torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """`(batch, 80, frames)` (or `(80, frames)`) natural-log mels -> float32 `(batch, frames * 256)` waveform."""
        return istft(self.spectrogram(self.check_mel(log_mel)))

    @torch.no_grad()
    def decode(self, log_mel: torch.Tensor) -> torch.Tensor:
        """`forward` without gradients."""
        return self(log_mel)
