"""mmgen.audio: the HiFi-GAN log-mel front end, loading, validation and padding."""

import io

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from mmgen.audio import (
    HOP_LENGTH,
    LOG_MEL_SILENCE,
    N_FFT,
    N_MELS,
    PAD,
    PITCH_BINS,
    PITCH_MIDI_LOW,
    SAMPLE_RATE,
    AudioError,
    load_audio,
    log_mel_spectrogram,
    mel_filters,
    num_frames,
    pad_or_trim,
    save_audio,
    semitone_filters,
    semitone_spectrogram,
    validate_waveform,
)


def hifigan_mel_spectrogram(y, n_fft=1024, num_mels=80, sampling_rate=22050, hop_size=256, win_size=1024, fmin=0,
                            fmax=8000):  # fmt: skip
    """jik876/hifi-gan meldataset.mel_spectrogram, restated with today's torch ops (complex STFT)."""
    mel_basis = torch.from_numpy(
        librosa.filters.mel(sr=sampling_rate, n_fft=n_fft, n_mels=num_mels, fmin=fmin, fmax=fmax)
    ).float()
    hann_window = torch.hann_window(win_size)
    pad = int((n_fft - hop_size) / 2)
    y = torch.nn.functional.pad(y.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    spec = torch.stft(y, n_fft, hop_length=hop_size, win_length=win_size, window=hann_window, center=False,
                      pad_mode="reflect", normalized=False, onesided=True, return_complex=True)  # fmt: skip
    spec = torch.view_as_real(spec)
    spec = torch.sqrt(spec.pow(2).sum(-1) + 1e-9)
    spec = torch.matmul(mel_basis, spec)
    return torch.log(torch.clamp(spec, min=1e-5) * 1)  # spectral_normalize_torch, C = 1


@pytest.fixture
def noise():
    rng = np.random.default_rng(0)
    return (0.3 * rng.standard_normal((2, SAMPLE_RATE))).astype(np.float32)


def tone(freq, seconds, sr, amplitude=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# ---- log-mel ---------------------------------------------------------------------------------------------------


def test_numpy_and_torch_log_mel_agree(noise):
    from_numpy = log_mel_spectrogram(noise)
    from_torch = log_mel_spectrogram(torch.from_numpy(noise))
    assert isinstance(from_numpy, np.ndarray) and isinstance(from_torch, torch.Tensor)
    assert from_numpy.shape == tuple(from_torch.shape) == (2, N_MELS, SAMPLE_RATE // HOP_LENGTH)
    np.testing.assert_allclose(from_numpy, from_torch.numpy(), atol=1e-4)


def test_log_mel_matches_hifigan_formula(noise):
    expected = hifigan_mel_spectrogram(torch.from_numpy(noise))
    actual = log_mel_spectrogram(torch.from_numpy(noise))
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("n_samples", [1024, 5000, 22050, 22050 * 3 + 17])
def test_frames_are_samples_over_hop(n_samples):
    wave = np.random.default_rng(n_samples).standard_normal(n_samples).astype(np.float32) * 0.1
    assert num_frames(n_samples) == n_samples // HOP_LENGTH
    assert log_mel_spectrogram(wave).shape == (N_MELS, n_samples // HOP_LENGTH)


def test_log_mel_of_silence_is_the_clamp_value():
    mel = log_mel_spectrogram(np.zeros(4096, dtype=np.float32))
    np.testing.assert_allclose(mel, LOG_MEL_SILENCE, atol=1e-3)


def test_log_mel_puts_a_tone_in_the_right_band():
    mel = log_mel_spectrogram(tone(1000.0, 1.0, SAMPLE_RATE))
    centres = librosa.mel_frequencies(n_mels=N_MELS + 2, fmin=0, fmax=8000)[1:-1]
    assert abs(centres[int(np.argmax(mel.mean(axis=1)))] - 1000.0) < 100.0


def test_log_mel_rejects_too_short_audio():
    with pytest.raises(AudioError, match="too short"):
        log_mel_spectrogram(np.zeros(100, dtype=np.float32))


# ---- semitone spectrogram (the aligner's pitch rows) -----------------------------------------------------------


@pytest.mark.parametrize("midi", [40, 52, 60, 61, 72, 88, 99])
def test_semitone_spectrogram_puts_a_tone_on_its_own_row(midi):
    wave = tone(440.0 * 2 ** ((midi - 69) / 12), 1.0, SAMPLE_RATE)
    pitch = semitone_spectrogram(wave)
    assert pitch.shape == (PITCH_BINS, log_mel_spectrogram(wave).shape[-1]) and pitch.dtype == np.float32
    profile = pitch[:, 20:-20].mean(axis=1)
    row = midi - PITCH_MIDI_LOW
    assert int(np.argmax(profile)) == row
    if 44 <= midi <= 98:  # a semitone away is clearly weaker wherever the STFT resolves semitones
        assert profile[row] - max(profile[row - 1], profile[row + 1]) > 0.5


def test_semitone_spectrogram_numpy_and_torch_agree_and_silence_is_the_clamp(noise):
    np.testing.assert_allclose(semitone_spectrogram(noise), semitone_spectrogram(torch.from_numpy(noise)).numpy())
    assert semitone_spectrogram(noise).shape == (2, PITCH_BINS, SAMPLE_RATE // HOP_LENGTH)
    np.testing.assert_allclose(semitone_spectrogram(np.zeros(4096, np.float32)), LOG_MEL_SILENCE, atol=1e-3)
    with pytest.raises(AudioError, match="too short"):
        semitone_spectrogram(np.zeros(100, dtype=np.float32))


def test_semitone_filters_cover_every_row_once():
    filters = semitone_filters()
    np.testing.assert_allclose(filters.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all((filters > 0).sum(axis=1) >= 2) and np.all(filters >= 0)


def test_front_end_constants():
    assert PAD == 384 and HOP_LENGTH == 256 and N_MELS == 80
    assert num_frames(SAMPLE_RATE) == SAMPLE_RATE // HOP_LENGTH
    assert mel_filters().shape == (N_MELS, N_FFT // 2 + 1)


# ---- load_audio ------------------------------------------------------------------------------------------------


@pytest.fixture
def stereo_44k():
    """1 s at 44.1 kHz: a 440 Hz tone, left at amplitude 0.6, right at 0.2 (mono mean: 0.4)."""
    left, right = tone(440.0, 1.0, 44100, 0.6), tone(440.0, 1.0, 44100, 0.2)
    return np.stack([left, right], axis=1)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_load_audio_downmixes_and_resamples(tmp_path, stereo_44k, suffix):
    path = tmp_path / f"tone{suffix}"
    sf.write(path, stereo_44k, 44100, subtype="PCM_16")
    wave = load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - SAMPLE_RATE) <= 1
    inner = wave[1000:-1000]
    assert np.max(np.abs(inner)) == pytest.approx(0.4, abs=0.01)
    spectrum = np.abs(np.fft.rfft(inner))
    assert np.fft.rfftfreq(len(inner), 1 / SAMPLE_RATE)[np.argmax(spectrum)] == pytest.approx(440.0, abs=2.0)


def test_load_audio_from_bytes_and_file_object(tmp_path, stereo_44k):
    path = tmp_path / "tone.flac"
    sf.write(path, stereo_44k, 44100)
    data = path.read_bytes()
    from_path = load_audio(path)
    np.testing.assert_array_equal(load_audio(data), from_path)
    np.testing.assert_array_equal(load_audio(io.BytesIO(data)), from_path)


def test_load_audio_other_rate_and_segment(tmp_path):
    path = tmp_path / "tone.wav"
    save_audio(path, tone(220.0, 2.0, SAMPLE_RATE))
    assert len(load_audio(path, sr=16000)) == 32000
    part = load_audio(path, offset_s=0.5, duration_s=1.0)
    assert len(part) == SAMPLE_RATE


def test_save_audio_round_trip_torch(tmp_path):
    wave = torch.from_numpy(tone(330.0, 0.5, SAMPLE_RATE))
    save_audio(tmp_path / "x.wav", wave)
    np.testing.assert_allclose(load_audio(tmp_path / "x.wav"), wave.numpy(), atol=1e-4)


def test_missing_file_raises(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav")


def test_unreadable_bytes_raise():
    with pytest.raises(AudioError, match="could not read audio"):
        load_audio(b"this is not audio at all" * 10)


def test_empty_audio_raises(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="empty"):
        load_audio(path)
    with pytest.raises(AudioError, match="empty"):
        validate_waveform(np.zeros(0))


def test_silent_audio_only_raises_when_refused(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
    assert np.all(load_audio(path) == 0)
    with pytest.raises(AudioError, match="silent"):
        load_audio(path, allow_silent=False)


def test_nan_audio_raises(tmp_path):
    wave = tone(440.0, 0.5, SAMPLE_RATE)
    wave[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, wave, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(path)
    with pytest.raises(AudioError, match="NaN"):
        validate_waveform(wave)


def test_too_long_audio_raises(tmp_path):
    path = tmp_path / "long.wav"
    save_audio(path, tone(440.0, 3.0, SAMPLE_RATE))
    with pytest.raises(AudioError, match="more than the limit"):
        load_audio(path, max_duration_s=2.0)
    assert len(load_audio(path, max_duration_s=None)) == 3 * SAMPLE_RATE
    with pytest.raises(AudioError, match="more than the limit"):
        validate_waveform(np.ones(3 * SAMPLE_RATE), max_duration_s=2.0)


def test_validate_waveform_rejects_multichannel():
    with pytest.raises(AudioError, match="mono"):
        validate_waveform(np.zeros((2, 100)))


def test_audio_error_is_a_value_error():
    assert issubclass(AudioError, ValueError)


# ---- pad_or_trim -----------------------------------------------------------------------------------------------


def test_pad_or_trim_numpy_and_torch():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    padded = pad_or_trim(array, 5, pad_value=-1)
    assert padded.shape == (2, 5) and np.all(padded[:, 3:] == -1) and np.all(padded[:, :3] == array)
    assert np.all(pad_or_trim(array, 2) == array[:, :2])
    assert pad_or_trim(array, 4, axis=0).shape == (4, 3)
    tensor = torch.from_numpy(array)
    assert torch.equal(pad_or_trim(tensor, 5, pad_value=-1), torch.from_numpy(padded))
    assert torch.equal(pad_or_trim(tensor, 1, axis=0), tensor[:1])
    assert pad_or_trim(tensor, 4, axis=0).shape == (4, 3)
