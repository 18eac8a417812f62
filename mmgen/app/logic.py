"""What the Space (`app.py`) and the `generate` CLI do, without any UI: load the pipeline once, generate, inspect.

Every function returns plain data (paths of the files it wrote, token strings, statistics, timings) and raises
`SpaceError` (a `ValueError`), `AudioError` or `MelodyError` with a message meant for the user; `app.py` turns
those into `gr.Error`s and the CLI prints them.

```
generate_from_text(store, prompt, settings, melody=None) -> GenerationResult (text-to-music; a melody skips retrieval)
check_adherence(result)                                -> GenerationResult  (the clip's transcription over its melody)
generate_from_audio(store, audio_path, settings, ...)   -> GenerationResult  (music-to-music)
continue_clip(store, clip, settings, prompt=None, ...)  -> GenerationResult  (the clip, then N more seconds)
inspect(path, reduction)                              -> InspectionResult  (Basic Pitch / MIDI -> notes, tokens)
load_user_melody(melody, typed=..., voice=..., edits)  -> LoadedMelody      (any melody input, shaped)
preview_melody(melody, typed=..., voice=..., edits)    -> MelodyView        (the shaped melody, before generating)
```

A piece longer than a window (`window_s`, 20 s) is made window by window (`MMGenPipeline`); `progress` then says
"window 2/7, step 10/50", its fraction over the whole piece. A generation guided by notes also gets an `AdherenceView`
(`GenerationResult.adherence`): the generated clip's own Basic Pitch transcription drawn over the guiding melody, with
its note-F1 and chroma cosine against it. What is shown (views, results, their files) is made in `mmgen.app.views`. The
settings the three generations share (length, steps, guidance, seed, ...) are one `GenerationSettings`
(`mmgen.app.settings`), built once from the Space's controls or the CLI's flags.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable

import numpy as np

from .. import limits
from ..audio import SAMPLE_RATE, AudioError, load_audio, save_audio
from ..melody.notes import MelodyError, Note
from .defaults import DEFAULT_MODEL, MAX_INPUT_SECONDS, MAX_UPLOAD_MB, SAMPLER_OF_SCHEDULER, SCHEDULERS
from .settings import GenerationSettings, SpaceError, UserMelody
from .views import (
    GenerationResult,
    InspectionResult,
    MelodyView,
    edits_text,
    guiding_melody_view,
    melody_adherence_view,
    melody_view,
)

ProgressFn = Callable[[float, str], None]


# ------------------------------------------------------------------------------------------------ the model
def model_missing_message(path: str) -> str:
    return (
        f"No MMGen pipeline at '{path}' (its model_index.json is missing). The default model "
        f"'{DEFAULT_MODEL}' is written by the training run (see the README's training section); or pass "
        "--model PATH pointing at a folder saved with MMGenPipeline.save_pretrained. Melody inspection (the "
        "Space's third tab, `python -m mmgen melody`) works without a model."
    )


class PipelineStore:
    """Loads an `MMGenPipeline` from a local folder once, on first use, safely from several threads.

    Args:
        path (`str`): a folder written by `MMGenPipeline.save_pretrained` (holding `model_index.json`).
    """

    def __init__(self, path: str = DEFAULT_MODEL):
        self.path = os.fspath(path)
        self._pipe = None
        self._lock = threading.Lock()
        self.load_seconds: float | None = None

    @property
    def available(self) -> bool:
        """Whether the folder holds a pipeline (checked on disk; loads nothing)."""
        return os.path.isfile(os.path.join(self.path, "model_index.json"))

    @property
    def loaded(self) -> bool:
        return self._pipe is not None

    def get(self):
        """The loaded pipeline (loading it on the first call). Raises `SpaceError` if it is missing or broken."""
        if self._pipe is not None:
            return self._pipe
        with self._lock:
            if self._pipe is None:
                if not self.available:
                    raise SpaceError(model_missing_message(self.path))
                start = time.perf_counter()  # imports included: they are part of the first call's wait
                from pipelines.pipeline_mmgen import MMGenPipeline

                try:
                    pipe = MMGenPipeline.from_pretrained(self.path)
                except Exception as err:  # a half-written or incompatible folder
                    raise SpaceError(f"Could not load the MMGen pipeline from '{self.path}': {err}") from err
                pipe.set_progress_bar_config(disable=True)
                self.load_seconds = time.perf_counter() - start
                self._pipe = pipe
        return self._pipe

    def pipeline_for_call(self, scheduler: str = "default"):
        """A pipeline sharing the loaded pipeline's components (`pipe.components`: every model, the tokenizer and
        the retriever) but with its own scheduler, so concurrent calls never share one (a scheduler keeps per-call
        state in `set_timesteps`)."""
        if scheduler not in SCHEDULERS:
            raise SpaceError(f"Unknown scheduler '{scheduler}'; choose one of {', '.join(SCHEDULERS)}.")
        base = self.get()  # first: its load time counts the imports of the pipeline and diffusers
        if scheduler in SAMPLER_OF_SCHEDULER:  # exactly the sampler the steps sweep measured, on the model's schedule
            from pipelines.pipeline_mmgen import sampler_scheduler

            chosen = sampler_scheduler(SAMPLER_OF_SCHEDULER[scheduler], base.scheduler)
        else:
            import diffusers

            name = SCHEDULERS[scheduler]
            scheduler_cls = type(base.scheduler) if name is None else getattr(diffusers, name)
            chosen = scheduler_cls.from_config(base.scheduler.config)
        components = {**base.components, "scheduler": chosen}
        pipe = type(base)(**components, vocoder_method=base.config.vocoder_method)
        pipe.set_progress_bar_config(disable=True)
        return pipe


# ------------------------------------------------------------------------------------------------ helpers
CLIP_JOIN_S = 0.05  # the cross-fade joining a long clip's head to the continuation of its last part


def denoising_progress(i: int, total_steps: int, window_steps: int) -> tuple[float, str]:
    """`(fraction, message)` after denoising step `i` (counted over every window, as `callback_on_step_end` counts
    it) of a piece made in `total_steps` (`pipe.num_timesteps`) steps, `window_steps` per window: the fraction of
    the whole piece, in [0, 1]; "window 2/7, step 10/50" for a piece in windows, "Denoising step 10/50" for one."""
    window_steps = max(int(window_steps), 1)
    total_steps = max(int(total_steps), window_steps)
    windows = math.ceil(total_steps / window_steps)
    window, step = divmod(min(max(int(i), 0), total_steps - 1), window_steps)
    if windows == 1:
        message = f"Denoising step {step + 1}/{window_steps}"
    else:
        message = f"window {window + 1}/{windows}, step {step + 1}/{window_steps}"
    return min((i + 1) / total_steps, 1.0), message


def shift_notes(notes: list[Note], seconds: float) -> list[Note]:
    """The notes `seconds` later (earlier when negative)."""
    return [Note(n.onset + seconds, n.offset + seconds, n.pitch, n.velocity) for n in notes]


def join_head(head: np.ndarray, continued: np.ndarray) -> np.ndarray:
    """A long clip's start `head` followed by `continued`, the pipeline's output (the clip's last part, its context,
    as the VAE rebuilt it, then the new music). `head` runs `CLIP_JOIN_S` into the context (`split_clip`): over
    those samples the original audio cross-fades into its rebuilt self (the same music, so the join is not heard).
    Returns `len(head) - fade + len(continued)` samples."""
    fade = min(int(round(CLIP_JOIN_S * SAMPLE_RATE)), len(head), len(continued))
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    joined = np.concatenate([head[: len(head) - fade], continued]).astype(np.float32)
    start = len(head) - fade
    joined[start : start + fade] = (1 - ramp) * head[start:] + ramp * continued[:fade]
    return joined


def new_output_dir(
    root: str | None = None,
    max_age_s: float = limits.SPACE_CACHE_MAX_AGE_S,
    max_total_mb: float = limits.SPACE_MAX_CACHE_MB,
) -> str:
    """A fresh folder for one call's files under `root` (default: `mmgen-space` in the system temp folder).

    Folders of earlier calls older than `max_age_s` are deleted, then the oldest ones until all of them hold at most
    `max_total_mb`, so that a long-running Space does not fill the disk.
    """
    import shutil

    root = root or os.path.join(tempfile.gettempdir(), "mmgen-space")
    if os.path.isdir(root):
        now = time.time()
        folders = []
        for entry in os.scandir(root):
            try:
                if not entry.is_dir():
                    continue
                if now - entry.stat().st_mtime > max_age_s:
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    folders.append((entry.stat().st_mtime, entry.path, _folder_bytes(entry.path)))
            except OSError:  # removed by another thread meanwhile
                pass
        total = sum(size for _, _, size in folders)
        for _, path, size in sorted(folders):
            if total <= max_total_mb * 2**20:
                break
            shutil.rmtree(path, ignore_errors=True)
            total -= size
    path = os.path.join(root, time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8])
    os.makedirs(path, exist_ok=True)
    return path


def _folder_bytes(path: str) -> int:
    total = 0
    for base, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(base, name))
    return total


def check_upload(path: str | None, what: str, max_mb: float | None = MAX_UPLOAD_MB) -> str:
    """The path of an uploaded file, or `SpaceError` if none was given or it is too big (`max_mb`; None: no size
    rule, for the CLI, whose audio is bounded by its duration instead)."""
    if path is None or (isinstance(path, str) and not path.strip()):
        raise SpaceError(f"Please upload {what}.")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise SpaceError(f"'{os.path.basename(os.path.normpath(path))}' is a folder; {what} must be a file.")
    if not os.path.isfile(path):
        raise SpaceError(f"The uploaded file '{os.path.basename(path)}' cannot be found; please upload it again.")
    size_mb = os.path.getsize(path) / 2**20
    if max_mb is not None and size_mb > max_mb:
        raise SpaceError(f"The file is {size_mb:.1f} MB; the limit is {max_mb} MB.")
    return path


@contextlib.contextmanager
def named_after_upload(path: str):
    """Re-raise `AudioError` / `MelodyError` with the uploaded file's name instead of its server-side path."""
    try:
        yield
    except (AudioError, MelodyError) as err:
        message = str(err)
        name = os.path.basename(path)
        if path not in message:
            raise
        raise type(err)(message.replace(f"'{path}'", f"'{name}'").replace(path, name)) from err


