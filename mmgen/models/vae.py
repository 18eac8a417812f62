"""The mel VAE of MMGen's latent decoder (paper 4.3): a diffusers `AutoencoderKL` on 80-bin log-mels.

Layout follows AudioLDM: the log-mel enters as a one-channel image `(batch, 1, frames, 80)` (time is the
height, mel bins the width) and is compressed by r = 4 along both axes into a latent of
`(batch, 8, frames / 4, 20)`. Three encoder blocks give two stride-2 downsamplings each way (diffusers'
`AutoencoderKL` downsamples by `2 ** (len(block_out_channels) - 1)`).

Normalisation: the natural-log mel (silence = ln(1e-5) = -11.51, loud music about +2.5) is mapped linearly
so that `[mel_min, mel_max]` becomes `[-1, 1]`. The two constants are stored in the VAE's `config.json` as
`_mel_min` and `_mel_max` (diffusers keeps underscore keys through `save_pretrained` / `from_pretrained`
without warnings); `scaling_factor` is the usual diffusers one, 1 / std of the latents on training data,
computed by `compute_scaling_factor` at the end of training.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL

from ..audio import LOG_MEL_SILENCE, N_MELS

COMPRESSION = 4  # r: downsampling factor in time and in frequency
LATENT_CHANNELS = 8
DEFAULT_MEL_MIN = LOG_MEL_SILENCE  # ln(1e-5), a silent bin
DEFAULT_MEL_MAX = 2.5  # about the loudest bins of peak-normalised music

VAE_PRESETS: dict[str, dict] = {
    # 2.7M parameters; trains at about 3 clips of 5 s per second on a 2-core CPU (ENVIRONMENT.md).
    "default": {"block_out_channels": (32, 64, 128), "layers_per_block": 1, "norm_num_groups": 32},
    # AudioLDM-S-like width, for a GPU run.
    "large": {"block_out_channels": (128, 256, 512), "layers_per_block": 2, "norm_num_groups": 32},
    # For tests: a few thousand parameters.
    "tiny": {"block_out_channels": (8, 8, 16), "layers_per_block": 1, "norm_num_groups": 4},
}


class VaeInputError(ValueError):
    """Raised for a mel spectrogram or latent of the wrong shape for the mel VAE."""


def vae_config(preset: str = "default", mid_block_add_attention: bool = False, **overrides) -> dict:
    """The `AutoencoderKL` keyword arguments of a preset.

    Args:
        preset (`str`): one of `VAE_PRESETS` ("default", "large", "tiny").
        mid_block_add_attention (`bool`): self-attention in the mid blocks (up to 2.2x the cost on CPU; off by
            default since the model is fully convolutional and trains on short crops).
        overrides: any other `AutoencoderKL` argument (e.g. `block_out_channels`).
    """
    if preset not in VAE_PRESETS:
        raise ValueError(f"unknown VAE preset '{preset}'; choose one of {sorted(VAE_PRESETS)}")
    blocks = len(overrides.get("block_out_channels", VAE_PRESETS[preset]["block_out_channels"]))
    config = {
        "in_channels": 1,
        "out_channels": 1,
        "latent_channels": LATENT_CHANNELS,
        "down_block_types": ("DownEncoderBlock2D",) * blocks,
        "up_block_types": ("UpDecoderBlock2D",) * blocks,
        "sample_size": 256,
        "scaling_factor": 1.0,
        "mid_block_add_attention": mid_block_add_attention,
        "force_upcast": False,
        **VAE_PRESETS[preset],
    }
    config.update(overrides)
    return config


def build_vae(
    preset: str = "default",
    mid_block_add_attention: bool = False,
    mel_min: float = DEFAULT_MEL_MIN,
    mel_max: float = DEFAULT_MEL_MAX,
    **overrides,
) -> AutoencoderKL:
    """A freshly initialised mel VAE of a preset, with its mel normalisation stored in the config."""
    if not mel_max > mel_min:
        raise ValueError(f"mel_max ({mel_max}) must be larger than mel_min ({mel_min})")
    vae = AutoencoderKL(**vae_config(preset, mid_block_add_attention, **overrides))
    vae.register_to_config(_mel_min=float(mel_min), _mel_max=float(mel_max))
    return vae


def mel_range(vae: AutoencoderKL | None = None) -> tuple[float, float]:
    """`(mel_min, mel_max)` stored in `vae.config` (the defaults when absent or `vae` is None)."""
    if vae is None:
        return DEFAULT_MEL_MIN, DEFAULT_MEL_MAX
    return float(vae.config.get("_mel_min", DEFAULT_MEL_MIN)), float(vae.config.get("_mel_max", DEFAULT_MEL_MAX))


def pad_frames(log_mel: torch.Tensor, multiple: int = COMPRESSION, pad_value: float = LOG_MEL_SILENCE) -> torch.Tensor:
    """Pad the last (time) axis of a log-mel up to a multiple of `multiple` frames with silence.

    Args:
        log_mel (`torch.Tensor` of shape `(..., 80, frames)`).
    Returns:
        `torch.Tensor` of shape `(..., 80, ceil(frames / multiple) * multiple)`.
    """
    extra = (-log_mel.shape[-1]) % multiple
    if extra == 0:
        return log_mel
    return torch.nn.functional.pad(log_mel, (0, extra), value=pad_value)


def mel_to_vae_input(
    log_mel: torch.Tensor, mel_min: float = DEFAULT_MEL_MIN, mel_max: float = DEFAULT_MEL_MAX, pad: bool = True
) -> torch.Tensor:
    """Natural-log mel -> the VAE's normalised image layout.

    Args:
        log_mel (`torch.Tensor` of shape `(batch, 80, frames)` or `(80, frames)`): `mmgen.audio.log_mel_spectrogram`.
        mel_min, mel_max (`float`): the values mapped to -1 and 1 (see `mel_range`).
        pad (`bool`): pad frames with silence to a multiple of 4 (required by the VAE).
    Returns:
        `torch.Tensor` of shape `(batch, 1, frames_padded, 80)`, about in [-1, 1].
    """
    if log_mel.ndim == 2:
        log_mel = log_mel.unsqueeze(0)
    if log_mel.ndim != 3 or log_mel.shape[1] != N_MELS:
        raise VaeInputError(f"expected a log-mel of shape (batch, {N_MELS}, frames), got {tuple(log_mel.shape)}")
    if pad:
        log_mel = pad_frames(log_mel)
    elif log_mel.shape[-1] % COMPRESSION:
        raise VaeInputError(f"{log_mel.shape[-1]} frames is not a multiple of {COMPRESSION}; use pad=True")
    x = 2.0 * (log_mel - mel_min) / (mel_max - mel_min) - 1.0
    return x.transpose(1, 2).unsqueeze(1)


def vae_output_to_mel(
    x: torch.Tensor, mel_min: float = DEFAULT_MEL_MIN, mel_max: float = DEFAULT_MEL_MAX, num_frames: int | None = None
) -> torch.Tensor:
    """Inverse of `mel_to_vae_input`.

    Args:
        x (`torch.Tensor` of shape `(batch, 1, frames, 80)`): a VAE input or reconstruction.
        num_frames (`int`, *optional*): trim the time axis to this length (undo the padding).
    Returns:
        `torch.Tensor` of shape `(batch, 80, frames)`, natural-log mel.
    """
    if x.ndim != 4 or x.shape[1] != 1 or x.shape[-1] != N_MELS:
        raise VaeInputError(f"expected a VAE image of shape (batch, 1, frames, {N_MELS}), got {tuple(x.shape)}")
    log_mel = (x.squeeze(1).transpose(1, 2) + 1.0) * (mel_max - mel_min) / 2.0 + mel_min
    return log_mel if num_frames is None else log_mel[..., :num_frames]


def encode_mels(
    vae: AutoencoderKL,
    log_mel: torch.Tensor,
    sample_posterior: bool = False,
    generator: torch.Generator | None = None,
    scale: bool = True,
) -> torch.Tensor:
    """Log-mel -> diffusion latents.

    Args:
        log_mel (`torch.Tensor` of shape `(batch, 80, frames)` or `(80, frames)`).
        sample_posterior (`bool`): sample the posterior instead of taking its mean.
        scale (`bool`): multiply by `vae.config.scaling_factor` (as the diffusion model sees them).
    Returns:
        `torch.Tensor` of shape `(batch, 8, ceil(frames / 4), 20)`.
    """
    x = mel_to_vae_input(log_mel, *mel_range(vae)).to(device=vae.device, dtype=vae.dtype)
    posterior = vae.encode(x).latent_dist
    latents = posterior.sample(generator=generator) if sample_posterior else posterior.mode()
    return latents * vae.config.scaling_factor if scale else latents


def decode_latents(
    vae: AutoencoderKL, latents: torch.Tensor, num_frames: int | None = None, scaled: bool = True
) -> torch.Tensor:
    """Diffusion latents -> log-mel.

    Args:
        latents (`torch.Tensor` of shape `(batch, 8, frames / 4, 20)`).
        num_frames (`int`, *optional*): trim the output to this many frames.
        scaled (`bool`): the latents carry `vae.config.scaling_factor` (divide it out first).
    Returns:
        `torch.Tensor` of shape `(batch, 80, frames)`, natural-log mel.
    """
    if latents.ndim != 4 or latents.shape[1] != vae.config.latent_channels:
        channels = vae.config.latent_channels
        raise VaeInputError(f"expected latents of shape (batch, {channels}, frames/4, 20), got {tuple(latents.shape)}")
    if scaled:
        latents = latents / vae.config.scaling_factor
    x = vae.decode(latents.to(device=vae.device, dtype=vae.dtype)).sample
    return vae_output_to_mel(x.float(), *mel_range(vae), num_frames=num_frames)


@torch.no_grad()
def compute_scaling_factor(vae: AutoencoderKL, mel_batches) -> float:
    """1 / std of unscaled posterior samples over `mel_batches` (an iterable of `(batch, 80, frames)` tensors).

    This is how Stable Diffusion's 0.18215 was obtained; the diffusion model then sees latents of unit variance.
    """
    total, total_sq, count = 0.0, 0.0, 0
    for log_mel in mel_batches:
        z = encode_mels(vae, log_mel, sample_posterior=True, scale=False).double()
        total += z.sum().item()
        total_sq += (z**2).sum().item()
        count += z.numel()
    if count == 0:
        raise ValueError("compute_scaling_factor needs at least one batch of mels")
    std = max((total_sq / count - (total / count) ** 2), 1e-12) ** 0.5
    return float(1.0 / std)
