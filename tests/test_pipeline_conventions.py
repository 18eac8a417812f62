"""MMGenPipeline follows diffusers' pipeline conventions (issue 19), checked on tiny seeded components.

Each block covers one convention of diffusers' generic pipeline tests, written for this pipeline: the call signature
and its `*_embeds` overrides, `encode_prompt`, callbacks (run state, guidance changed mid-run, interrupt), the
guidance convention (the paper's `w`), `attention_kwargs`, `dtype` loading, optional components, variants, dict and
tuple outputs, batching, attention slicing and layer-wise casting.
"""

import inspect
import json
import logging
import warnings

import numpy as np
import pytest
import torch
from diffusers.callbacks import PipelineCallback
from pipeline_dummies import EMBED_DIM, get_dummy_components

from mmgen.melody.notes import Note
from mmgen.melody.tokenizer import notes_to_string
from pipelines.pipeline_mmgen import MMGenPipeline, MMGenPipelineOutput

LENGTH_S = 1.0
STEPS = 3
# The same computation with the UNet batch split differently (one prompt vs two, CFG pairs vs a reference loop):
# channels-last convolutions on CPU sum in a batch-dependent order, about 3e-5 apart after a few steps.
BATCH_TOL = {"atol": 1e-4, "rtol": 1e-4}
MELODY = [Note(0.1 + 0.2 * i, 0.25 + 0.2 * i, p, 100) for i, p in enumerate([60, 64, 67, 72])]
LOW_MELODY = [Note(n.onset, n.offset, n.pitch - 12, 100) for n in MELODY]
COMPONENT_NAMES = ("aligner", "condition_projector", "unet", "vae", "vocoder")


def make_pipe(**dummy_kwargs) -> MMGenPipeline:
    pipeline = MMGenPipeline(**get_dummy_components(**dummy_kwargs))
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture(scope="module")
def pipe():
    return make_pipe()


