"""`python -m mmgen data synth|build`: build a MusicSet (synthetic corpus or the user's own audio)."""

from __future__ import annotations

import argparse


def _synth(args: argparse.Namespace) -> int:
    from mmgen.data.synthetic_musicset import build_synthetic_musicset

    dataset = build_synthetic_musicset(
        args.output,
        args.preset,
        num_clips=args.num_clips,
        clip_seconds=args.clip_seconds,
        seed=args.seed,
        num_proc=args.num_proc,
        melody_reduction=args.melody_reduction,
        overwrite=args.overwrite,
        keep_work=args.keep_work,
    )
    print(f"MusicSet saved to {args.output}: " + ", ".join(f"{s} {len(d)}" for s, d in dataset.items()))
    return 0


def _build(args: argparse.Namespace) -> int:
    from mmgen.data.build import build_musicset_from_audio

    dataset, report = build_musicset_from_audio(
        args.output,
        args.audio_dir,
        args.captions,
        caption=args.caption,
        caption_format=args.format,
        clip_seconds=args.clip_seconds,
        trim_fraction=args.trim_fraction,
        max_clips_per_file=args.max_clips_per_file,
        seed=args.seed,
        num_proc=args.num_proc,
        melody_reduction=args.melody_reduction,
        overwrite=args.overwrite,
        keep_work=args.keep_work,
    )
    print(f"MusicSet saved to {args.output}: " + ", ".join(f"{s} {len(d)}" for s, d in dataset.items()))
    if report["skipped"]:
        print(f"{len(report['skipped'])} input(s) skipped (see {args.output}/build_info.json):")
        for item in report["skipped"][:20]:
            print(f"  {item['input']}: {item['reason']}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="build a MusicSet (audio, caption, melody) dataset")
    commands = parser.add_subparsers(dest="data_command", metavar="<synth|build>", required=True)

    synth = commands.add_parser("synth", help="synthetic MusicSet from the music21 corpus rendered with FluidSynth")
    synth.add_argument(
        "--preset",
        choices=["tiny", "mini", "small", "full"],
        default="tiny",
        help="size: tiny 24 clips, mini 200 clips of 5 s, small 2,000, full 10,000 (10 s clips)",
    )
    synth.add_argument("--output", required=True, help="dataset folder to write (a killed build resumes in it)")
    synth.add_argument("--num-clips", type=int, default=None, help="override the preset's number of clips")
    synth.add_argument("--clip-seconds", type=float, default=None, help="clip length (preset default: 10 s)")
    synth.set_defaults(func=_synth)

    build = commands.add_parser("build", help="MusicSet from your own audio files (captions optional)")
    build.add_argument("--audio-dir", required=True, help="folder holding the audio files (searched recursively)")
    captions = build.add_mutually_exclusive_group()
    captions.add_argument("--captions", default=None,
                          help="caption file (CSV, JSONL, MusicCaps CSV or MusicBench JSON); without it every audio "
                               "file gets a plain caption from its folder's and its own name")  # fmt: skip
    captions.add_argument("--caption", default=None,
                          help="one caption for every audio file (instead of a caption file)")  # fmt: skip
    build.add_argument(
        "--format",
        choices=["csv", "jsonl", "musiccaps", "musicbench"],
        default=None,
        help="caption file layout (default: from the file extension)",
    )
    build.add_argument("--output", required=True, help="dataset folder to write (a killed build resumes in it)")
    build.add_argument("--clip-seconds", type=float, default=10.0, help="clip length in seconds (paper: 10)")
    build.add_argument(
        "--trim-fraction",
        type=float,
        default=0.1,
        help="skip this fraction at the start and the end of long tracks (paper: 0.1)",
    )
    build.add_argument("--max-clips-per-file", type=int, default=None, help="cap the clips cut from one file")
    build.set_defaults(func=_build)

    for command in (synth, build):
        command.add_argument("--seed", type=int, default=0, help="seed for splits and (synth) every random choice")
        command.add_argument("--num-proc", type=int, default=1, help="worker processes")
        command.add_argument(
            "--melody-reduction",
            choices=["skyline", "none"],
            default="skyline",
            help="keep the highest transcribed note at any time (skyline) or every note (none)",
        )
        command.add_argument("--overwrite", action="store_true", help="replace a finished MusicSet in --output")
        command.add_argument("--keep-work", action="store_true", help="keep the per-job work files after saving")
