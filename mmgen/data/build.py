"""MusicSet from the user's own audio: a folder of files, optionally with captions (CSV, JSONL, MusicCaps CSV,
MusicBench JSON); without a caption file every file gets a plain caption (`plain_caption`, or one text for all).

As in the paper: each track is cut into clips (10 s by default), skipping the first and last 10% of long tracks;
each clip is transcribed with Basic Pitch; every caption is kept (the first in `caption`, the others in
`alt_captions`). Unreadable, corrupt, missing and silent inputs are skipped and listed in the report
(``build_info.json`` and the dataset card); the build never stops on them. Work is done per file with
`jobs.run_jobs`, so a killed build resumes where it stopped and `num_proc` processes share the files.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import os
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ..audio import SAMPLE_RATE, AudioError
from ..melody.tokenizer import notes_to_string
from .format import AUDIO_COLUMNS, MusicSetError, encode_flac, musicset_features, save_musicset, split_table
from .jobs import Job, JobResult, collect_skipped, load_results, prepare_output, run_jobs

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus")
CAPTION_FORMATS = ("csv", "jsonl", "musiccaps", "musicbench")
FILE_KEYS = ("file", "path", "audio", "filename", "file_name", "audio_path", "location")
CAPTION_KEYS = ("caption", "text", "description", "main_caption")
SILENT_PEAK_DB = -60.0  # a clip whose peak is below this is skipped as silent
MIN_CLIP_SECONDS = 1.0


@dataclass
class CaptionRecord:
    """One caption row: the audio file it describes, optionally a segment of it, its text and tags."""

    file: str
    caption: str
    start_s: float | None = None
    end_s: float | None = None
    alt_captions: list[str] = field(default_factory=list)
    aspects: list[str] = field(default_factory=list)


@dataclass
class FileJob:
    """Everything a worker needs to cut, check and transcribe one audio file (picklable)."""

    path: str
    name: str  # path relative to the audio folder: the row's `source` and `group`
    records: list[CaptionRecord]
    clip_seconds: float
    trim_fraction: float
    long_track_seconds: float
    max_clips: int | None
    melody_reduction: str = "skyline"


# --- caption files -------------------------------------------------------------------------------------------
def _first(row: dict, keys: tuple[str, ...]):
    return next((row[k] for k in keys if row.get(k) not in (None, "")), None)


def _float_or_none(value) -> float | None:
    return None if value in (None, "") else float(value)


def _parse_aspects(value) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    try:  # MusicCaps writes Python-literal lists: "['pop', 'tinny wide hi hats']"
        parsed = ast.literal_eval(value)
        if isinstance(parsed, (list, tuple)):
            return [str(v) for v in parsed]
    except (ValueError, SyntaxError):
        pass
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _read_rows(path: str, fmt: str) -> list[dict]:
    with open(path, encoding="utf-8-sig") as f:
        if fmt in ("csv", "musiccaps"):
            return list(csv.DictReader(f))
        text = f.read().strip()
    if fmt == "musicbench" and text.startswith("["):
        return json.loads(text)
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise MusicSetError(f"'{path}' line {number} is not valid JSON ({err})") from err
    return rows


def read_caption_file(path: str | os.PathLike, caption_format: str | None = None) -> list[CaptionRecord]:
    """Read a caption file into `CaptionRecord`s.

    Layouts:
        - ``csv`` / ``jsonl``: a file column (`file`, `path`, `audio`, `filename`, `location`, ...), a caption
          column (`caption`, `text` or `description`), optional `start_s` / `end_s` and `aspects` / `tags`.
        - ``musiccaps``: the public MusicCaps CSV (`ytid,start_s,end_s,aspect_list,caption,...`); the audio is
          looked up as a file named after the `ytid`.
        - ``musicbench``: MusicBench JSON (lines or one list) with `location`, `main_caption`, `alt_caption`.
    Raises:
        MusicSetError: unknown format, missing file, or rows without a file or a caption.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MusicSetError(f"caption file '{path}' does not exist")
    fmt = caption_format or {".csv": "csv", ".jsonl": "jsonl", ".json": "musicbench"}.get(os.path.splitext(path)[1])
    if fmt not in CAPTION_FORMATS:
        raise MusicSetError(f"caption format must be one of {CAPTION_FORMATS}, got {fmt!r} for '{path}'")
    records = []
    for number, row in enumerate(_read_rows(path, fmt), 1):
        if fmt == "musiccaps":
            file, caption = row.get("ytid"), row.get("caption")
            alts, aspects = [], _parse_aspects(row.get("aspect_list"))
        elif fmt == "musicbench":
            file, caption = row.get("location"), row.get("main_caption")
            alts = [row["alt_caption"]] if row.get("alt_caption") else []
            aspects = []
        else:
            file, caption = _first(row, FILE_KEYS), _first(row, CAPTION_KEYS)
            alts, aspects = [], _parse_aspects(row.get("aspects") or row.get("tags"))
        if not file or not caption:
            raise MusicSetError(f"'{path}' row {number} lacks a file or a caption ({fmt} layout): {row}")
        start = _float_or_none(row.get("start_s", row.get("start")))
        end = _float_or_none(row.get("end_s", row.get("end")))
        records.append(CaptionRecord(str(file), str(caption).strip(), start, end, alts, aspects))
    if not records:
        raise MusicSetError(f"caption file '{path}' holds no rows")
    return records


