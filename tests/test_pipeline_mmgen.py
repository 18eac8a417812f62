"""MMGenPipeline fast tests with tiny seeded components (diffusers' pipeline-test pattern)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from diffusers import DPMSolverMultistepScheduler
from pipeline_dummies import EMBED_DIM, dummy_melodies, get_dummy_components

from mmgen.audio import SAMPLE_RATE, AudioError, save_audio
from mmgen.melody.notes import MelodyError, Note, write_midi
from mmgen.melody.tokenizer import notes_to_string
from mmgen.models.unet import UNET_PRESETS, make_unet, unet_downsample_factor
from pipelines.pipeline_mmgen import MMGenPipeline, MMGenPipelineOutput

LENGTH_S = 1.0
SAMPLES = int(LENGTH_S * SAMPLE_RATE)
MELODY = [Note(0.1 + 0.2 * i, 0.25 + 0.2 * i, p, 100) for i, p in enumerate([60, 64, 67, 72])]


@pytest.fixture(scope="module")
def pipe():
    pipeline = MMGenPipeline(**get_dummy_components())
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def run(pipe, seed=0, **kwargs):
    kwargs.setdefault("audio_length_in_s", LENGTH_S)
    kwargs.setdefault("num_inference_steps", 2)
    return pipe(generator=torch.Generator().manual_seed(seed), **kwargs)


# --- input modes and output types -------------------------------------------------------------------------------
def test_text_to_music_retrieves_a_melody(pipe):
    out = run(pipe, prompt="a calm folk tune on flute")
    assert isinstance(out, MMGenPipelineOutput)
    assert isinstance(out.audios, np.ndarray) and out.audios.shape == (1, SAMPLES)
    assert np.isfinite(out.audios).all()
    info = out.melodies[0]
    assert info["id"] in {row["id"] for row in dummy_melodies()}
    assert info["caption"].startswith("tune") and info["source"] == "dummy"
    assert info["notes"] and isinstance(info["notes"][0], Note) and info["tokens"].startswith("<")
    assert out.scores is None


@pytest.mark.parametrize(
    ("output_type", "shape"), [("pt", (1, SAMPLES)), ("mel", (1, 80, 87)), ("latent", (1, 8, 22, 20))]
)
def test_output_types(pipe, output_type, shape):
    out = run(pipe, prompt="a tune", output_type=output_type)
    assert isinstance(out.audios, torch.Tensor) and tuple(out.audios.shape) == shape


def test_music_to_music_from_path_and_array(pipe, scale_wav):
    from_path = run(pipe, audio=str(scale_wav))
    assert from_path.audios.shape == (1, SAMPLES)
    wave = np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE).astype(np.float32) * 0.5
    batch = run(pipe, audio=[wave, wave * 0.5])
    assert batch.audios.shape == (2, SAMPLES) and len(batch.melodies) == 2


def test_user_melody_bypasses_retrieval(pipe, tmp_path):
    midi = tmp_path / "tune.mid"
    write_midi(MELODY, midi)
    outs = {
        "notes": run(pipe, prompt="a tune", melody=MELODY),
        "tokens": run(pipe, prompt="a tune", melody=notes_to_string(MELODY)),
        "midi": run(pipe, prompt="a tune", melody=str(midi)),
    }
    for name, out in outs.items():
        info = out.melodies[0]
        assert out.audios.shape == (1, SAMPLES), name
        assert info["source"] == "user" and info["id"] is None and info["score"] is None, name
        assert [n.pitch for n in info["notes"]] == [60, 64, 67, 72], name
    # The three spellings of one melody give the same tokens, hence the same audio.
    np.testing.assert_allclose(outs["notes"].audios, outs["tokens"].audios, atol=1e-6)
    assert outs["notes"].melodies[0]["tokens"] == outs["midi"].melodies[0]["tokens"]
    assert not np.allclose(outs["notes"].audios, run(pipe, prompt="a tune").audios)


def test_melody_from_audio_is_transcribed(pipe, scale_wav, scale_notes):
    out = run(pipe, prompt="a tune", melody=str(scale_wav))
    pitches = [n.pitch for n in out.melodies[0]["notes"]]
    assert len(set(pitches) & {n.pitch for n in scale_notes}) >= 6


def test_melody_alone_and_embeds(pipe):
    alone = run(pipe, melody=MELODY)
    assert alone.audios.shape == (1, SAMPLES) and alone.melodies[0]["source"] == "user"
    q = torch.nn.functional.normalize(torch.randn(2, EMBED_DIM), dim=-1)
    r = torch.nn.functional.normalize(torch.randn(2, EMBED_DIM), dim=-1)
    out = run(pipe, prompt_embeds=q, melody_embeds=r)
    assert out.audios.shape == (2, SAMPLES) and out.melodies[0]["source"] == "melody_embeds"


def test_text_only_model_needs_no_retriever():
    pipe = MMGenPipeline(**get_dummy_components(use_melody=False))
    pipe.set_progress_bar_config(disable=True)
    assert pipe.retriever is None
    out = run(pipe, prompt="a tune")
    assert out.audios.shape == (1, SAMPLES) and out.melodies == [None]
    with pytest.raises(ValueError, match="text-only"):
        run(pipe, prompt="a tune", melody=MELODY)


# --- determinism, batching, guidance ----------------------------------------------------------------------------
def test_deterministic_with_seeded_generator(pipe):
    a, b = run(pipe, prompt="a tune", seed=3), run(pipe, prompt="a tune", seed=3)
    np.testing.assert_array_equal(a.audios, b.audios)
    assert not np.allclose(a.audios, run(pipe, prompt="a tune", seed=4).audios)


def test_batch_matches_single_prompts(pipe):
    prompts = ["a calm flute tune", "a loud brass march"]
    generators = [torch.Generator().manual_seed(s) for s in (1, 2)]
    batch = pipe(prompts, audio_length_in_s=LENGTH_S, num_inference_steps=2, generator=generators,
                 output_type="latent")  # fmt: skip
    for i, prompt in enumerate(prompts):
        single = run(pipe, seed=i + 1, prompt=prompt, output_type="latent")
        torch.testing.assert_close(batch.audios[i : i + 1], single.audios, atol=1e-4, rtol=1e-4)
    assert [m["id"] for m in batch.melodies] == [run(pipe, prompt=p).melodies[0]["id"] for p in prompts]


def test_num_waveforms_per_prompt_and_candidates(pipe):
    out = run(pipe, prompt=["a", "b"], num_waveforms_per_prompt=2, num_candidates=3)
    assert out.audios.shape == (4, SAMPLES) and len(out.melodies) == 4
    assert out.scores.shape == (4,) and np.all(np.abs(out.scores) <= 1.0 + 1e-5)
    assert out.melodies[0] is out.melodies[1]


def test_guidance_on_off_and_melody_guidance(pipe):
    guided = run(pipe, prompt="a tune", output_type="latent").audios
    unguided = run(pipe, prompt="a tune", guidance_scale=0.0, output_type="latent").audios
    assert not torch.allclose(guided, unguided)
    # beta = 1 is the paper's formula (one more UNet branch, same result).
    beta_one = run(pipe, prompt="a tune", melody_guidance_scale=1.0, output_type="latent").audios
    torch.testing.assert_close(beta_one, guided, atol=1e-4, rtol=1e-4)
    beta_two = run(pipe, prompt="a tune", melody_guidance_scale=2.0, output_type="latent").audios
    assert not torch.allclose(beta_two, guided)
    negative = run(pipe, prompt="a tune", negative_prompt="noise", output_type="latent").audios
    assert not torch.allclose(negative, guided)


def test_dpm_solver_scheduler(pipe):
    components = get_dummy_components()
    components["scheduler"] = DPMSolverMultistepScheduler.from_config(components["scheduler"].config)
    dpm = MMGenPipeline(**components)
    dpm.set_progress_bar_config(disable=True)
    out = run(dpm, prompt="a tune", num_inference_steps=3)
    assert out.audios.shape == (1, SAMPLES) and np.isfinite(out.audios).all()


def test_callback_on_step_end_sees_and_replaces_latents(pipe):
    seen = []

    def callback(pipeline, i, t, kwargs):
        seen.append((i, tuple(kwargs["latents"].shape), tuple(kwargs["condition_embeds"].shape)))
        return {"latents": torch.zeros_like(kwargs["latents"])}

    out = run(pipe, prompt="a tune", num_inference_steps=3, output_type="latent", callback_on_step_end=callback,
              callback_on_step_end_tensor_inputs=["latents", "condition_embeds"])  # fmt: skip
    assert [s[0] for s in seen] == [0, 1, 2]
    assert seen[0][1] == (1, 8, 22, 20) and seen[0][2] == (2, EMBED_DIM)  # [uncond, cond]
    assert torch.count_nonzero(out.audios) == 0


def test_save_and_load_round_trip_gives_the_same_audio(pipe, tmp_path):
    before = run(pipe, prompt="a calm folk tune").audios
    pipe.save_pretrained(tmp_path)
    for component in ("unet", "vae", "condition_projector", "vocoder", "retriever", "aligner"):
        assert (tmp_path / component).is_dir()
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.rglob("*.pt"))
    loaded = MMGenPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    np.testing.assert_allclose(run(loaded, prompt="a calm folk tune").audios, before, atol=1e-5)
    # Components can be swapped by keyword.
    swapped = MMGenPipeline.from_pretrained(tmp_path, retriever=pipe.retriever)
    assert swapped.retriever is pipe.retriever


def test_missing_vocoder_uses_the_packaged_hifigan(tmp_path):
    """A pipeline saved without a vocoder stores null and vocodes with the converted packaged HiFi-GAN."""
    from mmgen.models.vocoder import load_vocoder

    components = get_dummy_components()
    components["vocoder"] = None
    pipeline = MMGenPipeline(**components)
    pipeline.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "model_index.json").read_text())["vocoder"] == [None, None]
    assert not (tmp_path / "vocoder").exists()
    loaded = MMGenPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.vocoder is None and loaded.config.vocoder_method == "hybrid"
    audio = run(loaded, prompt="a tune").audios
    assert audio.shape == (1, SAMPLES) and np.isfinite(audio).all() and np.abs(audio).max() > 0
    mel = torch.zeros(1, 80, 8)
    assert load_vocoder() is load_vocoder()  # converted once per process, then cached
    assert loaded.mel_to_waveform(mel, 8 * 256).shape == (1, 8 * 256)

def test_half_precision_weights_load_as_float32(pipe, tmp_path):
    """The shipped default stores some components in float16; from_pretrained must give a float32 pipeline."""
    for name in ("unet", "vae", "condition_projector"):
        getattr(pipe, name).to(torch.float16)
    try:
        pipe.save_pretrained(tmp_path)
    finally:
        for name in ("unet", "vae", "condition_projector"):
            getattr(pipe, name).to(torch.float32)
    loaded = MMGenPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    for name in ("unet", "vae", "condition_projector", "aligner"):
        assert {p.dtype for p in getattr(loaded, name).parameters()} == {torch.float32}, name
    audio = run(loaded, prompt="a tune").audios
    assert np.isfinite(audio).all() and audio.shape == (1, SAMPLES)

def test_from_pretrained_in_a_fresh_process(pipe, tmp_path):
    """diffusers loads a component only if its module was imported: `from mmgen import MMGenPipeline` must suffice."""
    pipe.save_pretrained(tmp_path)
    code = (
        "import sys; from mmgen import MMGenPipeline; p = MMGenPipeline.from_pretrained(sys.argv[1]); "
        "print(type(p.aligner).__name__, type(p.retriever).__name__, type(p.melody_tokenizer).__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["TriModalAligner", "MelodyRetriever", "MelodyTokenizer"]


# --- bad inputs -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "Nothing to generate"),
        ({"prompt": "a", "prompt_embeds": torch.zeros(1, EMBED_DIM)}, "not both"),
        ({"prompt": ""}, "empty"),
        ({"prompt": ["a", "  "]}, "empty"),
        ({"prompt": "a", "audio_length_in_s": 0.1}, "audio_length_in_s"),
        ({"prompt": "a", "audio_length_in_s": 1000.0}, "audio_length_in_s"),
        ({"prompt_embeds": torch.zeros(1, EMBED_DIM + 1)}, "prompt_embeds"),
        ({"prompt": "a", "melody_embeds": torch.zeros(1, 3)}, "melody_embeds"),
        ({"prompt": "a", "output_type": "wav"}, "output_type"),
        ({"prompt": "a", "num_candidates": 0}, "num_candidates"),
        ({"prompt": "a", "guidance_scale": -1.0}, "guidance_scale"),
        ({"prompt": "a", "audio": "x.wav"}, "either"),
        ({"prompt": "a", "latents": torch.zeros(1, 8, 5, 20)}, "latents"),
    ],
)
def test_bad_inputs_raise(pipe, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run(pipe, **kwargs)


def test_unreadable_audio_raises(pipe, tmp_path):
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="could not read"):
        run(pipe, audio=str(garbage))
    with pytest.raises(AudioError, match="no such file"):
        run(pipe, audio=str(tmp_path / "missing.wav"))
    silent = tmp_path / "silent.wav"
    save_audio(silent, np.zeros(SAMPLE_RATE, dtype=np.float32))
    with pytest.raises(AudioError, match="silent"):
        run(pipe, audio=str(silent))


def test_melody_without_notes_raises(pipe, tmp_path):
    with pytest.raises(MelodyError, match="no notes"):
        run(pipe, prompt="a", melody=[])
    silent = tmp_path / "silent.wav"
    save_audio(silent, np.zeros(SAMPLE_RATE, dtype=np.float32) + 1e-6)
    with pytest.raises(MelodyError, match="no notes"):
        run(pipe, prompt="a", melody=str(silent))
    with pytest.raises(MelodyError, match="neither"):
        run(pipe, prompt="a", melody="not a melody")
    with pytest.raises(MelodyError, match="malformed"):
        run(pipe, prompt="a", melody="<G4>,<x>,<79>")


# --- the UNet presets -------------------------------------------------------------------------------------------
def test_unet_presets_take_the_20_wide_latent():
    unet = make_unet("cpu", condition_dim=EMBED_DIM, block_out_channels=(8, 16, 32), attention_head_dim=4)
    assert unet.config.class_embed_type == "simple_projection" and unet.config.class_embeddings_concat
    assert "CrossAttn" not in "".join(unet.config.down_block_types + unet.config.up_block_types)
    assert unet_downsample_factor(unet) == 4
    sample = torch.randn(2, 8, 12, 20)
    with torch.no_grad():
        out = unet(sample, 10, encoder_hidden_states=None, class_labels=torch.randn(2, EMBED_DIM)).sample
    assert out.shape == sample.shape
    assert set(UNET_PRESETS) >= {"cpu", "gpu-base"}
    with pytest.raises(ValueError, match="Unknown UNet preset"):
        make_unet("huge")


# --- frame-aligned melody (the melody sketch beside the noisy latent) ----------------------------------------------
def test_sketch_pipeline_follows_the_notes_it_reports(sketch_pipe):
    assert sketch_pipe.uses_melody_sketch and sketch_pipe.unet.config.in_channels == 16
    out = run(sketch_pipe, prompt="a tune", melody=MELODY, audio_length_in_s=2.0)
    assert out.audios.shape == (1, 2 * SAMPLE_RATE)
    info = out.melodies[0]
    # the melody moved to t = 0 and repeated over the 2 s: exactly the notes the sketch rendered
    assert info["notes"][0].onset == 0.0 and [n.pitch for n in info["notes"][:5]] == [60, 64, 67, 72, 60]
    assert max(n.offset for n in info["notes"]) <= 2.0 and info["source_tokens"] == notes_to_string(MELODY)
    retrieved = run(sketch_pipe, prompt="a tune").melodies[0]
    assert retrieved["source"] == "dummy" and retrieved["notes"][0].onset == 0.0


def test_sketch_changes_the_output_and_the_unconditional_branch_gets_the_null_sketch(sketch_pipe):
    seen = []
    original = sketch_pipe.unet.forward

    def spy(sample, *args, **kwargs):
        seen.append(sample[:, 8:].clone())
        return original(sample, *args, **kwargs)

    sketch_pipe.unet.forward = spy
    try:
        a = run(sketch_pipe, prompt="a tune", melody=MELODY)
        low = [Note(n.onset, n.offset, n.pitch - 24) for n in MELODY]
        b = run(sketch_pipe, prompt="a tune", melody=low)
        uncond, cond = seen[0].chunk(2)  # one batched call: [unconditional, conditional]
    finally:
        del sketch_pipe.unet.forward
    assert not np.allclose(a.audios, b.audios)  # same seed and prompt, another melody: other music
    assert torch.count_nonzero(uncond) == 0 and torch.count_nonzero(cond) > 0


def test_sketch_same_seed_same_audio_and_output_peak_limited(sketch_pipe):
    a = run(sketch_pipe, prompt="a tune", melody=MELODY, seed=3)
    b = run(sketch_pipe, prompt="a tune", melody=MELODY, seed=3)
    np.testing.assert_array_equal(a.audios, b.audios)
    assert np.abs(a.audios).max() <= 0.9 + 1e-6


def test_sketch_melody_errors_are_clear(sketch_pipe):
    with pytest.raises(MelodyError, match=r"melody\[0\]: note 120 .* outside the range"):
        run(sketch_pipe, prompt="a tune", melody=[Note(0.0, 0.5, 120)])
    with pytest.raises(MelodyError, match=r"melody\[0\]: the melody has no note inside the requested 1.00 s"):
        run(sketch_pipe, prompt="a tune", melody=[Note(0.0, 0.02, 60)])
    with pytest.raises(ValueError, match="melody_from_audio"):
        run(sketch_pipe, prompt="a tune", melody_from_audio=True)


def test_music_to_music_can_keep_the_references_own_melody(sketch_pipe, scale_wav):
    out = run(sketch_pipe, audio=str(scale_wav), melody_from_audio=True)
    assert out.melodies[0]["source"] == "user" and out.melodies[0]["notes"]


def test_limit_peak_scales_loud_clips_only():
    from pipelines.pipeline_mmgen import limit_peak

    loud = torch.tensor([[0.0, 3.0, -1.5], [0.1, -0.2, 0.3]])
    out = limit_peak(loud)
    torch.testing.assert_close(out[0], loud[0] * 0.3)  # one gain for the clip: shape kept, peak 0.9
    torch.testing.assert_close(out[1], loud[1])
