"""The MMGen denoiser: diffusers' `UNet2DConditionModel` set up like AudioLDM's.

The condition `c` (from [`~mmgen.models.condition.ConditionProjector`]) is projected and concatenated to the
timestep embedding (`class_embed_type="simple_projection"`, `class_embeddings_concat=True`); there is no
cross-attention (`DownBlock2D`/`UpBlock2D`, with self-attention only at the lowest resolution where it is cheap).

With a frame-aligned melody (`sketch_channels`), the melody sketch latent (`mmgen.melody.sketch`, encoded by the
same VAE) is concatenated to the noisy latent on the channel axis, as diffusers' inpainting and InstructPix2Pix
UNets take their extra image: `in_channels = 2 * 8`, `out_channels = 8`.

Latent layout: `(batch, 8, frames / 4, 20)` — the VAE's latents of `(batch, 1, frames, 80)` log-mels, time on the
height axis and mel frequency on the width axis. Every preset has three resolution levels (two down-samplings), so
the frequency axis goes 20 -> 10 -> 5 without padding; the time axis must be a multiple of
[`unet_downsample_factor`] (4), which the pipeline ensures by padding the latent length and cropping the output.
A fourth level would need the frequency axis padded to 24; no preset uses one. The network is fully convolutional
in time (attention is over all positions), so a model trained on short crops generates any length.

Measured on the 2-core CPU of the development machine (ENVIRONMENT.md): the `"cpu"` preset (about 10M parameters)
trains at about 17 clips of 5 s per second (bf16 autocast about 27) and costs about 0.08 s per CFG step for 10 s.
"""

from __future__ import annotations

from diffusers import UNet2DConditionModel

# name -> (block_out_channels, layers_per_block, attention_head_dim)
UNET_PRESETS: dict[str, dict] = {
    # About 10M parameters: trains on a laptop CPU.
    "cpu": {"block_out_channels": (64, 128, 256), "layers_per_block": 1, "attention_head_dim": 32},
    # About 34M parameters.
    "gpu-small": {"block_out_channels": (96, 192, 384), "layers_per_block": 2, "attention_head_dim": 32},
    # About 60M parameters.
    "gpu-base": {"block_out_channels": (128, 256, 512), "layers_per_block": 2, "attention_head_dim": 64},
    # About 230M parameters, close to AudioLDM-S's width (its 4th level dropped, see the module docstring).
    "gpu-large": {"block_out_channels": (256, 512, 1024), "layers_per_block": 2, "attention_head_dim": 64},
}


def unet_config(
    preset: str = "cpu",
    condition_dim: int = 512,
    latent_channels: int = 8,
    attention: bool = True,
    sketch_channels: int = 0,
    **overrides,
) -> dict:
    r"""
    The `UNet2DConditionModel` config of a preset.

    Args:
        preset (`str`, defaults to `"cpu"`):
            One of [`UNET_PRESETS`]: `"cpu"`, `"gpu-small"`, `"gpu-base"`, `"gpu-large"`.
        condition_dim (`int`, defaults to 512):
            Dimension of the condition `c` (the projector's `condition_dim`).
        latent_channels (`int`, defaults to 8):
            Channels of the VAE latent.
        sketch_channels (`int`, defaults to 0):
            Channels of the frame-aligned melody condition concatenated to the noisy latent (the melody sketch
            latent: `latent_channels`); 0 for the paper's design, where the melody reaches the UNet only through `c`.
        attention (`bool`, defaults to `True`):
            Self-attention at the lowest resolution (down, mid and up blocks); `False` makes it purely convolutional.
        **overrides:
            Any `UNet2DConditionModel` argument, e.g. `block_out_channels=(8, 16)` for tests.

    Returns:
        `dict` of `UNet2DConditionModel` keyword arguments.
    """
    if preset not in UNET_PRESETS:
        raise ValueError(f"Unknown UNet preset '{preset}'; choose one of {sorted(UNET_PRESETS)}.")
    config = dict(UNET_PRESETS[preset])
    config.update({k: overrides.pop(k) for k in list(overrides) if k in config})
    levels = len(config["block_out_channels"])
    down = ["DownBlock2D"] * levels
    up = ["UpBlock2D"] * levels
    if attention:
        down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
    config.update(
        sample_size=None,
        in_channels=latent_channels + sketch_channels,
        out_channels=latent_channels,
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        mid_block_type="UNetMidBlock2D" if attention else None,
        # AudioLDM-style conditioning: no cross-attention, the condition joins the timestep embedding.
        class_embed_type="simple_projection",
        projection_class_embeddings_input_dim=condition_dim,
        class_embeddings_concat=True,
        cross_attention_dim=condition_dim,  # required by the constructor, unused: no cross-attention block
        norm_num_groups=min(32, *config["block_out_channels"]),
    )
    config.update(overrides)
    return config


def make_unet(
    preset: str = "cpu", condition_dim: int = 512, latent_channels: int = 8, sketch_channels: int = 0, **overrides
):
    """A freshly initialised `UNet2DConditionModel` from [`unet_config`] (same arguments)."""
    return UNet2DConditionModel(
        **unet_config(preset, condition_dim, latent_channels, sketch_channels=sketch_channels, **overrides)
    )


def unet_sketch_channels(unet) -> int:
    """Input channels beyond the noisy latent: the melody sketch's (0 for a UNet without the frame-aligned path)."""
    return unet.config.in_channels - unet.config.out_channels


def unet_downsample_factor(unet) -> int:
    """How much the UNet shrinks each latent axis (`2 ** (levels - 1)`); latent sizes must be multiples of it."""
    return 2 ** (len(unet.config.block_out_channels) - 1)
