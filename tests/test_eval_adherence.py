"""Melody adherence as the peer papers define it: audiocraft's chroma cosine and Music ControlNet's accuracy."""

import numpy as np
import pytest
from fixtures import sine_notes_waveform

from mmgen.eval.adherence import (
    ADHERENCE_KEYS,
    audiocraft_chroma,
    audiocraft_chroma_cosine,
    crop_notes,
    melody_accuracy,
    melody_adherence,
    melody_chroma_argmax,
    melody_notes,
    parse_notes,
)
from mmgen.eval.melody import MelodyMetricError
from mmgen.melody.notes import Note
from mmgen.melody.sketch import render_sketch
from mmgen.melody.tokenizer import notes_to_string

SR = 22050
# steps of one or two semitones only: no two neighbouring notes are a tritone apart, so no frame that straddles a
# note change can hold a pitch class of the tritone-transposed sequence
TUNE = [72, 74, 76, 77, 79, 77, 76, 74, 72, 71, 72, 74]
NOTE_S = 0.6  # longer than audiocraft's 0.51 s window: a frame straddles at most two notes


def _tone_sequence(pitches, sr=SR, note_s=NOTE_S, harmonics=1):
    """Notes back to back, no gaps or leading/trailing silence; each a sum of `harmonics` partials at 1/k."""
    n = int(note_s * sr)
    t = np.arange(n) / sr
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.005)
    tones = []
    for pitch in pitches:
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        tones.append(fade * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, harmonics + 1)))
    return (0.3 * np.concatenate(tones)).astype(np.float32)


@pytest.mark.parametrize("metric", [audiocraft_chroma_cosine, melody_accuracy])
def test_waveform_against_itself_scores_one(metric):
    wave = _tone_sequence(TUNE[:6])
    assert metric(wave, wave, SR) == 1.0


@pytest.mark.parametrize("metric", [audiocraft_chroma_cosine, melody_accuracy])
def test_tritone_transposition_scores_near_zero(metric):
    wave = _tone_sequence(TUNE)
    tritone = _tone_sequence([p + 6 for p in TUNE])
    assert metric(tritone, wave, SR) < 0.05
    # an octave keeps every pitch class
    assert metric(_tone_sequence([p - 12 for p in TUNE]), wave, SR) > 0.9


@pytest.mark.parametrize("metric", [audiocraft_chroma_cosine, melody_accuracy])
@pytest.mark.parametrize("octave", [-1, 0])
def test_harmonic_tone_against_sine_at_same_pitch_scores_high(metric, octave):
    # the melody sketch's timbre (partials 1..8 at 1/k) against plain sines of the same notes; octave -1 puts
    # the lowest fundamentals under melody_accuracy's 261.2 Hz high-pass
    pitches = [p + 12 * octave for p in TUNE]
    assert metric(_tone_sequence(pitches, harmonics=8), _tone_sequence(pitches), SR) > 0.95


def test_sketch_against_sines_loses_only_the_silent_gaps(scale_notes):
    # between notes both renderings are (near) silent and the argmax of a silent frame is arbitrary
    sines = sine_notes_waveform(scale_notes, SR)
    sketch = render_sketch(scale_notes, sines.size, SR)
    assert audiocraft_chroma_cosine(sketch, sines, SR) > 0.9
    argmax_sketch, argmax_sines = melody_chroma_argmax(sketch, SR), melody_chroma_argmax(sines, SR)
    centres = np.arange(argmax_sines.size) * 256 / 44_100
    inside = np.zeros(centres.size, dtype=bool)
    for note in scale_notes:  # frames whose 46 ms window lies inside a note
        inside |= (centres > note.onset + 0.03) & (centres < note.offset - 0.03)
    assert (argmax_sketch == argmax_sines)[inside].mean() > 0.98


@pytest.mark.parametrize("metric", [audiocraft_chroma_cosine, melody_accuracy])
def test_longer_waveform_is_cut_to_the_shorter(metric):
    wave = _tone_sequence(TUNE[:6])
    longer = np.concatenate([wave, _tone_sequence([p + 6 for p in TUNE[:6]])])
    assert metric(wave, longer, SR) > 0.99
    assert metric(longer, wave, SR) > 0.99


def test_audiocraft_frame_count_follows_its_hop():
    # 10 s at 32 kHz: centred frames every 4096 samples -> 1 + 320000 // 4096 = 79
    ten_seconds = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(320_000) / 32_000)
    assert audiocraft_chroma(ten_seconds, 32_000).shape == (79, 12)
    # the same duration at 22,050 Hz is resampled to 32 kHz first
    at_22k = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(10 * SR) / SR)
    chroma = audiocraft_chroma(at_22k, SR)
    assert chroma.shape == (79, 12)
    assert (chroma.argmax(axis=1) == 9).all()  # A
    # a clip shorter than the 16,384-sample window is zero-padded to one window: 1 + 16384 // 4096 frames
    assert audiocraft_chroma(ten_seconds[:1000], 32_000).shape == (5, 12)


def test_audiocraft_chroma_is_one_hot_and_silent_frames_fall_on_c():
    wave = np.concatenate([np.zeros(3 * 32_000), 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(32_000) / 32_000)])
    onehot = audiocraft_chroma(wave, 32_000)
    assert set(np.unique(onehot)) == {0.0, 1.0} and (onehot.sum(axis=1) == 1).all()
    assert onehot[0, 0] == 1.0  # an all-zero frame's argmax is C, as torch's argmax picks the first maximum
    assert onehot[-1, 9] == 1.0
    soft = audiocraft_chroma(wave, 32_000, argmax=False)
    assert soft[-1].max() == pytest.approx(1.0)  # inf-normalised
    assert (soft[0] == 0).all()


