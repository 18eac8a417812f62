"""TriModalAligner with tiny towers: shapes, normalisation, loss, masking, save/load, Auto classes."""

import json

import numpy as np
import pytest
import torch
from fixtures import save_tiny_text_encoder, tiny_aligner_config
from safetensors import safe_open
from transformers import AutoConfig, AutoModel

from mmgen.audio import LOG_MEL_SILENCE, PITCH_BINS, SAMPLE_RATE, log_mel_spectrogram, semitone_spectrogram
from mmgen.models.aligner import (
    PITCH_AUDIO_CONFIG,
    AlignerConfigError,
    AlignerInputError,
    HTSATInputAdapter,
    TriModalAligner,
    TriModalAlignerConfig,
    TriModalAlignerFeatureExtractor,
    stack_audio_features,
)
from mmgen.models.aligner.configuration_aligner import DEFAULT_AUDIO_CONFIG, TINY_AUDIO_CONFIG, TINY_PITCH_AUDIO_CONFIG

MELODIES = [
    "<C4>,<114>,<79>|<E4>,<114>,<79>|<G4>,<200>,<79>",
    "<A3>,<90>,<85>",
    "<D5>,<150>,<79>|<C5>,<150>,<79>|<B4>,<150>,<79>|<A4>,<300>,<79>",
    "<F4>,<60>,<100>|<F4>,<60>,<100>",
]
CAPTIONS = ["a calm piano melody", "fast drums and bass", "a sad violin tune in a minor", "happy flute"]


@pytest.fixture(scope="module")
def text_encoder(tmp_path_factory):
    return save_tiny_text_encoder(tmp_path_factory.mktemp("tiny_text_encoder"))


@pytest.fixture
def model(text_encoder):
    torch.manual_seed(0)
    return TriModalAligner.from_text_pretrained(tiny_aligner_config(text_encoder)).eval()


def make_batch(model, n=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    text = model.tokenize_text(CAPTIONS[:n])
    melody = model.tokenize_melody(MELODIES[:n])
    mel = torch.randn(n, 80, 86, generator=generator) * 2 - 5
    return {**text, "input_features": mel, **melody}


def test_features_are_normalised_with_the_projection_dim(model):
    batch = make_batch(model)
    features = [
        model.get_text_features(batch["input_ids"], batch["attention_mask"]),
        model.get_audio_features(batch["input_features"]),
        model.get_melody_features(batch["melody_input_ids"], batch["melody_attention_mask"]),
    ]
    for f in features:
        assert f.shape == (4, model.config.projection_dim)
        torch.testing.assert_close(f.norm(dim=-1), torch.ones(4))


def test_forward_returns_six_logits_and_the_mean_of_six_infonce_terms(model):
    out = model(**make_batch(model), return_loss=True)
    scale = model.logit_scale.exp()
    pairs = [("audio", "text"), ("audio", "melody"), ("text", "melody")]
    terms = []
    for x, y in pairs:
        xy, yx = getattr(out, f"logits_{x}_{y}"), getattr(out, f"logits_{y}_{x}")
        assert xy.shape == (4, 4)
        torch.testing.assert_close(yx, xy.t())
        expected = scale * getattr(out, f"{x}_embeds") @ getattr(out, f"{y}_embeds").t()
        torch.testing.assert_close(xy, expected)
        labels = torch.arange(4)
        terms += [torch.nn.functional.cross_entropy(xy, labels), torch.nn.functional.cross_entropy(yx, labels)]
    torch.testing.assert_close(out.loss, torch.stack(terms).mean())
    assert model(**make_batch(model)).loss is None


def test_loss_decreases_when_training_a_few_steps(model):
    model.train()
    batch = make_batch(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=3e-3)
    losses = []
    for _ in range(8):
        loss = model(**batch, return_loss=True).loss
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1


def test_frozen_text_encoder_gets_no_gradient_and_stays_in_eval_mode(model):
    model.train()
    assert not model.text_model.training and model.audio_model.training
    assert all(not p.requires_grad for p in model.text_model.parameters())
    model(**make_batch(model), return_loss=True).loss.backward()
    assert all(p.grad is None for p in model.text_model.parameters())
    assert model.text_projection.linear1.weight.grad is not None


def test_melody_padding_does_not_change_the_embedding(model):
    short = model.tokenize_melody(MELODIES[:2])
    ids, mask = short["melody_input_ids"], short["melody_attention_mask"]
    pad = model.melody_tokenizer.pad_token_id
    padded_ids = torch.cat([ids, torch.full((2, 40), pad)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(2, 40, dtype=mask.dtype)], dim=1)
    # garbage under the mask must not matter either
    noisy_ids = padded_ids.clone()
    noisy_ids[padded_mask == 0] = 100
    reference = model.get_melody_features(ids, mask)
    torch.testing.assert_close(model.get_melody_features(padded_ids, padded_mask), reference, atol=1e-6, rtol=0)
    torch.testing.assert_close(model.get_melody_features(noisy_ids, padded_mask), reference, atol=1e-6, rtol=0)
    # each row of a batch equals the row embedded alone (its own padding length)
    alone = model.embed_melody(MELODIES[1])
    torch.testing.assert_close(alone[0], model.embed_melody(MELODIES[:3])[1], atol=1e-6, rtol=0)
    assert not torch.allclose(reference[0], reference[1])


def test_bad_inputs_raise_value_errors(model):
    batch = make_batch(model, n=2)
    with pytest.raises(AlignerInputError, match="no tokens"):
        model.get_melody_features(batch["melody_input_ids"], torch.zeros_like(batch["melody_attention_mask"]))
    with pytest.raises(ValueError, match="80"):
        model.get_audio_features(torch.randn(2, 64, 100))
    with pytest.raises(AlignerInputError, match="two modalities"):
        model(input_features=batch["input_features"])


def test_config_checks_name_the_wrong_field(text_encoder):
    with pytest.raises(AlignerConfigError, match="window_size"):
        tiny_aligner_config(text_encoder, audio_config={**TINY_AUDIO_CONFIG, "window_size": 16})
    with pytest.raises(AlignerConfigError, match="hidden_size"):
        tiny_aligner_config(text_encoder, audio_config={**TINY_AUDIO_CONFIG, "hidden_size": 8})
    with pytest.raises(AlignerConfigError, match="num_mel_bins .80. must be a multiple of .* = 32"):
        # The default HTS-AT fed the front end's 80 mel rows: caught here, not as a reshape error inside the tower.
        tiny_aligner_config(text_encoder, audio_config={**DEFAULT_AUDIO_CONFIG, "num_mel_bins": 80, "spec_size": 160})
    with pytest.raises(AlignerConfigError, match="modalities"):
        tiny_aligner_config(text_encoder, modalities=["audio", "video"])


def test_bimodal_baseline_has_no_melody_tower(text_encoder):
    model = TriModalAligner.from_text_pretrained(tiny_aligner_config(text_encoder, modalities=["audio", "text"]))
    assert model.melody_model is None
    batch = make_batch(model, n=3)
    out = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        input_features=batch["input_features"],
        return_loss=True,
    )
    assert out.logits_audio_melody is None and out.logits_audio_text.shape == (3, 3)
    with pytest.raises(AlignerInputError, match="no melody tower"):
        model.embed_melody(MELODIES[:1])


