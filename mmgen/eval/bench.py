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
