"""The pluggable embedder interface: musicnn by name, VGGish / PANNs Cnn14 from user safetensors files
(tested with randomly initialised models of the right architecture)."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from mmgen.eval.audio_metrics import set_metrics
from mmgen.eval.embedders import EmbedderError, load_embedder
from mmgen.eval.panns import Cnn14, PannsEmbedder
from mmgen.eval.vggish import VGGish, VGGishEmbedder, vggish_examples, vggish_mel_matrix

SR = 22050


def _waves(n=3, seconds=2.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    return [(0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t) + 0.05 * rng.normal(size=t.size)).astype(np.float32)
            for i in range(n)]  # fmt: skip


def _save(model, path):
    torch.manual_seed(0)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def test_vggish_front_end_shapes():
    assert vggish_mel_matrix().shape == (257, 64)
    examples = vggish_examples(_waves(1, seconds=2.0)[0], SR)
    assert examples.shape == (2, 96, 64) and examples.dtype == np.float32
    assert vggish_examples(np.zeros(1000, dtype=np.float32), SR).shape == (1, 96, 64)


def test_vggish_loader_round_trip_tiny(tmp_path):
    model = VGGish(channels=(4, 4, 8, 8, 8, 8), hidden=16, embedding_dim=12)
    path = _save(model, tmp_path / "vggish.safetensors")
    embedder = load_embedder("vggish", path)
    assert isinstance(embedder, VGGishEmbedder) and embedder.embedding_dim == 12
    features = embedder.features(_waves(1)[0], SR)
    assert features.embeddings.shape == (2, 12) and features.probabilities is None
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(vggish_examples(_waves(1)[0], SR)))
    np.testing.assert_allclose(features.embeddings, expected.numpy(), rtol=1e-5, atol=1e-6)
    results = set_metrics(embedder.features_batch(_waves(), SR), embedder.features_batch(_waves(seed=1), SR), "vggish")
    assert set(results) == {"fad_vggish"}  # no classifier head: no KL / IS


def test_panns_loader_round_trip_tiny(tmp_path):
    model = Cnn14(channels=(4, 4, 8, 8, 8, 16), num_classes=527)
    state = dict(model.state_dict())
    state["logmel_extractor.melW"] = torch.zeros(1025, 64)  # fixed buffers of the released file are ignored
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "cnn14.safetensors"))
    embedder = load_embedder("panns", tmp_path / "cnn14.safetensors")
    assert isinstance(embedder, PannsEmbedder) and embedder.num_classes == 527
    gen, ref = embedder.features_batch(_waves(2), SR), embedder.features_batch(_waves(2, seed=1), SR)
    assert gen[0].embeddings.shape == (1, 16) and gen[0].probabilities.shape == (527,)
    assert set(set_metrics(gen, ref, "panns")) == {"fad_panns", "kl_panns", "is_panns", "is_panns_std"}


def test_loader_errors(tmp_path):
    with pytest.raises(EmbedderError, match="needs a weights file"):
        load_embedder("vggish")
    with pytest.raises(EmbedderError, match="unknown embedder"):
        load_embedder("openl3")
    (tmp_path / "w.pth").write_bytes(b"x")
    with pytest.raises(EmbedderError, match="only .safetensors"):
        load_embedder("vggish", tmp_path / "w.pth")
    path = _save(Cnn14(channels=(4, 4, 8, 8, 8, 16)), tmp_path / "cnn14.safetensors")
    with pytest.raises(EmbedderError, match="not VGGish"):
        load_embedder("vggish", path)


def test_musicnn_embedder_by_name():
    embedder = load_embedder("musicnn-msd", layer="mean_pool", hop_seconds=1.0)
    assert embedder.name == "musicnn" and embedder.embedding_dim == 753 and embedder.labels[0] == "rock"
    features = embedder.features(_waves(1, seconds=5.0)[0], SR)
    assert features.embeddings.shape == (3, 753) and features.probabilities.shape == (50,)
    with pytest.raises(EmbedderError, match="layer"):
        load_embedder("musicnn", layer="logits")


@pytest.mark.slow
def test_full_size_vggish_and_cnn14_load_from_safetensors(tmp_path):
    vggish = VGGish()
    assert sum(p.numel() for p in vggish.parameters()) == pytest.approx(72.1e6, rel=2e-3)  # VGGish as published
    embedder = VGGishEmbedder.from_file(_save(vggish, tmp_path / "vggish.safetensors"))
    assert embedder.features(_waves(1, seconds=1.0)[0], SR).embeddings.shape == (1, 128)
    del vggish, embedder
    cnn14 = Cnn14()
    assert sum(p.numel() for p in cnn14.parameters()) == pytest.approx(80.8e6, rel=2e-3)  # Cnn14 as published
    panns = PannsEmbedder.from_file(_save(cnn14, tmp_path / "cnn14.safetensors"))
    features = panns.features(_waves(1, seconds=1.0)[0], SR)
    assert features.embeddings.shape == (1, 2048) and features.probabilities.shape == (527,)