def test_embed_audio_averages_windows_of_long_clips(model):
    rng = np.random.default_rng(0)
    window = int(model.config.audio_clip_seconds * SAMPLE_RATE)
    first, second = (0.1 * rng.standard_normal(window).astype(np.float32) for _ in range(2))
    both = model.embed_audio([np.concatenate([first, second]), first])
    assert both.shape == (2, model.config.projection_dim)
    parts = model.embed_audio([first, second])
    expected = torch.nn.functional.normalize(parts.sum(0), dim=0)
    # the boundary frames see the neighbouring window through the STFT, hence a loose tolerance
    assert torch.nn.functional.cosine_similarity(both[0], expected, dim=0) > 0.99
    torch.testing.assert_close(both[1], parts[0], atol=1e-5, rtol=0)
    features = TriModalAlignerFeatureExtractor(clip_seconds=1.0)([np.zeros(100, np.float32)])
    assert features["input_features"].shape == (1, 80, 86)


def test_save_and_load_round_trip_is_exact_and_skips_frozen_text_weights(model, tmp_path):
    model.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        keys = list(f.keys())
    assert keys and not any(k.startswith("text_model.") for k in keys)
    assert any(k.startswith("melody_model.") for k in keys)
    card = (tmp_path / "README.md").read_text()
    assert "Apache-2.0" in card and "tri-modal" in card and str(model.config.projection_dim) in card
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "trimodal_aligner"
    # No machine-local path of the resolved text encoder leaks into a publishable config.
    assert "_name_or_path" not in config["text_config"]["encoder_config"]

    reloaded = TriModalAligner.from_pretrained(tmp_path)
    for name in ("embed_text", "embed_melody"):
        data = CAPTIONS if name == "embed_text" else MELODIES
        torch.testing.assert_close(getattr(reloaded, name)(data), getattr(model, name)(data), atol=0, rtol=0)
    wave = [np.sin(np.linspace(0, 300, SAMPLE_RATE)).astype(np.float32)]
    # The weights are bit-identical (checked below), but on an AVX2-only CPU the reloaded audio tower's convolutions
    # differ from the original's by ~1e-7 (each model is deterministic on its own): compare its output to 1e-6.
    torch.testing.assert_close(reloaded.embed_audio(wave), model.embed_audio(wave), atol=1e-6, rtol=0)
    for (name, a), b in zip(model.state_dict().items(), reloaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_tuned_text_layers_are_saved_and_nothing_else_of_the_encoder(text_encoder, tmp_path):
    config = tiny_aligner_config(text_encoder, text_config={"trainable_layers": 1})
    model = TriModalAligner.from_text_pretrained(config)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad and n.startswith("text_model.")}
    assert trainable and all(".layer.1." in n for n in trainable)
    with torch.no_grad():
        for name in trainable:
            model.get_parameter(name).add_(0.5)  # pretend it was tuned
    model.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        saved_text = {k for k in f.keys() if k.startswith("text_model.")}
    assert saved_text == trainable
    reloaded = TriModalAligner.from_pretrained(tmp_path)
    torch.testing.assert_close(reloaded.embed_text(CAPTIONS), model.embed_text(CAPTIONS), atol=0, rtol=0)


