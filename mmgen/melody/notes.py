"""Note events: the common currency of transcription, tokenization, MIDI files and previews."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass


class MelodyError(ValueError):
    """Raised for a melody that cannot be used: unreadable MIDI, no notes, malformed token string."""


@dataclass(frozen=True, order=True)
class Note:
    """One note event; times in seconds. Ordered by onset, then pitch."""

    onset: float
    offset: float
    pitch: int
    velocity: int = 100

    @property
    def duration(self) -> float:
        return self.offset - self.onset


def sort_notes(notes: Iterable[Note]) -> list[Note]:
    """Sort by onset; simultaneous notes highest pitch first (so the skyline note leads a chord)."""
    return sorted(notes, key=lambda n: (round(n.onset, 6), -n.pitch, n.offset))


def skyline(notes: Iterable[Note]) -> list[Note]:
    """Monophonic reduction: at any time keep only the highest sounding note.

    A note is dropped if it starts while a higher note sounds; a lower note sounding when a new, higher note
    starts is cut at that onset. Notes of zero length after cutting are dropped.
    """
    result: list[Note] = []
    for note in sort_notes(notes):
        if result and note.onset < result[-1].offset:
            last = result[-1]
            if note.pitch <= last.pitch:
                continue
            if note.onset - last.onset > 1e-6:
                result[-1] = Note(last.onset, note.onset, last.pitch, last.velocity)
            else:
                result.pop()
        result.append(note)
    return result


def read_midi(source: str | os.PathLike | bytes, *, include_drums: bool = False) -> list[Note]:
    """Read the notes of every (non-drum) instrument of a MIDI file, sorted by onset.

    Raises:
        MelodyError: the file is missing, not a MIDI file, or holds no notes.
    """
    import pretty_midi

    name = f"'{os.fspath(source)}'" if isinstance(source, (str, os.PathLike)) else "<MIDI bytes>"
    try:
        data = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else os.fspath(source)
        midi = pretty_midi.PrettyMIDI(data)
    except FileNotFoundError as err:
        raise MelodyError(f"{name}: no such file") from err
    except Exception as err:  # mido raises OSError / EOFError / KeyError / ValueError for broken files
        raise MelodyError(f"{name}: could not read MIDI ({type(err).__name__}: {err})") from err
    notes = [
        Note(float(n.start), float(n.end), int(n.pitch), int(n.velocity))
        for inst in midi.instruments
        if include_drums or not inst.is_drum
        for n in inst.notes
        if n.end > n.start
    ]
    if not notes:
        raise MelodyError(f"{name}: the MIDI file contains no (non-drum) notes")
    return sort_notes(notes)


def notes_to_midi(notes: Iterable[Note], *, program: int = 0, tempo: float = 120.0):
    """Build a `pretty_midi.PrettyMIDI` with one instrument holding `notes`."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    instrument = pretty_midi.Instrument(program=program)
    for n in notes:
        instrument.notes.append(pretty_midi.Note(int(n.velocity), int(n.pitch), n.onset, n.offset))
    midi.instruments.append(instrument)
    return midi


def write_midi(notes: Iterable[Note], path: str | os.PathLike, *, program: int = 0) -> None:
    """Write `notes` as a single-track MIDI file."""
    notes_to_midi(notes, program=program).write(os.fspath(path))


def pitch_name(pitch: int) -> str:
    """MIDI number to the name used in melody tokens (60 -> 'C4', 61 -> 'C#4', 0 -> 'C-1')."""
    names = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    return f"{names[pitch % 12]}{pitch // 12 - 1}"
