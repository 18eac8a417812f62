"""A PyTorch port of the musicnn music taggers (Pons & Serra, 2019), loaded from the `musicnn` package's TF files.

The `musicnn` package ships the MagnaTagATune (`MTT_musicnn`) and Million Song Dataset (`MSD_musicnn`) models as
TensorFlow 1 checkpoints (ISC licence). `MusicnnModel.from_pretrained("MTT_musicnn")` reads them with numpy
(`mmgen.eval.tf_checkpoint`), so neither TensorFlow nor the package's own code is imported.

Input: log-compressed mel patches `log10(1 + 10000 * mel_power)`, 96 bins at 16 kHz (n_fft 512, hop 256),
187 frames (3 s) per patch, as the package computes them, but in float32 (the package's float16 overflows to
`inf` on loud input).
"""

# Adapted from musicnn/models.py (jordipons/musicnn, ISC licence): the same graph, layer for layer.

from __future__ import annotations

import os
from dataclasses import dataclass

import librosa
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..audio import resample

MUSICNN_SAMPLE_RATE = 16000
MUSICNN_N_FFT = 512
MUSICNN_HOP_LENGTH = 256
MUSICNN_N_MELS = 96
MUSICNN_PATCH_FRAMES = 187  # librosa.time_to_frames(3 s) + 1, the length the models were trained on
MUSICNN_MODELS = ("MTT_musicnn", "MSD_musicnn")
_BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization default

MTT_LABELS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano", "ambient",
    "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals", "no vocals",
    "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo",
    "man", "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello",
    "no voice", "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip
MSD_LABELS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient",
    "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb",
    "indie pop", "sad", "House", "happy",
)  # fmt: skip


class MusicnnError(ValueError):
    """Bad input for the musicnn model or its preprocessing."""


@dataclass
class MusicnnOutput:
    """Outputs of `MusicnnModel.forward`.

    Args:
        logits (`torch.Tensor` of shape `(batch, num_classes)`): tag logits (apply a sigmoid for probabilities).
        penultimate (`torch.Tensor` of shape `(batch, num_units_backend)`): the batch-normalised dense layer
            before the output layer (200-d for the packaged models).
        mean_pool (`torch.Tensor` of shape `(batch, 753)`): temporal mean of the front- and mid-end features.
        max_pool (`torch.Tensor` of shape `(batch, 753)`): temporal max of the same features.
    """

    logits: torch.Tensor
    penultimate: torch.Tensor
    mean_pool: torch.Tensor
    max_pool: torch.Tensor


def _tf_same_pad(kernel: int) -> tuple[int, int]:
    """TF 'SAME' padding of a stride-1 convolution: the extra sample of an even kernel goes after."""
    return (kernel - 1) // 2, kernel // 2


class _PooledConv(nn.Module):
    """conv -> ReLU -> batch norm -> max over the whole frequency axis (musicnn's timbral and tempo blocks)."""

    def __init__(self, filters: int, kernel_size: tuple[int, int], time_padding: tuple[int, int]):
        super().__init__()
        self.time_padding = time_padding
        self.conv = nn.Conv2d(1, filters, kernel_size)
        self.bn = nn.BatchNorm2d(filters, eps=_BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 1, T, F) -> (B, filters, T)
        x = F.pad(x, (0, 0, *self.time_padding))
        return self.bn(F.relu(self.conv(x))).amax(dim=3)


