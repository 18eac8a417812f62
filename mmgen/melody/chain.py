"""A long piece's melody from several retrieved melodies: the first as retrieved, the next ones moved into its key and
its tempo and played after it, so that a text-to-music piece longer than its melody does not repeat one tune.

Key: the Krumhansl-Kessler profiles correlated with the duration-weighted pitch classes (the classic key-finding
estimate); tempo: the median time between onsets. Both are estimates on short melodies; they decide a transposition
of at most a tritone and a time scale, never which notes are played.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .notes import Note
from .sketch import SKETCH_MAX_PITCH, SKETCH_MIN_PITCH, fit_to_length

# Krumhansl-Kessler key profiles (probe-tone ratings), C major and C minor
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
MIN_TEMPO_SCALE, MAX_TEMPO_SCALE = 0.5, 2.0  # a melody is never stretched or squeezed beyond double or half speed


def estimate_key(notes: Sequence[Note]) -> tuple[int, str]:
    """`(tonic pitch class 0-11, "major" | "minor")` of a melody, from its duration-weighted pitch classes."""
    histogram = np.zeros(12)
    for n in notes:
        histogram[n.pitch % 12] += max(n.offset - n.onset, 1e-3)
    if not histogram.any():
        return 0, "major"
    best = max(
        ((float(np.corrcoef(histogram, np.roll(profile, tonic))[0, 1]), tonic, mode)
         for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)) for tonic in range(12)),
    )  # fmt: skip
    return best[1], best[2]


def median_interonset(notes: Sequence[Note]) -> float:
    """Median seconds between consecutive onsets (0.0 for fewer than two distinct onsets)."""
    onsets = np.unique(np.array([n.onset for n in notes]))
    return float(np.median(np.diff(onsets))) if onsets.size > 1 else 0.0


def match_key_and_tempo(notes: Sequence[Note], key: tuple[int, str], interonset: float) -> list[Note]:
    """`notes` from t = 0, transposed by the smallest shift (-6..+5 semitones, then by octaves into the sketch's
    range) that moves their tonic onto `key`'s, and time-scaled so their median inter-onset time is `interonset`
    (the scale kept within `MIN_TEMPO_SCALE`..`MAX_TEMPO_SCALE`)."""
    tonic, _ = estimate_key(notes)
    shift = (key[0] - tonic + 6) % 12 - 6
    pitches = [n.pitch + shift for n in notes]
    while max(pitches) > SKETCH_MAX_PITCH and min(pitches) - 12 >= SKETCH_MIN_PITCH:
        pitches = [p - 12 for p in pitches]
    while min(pitches) < SKETCH_MIN_PITCH and max(pitches) + 12 <= SKETCH_MAX_PITCH:
        pitches = [p + 12 for p in pitches]
    own = median_interonset(notes)
    scale = float(np.clip(interonset / own, MIN_TEMPO_SCALE, MAX_TEMPO_SCALE)) if own > 0 and interonset > 0 else 1.0
    start = min(n.onset for n in notes)
    return [Note((n.onset - start) * scale, (n.offset - start) * scale, p, n.velocity) for n, p in zip(notes, pitches)]


def chain_melodies(
    first: Sequence[Note], others: Sequence[Sequence[Note]], duration_s: float
) -> tuple[list[Note], int]:
    """A melody of `duration_s`: `first` from t = 0, then each of `others` in turn in `first`'s key and tempo
    (`match_key_and_tempo`), each starting where the previous one ends (its last offset), the chain repeated if it
    is still too short; cut at `duration_s` as `fit_to_length` cuts.

    Returns:
        `(notes, used)`: the notes, and how many of `others` (the first `used`) are heard. `others` must hold notes;
        with none, it is `fit_to_length(first, duration_s)` (a repeat) and 0.
    """
    if not others or not all(others):
        raise ValueError("chain_melodies needs melodies with notes to follow the first one")
    key, interonset = estimate_key(first), median_interonset(first)
    parts = [fit_to_length(first, float("inf"), repeat=False)]
    parts += [match_key_and_tempo(o, key, interonset) for o in others]
    chained, start, k = [], 0.0, 0
    while start < duration_s:
        part = parts[k % len(parts)]
        chained += [Note(n.onset + start, n.offset + start, n.pitch, n.velocity) for n in part]
        start += max(n.offset for n in part)
        k += 1
    return fit_to_length(chained, duration_s, repeat=False), min(k - 1, len(others))