@pytest.fixture(scope="module")
def sketch_pipe():
    return make_pipe(melody_sketch=True)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny pipeline saved once, and its output for the plain call."""
    folder = tmp_path_factory.mktemp("tiny-pipeline")
    pipeline = make_pipe()
    pipeline.save_pretrained(folder)
    return folder, run(pipeline, prompt="a tune")


def run(pipe, seed=0, **kwargs):
    kwargs.setdefault("audio_length_in_s", LENGTH_S)
    kwargs.setdefault("num_inference_steps", STEPS)
    kwargs.setdefault("output_type", "latent")
    return pipe(generator=torch.Generator().manual_seed(seed), **kwargs).audios


def unet_batches(pipe):
    """Spy on the UNet: the batch size of each call (restored by deleting the instance attribute)."""
    seen, original = [], pipe.unet.forward

    def spy(sample, *args, **kwargs):
        seen.append(sample.shape[0])
        return original(sample, *args, **kwargs)

    pipe.unet.forward = spy
    return seen


# --- call signature, docstring and *_embeds overrides -------------------------------------------------------------
def test_call_signature_has_diffusers_arguments_and_unchanged_defaults():
    params = inspect.signature(MMGenPipeline.__call__).parameters
    for name in ("prompt", "negative_prompt", "prompt_embeds", "negative_prompt_embeds", "melody_embeds",
                 "num_inference_steps", "guidance_scale", "num_waveforms_per_prompt", "generator", "latents",
                 "output_type", "return_dict", "attention_kwargs", "callback_on_step_end",
                 "callback_on_step_end_tensor_inputs"):  # fmt: skip
        assert name in params, name
    defaults = {
        "audio_length_in_s": 10.0,
        "num_inference_steps": 12,  # UniPC: the shipped sampler's steps sweep (issue 15; DDIM took 100)
        "guidance_scale": 3.0,
        "num_candidates": 1,
        "num_waveforms_per_prompt": 1,
        "output_type": "np",
        "return_dict": True,
        "melody_guidance_scale": None,
    }
    assert {k: params[k].default for k in defaults} == defaults  # fmt: skip
    from mmgen.app.defaults import DEFAULT_GUIDANCE, DEFAULT_STEPS

    assert (DEFAULT_STEPS, DEFAULT_GUIDANCE) == (defaults["num_inference_steps"], defaults["guidance_scale"])  # app
    encode = inspect.signature(MMGenPipeline.encode_prompt).parameters
    assert {"prompt_embeds", "melody_embeds", "negative_prompt_embeds", "num_waveforms_per_prompt"} <= set(encode)
    # the example docstring replaced the placeholder
    assert "MMGenPipeline.from_pretrained" in MMGenPipeline.__call__.__doc__


def test_prompt_and_melody_embeds_equal_their_inputs(pipe):
    q = pipe.aligner.embed_text(["a calm tune"])
    torch.testing.assert_close(run(pipe, prompt_embeds=q), run(pipe, prompt="a calm tune"), atol=1e-5, rtol=1e-5)
    r = pipe.aligner.embed_melody([notes_to_string(MELODY)])
    by_embeds = run(pipe, prompt="a calm tune", melody_embeds=r)
    torch.testing.assert_close(by_embeds, run(pipe, prompt="a calm tune", melody=MELODY), atol=1e-5, rtol=1e-5)


def test_negative_prompt_embeds_equal_negative_prompt(pipe):
    prompts = ["a calm tune", "a brass march"]
    negative = pipe.aligner.embed_text(["noise"])
    by_text = run(pipe, prompt=prompts, negative_prompt="noise")
    by_embeds = run(pipe, prompt=prompts, negative_prompt_embeds=negative)  # one row for every prompt
    torch.testing.assert_close(by_embeds, by_text, **BATCH_TOL)
    per_prompt = run(pipe, prompt=prompts, negative_prompt_embeds=negative.expand(2, -1))
    torch.testing.assert_close(per_prompt, by_text, **BATCH_TOL)
    assert not torch.allclose(by_text, run(pipe, prompt=prompts))
    # without guidance there is no unconditional branch: the negative prompt has nothing to replace
    torch.testing.assert_close(run(pipe, prompt=prompts, negative_prompt_embeds=negative, guidance_scale=0.0),
                               run(pipe, prompt=prompts, guidance_scale=0.0))  # fmt: skip


def test_prompt_embeds_keep_the_retrieved_melody_sketch(sketch_pipe):
    q = sketch_pipe.aligner.embed_text(["a calm tune"])
    by_text = sketch_pipe("a calm tune", audio_length_in_s=LENGTH_S, num_inference_steps=STEPS, output_type="latent",
                          generator=torch.Generator().manual_seed(0))  # fmt: skip
    by_embeds = sketch_pipe(prompt_embeds=q, audio_length_in_s=LENGTH_S, num_inference_steps=STEPS,
                            output_type="latent", generator=torch.Generator().manual_seed(0))  # fmt: skip
    torch.testing.assert_close(by_embeds.audios, by_text.audios, atol=1e-5, rtol=1e-5)
    assert by_embeds.melodies[0]["id"] == by_text.melodies[0]["id"] and by_embeds.melodies[0]["notes"]


def test_encode_prompt_returns_the_stacked_condition_and_the_melodies(pipe, sketch_pipe):
    projector = pipe.condition_projector
    cond, melodies, query = pipe.encode_prompt(["a", "b"], num_waveforms_per_prompt=3)
    assert cond.shape == (2 * 6, EMBED_DIM) and query.shape == (6, EMBED_DIM) and len(melodies) == 6
    uncond, conditional = cond.chunk(2)
    torch.testing.assert_close(uncond, projector.null_condition(6))
    alone, _, _ = pipe.encode_prompt(["a", "b"], num_waveforms_per_prompt=3, do_classifier_free_guidance=False)
    torch.testing.assert_close(conditional, alone)
    assert melodies[0] is melodies[2] and melodies[0]["source"] == "dummy" and melodies[3]["id"]
    three, _, _ = pipe.encode_prompt("a", melody=MELODY, separate_melody_guidance=True)
    assert three.shape == (3, EMBED_DIM)  # [uncond, query only, cond]
    # with the frame-aligned melody input, the melodies come fitted to the length: the notes the sketch renders
    _, fitted, _ = sketch_pipe.encode_prompt("a", melody=MELODY, audio_length_in_s=2.0)
    assert fitted[0]["notes"][0].onset == 0.0 and fitted[0]["source_tokens"] == notes_to_string(MELODY)
    assert max(n.offset for n in fitted[0]["notes"]) <= 2.0


# --- callbacks: run state, guidance changed mid-run, interrupt ----------------------------------------------------
def test_callback_reads_the_run_state_and_only_allowed_tensors(pipe):
    seen = []

    def callback(p, i, t, kwargs):
        assert set(kwargs) <= set(p._callback_tensor_inputs)
        seen.append((i, p.guidance_scale, p.do_classifier_free_guidance, p.num_timesteps, sorted(kwargs)))
        return kwargs

    run(pipe, prompt="a tune", callback_on_step_end=callback,
        callback_on_step_end_tensor_inputs=list(pipe._callback_tensor_inputs))  # fmt: skip
    assert seen == [(i, 3.0, True, STEPS, ["condition_embeds", "latents"]) for i in range(STEPS)]
    with pytest.raises(ValueError, match="callback_on_step_end_tensor_inputs"):
        run(pipe, prompt="a tune", callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["noise"])


def test_pipeline_callback_object_is_accepted(pipe):
    class CountSteps(PipelineCallback):
        tensor_inputs = ["latents"]

        def callback_fn(self, pipeline, step_index, timestep, callback_kwargs):
            self.steps = getattr(self, "steps", 0) + 1
            return callback_kwargs

    counter = CountSteps()
    run(pipe, prompt="a tune", callback_on_step_end=counter)
    assert counter.steps == STEPS


def test_callback_increasing_guidance_each_step_is_seen_by_the_pipeline(pipe):
    def increase(p, i, t, kwargs):
        p._guidance_scale += 1.0
        return kwargs

    changed = run(pipe, prompt="a tune", guidance_scale=3.0, callback_on_step_end=increase)
    assert pipe.guidance_scale == 3.0 + pipe.num_timesteps
    assert not torch.allclose(changed, run(pipe, prompt="a tune", guidance_scale=3.0))


@torch.no_grad()
def paper_guidance_reference(pipe, prompt, seed, schedule):
    """The denoising loop written out with the paper's formula, `w = schedule[i]` at step i."""
    cond, _, _ = pipe.encode_prompt(prompt, device=torch.device("cpu"))
    pipe.scheduler.set_timesteps(len(schedule))
    latents, _ = pipe.prepare_latents(1, LENGTH_S, torch.float32, torch.device("cpu"),
                                      torch.Generator().manual_seed(seed))  # fmt: skip
    for w, t in zip(schedule, pipe.scheduler.timesteps):
        x = pipe.scheduler.scale_model_input(torch.cat([latents] * 2), t)
        eps_null, eps_c = pipe.unet(x, t, encoder_hidden_states=None, class_labels=cond).sample.chunk(2)
        latents = pipe.scheduler.step((w + 1) * eps_c - w * eps_null, t, latents, eta=0.0).prev_sample
    return latents