def load_user_melody(
    melody,
    *,
    typed: bool = False,
    voice: bool = False,
    edits: dict | None = None,
    name: str = "your melody",
    max_input_seconds: float = MAX_INPUT_SECONDS,
):
    """A user's melody through `mmgen.melody.load_melody`, shaped by `edits` (its keyword arguments: `trim_s`,
    `tempo`, `target_bpm`, `transpose_semitones`, `fold`).

    Args:
        melody: a path (upload) or, with `typed`, text the user typed (ABC, a note list, tokens: never opened as a
            file), or notes.
        voice (`bool`): audio is a hummed or sung recording (`transcribe_voice`).
    Returns:
        `LoadedMelody`: notes, tokens, `source_kind`, `edits`.
    Raises:
        `MelodyError` / `AudioError` with the upload's name instead of its server-side path; `SpaceError` for an
        upload that is too big.
    """
    from ..melody.load import classify_melody, load_melody

    edits = {k: v for k, v in (edits or {}).items() if v is not None}
    if typed:
        return load_melody(melody, name, allow_paths=False, **edits)
    if isinstance(melody, (str, os.PathLike)) and classify_melody(melody, name=name)[1] is not None:
        path = check_upload(os.fspath(melody), "a melody")
        with named_after_upload(path):
            return load_melody(path, os.path.basename(path), voice=voice, max_audio_seconds=max_input_seconds, **edits)
    return load_melody(melody, name, voice=voice, max_audio_seconds=max_input_seconds, **edits)


