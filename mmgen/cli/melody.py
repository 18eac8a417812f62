"""`python -m mmgen melody IN [--transpose N] [--tempo F] [--midi OUT.mid] [--png OUT.png] [--tokens] ...`

Reads any melody `load_melody` reads: audio (transcribed with Basic Pitch; `--voice` for humming or singing), MIDI,
ABC (`tune.abc` or the text itself), a note list ("bpm=100 C4 D4 E4/2") or an official token string; applies the
shaping edits (`--trim`, `--tempo`/`--bpm`, `--transpose`, `--fold`), then writes what was asked for. stdout
carries only the requested data (the token string with `--tokens`, or one JSON object with `--json`); the human
summary goes to stderr.

Examples:
  python -m mmgen melody examples/hummed_melody.flac --voice --png hum.png --tokens
  python -m mmgen melody "X:1
  K:G
  GABc d2 e2|" --transpose -2 --midi tune.mid
  python -m mmgen melody "bpm=90 C4 D4 E4/2 F4/2 G4*2" --fold --json
"""

from __future__ import annotations

import argparse
import json
import sys

from ..melody.shaping import TRAINED_RANGE
from ..melody.transcribe import TranscriptionConfig

DEFAULTS = TranscriptionConfig()


def add_transcription_args(parser: argparse.ArgumentParser) -> None:
    """Basic Pitch's thresholds as flags (defaults from `TranscriptionConfig`)."""
    group = parser.add_argument_group("transcription (audio input only)")
    group.add_argument(
        "--onset-threshold", type=float, default=None,
        help=f"Basic Pitch onset probability needed to start a note (higher: fewer, surer notes; default "
        f"{DEFAULTS.onset_threshold:g}, with --voice the voice path's).",
    )  # fmt: skip
    group.add_argument(
        "--frame-threshold", type=float, default=None,
        help=f"Frame probability needed to keep a note sounding (higher: fewer ghost notes from overtones; default "
        f"{DEFAULTS.frame_threshold:g}, with --voice the voice path's).",
    )  # fmt: skip
    group.add_argument(
        "--min-note-ms", type=float, default=None,
        help=f"Shortest note kept, in ms (default {DEFAULTS.minimum_note_length_ms:g}).",
    )  # fmt: skip
    group.add_argument("--min-freq", type=float, default=None, help="Drop notes below this frequency (Hz).")
    group.add_argument("--max-freq", type=float, default=None, help="Drop notes above this frequency (Hz).")
    group.add_argument(
        "--no-melodia-trick", action="store_true", help="Disable Basic Pitch's melodia post-processing."
    )
    group.add_argument(
        "--voice", action="store_true",
        help="The audio is one hummed or sung voice: voice-tuned transcription with vibrato, scoops, breath noise "
        "and octave slips cleaned up (recordings up to 60 s, silence refused).",
    )  # fmt: skip


def add_shaping_args(parser: argparse.ArgumentParser) -> None:
    """The shaping edits of `load_melody` as flags (applied in this order: trim, tempo, transpose, fold)."""
    group = parser.add_argument_group("shaping the melody")
    group.add_argument("--trim", nargs=2, type=float, metavar=("START", "END"), help="Keep START-END seconds.")
    group.add_argument("--tempo", type=float, default=None, help="Speed factor (2 = twice as fast; 0.25-4).")
    group.add_argument("--bpm", type=float, default=None, help="Play at this tempo (needs a known or estimated one).")
    group.add_argument("--transpose", type=int, default=0, help="Semitones up (negative: down).")
    group.add_argument(
        "--fold", action="store_true",
        help=f"Fold notes by octaves into the range the model was trained on (MIDI {TRAINED_RANGE[0]}-"
        f"{TRAINED_RANGE[1]}).",
    )  # fmt: skip


def shaping_kwargs(args: argparse.Namespace) -> dict:
    """The `load_melody` keyword arguments of `add_shaping_args` flags."""
    return {
        "trim_s": None if args.trim is None else tuple(args.trim),
        "tempo": args.tempo,
        "target_bpm": args.bpm,
        "transpose_semitones": args.transpose,
        "fold": TRAINED_RANGE if args.fold else None,
    }