def _humanize(text: str) -> str:
    words = re.sub(r"[_\-.]+", " ", text)
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", words)  # camelCase -> camel Case
    return re.sub(r"\s+", " ", words).strip().lower()


def plain_caption(relative_path: str, audio_dir: str) -> str:
    """The caption of a file that has none: its folder's name as the style, its file name as the title.

    ``jazz_trio/Sunday Waltz.wav`` under ``/music`` -> ``"jazz trio music, sunday waltz"``, ``my_songs/a.wav`` ->
    ``"my songs, a"`` (`audio_dir`'s own name when the file sits directly in it).
    """
    folder = os.path.dirname(relative_path) or os.path.basename(os.path.normpath(os.path.abspath(audio_dir)))
    title = _humanize(os.path.splitext(os.path.basename(relative_path))[0])
    style = _humanize(folder.replace(os.sep, " ")) or "my"
    style = style if style.endswith(("music", "songs", "tunes")) else f"{style} music"  # not "my music music"
    return f"{style}, {title}" if title else style


def audio_files(audio_dir: str) -> list[str]:
    """Every file with an audio extension under `audio_dir` (recursively, sorted), relative to it."""
    found = []
    for root, dirs, files in os.walk(audio_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.lower().endswith(AUDIO_EXTENSIONS) and not name.startswith("."):
                found.append(os.path.relpath(os.path.join(root, name), audio_dir))
    return found


def plain_caption_records(audio_dir: str, caption: str | None = None) -> list[CaptionRecord]:
    """One whole-file `CaptionRecord` per audio file of `audio_dir`: `caption` for all, or `plain_caption` each.

    Raises:
        MusicSetError: the folder holds no file with an audio extension.
    """
    files = audio_files(audio_dir)
    if not files:
        raise MusicSetError(
            f"audio folder '{audio_dir}' holds no audio file (looked for {', '.join(AUDIO_EXTENSIONS)})"
        )
    if caption is not None and not caption.strip():
        raise MusicSetError("caption must not be empty")
    return [CaptionRecord(rel, caption.strip() if caption else plain_caption(rel, audio_dir)) for rel in files]


def _index_audio(audio_dir: str) -> dict[str, list[str]]:
    """Map relative path, basename and stem (lower case) of every audio file under `audio_dir` to paths."""
    index: dict[str, list[str]] = {}
    for root, _, files in os.walk(audio_dir):
        for name in sorted(files):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, audio_dir)
            for key in {rel, name, os.path.splitext(name)[0]}:
                index.setdefault(key.lower(), []).append(full)
    return index


