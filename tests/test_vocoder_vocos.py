"""The Vocos-style vocoder (`mmgen.models.vocos.VocosVocoder`): shapes, alignment, save/load, errors, dispatch."""

import json
import os

import numpy as np
import pytest
import torch

from mmgen.audio import HOP_LENGTH, N_MELS, log_mel_spectrogram
from mmgen.griffin_lim import istft, stft
from mmgen.models.vocoder import VocoderError, load_vocoder, mel_to_audio
from mmgen.models.vocos import VocosVocoder

TINY = {"hidden_dim": 16, "intermediate_dim": 32, "num_layers": 2}


def tiny_vocos(seed: int = 0) -> VocosVocoder:
    torch.manual_seed(seed)
    return VocosVocoder(**TINY).eval()


@pytest.fixture(scope="module")
def vocos():
    return tiny_vocos()


def _mel(frames: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, N_MELS, frames, generator=torch.Generator().manual_seed(seed)) - 5.0


@pytest.mark.parametrize("frames", [2, 7, 64])
def test_output_is_frames_times_hop(vocos, frames):
    assert vocos.decode(_mel(frames, batch=3)).shape == (3, frames * HOP_LENGTH)
    out = vocos.decode(_mel(frames)[0])  # (80, frames) is taken as a batch of one
    assert out.shape == (1, frames * HOP_LENGTH) and out.dtype == torch.float32 and torch.isfinite(out).all()


def test_head_is_the_front_ends_inverse_stft(vocos):
    """The waveform is the iSTFT of the predicted spectrogram on the analysis grid: a consistent spectrogram
    (one that is the STFT of some signal) comes back from re-analysing the output, frame for frame."""
    wave = torch.randn(1, 20 * HOP_LENGTH, generator=torch.Generator().manual_seed(1))
    target = stft(wave)
    vocos_spectrogram = vocos.spectrogram
    try:
        vocos.spectrogram = lambda log_mel: target
        out = vocos.decode(_mel(20))
    finally:
        vocos.spectrogram = vocos_spectrogram
    assert torch.allclose(out, wave, atol=1e-5)
    assert torch.allclose(stft(out), target, atol=1e-3)
    assert torch.allclose(istft(vocos.spectrogram(_mel(20))), vocos.decode(_mel(20)))


def test_batch_items_are_independent(vocos):
    mels = _mel(16, batch=2)
    both = vocos.decode(mels)
    assert torch.allclose(both[1], vocos.decode(mels[1:])[0], atol=1e-6)


def test_save_and_load_round_trip(vocos, tmp_path):
    vocos.save_pretrained(tmp_path / "v")
    files = sorted(os.listdir(tmp_path / "v"))
    assert "diffusion_pytorch_model.safetensors" in files and "config.json" in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl"))]
    assert json.loads((tmp_path / "v" / "config.json").read_text())["_class_name"] == "VocosVocoder"
    loaded = VocosVocoder.from_pretrained(tmp_path / "v").eval()
    assert loaded.config.hidden_dim == TINY["hidden_dim"]
    mel = _mel(12)
    assert torch.equal(loaded.decode(mel), vocos.decode(mel))
    # load_vocoder tells the architectures apart by the folder's config
    assert isinstance(load_vocoder(str(tmp_path / "v")), VocosVocoder)


def test_half_precision_weights_load_as_float32(vocos, tmp_path):
    """The shipped vocoder stores float16 weights (half the size); load_vocoder runs it in float32."""
    vocos.to(torch.float16).save_pretrained(tmp_path / "half")
    vocos.to(torch.float32)
    loaded = load_vocoder(str(tmp_path / "half"))
    assert next(loaded.parameters()).dtype == torch.float32
    mel = _mel(12)
    assert (loaded.decode(mel) - vocos.decode(mel)).abs().max() < 1e-2 * vocos.decode(mel).abs().max() + 1e-4


