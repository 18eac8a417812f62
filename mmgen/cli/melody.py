"""`python -m mmgen melody IN.(wav|mp3|flac|mid) [--midi OUT.mid] [--png OUT.png] [--tokens] ...`

Transcribes audio with Basic Pitch (or reads a MIDI file), then writes what was asked for. stdout carries only
the requested data (the token string with `--tokens`, or one JSON object with `--json`); the human summary goes
to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

# The defaults of `mmgen.melody.transcribe.TranscriptionConfig`, copied so that building the parser does not import
# it (`mmgen.melody` loads transformers); `transcription_config` builds the real config and checks the ranges.
# tests/test_cli_startup.py checks that these equal `TranscriptionConfig()`.
DEFAULT_ONSET_THRESHOLD = 0.8
DEFAULT_FRAME_THRESHOLD = 0.4
DEFAULT_MIN_NOTE_MS = 127.70


def add_transcription_args(parser: argparse.ArgumentParser) -> None:
    """Basic Pitch's thresholds as flags (defaults from `TranscriptionConfig`, copied above)."""
    group = parser.add_argument_group("transcription (audio input only)")
    group.add_argument(
        "--onset-threshold", type=float, default=DEFAULT_ONSET_THRESHOLD,
        help="Basic Pitch onset probability needed to start a note (higher: fewer, surer notes).",
    )  # fmt: skip
    group.add_argument(
        "--frame-threshold", type=float, default=DEFAULT_FRAME_THRESHOLD,
        help="Frame probability needed to keep a note sounding (higher: fewer ghost notes from overtones).",
    )  # fmt: skip
    group.add_argument("--min-note-ms", type=float, default=DEFAULT_MIN_NOTE_MS, help="Shortest note kept, in ms.")
    group.add_argument("--min-freq", type=float, default=None, help="Drop notes below this frequency (Hz).")
    group.add_argument("--max-freq", type=float, default=None, help="Drop notes above this frequency (Hz).")
    group.add_argument(
        "--no-melodia-trick", action="store_true", help="Disable Basic Pitch's melodia post-processing."
    )


def transcription_config(args: argparse.Namespace):
    """The `TranscriptionConfig` described by `add_transcription_args` flags; `ValueError` if out of range."""
    from ..melody.transcribe import TranscriptionConfig

    for flag in ("onset_threshold", "frame_threshold"):
        if not 0.0 < getattr(args, flag) < 1.0:
            raise ValueError(f"--{flag.replace('_', '-')} must be between 0 and 1, got {getattr(args, flag)}")
    if args.min_note_ms < 0:
        raise ValueError(f"--min-note-ms must not be negative, got {args.min_note_ms}")
    return TranscriptionConfig(
        onset_threshold=args.onset_threshold,
        frame_threshold=args.frame_threshold,
        minimum_note_length_ms=args.min_note_ms,
        minimum_frequency=args.min_freq,
        maximum_frequency=args.max_freq,
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
        args.input, config=transcription_config(args), reduction="skyline" if args.skyline else "none"
    )
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
        help="Inspect a melody: transcribe audio (Basic Pitch) or read MIDI; write MIDI, piano roll, tokens.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", help="Audio (wav, flac, mp3, ogg) or MIDI (.mid/.midi) file.")
    parser.add_argument("--midi", metavar="OUT.mid", help="Write the notes as a MIDI file.")
    parser.add_argument("--png", metavar="OUT.png", help="Write a piano-roll picture.")
    parser.add_argument("--preview", metavar="OUT.wav", help="Write a synthesized preview of the notes.")
    parser.add_argument("--program", type=int, default=0, help="General MIDI program for --midi/--preview (0-127).")
    parser.add_argument("--tokens", action="store_true", help="Print the official-format melody token string.")
    parser.add_argument("--skyline", action="store_true", help="Keep only the highest sounding note (one line).")
    parser.add_argument("--json", action="store_true", help="Print statistics (and tokens) as one JSON object.")
    add_transcription_args(parser)
    parser.set_defaults(func=run)