def transcription_config(args: argparse.Namespace) -> TranscriptionConfig:
    """The `TranscriptionConfig` described by `add_transcription_args` flags; `ValueError` if out of range."""
    from dataclasses import replace

    if args.voice:
        from ..melody.voice import voice_transcription_config

        base = voice_transcription_config()
    else:
        base = TranscriptionConfig()
    changes = {
        "onset_threshold": args.onset_threshold, "frame_threshold": args.frame_threshold,
        "minimum_note_length_ms": args.min_note_ms,
    }  # fmt: skip
    config = replace(base, **{k: v for k, v in changes.items() if v is not None})
    for flag in ("onset_threshold", "frame_threshold"):
        if not 0.0 < getattr(config, flag) < 1.0:
            raise ValueError(f"--{flag.replace('_', '-')} must be between 0 and 1, got {getattr(config, flag)}")
    if config.minimum_note_length_ms < 0:
        raise ValueError(f"--min-note-ms must not be negative, got {config.minimum_note_length_ms}")
    return replace(
        config,
        minimum_frequency=args.min_freq if args.min_freq is not None else config.minimum_frequency,
        maximum_frequency=args.max_freq if args.max_freq is not None else config.maximum_frequency,
        melodia_trick=not args.no_melodia_trick,
    )


def summary_lines(inspection) -> list[str]:
    """A few human-readable lines about a `MelodyInspection`."""
    stats = inspection.statistics
    tempo = "unknown" if stats["tempo_bpm"] is None else f"~{stats['tempo_bpm']:.0f} BPM"
    return [
        f"{inspection.name}: {stats['num_notes']} notes from {inspection.source_kind}"
        + (" (skyline)" if inspection.reduction == "skyline" else ""),
        f"  {stats['start_s']:.2f}-{stats['end_s']:.2f} s, range {stats['lowest']}-{stats['highest']}, "
        f"{stats['notes_per_second']} notes/s, tempo {tempo}, polyphony {stats['polyphony_share']:.0%}",
    ]


def run(args: argparse.Namespace) -> int:
    from ..melody.inspection import inspect_melody

    if not 0 <= args.program <= 127:
        raise ValueError(f"--program must be a General MIDI program 0-127, got {args.program}")
    inspection = inspect_melody(
        args.input, config=transcription_config(args), reduction="skyline" if args.skyline else "none",
        voice=args.voice, **shaping_kwargs(args),
    )  # fmt: skip
    written = {}
    if args.midi:
        written["midi"] = inspection.write_midi(args.midi, program=args.program)
    if args.png:
        written["png"] = inspection.write_piano_roll(args.png)
    if args.preview:
        written["preview"] = inspection.write_preview(args.preview, program=args.program)
    for line in summary_lines(inspection):
        print(line, file=sys.stderr)
    for kind, path in written.items():
        print(f"  wrote {kind}: {path}", file=sys.stderr)
    if args.json:
        payload = {
            "name": inspection.name,
            "source_kind": inspection.source_kind,
            "reduction": inspection.reduction,
            "statistics": inspection.statistics,
            "edits": inspection.edits,
            "written": written,
        }
        if args.tokens:
            payload["tokens"] = inspection.tokens
        print(json.dumps(payload, indent=2))
    elif args.tokens:
        print(inspection.tokens)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "melody",
        help="Inspect and shape a melody (audio, a voice, MIDI, ABC, a note list, tokens); write MIDI, piano roll, "
        "tokens.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "input",
        help="Audio (wav, flac, mp3, ogg), MIDI (.mid/.midi) or ABC (.abc) file, or typed ABC, a note list or tokens.",
    )
    parser.add_argument("--midi", metavar="OUT.mid", help="Write the notes as a MIDI file.")
    parser.add_argument("--png", metavar="OUT.png", help="Write a piano-roll picture.")
    parser.add_argument("--preview", metavar="OUT.wav", help="Write a synthesized preview of the notes.")
    parser.add_argument("--program", type=int, default=0, help="General MIDI program for --midi/--preview (0-127).")
    parser.add_argument("--tokens", action="store_true", help="Print the official-format melody token string.")
    parser.add_argument("--skyline", action="store_true", help="Keep only the highest sounding note (one line).")
    parser.add_argument("--json", action="store_true", help="Print statistics (and tokens) as one JSON object.")
    add_transcription_args(parser)
    add_shaping_args(parser)
    parser.set_defaults(func=run)
