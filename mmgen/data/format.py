"""The MusicSet on-disk format: schema, audio encoding, splits by source piece, the dataset card, loading.

A MusicSet is a `datasets.DatasetDict` saved with `save_to_disk`, with splits ``train``, ``validation`` and
``test`` (8:1:1 by rows, cut between source pieces / recordings so that no piece is in two splits), a
``README.md`` dataset card and a ``build_info.json`` (the builder's arguments, counts, timings, skipped files).

Audio is stored as FLAC bytes (22,050 Hz mono, 16 bit) in a plain ``binary`` column, so that the folder is
self-contained and decodes with soundfile alone (datasets' ``Audio`` feature needs torchcodec, which does not
load here).
"""

from __future__ import annotations

import io
import json
import os
import random
from collections.abc import Mapping, Sequence

import numpy as np

from ..audio import SAMPLE_RATE, AudioError

SPLITS = ("train", "validation", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
FORMAT_VERSION = 1

# column -> (datasets dtype, description for the card). Every MusicSet has these columns, in this order.
CORE_COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("string", "unique clip id"),
    "audio": ("binary", "FLAC bytes, 22,050 Hz mono, 16 bit; decode with `mmgen.data.decode_audio(row)`"),
    "caption": ("string", "text description of the clip"),
    "alt_captions": ("list", "further descriptions of the same clip (other phrasings / other annotators)"),
    "melody": ("string", "official MMGen melody tokens of the notes Basic Pitch transcribes from `audio`"),
    "source": ("string", "where the clip comes from (`synthetic/<collection>`, or the input file's path)"),
    "group": ("string", "source piece or recording; splits never share a group"),
    "start_s": ("float32", "start of the clip in the source, seconds"),
    "duration_s": ("float32", "length of the clip, seconds"),
}
# Extra columns of the synthetic builder (ground truth and the facts its captions were written from).
SYNTH_COLUMNS: dict[str, tuple[str, str]] = {
    "melody_gt": ("string", "melody tokens of the ground-truth lead line (score notes inside the clip)"),
    "collection": ("string", "music21 corpus collection of the source piece"),
    "title": ("string", "title of the source piece, where the corpus has one"),
    "instruments": ("list", "instrument names, lead first"),
    "programs": ("list_int", "General MIDI programs (0-based), lead first"),
    "accompaniment": ("string", "none, bass, chords, bass+chords or parts (the piece's own lower voices)"),
    "bpm": ("float32", "tempo, quarter notes per minute"),
    "key": ("string", "key after transposition, e.g. 'g minor'"),
    "meter": ("string", "time signature, e.g. '6/8'"),
    "transpose": ("int32", "semitones the score was transposed by"),
    "dynamics": ("string", "pp, p, mf, f or ff"),
    "register": ("string", "low, middle or high (mean pitch of the lead line)"),
}
# Extra columns of the own-audio builder.
AUDIO_COLUMNS: dict[str, tuple[str, str]] = {
    "aspects": ("list", "tags from the caption file (MusicCaps `aspect_list`), if any"),
}


class MusicSetError(ValueError):
    """Raised for a MusicSet that cannot be used: missing folder or split, wrong columns, bad builder input."""


def _feature(kind: str):
    import datasets

    if kind == "list":
        return datasets.Sequence(datasets.Value("string"))
    if kind == "list_int":
        return datasets.Sequence(datasets.Value("int32"))
    return datasets.Value(kind)


def musicset_features(extra: Mapping[str, tuple[str, str]] | None = None):
    """The `datasets.Features` of a MusicSet: `CORE_COLUMNS` followed by `extra` (e.g. `SYNTH_COLUMNS`)."""
    import datasets

    columns = {**CORE_COLUMNS, **(extra or {})}
    return datasets.Features({name: _feature(kind) for name, (kind, _) in columns.items()})