def preview_melody(
    melody,
    *,
    typed: bool = False,
    voice: bool = False,
    edits: dict | None = None,
    output_dir: str | None = None,
    max_input_seconds: float = MAX_INPUT_SECONDS,
) -> MelodyView:
    """The user's melody as it will guide the generation (after the edits): piano roll, tokens, preview, MIDI.

    `info` holds `source` ("user"), `kind` (how it was read) and `edits` (what was applied), so the user can accept
    it before generating.
    """
    if melody is None or (isinstance(melody, str) and not melody.strip()):
        raise SpaceError("Type a melody (ABC, a note list or tokens), record one or upload a file first.")
    loaded = load_user_melody(melody, typed=typed, voice=voice, edits=edits, max_input_seconds=max_input_seconds)
    out = output_dir or new_output_dir()
    os.makedirs(out, exist_ok=True)
    how = edits_text(loaded.edits)
    title = f"Your melody ({loaded.source_kind}, {len(loaded.notes)} notes{'; ' + how if how else ''})"
    info = {"source": "user", "kind": loaded.source_kind, "edits": loaded.edits}
    return melody_view(loaded.notes, loaded.tokens, title, out, "your_melody", info)


def _run(
    store: PipelineStore,
    call_kwargs: dict,
    settings: GenerationSettings,
    record: dict,
    progress: ProgressFn | None,
    query_melody: MelodyView | None,
    started: float,
    out: str,
    head: np.ndarray | None = None,
) -> GenerationResult:
    """Run the pipeline with `call_kwargs` and the checked `settings`, and write the audio, the guiding melody's
    files and, with `settings.adherence` and guiding notes, the clip's transcription over them
    (`melody_adherence_view`). `record` is what the result reports as its settings.

    A continuation (`record["mode"] == "continuation"`) compares only its new part with the melody; `head` is the
    part of the continued clip before the context the pipeline held, joined in front of the output
    (`join_head`)."""
    was_loaded = store.loaded
    pipe = store.pipeline_for_call(settings.scheduler)  # the first call imports torch and the pipeline, timed as load
    import torch
    load_s = 0.0 if was_loaded else (store.load_seconds or 0.0)
    melody_guidance = settings.melody_guidance_scale
    if melody_guidance is not None and (not pipe.uses_melody or abs(melody_guidance - 1.0) < 1e-6):
        melody_guidance = None  # 1.0 is the plain guidance; a text-only model has no melody to weigh

    def on_step(p, i, _t, _kwargs):
        if progress is not None:
            progress(*denoising_progress(i, p.num_timesteps, len(p.scheduler.timesteps)))
        return {}

    if progress is not None:
        progress(0.0, "Encoding the query and retrieving a melody")
    t0 = time.perf_counter()
    output = pipe(
        **call_kwargs,
        negative_prompt=settings.negative_prompt,
        audio_length_in_s=settings.seconds,
        num_inference_steps=settings.steps,
        guidance_scale=settings.guidance_scale,
        melody_guidance_scale=melody_guidance,
        num_candidates=settings.num_candidates,
        generator=torch.Generator().manual_seed(settings.seed),
        callback_on_step_end=on_step,
        window_length_in_s=settings.window_s,
        window_overlap_in_s=settings.overlap_s,
        melody_extension=settings.melody_extension,
    )
    generate_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    waveform = np.asarray(output.audios[0], dtype=np.float32)
    info = output.melodies[0]
    if head is not None:  # the melody's times move with the audio
        continued, waveform = waveform, join_head(head, waveform)
        if info is not None and info.get("notes"):
            info = {**info, "notes": shift_notes(info["notes"], (len(waveform) - len(continued)) / SAMPLE_RATE)}
    audio_path = os.path.join(out, "music.wav")
    save_audio(audio_path, waveform, SAMPLE_RATE)
    if info is not None and info.get("source") == "user" and record.get("melody_edits") is not None:
        info = {**info, "kind": record["melody_kind"], "edits": record["melody_edits"]}
    melody = guiding_melody_view(info, out, files=settings.melody_files)
    score = None if output.scores is None else float(output.scores[0])
    timings = {
        "model_load_s": round(load_s, 3),
        "generate_s": round(generate_s, 3),
        "postprocess_s": round(time.perf_counter() - t1, 3),
        "total_s": round(time.perf_counter() - started, 3),
    }
    result = GenerationResult(audio_path, waveform, melody, query_melody, settings.seed, score, timings, record)
    return check_adherence(result, progress) if settings.adherence else result


