"""The melody sketch: a melody's notes rendered with one fixed, harmonic-rich timbre, as a log-mel.

The frame-aligned melody condition of the diffusion model (`MMGenPipeline.prepare_melody_latents`,
`train/diffusion.py`) is this log-mel passed through the pipeline's own VAE encoder: a latent of the same shape
as the noisy one, so that each pitch lands where the VAE puts it and the UNet's job becomes local (ARCHITECTURE.md,
"Frame-aligned melody"). The timbre never changes, so the sketch carries pitch and timing only, never instrument
or dynamics (those come from the prompt): every note has the same loudness whatever its velocity.

    notes ──► render_sketch (additive synth, harmonics 1..8 at 1/k) ──► log-mel (80, frames) ──► VAE encoder

The alternative measured against it (issue 20, JASCO's salience -> linear): `piano_roll` on the latent's time grid,
mapped onto the extra channels by a learned projection (`mmgen.models.melody_encoder.PianoRollEncoder`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..audio import HOP_LENGTH, SAMPLE_RATE, log_mel_spectrogram
from .notes import MelodyError, Note

SKETCH_HARMONICS = 8  # partials 1..8 with amplitude 1/k: a bright, stable timbre whose pitch the log-mel shows
SKETCH_NOTE_PEAK = 0.25  # amplitude of one note's fundamental; a chord sums, the whole sketch is limited to 0.95
SKETCH_ATTACK_S = 0.01
SKETCH_RELEASE_S = 0.03
# The pitches the sketch renders: the piano's range. Below A0 the fundamental falls between the lowest mel bins;
# above C8 (4.2 kHz) the harmonics leave the 8 kHz log-mel band and the VAE was trained on nothing there.
SKETCH_MIN_PITCH = 21
SKETCH_MAX_PITCH = 108


@dataclass(frozen=True)
class SketchTimbre:
    """How the sketch's notes sound: partials 1..`num_harmonics` (odd ones only with `odd_only`) at amplitude
    `1 / k ** rolloff`, each note decaying by `decay_per_s` (1/e per `1 / decay_per_s` seconds; 0 = sustained).

    The pipeline renders with `SKETCH_TIMBRE` only. Training may draw a new timbre per crop (`random_sketch_timbre`,
    `train/diffusion.py --sketch_timbre varied`), so that the model learns pitch and timing from the sketch and not
    its sound, and melody guidance amplifies the notes rather than the sketch's timbre.
    """

    num_harmonics: int = SKETCH_HARMONICS
    rolloff: float = 1.0
    odd_only: bool = False
    decay_per_s: float = 0.0


SKETCH_TIMBRE = SketchTimbre()


def random_sketch_timbre(rng: np.random.Generator) -> SketchTimbre:
    """A timbre drawn from a family around `SKETCH_TIMBRE`: 1-12 partials, roll-off 0.5-2 (bright to mellow), odd
    partials only one time in four (clarinet-like), a plucked decay one time in three."""
    return SketchTimbre(
        num_harmonics=int(rng.integers(1, 13)),
        rolloff=float(rng.uniform(0.5, 2.0)),
        odd_only=bool(rng.random() < 0.25),
        decay_per_s=float(rng.uniform(1.0, 6.0)) if rng.random() < 1 / 3 else 0.0,
    )


def midi_to_hz(pitch: np.ndarray | float) -> np.ndarray:
    """MIDI pitch -> frequency in Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def check_sketch_pitches(notes: Iterable[Note], name: str = "melody") -> None:
    """Raise `MelodyError` naming the first note the sketch cannot render (outside A0..C8, MIDI 21..108)."""
    for note in notes:
        if not SKETCH_MIN_PITCH <= note.pitch <= SKETCH_MAX_PITCH:
            raise MelodyError(
                f"{name}: note {note.pitch} at {note.onset:.2f} s is outside the range the melody sketch renders "
                f"(MIDI {SKETCH_MIN_PITCH}..{SKETCH_MAX_PITCH}, A0..C8); transpose it by octaves."
            )


