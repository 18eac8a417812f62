"""One interface for the audio models behind FAD, KL and IS: musicnn (default, packaged) or VGGish / PANNs weights.

An `AudioEmbedder` turns one clip into `ClipFeatures`: per-window embeddings (the samples whose statistics FAD
compares) and, for a classifier, clip-level class probabilities (for KL and IS). Metric names carry the
model's `name` (`fad_musicnn`, `fad_vggish`, ...), so a musicnn number is never mistaken for a VGGish one.
The interface itself lives in `embedder_base` (re-exported here), which `vggish.py` and `panns.py` build on.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .embedder_base import AudioEmbedder, ClipFeatures, EmbedderError, load_safetensors_state_dict

__all__ = ["AudioEmbedder", "ClipFeatures", "EmbedderError", "MusicnnEmbedder", "load_embedder",
           "load_safetensors_state_dict"]  # fmt: skip


class MusicnnEmbedder(AudioEmbedder):
    """musicnn (MTT or MSD) as embedder and 50-tag classifier.

    Args:
        model (`str`, *optional*, defaults to `"MTT_musicnn"`): `"MTT_musicnn"`, `"MSD_musicnn"` or a TF
            checkpoint prefix.
        layer (`str`, *optional*, defaults to `"penultimate"`): embedding layer, `"penultimate"` (200-d),
            `"mean_pool"` or `"max_pool"` (753-d each).
        hop_seconds (`float`, *optional*, defaults to 1.5): hop between the 3 s analysis windows (the package
            uses 3 s, no overlap; overlapping windows give FAD more samples from short clips).
        batch_size (`int`, *optional*, defaults to 32): windows per forward pass.
    """

    name = "musicnn"

    def __init__(self, model: str = "MTT_musicnn", layer: str = "penultimate", hop_seconds: float = 1.5,
                 batch_size: int = 32):  # fmt: skip
        from .musicnn import MSD_LABELS, MTT_LABELS, MUSICNN_HOP_LENGTH, MUSICNN_SAMPLE_RATE, MusicnnModel

        if layer not in ("penultimate", "mean_pool", "max_pool"):
            raise EmbedderError(f"unknown musicnn layer {layer!r}; use penultimate, mean_pool or max_pool")
        if hop_seconds <= 0:
            raise EmbedderError(f"hop_seconds must be positive, got {hop_seconds}")
        self.model = MusicnnModel.from_pretrained(model)
        self.layer = layer
        self.hop_frames = max(1, int(round(hop_seconds * MUSICNN_SAMPLE_RATE / MUSICNN_HOP_LENGTH)))
        self.batch_size = batch_size
        self.sample_rate = MUSICNN_SAMPLE_RATE
        self.labels = MSD_LABELS if "MSD" in os.path.basename(os.path.normpath(model)) else MTT_LABELS
        self.num_classes = self.model.classifier.out_features
        self.embedding_dim = self.model.dense.out_features if layer == "penultimate" else self.model.pooled_features

    @torch.no_grad()
    def features(self, waveform: np.ndarray, sr: int) -> ClipFeatures:
        from .musicnn import frame_patches, musicnn_log_mel

        patches = torch.from_numpy(frame_patches(musicnn_log_mel(waveform, sr), hop_frames=self.hop_frames))
        embeddings, probabilities = [], []
        for start in range(0, len(patches), self.batch_size):
            out = self.model(patches[start : start + self.batch_size])
            embeddings.append(getattr(out, self.layer))
            probabilities.append(torch.sigmoid(out.logits))
        return ClipFeatures(
            embeddings=torch.cat(embeddings).double().numpy(),
            probabilities=torch.cat(probabilities).mean(0).double().numpy(),
        )


def load_embedder(name: str = "musicnn", weights: str | os.PathLike | None = None, **kwargs) -> AudioEmbedder:
    """Build an embedder by name.

    Args:
        name (`str`, *optional*, defaults to `"musicnn"`): `"musicnn"` (MTT), `"musicnn-msd"`, `"vggish"` or
            `"panns"` (Cnn14).
        weights (`str` or `os.PathLike`, *optional*): safetensors file with the VGGish or PANNs weights
            (required for those; see `mmgen.eval.vggish` and `mmgen.eval.panns` for the expected tensor names).
        **kwargs: passed to the embedder's constructor.

    Returns:
        `AudioEmbedder`.
    """
    if name in ("musicnn", "musicnn-mtt"):
        return MusicnnEmbedder("MTT_musicnn", **kwargs)
    if name == "musicnn-msd":
        return MusicnnEmbedder("MSD_musicnn", **kwargs)
    if name in ("vggish", "panns"):
        if weights is None:
            raise EmbedderError(f"the {name} embedder needs a weights file (--embedder-weights PATH.safetensors)")
        if name == "vggish":
            from .vggish import VGGishEmbedder

            return VGGishEmbedder.from_file(weights, **kwargs)
        from .panns import PannsEmbedder

        return PannsEmbedder.from_file(weights, **kwargs)
    raise EmbedderError(f"unknown embedder {name!r}; expected musicnn, musicnn-msd, vggish or panns")