def resolve_audio(file: str, audio_dir: str, index: dict[str, list[str]]) -> str | None:
    """Find the audio file a caption row names: as given, relative to `audio_dir`, by basename or by stem."""
    if os.path.isabs(file) and os.path.isfile(file):
        return file
    for key in (file, os.path.basename(file), os.path.splitext(os.path.basename(file))[0]):
        hits = index.get(key.lower())
        if hits:
            return hits[0]
    stem = os.path.splitext(os.path.basename(file))[0].lower()  # MusicCaps downloads: "<ytid>_30.wav" and similar
    hits = [p for k, paths in index.items() if k.startswith(stem) for p in paths]
    return sorted(hits)[0] if hits else None


# --- the per-file worker -------------------------------------------------------------------------------------
def clip_starts(duration: float, clip_seconds: float, trim_fraction: float, long_track_seconds: float) -> list[float]:
    """Start times of the clips cut from a track of `duration` seconds.

    Tracks longer than `long_track_seconds` lose `trim_fraction` at each end; the rest is cut into consecutive
    clips, the last one kept if at least half a clip long. Shorter tracks give one clip (if >= 1 s).
    """
    lo, hi = 0.0, duration
    if duration > long_track_seconds:
        lo, hi = duration * trim_fraction, duration * (1.0 - trim_fraction)
    if hi - lo < MIN_CLIP_SECONDS:
        return []
    starts = list(np.arange(lo, hi - clip_seconds + 1e-6, clip_seconds)) if hi - lo >= clip_seconds else [lo]
    if starts and hi - (starts[-1] + clip_seconds) >= clip_seconds / 2:
        starts.append(starts[-1] + clip_seconds)
    return [float(s) for s in starts]


def _segments(job: FileJob, duration: float) -> tuple[list[tuple[float, float, CaptionRecord, list[str]]], list[dict]]:
    """(start, length, record, alt captions) of every clip of the file, and skipped segments."""
    segments, skipped = [], []
    whole = [r for r in job.records if r.start_s is None]
    if whole:  # one row per file: every caption describes every clip
        captions = [r.caption for r in whole] + [a for r in whole for a in r.alt_captions]
        starts = clip_starts(duration, job.clip_seconds, job.trim_fraction, job.long_track_seconds)
        if job.max_clips is not None and len(starts) > job.max_clips:
            starts = [starts[i] for i in np.linspace(0, len(starts) - 1, job.max_clips).round().astype(int)]
        for start in starts:
            segments.append((start, min(job.clip_seconds, duration - start), whole[0], captions[1:]))
    for record in (r for r in job.records if r.start_s is not None):
        end = record.end_s if record.end_s is not None else record.start_s + job.clip_seconds
        start = record.start_s
        if duration + 0.5 < end:
            if duration <= (end - start) + 1.0:  # the file is the segment itself (e.g. a cut MusicCaps clip)
                start, end = 0.0, duration
            else:
                skipped.append(
                    {
                        "input": f"{job.name}@{start:g}-{end:g}s",
                        "reason": f"segment ends after the file ({duration:.1f} s)",
                    }
                )
                continue
        t = start
        while end - t >= MIN_CLIP_SECONDS and (t == start or end - t >= job.clip_seconds / 2):
            segments.append((t, min(job.clip_seconds, end - t), record, record.alt_captions))
            t += job.clip_seconds
    return segments, skipped


