"""Tiny models and data for the tests (seconds on a CPU, no downloads): the one place test scaffolding lives.

- `save_tiny_text_encoder`, `tiny_aligner_config`: a random 2-layer BERT and a `TriModalAlignerConfig` around it;
- `tiny_vocoder_config`: a ~13k-parameter `SpeechT5HifiGan` config with the project's rates;
- `save_tiny_musicset`: a fabricated MusicSet of sine tunes;
- `run_train_script`: a script of `train/` in a subprocess, offline;
- `load_benchmark`: a script of `benchmarks/` as a module.

Import with `from fixtures import ...` (pytest puts `tests/` on the path).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from mmgen.audio import N_MELS, SAMPLE_RATE
from mmgen.models.aligner import TINY_AUDIO_CONFIG, TINY_MELODY_CONFIG, TriModalAlignerConfig
from mmgen.models.aligner.configuration_aligner import DEFAULT_TEXT_ENCODER, resolve_text_encoder_path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def tiny_vocoder_config():
    """A randomly initialised SpeechT5HifiGan of ~13k parameters with the project's rates."""
    from transformers import SpeechT5HifiGanConfig

    return SpeechT5HifiGanConfig(
        model_in_dim=N_MELS, sampling_rate=SAMPLE_RATE, upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8],
        upsample_initial_channel=16, resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
        normalize_before=False,
    )  # fmt: skip


def save_tiny_vocoder(path: str | os.PathLike, seed: int = 0) -> str:
    """A random `SpeechT5HifiGan` of `tiny_vocoder_config`, saved at `path` (for `--pretrained_vocoder`)."""
    import torch
    from transformers import SpeechT5HifiGan

    torch.manual_seed(seed)
    SpeechT5HifiGan(tiny_vocoder_config()).save_pretrained(os.fspath(path))
    return os.fspath(path)


def save_tiny_musicset(path: str | os.PathLike, rows: dict[str, int] | None = None, seconds: float = 2.0) -> str:
    """A fabricated MusicSet of sine tunes (distinct pitch patterns, matching captions and melody tokens).

    Args:
        path: output folder (`datasets.save_to_disk` layout, as `mmgen data synth` writes).
        rows (`dict[str, int]`, *optional*): rows per split (default train 8, validation 4, test 4).
        seconds (`float`): clip length.
    """
    import datasets
    import numpy as np

    from mmgen.data.format import encode_flac, musicset_features, save_musicset
    from mmgen.melody.notes import Note, pitch_name
    from mmgen.melody.tokenizer import notes_to_string

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


def load_benchmark(name: str):
    """`benchmarks/<name>.py` as a module (its folder importable while it loads, as when it runs as a script)."""
    folder = os.path.join(ROOT, "benchmarks")
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", os.path.join(folder, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


def run_train_script(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run `train/<script>` offline with 2 threads; fail the test with the tail of its output if it fails."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train", script), *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result
