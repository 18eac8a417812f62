"""MusicSet: the tri-modal (audio, caption, melody) dataset, its two builders and its torch loader.

Heavy dependencies (datasets, torch, Basic Pitch, FluidSynth) load on first use of the name that needs them.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "MusicSetError": "mmgen.data.format",
    "SPLITS": "mmgen.data.format",
    "assign_splits": "mmgen.data.format",
    "decode_audio": "mmgen.data.format",
    "encode_flac": "mmgen.data.format",
    "load_musicset": "mmgen.data.format",
    "musicset_features": "mmgen.data.format",
    "CaptionWriter": "mmgen.data.captions",
    "MusicFacts": "mmgen.data.captions",
    "PRESETS": "mmgen.data.synth",
    "build_synthetic_musicset": "mmgen.data.synth",
    "build_musicset_from_audio": "mmgen.data.build",
    "read_caption_file": "mmgen.data.build",
    "GroupedBatchSampler": "mmgen.data.samplers",
    "MusicSetCollator": "mmgen.data.torch_dataset",
    "MusicSetTorchDataset": "mmgen.data.torch_dataset",
    "crop_melody": "mmgen.data.torch_dataset",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mmgen.data' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