def check_adherence(result: GenerationResult, progress: ProgressFn | None = None) -> GenerationResult:
    """`result` with its `adherence`: the clip's own Basic Pitch transcription over the notes that guided it
    (`melody_adherence_view`, files beside the audio), and `timings["adherence_s"]` (also added to `total_s`).

    A generation run with `GenerationSettings(adherence=False)` returns its audio without this check (about a second
    of Basic Pitch per 10 s); the Space shows that audio first and calls this afterwards. A result with no guiding
    notes (a text-only model, an empty melody) is returned as it is. A continuation compares its new part only: the
    clip it continues never followed the melody."""
    melody = result.melody
    if melody is None or not melody.notes:
        return result
    if progress is not None:
        progress(1.0, "Transcribing the music to compare it with its melody")
    t0 = time.perf_counter()
    waveform = result.waveform
    start_s = 0.0
    if result.settings.get("mode") == "continuation":
        start_s = max(len(waveform) / SAMPLE_RATE - result.settings["seconds"], 0.0)
    new_part = waveform[int(round(start_s * SAMPLE_RATE)) :]
    guide = shift_notes([n for n in melody.notes if n.onset >= start_s], -start_s)
    followed = melody_adherence_view(new_part, SAMPLE_RATE, guide, os.path.dirname(result.audio_path), "music")
    seconds = time.perf_counter() - t0
    timings = {**result.timings, "adherence_s": round(seconds, 3),
               "total_s": round(result.timings["total_s"] + seconds, 3)}  # fmt: skip
    return dataclasses.replace(result, adherence=followed, timings=timings)