def encode_flac(waveform: np.ndarray, sr: int = SAMPLE_RATE) -> bytes:
    """Encode a mono float waveform `(samples,)` as 16-bit FLAC bytes (clipped to [-1, 1])."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.clip(np.asarray(waveform, dtype=np.float32), -1.0, 1.0), sr, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def decode_audio(row_or_bytes, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Decode a MusicSet clip.

    Args:
        row_or_bytes: a dataset row (a mapping with an ``audio`` entry), or the encoded bytes themselves.
        sr (`int`): the sample rate wanted (clips are stored at 22,050 Hz; other rates are resampled).
    Returns:
        `np.ndarray` float32 of shape `(samples,)`.
    """
    from ..audio import load_audio

    data = row_or_bytes["audio"] if isinstance(row_or_bytes, Mapping) else row_or_bytes
    if isinstance(data, Mapping):  # tolerate the `Audio(decode=False)` layout {"bytes": ..., "path": ...}
        data = data.get("bytes") or data.get("path")
    if data is None:
        raise AudioError("the row has no audio")
    return load_audio(data, sr, max_duration_s=None)


def assign_splits(
    groups: Sequence[str], seed: int = 0, fractions: Sequence[float] = SPLIT_FRACTIONS
) -> dict[str, str]:
    """Assign whole groups (source pieces / recordings) to splits so that row counts approach `fractions`.

    Groups are visited in a seeded random order; each goes to the split furthest below its target row count.
    With at least three groups, validation and test each receive at least one.

    Args:
        groups (`Sequence[str]`): the group of every row (repeats expected).
        seed (`int`): shuffling seed.
        fractions: target fractions of rows for `SPLITS`.
    Returns:
        `dict` group -> split name.
    """
    if len(fractions) != len(SPLITS) or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise MusicSetError(
            f"split fractions must be {len(SPLITS)} non-negative numbers summing to 1, got {fractions}"
        )
    sizes: dict[str, int] = {}
    for group in groups:
        sizes[group] = sizes.get(group, 0) + 1
    order = sorted(sizes)
    random.Random(seed).shuffle(order)
    total = sum(sizes.values())
    counts = dict.fromkeys(SPLITS, 0)
    assignment: dict[str, str] = {}
    forced = [s for s, f in zip(SPLITS[1:], fractions[1:]) if f > 0] if len(order) >= 3 else []
    for group in order:
        if forced:
            split = forced.pop(0)
        else:
            split = max(SPLITS, key=lambda s: fractions[SPLITS.index(s)] * total - counts[s])
        assignment[group] = split
        counts[split] += sizes[group]
    return assignment


def split_table(table, seed: int = 0):
    """Split a `datasets.Dataset` with a ``group`` column into a `DatasetDict` of `SPLITS` (rows sorted by id)."""
    import datasets

    assignment = assign_splits(table["group"], seed=seed)
    split_of = [assignment[g] for g in table["group"]]
    result = {}
    for split in SPLITS:
        indices = [i for i, s in enumerate(split_of) if s == split]
        part = table.select(indices)
        result[split] = part.sort("id") if len(part) else part
    return datasets.DatasetDict(result)


def _card_yaml(counts: Mapping[str, int]) -> str:
    size = sum(counts.values())
    category = "n<1K" if size < 1000 else "1K<n<10K" if size < 10000 else "10K<n<100K"
    return "\n".join(
        [
            "---",
            "task_categories:",
            "- text-to-audio",
            "tags:",
            "- music",
            "- melody",
            "- mmgen",
            f"size_categories: {category}",
            "---",
        ]
    )


