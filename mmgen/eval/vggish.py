"""VGGish (Hershey et al., 2017) as an `AudioEmbedder`, for the standard FAD when a user has its weights.

No VGGish weights ship offline; `VGGishEmbedder.from_file(path)` loads a safetensors file whose tensor names
follow the common PyTorch port (harritaylor/torchvggish: `features.{0,3,6,8,11,13}.{weight,bias}`,
`embeddings.{0,2,4}.{weight,bias}`). Its `.pth` converts once with safetensors (see `load_safetensors_state_dict`).
Input: 0.96 s examples of 96 x 64 log-mel frames (16 kHz, 25 ms window, 10 ms hop, 125-7500 Hz, log(mel+0.01)).
Output: one 128-d embedding per example (before the optional PCA/quantisation, which FAD does not need).
"""

# Adapted from tensorflow/models research/audioset/vggish (vggish_input.py, mel_features.py, vggish_slim.py):
# the architecture and front-end constants, re-implemented.

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from ..audio import resample
from .embedder_base import AudioEmbedder, ClipFeatures, EmbedderError, load_safetensors_state_dict

VGGISH_SAMPLE_RATE = 16000
VGGISH_WINDOW = 400  # 25 ms
VGGISH_HOP = 160  # 10 ms
VGGISH_N_FFT = 512
VGGISH_N_MELS = 64
VGGISH_FMIN, VGGISH_FMAX = 125.0, 7500.0
VGGISH_EXAMPLE_FRAMES = 96  # 0.96 s
VGGISH_LOG_OFFSET = 0.01


def _hertz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def vggish_mel_matrix() -> np.ndarray:
    """VGGish's mel weights `(257, 64)`: triangles in the mel domain, HTK mel scale, no area normalisation."""
    bins_mel = _hertz_to_mel(np.linspace(0.0, VGGISH_SAMPLE_RATE / 2, VGGISH_N_FFT // 2 + 1))
    edges = np.linspace(_hertz_to_mel(VGGISH_FMIN), _hertz_to_mel(VGGISH_FMAX), VGGISH_N_MELS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0  # the DC bin
    return weights


def vggish_examples(waveform: np.ndarray, sr: int) -> np.ndarray:
    """Log-mel examples `(examples, 96, 64)` float32; a clip shorter than 0.96 s is zero-padded to one."""
    audio = resample(np.asarray(waveform, dtype=np.float32), sr, VGGISH_SAMPLE_RATE).astype(np.float64)
    min_samples = VGGISH_WINDOW + (VGGISH_EXAMPLE_FRAMES - 1) * VGGISH_HOP
    if audio.size < min_samples:
        audio = np.pad(audio, (0, min_samples - audio.size))
    frames = 1 + (audio.size - VGGISH_WINDOW) // VGGISH_HOP
    index = np.arange(VGGISH_WINDOW)[None, :] + VGGISH_HOP * np.arange(frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(VGGISH_WINDOW) / VGGISH_WINDOW)  # periodic Hann
    spectrum = np.abs(np.fft.rfft(audio[index] * window, n=VGGISH_N_FFT))
    log_mel = np.log(spectrum @ vggish_mel_matrix() + VGGISH_LOG_OFFSET)
    count = frames // VGGISH_EXAMPLE_FRAMES
    log_mel = log_mel[: count * VGGISH_EXAMPLE_FRAMES].astype(np.float32)
    return log_mel.reshape(count, VGGISH_EXAMPLE_FRAMES, VGGISH_N_MELS)


class VGGish(nn.Module):
    """The VGGish network (VGG-A-like, 4 conv stages, 3 dense layers), 128-d output.

    Args:
        channels (`tuple[int, ...]`, *optional*): conv widths; the real model uses (64, 128, 256, 256, 512, 512).
        hidden (`int`, *optional*, defaults to 4096): width of the two hidden dense layers.
        embedding_dim (`int`, *optional*, defaults to 128): output size.
    """

    def __init__(self, channels: tuple[int, ...] = (64, 128, 256, 256, 512, 512), hidden: int = 4096,
                 embedding_dim: int = 128):  # fmt: skip
        super().__init__()
        c = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c[0], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(c[0], c[1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(c[1], c[2], 3, padding=1), nn.ReLU(), nn.Conv2d(c[2], c[3], 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(c[3], c[4], 3, padding=1), nn.ReLU(), nn.Conv2d(c[4], c[5], 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2, 2),
        )  # fmt: skip
        self.embeddings = nn.Sequential(
            nn.Linear(c[5] * 6 * 4, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, embedding_dim), nn.ReLU(),
        )  # fmt: skip

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        """`examples` `(batch, 96, 64)` log-mel -> embeddings `(batch, embedding_dim)`."""
        x = self.features(examples.unsqueeze(1))  # (B, C, 6, 4)
        x = x.permute(0, 2, 3, 1).flatten(1)  # TF's NHWC flattening order, as the ported weights expect
        return self.embeddings(x)


class VGGishEmbedder(AudioEmbedder):
    """VGGish embeddings (no classifier head, so only FAD): `name = "vggish"`, 128-d, one row per 0.96 s."""

    name = "vggish"
    sample_rate = VGGISH_SAMPLE_RATE

    def __init__(self, model: VGGish, batch_size: int = 64):
        self.model = model.eval()
        self.batch_size = batch_size
        self.embedding_dim = model.embeddings[-2].out_features

    @classmethod
    def from_file(cls, path: str | os.PathLike, **kwargs) -> VGGishEmbedder:
        """Load VGGish weights from a safetensors file (architecture inferred from the tensor shapes)."""
        state = load_safetensors_state_dict(path)
        try:
            channels = tuple(state[f"features.{i}.weight"].shape[0] for i in (0, 3, 6, 8, 11, 13))
            model = VGGish(channels, state["embeddings.0.weight"].shape[0], state["embeddings.4.weight"].shape[0])
            model.load_state_dict(state)
        except (KeyError, RuntimeError) as err:
            raise EmbedderError(f"{path}: not VGGish weights (torchvggish tensor names expected): {err}") from err
        return cls(model, **kwargs)

    @torch.no_grad()
    def features(self, waveform: np.ndarray, sr: int) -> ClipFeatures:
        examples = torch.from_numpy(vggish_examples(waveform, sr))
        rows = [self.model(examples[i : i + self.batch_size]) for i in range(0, len(examples), self.batch_size)]
        return ClipFeatures(embeddings=torch.cat(rows).double().numpy())
