"""Melody inspection: one entry point from a user's audio or MIDI file to notes, tokens and statistics.

The `melody` CLI command, the `demo` command and the app's melody tab all call `inspect_melody`, then the
writers of `MelodyInspection` (MIDI, piano-roll PNG, preview WAV, token text, JSON).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..audio import SAMPLE_RATE, save_audio
from .load import MAX_AUDIO_SECONDS, load_melody
from .notes import MelodyError, Note, skyline, sort_notes, write_midi
from .pianoroll import melody_statistics, plot_piano_roll
from .tokenizer import notes_to_string
from .transcribe import TranscriptionConfig

REDUCTIONS = ("none", "skyline")


@dataclass
class MelodyInspection:
    """What `inspect_melody` found.

    Args:
        notes (`list[Note]`): the melody, sorted by onset, after `reduction` (the notes `tokens` encode).
        tokens (`str`): official-format token string (`<G4>,<114>,<79>|...`) of `notes`.
        statistics (`dict`): `melody_statistics(notes)`.
        source_kind (`str`): how it was read, one of `load.SOURCE_KINDS`: "audio" (transcribed with Basic Pitch),
            "voice" (`transcribe_voice`), "midi", "abc", "note-list", "tokens" or "notes".
        reduction (`str`): "none" or "skyline".
        name (`str`): a display name of the input.
        waveform (`np.ndarray` of shape `(samples,)`, *optional*): the input audio at `sample_rate`; None for MIDI.
        sample_rate (`int`): the rate of `waveform`.
        edits (`dict`): the shaping edits applied (`shape_melody` keyword arguments; empty: none).
    """

    notes: list[Note]
    tokens: str
    statistics: dict
    source_kind: str
    reduction: str = "none"
    name: str = "melody"
    waveform: np.ndarray | None = field(default=None, repr=False)
    sample_rate: int = SAMPLE_RATE
    edits: dict = field(default_factory=dict)

    def write_midi(self, path: str | os.PathLike, *, program: int = 0) -> str:
        """Write `notes` as a one-track MIDI file with GM `program`; returns the path."""
        write_midi(self.notes, path, program=program)
        return os.fspath(path)

    def write_piano_roll(self, path: str | os.PathLike, *, reference: list[Note] | None = None, **kwargs) -> str:
        """Save a piano-roll PNG (see `plot_piano_roll`, whose keyword arguments pass through); returns the path."""
        kwargs.setdefault("title", f"{self.name} ({self.source_kind}, {len(self.notes)} notes)")
        plot_piano_roll(self.notes, path, reference=reference, **kwargs)
        return os.fspath(path)

    def render_preview(self, *, program: int = 0, soundfont: str | None = None) -> np.ndarray:
        """Synthesize `notes` (FluidSynth where available, else sines); float32 `(samples,)` at `sample_rate`."""
        from .synth import render_notes

        if not self.notes:
            raise MelodyError(f"{self.name}: there are no notes to render")
        return render_notes(self.notes, self.sample_rate, program=program, soundfont=soundfont)

    def write_preview(self, path: str | os.PathLike, *, program: int = 0, soundfont: str | None = None) -> str:
        """Write the `render_preview` audio (WAV by extension); returns the path."""
        save_audio(path, self.render_preview(program=program, soundfont=soundfont), self.sample_rate)
        return os.fspath(path)

    def write_tokens(self, path: str | os.PathLike) -> str:
        """Write the token string and a newline; returns the path."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.tokens + "\n")
        return os.fspath(path)

    def to_dict(self) -> dict:
        """JSON-serialisable summary: name, source kind, reduction, statistics, tokens and notes."""
        return {
            "name": self.name,
            "source_kind": self.source_kind,
            "reduction": self.reduction,
            "statistics": self.statistics,
            "edits": self.edits,
            "tokens": self.tokens,
            "notes": [[round(n.onset, 4), round(n.offset, 4), n.pitch, n.velocity] for n in self.notes],
        }

    def write_json(self, path: str | os.PathLike) -> str:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
        return os.fspath(path)


