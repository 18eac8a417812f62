"""Issue 16, the loaders' entry point (`mmgen.audio.load_audio` / `to_mono`, `mmgen.melody.load_melody`,
`extract_notes`): array layouts, duration, level, size and note bounds, each refused quickly with a message naming
the input and the limit."""

import math
import time

import numpy as np
import pytest
import soundfile as sf

from mmgen.audio import SAMPLE_RATE, AudioError, load_audio, save_audio, to_mono
from mmgen.limits import MAX_INPUT_CHANNELS, MAX_MELODY_NOTES
from mmgen.melody.load import load_melody
from mmgen.melody.notes import MelodyError, Note, write_midi
from mmgen.melody.tokenizer import notes_to_string


@pytest.fixture(scope="module")
def tone():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


# --- item 1: accepted array layouts -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "ok"),
    [
        ((SAMPLE_RATE,), True),
        ((SAMPLE_RATE, 2), True),  # soundfile's layout
        ((2, SAMPLE_RATE), True),  # librosa's layout
        ((SAMPLE_RATE, MAX_INPUT_CHANNELS), True),
        ((SAMPLE_RATE, MAX_INPUT_CHANNELS + 1), False),  # a batch, not one clip
        ((4, 4), False),
        ((SAMPLE_RATE, 2, 1), False),
        ((), False),
    ],
)
def test_to_mono_layouts(shape, ok):
    array = np.ones(shape, dtype=np.float32)
    if ok:
        assert to_mono(array, name="clip").shape == (SAMPLE_RATE,)
    else:
        with pytest.raises(AudioError, match="clip: expected a mono waveform .* got shape"):
            to_mono(array, name="clip")


def test_stereo_melody_array_equals_its_downmix(tone):
    stereo = np.stack([tone, tone], axis=1)
    assert load_melody(stereo).notes == load_melody(tone).notes


# --- items 3, 7, 9, 11: bounds on audio -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda t: t[:1], AudioError, "melody: the audio is 0.000 s long \\(1 samples\\); at least 0.5 s"),
        (lambda t: t * 1e6, AudioError, "melody: the audio peaks at"),
        (lambda t: np.round(t * 32767), AudioError, "int16 samples: divide by 32768"),
        (lambda t: np.full_like(t, np.nan), AudioError, "NaN or infinite"),
        (lambda t: t.astype(str), AudioError, "real-valued"),
        (lambda t: np.zeros((3, 3, 3)), AudioError, "got shape"),
    ],
)
def test_bad_melody_waveforms(tone, make, error, match):
    with pytest.raises(error, match=match):
        load_melody(make(tone))


def test_audio_files_too_short_too_loud_a_folder_or_an_hour_long(tone, tmp_path):
    save_audio(tmp_path / "one.wav", tone[:1])
    sf.write(tmp_path / "loud.wav", tone * 1e6, SAMPLE_RATE, subtype="FLOAT")
    # an hour at 1 kHz (7 MB): refused from the header, before decoding
    sf.write(tmp_path / "hour.wav", np.zeros(3600 * 1000, dtype=np.int16), 1000, subtype="PCM_16")
    cases = [("one.wav", AudioError, "at least 0.5 s"), ("loud.wav", AudioError, "peaks at"),
             (".", MelodyError, "is a folder, not a MIDI, ABC or audio file"),
             ("hour.wav", AudioError, "3600.0 s long, more than the limit")]  # fmt: skip
    for name, error, match in cases:
        started = time.perf_counter()
        with pytest.raises(error, match=match):
            load_melody(str(tmp_path / name))
        assert time.perf_counter() - started < 10.0, name
    assert load_audio(tmp_path / "one.wav").shape == (1,)  # the plain reader has no minimum: callers set one
    with pytest.raises(AudioError, match="is a folder, not an audio file"):
        load_audio(tmp_path)


def test_basic_pitch_is_bounded_by_default():
    from mmgen.melody.transcribe import extract_notes

    started = time.perf_counter()
    with pytest.raises(AudioError, match="more than the limit of 600.0 s"):
        extract_notes(np.zeros(601 * SAMPLE_RATE, dtype=np.float32))
    assert time.perf_counter() - started < 10.0


# --- item 3: bounds on notes ------------------------------------------------------------------------------------
def test_big_midi_files_are_refused_before_parsing(tmp_path):
    notes = [Note(0.05 * i, 0.05 * i + 0.04, 60 + i % 12, 100) for i in range(200_000)]  # 1.2 MB
    write_midi(notes, tmp_path / "big.mid")
    started = time.perf_counter()
    with pytest.raises(MelodyError, match="the MIDI file is 1.1 MB; the limit is 1 MB"):
        load_melody(str(tmp_path / "big.mid"))
    with pytest.raises(MelodyError, match="the limit is 1 MB"):
        load_melody((tmp_path / "big.mid").read_bytes())
    assert time.perf_counter() - started < 5.0


@pytest.mark.parametrize(
    ("melody", "match"),
    [
        ([Note(0.1 * i, 0.1 * i + 0.05, 60, 100) for i in range(MAX_MELODY_NOTES + 1)], "the limit is 5,000"),
        (notes_to_string([Note(60.0 * i, 60.0 * i + 0.5, 60, 100) for i in range(2000)]), "the limit is 600 s"),
        ([Note(math.nan, math.nan, 60, 100)], "note 1 .* needs finite times"),
        ([Note(0.0, math.inf, 60, 100)], "needs finite times"),
        ([Note(0.0, 0.5, 60.5, 100)], "whole-number pitch"),
        ([Note(0.0, 0.5, "C4", 100)], "whole-number pitch"),
        ([Note(0.5, 0.2, 60, 100)], "end after it starts"),
        ([Note(-1.0, 0.2, 60, 100)], "start at 0 s or later"),
        ([Note(0.0, 0.5, 60, 100), Note(0.5, 1.0, 200, 100)], "note 2 .* outside MIDI's 0-127"),
    ],
)
def test_note_bounds(melody, match):
    started = time.perf_counter()
    with pytest.raises(MelodyError, match=match):
        load_melody(melody)
    assert time.perf_counter() - started < 5.0
