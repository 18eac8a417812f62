"""`python -m mmgen generate "prompt" -o out.wav [--melody tune.mid] [--audio ref.wav | --continue clip.wav] ...`

Text-to-music: the prompt's embedding retrieves a melody from the model's melody database and the music follows it.
With `--melody` (a MIDI file, an audio file to transcribe, or a token string) that melody is followed instead, and
retrieval is skipped. With `--audio` (music-to-music) the reference recording's embedding is the query; a prompt
given with it steers the query (see `--steer-weight`). Writes the WAV (22,050 Hz mono) and, on request, the piano
roll, MIDI file and JSON summary of the melody that guided it. Up to 300 s: a piece longer than --window (20 s) is made
window by window, each holding its first --overlap (2 s) to the one before, and the progress line counts windows
("window 2/7, step 10/50"). With `--continue` a recording (at least 1 s, not silent; its last 60 s are the context) is
continued for --seconds more, under --melody if given, and the written audio is the recording followed by its
continuation. When notes guided it, the clip is transcribed with Basic
Pitch and `<output stem>_adherence.png` shows that transcription over the guiding melody; its note-F1 and chroma
cosine against the melody are printed (and added to the JSON summary). The same code runs behind the Space (`app.py`).

Examples:
  python -m mmgen generate "a calm folk melody on a solo flute" -o flute.wav --png flute_melody.png
  python -m mmgen generate "a jazz piano trio" --melody examples/example_melody.mid -o jazz.wav
  python -m mmgen generate --audio examples/example_melody.flac "played on a harp" -o harp.wav --seconds 8
  python -m mmgen generate "a folk tune on a fiddle" --melody examples/example_tune.abc --transpose -2 -o abc.wav
  python -m mmgen generate "a choir" --melody examples/hummed_melody.flac --voice --fold --clip-midi clip.mid
  python -m mmgen generate "a slow folk song on a fiddle" --seconds 120 -o long.wav
  python -m mmgen generate --continue long.wav --seconds 30 --melody examples/example_melody.mid -o longer.wav
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

# mmgen.app.defaults imports nothing heavy (the pipeline, torch and Basic Pitch load inside mmgen.app.logic).
from .. import limits
from ..app.defaults import (
    CLI,
    DEFAULT_GUIDANCE,
    DEFAULT_MODEL,
    DEFAULT_OVERLAP_S,
    DEFAULT_SECONDS,
    DEFAULT_STEPS,
    DEFAULT_WINDOW_S,
    MAX_AUDIO_SECONDS,
    SCHEDULERS,
)
from .melody import add_shaping_args, shaping_kwargs


def _copy(src: str | None, dst: str | None, what: str) -> str | None:
    if dst is None:
        return None
    if src is None:
        raise ValueError(f"there is no {what} to write: this model is text-only (no melody guided the generation)")
    parent = os.path.dirname(os.path.abspath(dst))
    os.makedirs(parent, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def adherence_png_path(output: str) -> str:
    """Where the adherence overlay of the clip written to `output` goes: `<output stem>_adherence.png` beside it."""
    return os.path.splitext(output)[0] + "_adherence.png"


def check_output_path(path: str, flag: str, audio: bool = False) -> None:
    """Refuse, before any work, an output that cannot be written: a folder, an unwritable place or (audio) a format
    soundfile cannot write. Creates the missing parent folders, as the write would."""
    if os.path.isdir(path):
        raise ValueError(f"{flag}: '{path}' is a folder; give a file name (e.g. {os.path.join(path, 'mmgen.wav')})")
    if audio:
        import soundfile as sf

        extension = os.path.splitext(path)[1].lstrip(".").upper()
        if extension not in sf.available_formats():
            raise ValueError(f"{flag}: cannot write audio as '.{extension.lower()}'; use .wav or .flac")
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".mmgen-write-test-"):
            pass
    except OSError as err:
        raise ValueError(f"{flag}: cannot write to '{parent}' ({err.strerror or err})") from err


def check_lengths(args: argparse.Namespace) -> None:
    """`--seconds`, `--window` and `--overlap` within the library's limits (`mmgen.limits`), said with the flag."""
    what = "the continuation's length" if args.continue_clip is not None else "the length"
    if not CLI.min_seconds <= args.seconds <= CLI.max_seconds:
        raise ValueError(
            f"--seconds: {what} must be between {CLI.min_seconds:g} and {CLI.max_seconds:g} s, got {args.seconds:g}"
        )
    if not limits.MIN_WINDOW_S <= args.window <= limits.MAX_WINDOW_S:
        raise ValueError(
            f"--window: a window must be between {limits.MIN_WINDOW_S:g} and {limits.MAX_WINDOW_S:g} s, "
            f"got {args.window:g}"
        )
    if not limits.MIN_WINDOW_OVERLAP_S <= args.overlap <= args.window / 2:
        raise ValueError(
            f"--overlap: the overlap must be between {limits.MIN_WINDOW_OVERLAP_S:g} s and half the window "
            f"({args.window / 2:g} s), got {args.overlap:g}"
        )


