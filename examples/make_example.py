"""Make the bundled example clip once: a folk tune from the music21 corpus played on a flute with FluidSynth.

Writes `examples/example_melody.flac` (22,050 Hz mono, 16-bit, about 9 s) and its ground truth
`examples/example_melody.mid`. Deterministic given the same music21 corpus and soundfont:

    .venv/bin/python examples/make_example.py
"""

from __future__ import annotations

import argparse
import os
import sys

import soundfile as sf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmgen.audio import SAMPLE_RATE  # noqa: E402
from mmgen.melody.corpus import iter_corpus_pieces  # noqa: E402
from mmgen.melody.notes import Note, write_midi  # noqa: E402
from mmgen.melody.synth import find_soundfont, fluidsynth_available, render_notes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def crop(notes: list[Note], seconds: float, gate: float) -> list[Note]:
    """Notes that start before `seconds`, cut at `seconds`, played for `gate` of their length."""
    return [
        Note(n.onset, n.onset + gate * (min(n.offset, seconds) - n.onset), n.pitch, n.velocity)
        for n in notes
        if n.onset < seconds - 0.1
    ]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collection", default="oneills", help="music21 corpus collection (see mmgen.melody.corpus).")
    parser.add_argument("--seed", type=int, default=3, help="Seed of the corpus order; the first fitting tune wins.")
    parser.add_argument("--bpm", type=float, default=100.0, help="Tempo in quarter notes per minute.")
    parser.add_argument("--seconds", type=float, default=9.0, help="Length of the excerpt.")
    parser.add_argument("--gate", type=float, default=0.9, help="Played fraction of each note (detached).")
    parser.add_argument("--program", type=int, default=73, help="General MIDI program (73 = flute).")
    parser.add_argument("--output-dir", default=HERE, help="Where to write example_melody.flac / .mid.")
    return parser.parse_args()


def main():
    args = parse_args()
    if not fluidsynth_available():
        raise SystemExit("FluidSynth and a GM soundfont are needed to make the example (apt fluid-soundfont-gm)")
    for piece in iter_corpus_pieces(args.collection, limit=50, seed=args.seed):
        notes = crop(piece.to_notes(args.bpm, part=0, velocity=96), args.seconds, args.gate)
        pitches = [n.pitch for n in notes]
        if len(notes) >= 14 and 60 <= min(pitches) and max(pitches) <= 93:  # flute range, a real phrase
            break
    else:
        raise SystemExit(f"no fitting tune among the first 50 of {args.collection}")
    wave = render_notes(notes, SAMPLE_RATE, program=args.program)
    os.makedirs(args.output_dir, exist_ok=True)
    audio_path = os.path.join(args.output_dir, "example_melody.flac")
    midi_path = os.path.join(args.output_dir, "example_melody.mid")
    sf.write(audio_path, wave, SAMPLE_RATE, subtype="PCM_16")
    write_midi(notes, midi_path, program=args.program)
    print(f"{piece.name} '{piece.title}' ({piece.key}, {piece.meter}), {len(notes)} notes")
    print(f"soundfont {find_soundfont()}")
    print(f"wrote {audio_path} ({os.path.getsize(audio_path) // 1024} KB, {len(wave) / SAMPLE_RATE:.1f} s)")
    print(f"wrote {midi_path}")


if __name__ == "__main__":
    main()