def process_audio_file(job: FileJob) -> JobResult:
    """Cut, check and transcribe one file (the worker of `build_musicset_from_audio`). Never raises on bad audio."""
    import soundfile as sf

    from ..audio import load_audio
    from ..melody.transcribe import extract_notes

    try:
        info = sf.info(job.path)
        duration = info.frames / info.samplerate
    except Exception as err:  # soundfile raises several types for corrupt or unsupported files
        return JobResult(skipped=[{"input": job.name, "reason": f"unreadable ({type(err).__name__}: {err})"}])
    if duration <= 0:
        return JobResult(skipped=[{"input": job.name, "reason": "empty (0 samples)"}])
    segments, skipped = _segments(job, duration)
    if not segments and not skipped:
        skipped.append({"input": job.name, "reason": f"too short ({duration:.2f} s)"})
    rows, silent = [], 0
    for start, length, record, alts in segments:
        label = f"{job.name}@{start:.1f}s"
        try:
            wave = load_audio(job.path, SAMPLE_RATE, max_duration_s=None, offset_s=start, duration_s=length)
        except AudioError as err:
            skipped.append({"input": label, "reason": f"unreadable ({err})"})
            continue
        peak = float(np.max(np.abs(wave)))
        if peak < 10 ** (SILENT_PEAK_DB / 20):
            silent += 1
            continue
        notes = extract_notes(wave, name=label)
        rows.append(
            {
                "id": f"{_slug(job.name)}-{int(round(start * 1000)):08d}",
                "audio": encode_flac(wave),
                "caption": record.caption,
                "alt_captions": list(alts),
                "melody": notes_to_string(notes, job.melody_reduction),
                "source": job.name,
                "group": job.name,
                "start_s": float(start),
                "duration_s": float(len(wave) / SAMPLE_RATE),
                "aspects": record.aspects,
            }
        )
    if silent:
        what = "silent" if not rows else f"{silent} silent clip(s) skipped"
        skipped.append({"input": job.name, "reason": f"{what} (peak below {SILENT_PEAK_DB:g} dBFS)"})
    return JobResult(rows=rows, skipped=skipped)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _job_key(name: str) -> str:
    return f"{_slug(name)[:60]}-{hashlib.sha1(name.encode()).hexdigest()[:10]}"


# --- the builder ---------------------------------------------------------------------------------------------
def plan_audio_jobs(
    audio_dir: str,
    records: list[CaptionRecord],
    *,
    clip_seconds: float = 10.0,
    trim_fraction: float = 0.1,
    long_track_seconds: float | None = None,
    max_clips_per_file: int | None = None,
    melody_reduction: str = "skyline",
) -> tuple[list[Job], list[dict]]:
    """Group caption rows by audio file into jobs; rows whose file cannot be found are returned as skipped."""
    index = _index_audio(audio_dir)
    by_file: OrderedDict[str, list[CaptionRecord]] = OrderedDict()
    skipped = []
    for record in records:
        path = resolve_audio(record.file, audio_dir, index)
        if path is None:
            skipped.append({"input": record.file, "reason": "audio file not found"})
        else:
            by_file.setdefault(path, []).append(record)
    long_track = 2 * clip_seconds if long_track_seconds is None else long_track_seconds
    jobs = []
    for path, file_records in by_file.items():
        name = os.path.relpath(path, audio_dir)
        payload = FileJob(
            path, name, file_records, clip_seconds, trim_fraction, long_track, max_clips_per_file, melody_reduction
        )
        jobs.append(Job(_job_key(name), payload))
    return jobs, skipped


