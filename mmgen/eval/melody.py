"""Melody adherence: chroma cosine similarity (as MusicGen reports it) and Basic Pitch note-F1.

`chroma_cosine` compares the chroma of the generated audio with a chroma built directly from the conditioning
notes (each frame: the pitch classes sounding at its centre), or with the chroma of a reference recording.
The generated audio's chroma is argmax-quantised by default (one-hot dominant pitch class per frame, as
MusicGen's chroma conditioner does): a sine rendering of the melody itself scores near 1, one transposed by a few
semitones near 0. The argmax follows the strongest harmonic, not necessarily the fundamental, so the score does
depend on timbre and register: an instrument whose 3rd partial (the fifth) or 5th partial (the major third)
outweighs its fundamental and octaves loses those frames even when it plays exactly the right notes (a GM clarinet
scores near chance). `benchmarks/results/adherence_ceilings.json` measures this ceiling per instrument
(`benchmarks/adherence_ceilings.py`). For the papers' own definitions see `mmgen.eval.adherence`.
"""

# Adapted from audiocraft/audiocraft/modules/chroma.py and audiocraft/metrics/chroma_cosinesim.py (the idea:
# per-frame cosine of argmax chroma), computed here with librosa and with a note-built reference.

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..melody.notes import Note

CHROMA_N_FFT = 4096
CHROMA_HOP_LENGTH = 1024  # about 21.5 frames per second at 22,050 Hz


class MelodyMetricError(ValueError):
    """Inputs to a melody metric that cannot be compared."""


def audio_chroma(waveform: np.ndarray, sr: int, *, argmax: bool = True) -> np.ndarray:
    """Chroma `(12, frames)` of a mono waveform (librosa STFT chroma, frames centred every 1024 samples).

    Silent frames are all zero. With `argmax`, every other frame is one-hot on its strongest pitch class.
    """
    import librosa

    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1 or waveform.size == 0:
        raise MelodyMetricError(f"expected a non-empty mono waveform (samples,), got shape {waveform.shape}")
    power = np.abs(librosa.stft(waveform, n_fft=CHROMA_N_FFT, hop_length=CHROMA_HOP_LENGTH)) ** 2
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, n_fft=CHROMA_N_FFT, norm=None, tuning=0.0)
    frame_energy = power.sum(axis=0)
    silent = frame_energy <= max(frame_energy.max(), 1e-12) * 1e-4
    chroma[:, silent] = 0.0
    if argmax:
        onehot = np.zeros_like(chroma)
        onehot[chroma.argmax(axis=0), np.arange(chroma.shape[1])] = 1.0
        onehot[:, silent] = 0.0
        chroma = onehot
    return chroma


def notes_chroma(notes: Sequence[Note], num_frames: int, sr: int) -> np.ndarray:
    """Chroma `(12, num_frames)` of notes on `audio_chroma`'s frame grid: 1 where a pitch class sounds."""
    times = np.arange(num_frames) * CHROMA_HOP_LENGTH / sr
    chroma = np.zeros((12, num_frames))
    for note in notes:
        active = (times >= note.onset) & (times < note.offset)
        chroma[note.pitch % 12, active] = 1.0
    return chroma


def chroma_cosine(
    generated: np.ndarray, reference: Sequence[Note] | np.ndarray, sr: int, *, argmax: bool = True
) -> float:
    """Mean per-frame cosine between the generated audio's chroma and the reference's.

    Args:
        generated (`np.ndarray` of shape `(samples,)`): the generated audio.
        reference (`list[Note]` or `np.ndarray` of shape `(samples,)`): the conditioning notes (chroma built
            from them) or a reference recording (its chroma, argmax-quantised like the generated one).
        sr (`int`): sample rate of the waveforms.
        argmax (`bool`, *optional*, defaults to `True`): quantise audio chroma to the dominant pitch class.

    Returns:
        `float` in [0, 1], averaged over the frames where the reference sounds (generated frames that are
        silent there count as 0). Frames past the shorter of the two are ignored.
    """
    gen = audio_chroma(generated, sr, argmax=argmax)
    if isinstance(reference, np.ndarray):
        ref = audio_chroma(reference, sr, argmax=argmax)
    else:
        notes = list(reference)
        if not notes:
            raise MelodyMetricError("chroma_cosine needs at least one reference note")
        ref = notes_chroma(notes, gen.shape[1], sr)
    frames = min(gen.shape[1], ref.shape[1])
    gen, ref = gen[:, :frames], ref[:, :frames]
    active = ref.sum(axis=0) > 0
    if not active.any():
        raise MelodyMetricError("the reference has no sounding frame inside the generated audio's duration")
    gen, ref = gen[:, active], ref[:, active]
    norms = np.linalg.norm(gen, axis=0) * np.linalg.norm(ref, axis=0)
    cosine = np.where(norms > 0, (gen * ref).sum(axis=0) / np.maximum(norms, 1e-12), 0.0)
    return float(cosine.mean())


def _intervals_pitches(notes: Sequence[Note]) -> tuple[np.ndarray, np.ndarray]:
    intervals = np.array([[n.onset, max(n.offset, n.onset + 1e-3)] for n in notes], dtype=float).reshape(-1, 2)
    pitches = 440.0 * 2.0 ** ((np.array([n.pitch for n in notes], dtype=float) - 69.0) / 12.0)
    return intervals, pitches


def note_f1(reference: Sequence[Note], estimate: Sequence[Note], *, onset_tolerance: float = 0.05) -> dict:
    """Onset-only note precision/recall/F1 (mir_eval; pitch within 50 cents, onset within `onset_tolerance`)."""
    import mir_eval

    if not reference:
        raise MelodyMetricError("note F1 needs at least one reference note")
    if not estimate:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    ref_intervals, ref_pitches = _intervals_pitches(reference)
    est_intervals, est_pitches = _intervals_pitches(estimate)
    precision, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_intervals, ref_pitches, est_intervals, est_pitches, onset_tolerance=onset_tolerance, offset_ratio=None
    )
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def melody_note_f1(generated: np.ndarray, notes: Sequence[Note], sr: int, *, onset_tolerance: float = 0.05) -> dict:
    """Transcribe the generated audio with Basic Pitch and score its notes against the conditioning `notes`.

    Returns:
        `dict` with `precision`, `recall`, `f1` (onset-only matching, offsets ignored) and `num_estimated`.
    """
    from ..melody.transcribe import extract_notes

    estimate = extract_notes(np.asarray(generated, dtype=np.float32), sr)
    scores = note_f1(list(notes), estimate, onset_tolerance=onset_tolerance)
    scores["num_estimated"] = len(estimate)
    return scores
