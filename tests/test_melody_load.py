"""`load_melody`: every melody input to notes, typed notation with positioned errors, shaping edits, bounds."""

import os
import subprocess
import sys

import numpy as np
import pytest

from mmgen.audio import SAMPLE_RATE, AudioError, save_audio
from mmgen.melody import load as load_module
from mmgen.melody.load import LoadedMelody, classify_melody, load_melody
from mmgen.melody.notation import MAX_MELODY_NOTES, parse_abc, parse_note_list
from mmgen.melody.notes import MelodyError, Note, write_midi
from mmgen.melody.shaping import TRAINED_RANGE, change_tempo, fold_octaves, shape_melody, transpose, trim
from mmgen.melody.tokenizer import notes_to_string, string_to_notes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ABC_TUNE = "X:1\nT:test\nM:4/4\nL:1/8\nQ:1/4=120\nK:G\nGABc d2 e2|f2 g2 a4|]\n"


def pitches(notes):
    return [n.pitch for n in notes]


# ---- note lists ---------------------------------------------------------------------------------------------------
def test_note_list_durations_tempo_and_rests():
    notes, bpm = parse_note_list("bpm=60 C4 D4/2 E4*2 | R F#4*3/2 Bb3")
    assert bpm == 60.0
    assert pitches(notes) == [60, 62, 64, 66, 58]
    assert [(n.onset, n.offset) for n in notes] == [(0, 1), (1, 1.5), (1.5, 3.5), (4.5, 6.0), (6.0, 7.0)]
    default, bpm = parse_note_list("C4 D4")
    assert bpm == 120.0 and default[1].onset == pytest.approx(0.5)


@pytest.mark.parametrize(
    "text, message",
    [
        ("C4 D4 | E4 H4", r"bar 2, token 2 \('H4'\): not a note"),
        ("C4 D4/0", r"bar 1, token 2 \('D4/0'\): cannot read the duration"),
        ("C4 | D4 E", r"bar 2, token 2 \('E'\)"),
        ("bpm=1000 C4", "tempo 1000 BPM is outside"),
        ("bpm=90 C4 tempo=80 D4", "tempo is given 2 times"),
        ("R R*2", "no notes found"),
        ("C4*4000", "lasts 2000 s; the limit is 600 s"),
        (" ".join(["C4/8"] * (MAX_MELODY_NOTES + 1)), "more than 5,000 notes"),
    ],
)
def test_note_list_errors_name_bar_and_token(text, message):
    with pytest.raises(MelodyError, match=message):
        parse_note_list(text)


# ---- ABC ----------------------------------------------------------------------------------------------------------
def test_abc_tune_in_g_with_tempo():
    notes, bpm = parse_abc(ABC_TUNE)
    assert bpm == 120.0
    # K:G makes every F sharp; L:1/8 at 120 quarter notes per minute: an eighth lasts 0.25 s
    assert pitches(notes) == [67, 69, 71, 72, 74, 76, 78, 79, 81]
    assert notes[4].onset == pytest.approx(1.0) and notes[4].duration == pytest.approx(0.5)
    assert notes[-1].duration == pytest.approx(1.0)


def test_abc_defaults_chords_ties_and_meter_tempo():
    # No X: and no L: (ABC's default 1/8), Q in dotted quarters, a chord and a tie, decorations and chord symbols.
    notes, bpm = parse_abc('M:6/8\nQ:3/8=60\nK:Dmix\n"D"A2 !trill!B c3-|c3 [df]3|]')
    assert bpm == 90.0
    assert [(round(n.onset, 3), n.pitch) for n in notes] == [(0, 69), (0.667, 71), (1.0, 72), (3.0, 78), (3.0, 74)]
    assert notes[2].duration == pytest.approx(2.0)  # c3-|c3: tied into one note


