"""Issue 16, the pipeline's entry point: every bad input is refused up front by `check_inputs` (or the audio loader)
with a message naming it, and no input can make one call exhaust the machine. Tiny seeded components."""

import time

import numpy as np
import pytest
import torch
from pipeline_dummies import get_dummy_components

from mmgen.audio import SAMPLE_RATE, AudioError, save_audio
from mmgen.limits import MAX_GENERATIONS_PER_CALL, MAX_NUM_CANDIDATES, MAX_WAVEFORMS_PER_PROMPT
from mmgen.retrieval import MelodyRetriever
from pipelines.pipeline_mmgen import MMGenPipeline

LENGTH_S = 1.0
SAMPLES = int(LENGTH_S * SAMPLE_RATE)


@pytest.fixture(scope="module")
def pipe():
    pipeline = MMGenPipeline(**get_dummy_components())
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture(scope="module")
def clip():
    t = np.arange(SAMPLES) / SAMPLE_RATE
    return (0.4 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 660 * t)).astype(np.float32)


def run(pipe, **kwargs):
    kwargs.setdefault("audio_length_in_s", LENGTH_S)
    kwargs.setdefault("num_inference_steps", 2)
    return pipe(generator=torch.Generator().manual_seed(0), **kwargs)


# --- item 1: array shapes ----------------------------------------------------------------------------------------
def test_stereo_array_is_one_clip_downmixed(pipe, clip):
    """soundfile's (samples, 2) layout is one clip (it used to be 22,050 clips of 2 samples and ate 23 GB)."""
    stereo = np.stack([clip, 0.5 * clip], axis=1)
    out = run(pipe, audio=stereo)
    assert out.audios.shape == (1, SAMPLES)
    mono = run(pipe, audio=stereo.mean(axis=1))
    np.testing.assert_allclose(out.audios, mono.audios, atol=1e-6)
    as_tensor = run(pipe, audio=torch.from_numpy(stereo))
    np.testing.assert_allclose(as_tensor.audios, mono.audios, atol=1e-6)


def test_channels_first_clip_in_a_list_is_downmixed(pipe, clip):
    out = run(pipe, audio=[np.stack([clip, clip]), clip])  # a list holds one clip per item, any layout
    assert out.audios.shape == (2, SAMPLES)


def test_batch_array_is_a_batch(pipe, clip):
    assert run(pipe, audio=np.stack([clip, 0.5 * clip])).audios.shape == (2, SAMPLES)


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((4, 4), "got shape \\(4, 4\\)"),  # both axes short: neither a clip nor a batch
        ((2, SAMPLES, 2), "got shape"),  # 3-D
        ((), "got shape"),
    ],
)
def test_ambiguous_arrays_are_refused(pipe, shape, match):
    started = time.perf_counter()
    with pytest.raises(AudioError, match=match):
        run(pipe, audio=np.full(shape, 0.1, dtype=np.float32))
    assert time.perf_counter() - started < 5.0


def test_stereo_melody_array_is_one_melody(pipe, clip):
    assert len(pipe._melody_items(np.stack([clip, clip], axis=1))) == 1
    with pytest.raises(AudioError, match="shape"):
        pipe._melody_items(np.zeros((3, 3)))


# --- item 4: bounded candidates and waveforms ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_candidates": 1000}, f"between 1 and {MAX_NUM_CANDIDATES}"),
        ({"num_candidates": MAX_NUM_CANDIDATES + 1}, "num_candidates"),
        ({"num_waveforms_per_prompt": 1000}, f"between 1 and {MAX_WAVEFORMS_PER_PROMPT}"),
        ({"num_waveforms_per_prompt": 16, "num_candidates": 16}, f"the limit is {MAX_GENERATIONS_PER_CALL}"),
        ({"prompt": ["a tune"] * 65}, f"the limit is {MAX_GENERATIONS_PER_CALL}"),
        ({"num_inference_steps": 10**6}, "between 1 and 1000"),
        ({"audio_length_in_s": 301.0}, "between 0.5 and 300"),
    ],
)
def test_costs_are_bounded_up_front(pipe, kwargs, match):
    kwargs = {"prompt": "a tune", **kwargs}
    started = time.perf_counter()
    with pytest.raises(ValueError, match=match):
        run(pipe, **kwargs)
    assert time.perf_counter() - started < 2.0  # refused before any model runs


# --- item 6 / 9: non-finite, non-numeric and wrongly typed numbers ------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"guidance_scale": float("nan")}, "`guidance_scale` must be finite"),
        ({"guidance_scale": float("inf")}, "`guidance_scale` must be finite"),
        ({"guidance_scale": "3"}, "`guidance_scale` must be a number"),
        ({"guidance_scale": None}, "`guidance_scale` must be a number"),
        ({"guidance_scale": -1.0}, "`guidance_scale` must be >= 0"),
        ({"melody_guidance_scale": float("nan")}, "`melody_guidance_scale` must be finite"),
        ({"melody_guidance_scale": "strong"}, "`melody_guidance_scale` must be a number"),
        ({"audio_length_in_s": True}, "`audio_length_in_s` must be a number"),
        ({"audio_length_in_s": float("nan")}, "`audio_length_in_s` must be finite"),
        ({"audio_length_in_s": "10"}, "`audio_length_in_s` must be a number"),
        ({"num_inference_steps": 2.5}, "`num_inference_steps` must be an integer"),
        ({"num_inference_steps": 2.0}, "`num_inference_steps` must be an integer"),
        ({"num_inference_steps": True}, "`num_inference_steps` must be an integer"),
        ({"num_candidates": True}, "`num_candidates` must be an integer"),
        ({"num_candidates": 2.0}, "`num_candidates` must be an integer"),
        ({"num_waveforms_per_prompt": float("inf")}, "`num_waveforms_per_prompt` must be an integer"),
        ({"prompt": "caf\udce9 music"}, "`prompt` is not valid Unicode"),
        ({"prompt": b"bytes"}, "`prompt` must be a string"),
        ({"negative_prompt": "\ud800"}, "`negative_prompt` is not valid Unicode"),
    ],
)
def test_bad_numbers_and_texts_are_refused(pipe, kwargs, match):
    kwargs = {"prompt": "a tune", **kwargs}
    with pytest.raises(ValueError, match=match):
        run(pipe, **kwargs)