# ------------------------------------------------------------------------------------------- public API
def generate_from_text(
    store: PipelineStore,
    prompt: str | None,
    settings: GenerationSettings | None = None,
    *,
    melody: UserMelody | str | list[Note] | None = None,
    progress: ProgressFn | None = None,
    output_dir: str | None = None,
) -> GenerationResult:
    """Text-to-music: the prompt's aligner embedding retrieves a melody (or `melody` is followed instead).

    Args:
        prompt: what the music should sound like; may be empty only when a `melody` is given.
        settings (`GenerationSettings`, *optional*): length, steps, guidance, seed, ... (default: the defaults).
        melody (`UserMelody`, or what it holds, *optional*): a melody to follow; bypasses retrieval.
        progress: called as `progress(fraction, message)` after each denoising step (`denoising_progress`).
        output_dir: folder for the files (default: a fresh folder under the temp folder).
    """
    started = time.perf_counter()
    prompt = (prompt or "").strip()
    user = UserMelody.of(melody)
    if not prompt and not user.given:
        raise SpaceError("Please describe the music to generate (the prompt is empty).")
    settings = (settings or GenerationSettings()).checked()
    loaded = _load(user)
    record = {"mode": "text-to-music", "prompt": prompt, **settings.record(), "user_melody": user.given,
              **_melody_record(loaded)}  # fmt: skip
    out = _output_folder(output_dir)
    kwargs = {"prompt": prompt or None, "melody": None if loaded is None else loaded.notes}
    return _run(store, kwargs, settings, record, progress, None, started, out)


def _load(user: UserMelody):
    """The user's melody read and shaped (`load_user_melody`), or None when none was given."""
    if not user.given:
        return None
    return load_user_melody(user.melody, typed=user.typed, voice=user.voice, edits=user.edits)


def _melody_record(loaded) -> dict:
    """The user melody's kind and edits, for the result's settings."""
    return {} if loaded is None else {"melody_kind": loaded.source_kind, "melody_edits": loaded.edits}


def _output_folder(output_dir: str | None) -> str:
    out = output_dir or new_output_dir()
    os.makedirs(out, exist_ok=True)
    return out


