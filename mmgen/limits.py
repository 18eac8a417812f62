"""Resource caps of every entry point, written once.

The pipeline (`MMGenPipeline.check_inputs`), the melody and audio loaders, the `generate` CLI and the Space import
their bounds from here, so that no input can exhaust the machine whichever way it comes in. The Space's caps are
stricter than the library's (a shared server); the library's are what one call may cost at most.
"""

from __future__ import annotations

import math
import numbers

# --- generation (MMGenPipeline; the `generate` CLI uses the same) ------------------------------------------------
MIN_AUDIO_LENGTH_S = 0.5  # generated clip
MAX_AUDIO_LENGTH_S = 300.0
MAX_INFERENCE_STEPS = 1000  # the schedulers' training timesteps
MAX_NUM_CANDIDATES = 16  # `num_candidates`: each one is a full generation
MAX_WAVEFORMS_PER_PROMPT = 16  # `num_waveforms_per_prompt`
MAX_GENERATIONS_PER_CALL = 64  # prompts x waveforms per prompt x candidates in one call
# Longer pieces are made window by window (`mmgen.long_form`): each window costs what one clip of its length costs,
# and memory is bounded by the window (its deepest UNet level attends over the whole window: quadratic in length).
# 20 s windows spend a tenth of their frames on the 2 s overlap; benchmarks/long_form.py measures the joins.
DEFAULT_WINDOW_S = 20.0
MIN_WINDOW_S, MAX_WINDOW_S = 4.0, 30.0
MELODY_EXTENSIONS = ("repeat", "retrieve")  # how a retrieved melody shorter than the piece goes on
MAX_CHAINED_MELODIES = 8  # retrieved melodies played after the first one in a long piece (then the chain repeats)
MIN_WINDOW_OVERLAP_S = 0.5  # frames a window holds to what came before (at most half a window)
MIN_PROMPT_SECONDS, MAX_PROMPT_SECONDS = 1.0, 60.0  # the audio prompt of a continuation

# --- input audio (music-to-music reference, audio melodies) -------------------------------------------------------
MIN_INPUT_SECONDS = 0.5  # shorter audio has no melody or timbre to speak of
MAX_INPUT_SECONDS = 600.0  # a reference recording or audio to transcribe (the library; the Space takes less)
MAX_INPUT_PEAK = 2.0  # float samples live in [-1, 1]; beyond 6 dB of headroom the scale is wrong (int16 as float?)
MAX_INPUT_CHANNELS = 8  # a 2-D array with at most this many columns is (samples, channels), as soundfile returns
MAX_VOICE_SECONDS = 60.0  # a hummed or sung recording

# --- melodies (`mmgen.melody.load_melody`, every entry point) -----------------------------------------------------
MAX_MELODY_NOTES = 5_000
MAX_MELODY_SECONDS = 600.0
MAX_TEXT_CHARS = 200_000  # a typed melody (notation or token string); 5,000 token triples fit in about 110,000
MAX_FILE_BYTES = 64 * 2**20  # an ABC or text melody file read whole into memory
MAX_MIDI_BYTES = 2**20  # parsing costs about 16 s per MB here; 5,000 notes with dense controllers take ~200 KB

# --- the Space (app.py) ---------------------------------------------------------------------------------------------
SPACE_MAX_SECONDS = 300.0  # longest generation (made window by window: minutes on a CPU)
SPACE_MAX_CONTINUE_SECONDS = 300.0  # longest clip the Space continues (its last MAX_PROMPT_SECONDS are the context)
SPACE_MAX_STEPS = 200
SPACE_MAX_CANDIDATES = 4
SPACE_MAX_INPUT_SECONDS = 60.0  # longest upload (music-to-music reference, melody inspection)
SPACE_MAX_UPLOAD_MB = 20
SPACE_MAX_CACHE_MB = 2048  # files the Space writes (clips, previews, MIDI); the oldest go first
SPACE_CACHE_MAX_AGE_S = 6 * 3600

assert SPACE_MAX_CANDIDATES <= MAX_NUM_CANDIDATES and SPACE_MAX_SECONDS <= MAX_AUDIO_LENGTH_S
assert MAX_PROMPT_SECONDS <= SPACE_MAX_CONTINUE_SECONDS <= MAX_INPUT_SECONDS


def check_number(name: str, value, *, low: float | None = None, high: float | None = None, integer: bool = False):
    """`ValueError` naming `name` unless `value` is a finite real number (a whole one with `integer`) in
    [`low`, `high`]. A one-element array or tensor counts as its value. `True` is not a number here, nor is `2.5` a
    step count: both would be silently reinterpreted."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):  # numpy / torch scalars
        value = value.item()
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral if integer else numbers.Real):
        raise ValueError(f"`{name}` must be {kind}, got {value!r} ({type(value).__name__}).")
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value}.")
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            bounds = f"between {low:g} and {high:g}"
        else:
            bounds = f">= {low:g}" if low is not None else f"<= {high:g}"
        raise ValueError(f"`{name}` must be {bounds}, got {value}.")
