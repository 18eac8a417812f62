"""Melody: note events, MIDI I/O, Basic Pitch transcription, official-format tokens, piano rolls, previews, typed
notation, shaping edits and the one loader of any melody input (`load_melody`).

Names are imported lazily (PEP 562), so that `from mmgen.melody import Note` does not load transformers (the
tokenizer's base class) or Basic Pitch: the CLI and the app import this package to build their parsers and forms.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "MelodyError": ".notes",
    "Note": ".notes",
    "read_midi": ".notes",
    "skyline": ".notes",
    "sort_notes": ".notes",
    "write_midi": ".notes",
    "MelodyTokenizer": ".tokenizer",
    "bin_to_time": ".tokenizer",
    "notes_to_string": ".tokenizer",
    "string_to_notes": ".tokenizer",
    "time_to_bin": ".tokenizer",
    "crop_melody": ".windows",
    "melody_windows": ".windows",
    "MIDI_EXTENSIONS": ".load",
    "LoadedMelody": ".load",
    "load_melody": ".load",
    "parse_abc": ".notation",
    "parse_note_list": ".notation",
    "shape_melody": ".shaping",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