def generate_from_audio(
    store: PipelineStore,
    audio_path: str,
    settings: GenerationSettings | None = None,
    *,
    steer_text: str | None = None,
    steer_weight: float = 0.3,
    follow_melody: bool = False,
    melody: UserMelody | str | list[Note] | None = None,
    progress: ProgressFn | None = None,
    output_dir: str | None = None,
    max_input_seconds: float = MAX_INPUT_SECONDS,
    max_upload_mb: float | None = MAX_UPLOAD_MB,
) -> GenerationResult:
    """Music-to-music: the uploaded audio's aligner embedding is the query.

    Args:
        steer_text: optional text; the query becomes the normalised mix `(1 - w) * audio + w * text` of the two
            joint-space embeddings, `w = steer_weight`.
        follow_melody: follow the melody Basic Pitch finds in the upload instead of retrieving one.
        melody (`UserMelody`, or what it holds, *optional*): follow this melody instead; overrides `follow_melody`.
            Its `edits` also shape the followed melody of the upload.
        max_upload_mb: the Space's size rule for the upload (None: none; the CLI bounds its duration only).
        settings, progress, output_dir: as in `generate_from_text`.
    """
    from ..melody.tokenizer import notes_to_string
    from ..melody.transcribe import extract_notes

    started = time.perf_counter()
    path = check_upload(audio_path, "a reference recording", max_mb=max_upload_mb)
    settings = (settings or GenerationSettings()).checked()
    if not 0.0 <= float(steer_weight) <= 1.0:
        raise SpaceError(f"The text steering weight must be between 0 and 1, got {steer_weight}.")
    with named_after_upload(path):
        waveform = load_audio(path, SAMPLE_RATE, max_duration_s=max_input_seconds, allow_silent=False,
                              min_duration_s=limits.MIN_INPUT_SECONDS, max_peak=limits.MAX_INPUT_PEAK)  # fmt: skip
    steer_text = (steer_text or "").strip() or None
    out = _output_folder(output_dir)

    if progress is not None:
        progress(0.0, "Transcribing the melody of the upload")
    notes = extract_notes(waveform, SAMPLE_RATE, name=os.path.basename(path))
    title = "Melody in your audio (Basic Pitch)" + ("" if notes else ": no notes found")
    query_melody = melody_view(notes, notes_to_string(notes) if notes else None, title, out, "query_melody")
    user = UserMelody.of(melody)
    if follow_melody and not user.given and not notes:
        raise SpaceError("No melody was found in the uploaded audio; untick 'follow its melody' to retrieve one.")

    loaded = _load(user)
    if loaded is None and follow_melody:
        loaded = load_user_melody(notes, edits=user.edits, name="the melody of your audio")
    pipe = store.get()
    kwargs: dict = {"melody": None if loaded is None else loaded.notes}
    if steer_text is None:
        kwargs["audio"] = waveform
    else:
        import torch

        audio_q = pipe.aligner.embed_audio([waveform]).float()
        text_q = pipe.aligner.embed_text([steer_text]).float()
        w = float(steer_weight)
        kwargs["prompt_embeds"] = torch.nn.functional.normalize((1 - w) * audio_q + w * text_q, dim=-1)
    record = {
        "mode": "music-to-music", "reference": os.path.basename(path), "steer_text": steer_text,
        "steer_weight": float(steer_weight), "follow_melody": bool(follow_melody), "user_melody": user.given,
        **settings.record(), **_melody_record(loaded),
    }  # fmt: skip
    return _run(store, kwargs, settings, record, progress, query_melody, started, out)


def inspect(
    path: str,
    *,
    reduction: str = "none",
    output_dir: str | None = None,
    max_input_seconds: float = MAX_INPUT_SECONDS,
) -> InspectionResult:
    """Melody inspection of an audio or MIDI file: piano roll, official tokens, statistics, preview and MIDI."""
    from ..melody.inspection import inspect_melody

    started = time.perf_counter()
    path = check_upload(path, "an audio or MIDI file")
    if reduction not in ("none", "skyline"):
        raise SpaceError(f"Unknown reduction '{reduction}'; choose 'none' or 'skyline'.")
    try:
        with named_after_upload(path):
            inspection = inspect_melody(path, reduction=reduction, max_duration_s=max_input_seconds)
    except (AudioError, MelodyError):
        raise
    except Exception as err:  # e.g. a file that is neither audio nor MIDI
        raise SpaceError(f"Could not read '{os.path.basename(path)}' as audio or MIDI ({err}).") from err
    out = output_dir or new_output_dir()
    os.makedirs(out, exist_ok=True)
    how = "Basic Pitch transcription" if inspection.source_kind == "audio" else "MIDI notes"
    title = f"{inspection.name}: {how} ({len(inspection.notes)} notes)"
    view = melody_view(inspection.notes, inspection.tokens, title, out, "melody")
    return InspectionResult(view, inspection.statistics, inspection.source_kind, time.perf_counter() - started)
