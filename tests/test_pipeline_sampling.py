"""Few-step sampling and numerics (issue 15): the samplers of `sampler_scheduler`, the scheduler the pipeline is given
(saved, loaded and used, in short clips and window by window), one UNet call per step with guidance, and the bfloat16
autocast path against float32 on tiny seeded components."""

import json

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler
from pipeline_dummies import get_dummy_components

from mmgen.audio import log_mel_spectrogram
from mmgen.long_form import plan_windows
from mmgen.melody.notes import Note
from pipelines.pipeline_mmgen import MMGenPipeline, bf16_supported, default_scheduler, sampler_scheduler

# the last note keeps the melody fitted to 4 s and to 9 s the same over the first 4 s
MELODY = [*(Note(0.1 + 0.2 * i, 0.25 + 0.2 * i, p, 100) for i, p in enumerate([60, 64, 67, 72])), Note(8.4, 8.9, 65)]


def make_pipe(sampler: str = "dpm++") -> MMGenPipeline:
    components = get_dummy_components(melody_sketch=True)
    components["scheduler"] = sampler_scheduler(sampler, components["scheduler"])
    pipe = MMGenPipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(pipe, seed=0, **kwargs):
    kwargs.setdefault("num_inference_steps", 4)
    kwargs.setdefault("audio_length_in_s", 2.0)
    kwargs.setdefault("output_type", "mel")  # the vocoder is the same whatever the sampler
    return pipe("a tune", melody=MELODY, generator=torch.Generator().manual_seed(seed), **kwargs)


SAMPLERS = [("dpm++", DPMSolverMultistepScheduler), ("unipc", UniPCMultistepScheduler), ("ddim", DDIMScheduler)]


@pytest.mark.parametrize(("sampler", "cls"), SAMPLERS)
def test_samplers_keep_the_training_noise_schedule(sampler, cls):
    scheduler = sampler_scheduler(sampler, default_scheduler())
    assert isinstance(scheduler, cls)
    trained = default_scheduler()
    np.testing.assert_allclose(scheduler.alphas_cumprod.numpy(), trained.alphas_cumprod.numpy(), rtol=1e-6)
    assert scheduler.config.prediction_type == "epsilon"
    if sampler == "dpm++":
        assert scheduler.config.use_karras_sigmas and scheduler.config.algorithm_type == "dpmsolver++"
        assert scheduler.config.solver_order == 2
    with pytest.raises(ValueError, match="unknown sampler 'euler'"):
        sampler_scheduler("euler")


def test_the_saved_scheduler_is_loaded_and_used(tmp_path):
    pipe = make_pipe("dpm++")
    pipe.save_pretrained(tmp_path / "pipe")
    index = json.loads((tmp_path / "pipe" / "model_index.json").read_text())
    assert index["scheduler"] == ["diffusers", "DPMSolverMultistepScheduler"]
    loaded = MMGenPipeline.from_pretrained(tmp_path / "pipe")
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.scheduler, DPMSolverMultistepScheduler) and loaded.scheduler.config.use_karras_sigmas
    torch.testing.assert_close(run(loaded).audios, run(pipe).audios)
    # a scheduler passed to from_pretrained replaces the saved one, and the denoising loop steps with it
    unipc = sampler_scheduler("unipc", loaded.scheduler)
    other = MMGenPipeline.from_pretrained(tmp_path / "pipe", scheduler=unipc)
    other.set_progress_bar_config(disable=True)
    assert other.scheduler is unipc
    stepped = []
    original = unipc.step
    unipc.step = lambda *args, **kwargs: stepped.append(1) or original(*args, **kwargs)
    out = run(other)
    assert len(stepped) == 4 and not torch.allclose(out.audios, run(pipe).audios)


def test_guidance_is_one_batched_unet_call_per_step():
    pipe = make_pipe("dpm++")
    batches, forward = [], pipe.unet.forward
    pipe.unet.forward = lambda sample, *args, **kwargs: batches.append(sample.shape[0]) or forward(sample, *args,
                                                                                                     **kwargs)
    run(pipe, num_inference_steps=3)
    assert batches == [2, 2, 2]  # [unconditional, conditional] in one batch
    batches.clear()
    run(pipe, num_inference_steps=1, melody_guidance_scale=2.0)
    assert batches == [3]  # [unconditional, query only, conditional]


def test_long_form_with_a_multistep_scheduler_holds_the_shared_frames():
    """Each window restarts the solver (`set_timesteps`) and noises its held frames with `add_noise` at every step."""
    pipe = make_pipe("dpm++")
    kwargs = {"audio_length_in_s": 9.0, "window_length_in_s": 4.0, "window_overlap_in_s": 1.0, "output_type": "latent"}
    steps = []
    out = run(pipe, callback_on_step_end=lambda p, i, t, kw: steps.append(int(t)) or kw, **kwargs).audios
    windows = plan_windows(out.shape[2], pipe.window_frames(4.0), pipe.window_frames(1.0))
    assert len(windows) == 3 and torch.isfinite(out).all()
    timesteps = pipe.scheduler.timesteps.tolist()
    assert steps == timesteps * 3  # every window runs the whole solver from the start
    # the piece starts as the 4 s clip made from its noise (up to where the second window starts: the frames later
    # windows never touch), and later windows build on it
    noise = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    long_piece = run(pipe, latents=noise.clone(), **kwargs).audios
    short = run(pipe, latents=noise[:, :, : windows[0].stop].clone(), output_type="latent",
                audio_length_in_s=4.0, window_length_in_s=4.0).audios  # fmt: skip
    start = windows[1].start
    torch.testing.assert_close(long_piece[:, :, :start], short[:, :, :start])


def test_bfloat16_autocast_gives_close_audio():
    """Forced on here (this CPU may emulate bfloat16): the audio of the bf16 UNet is close to float32's."""
    pipe = make_pipe("dpm++")
    reference = run(pipe, autocast=False, output_type="np").audios
    unets = []
    forward = pipe.unet.forward
    pipe.unet.forward = lambda *a, **k: unets.append(torch.get_autocast_dtype("cpu")
                                                     if torch.is_autocast_enabled("cpu") else None) or forward(*a, **k)
    bf16 = run(pipe, autocast=True, output_type="np").audios
    assert set(unets) == {torch.bfloat16}
    assert bf16.dtype == reference.dtype == np.float32 and np.isfinite(bf16).all()
    correlation = np.corrcoef(bf16.ravel(), reference.ravel())[0, 1]
    assert correlation > 0.95, correlation
    # what one hears: the log-mels of the two waveforms differ by a few percent of their spread (the waveforms
    # themselves less closely: the random tiny vocoder's Griffin-Lim phase amplifies small differences)
    heard, heard_reference = log_mel_spectrogram(bf16[0]), log_mel_spectrogram(reference[0])
    assert np.abs(heard - heard_reference).mean() < 0.1 * heard_reference.std()
    # the default follows the CPU: autocast only where bfloat16 is native
    unets.clear()
    default = run(pipe, output_type="np").audios
    assert set(unets) == ({torch.bfloat16} if bf16_supported() else {None})
    if not bf16_supported():
        np.testing.assert_array_equal(default, reference)
