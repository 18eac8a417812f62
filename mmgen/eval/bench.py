"""What the scripts in `benchmarks/` share: the machine they ran on and how their results are written.

Each script measures one thing and reads top to bottom; this module holds only the plumbing they all repeat.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
from pathlib import Path

import numpy as np


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo where there is one)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine(**extra) -> dict:
    """The machine a benchmark ran on: platform, processor, CPU count and Python version, plus `extra`."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        **extra,
    }


def json_safe(value):
    """`value` with NaN/inf (which `json` would write as invalid tokens) as None and numpy scalars as Python's."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_json(path: str | os.PathLike, results: dict, *, echo: bool = False, sort_keys: bool = False) -> Path:
    """Write `results` (made JSON-safe) to `path`, creating its folder; with `echo`, print it too.

    Returns:
        `Path`: the file written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json_safe(results), indent=2, sort_keys=sort_keys)
    path.write_text(text + "\n", encoding="utf-8")
    if echo:
        print(text)
    return path


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Lay out a matplotlib figure, write it to `path` (its folder made) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def named_folder(text: str, kind: str = "set") -> tuple[str, Path]:
    """A benchmark's `NAME=FOLDER` argument -> `(name, folder)`, refused with the reason when it is malformed or the
    folder does not exist (`kind` names what the folder holds in the message: a set, a model)."""
    name, sep, folder = text.partition("=")
    if not name or not sep or not folder:
        raise SystemExit(f"a {kind} is NAME=FOLDER, got {text!r}")
    if not Path(folder).is_dir():
        raise SystemExit(f"{kind} folder {folder!r} (from {text!r}) does not exist")
    return name, Path(folder)


def load_cached_clips(folder: str | os.PathLike, clip_ids: list[str], sample_rate: int) -> list[np.ndarray]:
    """The clips of `clip_ids` from `folder`, as 1-D float waveforms `(samples,)`: `<id>.npy` (the sweep caches of
    `benchmarks/latency.py` and its kin) or `<id>.wav` (`benchmarks/generation.py --save_audio`) at `sample_rate`.
    Refused with the reason when a clip is missing, a WAV is at another rate, or an array is not a waveform (a sweep
    cache keeps log-mels beside its `wav-<vocoder>` folders)."""
    import soundfile as sf

    from mmgen.audio import load_audio

    folder = Path(folder)
    paths = [next((p for p in (folder / f"{i}.npy", folder / f"{i}.wav") if p.exists()), None) for i in clip_ids]
    missing = [i for i, p in zip(clip_ids, paths) if p is None]
    if missing:
        count = f"{len(missing)} of the {len(clip_ids)} clips"
        raise SystemExit(f"{folder} lacks {count}, e.g. {missing[0]} (as .npy or .wav)")
    waves = []
    for path in paths:
        if path.suffix == ".wav":
            rate = sf.info(path).samplerate
            if rate != sample_rate:
                raise SystemExit(f"{path} is at {rate} Hz, not the pipeline's {sample_rate} Hz")
            waves.append(load_audio(path, sample_rate, max_duration_s=None))
        else:
            waves.append(np.load(path))
    if any(w.ndim != 1 for w in waves):
        raise SystemExit(f"{folder} holds arrays that are not waveforms (shape {waves[0].shape}): give a folder of "
                         "1-D waveforms, e.g. a sweep cache's wav-griffinlim")  # fmt: skip
    return waves