@pytest.mark.parametrize(
    "bad, text",
    [
        (torch.zeros(64, 50), r"\(64, 50\)"),
        (torch.zeros(2, 50, 80), r"\(2, 50, 80\)"),
        (torch.zeros(1, 1, 80, 50), r"\(1, 1, 80, 50\)"),
        (torch.zeros(80, 1), "1 frames"),
        (torch.full((80, 10), float("nan")), "NaN"),
        (torch.full((1, 80, 10), float("inf")), "infinite"),
        (np.zeros((80, 10), np.float32), "torch tensor"),
    ],
)
def test_bad_input_raises_a_vocoder_error(vocos, bad, text):
    with pytest.raises(VocoderError, match=text):
        vocos.decode(bad)


def test_mel_to_audio_vocos_method(vocos):
    mel = log_mel_spectrogram(torch.sin(torch.arange(24 * HOP_LENGTH) * 0.05)[None])
    out = mel_to_audio(mel[0].numpy(), vocoder=vocos, method="vocos")
    assert isinstance(out, np.ndarray) and out.shape == (24 * HOP_LENGTH,) and out.dtype == np.float32
    np.testing.assert_allclose(out, vocos.decode(mel)[0].numpy(), atol=1e-6)
    refined = mel_to_audio(mel, vocoder=vocos, method="vocos", griffin_lim_iters=4)
    assert refined.shape == (1, 24 * HOP_LENGTH) and not np.allclose(refined[0].numpy(), out)
    # Griffin-Lim refinement moves the output towards the mel it was given
    error = {name: (log_mel_spectrogram(torch.as_tensor(w).reshape(1, -1)) - mel).abs().mean().item()
             for name, w in (("plain", out), ("refined", refined))}  # fmt: skip
    assert error["refined"] < error["plain"]


def test_vocos_method_needs_a_vocos():
    with pytest.raises(VocoderError, match="needs a VocosVocoder"):
        mel_to_audio(_mel(8), vocoder=None, method="vocos")
    with pytest.raises(VocoderError, match="griffin_lim_iters"):
        mel_to_audio(_mel(8), vocoder=tiny_vocos(), method="vocos", griffin_lim_iters=-1)


def test_unsupported_stft_is_refused():
    with pytest.raises(ValueError, match="n_fft"):
        VocosVocoder(n_fft=2048)
    with pytest.raises(ValueError, match="kernel_size"):
        VocosVocoder(kernel_size=4)


def test_pipeline_round_trip_with_a_vocos(tmp_path):
    """A pipeline whose vocoder is a VocosVocoder uses it by default, saves it as a component (safetensors +
    config, loadable alone), loads it back to the same audio, and can still select the packaged HiFi-GAN."""
    from pipeline_dummies import get_dummy_components

    from pipelines.pipeline_mmgen import MMGenPipeline

    components = get_dummy_components()
    components["vocoder"] = tiny_vocos()
    pipe = MMGenPipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.config.vocoder_method == "vocos"

    def run(p):
        return p(prompt="a tune", audio_length_in_s=0.5, num_inference_steps=2,
                 generator=torch.Generator().manual_seed(0)).audios  # fmt: skip

    before = run(pipe)
    assert before.shape == (1, int(0.5 * 22050)) and np.isfinite(before).all()
    mel = torch.randn(1, N_MELS, 8, generator=torch.Generator().manual_seed(0)) - 5
    np.testing.assert_allclose(pipe.mel_to_waveform(mel, 8 * HOP_LENGTH).numpy(), pipe.vocoder.decode(mel).numpy())

    pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["vocoder"] == ["mmgen.models.vocos", "VocosVocoder"] and index["vocoder_method"] == "vocos"
    assert (tmp_path / "vocoder" / "diffusion_pytorch_model.safetensors").is_file()
    assert isinstance(VocosVocoder.from_pretrained(tmp_path / "vocoder"), VocosVocoder)
    loaded = MMGenPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.vocoder, VocosVocoder)
    np.testing.assert_allclose(run(loaded), before, atol=1e-5)

    hybrid = MMGenPipeline.from_pretrained(tmp_path, vocoder_method="hybrid")
    assert hybrid.config.vocoder_method == "hybrid" and isinstance(hybrid.vocoder, VocosVocoder)
    out = hybrid.mel_to_waveform(mel, 8 * HOP_LENGTH)  # the packaged HiFi-GAN + Griffin-Lim
    assert out.shape == (1, 8 * HOP_LENGTH) and not torch.allclose(out, pipe.vocoder.decode(mel))