def load_continued_clip(path: str):
    """The `--continue` recording, read and checked before the model loads; every error names the flag."""
    from ..app import continuation

    if os.path.isdir(path):
        raise ValueError(f"--continue: '{path}' is a folder; give one recording to continue")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--continue: no such file '{path}'")
    try:
        return continuation.load_clip(path, max_seconds=CLI.max_clip_seconds, max_upload_mb=None)
    except ValueError as err:  # AudioError and SpaceError are ValueErrors
        raise ValueError(f"--continue: {err}") from err


def physical_cores() -> int:
    """The physical CPU cores this process may run on (hyperthreads share a core's units: more threads than cores
    only contend), from the kernel's topology; the usable CPU count where that is unknown."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        try:
            with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/core_cpus_list", encoding="utf-8") as f:
                cores.add(f.read().strip())
        except OSError:
            return len(cpus)
    return max(1, len(cores))


def set_threads() -> None:
    """torch's intra-op threads: one per physical core, unless OMP_NUM_THREADS says otherwise."""
    import torch

    if not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(physical_cores())


def run(args: argparse.Namespace) -> int:
    from ..app import continuation, logic
    from ..app.settings import GenerationSettings, UserMelody
    from ..audio import save_audio

    if args.prompt is None and args.audio is None and args.melody is None and args.continue_clip is None:
        raise ValueError(
            'nothing to generate from: give a prompt ("a calm folk tune"), --audio, --melody or --continue'
        )
    if args.audio is not None and args.continue_clip is not None:
        raise ValueError("--audio and --continue: give one (--audio is a query for new music, --continue a recording "
                         "to continue)")  # fmt: skip
    check_lengths(args)
    if args.audio is not None and os.path.isdir(args.audio):
        raise ValueError(f"--audio: '{args.audio}' is a folder; give one recording (up to {MAX_AUDIO_SECONDS:.0f} s)")
    if args.audio is not None and not os.path.isfile(args.audio):
        raise FileNotFoundError(f"--audio: no such file '{args.audio}'")
    check_output_path(args.output, "-o/--output", audio=True)
    for flag in ("png", "midi", "json", "clip_midi"):
        if getattr(args, flag) is not None:
            check_output_path(getattr(args, flag), "--" + flag.replace("_", "-"))
    if args.melody is not None:
        from ..melody.load import classify_melody
        from ..melody.notes import MelodyError

        try:
            classify_melody(args.melody, name="--melody")
        except MelodyError as err:  # say which flag, before the model loads
            raise FileNotFoundError(
                f"{err} Give a MIDI/audio/ABC file, ABC notation, a note list or a token string."
            ) from err
    if args.clip_midi is not None and args.no_adherence:
        raise ValueError("--clip-midi needs the clip's transcription: drop --no-adherence")
    clip = None if args.continue_clip is None else load_continued_clip(args.continue_clip)
    edits = shaping_kwargs(args)
    if args.melody is None and (any(v not in (None, 0) for v in edits.values()) or args.voice):
        raise ValueError("--transpose, --tempo, --bpm, --trim, --fold and --voice shape a --melody: give one")
    if args.quiet:
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
    set_threads()
    store = logic.PipelineStore(args.model)
    if not store.available:
        raise FileNotFoundError(logic.model_missing_message(args.model))

    def progress(fraction: float, message: str) -> None:
        if not args.quiet:
            print(f"\r  {message:<52} {fraction:4.0%}", end="", file=sys.stderr, flush=True)

    settings = GenerationSettings(
        negative_prompt=args.negative, seconds=args.seconds, steps=args.steps, guidance_scale=args.guidance,
        melody_guidance_scale=args.melody_guidance, num_candidates=args.candidates, seed=args.seed,
        scheduler=args.scheduler, window_s=args.window, overlap_s=args.overlap,
        melody_extension=args.melody_extension, bounds=CLI,
        adherence=not args.no_adherence, melody_files=args.png is not None or args.midi is not None,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mmgen-generate-") as work:
        melody = UserMelody(args.melody, voice=args.voice, edits=edits)
        common = {"melody": melody, "progress": progress, "output_dir": work}
        if clip is not None:
            result = continuation.continue_clip(store, clip, settings, prompt=args.prompt, max_upload_mb=None,
                                                **common)  # fmt: skip
        elif args.audio is not None:
            result = logic.generate_from_audio(
                store, args.audio, settings, steer_text=args.prompt, steer_weight=args.steer_weight,
                follow_melody=args.follow_audio_melody, max_input_seconds=MAX_AUDIO_SECONDS, max_upload_mb=None,
                **common,
            )  # fmt: skip
        else:
            result = logic.generate_from_text(store, args.prompt, settings, **common)
        if not args.quiet:
            print(file=sys.stderr)
        os.makedirs(os.path.dirname(os.path.abspath(args.output)) or ".", exist_ok=True)
        save_audio(args.output, result.waveform, logic.SAMPLE_RATE)
        melody = result.melody
        written = {"audio": args.output}
        written["png"] = _copy(melody and melody.png_path, args.png, "melody piano roll")
        written["midi"] = _copy(melody and melody.midi_path, args.midi, "melody MIDI")
        adherence = result.adherence
        if adherence is not None:
            written["adherence"] = _copy(adherence.png_path, adherence_png_path(args.output), "adherence overlay")
        if args.clip_midi is not None and adherence is not None and adherence.midi_path is not None:
            written["clip_midi"] = _copy(adherence.midi_path, args.clip_midi, "clip MIDI")
        elif args.clip_midi is not None and not args.quiet:
            message = f"  --clip-midi: no notes were transcribed from the clip, {args.clip_midi} not written"
            print(message, file=sys.stderr)
        if args.json:
            summary = {
                "audio": os.path.abspath(args.output),
                "settings": result.settings,
                "timings": result.timings,
                "score": result.score,
                "melody": None if melody is None else {**melody.info, "tokens": melody.tokens, "title": melody.title},
                "adherence": None if adherence is None else {**adherence.scores, "tokens": adherence.tokens},
            }
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(summary, f, indent=2)
            written["json"] = args.json
    if not args.quiet:
        print(result.summary(), file=sys.stderr)
        if melody is not None:
            print("  " + melody.markdown().replace("**", "").replace("\n", "\n  "), file=sys.stderr)
        if adherence is not None:
            print(f"  {adherence.summary()}", file=sys.stderr)
        for kind, path in written.items():
            if path:
                print(f"  wrote {kind:>5}: {path}", file=sys.stderr)
    print(args.output)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="Generate music from a text prompt, a reference recording (--audio) or your own melody (--melody).",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "prompt", nargs="?", default=None,
        help="What the music should sound like. Optional with --melody; with --audio it steers the query.",
    )  # fmt: skip
    parser.add_argument("-o", "--output", default="mmgen.wav", help="The WAV file to write (default: mmgen.wav).")
    parser.add_argument(
        "--melody", default=None,
        help="Follow this melody instead of retrieving one: a MIDI, ABC or audio file (transcribed with Basic Pitch; "
        "--voice for humming or singing), ABC notation, a note list ('bpm=100 C4 D4 E4/2') or an official token "
        "string.",
    )  # fmt: skip
    parser.add_argument(
        "--voice", action="store_true",
        help="--melody is a hummed or sung recording: voice-tuned transcription (up to 60 s).",
    )  # fmt: skip
    parser.add_argument(
        "--audio", default=None,
        help="Music-to-music: a reference recording whose audio embedding is the query (from 0.5 s up to "
        f"{MAX_AUDIO_SECONDS:.0f} s, any size).",
    )  # fmt: skip
    parser.add_argument(
        "--steer-weight", type=float, default=0.3,
        help="With --audio and a prompt: the prompt's share of the query, 0-1 (default 0.3).",
    )  # fmt: skip
    parser.add_argument(
        "--follow-audio-melody", action="store_true",
        help="With --audio: follow the melody transcribed from the recording instead of retrieving one.",
    )  # fmt: skip
    parser.add_argument(
        "--continue", dest="continue_clip", default=None, metavar="CLIP",
        help=f"Continue this recording ({limits.MIN_PROMPT_SECONDS:g} s to {CLI.max_clip_seconds:g} s, not silent; "
        f"its last {limits.MAX_PROMPT_SECONDS:g} s are the context) for --seconds more, under --melody if given; "
        "the prompt is optional (without it the recording is the query). Writes the recording followed by its "
        "continuation.",
    )  # fmt: skip
    parser.add_argument(
        "--seconds", type=float, default=DEFAULT_SECONDS,
        help=f"Length of the generated audio in seconds, {CLI.min_seconds:g}-{CLI.max_seconds:g} (default "
        f"{DEFAULT_SECONDS:g}); with --continue, the new part's.",
    )  # fmt: skip
    parser.add_argument(
        "--window", type=float, default=DEFAULT_WINDOW_S,
        help=f"A piece longer than this is made window by window ({limits.MIN_WINDOW_S:g}-{limits.MAX_WINDOW_S:g} "
        f"s, default {DEFAULT_WINDOW_S:g}).",
    )  # fmt: skip
    parser.add_argument(
        "--melody-extension", choices=limits.MELODY_EXTENSIONS, default="repeat",
        help="A retrieved melody shorter than the piece is played again ('repeat', default) or followed by the "
        "next retrieved melodies in its key and tempo ('retrieve').",
    )  # fmt: skip
    parser.add_argument(
        "--overlap", type=float, default=DEFAULT_OVERLAP_S,
        help=f"Seconds each window holds to the one before (at least {limits.MIN_WINDOW_OVERLAP_S:g}, at most half "
        f"the window; default {DEFAULT_OVERLAP_S:g}).",
    )  # fmt: skip
    parser.add_argument(
        "--steps", type=int, default=DEFAULT_STEPS,
        help=f"Denoising steps per window, 1-{CLI.max_steps} (default {DEFAULT_STEPS}, for the model's UniPC; "
        "--scheduler ddim needs about 50).",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=0, help="Random seed; the same seed gives the same audio (-1: random)."
    )
    parser.add_argument(
        "--model", default=DEFAULT_MODEL,
        help=f"Pipeline folder written by MMGenPipeline.save_pretrained (default {DEFAULT_MODEL}).",
    )  # fmt: skip
    parser.add_argument(
        "--guidance", type=float, default=DEFAULT_GUIDANCE,
        help=f"Classifier-free guidance scale w (default {DEFAULT_GUIDANCE:g}; 0 turns guidance off).",
    )  # fmt: skip
    parser.add_argument(
        "--melody-guidance", type=float, default=None,
        help="Melody guidance beta: weight of the melody against the query (1 = plain guidance; one more UNet "
        "pass per step).",
    )  # fmt: skip
    parser.add_argument(
        "--candidates", type=int, default=1,
        help=f"Generate this many candidates (1-{CLI.max_candidates}) and keep the one the aligner scores best.",
    )  # fmt: skip
    parser.add_argument(
        "--scheduler", choices=list(SCHEDULERS), default="default",
        help="Sampler: the one saved with the model (default; the shipped model's is UniPC), unipc, dpm-solver++ "
        "(2M, Karras sigmas), ddim or euler.",
    )  # fmt: skip
    parser.add_argument("--negative", default=None, help="Negative prompt: what the music should not sound like.")
    parser.add_argument("--png", default=None, help="Also write the piano roll of the melody that guided it.")
    parser.add_argument("--midi", default=None, help="Also write the melody that guided it as a MIDI file.")
    parser.add_argument(
        "--clip-midi", default=None,
        help="Also write the generated clip's own melody (transcribed with Basic Pitch) as a MIDI file; its token "
        "string is in --json's adherence.tokens.",
    )  # fmt: skip
    parser.add_argument(
        "--json", default=None, help="Also write a JSON summary (settings, timings, melody, adherence scores)."
    )
    parser.add_argument(
        "--no-adherence", action="store_true",
        help="Do not transcribe the generated clip: no <stem>_adherence.png (its transcription over the guiding "
        "melody) and no note-F1 / chroma scores.",
    )  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true", help="Print only the output path.")
    add_shaping_args(parser)
    parser.set_defaults(func=run)
