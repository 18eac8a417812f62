"""The MMGen Space: text-to-music, music-to-music, continuing a clip and melody inspection in one Gradio app.

    python app.py [--model checkpoints/mmgen-default] [--host 127.0.0.1] [--port 7860] [--share]

UI only, one builder per tab: everything the buttons do lives in `mmgen.app.logic` (continuing a clip in
`mmgen.app.continuation`), the settings' defaults and bounds in `mmgen.app.defaults`. The pipeline is loaded lazily,
once, on the first generation (as in audiocraft's
demos/musicgen_app.py). Runs offline: analytics are off and no font, script or telemetry is fetched from the internet.
Without a model folder the two generation tabs show a notice and melody inspection still works.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import inspect
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gradio as gr  # noqa: E402

from mmgen import limits  # noqa: E402
from mmgen.app import continuation, defaults, logic  # noqa: E402
from mmgen.app.settings import GenerationSettings, UserMelody  # noqa: E402

logger = logging.getLogger("mmgen.app")
ROOT = os.path.dirname(os.path.abspath(__file__))
EXAMPLES_DIR = os.path.join(ROOT, "examples")
TITLE = "MMGen: melody-guided music generation"
EXAMPLE_PROMPTS = [
    ["A calm folk melody played on a solo flute, gentle and airy"],
    ["An Irish jig on fiddle and tin whistle, lively and bouncy"],
    ["A slow baroque chorale for string quartet, solemn and warm"],
    ["Upbeat jazz piano trio with walking bass and brushed drums"],
    ["Dreamy ambient synth pads under a soft piano melody"],
]
AUDIO_TYPES = [".wav", ".flac", ".mp3", ".ogg"]
MIDI_TYPES = [".mid", ".midi"]
MELODY_PLACEHOLDER = "X:1\nK:G\nGABc d2 e2|f2 g2 a4|]   or   bpm=100 C4 D4 E4/2 F4/2 G4*2"
SCHEDULER_CHOICES = [
    ("Saved with the model", "default"),
    ("UniPC (few steps)", "unipc"),
    ("DPM-Solver++", "dpm-solver++"),
    ("DDIM (about 50 steps)", "ddim"),
    ("Euler", "euler"),
]
CSS = """
.gradio-container {max-width: 1280px !important; margin: auto;}
#mmgen-header h1 {margin-bottom: 0.2em;}
.mmgen-notice {border-left: 4px solid #f59e0b; padding: 0.4em 0.9em; background: #fffbeb; border-radius: 6px;}
.mmgen-notice * {color: #78350f !important;}
.mmgen-timing {font-size: 0.95em; opacity: 0.85;}
.mmgen-roll {border: 1px solid var(--border-color-primary) !important; box-shadow: none !important;}
/* a long melody's piano roll keeps its width (40 px a second) and scrolls sideways */
.mmgen-wide .image-container {overflow-x: auto; overflow-y: hidden;}
.mmgen-wide .image-container button, .mmgen-wide .image-frame {display: block !important;
  width: max-content !important; height: auto !important;}
.mmgen-wide .image-frame img {width: auto !important; height: 340px !important; max-width: none !important;}
.mmgen-wide .image-container:fullscreen {overflow-x: auto;}
"""
HEADER = f"""# {TITLE}
Describe music in words, or upload a recording: MMGen finds a melody that fits (retrieval in its melody database) and
generates audio that follows it with a latent diffusion model; the result shows the clip's own transcription over that
melody, with its note-F1 and chroma scores. Pieces run up to 5 minutes, made 20 s window by window; **continue this
clip** carries on from the last clip (or a recording of yours). Or bring your own melody: inspect an audio or MIDI
file, then **generate from this melody**. Everything runs on this machine.
"""


def theme() -> gr.themes.Base:
    """A Soft-like theme with system fonts only (nothing is fetched from a font CDN)."""
    fonts = [gr.themes.Font("ui-sans-serif"), gr.themes.Font("system-ui"), "sans-serif"]
    mono = [gr.themes.Font("ui-monospace"), "Consolas", "monospace"]
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="sky", font=fonts, font_mono=mono)


def readable_errors(fn):
    """Run a handler; every exception reaches the browser as a `gr.Error` with a readable message."""

    @contextlib.contextmanager
    def readable():
        try:
            yield
        except gr.Error:
            raise
        except (ValueError, FileNotFoundError) as err:  # SpaceError, AudioError, MelodyError are ValueErrors
            raise gr.Error(str(err), print_exception=False) from err
        except Exception as err:
            logger.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(err).__name__}: {err}). Please try other settings.") from err

    if inspect.isgeneratorfunction(fn):  # a handler that shows its outputs in steps

        @functools.wraps(fn)
        def steps(*args, **kwargs):
            with readable():
                yield from fn(*args, **kwargs)

        return steps

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with readable():
            return fn(*args, **kwargs)

    return wrapper


def _progress_fn(progress: gr.Progress):
    return lambda fraction, message: progress(fraction, desc=message)


def _melody_outputs(view):
    """The five components of a melody view: info, piano roll, tokens, preview, MIDI."""
    if view is None:
        return "This model is text-only: no melody guided the generation.", None, "", None, None
    return view.markdown(), view.png_path, view.tokens or "", view.preview_path, view.midi_path


def _adherence_outputs(result, pending: bool = False):
    """The adherence components: the generated clip's transcription over its guiding melody, the scores, and the
    transcription itself as MIDI and tokens ("take it out"). `pending`: the check is still running."""
    if result.adherence is not None:
        a = result.adherence
        return a.png_path, a.markdown(), a.midi_path, a.tokens
    if pending and result.melody is not None and result.melody.notes:
        return None, "Transcribing the music to compare it with its melody…", None, ""
    if result.melody is None:
        return None, "No melody guided the generation: there is nothing to compare it with.", None, ""
    return None, "The guiding melody has no notes: there is nothing to compare the music with.", None, ""


def audio_first(result, outputs, progress: gr.Progress):
    """A generation handler's outputs in two steps: first with the audio (and the adherence check pending), then with
    the clip's transcription over its melody (`logic.check_adherence`, about a second of Basic Pitch per 10 s), so
    that the listener never waits for the check. `outputs(result, pending)` builds the handler's output tuple; an API
    client (`gradio_client`'s `predict`) receives the last step, adherence included."""
    yield outputs(result, True)
    yield outputs(logic.check_adherence(result, _progress_fn(progress)), False)


def _generation_outputs(result, pending: bool = False):
    """The outputs of the text-to-music and continuation handlers: audio, timing, melody panel, adherence."""
    return (result.audio_path, result.summary(), *_melody_outputs(result.melody), *_adherence_outputs(result, pending))


def _melody_edits(transpose, tempo, trim_start, trim_end, fold) -> dict:
    """The shaping controls as `load_user_melody` edits (trim only when an end or a non-zero start is set)."""
    from mmgen.melody.shaping import TRAINED_RANGE

    start, end = float(trim_start or 0.0), (float(trim_end) if trim_end else None)
    return {
        "trim_s": (start, end) if start > 0 or end is not None else None,
        "tempo": float(tempo) if tempo and abs(float(tempo) - 1.0) > 1e-9 else None,
        "transpose_semitones": int(transpose or 0),
        "fold": TRAINED_RANGE if fold else None,
    }


def _user_melody(typed, recording):
    """(melody, typed, voice): typed text wins over a recording; neither gives (None, False, False)."""
    if (typed or "").strip():
        return typed, True, False
    if recording:
        return recording, False, True
    return None, False, False


def _generation_controls(prefix: str, seconds_label: str = "Duration (s)") -> dict:
    """Duration, steps and the advanced settings shared by the generation tabs."""
    c = {}
    with gr.Row():
        c["seconds"] = gr.Slider(
            defaults.MIN_SECONDS,
            defaults.MAX_SECONDS,
            value=defaults.DEFAULT_SECONDS,
            step=0.5,
            label=seconds_label,
            info=f"Up to {defaults.MAX_SECONDS / 60:g} minutes; past {defaults.DEFAULT_WINDOW_S:g} s the music is "
            "made window by window (minutes on a CPU).",
            elem_id=f"{prefix}-seconds",
        )
        c["steps"] = gr.Slider(
            1, defaults.MAX_STEPS, value=defaults.DEFAULT_STEPS, step=1, label="Denoising steps",
            info="More steps: slower, usually cleaner.", elem_id=f"{prefix}-steps",
        )  # fmt: skip
    with gr.Accordion("Advanced settings", open=False):
        c["negative"] = gr.Textbox(
            label="Negative prompt", placeholder="e.g. noisy, distorted, low quality", elem_id=f"{prefix}-negative"
        )
        with gr.Row():
            c["guidance"] = gr.Slider(
                0, 10, value=defaults.DEFAULT_GUIDANCE, step=0.1, label="Guidance scale (w)",
                info="How strongly to follow the prompt; 0 turns guidance off.",
            )  # fmt: skip
            c["melody_guidance"] = gr.Slider(
                0, 4, value=1.0, step=0.1, label="Melody guidance (β)",
                info="Weight of the melody against the query; 1 is plain guidance, 2 follows the melody closer "
                "at some cost to the prompt and the sound (one more pass per step).",
            )  # fmt: skip
        with gr.Row():
            c["candidates"] = gr.Slider(
                1, defaults.MAX_CANDIDATES, value=1, step=1, label="Candidates",
                info="Generate several, keep the one the aligner scores best.",
            )  # fmt: skip
            c["seed"] = gr.Number(value=0, precision=0, label="Seed", info="-1 for a random seed.")
            c["scheduler"] = gr.Dropdown(SCHEDULER_CHOICES, value="default", label="Scheduler")
    return c


def piano_roll_image(label: str, elem_id: str, wide: bool = False) -> gr.Image:
    """A piano-roll PNG output (the figure carries its own title, so the label is only for screen readers); `wide`:
    shown at its own width, scrolling sideways (a long piece's melody, `views.save_wide`)."""
    return gr.Image(
        label=label, type="filepath", interactive=False, elem_id=elem_id,
        elem_classes=["mmgen-roll", "mmgen-wide"] if wide else "mmgen-roll", buttons=["download", "fullscreen"],
        show_label=False,
    )  # fmt: skip


def _melody_panel(title: str, prefix: str) -> dict:
    """Display components of one melody: info, piano roll, the generated clip's transcription over it with the
    adherence scores, tokens, preview, MIDI download."""
    p = {}
    with gr.Column(variant="panel"):
        p["info"] = gr.Markdown(f"**{title}** will appear here.", elem_id=f"{prefix}-info", padding=True)
        p["png"] = piano_roll_image(f"{title}: piano roll", f"{prefix}-pianoroll", wide=True)
        p["adherence_png"] = piano_roll_image(
            "The generated clip's transcription over its guiding melody", f"{prefix}-adherence", wide=True
        )
        p["adherence_info"] = gr.Markdown(
            "**Did the music follow its melody?** The scores will appear here.", elem_id=f"{prefix}-adherence-info",
            padding=True,
        )  # fmt: skip
        with gr.Row():
            p["preview"] = gr.Audio(label="Melody preview", type="filepath", interactive=False)
            p["midi"] = gr.File(label="MIDI download", interactive=False, height=110, elem_id=f"{prefix}-midi")
        p["tokens"] = gr.Textbox(
            label="Melody tokens (official MMGen format)", lines=2, max_lines=4, interactive=False,
            buttons=["copy"],
        )  # fmt: skip
        with gr.Row():  # "take it out": the generated clip's own melody, for a DAW
            p["clip_midi"] = gr.File(
                label="The generated clip's melody (MIDI)", interactive=False, height=110,
                elem_id=f"{prefix}-clip-midi",
            )  # fmt: skip
            p["clip_tokens"] = gr.Textbox(
                label="The generated clip's melody tokens", lines=2, max_lines=4, interactive=False,
                buttons=["copy"], elem_id=f"{prefix}-clip-tokens",
            )  # fmt: skip
    return p


def _melody_components(panel: dict) -> list:
    """A melody panel's outputs: the melody's components, then (last, so that the earlier API outputs keep their
    places) the adherence overlay and scores and the generated clip's own melody."""
    return [panel["info"], panel["png"], panel["tokens"], panel["preview"], panel["midi"],
            panel["adherence_png"], panel["adherence_info"], panel["clip_midi"], panel["clip_tokens"]]  # fmt: skip


def _control_inputs(c: dict) -> list:
    """The generation controls in the handlers' argument order (`GenerationSettings.from_controls`'s)."""
    return [c["negative"], c["seconds"], c["steps"], c["guidance"], c["melody_guidance"], c["candidates"], c["seed"],
            c["scheduler"]]  # fmt: skip


@dataclass
class Space:
    """What the tabs share: the lazily loaded pipeline, where each call writes its files, how many generations run
    at once."""

    model: str
    store: logic.PipelineStore
    output_root: str
    concurrency_limit: int = 1

    @property
    def available(self) -> bool:
        return self.store.available

    @property
    def notice(self) -> str:
        """The generation tabs' notice when there is no model ("" when there is one)."""
        return "" if self.available else f"**Generation is unavailable.** {logic.model_missing_message(self.model)}"

    def output_dir(self) -> str:
        """A fresh folder for one call's files."""
        return logic.new_output_dir(self.output_root)

    def generation_event(self) -> dict:
        """Keyword arguments of a generation event: they share one queue slot count."""
        return {"concurrency_limit": self.concurrency_limit, "concurrency_id": "generation"}


def text_to_music_tab(space: Space) -> dict:
    """The 'Text to music' tab: a prompt, the user's own melody (typed, hummed or uploaded, shaped and shown before
    generating) and the result. Returns the components other tabs fill: `melody_tokens`, `melody_accordion`."""

    @readable_errors
    def text_to_music(prompt, negative, melody_text, seconds, steps, guidance, melody_guidance, candidates, seed,
                      scheduler, recording=None, transpose=0, tempo=1.0, trim_start=0.0, trim_end=None, fold=False,
                      progress=gr.Progress()):  # fmt: skip
        melody, typed, voice = _user_melody(melody_text, recording)
        settings = GenerationSettings.from_controls(negative, seconds, steps, guidance, melody_guidance, candidates,
                                                    seed, scheduler, adherence=False)  # fmt: skip
        result = logic.generate_from_text(
            space.store, prompt, settings,
            melody=UserMelody(melody, typed, voice, _melody_edits(transpose, tempo, trim_start, trim_end, fold)),
            progress=_progress_fn(progress), output_dir=space.output_dir(),
        )  # fmt: skip
        yield from audio_first(result, _generation_outputs, progress)

    @readable_errors
    def preview_user_melody(melody_text, recording, transpose, tempo, trim_start, trim_end, fold):
        melody, typed, voice = _user_melody(melody_text, recording)
        view = logic.preview_melody(
            melody, typed=typed, voice=voice, edits=_melody_edits(transpose, tempo, trim_start, trim_end, fold),
            output_dir=space.output_dir(),
        )  # fmt: skip
        return view.png_path, view.markdown(), view.tokens, view.midi_path

    with gr.Tab("Text to music", id="text"):
        gr.Markdown(space.notice, elem_classes="mmgen-notice", visible=not space.available)
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                prompt = gr.Textbox(
                    label="Prompt", lines=2, elem_id="t2m-prompt",
                    placeholder="Describe the music: instruments, mood, tempo, style…",
                )  # fmt: skip
                with gr.Accordion("Your melody (optional)", open=False) as melody_accordion:
                    melody_tokens = gr.Textbox(
                        label="Type a melody: ABC, a note list or tokens", lines=3, max_lines=8,
                        elem_id="t2m-melody", placeholder=MELODY_PLACEHOLDER,
                        info="ABC (X:1, K:G, then the notes), a note list ('bpm=100 C4 D4 E4/2 G4*2') or "
                        "official tokens (filled by 'Generate from this melody'). Leave empty, with no "
                        "recording, to retrieve a melody that fits the prompt.",
                    )  # fmt: skip
                    recording = gr.Audio(
                        label="…or hum / sing it (up to 60 s; used when nothing is typed)",
                        sources=["microphone", "upload"], type="filepath", elem_id="t2m-recording",
                    )  # fmt: skip
                    with gr.Row():
                        transpose = gr.Slider(-24, 24, value=0, step=1, label="Transpose (semitones)",
                                              elem_id="t2m-transpose")  # fmt: skip
                        tempo = gr.Slider(0.25, 4, value=1.0, step=0.05, label="Tempo (x)", elem_id="t2m-tempo")
                    with gr.Row():
                        trim_start = gr.Number(value=0, minimum=0, label="Trim from (s)")
                        trim_end = gr.Number(value=None, minimum=0, label="Trim to (s, empty: the end)")
                        fold = gr.Checkbox(
                            label="Fold into the model's range", value=False,
                            info="Moves notes by octaves into the pitches the model was trained on.",
                        )  # fmt: skip
                    preview_button = gr.Button("Show my melody", elem_id="t2m-melody-preview")
                    preview_png = piano_roll_image("Your melody after the edits", "t2m-melody-roll")
                    preview_info = gr.Markdown(elem_id="t2m-melody-preview-info")
                    with gr.Row():
                        preview_tokens = gr.Textbox(label="Its tokens", lines=2, max_lines=4, interactive=False,
                                                    buttons=["copy"])  # fmt: skip
                        preview_midi = gr.File(label="Its MIDI", interactive=False, height=110,
                                               elem_id="t2m-melody-midi")  # fmt: skip
                controls = _generation_controls("t2m")
                button = gr.Button(
                    "Generate music", variant="primary", interactive=space.available, elem_id="t2m-generate"
                )
                gr.Examples(EXAMPLE_PROMPTS, inputs=[prompt], label="Example prompts")
            with gr.Column(scale=6):
                audio = gr.Audio(label="Generated music", type="filepath", interactive=False, elem_id="t2m-audio")
                timing = gr.Markdown(elem_classes="mmgen-timing")
                continue_button = gr.Button("Continue this clip", size="sm", elem_id="t2m-continue")
                panel = _melody_panel("Melody that guided it", "t2m-melody-view")

    shaping = [transpose, tempo, trim_start, trim_end, fold]
    inputs = [prompt, controls["negative"], melody_tokens, *_control_inputs(controls)[1:], recording, *shaping]
    outputs = [audio, timing, *_melody_components(panel)]
    preview_button.click(
        preview_user_melody,
        inputs=[melody_tokens, recording, *shaping],
        outputs=[preview_png, preview_info, preview_tokens, preview_midi],
        api_name="preview_melody",
        concurrency_limit=2,
    )
    button.click(text_to_music, inputs=inputs, outputs=outputs, api_name="text_to_music", show_progress_on=[audio],
                 **space.generation_event())  # fmt: skip
    prompt.submit(text_to_music, inputs=inputs, outputs=outputs, api_visibility="private", show_progress_on=[audio],
                  **space.generation_event())  # fmt: skip
    return {"melody_tokens": melody_tokens, "melody_accordion": melody_accordion, "audio": audio,
            "continue": continue_button}  # fmt: skip


def music_to_music_tab(space: Space) -> dict:
    """The 'Music to music' tab: a reference recording, optionally steered by text, and the result beside the
    melody found in the recording and the one that guided the generation. Returns its `audio` output and its
    `continue` button."""

    @readable_errors
    def music_to_music(audio, steer, steer_weight, follow, negative, seconds, steps, guidance, melody_guidance,
                       candidates, seed, scheduler, progress=gr.Progress()):  # fmt: skip
        settings = GenerationSettings.from_controls(negative, seconds, steps, guidance, melody_guidance, candidates,
                                                    seed, scheduler, adherence=False)  # fmt: skip
        result = logic.generate_from_audio(
            space.store, audio, settings, steer_text=steer, steer_weight=steer_weight, follow_melody=follow,
            progress=_progress_fn(progress), output_dir=space.output_dir(),
        )  # fmt: skip

        def outputs(result, pending):
            query = result.query_melody
            return (result.audio_path, result.summary(), query.markdown(), query.png_path, query.tokens or "",
                    *_melody_outputs(result.melody), *_adherence_outputs(result, pending))  # fmt: skip

        yield from audio_first(result, outputs, progress)

    with gr.Tab("Music to music", id="audio"):
        gr.Markdown(space.notice, elem_classes="mmgen-notice", visible=not space.available)
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                reference = gr.Audio(
                    label=f"Reference recording (up to {defaults.MAX_INPUT_SECONDS:.0f} s)",
                    sources=["upload", "microphone"], type="filepath", elem_id="m2m-reference",
                )  # fmt: skip
                steer = gr.Textbox(
                    label="Steer with text (optional)", placeholder="e.g. played on a harp, slower",
                    elem_id="m2m-steer",
                )  # fmt: skip
                with gr.Row():
                    steer_weight = gr.Slider(
                        0, 1, value=0.3, step=0.05, label="Text weight",
                        info="0: the recording alone; 1: the text alone.",
                    )  # fmt: skip
                    follow = gr.Checkbox(
                        label="Follow its melody", value=False,
                        info="Use the recording's own melody instead of retrieving one.",
                    )  # fmt: skip
                controls = _generation_controls("m2m")
                button = gr.Button(
                    "Generate music", variant="primary", interactive=space.available, elem_id="m2m-generate"
                )
                gr.Examples(
                    [[os.path.join(EXAMPLES_DIR, "example_melody.flac"), "played on a piano"]],
                    inputs=[reference, steer], label="Example recording (a folk tune on a flute)",
                )  # fmt: skip
            with gr.Column(scale=6):
                audio = gr.Audio(label="Generated music", type="filepath", interactive=False, elem_id="m2m-audio")
                timing = gr.Markdown(elem_classes="mmgen-timing")
                continue_button = gr.Button("Continue this clip", size="sm", elem_id="m2m-continue")
                with gr.Row(equal_height=False):
                    with gr.Column():
                        with gr.Column(variant="panel"):
                            query_info = gr.Markdown("**Melody in your audio** will appear here.", padding=True)
                            query_png = piano_roll_image("Melody in your audio", "m2m-query-pianoroll")
                            query_tokens = gr.Textbox(
                                label="Its tokens", lines=2, max_lines=4, interactive=False, buttons=["copy"]
                            )
                    with gr.Column():
                        panel = _melody_panel("Retrieved melody", "m2m-melody-view")

    button.click(
        music_to_music,
        inputs=[reference, steer, steer_weight, follow, *_control_inputs(controls)],
        outputs=[audio, timing, query_info, query_png, query_tokens, *_melody_components(panel)],
        api_name="music_to_music",
        show_progress_on=[audio],
        **space.generation_event(),
    )
    return {"audio": audio, "continue": continue_button}


def continuation_tab(space: Space) -> dict:
    """The 'Continue a clip' tab: a clip (the last generated one, brought here by 'Continue this clip', or an upload
    or recording) continued for N more seconds, optionally under a typed melody; the result can be continued again.
    Returns its `clip` input, `audio` output and `continue` button."""

    @readable_errors
    def continue_a_clip(clip, prompt, melody_text, negative, seconds, steps, guidance, melody_guidance, candidates,
                        seed, scheduler, progress=gr.Progress()):  # fmt: skip
        settings = GenerationSettings.from_controls(negative, seconds, steps, guidance, melody_guidance, candidates,
                                                    seed, scheduler, adherence=False)  # fmt: skip
        result = continuation.continue_clip(
            space.store, clip, settings, prompt=prompt, melody=UserMelody(melody_text, typed=True),
            progress=_progress_fn(progress), output_dir=space.output_dir(),
        )  # fmt: skip
        yield from audio_first(result, _generation_outputs, progress)

    context_s = continuation.limits.MAX_PROMPT_SECONDS
    with gr.Tab("Continue a clip", id="continue"):
        gr.Markdown(space.notice, elem_classes="mmgen-notice", visible=not space.available)
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                clip = gr.Audio(
                    label=f"Clip to continue ({continuation.limits.MIN_PROMPT_SECONDS:g}-"
                    f"{defaults.SPACE.max_clip_seconds:g} s; its last {context_s:g} s lead into the new part)",
                    sources=["upload", "microphone"], type="filepath", elem_id="cont-clip",
                )  # fmt: skip
                gr.Markdown("'Continue this clip' under a generated clip brings it here.", elem_classes="mmgen-timing")
                prompt = gr.Textbox(
                    label="What comes next (optional)", placeholder="e.g. the fiddle takes the tune, brighter",
                    info="Empty: the clip itself is the query.", elem_id="cont-prompt",
                )  # fmt: skip
                melody = gr.Textbox(
                    label="Melody of the new part (optional): ABC, a note list or tokens", lines=2, max_lines=6,
                    placeholder=MELODY_PLACEHOLDER, elem_id="cont-melody",
                    info="It starts where the clip ends. Empty: a melody is retrieved.",
                )  # fmt: skip
                controls = _generation_controls("cont", seconds_label="More seconds")
                button = gr.Button("Continue", variant="primary", interactive=space.available, elem_id="cont-generate")
            with gr.Column(scale=6):
                audio = gr.Audio(
                    label="The clip and its continuation", type="filepath", interactive=False, elem_id="cont-audio"
                )
                timing = gr.Markdown(elem_classes="mmgen-timing")
                continue_button = gr.Button("Continue this clip", size="sm", elem_id="cont-continue")
                panel = _melody_panel("Melody of the new part", "cont-melody-view")

    button.click(
        continue_a_clip,
        inputs=[clip, prompt, melody, *_control_inputs(controls)],
        outputs=[audio, timing, *_melody_components(panel)],
        api_name="continue_clip",
        show_progress_on=[audio],
        **space.generation_event(),
    )
    return {"clip": clip, "audio": audio, "continue": continue_button}


@readable_errors
def continue_this_clip(path):
    """'Continue this clip': the generated clip becomes the clip to continue, in the 'Continue a clip' tab."""
    if not path:
        raise logic.SpaceError("Generate a clip first, then continue it.")
    return path, gr.Tabs(selected="continue")


def melody_inspection_tab(space: Space, text_tab: dict, tabs: gr.Tabs) -> None:
    """The 'Melody inspection' tab: an audio or MIDI file as notes, tokens, a preview and MIDI; 'Generate from this
    melody' carries the tokens into the text-to-music tab (`text_tab`, as `text_to_music_tab` returns it) and selects
    it in `tabs`. Works without a model."""

    @readable_errors
    def inspect_melody(path, reduction):
        result = logic.inspect(path, reduction=reduction, output_dir=space.output_dir())
        view = result.melody
        return (view.png_path, result.summary(), result.statistics, view.tokens, view.preview_path, view.midi_path)

    @readable_errors
    def use_melody(tokens):
        if not (tokens or "").strip():
            raise logic.SpaceError("Inspect a melody first: upload an audio or MIDI file and press 'Inspect'.")
        if not space.available:
            raise logic.SpaceError(logic.model_missing_message(space.model))
        return tokens, gr.Tabs(selected="text")

    with gr.Tab("Melody inspection", id="inspect"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=4):
                file = gr.File(
                    label=f"Audio or MIDI file (up to {defaults.MAX_INPUT_SECONDS:.0f} s of audio)",
                    file_types=AUDIO_TYPES + MIDI_TYPES, type="filepath", elem_id="inspect-file",
                )  # fmt: skip
                reduction = gr.Radio(
                    [("All notes", "none"), ("Top line only (skyline)", "skyline")], value="none",
                    label="Notes to keep", info="Skyline keeps the highest sounding note of chords.",
                )  # fmt: skip
                button = gr.Button("Inspect", variant="primary", elem_id="inspect-run")
                gr.Examples(
                    [[os.path.join(EXAMPLES_DIR, "example_melody.flac")],
                     [os.path.join(EXAMPLES_DIR, "example_melody.mid")]],
                    inputs=[file], label="Examples (a folk tune: flute recording, and its MIDI)",
                )  # fmt: skip
            with gr.Column(scale=7):
                png = piano_roll_image("Piano roll", "inspect-pianoroll")
                summary = gr.Markdown()
                with gr.Row():
                    preview = gr.Audio(label="Preview (re-synthesized)", type="filepath", interactive=False,
                                       elem_id="inspect-preview")  # fmt: skip
                    midi = gr.File(label="MIDI download", interactive=False, height=110)
                tokens = gr.Textbox(
                    label="Melody tokens (official MMGen format)", lines=3, max_lines=6, interactive=False,
                    buttons=["copy"], elem_id="inspect-tokens",
                )  # fmt: skip
                with gr.Accordion("Statistics", open=False):
                    statistics = gr.JSON(label="Statistics")
                use_button = gr.Button("Generate from this melody", elem_id="inspect-use")

    button.click(
        inspect_melody,
        inputs=[file, reduction],
        outputs=[png, summary, statistics, tokens, preview, midi],
        api_name="inspect_melody",
        show_progress_on=[png],
        concurrency_limit=2,
    )
    use_button.click(
        use_melody, inputs=[tokens], outputs=[text_tab["melody_tokens"], tabs], api_name="use_melody"
    ).then(lambda: gr.Accordion(open=True), outputs=[text_tab["melody_accordion"]], api_visibility="private")


def build_demo(model: str = defaults.DEFAULT_MODEL, *, concurrency_limit: int = 1, output_root: str | None = None):
    """The Blocks of the Space (not launched): one builder per tab.

    Args:
        model: the pipeline folder (loaded on the first generation).
        concurrency_limit: generations that run at the same time (others wait in the queue).
        output_root: where each call writes its files (default: a fresh temp folder).
    """
    output_root = output_root or tempfile.mkdtemp(prefix="mmgen-space-")
    space = Space(model, logic.PipelineStore(model), output_root, concurrency_limit)
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 6 * 3600)) as demo:
        gr.Markdown(HEADER, elem_id="mmgen-header")
        with gr.Tabs(selected="text") as tabs:
            text_tab = text_to_music_tab(space)
            audio_tab = music_to_music_tab(space)
            continue_tab = continuation_tab(space)
            melody_inspection_tab(space, text_tab, tabs)
        for tab in (text_tab, audio_tab, continue_tab):
            tab["continue"].click(continue_this_clip, inputs=[tab["audio"]], outputs=[continue_tab["clip"], tabs],
                                  api_visibility="private")  # fmt: skip
        gr.Markdown(
            "Melody inspection uses [Basic Pitch](https://github.com/spotify/basic-pitch) for transcription. "
            f"{limits_text()} Model: `{model}`.",
            elem_classes="mmgen-timing",
            elem_id="mmgen-limits",
        )
    demo.mmgen_store = space.store  # for tests and benchmarks: the lazily loaded pipeline
    demo.mmgen_output_root = output_root
    return demo


def limits_text() -> str:
    """The Space's caps (`mmgen.limits`), as its footer states them."""
    return (
        f"Limits: clips up to {limits.SPACE_MAX_SECONDS:g} s ({limits.SPACE_MAX_SECONDS / 60:g} minutes; pieces "
        f"longer than {defaults.DEFAULT_WINDOW_S:g} s are made window by window and take minutes on a CPU), "
        f"{limits.SPACE_MAX_STEPS} steps and {limits.SPACE_MAX_CANDIDATES} candidates; clips to continue "
        f"{limits.MIN_PROMPT_SECONDS:g}-{limits.SPACE_MAX_CONTINUE_SECONDS:g} s (the last "
        f"{limits.MAX_PROMPT_SECONDS:g} s lead into the new part); uploads up to {limits.SPACE_MAX_UPLOAD_MB} MB and "
        f"{limits.SPACE_MAX_INPUT_SECONDS:g} s (at least {limits.MIN_INPUT_SECONDS:g} s; hummed melodies up to "
        f"{limits.MAX_VOICE_SECONDS:g} s); melodies up to {limits.MAX_MELODY_NOTES:,} notes and "
        f"{limits.MAX_MELODY_SECONDS:g} s. Generated files are kept for at most "
        f"{limits.SPACE_CACHE_MAX_AGE_S / 3600:g} h and {limits.SPACE_MAX_CACHE_MB / 1024:g} GB, and removed when the "
        "Space stops."
    )


def clean_up(demo) -> None:
    """Remove what the Space wrote: its output folder and the files Gradio cached for it (Gradio itself only clears
    its cache at the next start)."""
    shutil.rmtree(demo.mmgen_output_root, ignore_errors=True)
    try:
        from gradio.route_utils import delete_files_created_by_app

        delete_files_created_by_app(demo, None)
    except Exception as err:  # a private Gradio helper: its absence must not break shutdown
        logging.getLogger(__name__).warning(f"could not clear Gradio's cache: {err}")


def launch_kwargs(args: argparse.Namespace) -> dict:
    """Keyword arguments of `demo.launch` for the parsed flags (offline, readable errors, upload limit)."""
    return {
        "server_name": args.host,
        "server_port": args.port,
        "share": args.share,
        "show_error": True,
        "max_file_size": f"{defaults.MAX_UPLOAD_MB}mb",
        "allowed_paths": [EXAMPLES_DIR],
        "ssr_mode": False,
        "pwa": False,
        "mcp_server": False,
        "footer_links": ["api", "settings"],
        "theme": theme(),
        "css": CSS,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default=defaults.DEFAULT_MODEL,
        help="Folder of the MMGenPipeline (saved with save_pretrained); loaded on the first generation.",
    )  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (0.0.0.0 for every interface).")
    parser.add_argument("--port", type=int, default=7860, help="Port to listen on.")
    parser.add_argument("--share", action="store_true", help="Also open a public gradio.live link (needs internet).")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="Generations run at the same time; more requests wait in the queue."
    )
    parser.add_argument("--max-queue", type=int, default=64, help="Requests that may wait in the queue.")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.max_queue < 1:
        parser.error("--concurrency and --max-queue must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    demo = build_demo(args.model, concurrency_limit=args.concurrency)
    if not demo.mmgen_store.available:
        print(f"warning: {logic.model_missing_message(args.model)}", file=sys.stderr)
    atexit.register(clean_up, demo)
    demo.queue(max_size=args.max_queue, default_concurrency_limit=2)
    demo.launch(**launch_kwargs(args))


if __name__ == "__main__":
    main()
