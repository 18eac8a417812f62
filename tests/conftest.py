"""Shared fixtures. Everything here is offline and takes milliseconds."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mmgen.audio import SAMPLE_RATE, save_audio  # noqa: E402
from mmgen.melody.notes import Note  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sine_notes_waveform(notes, sr=SAMPLE_RATE, amplitude=0.5):
    """A clean test signal: each note a sine with a short fade, shape (samples,)."""
    end = max(n.offset for n in notes)
    wave = np.zeros(int(round((end + 0.25) * sr)), dtype=np.float32)
    for n in notes:
        start, stop = int(n.onset * sr), int(n.offset * sr)
        t = np.arange(stop - start) / sr
        envelope = np.minimum(1.0, np.minimum(t / 0.01, (n.offset - n.onset - t) / 0.02)).clip(0, 1)
        wave[start:stop] += amplitude * envelope * np.sin(2 * np.pi * 440.0 * 2 ** ((n.pitch - 69) / 12) * t)
    return wave


@pytest.fixture
def scale_notes():
    """C major scale, 8 notes of 0.4 s with 0.1 s gaps, starting at 0.2 s."""
    return [Note(0.2 + 0.5 * i, 0.6 + 0.5 * i, p, 100) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]


@pytest.fixture
def scale_wav(tmp_path, scale_notes):
    path = tmp_path / "scale.wav"
    save_audio(path, sine_notes_waveform(scale_notes))
    return path
