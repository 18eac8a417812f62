"""Defaults and bounds of the app's settings (the Space and the `generate` CLI), in one place.

Imports only `mmgen.limits`, so the CLI can build its argument parser without loading torch, the pipeline or Basic
Pitch. Every bound here is one of `mmgen.limits` (what `MMGenPipeline.check_inputs` enforces) or stricter, so a
setting the app accepts is never refused later by the pipeline; the assertions at the bottom keep it so. The app
checks them before loading the model (`mmgen.app.logic.check_settings`), for a message that names the setting.
"""

from __future__ import annotations

from .. import limits

DEFAULT_MODEL = "checkpoints/mmgen-default"
DEFAULT_SECONDS = 10.0
DEFAULT_STEPS = 50
DEFAULT_GUIDANCE = 3.0
# label -> diffusers scheduler class name ("default": the scheduler saved with the pipeline)
SCHEDULERS = {
    "default": None,
    "ddim": "DDIMScheduler",
    "dpm-solver++": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
}

# --- bounds of a generation's settings -------------------------------------------------------------------------------
MIN_SECONDS = 1.0  # the Space's duration slider starts here (the pipeline accepts down to MIN_AUDIO_LENGTH_S)
MAX_SECONDS = limits.SPACE_MAX_SECONDS  # longest generation the Space offers
MAX_AUDIO_SECONDS = limits.MAX_AUDIO_LENGTH_S  # longest generation (and reference) the CLI accepts: the pipeline's
MAX_STEPS = limits.SPACE_MAX_STEPS  # the Space's and the CLI's (the pipeline allows MAX_INFERENCE_STEPS)
MAX_CANDIDATES = limits.SPACE_MAX_CANDIDATES  # the Space's and the CLI's (the pipeline allows MAX_NUM_CANDIDATES)
MIN_GUIDANCE = 0.0  # the pipeline's lower bound of `guidance_scale` (w = 0 turns guidance off)
MAX_GUIDANCE = 20.0  # for both guidance scales; the pipeline bounds neither from above
MAX_SEED = 2**31 - 1

# --- bounds of the uploads -------------------------------------------------------------------------------------------
MAX_INPUT_SECONDS = limits.SPACE_MAX_INPUT_SECONDS  # longest upload (music-to-music reference, melody inspection)
MAX_UPLOAD_MB = limits.SPACE_MAX_UPLOAD_MB

ADHERENCE_ONSET_TOLERANCE_S = 0.05  # note-F1 of a generated clip: onsets within 50 ms (mir_eval's default)

assert limits.MIN_AUDIO_LENGTH_S <= MIN_SECONDS <= MAX_SECONDS <= MAX_AUDIO_SECONDS <= limits.MAX_AUDIO_LENGTH_S
assert 1 <= MAX_STEPS <= limits.MAX_INFERENCE_STEPS and 1 <= MAX_CANDIDATES <= limits.MAX_NUM_CANDIDATES
assert MIN_GUIDANCE >= 0.0 and MAX_INPUT_SECONDS <= limits.MAX_INPUT_SECONDS
