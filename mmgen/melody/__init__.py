"""Melody: note events, MIDI I/O, Basic Pitch transcription, official-format tokens, piano rolls, previews, typed
notation, shaping edits and the one loader of any melody input (`load_melody`).

Names are imported lazily (PEP 562), so that `from mmgen.melody import Note` does not load transformers (the
tokenizer's base class) or Basic Pitch: the CLI and the app import this package to build their parsers and forms.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "MelodyError": "notes",
    "Note": "notes",
    "read_midi": "notes",
    "skyline": "notes",
    "sort_notes": "notes",
    "write_midi": "notes",
    "MelodyTokenizer": "tokenizer",
    "bin_to_time": "tokenizer",
    "notes_to_string": "tokenizer",
    "string_to_notes": "tokenizer",
    "time_to_bin": "tokenizer",
    "crop_melody": "windows",
    "melody_windows": "windows",
    "MIDI_EXTENSIONS": "load",
    "LoadedMelody": "load",
    "load_melody": "load",
    "parse_abc": "notation",
    "parse_note_list": "notation",
    "shape_melody": "shaping",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
