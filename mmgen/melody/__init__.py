"""Melody: note events, MIDI I/O, Basic Pitch transcription, official-format tokens, piano rolls, previews."""

from .notes import MelodyError, Note, read_midi, skyline, sort_notes, write_midi
from .tokenizer import MelodyTokenizer, bin_to_time, notes_to_string, string_to_notes, time_to_bin
from .windows import crop_melody, melody_windows

__all__ = [
    "MelodyError",
    "MelodyTokenizer",
    "Note",
    "bin_to_time",
    "crop_melody",
    "melody_windows",
    "notes_to_string",
    "read_midi",
    "skyline",
    "sort_notes",
    "string_to_notes",
    "time_to_bin",
    "write_midi",
]
