"""Defaults and bounds of the app's settings (the Space and the `generate` CLI), in one place.

Imports only `mmgen.limits`, so the CLI can build its argument parser without loading torch, the pipeline or Basic
Pitch. Every bound here is one of `mmgen.limits` (what `MMGenPipeline.check_inputs` enforces) or stricter, so a
setting the app accepts is never refused later by the pipeline; the assertions at the bottom keep it so. The app
checks them before loading the model (`mmgen.app.logic.check_settings`), for a message that names the setting.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import limits

DEFAULT_MODEL = "checkpoints/mmgen-default"
DEFAULT_SECONDS = 10.0
# The shipped pipeline's sampler is UniPC (bh2, order 2). The steps sweep (benchmarks/results/latency.json, 32 test
# clips, Griffin-Lim vocoded; chroma cosine / note-F1): UniPC 10 steps 0.67 / 0.47, 12 steps 0.68 / 0.48, 20 steps
# 0.67 / 0.47; DPM-Solver++ needs 20 steps for 0.66 / 0.47; 50 DDIM steps + hybrid vocoder 0.68 / 0.50.
DEFAULT_STEPS = 12
DEFAULT_GUIDANCE = 3.0
# label -> diffusers scheduler class name ("default": the scheduler saved with the pipeline)
SCHEDULERS = {
    "default": None,
    "dpm-solver++": "DPMSolverMultistepScheduler",
    "unipc": "UniPCMultistepScheduler",
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
}
# the choices built as `pipelines.pipeline_mmgen.sampler_scheduler` builds them (its settings, e.g. DPM-Solver++ with
# Karras sigmas, whatever the saved scheduler's); the others take the saved scheduler's config
SAMPLER_OF_SCHEDULER = {"dpm-solver++": "dpm++", "unipc": "unipc", "ddim": "ddim"}


# --- bounds of a generation's settings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bounds:
    """The bounds of one entry point's generation settings (`mmgen.app.logic` checks them before loading the model).

    Args:
        min_seconds, max_seconds (`float`): the generated length (a continuation's new part).
        max_steps (`int`), max_candidates (`int`): denoising steps and aligner-ranked candidates.
        max_clip_seconds (`float`): the longest clip a continuation takes; its last `MAX_PROMPT_SECONDS` are the
            context the pipeline holds, the rest is kept in front of the output as it is.
    """

    min_seconds: float
    max_seconds: float
    max_steps: int
    max_candidates: int
    max_clip_seconds: float


# The Space: a shared server, so stricter than the library.
SPACE = Bounds(
    min_seconds=1.0,  # the duration slider starts here
    max_seconds=limits.SPACE_MAX_SECONDS,
    max_steps=limits.SPACE_MAX_STEPS,
    max_candidates=limits.SPACE_MAX_CANDIDATES,
    max_clip_seconds=limits.SPACE_MAX_CONTINUE_SECONDS,
)
# The `generate` CLI: one user's own machine, so the library's own bounds.
CLI = Bounds(
    min_seconds=limits.MIN_AUDIO_LENGTH_S,
    max_seconds=limits.MAX_AUDIO_LENGTH_S,
    max_steps=limits.MAX_INFERENCE_STEPS,
    max_candidates=limits.MAX_NUM_CANDIDATES,
    max_clip_seconds=limits.MAX_INPUT_SECONDS,
)
MIN_SECONDS, MAX_SECONDS = SPACE.min_seconds, SPACE.max_seconds  # the Space's duration slider
MAX_AUDIO_SECONDS = CLI.max_seconds  # longest generation (and reference) the CLI accepts: the pipeline's
MAX_STEPS, MAX_CANDIDATES = SPACE.max_steps, SPACE.max_candidates  # the Space's sliders
MIN_GUIDANCE = 0.0  # the pipeline's lower bound of `guidance_scale` (w = 0 turns guidance off)
MAX_GUIDANCE = 20.0  # for both guidance scales; the pipeline bounds neither from above
MAX_SEED = 2**31 - 1
# Long pieces: windows of DEFAULT_WINDOW_S, each holding DEFAULT_OVERLAP_S to the one before (the pipeline's defaults)
DEFAULT_WINDOW_S = limits.DEFAULT_WINDOW_S
DEFAULT_OVERLAP_S = 2.0

# --- bounds of the uploads -------------------------------------------------------------------------------------------
MAX_INPUT_SECONDS = limits.SPACE_MAX_INPUT_SECONDS  # longest upload (music-to-music reference, melody inspection)
MAX_UPLOAD_MB = limits.SPACE_MAX_UPLOAD_MB

ADHERENCE_ONSET_TOLERANCE_S = 0.05  # note-F1 of a generated clip: onsets within 50 ms (mir_eval's default)

for _bounds in (SPACE, CLI):
    assert limits.MIN_AUDIO_LENGTH_S <= _bounds.min_seconds <= _bounds.max_seconds <= limits.MAX_AUDIO_LENGTH_S
    assert 1 <= _bounds.max_steps <= limits.MAX_INFERENCE_STEPS
    assert 1 <= _bounds.max_candidates <= limits.MAX_NUM_CANDIDATES
    assert limits.MAX_PROMPT_SECONDS <= _bounds.max_clip_seconds <= limits.MAX_INPUT_SECONDS
assert limits.MIN_WINDOW_OVERLAP_S <= DEFAULT_OVERLAP_S <= DEFAULT_WINDOW_S / 2
assert set(SAMPLER_OF_SCHEDULER) <= set(SCHEDULERS)
assert MIN_GUIDANCE >= 0.0 and MAX_INPUT_SECONDS <= limits.MAX_INPUT_SECONDS
