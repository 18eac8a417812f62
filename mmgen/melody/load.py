"""One way from any melody input to notes: `load_melody`.

The pipeline's `melody=`, the `generate` and `melody` commands and the Space all call it. It accepts

| input | read as |
|---|---|
| `list[Note]` | the notes themselves |
| an official token string `"<G4>,<114>,<79>\\|..."` | `string_to_notes` |
| ABC notation (`"X:1\\nK:G\\nGABc d2 e2\\|..."`, or a `.abc` file) | `parse_abc` (music21) |
| a note list (`"bpm=100 C4 D4 E4/2 ..."`; tokens, ABC or a note list also from a `.txt` file) | `parse_note_list` |
| a MIDI file (path or bytes; by extension or by its 'MThd' header) | `read_midi` |
| audio (path, bytes, or a mono waveform at `sr`) | Basic Pitch; `transcribe_voice` with `voice=True` |

then applies the shaping edits (`shape_melody`: trim, tempo, transpose, octave fold) and returns a `LoadedMelody`,
which unpacks as `(tokens, notes)` like the pipeline's former `melody_to_tokens`. With `allow_paths=False` (text
typed into the Space) a string is only ever read as notation, never opened as a file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..audio import SAMPLE_RATE, load_audio, resample, to_mono, validate_waveform
from ..limits import (
    MAX_FILE_BYTES,
    MAX_INPUT_PEAK,
    MAX_INPUT_SECONDS,
    MAX_MELODY_NOTES,
    MAX_MIDI_BYTES,
    MIN_INPUT_SECONDS,
)
from .notation import check_melody_bounds, check_notes, check_text_size, looks_like_abc, looks_like_note_list
from .notes import MelodyError, Note, read_midi, sort_notes

MIDI_EXTENSIONS = (".mid", ".midi", ".kar", ".smf")
MIDI_HEADER = b"MThd"
ABC_EXTENSIONS = (".abc",)
TEXT_EXTENSIONS = (".txt",)  # a typed melody saved to a file: tokens, ABC or a note list, told apart by content
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".m4a", ".webm")
MAX_AUDIO_SECONDS = MAX_INPUT_SECONDS  # audio to transcribe (a voice recording: `voice.MAX_VOICE_SECONDS`)
SOURCE_KINDS = ("notes", "tokens", "abc", "note-list", "midi", "audio", "voice")


@dataclass
class LoadedMelody:
    """A melody read by `load_melody`. Unpacks as `(tokens, notes)`.

    Args:
        tokens (`str`): official token string of `notes`.
        notes (`list[Note]`): the melody after the edits, sorted by onset, times in seconds.
        source_kind (`str`): one of `SOURCE_KINDS`.
        name (`str`): display name used in messages.
        bpm (`float`, *optional*): the tempo written in notation (ABC `Q:`, note list `bpm=`) or estimated from the
            notes (`estimate_tempo`), after a tempo edit; None when it cannot be estimated.
        edits (`dict`): the shaping edits applied, as keyword arguments of `shape_melody` (empty: none).
        original_notes (`list[Note]`): the notes before the edits.
        waveform (`np.ndarray` of shape `(samples,)`, *optional*): the transcribed audio at 22,050 Hz.
    """

    tokens: str
    notes: list[Note]
    source_kind: str
    name: str = "melody"
    bpm: float | None = None
    edits: dict = field(default_factory=dict)
    original_notes: list[Note] = field(default_factory=list, repr=False)
    waveform: np.ndarray | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator:
        return iter((self.tokens, self.notes))


def is_midi(source) -> bool:
    """True for a MIDI file: by extension for paths, by the 'MThd' header for bytes and other paths."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:4]) == MIDI_HEADER
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path.lower().endswith(MIDI_EXTENSIONS):
            return True
        try:
            with open(path, "rb") as f:
                return f.read(4) == MIDI_HEADER
        except OSError:
            return False  # a missing file is reported by the reader that gets it
    return False


def _is_tensor(obj) -> bool:
    return type(obj).__module__.split(".")[0] == "torch" and hasattr(obj, "detach")


