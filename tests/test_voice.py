"""The voice path (`mmgen.melody.voice`): the clean-up passes on hand-made notes and loudness envelopes, and
`transcribe_voice` on a tune the project's singing synthesiser (`mmgen.melody.sing`) sings with repeated notes."""

import numpy as np
import pytest

from mmgen.audio import SAMPLE_RATE, AudioError
from mmgen.eval.melody import note_f1
from mmgen.melody.notes import Note
from mmgen.melody.sing import sing_notes
from mmgen.melody.voice import (
    ENVELOPE_HOP_S,
    VoiceCleanup,
    clean_voice_notes,
    loudness_envelope,
    merge_fragments,
    sung_again,
    transcribe_voice,
)


def envelope_with_dips(seconds: float, dips: list[float], level: float = 0.3, width_s: float = 0.04) -> np.ndarray:
    """A loudness envelope (frames of `ENVELOPE_HOP_S`) at `level`, near silent for `width_s` before each dip time."""
    envelope = np.full(int(round(seconds / ENVELOPE_HOP_S)), level)
    for t in dips:
        envelope[int(round((t - width_s) / ENVELOPE_HOP_S)) : int(round(t / ENVELOPE_HOP_S))] = 0.01
    return envelope


def test_loudness_envelope_is_frame_rms():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    wave = np.concatenate([0.5 * np.sin(2 * np.pi * 200 * t), np.zeros(SAMPLE_RATE // 2)]).astype(np.float32)
    envelope = loudness_envelope(wave, SAMPLE_RATE)
    assert envelope.shape == (150,)
    np.testing.assert_allclose(envelope[5:95], 0.5 / np.sqrt(2), rtol=0.02)
    assert envelope[100:].max() == 0.0


def test_a_dip_before_a_note_means_it_was_sung_again():
    first, second = Note(0.0, 0.5, 60, 90), Note(0.5, 1.0, 60, 90)
    assert sung_again(envelope_with_dips(1.0, [0.5]), first, second)
    assert not sung_again(envelope_with_dips(1.0, []), first, second)
    assert not sung_again(envelope_with_dips(1.0, [0.5]), first, second, VoiceCleanup(dip_ratio=0.0))
    # beyond the end of the recording there is no evidence either way: not a re-articulation
    assert not sung_again(envelope_with_dips(1.0, []), Note(0.5, 1.0, 60, 90), Note(1.2, 1.5, 60, 90))


def test_repeated_notes_stay_apart_and_a_split_held_note_is_joined():
    # 60 sung twice (a dip at 0.5 s), then 62 held for a second but split in two by Basic Pitch at 1.5 s
    pieces = [Note(0.0, 0.5, 60, 90), Note(0.5, 1.0, 60, 90), Note(1.0, 1.5, 62, 90), Note(1.5, 2.0, 62, 80)]
    merged = merge_fragments(pieces, envelope=envelope_with_dips(2.0, [0.5, 1.0]))
    assert merged == [Note(0.0, 0.5, 60, 90), Note(0.5, 1.0, 60, 90), Note(1.0, 2.0, 62, 90)]
    # without the audio, long same-pitch pieces are kept apart; a fragment still joins its note
    assert merge_fragments(pieces) == pieces
    assert merge_fragments([Note(0.0, 0.5, 60, 90), Note(0.5, 0.6, 60, 90)]) == [Note(0.0, 0.6, 60, 90)]


def test_scoops_and_vibrato_swings_join_the_sung_note():
    scoop = [Note(0.0, 0.06, 59, 60), Note(0.06, 0.6, 60, 90)]
    assert merge_fragments(scoop) == [Note(0.0, 0.6, 60, 90)]
    swing = [Note(0.0, 0.3, 61, 90), Note(0.3, 0.4, 62, 90), Note(0.4, 0.9, 61, 90)]
    assert merge_fragments(swing) == [Note(0.0, 0.9, 61, 90)]
    # a real step to a long note is a new note
    step = [Note(0.0, 0.5, 60, 90), Note(0.5, 1.0, 62, 90)]
    assert merge_fragments(step) == step


def test_clean_up_passes_on_notes_with_an_envelope():
    notes = [
        Note(0.0, 0.5, 57, 90), Note(0.1, 0.3, 69, 40),  # an overtone under the sung note
        Note(0.5, 1.0, 57, 90),  # sung again
        Note(1.0, 1.03, 58, 20),  # a breath blip
        Note(1.1, 1.6, 70, 90),  # an octave slip: 58 heard an octave up between 57 and 59
        Note(1.6, 2.1, 59, 90), Note(2.1, 2.6, 60, 90),
    ]  # fmt: skip
    cleaned = clean_voice_notes(notes, envelope=envelope_with_dips(2.6, [0.5, 1.1, 1.6, 2.1]))
    assert [(n.onset, n.pitch) for n in cleaned] == [(0.0, 57), (0.5, 57), (1.1, 58), (1.6, 59), (2.1, 60)]


def test_transcribe_voice_keeps_repeated_sung_notes():
    tune = [Note(0.2 + 0.45 * i, 0.2 + 0.45 * (i + 1), p, 100) for i, p in enumerate([57, 57, 59, 59, 60, 60, 59])]
    wave = sing_notes(tune, SAMPLE_RATE, seed=3)
    notes = transcribe_voice(wave, SAMPLE_RATE)
    joined = transcribe_voice(wave, SAMPLE_RATE, cleanup=VoiceCleanup(dip_ratio=0.0))  # the first version
    assert [n.pitch for n in notes[:2]] == [57, 57]  # the repeated first note, sung twice
    assert note_f1(tune, notes)["f1"] >= 0.8
    assert note_f1(tune, notes)["f1"] > note_f1(tune, joined)["f1"] + 0.2


def test_transcribe_voice_refuses_silence_and_too_short_recordings():
    with pytest.raises(AudioError, match="silent"):
        transcribe_voice(np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="sing for longer"):
        transcribe_voice(0.3 * np.ones(SAMPLE_RATE // 20, dtype=np.float32), SAMPLE_RATE)
