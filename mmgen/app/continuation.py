"""Continue a clip: the Space's "Continue a clip" tab and `python -m mmgen generate --continue clip.wav`.

```
load_clip(clip, max_seconds=..., max_upload_mb=...)           -> Clip              (checked before the model loads)
continue_clip(store, clip, settings, prompt=None, melody=None) -> GenerationResult  (the clip, then N more seconds)
```

The pipeline continues a recording of `MIN_PROMPT_SECONDS` to `MAX_PROMPT_SECONDS` (`audio_prompt`: its VAE latents
held as the start of the piece). A longer clip (a 5-minute piece the Space made, say) is continued from its last
`MAX_PROMPT_SECONDS`, its context; the part before is kept as it is and joined in front (`logic.join_head`). The
written audio is the whole clip followed by the new music, and the guiding melody's times are on that timeline.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from .. import limits
from ..audio import SAMPLE_RATE, load_audio, validate_waveform
from ..melody.notes import Note
from .defaults import MAX_UPLOAD_MB, SPACE
from .logic import (
    CLIP_JOIN_S,
    PipelineStore,
    ProgressFn,
    _load,
    _melody_record,
    _output_folder,
    _run,
    check_upload,
    named_after_upload,
)
from .settings import GenerationSettings, SpaceError, UserMelody
from .views import GenerationResult


@dataclass
class Clip:
    """A clip to continue, checked: mono float32 at 22,050 Hz, at least `MIN_PROMPT_SECONDS` long, its context not
    silent.

    Args:
        waveform (`np.ndarray` of shape `(samples,)`): the whole clip.
        name (`str`): how messages and the settings name it (the file name, never a server path).
    """

    waveform: np.ndarray
    name: str

    @property
    def seconds(self) -> float:
        return len(self.waveform) / SAMPLE_RATE

    def split(self) -> tuple[np.ndarray | None, np.ndarray]:
        """`(head, context)`: the context is the last `MAX_PROMPT_SECONDS` (the pipeline's `audio_prompt`); `head`
        is what comes before it plus `CLIP_JOIN_S` of the context for the cross-fade, None when the clip is short
        enough to be the context whole."""
        context = int(limits.MAX_PROMPT_SECONDS * SAMPLE_RATE)
        if len(self.waveform) <= context:
            return None, self.waveform
        start = len(self.waveform) - context
        return self.waveform[: start + int(round(CLIP_JOIN_S * SAMPLE_RATE))], self.waveform[start:]


def load_clip(
    clip: str | os.PathLike | Clip,
    *,
    max_seconds: float = SPACE.max_clip_seconds,
    max_upload_mb: float | None = MAX_UPLOAD_MB,
) -> Clip:
    """Read and check a clip to continue (a path; a `Clip` is returned as it is).

    Raises:
        `SpaceError` for no file, a folder or (with `max_upload_mb`) a file too big; `AudioError` naming the file for
        one that cannot be read, is shorter than `MIN_PROMPT_SECONDS`, longer than `max_seconds`, or silent.
    """
    if isinstance(clip, Clip):
        return clip
    path = check_upload(clip, "a clip to continue", max_mb=max_upload_mb)
    name = os.path.basename(path)
    with named_after_upload(path):
        waveform = load_audio(path, SAMPLE_RATE, max_duration_s=max_seconds, min_duration_s=limits.MIN_PROMPT_SECONDS,
                              max_peak=limits.MAX_INPUT_PEAK, allow_silent=False)  # fmt: skip
        loaded = Clip(waveform, name)
        _, context = loaded.split()
        if len(context) < len(waveform):  # the part continued must have something to continue
            validate_waveform(context, SAMPLE_RATE, name=f"'{name}' (its last {limits.MAX_PROMPT_SECONDS:g} s)",
                              max_duration_s=None, allow_silent=False)  # fmt: skip
    return loaded


def continue_clip(
    store: PipelineStore,
    clip: str | os.PathLike | Clip,
    settings: GenerationSettings | None = None,
    *,
    prompt: str | None = None,
    melody: UserMelody | str | list[Note] | None = None,
    progress: ProgressFn | None = None,
    output_dir: str | None = None,
    max_upload_mb: float | None = MAX_UPLOAD_MB,
) -> GenerationResult:
    """The clip followed by `settings.seconds` of new music that continues it.

    Args:
        clip: a path (an upload, the Space's last generated clip) or a `Clip` from `load_clip`; at most
            `settings.bounds.max_clip_seconds` long.
        settings (`GenerationSettings`, *optional*): `seconds` is the new part's length (`bounds.min_seconds` to
            `bounds.max_seconds`).
        prompt: optional text for what comes next; without it the clip's own audio embedding is the query.
        melody (`UserMelody`, or what it holds, *optional*): the new part's melody, starting where the clip ends;
            without it the query retrieves one.
        The other arguments are as in `logic.generate_from_text`.
    Returns:
        `GenerationResult` whose audio is the whole clip and then the new part, `settings["mode"] ==
        "continuation"`; its adherence compares the new part only with the melody.
    """
    started = time.perf_counter()
    prompt = (prompt or "").strip() or None
    user = UserMelody.of(melody)
    settings = (settings or GenerationSettings()).checked()
    if clip is None:
        raise SpaceError("Please give a clip to continue: generate one first, or upload or record one.")
    clip = load_clip(clip, max_seconds=settings.bounds.max_clip_seconds, max_upload_mb=max_upload_mb)
    loaded = _load(user)
    head, context = clip.split()
    record = {
        "mode": "continuation", "clip": f"'{clip.name}'", "clip_seconds": round(clip.seconds, 3),
        "context_seconds": round(len(context) / SAMPLE_RATE, 3), "prompt": prompt or "", **settings.record(),
        "user_melody": user.given, **_melody_record(loaded),
    }  # fmt: skip
    out = _output_folder(output_dir)
    if progress is not None:
        progress(0.0, f"Encoding the last {len(context) / SAMPLE_RATE:.1f} s of the clip")
    kwargs = {"prompt": prompt, "audio_prompt": context, "melody": None if loaded is None else loaded.notes}
    return _run(store, kwargs, settings, record, progress, None, started, out, head=head)