def classify_melody(melody, *, allow_paths: bool = True, name: str = "melody") -> tuple[str, str | None]:
    """Which reader `load_melody` uses for `melody`, and the file it reads (None when the input is not a file).

    Returns:
        `(kind, path)`: `kind` one of `SOURCE_KINDS` ("audio" for any audio, voice or not).
    Raises:
        `MelodyError` for a string that is neither notation nor (with `allow_paths`) an existing file.
    """
    if isinstance(melody, LoadedMelody):
        return melody.source_kind, None
    if isinstance(melody, (list, tuple)):
        return "notes", None
    if isinstance(melody, np.ndarray) or _is_tensor(melody):
        return "audio", None
    if isinstance(melody, (bytes, bytearray, memoryview)):
        return ("midi" if is_midi(melody) else "audio"), None
    if not isinstance(melody, (str, os.PathLike)):
        raise MelodyError(
            f"{name}: expected a MIDI/audio/ABC path, a list of Notes, a token string, a note list, ABC notation or a "
            f"waveform, got {type(melody).__name__}."
        )
    text = os.fspath(melody)
    typed = isinstance(melody, str)
    if typed and text.lstrip().startswith("<"):
        return "tokens", None
    if typed and looks_like_abc(text):
        return "abc", None
    if allow_paths and "\n" not in text and os.path.isfile(text):
        if text.lower().endswith(TEXT_EXTENSIONS) and not is_midi(text):
            content = _read_text_file(text, name)
            kind = "tokens" if content.lstrip().startswith("<") else "abc" if looks_like_abc(content) else "note-list"
            return kind, text
        kind = "midi" if is_midi(text) else "abc" if text.lower().endswith(ABC_EXTENSIONS) else "audio"
        return kind, text
    if typed and looks_like_note_list(text):
        return "note-list", None
    if allow_paths and os.path.isdir(text):
        raise MelodyError(f"{name}: '{text[:200]}' is a folder, not a MIDI, ABC or audio file.")
    if not allow_paths:
        raise MelodyError(
            f"{name}: '{text[:60]}' is not a melody; type a note list (C4 D4 E4/2 ...), ABC notation (X:1, K:G, then "
            "the notes) or an official token string (<G4>,<114>,<79>|...)."
        )
    if not typed or text.lower().endswith(MIDI_EXTENSIONS + ABC_EXTENSIONS + AUDIO_EXTENSIONS):
        raise MelodyError(f"{name}: no such file '{text[:200]}'.")
    raise MelodyError(
        f"{name}: '{text[:60]}' is neither a token string, a note list, ABC notation, a MIDI file nor an existing "
        "audio file."
    )


def _read_text_file(path: str, name: str) -> str:
    if os.path.getsize(path) > MAX_FILE_BYTES:
        raise MelodyError(f"{name}: the file is larger than {MAX_FILE_BYTES // 2**20} MB.")
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _waveform(melody, sr: int, name: str, max_seconds: float, voice: bool) -> np.ndarray:
    """Audio input -> mono float32 at 22,050 Hz; `AudioError` for unreadable, empty, too short or too long, out of
    range (peak above `MAX_INPUT_PEAK`), ambiguously shaped (see `to_mono`) or, for a voice, silent audio."""
    bounds = {"max_duration_s": max_seconds, "min_duration_s": MIN_INPUT_SECONDS, "max_peak": MAX_INPUT_PEAK,
              "allow_silent": not voice}  # fmt: skip
    if isinstance(melody, (str, os.PathLike, bytes, bytearray, memoryview)):
        source = bytes(melody) if isinstance(melody, memoryview) else melody
        return load_audio(source, SAMPLE_RATE, **bounds)
    wave = validate_waveform(to_mono(melody, name=name), sr, name=name, **bounds)
    return resample(wave, sr, SAMPLE_RATE)


