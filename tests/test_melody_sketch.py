"""The melody sketch (the frame-aligned melody condition): rendering, placement in time, length fitting, errors."""

import numpy as np
import pytest

from mmgen.audio import HOP_LENGTH, LOG_MEL_SILENCE, N_MELS, SAMPLE_RATE, mel_filters
from mmgen.melody.notes import MelodyError, Note
from mmgen.melody.sketch import (
    SKETCH_MAX_PITCH,
    check_sketch_pitches,
    fit_to_length,
    midi_to_hz,
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