def test_auto_classes_load_the_aligner(model, tmp_path):
    model.save_pretrained(tmp_path)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), TriModalAlignerConfig)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, TriModalAligner)
    torch.testing.assert_close(loaded.embed_text(CAPTIONS[:2]), model.embed_text(CAPTIONS[:2]), atol=0, rtol=0)


def test_push_to_hub_uploads_the_folder_with_our_model_card(model, fake_hub):
    assert "user/aligner" in str(model.push_to_hub("user/aligner"))
    [upload] = fake_hub
    assert upload["repo_id"] == "user/aligner"
    assert {"config.json", "model.safetensors", "README.md"} <= set(upload["files"])
    assert b"# TriModalAligner" in upload["files"]["README.md"]


# ---- semitone rows beside the log-mel (config.audio_pitch_bins) ---------------------------------------------------


@pytest.fixture
def pitch_model(text_encoder):
    torch.manual_seed(0)
    config = tiny_aligner_config(text_encoder, audio_config=dict(TINY_PITCH_AUDIO_CONFIG), audio_pitch_bins=PITCH_BINS)
    return TriModalAligner.from_text_pretrained(config).eval()


def test_pitch_model_takes_log_mel_and_semitone_rows(pitch_model):
    tune = np.concatenate([np.sin(2 * np.pi * 440 * 2 ** (k / 12) * np.arange(5512) / SAMPLE_RATE) for k in (0, 4, 7)])
    tune = (0.4 * tune).astype(np.float32)
    features = pitch_model.feature_extractor(tune)["input_features"]
    assert features.shape == (1, 80 + PITCH_BINS, 86)  # 0.75 s: 64 frames, padded with silence to the 1 s window
    torch.testing.assert_close(features[0, :80, :64], torch.from_numpy(log_mel_spectrogram(tune)))
    torch.testing.assert_close(features[0, 80:, :64], torch.from_numpy(semitone_spectrogram(tune)))
    assert torch.all(features[0, :, 64:] == LOG_MEL_SILENCE)
    assert pitch_model.embed_audio([tune]).shape == (1, pitch_model.config.projection_dim)
    with pytest.raises(ValueError, match=r"\(batch, 144, frames\) \(80 log-mel rows \+ 64 semitone rows"):
        pitch_model.get_audio_features(torch.randn(2, 80, 86))


def test_adapter_keeps_the_semitone_axis_and_only_resizes_time():
    adapter = HTSATInputAdapter(num_mel_bins=96, time_frames=48, pitch_bins=PITCH_BINS)
    pitch = torch.randn(2, PITCH_BINS, 1).expand(2, PITCH_BINS, 86)  # constant in time
    image = adapter(stack_audio_features(torch.randn(2, 80, 86), pitch))
    assert image.shape == (2, 1, 48, 96)
    torch.testing.assert_close(image[:, 0, :, 32:], pitch[:, :, :48].transpose(1, 2))  # rows 32.. are the semitones


def test_pitch_config_checks_and_round_trip(pitch_model, text_encoder, tmp_path):
    with pytest.raises(AlignerConfigError, match="audio_pitch_bins must be 0 or 64"):
        tiny_aligner_config(text_encoder, audio_config=dict(TINY_PITCH_AUDIO_CONFIG), audio_pitch_bins=12)
    with pytest.raises(AlignerConfigError, match="must exceed audio_pitch_bins"):
        tiny_aligner_config(text_encoder, audio_pitch_bins=PITCH_BINS)  # 64 rows in all leave none for the mel
    assert TriModalAlignerConfig(audio_config=PITCH_AUDIO_CONFIG, audio_pitch_bins=64).audio_config.num_mel_bins == 128
    pitch_model.save_pretrained(tmp_path)
    loaded = TriModalAligner.from_pretrained(tmp_path).eval()
    assert loaded.config.audio_pitch_bins == PITCH_BINS
    wave = 0.1 * np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32)
    torch.testing.assert_close(loaded.embed_audio([wave]), pitch_model.embed_audio([wave]))