def build_musicset_from_audio(
    output_dir: str | os.PathLike,
    audio_dir: str | os.PathLike,
    captions: str | os.PathLike | None = None,
    *,
    caption: str | None = None,
    caption_format: str | None = None,
    clip_seconds: float = 10.0,
    trim_fraction: float = 0.1,
    long_track_seconds: float | None = None,
    max_clips_per_file: int | None = None,
    seed: int = 0,
    num_proc: int = 1,
    melody_reduction: str = "skyline",
    progress: bool = True,
    overwrite: bool = False,
    keep_work: bool = False,
):
    """Build (or resume building) a MusicSet from audio files on disk.

    Args:
        output_dir: the dataset folder (created; a folder left by a killed build is resumed).
        audio_dir: folder with the audio (searched recursively).
        captions (*optional*): the caption file; without it every audio file of the folder is used, captioned with
            `caption` or, when that is not given either, with `plain_caption` (folder and file name).
        caption (`str`, *optional*): one caption for every file (only without `captions`).
        caption_format (`str`, *optional*): csv, jsonl, musiccaps or musicbench (default: from the extension).
        clip_seconds (`float`): clip length. trim_fraction (`float`): part of long tracks skipped at each end.
        long_track_seconds (`float`, *optional*): tracks longer than this are trimmed (default 2 clips).
        max_clips_per_file (`int`, *optional*): keep at most this many evenly spaced clips per file.
        melody_reduction (`str`): "skyline" (default: highest transcribed note at any time) or "none".
        seed (`int`): split seed. num_proc (`int`): worker processes. progress (`bool`): progress bar.
        overwrite (`bool`): replace a finished MusicSet. keep_work (`bool`): keep ``_work/`` after saving.
    Returns:
        (`datasets.DatasetDict`, report `dict` with ``skipped``: list of ``{"input", "reason"}``).
    """
    audio_dir, output_dir = os.fspath(audio_dir), os.fspath(output_dir)
    if not os.path.isdir(audio_dir):
        raise MusicSetError(f"audio folder '{audio_dir}' does not exist")
    if not 1.0 <= clip_seconds <= 60.0:
        raise MusicSetError(f"clip_seconds must be between 1 and 60, got {clip_seconds}")
    if not 0.0 <= trim_fraction < 0.5:
        raise MusicSetError(f"trim_fraction must be in [0, 0.5), got {trim_fraction}")
    if captions is not None and caption is not None:
        raise MusicSetError("give a caption file or one caption for every file, not both")
    if captions is not None:
        records = read_caption_file(captions, caption_format)
    else:
        records = plain_caption_records(audio_dir, caption)
    work_dir = prepare_output(output_dir, overwrite)
    started = time.perf_counter()
    jobs, missing = plan_audio_jobs(
        audio_dir, records, clip_seconds=clip_seconds, trim_fraction=trim_fraction,
        long_track_seconds=long_track_seconds, max_clips_per_file=max_clips_per_file,
        melody_reduction=melody_reduction,
    )  # fmt: skip
    features = musicset_features(AUDIO_COLUMNS)
    run_jobs(jobs, process_audio_file, work_dir, features, num_proc=num_proc, desc="audio files", progress=progress)
    # No job wrote rows (every file skipped): report why instead of loading an empty table.
    produced = any(os.path.isfile(os.path.join(work_dir, f"{job.key}.arrow")) for job in jobs)
    table = load_results(jobs, work_dir, features) if produced else []
    if len(table) == 0:
        skipped = missing + collect_skipped(jobs, work_dir)
        reasons = "; ".join(f"{item['input']}: {item['reason']}" for item in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        raise MusicSetError(f"no usable clip in '{audio_dir}': {reasons or 'no input'}{more}")
    dataset = split_table(table, seed=seed)
    report = {"skipped": missing + collect_skipped(jobs, work_dir), "files": len(jobs), "clips": len(table)}
    arguments = {
        "audio_dir": audio_dir, "captions": os.fspath(captions) if captions is not None else None,
        "caption": caption, "caption_format": caption_format,
        "clip_seconds": clip_seconds, "trim_fraction": trim_fraction, "long_track_seconds": long_track_seconds,
        "max_clips_per_file": max_clips_per_file, "seed": seed, "num_proc": num_proc,
        "melody_reduction": melody_reduction,
    }  # fmt: skip
    info = {
        "builder": "audio",
        "arguments": arguments,
        "build_seconds": time.perf_counter() - started,
        "report": report,
        "description": AUDIO_DESCRIPTION.format(clip=clip_seconds, trim=trim_fraction),
    }
    save_musicset(dataset, output_dir, info)
    if not keep_work:
        import shutil

        shutil.rmtree(work_dir, ignore_errors=True)
    return dataset, report


AUDIO_DESCRIPTION = (
    "Built from the user's own audio (`python -m mmgen data build`), following the paper's MusicSet recipe: "
    "each track is cut into {clip:g} s clips, skipping the first and last {trim:.0%} of tracks longer than two "
    "clips; each clip is transcribed with Basic Pitch (ICASSP 2022, ONNX) into official MMGen melody tokens "
    "(reduced to the skyline, the highest note at any time, unless melody_reduction='none'); "
    "all captions of a file are kept (`caption` and `alt_captions`; files without a caption file get a plain one "
    "made of their folder's and their own name). Silent clips (peak below -60 dBFS) and "
    "unreadable files are skipped and listed below."
)
