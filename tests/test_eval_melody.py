"""Melody adherence: chroma cosine against notes or audio, and note F1."""

import numpy as np
import pytest
from fixtures import sine_notes_waveform

from mmgen.eval.melody import MelodyMetricError, chroma_cosine, melody_note_f1, note_f1, notes_chroma
from mmgen.melody.notes import Note


def _transpose(notes, semitones):
    return [Note(n.onset, n.offset, n.pitch + semitones, n.velocity) for n in notes]


def test_chroma_cosine_high_for_own_rendering_low_for_transposed(scale_notes):
    own = chroma_cosine(sine_notes_waveform(scale_notes), scale_notes, 22050)
    assert own > 0.9
    for semitones in (1, 3, 6):
        transposed = chroma_cosine(sine_notes_waveform(_transpose(scale_notes, semitones)), scale_notes, 22050)
        assert transposed < 0.35, (semitones, transposed)
    # an octave keeps every pitch class
    assert chroma_cosine(sine_notes_waveform(_transpose(scale_notes, 12)), scale_notes, 22050) > 0.9


def test_chroma_cosine_against_reference_audio(scale_notes):
    wave = sine_notes_waveform(scale_notes)
    assert chroma_cosine(wave, wave, 22050) == pytest.approx(1.0)
    assert chroma_cosine(sine_notes_waveform(_transpose(scale_notes, 2)), wave, 22050) < 0.35


def test_chroma_cosine_errors(scale_notes):
    with pytest.raises(MelodyMetricError, match="at least one reference note"):
        chroma_cosine(sine_notes_waveform(scale_notes), [], 22050)
    with pytest.raises(MelodyMetricError, match="no sounding frame"):
        chroma_cosine(np.zeros(2205, dtype=np.float32), [Note(5.0, 6.0, 60, 100)], 22050)


def test_notes_chroma_marks_sounding_pitch_classes():
    chroma = notes_chroma([Note(0.0, 0.5, 61, 100), Note(0.0, 0.5, 64, 100)], 20, 22050)
    assert chroma.shape == (12, 20)
    assert chroma[1, 0] == 1 and chroma[4, 0] == 1 and chroma[:, 0].sum() == 2
    assert chroma[:, -1].sum() == 0  # frame 19 is at 0.88 s, after the notes


def test_note_f1_exact_and_disjoint(scale_notes):
    assert note_f1(scale_notes, scale_notes)["f1"] == pytest.approx(1.0)
    assert note_f1(scale_notes, _transpose(scale_notes, 1))["f1"] == 0.0
    half = note_f1(scale_notes, scale_notes[:4])
    assert half["precision"] == 1.0 and half["recall"] == 0.5
    assert note_f1(scale_notes, [])["f1"] == 0.0


def test_melody_note_f1_on_clean_sine_rendering(scale_notes):
    scores = melody_note_f1(sine_notes_waveform(scale_notes), scale_notes, 22050)
    assert scores["f1"] > 0.8 and scores["num_estimated"] >= 6
    shifted = melody_note_f1(sine_notes_waveform(_transpose(scale_notes, 5)), scale_notes, 22050)
    assert shifted["f1"] < 0.3
