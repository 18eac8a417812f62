"""The base of the audio models behind FAD, KL and IS: the `AudioEmbedder` interface, its `ClipFeatures`, its error,
and the one way their weights are read (safetensors, never pickles).

`embedders.py` (musicnn and `load_embedder`), `vggish.py` and `panns.py` all build on this module, and only
`load_embedder` imports the last two, so none of them imports another at load time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch


class EmbedderError(ValueError):
    """An unknown embedding model or an unusable weights file."""


@dataclass
class ClipFeatures:
    """Features of one clip.

    Args:
        embeddings (`np.ndarray` float64 of shape `(windows, embedding_dim)`): one row per analysis window.
        probabilities (`np.ndarray` float64 of shape `(num_classes,)`, *optional*): the clip's class
            probabilities (window probabilities averaged); None for embedding-only models.
    """

    embeddings: np.ndarray
    probabilities: np.ndarray | None = None


class AudioEmbedder:
    """Base class. Subclasses set `name`, `sample_rate`, `embedding_dim`, `num_classes` and implement `features`."""

    name: str = "base"
    sample_rate: int = 16000
    embedding_dim: int = 0
    num_classes: int | None = None
    labels: tuple[str, ...] | None = None

    def features(self, waveform: np.ndarray, sr: int) -> ClipFeatures:
        """Features of one mono clip `(samples,)` at sample rate `sr`."""
        raise NotImplementedError

    def features_batch(self, waveforms: list[np.ndarray], sr: int) -> list[ClipFeatures]:
        return [self.features(w, sr) for w in waveforms]


def load_safetensors_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a safetensors weights file (the only weights format accepted: no pickles)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise EmbedderError(f"weights file not found: {path!r}")
    if not path.endswith(".safetensors"):
        raise EmbedderError(
            f"{path!r}: only .safetensors weights are read (convert a .pth once with "
            "`safetensors.torch.save_file(torch.load(p, weights_only=True)['model'], out)`)"
        )
    from safetensors.torch import load_file

    return load_file(path)