def write_dataset_card(path: str | os.PathLike, dataset_dict, info: Mapping) -> str:
    """Write ``README.md`` (a dataset card) into the MusicSet folder `path`; returns the card text.

    Args:
        dataset_dict (`datasets.DatasetDict`): the saved splits (for counts and hours).
        info (`Mapping`): ``builder`` ("synthetic" / "audio"), ``description`` (how it was made), ``arguments``
            (the builder's arguments), optional ``report`` (skipped files) and ``build_seconds``.
    """
    counts = {split: len(dataset_dict[split]) for split in dataset_dict}
    hours = {
        split: float(np.sum(dataset_dict[split]["duration_s"])) / 3600 if counts[split] else 0.0 for split in counts
    }
    groups = {split: len(set(dataset_dict[split]["group"])) for split in counts}
    columns = {**CORE_COLUMNS, **SYNTH_COLUMNS, **AUDIO_COLUMNS}
    names = next(iter(dataset_dict.values())).column_names
    lines = [
        _card_yaml(counts),
        "",
        f"# MusicSet ({info.get('builder', 'unknown')} build)",
        "",
        "A tri-modal music dataset for MMGen: every row holds an audio clip, a caption and a melody token",
        "string (Basic Pitch transcription of the clip, official MMGen token format). Load it with",
        "`mmgen.data.load_musicset(path)`; decode audio with `mmgen.data.decode_audio(row)`.",
        "",
        "## How it was made",
        "",
        str(info.get("description", "")),
        "",
        "## Splits",
        "",
        "| split | clips | source pieces / recordings | hours |",
        "|---|---|---|---|",
        *(f"| {s} | {counts[s]} | {groups[s]} | {hours[s]:.3f} |" for s in counts),
        f"| total | {sum(counts.values())} | {sum(groups.values())} | {sum(hours.values()):.3f} |",
        "",
        "Splits are 8:1:1 by rows, cut between source pieces (synthetic) or source recordings (own audio), so",
        "that no piece appears in two splits.",
        "",
        "## Columns",
        "",
        "| column | description |",
        "|---|---|",
        *(f"| `{name}` | {columns[name][1] if name in columns else ''} |" for name in names),
        "",
        "## Builder arguments",
        "",
        "```json",
        json.dumps(info.get("arguments", {}), indent=2, sort_keys=True, default=str),
        "```",
    ]
    if info.get("build_seconds") is not None:
        lines += ["", f"Build time: {float(info['build_seconds']):.1f} s."]
    report = info.get("report") or {}
    if report.get("skipped"):
        lines += ["", "## Skipped inputs", "", "| input | reason |", "|---|---|"]
        lines += [f"| `{item['input']}` | {item['reason']} |" for item in report["skipped"][:200]]
        if len(report["skipped"]) > 200:
            lines.append(f"| ... | {len(report['skipped']) - 200} more in build_info.json |")
    if info.get("license"):
        lines += ["", "## Licence", "", str(info["license"])]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(path, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)
    return text


def save_musicset(dataset_dict, path: str | os.PathLike, info: Mapping) -> None:
    """Save the splits, ``build_info.json`` and the dataset card into `path`."""
    path = os.fspath(path)
    dataset_dict.save_to_disk(path)
    counts = {split: len(dataset_dict[split]) for split in dataset_dict}
    with open(os.path.join(path, "build_info.json"), "w", encoding="utf-8") as f:
        json.dump({"format_version": FORMAT_VERSION, "counts": counts, **info}, f, indent=2, default=str)
    write_dataset_card(path, dataset_dict, info)


def load_musicset(path: str | os.PathLike):
    """Load a MusicSet folder as a `datasets.DatasetDict` with splits ``train``, ``validation``, ``test``.

    Raises:
        MusicSetError: the folder is missing, is not a saved DatasetDict, or lacks a split or a core column.
    """
    import datasets

    path = os.fspath(path)
    if not os.path.isdir(path):
        raise MusicSetError(f"MusicSet folder '{path}' does not exist")
    if not os.path.isfile(os.path.join(path, "dataset_dict.json")):
        raise MusicSetError(f"'{path}' is not a saved MusicSet (no dataset_dict.json; build one with `mmgen data`)")
    dataset_dict = datasets.load_from_disk(path)
    missing_splits = [s for s in SPLITS if s not in dataset_dict]
    if missing_splits:
        raise MusicSetError(f"MusicSet '{path}' lacks the split(s) {missing_splits}")
    for split in SPLITS:
        missing = [c for c in CORE_COLUMNS if c not in dataset_dict[split].column_names]
        if missing:
            raise MusicSetError(f"MusicSet '{path}' split '{split}' lacks the column(s) {missing}")
    return dataset_dict