def test_callback_changing_guidance_at_step_k_equals_that_guidance_schedule(pipe):
    k = 1  # the callback after step k - 1 sets w for steps k, k + 1, ...

    def to_seven(p, i, t, kwargs):
        if i == k - 1:
            p._guidance_scale = 7.0
        return kwargs

    changed = run(pipe, prompt="a tune", callback_on_step_end=to_seven)
    unchanged = run(pipe, prompt="a tune")
    assert not torch.allclose(changed, unchanged)
    torch.testing.assert_close(unchanged, paper_guidance_reference(pipe, "a tune", 0, [3.0] * STEPS), **BATCH_TOL)
    torch.testing.assert_close(changed, paper_guidance_reference(pipe, "a tune", 0, [3.0] * k + [7.0] * (STEPS - k)),
                               **BATCH_TOL)  # fmt: skip


def test_callback_turning_guidance_off_may_drop_the_unconditional_pass(pipe):
    def off(p, i, t, kwargs):
        if i == 0:
            p._guidance_scale = 0.0
        return kwargs

    def off_and_drop(p, i, t, kwargs):
        if i == 0:
            p._guidance_scale = 0.0
            return {"condition_embeds": kwargs["condition_embeds"].chunk(2)[-1]}
        return {}

    inputs = ["latents", "condition_embeds"]
    kept = run(pipe, prompt="a tune", callback_on_step_end=off, callback_on_step_end_tensor_inputs=inputs)
    batches = unet_batches(pipe)
    try:
        dropped = run(pipe, prompt="a tune", callback_on_step_end=off_and_drop,
                      callback_on_step_end_tensor_inputs=inputs)  # fmt: skip
    finally:
        del pipe.unet.forward
    assert batches == [2] + [1] * (STEPS - 1)
    torch.testing.assert_close(dropped, kept, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(kept, paper_guidance_reference(pipe, "a tune", 0, [3.0] + [0.0] * (STEPS - 1)),
                               **BATCH_TOL)  # fmt: skip


def test_guidance_cannot_be_turned_on_in_an_unguided_run(pipe):
    def on(p, i, t, kwargs):
        p._guidance_scale = 3.0
        return kwargs

    with pytest.raises(ValueError, match="cannot be turned on"):
        run(pipe, prompt="a tune", guidance_scale=0.0, callback_on_step_end=on)


def test_interrupt_stops_at_step_k_with_that_steps_latents(pipe):
    k = 1
    intermediate = {}

    def record(p, i, t, kwargs):
        intermediate[i] = kwargs["latents"].clone()
        return kwargs

    def stop(p, i, t, kwargs):
        p._interrupt = i == k
        return kwargs

    run(pipe, prompt="a tune", callback_on_step_end=record)
    batches = unet_batches(pipe)
    try:
        interrupted = run(pipe, prompt="a tune", callback_on_step_end=stop)
    finally:
        del pipe.unet.forward
    assert len(batches) == k + 1 and pipe.interrupt
    torch.testing.assert_close(interrupted, intermediate[k])
    run(pipe, prompt="a tune", num_inference_steps=1)
    assert not pipe.interrupt  # every call starts uninterrupted


# --- guidance convention and attention_kwargs ----------------------------------------------------------------------
def test_guidance_scale_is_the_papers_w(pipe):
    """0 disables guidance (one UNet pass); unlike diffusers, w = 1 still guides (two passes)."""
    flags = {}

    def record(p, i, t, kwargs):
        flags[p.guidance_scale] = p.do_classifier_free_guidance
        return kwargs

    for w in (0.0, 1.0):
        batches = unet_batches(pipe)
        try:
            run(pipe, prompt="a tune", guidance_scale=w, num_inference_steps=1, callback_on_step_end=record)
        finally:
            del pipe.unet.forward
        assert batches == [1 if w == 0 else 2]
    assert flags == {0.0: False, 1.0: True}
    torch.testing.assert_close(
        run(pipe, prompt="a tune", guidance_scale=1.0),
        paper_guidance_reference(pipe, "a tune", 0, [1.0] * STEPS),
        atol=1e-5,
        rtol=1e-5,
    )


def test_attention_kwargs_reach_the_unet(pipe):
    seen, original = [], pipe.unet.forward

    def spy(*args, **kwargs):
        seen.append(kwargs.get("cross_attention_kwargs"))
        return original(*args, **kwargs)

    pipe.unet.forward = spy
    try:
        scaled = run(pipe, prompt="a tune", attention_kwargs={"scale": 1.0})
        plain = run(pipe, prompt="a tune")
    finally:
        del pipe.unet.forward
    assert seen == [{"scale": 1.0}] * STEPS + [None] * STEPS
    torch.testing.assert_close(scaled, plain)  # no LoRA loaded: a scale changes nothing


# --- retriever optional -----------------------------------------------------------------------------------------
def test_without_retriever_a_prompt_runs_with_the_null_melody_and_says_so(caplog):
    pipeline = make_pipe()  # trained (in spirit) with melody-only dropout 0.1
    pipeline.retriever = None
    with caplog.at_level(logging.WARNING):
        out = pipeline("a tune", audio_length_in_s=LENGTH_S, num_inference_steps=STEPS, output_type="latent",
                       generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert "null melody" in caplog.text
    assert out.melodies[0]["source"] == "null" and out.melodies[0]["notes"] is None
    # the null melody is exactly the projector's learned null_melody in place of r
    null = pipeline.condition_projector.null_melody.detach()[None]
    torch.testing.assert_close(out.audios, run(pipeline, prompt="a tune", melody_embeds=null), atol=1e-6, rtol=1e-6)
    # a user melody needs no retriever, and a negative prompt is taken with the null melody
    assert run(pipeline, prompt="a tune", melody=MELODY, negative_prompt="noise").shape == out.audios.shape


def test_without_retriever_a_model_never_trained_without_melody_refuses():
    pipeline = make_pipe(melody_dropout=0.0)
    pipeline.retriever = None
    with pytest.raises(ValueError, match="melody_dropout == 0"):
        run(pipeline, prompt="a tune")
    with pytest.raises(ValueError, match="melody_dropout == 0"):
        run(pipeline, prompt="a tune", melody=MELODY, negative_prompt="noise")
    assert run(pipeline, prompt="a tune", melody=MELODY).shape[0] == 1


# --- dtype loading ------------------------------------------------------------------------------------------------
def component_dtypes(pipeline) -> dict:
    return {name: {p.dtype for p in getattr(pipeline, name).parameters()} for name in COMPONENT_NAMES}


def test_plain_load_is_float32_without_future_warning(saved):
    folder, before = saved
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        loaded = MMGenPipeline.from_pretrained(folder)
    loaded.set_progress_bar_config(disable=True)
    assert all(d == {torch.float32} for d in component_dtypes(loaded).values())
    torch.testing.assert_close(run(loaded, prompt="a tune"), before, atol=1e-5, rtol=1e-5)
    with pytest.warns(FutureWarning, match="torch_dtype"):  # the deprecated spelling still works
        assert MMGenPipeline.from_pretrained(folder, torch_dtype=torch.float32).unet.dtype == torch.float32
    with pytest.raises(ValueError, match="both"):
        MMGenPipeline.from_pretrained(folder, dtype=torch.float32, torch_dtype=torch.float32)


def test_dtype_loads_every_component_but_the_retriever_in_it(saved):
    folder, _ = saved
    loaded = MMGenPipeline.from_pretrained(folder, dtype=torch.bfloat16)
    loaded.set_progress_bar_config(disable=True)
    assert all(d == {torch.bfloat16} for d in component_dtypes(loaded).values()), component_dtypes(loaded)
    assert loaded.retriever.embeddings.dtype == torch.float32  # the FAISS vectors, on purpose
    out = loaded("a tune", audio_length_in_s=LENGTH_S, num_inference_steps=2, num_candidates=2,
                 generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert np.isfinite(out.audios).all() and out.scores.shape == (1,)


def test_dtype_dict_sets_each_component(saved):
    folder, _ = saved
    loaded = MMGenPipeline.from_pretrained(folder, dtype={"unet": torch.bfloat16, "vae": torch.float16})
    dtypes = component_dtypes(loaded)
    assert dtypes["unet"] == {torch.bfloat16} and dtypes["vae"] == {torch.float16}
    assert dtypes["aligner"] == dtypes["condition_projector"] == dtypes["vocoder"] == {torch.float32}
    default = MMGenPipeline.from_pretrained(folder, dtype={"unet": torch.float32, "default": torch.bfloat16})
    assert component_dtypes(default)["unet"] == {torch.float32}
    assert component_dtypes(default)["aligner"] == {torch.bfloat16}
    assert default.retriever.embeddings.dtype == torch.float32


def test_pipe_to_dtype_keeps_the_retriever_float32():
    pipeline = make_pipe()
    pipeline.to(dtype=torch.bfloat16)
    assert all(d == {torch.bfloat16} for d in component_dtypes(pipeline).values())
    assert pipeline.retriever.embeddings.dtype == torch.float32 and pipeline.retriever.dtype == torch.float32
    pipeline.to("cpu", torch.float32)
    assert all(d == {torch.float32} for d in component_dtypes(pipeline).values())


# --- save / load: optional components, variants ---------------------------------------------------------------------
@pytest.mark.parametrize("component", MMGenPipeline._optional_components)
def test_save_load_with_an_optional_component_set_to_none(component, tmp_path):
    pipeline = make_pipe()
    setattr(pipeline, component, None)
    # mel output: the packaged vocoder (used when `vocoder` is None) is not needed to compare
    kwargs = {"prompt": "a tune", "melody": MELODY, "output_type": "mel"}
    before = run(pipeline, **kwargs)
    pipeline.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "model_index.json").read_text())[component] == [None, None]
    assert not (tmp_path / component).exists()
    loaded = MMGenPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert getattr(loaded, component) is None
    torch.testing.assert_close(run(loaded, **kwargs), before, atol=1e-5, rtol=1e-5)


def test_save_load_with_the_fp16_variant(tmp_path):
    pipeline = make_pipe()
    before = run(pipeline, prompt="a tune")
    pipeline.save_pretrained(tmp_path, variant="fp16")
    for name in COMPONENT_NAMES:
        weights = [p.name for p in (tmp_path / name).iterdir() if p.suffix in (".safetensors", ".bin")]
        assert weights and all(".fp16." in w for w in weights), (name, weights)
    assert (tmp_path / "retriever" / "embeddings.safetensors").is_file()  # no variant in the retriever's format
    loaded = MMGenPipeline.from_pretrained(tmp_path, variant="fp16")
    loaded.set_progress_bar_config(disable=True)
    torch.testing.assert_close(run(loaded, prompt="a tune"), before, atol=1e-5, rtol=1e-5)


def test_half_precision_variant_loads_in_the_dtype_asked(tmp_path):
    pipeline = make_pipe().to(dtype=torch.float16)
    pipeline.save_pretrained(tmp_path, variant="fp16")
    half = MMGenPipeline.from_pretrained(tmp_path, variant="fp16", dtype=torch.float16)
    assert all(d == {torch.float16} for d in component_dtypes(half).values())
    assert all(d == {torch.float32} for d in component_dtypes(MMGenPipeline.from_pretrained(
        tmp_path, variant="fp16")).values())  # fmt: skip


# --- outputs and batching -------------------------------------------------------------------------------------------
def test_dict_and_tuple_outputs_are_the_same(pipe):
    kwargs = {"prompt": "a tune", "audio_length_in_s": LENGTH_S, "num_inference_steps": 2, "num_candidates": 2}
    as_dict = pipe(**kwargs, generator=torch.Generator().manual_seed(0))
    as_tuple = pipe(**kwargs, generator=torch.Generator().manual_seed(0), return_dict=False)
    assert isinstance(as_dict, MMGenPipelineOutput) and isinstance(as_tuple, tuple) and len(as_tuple) == 3
    audios, melodies, scores = as_tuple
    np.testing.assert_allclose(audios, as_dict.audios, atol=1e-6)
    assert melodies == as_dict.melodies and scores.shape == (1,)
    np.testing.assert_allclose(scores, as_dict.scores, atol=1e-6)


def test_batch_matches_single_calls_with_sketch_and_several_waveforms(sketch_pipe):
    """Two prompts with their own melodies, two waveforms each, equal the four single runs (one generator each)."""
    seeds = [[1, 2], [3, 4]]
    generators = [torch.Generator().manual_seed(s) for pair in seeds for s in pair]
    batch = sketch_pipe(["a flute tune", "a brass march"], melody=[MELODY, LOW_MELODY], num_waveforms_per_prompt=2,
                        audio_length_in_s=LENGTH_S, num_inference_steps=STEPS, output_type="latent",
                        generator=generators)  # fmt: skip
    assert batch.audios.shape[0] == 4 and batch.melodies[0] is batch.melodies[1]
    for i, (prompt, melody) in enumerate([("a flute tune", MELODY), ("a brass march", LOW_MELODY)]):
        single = sketch_pipe(prompt, melody=melody, num_waveforms_per_prompt=2, audio_length_in_s=LENGTH_S,
                             num_inference_steps=STEPS, output_type="latent",
                             generator=[torch.Generator().manual_seed(s) for s in seeds[i]])  # fmt: skip
        torch.testing.assert_close(batch.audios[2 * i : 2 * i + 2], single.audios, atol=1e-4, rtol=1e-4)
        assert batch.melodies[2 * i]["tokens"] == single.melodies[0]["tokens"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prompt": "a", "negative_prompt": "b", "negative_prompt_embeds": torch.zeros(1, EMBED_DIM)}, "not both"),
        ({"prompt": "a", "negative_prompt_embeds": torch.zeros(1, EMBED_DIM + 1)}, "negative_prompt_embeds"),
        ({"prompt": ["a", "b", "c"], "negative_prompt_embeds": torch.zeros(2, EMBED_DIM)}, "negative_prompt_embeds"),
        ({"prompt": ["a", "b"], "negative_prompt": ["n", "m", "o"]}, "3 negative prompts for 2"),
        ({"prompt": ["a", "b", "c"], "melody": [MELODY, LOW_MELODY]}, "2 melodies for 3 prompts"),
        ({"prompt_embeds": torch.zeros(3, EMBED_DIM), "melody_embeds": torch.zeros(2, EMBED_DIM)}, "2 melodies"),
        ({"prompt": "a", "melody_from_audio": True}, "melody_from_audio"),
    ],
)
def test_check_inputs_rejects_inconsistent_inputs_before_any_work(pipe, kwargs, match):
    batches = unet_batches(pipe)
    try:
        with pytest.raises(ValueError, match=match):
            run(pipe, **kwargs)
    finally:
        del pipe.unet.forward
    assert batches == []


# --- memory options on a tiny pipeline ------------------------------------------------------------------------------
def test_attention_slicing_gives_the_same_output():
    pipeline = make_pipe()
    plain = run(pipeline, prompt="a tune")
    pipeline.enable_attention_slicing(slice_size=1)
    assert {type(p).__name__ for p in pipeline.unet.attn_processors.values()} == {"SlicedAttnProcessor"}
    torch.testing.assert_close(run(pipeline, prompt="a tune"), plain, atol=1e-4, rtol=1e-4)
    pipeline.disable_attention_slicing()
    torch.testing.assert_close(run(pipeline, prompt="a tune"), plain, atol=1e-6, rtol=1e-6)


def test_layerwise_casting_stores_the_unet_in_float8_and_runs():
    pipeline = make_pipe()
    pipeline.unet.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.float32)
    assert torch.float8_e4m3fn in {p.dtype for p in pipeline.unet.parameters()}
    assert pipeline.unet.dtype == torch.float32  # the compute dtype: latents and condition stay float32
    out = pipeline("a tune", audio_length_in_s=LENGTH_S, num_inference_steps=2,
                   generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert out.audios.shape == (1, int(LENGTH_S * pipeline.sampling_rate)) and np.isfinite(out.audios).all()
