"""`python -m mmgen demo --output-dir DIR`: what `make demo` runs.

1. Text to music with the shipped default model (`checkpoints/mmgen-default`): generates a clip from a prompt and
   writes `generated.wav`, the piano roll, MIDI and tokens of the melody that guided it
   (`guiding_melody.png`, `guiding_melody.mid`, `guiding_melody_tokens.txt`), `generated_adherence.png` (the
   clip's Basic Pitch transcription over that melody, note-F1 and chroma cosine in the title) and
   `generated.json` (with those scores under "adherence", also printed).
   Skipped, with a message saying why, when the model folder is missing.
2. Melody inspection of the bundled example clip. Transcribes `examples/example_melody.flac` (a folk tune
   played on a flute by FluidSynth) with Basic Pitch and writes `example.mid` (the notes),
   `example_pianoroll.png` (transcription in blue, the ground truth `examples/example_melody.mid` as orange
   outlines), `example_tokens.txt` (official-format melody tokens), `example_preview.wav` (the notes
   synthesized) and `example.json` (statistics, tokens, notes, note F1 against the ground truth).
"""

from __future__ import annotations

import argparse
import json
import os

from ..app.defaults import DEFAULT_STEPS

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


def run_generation_demo(output_dir: str, *, model: str, prompt: str, seconds: float, steps: int, seed: int) -> dict:
    """Generate one clip from `prompt` with the pipeline at `model`; returns {kind: path} of what was written."""
    import shutil

    from ..app import logic
    from ..app.settings import GenerationSettings

    store = logic.PipelineStore(model)
    if not store.available:
        print(f"Text to music skipped: {logic.model_missing_message(model)}")
        return {}
    os.makedirs(output_dir, exist_ok=True)
    settings = GenerationSettings(seconds=seconds, steps=steps, seed=seed)
    result = logic.generate_from_text(store, prompt, settings, output_dir=os.path.join(output_dir, "_work"))
    paths = {"audio": os.path.join(output_dir, "generated.wav")}
    shutil.copyfile(result.audio_path, paths["audio"])
    if result.melody is not None:
        paths["melody_png"] = os.path.join(output_dir, "guiding_melody.png")
        shutil.copyfile(result.melody.png_path, paths["melody_png"])
        if result.melody.midi_path:
            paths["melody_midi"] = os.path.join(output_dir, "guiding_melody.mid")
            shutil.copyfile(result.melody.midi_path, paths["melody_midi"])
        paths["melody_tokens"] = os.path.join(output_dir, "guiding_melody_tokens.txt")
        with open(paths["melody_tokens"], "w", encoding="utf-8") as f:
            f.write((result.melody.tokens or "") + "\n")
    if result.adherence is not None:
        paths["adherence_png"] = os.path.join(output_dir, "generated_adherence.png")
        shutil.copyfile(result.adherence.png_path, paths["adherence_png"])
    paths["json"] = os.path.join(output_dir, "generated.json")
    with open(paths["json"], "w", encoding="utf-8") as f:
        summary = {
            "prompt": prompt,
            "model": model,
            "seed": result.seed,
            "timings": result.timings,
            "settings": result.settings,
            "melody": None if result.melody is None else {"title": result.melody.title, **result.melody.info},
            "adherence": None if result.adherence is None else result.adherence.scores,
        }
        json.dump(summary, f, indent=2, default=str)  # fmt: skip
    shutil.rmtree(os.path.join(output_dir, "_work"), ignore_errors=True)
    print(f'Text to music with {model}: "{prompt}" ({seconds:g} s, {steps} steps, seed {seed})')
    print(f"  {result.summary()}")
    if result.adherence is not None:
        print(f"  {result.adherence.summary()}")
    for kind, path in paths.items():
        print(f"  wrote {kind:>13}: {path}")
    return paths


def run(args: argparse.Namespace) -> int:
    if not args.skip_generation:
        run_generation_demo(
            args.output_dir, model=args.model, prompt=args.prompt, seconds=args.seconds, steps=args.steps,
            seed=args.seed,
        )  # fmt: skip
    run_demo(args.output_dir)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="Generate a clip from a prompt with the default model, then inspect the bundled example melody.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--output-dir", default="outputs/demo", help="Folder for the demo's files.")
    parser.add_argument("--model", default="checkpoints/mmgen-default", help="MMGenPipeline folder to generate with.")
    parser.add_argument(
        "--prompt",
        default="A gentle Irish folk tune played on a solo flute at a relaxed tempo.",
        help="Text prompt of the generation step.",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of the generated clip in seconds.")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"Denoising steps (default {DEFAULT_STEPS}, "
                        "the shipped sampler's, as in the app and `generate`).")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="Seed (the same seed gives the same audio).")
    parser.add_argument("--skip-generation", action="store_true", help="Only inspect the example melody.")
    parser.set_defaults(func=run)