def test_melody_frame_count_follows_its_hop():
    # 10 s at 44.1 kHz: centred frames every 256 samples -> 1 + 441000 // 256 = 1723
    at_44k = 0.3 * np.sin(2 * np.pi * 523.25 * np.arange(441_000) / 44_100)
    argmax = melody_chroma_argmax(at_44k, 44_100)
    assert argmax.shape == (1723,) and (argmax == 0).all()  # C5
    at_22k = 0.3 * np.sin(2 * np.pi * 523.25 * np.arange(10 * SR) / SR)
    assert melody_chroma_argmax(at_22k, SR).shape == (1723,)


@pytest.mark.parametrize("metric", [audiocraft_chroma_cosine, melody_accuracy])
def test_input_errors_name_what_is_wrong(metric):
    good = _tone_sequence(TUNE[:2])
    assert issubclass(MelodyMetricError, ValueError)
    for sr in (0, -22050, 44.1, 22050.5, True, "22050", None):
        with pytest.raises(MelodyMetricError, match="sr"):
            metric(good, good, sr)
    with pytest.raises(MelodyMetricError, match=r"generated: expected a mono waveform of shape \(samples,\)"):
        metric(np.stack([good, good]), good, SR)
    with pytest.raises(MelodyMetricError, match=r"reference: expected a mono waveform .* got shape \(\)"):
        metric(good, np.float32(0.5), SR)
    with pytest.raises(MelodyMetricError, match="reference: the waveform is empty"):
        metric(good, np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(MelodyMetricError, match="generated: the waveform is silent"):
        metric(np.zeros_like(good), good, SR)
    broken = good.copy()
    broken[[3, 7]] = [np.nan, np.inf]
    with pytest.raises(MelodyMetricError, match="reference: 2 of .* samples are NaN or infinite"):
        metric(good, broken, SR)


def test_helper_errors():
    with pytest.raises(MelodyMetricError, match="below 4000 Hz"):
        audiocraft_chroma(np.ones(100), 32)
    with pytest.raises(MelodyMetricError, match=r"shape \(1, 100\)"):
        melody_chroma_argmax(np.ones((1, 100)), SR)


def test_notes_are_not_accepted_as_reference(scale_notes):
    # these metrics compare two recordings; a note list goes to mmgen.eval.melody.chroma_cosine instead
    with pytest.raises(MelodyMetricError, match="mono waveform"):
        audiocraft_chroma_cosine(sine_notes_waveform(scale_notes, SR), [Note(0.0, 1.0, 60)], SR)


# ----------------------------------------------------------------------------------------- a set of clips
def test_set_adherence_scores_each_clip_against_its_own_melody_and_skips_the_rest(scale_notes):
    sr = 32000
    sketch = render_sketch(scale_notes, int(4.5 * sr), sr)
    out = melody_adherence([sketch, sketch], [scale_notes, None], sr=sr)
    assert out["num_melodies"] == 1 and out["num_without_melody"] == 1
    assert set(out) == set(ADHERENCE_KEYS[:6]) | {"num_melodies", "num_without_melody"}
    assert out["chroma_cosine"] > 0.8 and out["note_f1"] > 0.8
    assert out["ac_chroma_cosine"] == 1.0 and out["melody_accuracy"] == 1.0  # the notes rendered as this very clip
    silent = melody_adherence([np.zeros_like(sketch)], [scale_notes], sr=sr)  # scored, but no chroma to compare
    assert silent["num_melodies"] == 1 and silent["ac_chroma_cosine"] is None and silent["melody_accuracy"] is None


def test_set_adherence_against_audio_and_with_a_prefix(scale_notes):
    sr = 32000
    sketch = render_sketch(scale_notes, int(4.5 * sr), sr)
    out = melody_adherence([sketch], [scale_notes], prefix="gt_", reference_audio=[sketch], sr=sr)
    assert set(out) == {f"gt_{k}" for k in ADHERENCE_KEYS} | {"gt_num_melodies", "gt_num_without_melody"}
    assert out["gt_ac_chroma_cosine_vs_audio"] == 1.0 and out["gt_melody_accuracy_vs_audio"] == 1.0
    empty = melody_adherence([sketch], [None], sr=sr)
    assert empty["chroma_cosine"] is None and empty["num_melodies"] == 0 and empty["num_without_melody"] == 1


def test_melody_targets_from_tokens_and_pipeline_outputs(scale_notes):
    tokens = notes_to_string(scale_notes)
    parsed = parse_notes(tokens)
    assert [n.pitch for n in parsed] == [n.pitch for n in scale_notes]
    assert parse_notes("") is None and parse_notes(None) is None and parse_notes("not a melody") is None
    assert [n.onset for n in crop_notes(scale_notes, 1.0)] == [n.onset for n in scale_notes if n.onset < 1.0]
    assert crop_notes(scale_notes, 0.1) is None and crop_notes(None, 5.0) is None
    assert melody_notes({"notes": scale_notes[:2], "tokens": tokens}) == scale_notes[:2]
    assert [n.pitch for n in melody_notes({"tokens": tokens})] == [n.pitch for n in scale_notes]
    assert melody_notes(None) is None