def test_pipeline_refuses_vocos_method_without_a_vocos():
    from pipeline_dummies import get_dummy_components

    from pipelines.pipeline_mmgen import MMGenPipeline

    components = get_dummy_components()
    assert MMGenPipeline(**components).config.vocoder_method == "hybrid"  # a HiFi-GAN keeps the hybrid
    with pytest.raises(VocoderError, match="vocoder_method 'vocos' needs a VocosVocoder"):
        MMGenPipeline(**components, vocoder_method="vocos")


def test_priors_are_what_an_untrained_head_gives():
    """With the head's output at zero, the spectrogram is the priors: the mel's least-squares magnitude and the
    steady-partial phase advance (the STFT's own advance for a tone at a bin's centre)."""
    from mmgen.griffin_lim import mel_to_linear_magnitude
    from mmgen.models.vocos import steady_phase

    vocos = tiny_vocos()
    with torch.no_grad():
        vocos.head.weight.zero_()
        vocos.head.bias.zero_()
    mel = log_mel_spectrogram(torch.sin(torch.arange(16 * HOP_LENGTH) * 0.3)[None])
    spectrogram = vocos.spectrogram(mel)
    expected = mel_to_linear_magnitude(mel, n_iter=vocos.config.prior_iters).clamp(min=1e-5)
    assert torch.allclose(spectrogram.abs(), expected, rtol=1e-4)
    phase = torch.angle(spectrogram[0]) % (2 * torch.pi)
    assert torch.allclose(phase, steady_phase(513, 16) % (2 * torch.pi), atol=1e-4)

    k = 41
    tone = torch.cos(2 * torch.pi * k / 1024 * torch.arange(30 * HOP_LENGTH, dtype=torch.float64))[None]
    advance = torch.diff(torch.angle(stft(tone)[0, k]))[2:-3]  # the edges see the reflect padding
    expected_advance = torch.diff(steady_phase(513, 30)[k].double())[2:-3]
    assert torch.allclose(torch.remainder(advance - expected_advance + torch.pi, 2 * torch.pi) - torch.pi,
                          torch.zeros_like(advance), atol=1e-6)  # fmt: skip

    plain = VocosVocoder(**TINY, magnitude_prior=False, phase_prior=False)
    with torch.no_grad():
        plain.head.weight.zero_()
        plain.head.bias.zero_()
    assert torch.allclose(plain.spectrogram(mel).abs(), torch.ones(1, 513, 16))  # exp(0), zero phase


def test_vocos_hybrid_refines_towards_the_mel(vocos):
    mel = log_mel_spectrogram(torch.sin(torch.arange(24 * HOP_LENGTH) * 0.05)[None])
    plain = mel_to_audio(mel, vocoder=vocos, method="vocos")
    hybrid = mel_to_audio(mel, vocoder=vocos, method="vocos-hybrid", griffin_lim_iters=8)
    assert hybrid.shape == plain.shape == (1, 24 * HOP_LENGTH)
    error = {name: (log_mel_spectrogram(w) - mel).abs().mean().item() for name, w in (("plain", plain),
             ("hybrid", hybrid))}  # fmt: skip
    assert error["hybrid"] < error["plain"]
    with pytest.raises(VocoderError, match="'vocos-hybrid' needs a VocosVocoder"):
        mel_to_audio(mel, method="vocos-hybrid")
