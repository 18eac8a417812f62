"""The settings every generation shares: one `GenerationSettings`, built once from the Space's controls or the CLI's
flags and handed to `generate_from_text`, `generate_from_audio` and `continue_clip`.

```
GenerationSettings(seconds=10, steps=50, ...)     the controls, as given (Gradio sends sliders as floats)
GenerationSettings.from_controls(*values)         the same, from the Space's controls in `CONTROLS` order
settings.checked()                                 -> GenerationSettings  (within `bounds`; a random seed resolved)
settings.record()                                  -> dict                (what `GenerationResult.settings` reports)
UserMelody(melody, typed=..., voice=..., edits=...)  a melody to follow instead of a retrieved one, and how to read it
```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .. import limits
from .defaults import (
    DEFAULT_GUIDANCE,
    DEFAULT_OVERLAP_S,
    DEFAULT_SECONDS,
    DEFAULT_STEPS,
    DEFAULT_WINDOW_S,
    MAX_GUIDANCE,
    MAX_SEED,
    MIN_GUIDANCE,
    SPACE,
    Bounds,
)

if TYPE_CHECKING:
    from ..melody.notes import Note


class SpaceError(ValueError):
    """A user-facing error: its message says what went wrong and what to do."""


# The Space's generation controls, in the order its handlers receive them (`app.py`'s `_control_inputs`).
CONTROLS = ("negative_prompt", "seconds", "steps", "guidance_scale", "melody_guidance_scale", "num_candidates", "seed",
            "scheduler")  # fmt: skip


@dataclass(frozen=True)
class GenerationSettings:
    """How to generate, whatever the input (text, a recording, a clip to continue).

    Args:
        negative_prompt (`str`, *optional*): what the music should not sound like; blank is none.
        seconds (`float`): the length of the music made (a continuation: of its new part).
        steps (`int`): denoising steps. guidance_scale (`float`): classifier-free guidance.
        melody_guidance_scale (`float`, *optional*): a second guidance weighing the melody (None or 1.0: plain).
        num_candidates (`int`): clips made, the aligner's best kept.
        seed (`int`, *optional*): None or negative for a random one (`checked` picks it).
        scheduler (`str`): one of `defaults.SCHEDULERS`.
        window_s, overlap_s (`float`): a piece longer than `window_s` is made window by window, each holding its
            first `overlap_s` to the one before (the pipeline's `window_length_in_s` / `window_overlap_in_s`).
        melody_extension (`str`): how a retrieved melody shorter than the piece goes on: `"repeat"` or `"retrieve"`
            (the next matches in its key and tempo; the pipeline's `melody_extension`).
        bounds (`Bounds`): the entry point's bounds (`defaults.SPACE`, or `defaults.CLI` for the library's).
        adherence (`bool`): transcribe the clip and compare it with the guiding notes (Basic Pitch takes about a
            tenth of the clip's length on one CPU core); False skips that.
        melody_files (`bool`): write the guiding melody's piano roll, preview and MIDI (`GenerationResult.melody`'s
            paths); False leaves those paths None (the CLI without `--png` / `--midi`).
    """

    negative_prompt: str | None = None
    seconds: float = DEFAULT_SECONDS
    steps: int = DEFAULT_STEPS
    guidance_scale: float = DEFAULT_GUIDANCE
    melody_guidance_scale: float | None = None
    num_candidates: int = 1
    seed: int | None = 0
    scheduler: str = "default"
    window_s: float = DEFAULT_WINDOW_S
    overlap_s: float = DEFAULT_OVERLAP_S
    melody_extension: str = "repeat"
    bounds: Bounds = SPACE
    adherence: bool = True
    melody_files: bool = True

    @classmethod
    def from_controls(cls, *values, **extra) -> GenerationSettings:
        """The Space's control values, in `CONTROLS` order, plus any other field by keyword."""
        if len(values) != len(CONTROLS):
            raise TypeError(f"expected the {len(CONTROLS)} controls {', '.join(CONTROLS)}, got {len(values)} values")
        return cls(**dict(zip(CONTROLS, values)), **extra)

    def replace(self, **changes) -> GenerationSettings:
        return dataclasses.replace(self, **changes)

    def checked(self) -> GenerationSettings:
        """These settings with plain numbers, a blank negative prompt as None and the seed to use (a random one for
        None or a negative seed).

        Raises:
            `SpaceError` for settings outside `bounds` (the pipeline's or stricter) and the window limits of
            `mmgen.limits`, non-finite or not numbers at all (`True` included); whole floats (Gradio sliders send
            `50.0`) are whole numbers, `2.5` steps are not.
        """
        bounds = self.bounds
        low_window, high_window = limits.MIN_WINDOW_S, limits.MAX_WINDOW_S
        checks = (
            (self.seconds, bounds.min_seconds, bounds.max_seconds, False,
             f"The duration must be between {bounds.min_seconds:g} and {bounds.max_seconds:g} seconds"),
            (self.steps, 1, bounds.max_steps, True,
             f"The number of steps must be a whole number from 1 to {bounds.max_steps}"),
            (self.guidance_scale, MIN_GUIDANCE, MAX_GUIDANCE, False,
             f"The guidance scale must be between {MIN_GUIDANCE:g} and {MAX_GUIDANCE:g}"),
            (self.num_candidates, 1, bounds.max_candidates, True,
             f"The number of candidates must be from 1 to {bounds.max_candidates}"),
            (self.window_s, low_window, high_window, False,
             f"The window must be between {low_window:g} and {high_window:g} seconds"),
        ) + (() if self.melody_guidance_scale is None else (
            (self.melody_guidance_scale, MIN_GUIDANCE, MAX_GUIDANCE, False,
             f"The melody guidance must be between {MIN_GUIDANCE:g} and {MAX_GUIDANCE:g}"),))  # fmt: skip
        if self.melody_extension not in limits.MELODY_EXTENSIONS:
            raise SpaceError(
                f"The melody extension must be one of {limits.MELODY_EXTENSIONS}, got {self.melody_extension!r}."
            )
        for value, low, high, whole, message in checks:
            try:
                limits.check_number("setting", value, low=low, high=high)
                ok = not whole or float(value) == int(value)
            except ValueError:
                ok = False
            if not ok:
                raise SpaceError(f"{message}, got {value!r}.")
        try:  # the overlap's upper bound is half of the (now checked) window
            limits.check_number("overlap", self.overlap_s, low=limits.MIN_WINDOW_OVERLAP_S,
                                high=float(self.window_s) / 2)  # fmt: skip
        except ValueError:
            raise SpaceError(
                f"The window overlap must be between {limits.MIN_WINDOW_OVERLAP_S:g} seconds and half the window "
                f"({float(self.window_s) / 2:g} s), got {self.overlap_s!r}."
            ) from None
        return self.replace(
            negative_prompt=(self.negative_prompt or "").strip() or None,
            seconds=float(self.seconds),
            steps=int(self.steps),
            guidance_scale=float(self.guidance_scale),
            num_candidates=int(self.num_candidates),
            seed=_seed(self.seed),
            window_s=float(self.window_s),
            overlap_s=float(self.overlap_s),
        )

    def record(self) -> dict:
        """What a result reports of its settings (`GenerationResult.settings`), under the pipeline's names."""
        return {
            "negative_prompt": self.negative_prompt, "seconds": self.seconds, "num_inference_steps": self.steps,
            "guidance_scale": self.guidance_scale, "melody_guidance_scale": self.melody_guidance_scale,
            "num_candidates": self.num_candidates, "seed": self.seed, "scheduler": self.scheduler,
            "window_s": self.window_s, "overlap_s": self.overlap_s, "melody_extension": self.melody_extension,
        }  # fmt: skip


@dataclass(frozen=True)
class UserMelody:
    """A melody the user gives to follow instead of a retrieved one, and how to read and shape it
    (`logic.load_user_melody`).

    Args:
        melody: anything `load_melody` reads (a MIDI/ABC/audio path, ABC, a note list, a token string, notes); None
            or blank text: none given.
        typed (`bool`): a string is typed text and never opened as a file (the Space's melody boxes).
        voice (`bool`): the melody is a hummed or sung recording.
        edits (`dict`, *optional*): shaping edits (transpose, tempo, trim, fold); recorded in the result's settings
            and shown with the guiding melody. Music-to-music applies them to the upload's own melody too.
    """

    melody: str | list[Note] | None = None
    typed: bool = False
    voice: bool = False
    edits: dict | None = None

    @classmethod
    def of(cls, melody: UserMelody | str | list[Note] | None) -> UserMelody:
        """`melody` as a `UserMelody` (a bare melody: read as it is, not shaped)."""
        return melody if isinstance(melody, UserMelody) else cls(melody)

    @property
    def given(self) -> bool:
        return self.melody is not None and not (isinstance(self.melody, str) and not self.melody.strip())


def _seed(seed) -> int:
    if seed is None or (isinstance(seed, float) and np.isnan(seed)):
        return int(np.random.default_rng().integers(0, MAX_SEED))
    try:
        limits.check_number("seed", seed, high=MAX_SEED)
        ok = float(seed) == int(seed)
    except ValueError:
        ok = False
    if not ok:
        raise SpaceError(f"The seed must be between 0 and {MAX_SEED} (negative: random), got {seed!r}.")
    return int(np.random.default_rng().integers(0, MAX_SEED)) if seed < 0 else int(seed)