def _display_name(source, allow_paths: bool = True) -> str:
    if isinstance(source, os.PathLike) or (isinstance(source, str) and allow_paths and os.path.isfile(source)):
        return os.path.basename(os.fspath(source))
    if isinstance(source, str):
        return "typed melody"
    if isinstance(source, np.ndarray):
        return "waveform"
    return f"<{len(source)} bytes>" if isinstance(source, (bytes, bytearray, memoryview)) else "melody"


def inspect_melody(
    source,
    *,
    config: TranscriptionConfig | None = None,
    reduction: str = "none",
    sr: int = SAMPLE_RATE,
    name: str | None = None,
    max_duration_s: float | None = MAX_AUDIO_SECONDS,
    voice: bool = False,
    allow_paths: bool = True,
    **edits,
) -> MelodyInspection:
    """Read a melody (`load_melody`: MIDI, audio, ABC, a note list, tokens), then tokenize and summarise it.

    Args:
        source: a path (`.wav`, `.flac`, `.mp3`, ..., `.mid`/`.midi` or `.abc`), the file's bytes, a mono waveform
            `np.ndarray` of shape `(samples,)` at `sr`, or typed notation. MIDI is recognised by extension or by its
            'MThd' header; any other file that is not `.abc` is treated as audio.
        config (`TranscriptionConfig`, *optional*): Basic Pitch thresholds and minimum note length (audio only).
        reduction (`str`): "none" keeps every note (chords are tokenized with negative rests, see
            `mmgen.melody.tokenizer`); "skyline" keeps only the highest sounding note.
        sr (`int`): sample rate of a waveform `source`.
        name (`str`, *optional*): display name; default: the file name.
        max_duration_s (`float`, *optional*): refuse longer audio (`AudioError`).
        voice (`bool`): audio is one hummed or sung voice (`transcribe_voice`).
        allow_paths (`bool`): False for typed text (never opened as a file).
        **edits: shaping keyword arguments of `load_melody` (`transpose_semitones`, `tempo`, `target_bpm`,
            `trim_s`, `fold`); applied before the reduction.
    Returns:
        `MelodyInspection`.
    Raises:
        `MelodyError`: unreadable MIDI, a MIDI file without notes, or audio in which no notes were found.
        `AudioError`: unreadable, empty, non-finite or too long audio.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    name = name or _display_name(source, allow_paths)
    loaded = load_melody(
        source, name, voice=voice, config=config, sr=sr, allow_paths=allow_paths,
        max_audio_seconds=max_duration_s or None, **edits,
    )  # fmt: skip
    notes, kind, waveform = loaded.notes, loaded.source_kind, loaded.waveform
    notes = skyline(notes) if reduction == "skyline" else sort_notes(notes)
    return MelodyInspection(
        notes=notes,
        tokens=notes_to_string(notes),
        statistics=melody_statistics(notes),
        source_kind=kind,
        reduction=reduction,
        name=name,
        waveform=waveform,
        sample_rate=SAMPLE_RATE,
        edits=loaded.edits,
    )


def note_scores(reference: list[Note], estimate: list[Note], *, onset_tolerance: float = 0.05) -> dict:
    """mir_eval note precision / recall / F1 of `estimate` against `reference`, without and with offsets.

    Onsets must match within `onset_tolerance` seconds and pitches within 50 cents; with offsets, the offset must
    also match within 20% of the reference note's duration or 50 ms, whichever is larger (mir_eval's defaults).
    Returns:
        `dict` with `precision`, `recall`, `f1` (onsets) and `precision_offset`, `recall_offset`, `f1_offset`.
    """
    import mir_eval

    def arrays(notes):
        notes = [n for n in notes if n.offset > n.onset]
        intervals = np.array([[n.onset, n.offset] for n in notes], dtype=float).reshape(-1, 2)
        hertz = np.array([440.0 * 2 ** ((n.pitch - 69) / 12) for n in notes], dtype=float)
        return intervals, hertz

    ref_intervals, ref_hz = arrays(reference)
    est_intervals, est_hz = arrays(estimate)
    scores = {}
    for suffix, offset_ratio in (("", None), ("_offset", 0.2)):
        precision, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
            ref_intervals, ref_hz, est_intervals, est_hz, onset_tolerance=onset_tolerance, offset_ratio=offset_ratio
        )
        scores.update({f"precision{suffix}": precision, f"recall{suffix}": recall, f"f1{suffix}": f1})
    return {key: float(value) for key, value in scores.items()}