def load_melody(
    melody,
    name: str = "melody",
    *,
    voice: bool = False,
    config=None,
    sr: int = SAMPLE_RATE,
    allow_paths: bool = True,
    bpm: float | None = None,
    max_audio_seconds: float | None = None,
    trim_s: tuple[float, float | None] | None = None,
    tempo: float | None = None,
    target_bpm: float | None = None,
    transpose_semitones: int = 0,
    fold: tuple[int, int] | None = None,
) -> LoadedMelody:
    """Any melody input -> notes and tokens, shaped.

    Args:
        melody: see the module docstring; a `LoadedMelody` is re-shaped from its `original_notes`.
        name (`str`): how messages name the input (e.g. "melody[0]").
        voice (`bool`): audio is a single sung or hummed voice: `transcribe_voice` (tuned transcription and clean-up;
            silent audio and recordings over `MAX_VOICE_SECONDS` are refused) instead of plain Basic Pitch.
        config (`TranscriptionConfig`, *optional*): Basic Pitch's thresholds for audio.
        sr (`int`): sample rate of a waveform `melody` (22,050 Hz by default, as the pipeline's audio).
        allow_paths (`bool`): False for text a user typed: a string is notation, never a file name.
        bpm (`float`, *optional*): tempo of a note list that does not set its own (default 120).
        max_audio_seconds (`float`, *optional*): longest audio accepted (default `MAX_AUDIO_SECONDS`, for a voice
            `MAX_VOICE_SECONDS`).
        trim_s, tempo, transpose_semitones, fold: the edits of `shape_melody` (trim in seconds of the original,
            speed factor, semitones, octave-fold range such as `shaping.TRAINED_RANGE`).
        target_bpm (`float`, *optional*): play at this tempo instead of giving `tempo` (needs a known `bpm`).
    Returns:
        `LoadedMelody` (unpacks as `(tokens, notes)`).
    Raises:
        `MelodyError`: no notes, malformed notation (bar and token named), unreadable MIDI, a bad edit, too many
        notes or too long a melody. `AudioError`: unreadable, empty, too long (voice: silent) audio.
    """
    from .pianoroll import estimate_tempo
    from .shaping import shape_melody, tempo_factor
    from .tokenizer import notes_to_string, string_to_notes

    kind, path = classify_melody(melody, allow_paths=allow_paths, name=name)
    waveform = None
    written_bpm = None
    if isinstance(melody, LoadedMelody):
        notes, written_bpm, waveform = melody.original_notes or melody.notes, melody.bpm, melody.waveform
        if melody.edits.get("tempo"):
            written_bpm = None if written_bpm is None else written_bpm / melody.edits["tempo"]
    elif kind == "notes":
        if not all(isinstance(n, Note) for n in melody):
            raise MelodyError(f"{name}: a list melody must contain `Note`s only.")
        if len(melody) > MAX_MELODY_NOTES:
            raise MelodyError(f"{name}: the melody has {len(melody):,} notes; the limit is {MAX_MELODY_NOTES:,}.")
        check_notes(melody, name)  # before shaping does arithmetic with them
        notes = list(melody)
    elif kind == "tokens":
        text = melody if path is None else _read_text_file(path, name)
        check_text_size(text, name)
        notes = string_to_notes(text)
    elif kind in ("abc", "note-list"):
        from .notation import parse_abc, parse_note_list

        text = melody if path is None else _read_text_file(path, name)
        if kind == "abc":
            notes, written_bpm = parse_abc(text, name=name)
        else:
            notes, written_bpm = parse_note_list(text, bpm=bpm, name=name)
    elif kind == "midi":
        size = os.path.getsize(path) if path is not None else len(melody)
        if size > MAX_MIDI_BYTES:
            limit = MAX_MIDI_BYTES / 2**20
            raise MelodyError(f"{name}: the MIDI file is {size / 2**20:.1f} MB; the limit is {limit:g} MB.")
        notes = read_midi(path or bytes(melody))
    else:  # audio
        from .transcribe import extract_notes
        from .voice import MAX_VOICE_SECONDS, transcribe_voice

        limit = max_audio_seconds or (MAX_VOICE_SECONDS if voice else MAX_AUDIO_SECONDS)
        waveform = _waveform(melody, sr, name, limit, voice)
        if voice:
            notes, kind = transcribe_voice(waveform, SAMPLE_RATE, config=config, name=name), "voice"
        else:
            notes = extract_notes(waveform, SAMPLE_RATE, config, name=name)
        if not notes:
            raise MelodyError(f"{name}: Basic Pitch found no notes in the audio; try lower onset or frame thresholds.")
    if not notes:
        raise MelodyError(f"{name}: the melody has no notes.")
    original = sort_notes(notes)
    source_bpm = written_bpm if written_bpm is not None else estimate_tempo(original)
    if target_bpm is not None:
        if tempo is not None:
            raise MelodyError(f"{name}: give a tempo factor or a target BPM, not both.")
        tempo = tempo_factor(target_bpm, source_bpm)
    try:
        shaped, edits = shape_melody(original, trim_s=trim_s, tempo=tempo, transpose_semitones=transpose_semitones,
                                     fold=fold)  # fmt: skip
    except MelodyError as err:
        raise MelodyError(f"{name}: {err}") from err
    check_melody_bounds(shaped, name)
    return LoadedMelody(
        tokens=notes_to_string(shaped),
        notes=shaped,
        source_kind=kind,
        name=name,
        bpm=None if source_bpm is None else source_bpm * edits.get("tempo", 1.0),
        edits=edits,
        original_notes=original,
        waveform=waveform,
    )