@pytest.mark.parametrize(
    "text, message",
    [
        ("X:1\nK:Q\nGABc|", r"line 2: unknown key 'Q'"),
        ("X:1\nK:Gfoo\nGABc|", r"unknown key 'Gfoo'"),
        ("X:1\nK:G\n", "no notes after its key line"),
        ("X:1\nK:G\nGABc|dA$c d2|", r"line 3, bar 2: cannot read '\$'"),
        ("X:1\nT:no key\nGABc|", r"line 3: notes before the key line"),
        ("X:1\nT:no key\n", "no key line"),
    ],
)
def test_abc_errors_name_line_and_bar(text, message):
    with pytest.raises(MelodyError, match=message):
        parse_abc(text)


# ---- load_melody: every kind of input -----------------------------------------------------------------------------
@pytest.fixture
def scale():
    return [Note(0.5 * i, 0.5 * i + 0.4, 60 + i, 100) for i in range(8)]


def test_loaded_melody_unpacks_like_melody_to_tokens(scale):
    tokens, notes = load_melody(scale)
    assert notes == scale and tokens == notes_to_string(scale)


def test_every_input_kind(tmp_path, scale):
    midi = tmp_path / "tune.mid"
    write_midi(scale, midi)
    renamed = tmp_path / "tune.bin"  # a MIDI file without its extension: found by its header
    renamed.write_bytes(midi.read_bytes())
    abc = tmp_path / "tune.abc"
    abc.write_text(ABC_TUNE)
    tokens = notes_to_string(scale)
    cases = {
        "notes": scale,
        "tokens": tokens,
        "abc": ABC_TUNE,
        "note-list": "C4 D4 E4/2",
        "midi": str(midi),
    }
    for kind, source in cases.items():
        assert load_melody(source).source_kind == kind, kind
    assert load_melody(renamed).source_kind == "midi"
    assert load_melody(midi.read_bytes()).notes == load_melody(midi).notes
    assert load_melody(abc).notes == load_melody(ABC_TUNE).notes and load_melody(str(abc)).source_kind == "abc"
    assert load_melody(tokens).notes == string_to_notes(tokens)


def test_the_examples_and_text_files(tmp_path, scale):
    tune = load_melody(os.path.join(ROOT, "examples", "example_tune.abc"))
    assert tune.source_kind == "abc" and tune.bpm == 100.0 and len(tune.notes) == 21
    listed = load_melody(os.path.join(ROOT, "examples", "example_notes.txt"))
    assert listed.source_kind == "note-list" and listed.bpm == 96.0 and pitches(listed.notes)[:3] == [64, 67, 69]
    saved = tmp_path / "tokens.txt"
    saved.write_text(notes_to_string(scale) + "\n")
    assert load_melody(saved).source_kind == "tokens" and pitches(load_melody(saved).notes) == pitches(scale)


def test_typed_text_is_never_a_path(tmp_path, scale, monkeypatch):
    midi = tmp_path / "C4"  # a file whose name reads as a note list
    write_midi(scale, midi)
    monkeypatch.chdir(tmp_path)
    assert classify_melody("C4") == ("midi", "C4")
    assert classify_melody("C4", allow_paths=False) == ("note-list", None)
    assert load_melody("C4", allow_paths=False).notes == [Note(0.0, 0.5, 60, 100)]
    with pytest.raises(MelodyError, match="not a melody; type a note list"):
        load_melody(str(midi), allow_paths=False)


@pytest.mark.parametrize(
    "source, error, message",
    [
        ([], MelodyError, "has no notes"),
        (["C4"], MelodyError, "must contain `Note`s only"),
        ("not a melody", MelodyError, "neither a token string"),
        ("missing.mid", MelodyError, "no such file 'missing.mid'"),
        ("<G4>,<x>,<79>", MelodyError, "malformed"),
        (42, MelodyError, "got int"),
        (np.zeros((4, 4), dtype=np.float32), AudioError, "mono waveform"),
    ],
)
def test_bad_inputs_name_the_problem(source, error, message):
    with pytest.raises(error, match=message):
        load_melody(source, name="melody[0]")


def test_audio_bounds_and_silence(tmp_path):
    long = np.zeros(int(SAMPLE_RATE * 1.5), dtype=np.float32)
    with pytest.raises(AudioError, match="more than the limit of 1.0 s"):
        load_melody(long, max_audio_seconds=1.0)
    with pytest.raises(AudioError, match="silent"):
        load_melody(long, voice=True)
    path = tmp_path / "silence.wav"
    save_audio(path, long)
    with pytest.raises(AudioError, match="silent"):
        load_melody(str(path), voice=True)
    with pytest.raises(AudioError, match="empty"):
        load_melody(np.zeros(0, dtype=np.float32), voice=True)


