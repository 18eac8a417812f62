"""A small singing-voice synthesiser (numpy only), for voice test material: the benchmark, tests and examples.

Additive source-filter synthesis: a glottal-like harmonic series (-12 dB per octave) whose pitch follows the notes
with the habits of a real voice (a scoop up into each note, legato glides, delayed vibrato, slow pitch drift),
shaped by the formants of a vowel, with breath noise between phrases and aspiration under the tone. The notes it
was asked to sing are the ground truth a transcription is scored against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..audio import SAMPLE_RATE
from .notes import Note

# (frequency Hz, bandwidth Hz, gain) of the first three formants (Peterson & Barney style averages).
VOWELS = {
    "a": ((800, 80, 1.0), (1150, 90, 0.5), (2900, 120, 0.15)),
    "o": ((450, 70, 1.0), (800, 80, 0.45), (2830, 100, 0.1)),
    "u": ((325, 50, 1.0), (700, 60, 0.25), (2530, 100, 0.05)),
    "i": ((270, 60, 1.0), (2290, 100, 0.3), (3010, 120, 0.2)),
    "m": ((250, 60, 1.0), (1000, 150, 0.08), (2200, 200, 0.03)),  # a hum: lips closed, energy low
}


@dataclass(frozen=True)
class SingingStyle:
    """How the synthetic voice sings (semitones, seconds, Hz)."""

    vowel: str = "a"
    vibrato_cents: float = 45.0
    vibrato_hz: float = 5.5
    vibrato_delay_s: float = 0.18
    scoop_semitones: float = 0.8
    scoop_s: float = 0.07
    glide_s: float = 0.04
    drift_cents: float = 15.0
    intonation_cents: float = 10.0  # each note's own mistuning (standard deviation)
    breath_level: float = 0.04
    aspiration_level: float = 0.01
    gate: float = 0.88  # share of each written note that is voiced (a breath or consonant fills the rest)


def _formant_gain(freqs: np.ndarray, vowel: str) -> np.ndarray:
    gain = np.zeros_like(freqs)
    for centre, bandwidth, weight in VOWELS[vowel]:
        gain += weight / (1.0 + ((freqs - centre) / bandwidth) ** 2)
    return gain + 0.02  # a floor so that no harmonic vanishes entirely


def sing_notes(
    notes: Sequence[Note],
    sr: int = SAMPLE_RATE,
    *,
    style: SingingStyle = SingingStyle(),
    seed: int = 0,
    tail_s: float = 0.4,
) -> np.ndarray:
    """Sing a monophonic melody.

    Args:
        notes: the melody (one voice; times in seconds, MIDI pitches).
        style (`SingingStyle`): vowel, vibrato, scoops, glides, breath.
        seed (`int`): the random drift, jitter and breath noise.
        tail_s (`float`): silence after the last note.
    Returns:
        `np.ndarray` of shape `(samples,)`, float32, peak 0.8.
    """
    rng = np.random.default_rng(seed)
    notes = sorted(notes)
    length = int((max(n.offset for n in notes) + tail_s) * sr)
    t = np.arange(length) / sr
    pitch = np.full(length, np.nan)
    amplitude = np.zeros(length)
    for i, note in enumerate(notes):
        start, end = int(note.onset * sr), int((note.onset + note.duration * style.gate) * sr)
        local = t[start:end] - note.onset
        contour = np.full(end - start, note.pitch + rng.normal(0, style.intonation_cents / 100))
        previous = notes[i - 1] if i else None
        legato = previous is not None and note.onset - previous.offset < 0.02 and style.glide_s > 0
        if legato:  # glide from the previous pitch
            contour += (previous.pitch - note.pitch) * np.clip(1 - local / style.glide_s, 0, 1)
        else:  # scoop up from below
            contour -= style.scoop_semitones * np.clip(1 - local / style.scoop_s, 0, 1)
        ramp = np.clip((local - style.vibrato_delay_s) / 0.15, 0, 1)
        phase = rng.uniform(0, 2 * np.pi)
        contour += ramp * style.vibrato_cents / 100 * np.sin(2 * np.pi * style.vibrato_hz * local + phase)
        pitch[start:end] = contour
        attack, release = 0.03, 0.06
        envelope = np.minimum(np.clip(local / attack, 0, 1), np.clip((local[-1] - local) / release, 0, 1))
        amplitude[start:end] = envelope * (note.velocity / 127) * rng.uniform(0.8, 1.0)
    drift = np.interp(t, np.linspace(0, t[-1], 12), rng.normal(0, style.drift_cents / 100, 12))
    voiced = ~np.isnan(pitch)
    f0 = 440.0 * 2 ** ((np.where(voiced, pitch, 60.0) + drift - 69) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    out = np.zeros(length)
    for k in range(1, int(min(sr / 2, 5000) / f0.min()) + 1):
        freqs = k * f0
        gain = np.where(freqs < min(sr / 2, 5000), _formant_gain(freqs, style.vowel) / k, 0.0)
        out += gain * np.sin(k * phase)
    out *= amplitude
    rms = float(np.sqrt(np.mean(out[voiced] ** 2))) if voiced.any() else 1.0
    noise = rng.normal(0, 1, length)
    out += style.aspiration_level * 5 * rms * amplitude * noise
    # Breaths: soft band-limited noise bursts in the gaps longer than 0.15 s.
    smooth = np.convolve(noise, np.ones(8) / 8, mode="same")
    gaps = [(a.offset, b.onset) for a, b in zip(notes, notes[1:]) if b.onset - a.offset > 0.15]
    for gap_start, gap_end in gaps:
        start, end = int((gap_start + 0.03) * sr), int((gap_end - 0.03) * sr)
        if end > start:
            burst = np.hanning(end - start) * smooth[start:end] / smooth.std()
            out[start:end] += style.breath_level * 5 * rms * burst
    out /= max(np.abs(out).max(), 1e-9)
    return (0.8 * out).astype(np.float32)
