"""`python -m mmgen demo --output-dir DIR`: melody inspection of the bundled example clip (what `make demo` runs).

Transcribes `examples/example_melody.flac` (a folk tune played on a flute by FluidSynth) with Basic Pitch and
writes into DIR: `example.mid` (the notes), `example_pianoroll.png` (transcription in blue, the ground truth
`examples/example_melody.mid` as orange outlines), `example_tokens.txt` (official-format melody tokens),
`example_preview.wav` (the notes synthesized) and `example.json` (statistics, tokens, notes, note F1 against
the ground truth).
"""

from __future__ import annotations

import argparse
import json
import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE_AUDIO = os.path.join(REPO_ROOT, "examples", "example_melody.flac")
EXAMPLE_MIDI = os.path.join(REPO_ROOT, "examples", "example_melody.mid")
OUTPUT_NAMES = {
    "midi": "example.mid",
    "png": "example_pianoroll.png",
    "tokens": "example_tokens.txt",
    "preview": "example_preview.wav",
    "json": "example.json",
}


def run_demo(output_dir: str, *, audio_path: str = EXAMPLE_AUDIO, reference_midi: str | None = EXAMPLE_MIDI) -> dict:
    """Inspect `audio_path` and write the demo files into `output_dir`; returns {kind: path} of what was written.

    Raises:
        `FileNotFoundError`: the example clip is missing (run `python examples/make_example.py`).
    """
    from ..melody.inspection import inspect_melody, note_scores
    from ..melody.notes import read_midi

    if not os.path.isfile(audio_path):
        raise FileNotFoundError(f"example clip '{audio_path}' is missing; run `python examples/make_example.py`")
    os.makedirs(output_dir, exist_ok=True)
    paths = {kind: os.path.join(output_dir, name) for kind, name in OUTPUT_NAMES.items()}
    inspection = inspect_melody(audio_path)
    reference = read_midi(reference_midi) if reference_midi and os.path.isfile(reference_midi) else None

    inspection.write_midi(paths["midi"])
    inspection.write_piano_roll(
        paths["png"], reference=reference, title="Basic Pitch transcription (blue) vs ground truth (orange)"
    )
    inspection.write_tokens(paths["tokens"])
    inspection.write_preview(paths["preview"])
    report = inspection.to_dict()
    if reference is not None:
        report["scores_vs_ground_truth"] = note_scores(reference, inspection.notes)
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)

    stats = inspection.statistics
    print(f"Melody inspection of {audio_path}")
    print(
        f"  {stats['num_notes']} notes, {stats['lowest']}-{stats['highest']}, tempo ~{stats['tempo_bpm']} BPM, "
        f"{len(inspection.tokens.split('|'))} token triples"
    )
    if reference is not None:
        scores = report["scores_vs_ground_truth"]
        print(
            f"  note F1 vs ground truth: {scores['f1']:.3f} (onsets within 50 ms), "
            f"{scores['f1_offset']:.3f} with offsets"
        )
    print(f"  tokens: {inspection.tokens[:100]}{'...' if len(inspection.tokens) > 100 else ''}")
    for kind, path in paths.items():
        print(f"  wrote {kind:>7}: {path}")
    return paths


def run(args: argparse.Namespace) -> int:
    run_demo(args.output_dir)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="Inspect the bundled example melody: MIDI, piano roll, tokens and a preview.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--output-dir", default="outputs/demo", help="Folder for the demo's files.")
    parser.set_defaults(func=run)