def test_file_size_bound(tmp_path, monkeypatch, scale):
    midi = tmp_path / "tune.mid"
    write_midi(scale, midi)
    monkeypatch.setattr(load_module, "MAX_MIDI_BYTES", 10)
    with pytest.raises(MelodyError, match="the limit is"):
        load_melody(midi)


# ---- shaping ------------------------------------------------------------------------------------------------------
def test_transpose_and_its_range_error(scale):
    assert pitches(transpose(scale, -12)) == [48 + i for i in range(8)]
    message = r"transposing by \+45 moves E4 \(MIDI 64\) .* outside the playable range A0..C8 .* at most \+41"
    with pytest.raises(MelodyError, match=message):
        transpose(scale, 45)
    with pytest.raises(MelodyError, match="whole number"):
        transpose(scale, 1.5)


def test_tempo_trim_and_fold(scale):
    faster = change_tempo(scale, 2.0)
    assert faster[1].onset == pytest.approx(0.25) and faster[1].duration == pytest.approx(0.2)
    with pytest.raises(MelodyError, match="between 0.25 and 4"):
        change_tempo(scale, 10)
    cut = trim(scale, 1.2, 2.2)  # notes at 1.0-1.4 (cut to 1.2), 1.5, 2.0 (cut to 2.2)
    assert [(round(n.onset, 3), round(n.offset, 3), n.pitch) for n in cut] == [
        (0.0, 0.2, 62), (0.3, 0.7, 63), (0.8, 1.0, 64)
    ]  # fmt: skip
    with pytest.raises(MelodyError, match="no note sounds between 10 and 12"):
        trim(scale, 10, 12)
    wide = [Note(0, 1, 20, 100), Note(1, 2, 60, 100), Note(2, 3, 108, 100)]
    assert pitches(fold_octaves(wide, TRAINED_RANGE)) == [44, 60, 96]
    assert fold_octaves(scale) == scale  # already inside: unchanged


def test_shape_melody_records_reproducible_edits(scale):
    shaped, edits = shape_melody(scale, trim_s=(1.0, None), tempo=0.5, transpose_semitones=3, fold=(41, 96))
    assert edits == {"trim_s": [1.0, None], "tempo": 0.5, "transpose_semitones": 3, "fold": [41, 96]}
    assert shape_melody(scale, **edits)[0] == shaped
    assert (shaped[0].onset, shaped[0].offset, shaped[0].pitch) == (0.0, pytest.approx(0.8), 65)
    assert shape_melody(scale) == (scale, {})


def test_load_melody_shapes_and_reloads(scale):
    loaded = load_melody("bpm=100 C4 D4 E4 F4", transpose_semitones=2, target_bpm=200)
    assert loaded.edits == {"tempo": 2.0, "transpose_semitones": 2}
    assert loaded.bpm == 200.0 and pitches(loaded.notes) == [62, 64, 66, 67]
    assert loaded.notes[1].onset == pytest.approx(0.3)
    assert pitches(loaded.original_notes) == [60, 62, 64, 65]
    again = load_melody(loaded, transpose_semitones=-1)  # re-shaped from the original, not stacked
    assert pitches(again.notes) == [59, 61, 63, 64] and again.bpm == pytest.approx(100.0)
    with pytest.raises(MelodyError, match=r"melody: transposing by \+48"):
        load_melody(scale, transpose_semitones=48)
    with pytest.raises(MelodyError, match="not both"):
        load_melody(scale, tempo=2, target_bpm=100)
    assert isinstance(loaded, LoadedMelody)


def test_importing_the_package_stays_light():
    code = (
        "import sys; from mmgen.melody import Note, MIDI_EXTENSIONS; import mmgen.app.logic; "
        "print([m for m in ('torch', 'transformers', 'music21', 'basic_pitch') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
