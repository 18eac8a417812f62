"""The melody sketch (the frame-aligned melody condition): rendering, placement in time, length fitting, errors."""

import numpy as np
import pytest

from mmgen.audio import HOP_LENGTH, LOG_MEL_SILENCE, N_MELS, SAMPLE_RATE, mel_filters
from mmgen.melody.notes import MelodyError, Note
from mmgen.melody.sketch import (
    SKETCH_MAX_PITCH,
    SketchTimbre,
    check_sketch_pitches,
    fit_to_length,
    midi_to_hz,
    random_sketch_timbre,
    render_sketch,
    sketch_log_mel,
)


def test_sketch_sounds_the_note_at_its_pitch_and_only_while_it_lasts():
    wave = render_sketch([Note(0.5, 1.0, 69)], int(1.5 * SAMPLE_RATE))
    assert wave.shape == (int(1.5 * SAMPLE_RATE),) and wave.dtype == np.float32
    assert np.abs(wave[: int(0.49 * SAMPLE_RATE)]).max() == 0 and np.abs(wave[int(1.01 * SAMPLE_RATE) :]).max() == 0
    held = wave[int(0.6 * SAMPLE_RATE) : int(0.9 * SAMPLE_RATE)]
    spectrum = np.abs(np.fft.rfft(held))
    freqs = np.fft.rfftfreq(len(held), 1 / SAMPLE_RATE)
    assert abs(freqs[spectrum.argmax()] - 440.0) < 5.0  # the fundamental is the strongest partial
    assert spectrum[np.abs(freqs - 880.0).argmin()] > 0.3 * spectrum.max()  # harmonics present (1/k)


def test_sketch_log_mel_places_energy_in_the_notes_mel_band_and_frames():
    mel = sketch_log_mel([Note(0.0, 0.5, 60), Note(0.5, 1.0, 66)], num_frames=86)
    assert mel.shape == (N_MELS, 86)
    centres = np.argmax(mel_filters(), axis=1)  # FFT bin of each mel band's peak
    band = [int(np.argmin(np.abs(centres * SAMPLE_RATE / 1024 - midi_to_hz(p)))) for p in (60, 66)]
    first, second = mel[:, 10:35], mel[:, 50:75]
    assert first[band[0]].mean() > first[band[1]].mean() + 2  # C4 sounds in the first half, F#4 in the second
    assert second[band[1]].mean() > second[band[0]].mean() + 2
    assert mel[:, -1].max() > LOG_MEL_SILENCE  # the note lasts to the end of the second


def test_chords_are_limited_not_clipped():
    chord = [Note(0.0, 1.0, p) for p in (48, 52, 55, 60, 64, 67, 72)]
    wave = render_sketch(chord, SAMPLE_RATE)
    assert 0.9 < np.abs(wave).max() <= 0.95


def test_fit_to_length_moves_to_zero_repeats_and_cuts():
    tune = [Note(1.0, 1.5, 60), Note(1.5, 2.0, 62)]  # 1 s long once moved to t = 0
    fitted = fit_to_length(tune, 2.5)
    assert [(n.onset, n.offset, n.pitch) for n in fitted] == [
        (0.0, 0.5, 60), (0.5, 1.0, 62), (1.0, 1.5, 60), (1.5, 2.0, 62), (2.0, 2.5, 60)]  # fmt: skip
    assert [n.pitch for n in fit_to_length(tune, 2.5, repeat=False)] == [60, 62]
    assert fit_to_length(tune, 0.7)[-1].offset == pytest.approx(0.7)


def test_fit_to_length_and_pitch_check_raise_clear_errors():
    with pytest.raises(MelodyError, match="no note inside"):
        fit_to_length([Note(0.0, 0.02, 60)], 1.0)
    with pytest.raises(MelodyError, match="no notes"):
        fit_to_length([], 1.0)
    with pytest.raises(MelodyError, match=r"note 120 at 0.50 s is outside"):
        check_sketch_pitches([Note(0.0, 0.5, 60), Note(0.5, 1.0, SKETCH_MAX_PITCH + 12)])
    # out-of-range notes in training data are skipped, not an error
    assert np.abs(render_sketch([Note(0.0, 0.5, 127)], SAMPLE_RATE)).max() == 0


def test_frame_rate_matches_the_front_end():
    frames = 2 * SAMPLE_RATE // HOP_LENGTH
    assert sketch_log_mel([Note(0.0, 2.0, 67)], frames).shape == (N_MELS, frames)


def _partials(wave: np.ndarray, f0: float) -> np.ndarray:
    """Magnitudes at f0, 2 f0, 3 f0, 4 f0 of a held stretch."""
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    freqs = np.fft.rfftfreq(len(wave), 1 / SAMPLE_RATE)
    return np.array([spectrum[np.abs(freqs - k * f0).argmin()] for k in (1, 2, 3, 4)])


def test_training_timbres_change_the_sound_not_the_pitch_or_timing():
    note, n = Note(0.2, 0.8, 57), SAMPLE_RATE  # A3, 220 Hz
    held = slice(int(0.3 * SAMPLE_RATE), int(0.7 * SAMPLE_RATE))
    assert np.array_equal(render_sketch([note], n, timbre=SketchTimbre()), render_sketch([note], n))  # the default
    pure = _partials(render_sketch([note], n, timbre=SketchTimbre(num_harmonics=1))[held], 220.0)
    assert pure.argmax() == 0 and pure[1:].max() < 0.01 * pure[0]  # one partial: a sine at the note's pitch
    odd = _partials(render_sketch([note], n, timbre=SketchTimbre(num_harmonics=8, odd_only=True))[held], 220.0)
    assert odd[2] > 0.2 * odd[0] and max(odd[1], odd[3]) < 0.01 * odd[0]  # odd partials only (clarinet-like)
    mellow = _partials(render_sketch([note], n, timbre=SketchTimbre(rolloff=2.0))[held], 220.0)
    bright = _partials(render_sketch([note], n)[held], 220.0)
    assert mellow[1] / mellow[0] < 0.7 * bright[1] / bright[0]  # a steeper roll-off
    plucked = render_sketch([note], n, timbre=SketchTimbre(decay_per_s=5.0))
    early, late = (np.abs(plucked[int(t * SAMPLE_RATE) : int((t + 0.1) * SAMPLE_RATE)]).max() for t in (0.25, 0.65))
    assert late < 0.25 * early  # exp(-5 * 0.4) = 0.14: it decays
    before, after = plucked[: int(0.19 * SAMPLE_RATE)], plucked[int(0.81 * SAMPLE_RATE) :]
    assert np.abs(before).max() == 0 and np.abs(after).max() == 0  # the note's timing is untouched


def test_random_training_timbres_are_seeded_and_varied():
    draws = [random_sketch_timbre(np.random.default_rng([0, i])) for i in range(64)]
    assert draws == [random_sketch_timbre(np.random.default_rng([0, i])) for i in range(64)]
    assert len(set(draws)) == 64 and {d.odd_only for d in draws} == {True, False}
    assert all(1 <= d.num_harmonics <= 12 and 0.5 <= d.rolloff <= 2.0 and d.decay_per_s >= 0 for d in draws)
    assert 0 < sum(d.decay_per_s > 0 for d in draws) < 64
