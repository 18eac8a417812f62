"""benchmarks/guidance_schedule.py: schedules parse; each step's UNet call gets the branches and sketch they set."""

import pytest
import torch
from fixtures import load_benchmark
from pipeline_dummies import get_dummy_components

from pipelines.pipeline_mmgen import MMGenPipeline, sampler_scheduler

STEPS = 4


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("guidance_schedule")


def test_parse_schedule(bench):
    assert bench.parse_schedule("shipped:") == ("shipped", bench.Schedule())
    name, schedule = bench.parse_schedule("early:beta=2,beta_end=0.5,cfg_start=0.25")
    assert name == "early" and (schedule.beta, schedule.beta_end, schedule.cfg_start) == (2.0, 0.5, 0.25)
    with pytest.raises(SystemExit, match="unknown schedule key 'gamma'"):
        bench.parse_schedule("x:gamma=1")
    with pytest.raises(SystemExit, match="not a number"):
        bench.parse_schedule("x:beta=two")
    with pytest.raises(SystemExit, match="NAME:key=value"):
        bench.parse_schedule("beta=2")


def unet_calls(bench, schedule, melody_guidance_scale=None):
    """(batch, sketch is all zeros) of every UNet call of one 4-step run of a tiny pipeline under `schedule`."""
    components = get_dummy_components(melody_sketch=True)
    components["scheduler"] = sampler_scheduler("dpm++", components["scheduler"])
    pipe = MMGenPipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    channels = pipe.vae.config.latent_channels
    calls = []
    forward = pipe.unet.forward

    def record(sample, *args, **kwargs):
        calls.append((sample.shape[0], [bool((s[channels:] == 0).all()) for s in sample]))
        return forward(sample, *args, **kwargs)

    pipe.unet.forward = record
    predictor = bench.ScheduledNoisePrediction(pipe, STEPS)
    pipe.predict_noise = predictor
    predictor.start(schedule)
    pipe(
        prompt="a waltz",
        audio_length_in_s=1.0,
        num_inference_steps=STEPS,
        guidance_scale=3.0,
        melody_guidance_scale=melody_guidance_scale,
        generator=torch.Generator().manual_seed(0),
        output_type="latent",
    )
    assert predictor.step == STEPS
    return calls


def test_shipped_schedule_runs_every_pass(bench):
    calls = unet_calls(bench, bench.Schedule())
    assert [batch for batch, _ in calls] == [2] * STEPS
    assert all(zeros == [True, False] for _, zeros in calls)  # null sketch for the unconditional branch only


def test_melody_guidance_ends(bench):
    calls = unet_calls(bench, bench.Schedule(beta=2.0, beta_end=0.5), melody_guidance_scale=2.0)
    assert [batch for batch, _ in calls] == [3, 3, 2, 2]


def test_sketch_ends(bench):
    calls = unet_calls(bench, bench.Schedule(melody_end=0.75))
    assert [zeros for _, zeros in calls] == [[True, False]] * 3 + [[True, True]]


def test_text_guidance_interval(bench):
    calls = unet_calls(bench, bench.Schedule(cfg_start=0.25, cfg_end=0.75))
    assert [batch for batch, _ in calls] == [1, 2, 2, 1]
