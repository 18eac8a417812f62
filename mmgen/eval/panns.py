"""PANNs Cnn14 (Kong et al., 2020) as an `AudioEmbedder`: 2048-d embeddings and 527 AudioSet class
probabilities, i.e. the model behind AudioLDM-style KL and IS, when a user has its weights.

No PANNs weights ship offline; `PannsEmbedder.from_file(path)` loads a safetensors file with the tensor names of
the released `Cnn14_mAP=0.431.pth` state dict (`bn0`, `conv_block{1..6}.{conv1,conv2,bn1,bn2}`, `fc1`,
`fc_audioset`); its fixed STFT/mel buffers (`spectrogram_extractor.*`, `logmel_extractor.*`) are ignored and the
front end is recomputed here: 32 kHz, 1024-sample Hann window, hop 320, 64 Slaney mels 50-14000 Hz,
`10 log10(max(power, 1e-10))`.
"""

# Adapted from qiuqiangkong/audioset_tagging_cnn pytorch/models.py (Cnn14) and torchlibrosa's front end:
# the architecture and constants, re-implemented.

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..audio import resample
from .embedder_base import AudioEmbedder, ClipFeatures, EmbedderError, load_safetensors_state_dict

PANNS_SAMPLE_RATE = 32000
PANNS_N_FFT = 1024
PANNS_HOP = 320
PANNS_N_MELS = 64
PANNS_FMIN, PANNS_FMAX = 50.0, 14000.0
_IGNORED_PREFIXES = ("spectrogram_extractor.", "logmel_extractor.")


class _ConvBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        x = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return F.avg_pool2d(x, pool) if pool > 1 else x


class Cnn14(nn.Module):
    """Cnn14: batch-normed log-mel, six conv blocks, global pooling, a 2048-d embedding and 527 logits.

    Args:
        channels (`tuple[int, ...]`, *optional*): block widths; the real model uses (64, 128, 256, 512, 1024, 2048).
        num_classes (`int`, *optional*, defaults to 527): AudioSet classes.
        n_mels (`int`, *optional*, defaults to 64).
    """

    def __init__(self, channels: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048), num_classes: int = 527,
                 n_mels: int = PANNS_N_MELS):  # fmt: skip
        super().__init__()
        self.bn0 = nn.BatchNorm2d(n_mels)
        widths = (1, *channels)
        for i in range(6):
            self.add_module(f"conv_block{i + 1}", _ConvBlock(widths[i], widths[i + 1]))
        self.fc1 = nn.Linear(channels[-1], channels[-1])
        self.fc_audioset = nn.Linear(channels[-1], num_classes)

    def forward(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`log_mel` `(batch, frames, n_mels)` -> (`embedding` `(batch, C)`, `probabilities` `(batch, classes)`)."""
        x = self.bn0(log_mel.unsqueeze(1).transpose(1, 3)).transpose(1, 3)  # batch norm over mel bins
        for i in range(6):
            x = getattr(self, f"conv_block{i + 1}")(x, pool=2 if i < 5 else 1)
        x = x.mean(dim=3)  # over frequency: (B, C, T)
        x = x.amax(dim=2) + x.mean(dim=2)
        embedding = F.relu(self.fc1(x))
        return embedding, torch.sigmoid(self.fc_audioset(embedding))


def panns_log_mel(waveform: np.ndarray, sr: int) -> np.ndarray:
    """Cnn14's input `(frames, 64)` float32 (centred reflect-padded STFT, power, Slaney mel, dB)."""
    import librosa

    audio = resample(np.asarray(waveform, dtype=np.float32), sr, PANNS_SAMPLE_RATE)
    power = np.abs(librosa.stft(audio, n_fft=PANNS_N_FFT, hop_length=PANNS_HOP, pad_mode="reflect")) ** 2
    mel_basis = librosa.filters.mel(
        sr=PANNS_SAMPLE_RATE, n_fft=PANNS_N_FFT, n_mels=PANNS_N_MELS, fmin=PANNS_FMIN, fmax=PANNS_FMAX
    )
    return (10.0 * np.log10(np.maximum(mel_basis @ power, 1e-10))).T.astype(np.float32)


class PannsEmbedder(AudioEmbedder):
    """Cnn14 as embedder (`name = "panns"`): one 2048-d embedding and 527 class probabilities per clip."""

    name = "panns"
    sample_rate = PANNS_SAMPLE_RATE

    def __init__(self, model: Cnn14):
        self.model = model.eval()
        self.embedding_dim = model.fc1.out_features
        self.num_classes = model.fc_audioset.out_features

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> PannsEmbedder:
        """Load Cnn14 weights from a safetensors file (widths inferred from the tensor shapes)."""
        state = {k: v for k, v in load_safetensors_state_dict(path).items() if not k.startswith(_IGNORED_PREFIXES)}
        try:
            channels = tuple(state[f"conv_block{i}.conv1.weight"].shape[0] for i in range(1, 7))
            model = Cnn14(channels, state["fc_audioset.weight"].shape[0], state["bn0.weight"].shape[0])
            model.load_state_dict(state)
        except (KeyError, RuntimeError) as err:
            raise EmbedderError(f"{path}: not PANNs Cnn14 weights: {err}") from err
        return cls(model)

    @torch.no_grad()
    def features(self, waveform: np.ndarray, sr: int) -> ClipFeatures:
        log_mel = torch.from_numpy(panns_log_mel(waveform, sr)).unsqueeze(0)
        if log_mel.shape[1] < 32:  # five 2x poolings need at least 32 frames (0.3 s)
            log_mel = F.pad(log_mel, (0, 0, 0, 32 - log_mel.shape[1]), value=-100.0)
        embedding, probabilities = self.model(log_mel)
        return ClipFeatures(embeddings=embedding.double().numpy(), probabilities=probabilities[0].double().numpy())
