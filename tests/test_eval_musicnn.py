"""The musicnn port: TF checkpoint reading, output parity with TensorFlow, float32 preprocessing."""

import json
import os
import sys

import numpy as np
import pytest
import torch

from mmgen.eval.musicnn import (
    MUSICNN_PATCH_FRAMES,
    MusicnnError,
    MusicnnModel,
    frame_patches,
    musicnn_log_mel,
)
from mmgen.eval.tf_checkpoint import CheckpointFormatError, read_tf_checkpoint

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
sys.path.insert(0, DATA)
from musicnn_make_reference import reference_inputs  # noqa: E402

# Reference method: tests/data/musicnn_reference.json was recorded once by tests/data/musicnn_make_reference.py,
# which runs the package's own TensorFlow graph (musicnn.models.define_model, TensorFlow 2.15.1 CPU in a
# throwaway venv) restored from the same packaged checkpoints, on the fixed inputs of `reference_inputs()`.
with open(os.path.join(DATA, "musicnn_reference.json")) as f:
    REFERENCE = json.load(f)


@pytest.fixture(scope="module", params=["MTT_musicnn", "MSD_musicnn"])
def model_and_reference(request):
    return MusicnnModel.from_pretrained(request.param), REFERENCE["models"][request.param]


def test_checkpoint_reader_returns_model_variables_only():
    import musicnn

    tensors = read_tf_checkpoint(os.path.join(os.path.dirname(musicnn.__file__), "MTT_musicnn") + os.sep)
    assert len(tensors) == 64  # 11 batch norms x 4 + 8 convs x 2 + 2 dense x 2
    assert tensors["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert tensors["dense_1/kernel"].shape == (200, 50)
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in tensors.values())
    with_slots = read_tf_checkpoint(
        os.path.join(os.path.dirname(musicnn.__file__), "MTT_musicnn") + os.sep, skip_optimizer_slots=False
    )
    assert any(k.endswith("/Adam") for k in with_slots) and len(with_slots) > len(tensors)


def test_checkpoint_reader_rejects_non_checkpoints(tmp_path):
    with pytest.raises(CheckpointFormatError, match="no checkpoint index"):
        read_tf_checkpoint(tmp_path / "missing")
    (tmp_path / "bad.index").write_bytes(b"\0" * 64)
    with pytest.raises(CheckpointFormatError, match="magic"):
        read_tf_checkpoint(tmp_path / "bad")


def test_outputs_match_tensorflow(model_and_reference):
    model, reference = model_and_reference
    with torch.no_grad():
        out = model(torch.from_numpy(reference_inputs()))
    ref_logits = torch.tensor(reference["logits"])
    np.testing.assert_allclose(out.logits.numpy(), ref_logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(torch.sigmoid(out.logits).numpy(), torch.sigmoid(ref_logits).numpy(), atol=1e-4)
    np.testing.assert_allclose(out.penultimate.numpy(), np.array(reference["penultimate"]), atol=1e-4)
    # pooled activations reach about 60: float32 summation order differs, so compare relative to their scale
    for name in ("mean_pool", "max_pool"):
        expected = np.array(reference[name])
        np.testing.assert_allclose(getattr(out, name).numpy(), expected, atol=1e-5 * np.abs(expected).max())


def test_model_rejects_wrong_input_shape():
    model = MusicnnModel()
    with pytest.raises(MusicnnError, match="batch, frames, 96"):
        model(torch.zeros(1, 187, 80))


def test_log_mel_is_float32_and_finite_on_loud_input():
    sr = 22050
    t = np.arange(sr * 2) / sr
    loud = (np.sign(np.sin(2 * np.pi * 110 * t)) * 1.0).astype(np.float32)  # full-scale square wave
    log_mel = musicnn_log_mel(loud, sr)
    assert log_mel.dtype == np.float32 and log_mel.shape[1] == 96
    assert abs(log_mel.shape[0] - 2 * 62.5) <= 2
    assert np.isfinite(log_mel).all()
    # the package computes `np.log10(10000 * mel.astype(float16) + 1)`: on this input 10000 * mel overflows
    mel_max = (10 ** log_mel.astype(np.float64).max() - 1) / 10000
    with np.errstate(over="ignore"):
        assert np.isinf(np.float16(10000) * np.float16(mel_max))


def test_log_mel_rejects_bad_waveforms():
    with pytest.raises(MusicnnError, match="mono"):
        musicnn_log_mel(np.zeros((2, 100), dtype=np.float32), 16000)
    with pytest.raises(MusicnnError, match="NaN"):
        musicnn_log_mel(np.full(1000, np.nan, dtype=np.float32), 16000)


def test_frame_patches_repeat_pads_and_hops():
    spec = np.arange(100 * 96, dtype=np.float32).reshape(100, 96)
    short = frame_patches(spec)
    assert short.shape == (1, MUSICNN_PATCH_FRAMES, 96)
    np.testing.assert_array_equal(short[0, 100:187], spec[:87])  # repeated from the start
    long = np.zeros((400, 96), dtype=np.float32)
    assert frame_patches(long).shape[0] == 2
    assert frame_patches(long, hop_frames=94).shape[0] == 3


def test_tags_of_a_piano_rendering_are_musical():
    from mmgen.eval.embedders import MusicnnEmbedder
    from mmgen.melody.notes import Note
    from mmgen.melody.synth import render_notes

    notes = [Note(0.25 * i, 0.25 * i + 0.5, 60 + (i * 5) % 12, 90) for i in range(16)]
    embedder = MusicnnEmbedder("MTT_musicnn")
    features = embedder.features(render_notes(notes, program=0), 22050)
    assert features.embeddings.shape[1] == 200 and features.embeddings.shape[0] >= 1
    top = [embedder.labels[i] for i in np.argsort(features.probabilities)[::-1][:5]]
    assert {"piano", "classical", "solo", "harpsichord", "classic"} & set(top), top