def test_numpy_and_tensor_scalars_are_numbers(pipe):
    out = run(pipe, prompt="a tune", guidance_scale=np.float32(2.0), num_inference_steps=np.int64(2),
              audio_length_in_s=torch.tensor(1.0))  # fmt: skip
    assert out.audios.shape == (1, SAMPLES)


# --- item 7: out-of-range and too-short audio ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda c: c * 1e6, "peaks at 4.*int16"),
        (lambda c: np.round(c * 32767), "peaks at"),
        (lambda c: c[:1], "at least 0.5 s"),
        (lambda c: c[: SAMPLE_RATE // 4], "at least 0.5 s"),
        (lambda c: c.astype(np.complex64), "real-valued"),
        (lambda c: np.zeros_like(c), "silent"),
    ],
)
def test_reference_audio_out_of_range_or_too_short(pipe, clip, make, match):
    with pytest.raises(AudioError, match=match):
        run(pipe, audio=make(clip))


def test_reference_files_too_short_or_too_loud(pipe, clip, tmp_path):
    import soundfile as sf

    one = tmp_path / "one_sample.wav"
    save_audio(one, clip[:1])
    with pytest.raises(AudioError, match="1 samples.*at least 0.5 s"):
        run(pipe, audio=str(one))
    loud = tmp_path / "loud_float.wav"
    sf.write(loud, clip * 1e6, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match="peaks at"):
        run(pipe, audio=str(loud))
    with pytest.raises(AudioError, match="is a folder"):
        run(pipe, audio=str(tmp_path))


def test_float_audio_with_a_little_headroom_is_accepted(pipe, clip):
    assert run(pipe, audio=clip * 2.4).audios.shape == (1, SAMPLES)  # peak 1.2: a float master may go over 0 dBFS


# --- items 5, 8, 9: a pipeline folder loads completely or fails naming what is wrong -------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-pipeline")
    MMGenPipeline(**get_dummy_components()).save_pretrained(path)
    return path


def damaged_copy(saved, tmp_path, edit):
    import shutil

    copy = tmp_path / "pipe"
    shutil.copytree(saved, copy)
    edit(copy)
    return str(copy)


def drop_tensor(path):
    from safetensors.torch import load_file, save_file

    state = load_file(path)
    state.pop(sorted(state)[0])
    save_file(state, path, metadata={"format": "pt"})


def edit_json(path, **changes):
    import json

    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_intact_folder_loads(saved):
    assert isinstance(MMGenPipeline.from_pretrained(saved), MMGenPipeline)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda p: drop_tensor(p / "vocoder" / "model.safetensors"), "lack 1 tensor\\(s\\) of `vocoder`"),
        (lambda p: drop_tensor(p / "aligner" / "model.safetensors"), "lack 1 tensor\\(s\\) of `aligner`"),
        (lambda p: drop_tensor(p / "unet" / "diffusion_pytorch_model.safetensors"), "of `unet`"),
        (lambda p: (p / "unet" / "config.json").write_text('{"in_channels": 8,'), "unet/config.json: not valid JSON"),
        (lambda p: (p / "melody_tokenizer" / "vocab.json").write_bytes(b"{\xff}"), "vocab.json: not UTF-8"),
        (lambda p: edit_json(p / "unet" / "config.json", layers_per_block="two"),
         "unet/config.json: `layers_per_block` = \"two\" \\(expected a number"),
        (lambda p: edit_json(p / "condition_projector" / "config.json", hidden_dim="wide"),
         "condition_projector/config.json: `hidden_dim`"),
    ],
)
def test_damaged_folder_fails_naming_the_problem(saved, tmp_path, edit, match):
    with pytest.raises(ValueError, match=match):
        MMGenPipeline.from_pretrained(damaged_copy(saved, tmp_path, edit))


def test_rebuilt_faiss_index_is_reported_after_loading(saved, tmp_path, caplog):
    import logging

    def corrupt(p):
        MelodyRetriever.from_pretrained(p / "retriever").save_pretrained(p / "retriever", write_index=True)
        with open(p / "retriever" / "index.faiss", "ab") as f:  # a saved index that no longer matches its hash
            f.write(b"garbage")

    with caplog.at_level(logging.WARNING):
        pipe = MMGenPipeline.from_pretrained(damaged_copy(saved, tmp_path, corrupt))
    messages = [r.getMessage() for r in caplog.records if r.name == "pipelines.pipeline_mmgen"]
    assert any("retriever:" in m and "does not match config.json" in m for m in messages), messages
    assert len(pipe.retriever) == 6  # rebuilt from the embeddings, still usable
