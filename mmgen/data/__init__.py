"""MusicSet: the tri-modal (audio, caption, melody) dataset, its two builders and its torch loader.

Heavy dependencies (datasets, torch, Basic Pitch, FluidSynth) load on first use of the name that needs them.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY = {
    "MusicSetError": ".format",
    "SPLITS": ".format",
    "assign_splits": ".format",
    "decode_audio": ".format",
    "encode_flac": ".format",
    "load_musicset": ".format",
    "musicset_features": ".format",
    "CaptionWriter": ".captions",
    "MusicFacts": ".captions",
    "PRESETS": ".synthetic_musicset",
    "build_synthetic_musicset": ".synthetic_musicset",
    "build_musicset_from_audio": ".build",
    "read_caption_file": ".build",
    "GroupedBatchSampler": ".samplers",
    "MusicSetCollator": ".torch_dataset",
    "MusicSetTorchDataset": ".torch_dataset",
    "crop_melody": ".torch_dataset",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(globals(), _LAZY)
