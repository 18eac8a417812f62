"""`python -m mmgen eval <task>`: evaluation commands.

    python -m mmgen eval generation --generated DIR --reference DIR [--prompts FILE --aligner PATH]
        [--melodies DIR] --output results.json

writes the metrics as JSON (top-level `fad_musicnn`, `kl_musicnn`, `is_musicnn`, ...) and a markdown table
laid out like the paper's Table 1 beside it (`results.md`). `eval align` comes from `mmgen.eval.aligner_retrieval`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluate generated music, the aligner or the retriever")
    tasks = parser.add_subparsers(dest="eval_task", metavar="<task>")
    _register_generation(tasks)
    from mmgen.eval.aligner_retrieval import register_align_eval

    register_align_eval(tasks)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _register_generation(tasks) -> None:
    parser = tasks.add_parser(
        "generation",
        help="FAD / KL / IS (musicnn), alignment score and melody adherence of a folder of generated clips",
        description="Compare a folder of generated clips with a folder of reference clips (paired by file stem).",
    )
    parser.add_argument("--generated", required=True, help="folder of generated audio (wav/flac/ogg/mp3)")
    parser.add_argument("--reference", required=True, help="folder of reference audio; same stems pair for KL")
    parser.add_argument(
        "--prompts", default=None, help="prompts: JSON {stem: text}, JSONL rows with id+caption, or one per line"
    )
    parser.add_argument("--aligner", default=None, help="TriModalAligner folder, for the alignment score")
    parser.add_argument("--melodies", default=None, help="folder of conditioning melodies <stem>.mid or <stem>.txt")
    parser.add_argument("--no-note-f1", action="store_true", help="skip Basic Pitch note-F1 (keep chroma cosine)")
    parser.add_argument(
        "--embedder",
        default="musicnn",
        choices=["musicnn", "musicnn-msd", "vggish", "panns"],
        help="embedding model for FAD/KL/IS (vggish and panns need --embedder-weights)",
    )
    parser.add_argument("--embedder-weights", default=None, help="safetensors weights for vggish or panns")
    parser.add_argument("--model-name", default="MMGen (ours)", help="row label in the markdown table")
    parser.add_argument("--output", required=True, help="JSON file to write; the table goes to the same name .md")
    parser.set_defaults(func=run_generation)


def run_generation(args: argparse.Namespace) -> int:
    from mmgen.eval.embedders import load_embedder
    from mmgen.eval.generation import evaluate_generation, markdown_table

    if args.prompts and not args.aligner:
        raise ValueError("--prompts needs --aligner (the alignment score embeds prompts and audio with it)")
    aligner = None
    if args.aligner:
        from mmgen.models.aligner import TriModalAligner

        aligner = TriModalAligner.from_pretrained(args.aligner).eval()
    embedder = load_embedder(args.embedder, args.embedder_weights)
    results = evaluate_generation(
        args.generated,
        args.reference,
        embedder=embedder,
        prompts_path=args.prompts,
        aligner=aligner,
        melody_dir=args.melodies,
        note_f1=not args.no_note_f1,
    )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    table = markdown_table(results, model=args.model_name, dataset=Path(args.reference).name)
    output.with_suffix(".md").write_text(table)
    print(table)
    print(f"wrote {output} and {output.with_suffix('.md')}")
    return 0
