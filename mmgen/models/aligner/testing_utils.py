"""Tiny aligner configurations for tests and smoke runs (seconds on a CPU, no downloads)."""

from __future__ import annotations

import os

from .configuration_aligner import DEFAULT_TEXT_ENCODER, TriModalAlignerConfig, resolve_text_encoder_path

TINY_AUDIO_CONFIG = {
    "num_mel_bins": 64,
    "spec_size": 64,
    "window_size": 4,
    "patch_embeds_hidden_size": 8,
    "hidden_size": 16,
    "depths": [1, 1],
    "num_attention_heads": [1, 2],
}
# 32 mel rows + 64 semitone rows (`audio_pitch_bins=64`)
TINY_PITCH_AUDIO_CONFIG = {**TINY_AUDIO_CONFIG, "num_mel_bins": 96, "spec_size": 96}
TINY_MELODY_CONFIG = {
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "max_position_embeddings": 256,
}


def save_tiny_text_encoder(path: str | os.PathLike, seed: int = 0) -> str:
    """A 2-layer, 16-wide random BERT with the packaged MiniLM tokenizer, saved at `path` (safetensors)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    path = os.fspath(path)
    tokenizer = AutoTokenizer.from_pretrained(resolve_text_encoder_path(DEFAULT_TEXT_ENCODER))
    tokenizer.save_pretrained(path)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(path)
    return path


def tiny_aligner_config(text_encoder_path: str, **kwargs) -> TriModalAlignerConfig:
    """A tiny `TriModalAlignerConfig` around the text encoder saved by `save_tiny_text_encoder`."""
    text_config = {"encoder_name_or_path": os.fspath(text_encoder_path), "max_length": 32}
    text_config.update(kwargs.pop("text_config", {}))
    kwargs.setdefault("projection_dim", 8)
    kwargs.setdefault("audio_clip_seconds", 1.0)
    kwargs.setdefault("audio_config", dict(TINY_AUDIO_CONFIG))
    kwargs.setdefault("melody_config", dict(TINY_MELODY_CONFIG))
    return TriModalAlignerConfig(text_config=text_config, **kwargs)


def save_tiny_musicset(path: str | os.PathLike, rows: dict[str, int] | None = None, seconds: float = 2.0) -> str:
    """A fabricated MusicSet of sine tunes (distinct pitch patterns, matching captions and melody tokens).

    Args:
        path: output folder (`datasets.save_to_disk` layout, as `mmgen data synth` writes).
        rows (`dict[str, int]`, *optional*): rows per split (default train 8, validation 4, test 4).
        seconds (`float`): clip length.
    """
    import datasets
    import numpy as np

    from ...audio import SAMPLE_RATE
    from ...data.format import encode_flac, musicset_features, save_musicset
    from ...melody.notes import Note, pitch_name
    from ...melody.tokenizer import notes_to_string

    rows = rows or {"train": 8, "validation": 4, "test": 4}
    splits, index = {}, 0
    for split, count in rows.items():
        items = []
        for _ in range(count):
            base, step = 48 + (index * 7) % 24, 1 + index % 5
            notes = [
                Note(0.05 + 0.25 * i, 0.25 + 0.25 * i, base + (i * step) % 12, 90) for i in range(int(seconds * 4) - 1)
            ]
            wave = np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)
            for n in notes:
                t = np.arange(int((n.offset - n.onset) * SAMPLE_RATE)) / SAMPLE_RATE
                start = int(n.onset * SAMPLE_RATE)
                wave[start : start + t.size] += 0.4 * np.sin(2 * np.pi * 440 * 2 ** ((n.pitch - 69) / 12) * t)
            items.append({
                "id": f"{split}-{index}", "audio": encode_flac(wave), "melody": notes_to_string(notes),
                "caption": f"a sine tune starting on {pitch_name(base)} rising by {step} semitones",
                "alt_captions": [f"sine melody from {pitch_name(base)}"], "source": "test", "group": f"g{index}",
                "start_s": 0.0, "duration_s": seconds,
            })  # fmt: skip
            index += 1
        splits[split] = datasets.Dataset.from_list(items, features=musicset_features())
    save_musicset(datasets.DatasetDict(splits), path, {"builder": "tiny test set", "license": "CC0"})
    return os.fspath(path)
