"""Shared fixtures, built on `fixtures.py` (the helpers test modules import). Offline; the tiny pipelines take
seconds, once per module that asks for them."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402
from fixtures import (  # noqa: E402
    save_tiny_musicset,
    save_tiny_pipeline,
    save_tiny_text_encoder,
    serve_app,
    sine_notes_waveform,
)

from mmgen.audio import save_audio  # noqa: E402
from mmgen.melody.notes import Note  # noqa: E402

__all__ = ["sine_notes_waveform"]  # still importable from here by modules not yet moved to `fixtures`


@pytest.fixture
def scale_notes():
    """C major scale, 8 notes of 0.4 s with 0.1 s gaps, starting at 0.2 s."""
    return [Note(0.2 + 0.5 * i, 0.6 + 0.5 * i, p, 100) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]


@pytest.fixture
def scale_wav(tmp_path, scale_notes):
    path = tmp_path / "scale.wav"
    save_audio(path, sine_notes_waveform(scale_notes))
    return path


@pytest.fixture
def fake_hub(monkeypatch):
    """`huggingface_hub.HfApi` replaced by a recorder (no network): each `upload_folder` appends
    `{"repo_id", "files": {name: bytes}, "kwargs"}` to the returned list and answers
    `https://hub.example/<repo_id>/commit/1`."""
    import huggingface_hub

    uploads = []

    class RecordingApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private=None, exist_ok=False):
            return type("Repo", (), {"repo_id": repo_id})()

        def upload_folder(self, repo_id, folder_path, **kwargs):
            files = {}
            for name in sorted(os.listdir(folder_path)):
                with open(os.path.join(folder_path, name), "rb") as handle:
                    files[name] = handle.read()
            uploads.append({"repo_id": repo_id, "files": files, "kwargs": kwargs})
            return f"https://hub.example/{repo_id}/commit/1"

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    return uploads


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A saved tiny random pipeline (the app's and the CLI's tests)."""
    return save_tiny_pipeline(tmp_path_factory.mktemp("mmgen-tiny-pipeline"))


@pytest.fixture(scope="module")
def sketch_model_dir(tmp_path_factory):
    """A tiny pipeline whose UNet takes the frame-aligned melody sketch (the v2 design): its melody has times, so a
    continuation's melody starts where the clip ends."""
    return save_tiny_pipeline(tmp_path_factory.mktemp("mmgen-tiny-sketch-pipeline"), melody_sketch=True)


@pytest.fixture(scope="module")
def sketch_pipe():
    """A tiny random pipeline in memory whose UNet takes the melody sketch, progress bars off (one per module)."""
    from pipeline_dummies import get_dummy_components

    from pipelines.pipeline_mmgen import MMGenPipeline

    pipeline = MMGenPipeline(**get_dummy_components(melody_sketch=True))
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture(scope="module")
def served(model_dir):
    """The Space on 127.0.0.1 with the tiny pipeline, and a gradio_client Client: `(demo, client)`."""
    pytest.importorskip("gradio")
    with serve_app(model_dir) as demo_and_client:
        yield demo_and_client


@pytest.fixture(scope="module")
def tiny_assets(tmp_path_factory):
    """What the training scripts' tests train on: a tiny MusicSet of 1.5 s clips (`musicset`) and a tiny random text
    encoder (`text`), both folders."""
    base = tmp_path_factory.mktemp("tiny-training-data")
    return {
        "musicset": save_tiny_musicset(base / "musicset", seconds=1.5),
        "text": save_tiny_text_encoder(base / "text"),
    }