def render_sketch(
    notes: Iterable[Note], num_samples: int, sr: int = SAMPLE_RATE, timbre: SketchTimbre = SKETCH_TIMBRE
) -> np.ndarray:
    """Render notes with the sketch timbre (`timbre`: the pipeline's fixed one unless training varies it).

    Notes outside the renderable range are skipped (training data may hold a stray transcription; the pipeline
    refuses them first with `check_sketch_pitches`); notes past `num_samples` are cut.

    Args:
        notes: the melody, times in seconds from the start of the output.
        num_samples (`int`): length of the output.
    Returns:
        `np.ndarray` of shape `(num_samples,)`, float32, peak at most 0.95.
    """
    out = np.zeros(num_samples, dtype=np.float64)
    attack, release = int(SKETCH_ATTACK_S * sr), int(SKETCH_RELEASE_S * sr)
    harmonics = np.arange(1, timbre.num_harmonics + 1, dtype=np.float64)
    if timbre.odd_only:
        harmonics = harmonics[harmonics % 2 == 1]
    for note in notes:
        if not SKETCH_MIN_PITCH <= note.pitch <= SKETCH_MAX_PITCH:
            continue
        start = max(0, int(round(note.onset * sr)))
        stop = min(num_samples, int(round(note.offset * sr)))
        if stop - start < 2:
            continue
        f0 = float(midi_to_hz(note.pitch))
        partials = harmonics[harmonics * f0 < sr / 2]
        t = np.arange(stop - start, dtype=np.float64) / sr
        tone = (np.sin(2 * np.pi * f0 * np.outer(partials, t)) / partials[:, None] ** timbre.rolloff).sum(0)
        envelope = np.exp(-timbre.decay_per_s * t)
        ramp_in, ramp_out = min(attack, len(t) // 2), min(release, len(t) // 2)
        envelope[:ramp_in] *= np.linspace(0.0, 1.0, ramp_in, endpoint=False)
        if ramp_out:
            envelope[-ramp_out:] *= np.linspace(1.0, 0.0, ramp_out)
        out[start:stop] += SKETCH_NOTE_PEAK * tone * envelope
    peak = float(np.abs(out).max()) if num_samples else 0.0
    if peak > 0.95:  # a dense chord: scale the whole sketch, the relative levels stay
        out *= 0.95 / peak
    return out.astype(np.float32)


def sketch_log_mel(notes: Sequence[Note], num_frames: int, timbre: SketchTimbre = SKETCH_TIMBRE) -> np.ndarray:
    """The melody sketch as a natural-log mel of shape `(80, num_frames)` (`mmgen.audio` front end)."""
    waveform = render_sketch(notes, num_frames * HOP_LENGTH, timbre=timbre)
    return log_mel_spectrogram(waveform)[:, :num_frames]


def fit_to_length(notes: Sequence[Note], duration_s: float, repeat: bool = True) -> list[Note]:
    """A melody placed from t = 0 and cut or repeated to `duration_s`.

    The first note is moved to t = 0. A melody shorter than `duration_s` is repeated end to end (its period is the
    last offset) when `repeat`; notes are cut at `duration_s`, and notes left shorter than 30 ms dropped.

    Raises:
        MelodyError: no note starts inside `duration_s`.
    """
    if not notes:
        raise MelodyError("the melody has no notes.")
    first = min(n.onset for n in notes)
    shifted = [Note(n.onset - first, n.offset - first, n.pitch, n.velocity) for n in notes]
    period = max(n.offset for n in shifted)
    copies = max(1, int(np.ceil(duration_s / period))) if repeat and period > 0 else 1
    out = []
    for copy in range(copies):
        for n in shifted:
            onset, offset = n.onset + copy * period, min(n.offset + copy * period, duration_s)
            if onset < duration_s and offset - onset >= 0.03:
                out.append(Note(onset, offset, n.pitch, n.velocity))
    if not out:
        raise MelodyError(f"the melody has no note inside the requested {duration_s:.2f} s.")
    return out


def notes_in_span(notes: Iterable[Note], start_s: float, stop_s: float) -> list[Note]:
    """The notes sounding in `[start_s, stop_s)`, cut to it and shifted so that `start_s` is t = 0 (the melody of one
    window of a long piece)."""
    out = []
    for n in notes:
        onset, offset = max(n.onset, start_s), min(n.offset, stop_s)
        if offset > onset:
            out.append(Note(onset - start_s, offset - start_s, n.pitch, n.velocity))
    return out


def piano_roll(notes: Iterable[Note], num_frames: int, frame_seconds: float) -> np.ndarray:
    """The notes as a piano roll on a frame grid (frame k spans `[k, k + 1) * frame_seconds`).

    Each cell holds the share of the frame the pitch sounds in (0..1; overlapping notes of one pitch take the
    maximum). Notes outside MIDI 21..108 are skipped, as `render_sketch` does.

    Returns:
        `np.ndarray` of shape `(88, num_frames)`, float32; row 0 is MIDI 21 (A0).
    """
    roll = np.zeros((SKETCH_MAX_PITCH - SKETCH_MIN_PITCH + 1, num_frames), dtype=np.float32)
    starts = np.arange(num_frames) * frame_seconds
    for note in notes:
        if not SKETCH_MIN_PITCH <= note.pitch <= SKETCH_MAX_PITCH:
            continue
        covered = np.clip(np.minimum(starts + frame_seconds, note.offset) - np.maximum(starts, note.onset), 0.0, None)
        row = roll[note.pitch - SKETCH_MIN_PITCH]
        np.maximum(row, (covered / frame_seconds).astype(np.float32), out=row)
    return roll
