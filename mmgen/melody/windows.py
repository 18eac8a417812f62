"""Cutting melody token strings in time: the crop a training clip sees, and the windows a clip is embedded in.

The aligner's towers are trained on `audio_clip_seconds` crops (5 s by default); a longer clip is embedded window by
window and the window embeddings are averaged, for audio (`TriModalAligner.embed_audio`) and for melodies alike
(`TriModalAligner.embed_melody`), so that both sides of a comparison cover the same stretches of music.
"""

from __future__ import annotations

import math

from .notes import Note
from .tokenizer import notes_to_string, string_to_notes

MIN_NOTE_S = 0.03  # a note cut by the crop to less than this is dropped


def crop_melody(melody: str, start_s: float, duration_s: float, min_note_s: float = MIN_NOTE_S) -> str:
    """Tokens of the notes of `melody` that sound inside [start_s, start_s + duration_s), in crop time.

    Notes that straddle a crop edge are cut to it; notes left shorter than `min_note_s` are dropped.

    Args:
        melody (`str`): official token string (times from the start of the clip).
        start_s (`float`): crop start in the clip, seconds. duration_s (`float`): crop length, seconds.
    Returns:
        `str`, the token string of the kept notes (times from the start of the crop; "" if none).
    """
    if not melody:
        return ""
    return _crop_notes(string_to_notes(melody), start_s, duration_s, min_note_s)


def _crop_notes(notes: list[Note], start_s: float, duration_s: float, min_note_s: float = MIN_NOTE_S) -> str:
    end_s = start_s + duration_s
    kept = []
    for note in notes:
        onset, offset = max(note.onset, start_s), min(note.offset, end_s)
        if offset - onset >= min_note_s:
            kept.append(Note(onset - start_s, offset - start_s, note.pitch, note.velocity))
    return notes_to_string(kept)


def melody_windows(melody: str, window_s: float) -> list[str]:
    """Consecutive `window_s` windows of a melody, as token strings (the windows `embed_melody` averages).

    Windows start every `window_s` seconds from 0 while at least half a window of the melody is left (so a 10 s
    clip whose last note rings to 10.02 s gives two 5 s windows, not a third sliver); windows without notes are
    left out; a melody without notes, or one shorter than a window, is returned whole.

    Args:
        melody (`str`): official token string. window_s (`float`): window length in seconds (> 0).
    Returns:
        `list[str]`, at least one token string.
    """
    if window_s <= 0:
        raise ValueError(f"window_s must be positive, got {window_s}")
    notes = string_to_notes(melody) if melody else []
    end_s = max((note.offset for note in notes), default=0.0)
    count = max(1, math.ceil((end_s - window_s / 2) / window_s))
    if count == 1:
        return [melody]
    windows = [_crop_notes(notes, i * window_s, window_s) for i in range(count)]
    return [w for w in windows if w] or [melody]
