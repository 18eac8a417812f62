"""Shaping a melody before generating: trim, tempo, transpose, octave-fold. Pure functions on `Note` lists.

`shape_melody` applies them in a fixed order (trim in the melody's own time, then tempo, transposition and the
octave fold) and returns the edits it applied as a dict of its own keyword arguments, so that
`shape_melody(original, **edits)` reproduces the result (the app and the CLI record that dict with each clip).
"""

from __future__ import annotations

from collections.abc import Sequence

from .notes import MelodyError, Note, pitch_name, sort_notes
from .sketch import SKETCH_MAX_PITCH, SKETCH_MIN_PITCH

# The pitches the model can be given: the melody sketch renders MIDI 21..108 (A0..C8, `check_sketch_pitches`).
PLAYABLE_RANGE = (SKETCH_MIN_PITCH, SKETCH_MAX_PITCH)
# The middle 98% of the melody notes the default model was trained on (1st and 99th percentiles of the MusicSet
# small train split, benchmarks/results/melody_range.json): the default target of `fold_octaves`.
TRAINED_RANGE = (41, 96)
MAX_TRANSPOSE = 48
TEMPO_FACTOR_RANGE = (0.25, 4.0)
MIN_NOTE_S = 0.02  # notes cut shorter than this by a trim are dropped


def _describe(note: Note) -> str:
    return f"{pitch_name(note.pitch)} (MIDI {note.pitch}) at {note.onset:.2f} s"


def transpose(notes: Sequence[Note], semitones: int, *, pitch_range: tuple[int, int] = PLAYABLE_RANGE) -> list[Note]:
    """Shift every pitch by `semitones`.

    Raises:
        `MelodyError` when a note would leave `pitch_range` (inclusive MIDI numbers), naming the first such note
        and the largest shift in that direction that fits.
    """
    if int(semitones) != semitones or abs(semitones) > MAX_TRANSPOSE:
        raise MelodyError(f"transpose must be a whole number of semitones within ±{MAX_TRANSPOSE}, got {semitones}.")
    semitones = int(semitones)
    if not notes or semitones == 0:
        return list(notes)
    low, high = pitch_range
    for note in notes:
        if not low <= note.pitch + semitones <= high:
            room = (high - max(n.pitch for n in notes)) if semitones > 0 else (low - min(n.pitch for n in notes))
            raise MelodyError(
                f"transposing by {semitones:+d} moves {_describe(note)} to MIDI {note.pitch + semitones}, outside the "
                f"playable range {pitch_name(low)}..{pitch_name(high)} (MIDI {low}..{high}); transpose by at most "
                f"{room:+d} this way, or fold the melody into the model's range by octaves."
            )
    return [Note(n.onset, n.offset, n.pitch + semitones, n.velocity) for n in notes]


def change_tempo(notes: Sequence[Note], factor: float) -> list[Note]:
    """Play `factor` times as fast: every time divided by `factor` (2.0 halves the durations)."""
    low, high = TEMPO_FACTOR_RANGE
    if not low <= factor <= high:
        raise MelodyError(f"the tempo factor must be between {low:g} and {high:g}, got {factor:g}.")
    return [Note(n.onset / factor, n.offset / factor, n.pitch, n.velocity) for n in notes]


def trim(notes: Sequence[Note], start_s: float, end_s: float | None = None) -> list[Note]:
    """Keep the notes sounding in [start_s, end_s) seconds, cut at its edges and moved so that `start_s` becomes 0.

    Raises:
        `MelodyError` for an empty or negative range, or when no note sounds inside it.
    """
    if start_s < 0 or (end_s is not None and end_s <= start_s):
        raise MelodyError(f"cannot trim to {start_s:g}-{end_s} s: give 0 <= start < end.")
    end = float("inf") if end_s is None else end_s
    kept = []
    for n in notes:
        onset, offset = max(n.onset, start_s), min(n.offset, end)
        if offset - onset >= MIN_NOTE_S:
            kept.append(Note(onset - start_s, offset - start_s, n.pitch, n.velocity))
    if not kept:
        last = max((n.offset for n in notes), default=0.0)
        raise MelodyError(f"no note sounds between {start_s:g} and {end_s} s (the melody ends at {last:.2f} s).")
    return kept


def fold_octaves(notes: Sequence[Note], pitch_range: tuple[int, int] = TRAINED_RANGE) -> list[Note]:
    """Move each note outside `pitch_range` (inclusive) by whole octaves to the nearest pitch inside it.

    Notes already inside stay where they are, so a melody inside the range is returned unchanged.
    """
    low, high = pitch_range
    if high - low < 11:
        raise MelodyError(f"an octave fold needs a range of at least 12 pitches, got MIDI {low}..{high}.")
    folded = []
    for n in notes:
        pitch = n.pitch
        while pitch < low:
            pitch += 12
        while pitch > high:
            pitch -= 12
        folded.append(Note(n.onset, n.offset, pitch, n.velocity))
    return folded


def shape_melody(
    notes: Sequence[Note],
    *,
    trim_s: tuple[float, float | None] | None = None,
    tempo: float | None = None,
    transpose_semitones: int = 0,
    fold: tuple[int, int] | None = None,
) -> tuple[list[Note], dict]:
    """Apply the shaping edits in order: trim, tempo, transposition, octave fold.

    Args:
        notes (`list[Note]`): the melody, times in seconds.
        trim_s (`(start, end)`, *optional*): seconds of the original melody to keep (`end` None: to its end).
        tempo (`float`, *optional*): speed factor (2.0 = twice as fast); see `tempo_factor` for a target BPM.
        transpose_semitones (`int`): pitch shift; refused when a note leaves the playable range (MIDI 21..108).
        fold (`(low, high)`, *optional*): octave-fold into this MIDI range (`TRAINED_RANGE`: the model's).
    Returns:
        `(notes, edits)`: the shaped notes (sorted) and the edits applied, as keyword arguments of this function
        (JSON-friendly lists; empty when no edit was asked for).
    """
    edits: dict = {}
    notes = sort_notes(notes)
    if trim_s is not None:
        start, end = trim_s
        notes = trim(notes, float(start), None if end is None else float(end))
        edits["trim_s"] = [float(start), None if end is None else float(end)]
    if tempo is not None and abs(tempo - 1.0) > 1e-9:
        notes = change_tempo(notes, float(tempo))
        edits["tempo"] = float(tempo)
    if transpose_semitones:
        notes = transpose(notes, transpose_semitones)
        edits["transpose_semitones"] = int(transpose_semitones)
    if fold is not None:
        notes = fold_octaves(notes, tuple(fold))
        edits["fold"] = [int(fold[0]), int(fold[1])]
    return sort_notes(notes), edits


def tempo_factor(target_bpm: float, source_bpm: float | None) -> float:
    """The `tempo` factor that plays a melody of `source_bpm` at `target_bpm`; `MelodyError` if the source tempo is
    unknown (for recordings and MIDI without a tempo estimate: give a factor instead)."""
    if source_bpm is None:
        raise MelodyError("the melody's tempo is unknown, so a target BPM cannot be reached; give a tempo factor.")
    if target_bpm <= 0:
        raise MelodyError(f"the target tempo must be positive, got {target_bpm:g} BPM.")
    return float(target_bpm) / float(source_bpm)