class _MidendConv(nn.Module):
    """A convolution across all features and 7 frames ('same' in time) -> ReLU -> batch norm."""

    def __init__(self, in_features: int, filters: int):
        super().__init__()
        self.conv = nn.Conv1d(in_features, filters, 7, padding=3)
        self.bn = nn.BatchNorm1d(filters, eps=_BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


class MusicnnModel(nn.Module):
    """The musicnn tagger: musically motivated front end, dense mid end, temporal pooling back end.

    Args:
        num_classes (`int`, *optional*, defaults to 50): number of tags.
        n_mels (`int`, *optional*, defaults to 96): mel bins of the input.
        num_filt_frontend (`float`, *optional*, defaults to 1.6): width multiplier of the front end
            (timbral blocks get `int(128 * x)` filters, temporal blocks `int(32 * x)`).
        num_filt_midend (`int`, *optional*, defaults to 64): filters of each mid-end layer.
        num_units_backend (`int`, *optional*, defaults to 200): units of the penultimate dense layer.
    """

    def __init__(
        self,
        num_classes: int = 50,
        n_mels: int = MUSICNN_N_MELS,
        num_filt_frontend: float = 1.6,
        num_filt_midend: int = 64,
        num_units_backend: int = 200,
    ):
        super().__init__()
        self.n_mels = n_mels
        timbral, temporal = int(num_filt_frontend * 128), int(num_filt_frontend * 32)
        self.input_bn = nn.BatchNorm2d(1, eps=_BN_EPS)
        self.timbral = nn.ModuleList([_PooledConv(timbral, (7, int(ratio * n_mels)), (3, 3)) for ratio in (0.4, 0.7)])
        self.temporal = nn.ModuleList([_PooledConv(temporal, (k, 1), _tf_same_pad(k)) for k in (128, 64, 32)])
        frontend_features = 2 * timbral + 3 * temporal
        self.midend = nn.ModuleList(
            [_MidendConv(frontend_features if i == 0 else num_filt_midend, num_filt_midend) for i in range(3)]
        )
        self.pooled_features = frontend_features + 3 * num_filt_midend
        self.pool_bn = nn.BatchNorm1d(2 * self.pooled_features, eps=_BN_EPS)
        self.dense = nn.Linear(2 * self.pooled_features, num_units_backend)
        self.dense_bn = nn.BatchNorm1d(num_units_backend, eps=_BN_EPS)
        self.classifier = nn.Linear(num_units_backend, num_classes)

    def forward(self, log_mel: torch.Tensor) -> MusicnnOutput:
        """
        Args:
            log_mel (`torch.Tensor` of shape `(batch, frames, n_mels)`): log-compressed mel patches
                (`musicnn_log_mel`); 187 frames is what the models were trained on, other lengths work.

        Returns:
            `MusicnnOutput`.
        """
        if log_mel.ndim != 3 or log_mel.shape[-1] != self.n_mels:
            raise MusicnnError(f"expected log-mel patches (batch, frames, {self.n_mels}), got {tuple(log_mel.shape)}")
        x = self.input_bn(log_mel.unsqueeze(1))  # (B, 1, T, F)
        # front end, features along channels: (B, 561, T)
        frontend = torch.cat([block(x) for block in (*self.timbral, *self.temporal)], dim=1)
        # mid end with residual connections after the first layer
        features = [frontend]
        hidden = self.midend[0](frontend)
        features.append(hidden)
        for layer in self.midend[1:]:
            hidden = layer(hidden) + hidden
            features.append(hidden)
        midend = torch.cat(features, dim=1)  # (B, 753, T)
        # back end: TF concatenates [max, mean] on a trailing axis then flattens, so they interleave per feature
        max_pool, mean_pool = midend.amax(dim=2), midend.mean(dim=2)
        pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        return MusicnnOutput(
            logits=self.classifier(penultimate), penultimate=penultimate, mean_pool=mean_pool, max_pool=max_pool
        )

    @classmethod
    def from_tf_checkpoint(cls, prefix: str | os.PathLike, **kwargs) -> MusicnnModel:
        """Build the model from a musicnn TF checkpoint (`prefix.index` + `prefix.data-*`), in eval mode."""
        from .tf_checkpoint import read_tf_checkpoint

        tf = read_tf_checkpoint(prefix)
        model = cls(**kwargs)
        model.load_state_dict(_state_dict_from_tf(tf, model))
        return model.eval()

    @classmethod
    def from_pretrained(cls, name: str = "MTT_musicnn") -> MusicnnModel:
        """Load a packaged model, `"MTT_musicnn"` or `"MSD_musicnn"`, or a checkpoint prefix on disk."""
        if name in MUSICNN_MODELS:
            try:
                import musicnn
            except ImportError as err:
                raise MusicnnError("the `musicnn` package (pip install --no-deps musicnn) holds the weights") from err
            prefix = os.path.join(os.path.dirname(musicnn.__file__), name) + os.sep
        elif os.path.isfile(f"{name}.index"):
            prefix = name
        else:
            raise MusicnnError(f"unknown musicnn model {name!r}; expected one of {MUSICNN_MODELS} or a TF checkpoint")
        return cls.from_tf_checkpoint(prefix)


def _state_dict_from_tf(tf: dict[str, np.ndarray], model: MusicnnModel) -> dict[str, torch.Tensor]:
    """Map TF variable names (creation order in models.py) onto the PyTorch modules."""

    def bn(index: int, prefix: str) -> dict:
        name = "batch_normalization" + (f"_{index}" if index else "")
        return {
            f"{prefix}.weight": tf[f"{name}/gamma"],
            f"{prefix}.bias": tf[f"{name}/beta"],
            f"{prefix}.running_mean": tf[f"{name}/moving_mean"],
            f"{prefix}.running_var": tf[f"{name}/moving_variance"],
        }

    def conv(index: int) -> tuple[np.ndarray, np.ndarray]:
        name = "conv2d" + (f"_{index}" if index else "")
        return tf[f"{name}/kernel"], tf[f"{name}/bias"]  # kernel (kh, kw, in, out)

    state = bn(0, "input_bn")
    blocks = [f"timbral.{i}" for i in range(2)] + [f"temporal.{i}" for i in range(3)]
    for i, prefix in enumerate(blocks):
        kernel, bias = conv(i)
        state[f"{prefix}.conv.weight"] = kernel.transpose(3, 2, 0, 1)
        state[f"{prefix}.conv.bias"] = bias
        state.update(bn(i + 1, f"{prefix}.bn"))
    for i in range(3):
        kernel, bias = conv(5 + i)
        state[f"midend.{i}.conv.weight"] = kernel[:, :, 0, :].transpose(2, 1, 0)  # (out, in, 7)
        state[f"midend.{i}.conv.bias"] = bias
        state.update(bn(6 + i, f"midend.{i}.bn"))
    state.update(bn(9, "pool_bn"))
    state["dense.weight"], state["dense.bias"] = tf["dense/kernel"].T, tf["dense/bias"]
    state.update(bn(10, "dense_bn"))
    state["classifier.weight"], state["classifier.bias"] = tf["dense_1/kernel"].T, tf["dense_1/bias"]
    expected = model.state_dict()
    tensors = {}
    for key, value in expected.items():
        if key.endswith("num_batches_tracked"):
            tensors[key] = value
            continue
        array = np.ascontiguousarray(state[key], dtype=np.float32)
        if tuple(array.shape) != tuple(value.shape):
            raise MusicnnError(f"checkpoint tensor {key}: shape {array.shape}, the model wants {tuple(value.shape)}")
        tensors[key] = torch.from_numpy(array)
    return tensors


def musicnn_log_mel(waveform: np.ndarray, sr: int) -> np.ndarray:
    """musicnn's input representation, computed in float32.

    Args:
        waveform (`np.ndarray` of shape `(samples,)`): mono audio.
        sr (`int`): its sample rate (resampled to 16 kHz with soxr).

    Returns:
        `np.ndarray` float32 of shape `(frames, 96)`: `log10(1 + 10000 * mel_power)`, frames at 62.5 per second.
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1 or waveform.size == 0:
        raise MusicnnError(f"expected a non-empty mono waveform (samples,), got shape {waveform.shape}")
    if not np.all(np.isfinite(waveform)):
        raise MusicnnError("waveform contains NaN or inf")
    audio = resample(waveform, sr, MUSICNN_SAMPLE_RATE)
    mel = librosa.feature.melspectrogram(
        y=audio, sr=MUSICNN_SAMPLE_RATE, n_fft=MUSICNN_N_FFT, hop_length=MUSICNN_HOP_LENGTH, n_mels=MUSICNN_N_MELS
    )
    return np.log10(10000.0 * mel.T.astype(np.float32) + 1.0).astype(np.float32)


def frame_patches(log_mel: np.ndarray, patch_frames: int = MUSICNN_PATCH_FRAMES, hop_frames: int | None = None):
    """Cut a `(frames, n_mels)` spectrogram into `(patches, patch_frames, n_mels)`.

    Shorter inputs are repeat-padded to one patch (as the models were trained); longer ones are cut every
    `hop_frames` (defaults to `patch_frames`, no overlap), dropping the incomplete tail as musicnn does.
    """
    frames = log_mel.shape[0]
    if frames == 0:
        raise MusicnnError("empty spectrogram")
    if frames < patch_frames:
        log_mel = np.tile(log_mel, (int(np.ceil(patch_frames / frames)), 1))[:patch_frames]
        frames = patch_frames
    hop = hop_frames or patch_frames
    starts = range(0, frames - patch_frames + 1, hop)
    return np.stack([log_mel[s : s + patch_frames] for s in starts]).astype(np.float32)
