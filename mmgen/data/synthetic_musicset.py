"""The offline synthetic MusicSet: music21 corpus melodies rendered with FluidSynth, transcribed with Basic Pitch.

Each clip is one rendering of a corpus piece with a random General MIDI instrument (or ensemble), tempo,
transposition, dynamics and optional accompaniment (a bass line and / or block chords chosen bar by bar from the
melody, or the piece's own lower voices for chorales and motets). The `melody` column is Basic Pitch's
transcription of the rendered audio, as in the paper; `melody_gt` holds the score's lead line; the caption is
written from the rendering's facts (`captions.py`). Every random choice comes from a `random.Random` seeded
with (seed, piece, rendering), so a build is deterministic whatever the number of processes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np

from ..audio import SAMPLE_RATE
from ..melody.corpus import COLLECTIONS, CorpusPiece, iter_corpus_pieces
from ..melody.notes import Note, skyline
from ..melody.tokenizer import notes_to_string
from .captions import CaptionWriter, MusicFacts
from .format import SYNTH_COLUMNS, MusicSetError, encode_flac, musicset_features, save_musicset, split_table
from .jobs import Job, JobResult, collect_skipped, load_results, prepare_output, run_jobs

# General MIDI program (0-based) -> (caption name, comfortable lead range as MIDI pitches)
LEAD_INSTRUMENTS: dict[int, tuple[str, tuple[int, int]]] = {
    0: ("piano", (55, 84)),
    4: ("electric piano", (55, 80)),
    6: ("harpsichord", (55, 84)),
    8: ("celesta", (67, 96)),
    11: ("vibraphone", (60, 84)),
    12: ("marimba", (55, 84)),
    19: ("church organ", (55, 79)),
    21: ("accordion", (55, 79)),
    22: ("harmonica", (60, 84)),
    24: ("nylon-string guitar", (52, 76)),
    25: ("steel-string guitar", (52, 76)),
    26: ("jazz guitar", (52, 76)),
    40: ("violin", (60, 88)),
    41: ("viola", (53, 79)),
    42: ("cello", (43, 67)),
    46: ("harp", (55, 84)),
    56: ("trumpet", (58, 79)),
    57: ("trombone", (43, 65)),
    60: ("french horn", (50, 72)),
    64: ("soprano saxophone", (60, 82)),
    65: ("alto saxophone", (55, 77)),
    66: ("tenor saxophone", (48, 72)),
    68: ("oboe", (60, 84)),
    70: ("bassoon", (40, 62)),
    71: ("clarinet", (53, 79)),
    72: ("piccolo", (74, 96)),
    73: ("flute", (62, 91)),
    75: ("pan flute", (62, 86)),
    79: ("ocarina", (62, 84)),
    80: ("square-wave synth lead", (55, 84)),
    81: ("sawtooth synth lead", (55, 84)),
    105: ("banjo", (55, 79)),
    109: ("bagpipe", (62, 79)),
    110: ("fiddle", (60, 88)),
}
# ensemble name -> programs from the top voice down (extra voices reuse the last program)
ENSEMBLES: dict[str, tuple[int, ...]] = {
    "string quartet": (40, 40, 41, 42),
    "brass quartet": (56, 56, 60, 57),
    "woodwind quartet": (73, 68, 71, 70),
    "saxophone quartet": (64, 65, 66, 67),
    "choir": (52, 52, 52, 52),
    "string orchestra": (48, 48, 48, 48),
    "church organ": (19, 19, 19, 19),
    "piano": (0, 0, 0, 0),
}
PROGRAM_NAMES = {
    **{p: name for p, (name, _) in LEAD_INSTRUMENTS.items()},
    32: "acoustic bass",
    33: "electric bass",
    43: "double bass",
    48: "string ensemble",
    52: "choir",
    58: "tuba",
    67: "baritone saxophone",
    89: "warm synth pad",
}
BASS_PROGRAMS = (32, 33, 43, 42, 58)
CHORD_PROGRAMS = (0, 4, 24, 48, 19, 89, 46)
DYNAMIC_LEVELS = {"pp": (40, 0.2), "p": (56, 0.35), "mf": (76, 0.55), "f": (96, 0.75), "ff": (116, 0.9)}
TEMPO_RANGES = {
    "essen": (60, 150),
    "oneills": (80, 180),
    "ryans": (90, 180),
    "airds": (55, 120),
    "bach": (50, 110),
    "palestrina": (50, 100),
}
BEAT_QUARTERS = {"palestrina": 2.0}  # the beat that `bpm` counts, in quarter notes (motets move in half notes)
COLLECTION_WEIGHTS = {"essen": 0.3, "oneills": 0.2, "ryans": 0.1, "airds": 0.1, "bach": 0.15, "palestrina": 0.15}

# preset -> (clips, clip seconds, renderings per piece)
PRESETS = {
    "tiny": (24, 10.0, 2),
    "mini": (200, 5.0, 2),
    "small": (2000, 10.0, 2),
    "full": (10000, 10.0, 2),
}

PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
KEY_NAMES = {
    "major": ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"),
    "minor": ("c", "c#", "d", "eb", "e", "f", "f#", "g", "g#", "a", "bb", "b"),
}
TRIADS = {  # diatonic triads (root offset from the tonic, chord pitch classes relative to the root)
    "major": ((0, (0, 4, 7)), (5, (0, 4, 7)), (7, (0, 4, 7)), (9, (0, 3, 7)), (2, (0, 3, 7))),
    "minor": ((0, (0, 3, 7)), (5, (0, 3, 7)), (7, (0, 4, 7)), (8, (0, 4, 7)), (3, (0, 4, 7))),
}


@dataclass
class SynthJob:
    """One rendering of one piece (picklable: sent to worker processes)."""

    piece: CorpusPiece
    render: int
    clip_seconds: float
    seed: int
    clip_id: str
    melody_reduction: str = "skyline"


def parse_key(key: str) -> tuple[int, str] | None:
    """music21 key text ('g minor', 'B- major', 'f# minor') -> (tonic pitch class, mode); None if unparseable."""
    match = re.fullmatch(r"\s*([A-Ga-g])([#-]*)\s+(major|minor)\s*", key or "")
    if not match:
        return None
    letter, accidentals, mode = match.groups()
    return (PITCH_CLASSES[letter.upper()] + accidentals.count("#") - accidentals.count("-")) % 12, mode


def key_name(tonic: int, mode: str) -> str:
    """(7, 'minor') -> 'g minor' (music21's spelling convention: lower case for minor)."""
    return f"{KEY_NAMES[mode][tonic % 12]} {mode}"


def bar_quarters(meter: str) -> float:
    """Length of a bar in quarter notes ('6/8' -> 3.0); 4.0 when the meter is unknown."""
    match = re.fullmatch(r"(\d+)/(\d+)", meter or "")
    return int(match.group(1)) * 4.0 / int(match.group(2)) if match else 4.0


def register_of(notes: list[Note]) -> str:
    mean = float(np.mean([n.pitch for n in notes]))
    return "low" if mean < 55 else "high" if mean > 74 else "middle"


def _octave_shift(pitches: list[int], low: int, high: int) -> int:
    """Whole octaves that bring the pitches' median into [low, high]."""
    median = float(np.median(pitches))
    return int(12 * round(((low + high) / 2 - median) / 12))


def _window(part: list[tuple[float, float, int]], start_q: float, length_q: float, period_q: float):
    """Notes (quarters) of `part` inside [start_q, start_q + length_q), the piece looped every `period_q`."""
    out = []
    repeats = int(math.ceil((start_q + length_q) / period_q)) + 1
    for r in range(repeats):
        for onset, duration, pitch in part:
            onset_abs = onset + r * period_q
            if start_q <= onset_abs < start_q + length_q:
                out.append((onset_abs - start_q, duration, pitch))
    return out


def _to_notes(part_q, seconds_per_quarter: float, clip_seconds: float, transpose: int, velocity: int) -> list[Note]:
    notes = []
    for onset, duration, pitch in part_q:
        start = onset * seconds_per_quarter
        end = min((onset + duration) * seconds_per_quarter, clip_seconds)
        if start < clip_seconds - 0.05 and end > start and 0 <= pitch + transpose < 128:
            notes.append(Note(start, end, pitch + transpose, velocity))
    return notes


def _accompaniment(lead_q, tonic: int, mode: str, bar_q: float, length_q: float, style: str, rng: random.Random):
    """Bass and chord parts (quarters) for a melody: per bar the diatonic triad covering most of its notes."""
    bass, chords = [], []
    beat = (
        bar_q / 2 if bar_q in (3.0, 1.5) and rng.random() < 0.5 else min(bar_q, 1.0 if rng.random() < 0.5 else bar_q)
    )
    for bar in range(int(math.ceil(length_q / bar_q))):
        lo, hi = bar * bar_q, (bar + 1) * bar_q
        weights = np.zeros(12)
        for onset, duration, pitch in lead_q:
            overlap = min(onset + duration, hi) - max(onset, lo)
            if overlap > 0:
                weights[pitch % 12] += overlap
        best = max(TRIADS[mode], key=lambda t: sum(weights[(tonic + t[0] + i) % 12] for i in t[1]))
        root = (tonic + best[0]) % 12
        if "bass" in style:
            bass_root = 36 + (root - 36) % 12
            bass.append((lo, bar_q * 0.95, bass_root))
        if "chords" in style:
            chord_root = 53 + (root - 53) % 12
            step = beat if beat < bar_q else bar_q
            t = lo
            while t < hi - 1e-6:
                chords.extend((t, step * 0.9, chord_root + i) for i in best[1])
                t += step
    return bass, chords


def render_clip(job: SynthJob) -> JobResult:
    """Render, transcribe and caption one clip (the worker of `build_synthetic_musicset`)."""
    from ..melody.synth import render_parts
    from ..melody.transcribe import extract_notes

    piece, rng = job.piece, random.Random(f"{job.seed}|{job.piece.name}|{job.render}")
    polyphonic = COLLECTIONS[piece.collection][1] and len(piece.parts) > 1
    key = parse_key(piece.key)
    bpm = float(rng.randint(*TEMPO_RANGES[piece.collection]))
    spq = 60.0 / (bpm * BEAT_QUARTERS.get(piece.collection, 1.0))
    clip_q = job.clip_seconds / spq
    bar_q = bar_quarters(piece.meter)
    period_q = max(bar_q * math.ceil(piece.length_quarters / bar_q - 1e-6), bar_q)
    first_bar = int(min(o for o, _, _ in piece.parts[0]) // bar_q)  # motets' top voice may enter late
    max_start_bar = max(first_bar, int(max(0.0, piece.length_quarters - clip_q) // bar_q))
    for attempt in range(4):  # a start with a long rest in the lead is retried elsewhere
        start_bar = first_bar if job.render == 0 and attempt == 0 else rng.randint(first_bar, max_start_bar)
        start_q = bar_q * start_bar
        lead_q = _window(piece.parts[0], start_q, clip_q, period_q)
        if len(lead_q) >= 4:
            break
    else:
        return JobResult(skipped=[{"input": job.clip_id, "reason": f"only {len(lead_q)} lead notes in the clip"}])

    # 1. instruments and accompaniment
    if polyphonic:
        accompaniment = "parts" if rng.random() < 0.75 else "none"
    else:
        accompaniment = rng.choices(("none", "bass", "chords", "bass+chords"), (0.35, 0.2, 0.2, 0.25))[0]
        if key is None:
            accompaniment = "none"
    ensemble = None
    if accompaniment == "parts" and rng.random() < 0.6:
        ensemble = rng.choice(sorted(ENSEMBLES))
        programs = [ENSEMBLES[ensemble][min(i, 3)] for i in range(len(piece.parts))]
    else:
        programs = [rng.choice(sorted(LEAD_INSTRUMENTS))]
        if accompaniment == "parts":
            family = ENSEMBLES[rng.choice(sorted(ENSEMBLES))]
            programs += [family[min(i, 3)] for i in range(1, len(piece.parts))]
        if "bass" in accompaniment:
            programs.append(rng.choice(BASS_PROGRAMS))
        if "chords" in accompaniment:
            programs.append(rng.choice(CHORD_PROGRAMS))

    # 2. pitch: a transposition, then whole octaves so that the lead sits in its instrument's range
    transpose = rng.randint(-5, 6)
    low, high = LEAD_INSTRUMENTS.get(programs[0], ("", (55, 84)))[1]
    transpose += _octave_shift([p + transpose for _, _, p in lead_q], low, high)

    # 3. notes in seconds, with dynamics
    dynamics = rng.choices(list(DYNAMIC_LEVELS), (0.1, 0.2, 0.35, 0.25, 0.1))[0]
    velocity, gain = DYNAMIC_LEVELS[dynamics]
    velocity = int(np.clip(velocity + rng.randint(-6, 6), 1, 127))
    parts = [_to_notes(lead_q, spq, job.clip_seconds, transpose, velocity)]
    if accompaniment == "parts":
        for part in piece.parts[1:]:
            parts.append(
                _to_notes(_window(part, start_q, clip_q, period_q), spq, job.clip_seconds, transpose, velocity - 12)
            )
    elif accompaniment != "none":
        tonic, mode = key
        bass_q, chords_q = _accompaniment(lead_q, tonic, mode, bar_q, clip_q, accompaniment, rng)
        shift = transpose - 12 * round(transpose / 12)  # accompaniment follows the key, not the lead's octave
        if bass_q:
            parts.append(_to_notes(bass_q, spq, job.clip_seconds, shift, velocity - 10))
        if chords_q:
            parts.append(_to_notes(chords_q, spq, job.clip_seconds, shift, velocity - 25))
    parts, programs = zip(*[(p, prog) for p, prog in zip(parts, programs) if p])

    # 4. audio: render, fix the length, apply the dynamics' level
    wave = render_parts(parts, programs)
    n_samples = int(round(job.clip_seconds * SAMPLE_RATE))
    wave = np.pad(wave, (0, max(0, n_samples - len(wave))))[:n_samples] * (gain / 0.9)
    melody_notes = extract_notes(wave, name=job.clip_id)

    # 5. facts and captions
    lead = skyline(parts[0])
    names = [PROGRAM_NAMES.get(p, f"GM program {p}") for p in programs]
    key_text = key_name(key[0] + transpose, key[1]) if key else ""
    facts = MusicFacts(
        instruments=names,
        collection=piece.collection,
        accompaniment=accompaniment,
        ensemble=ensemble,
        bpm=bpm,
        key=key_text or None,
        meter=piece.meter or None,
        register=register_of(lead),
        dynamics=dynamics,
    )
    captions = CaptionWriter(rng.randrange(2**32)).write(facts, n=3)
    row = {
        "id": job.clip_id,
        "audio": encode_flac(wave),
        "caption": captions[0],
        "alt_captions": captions[1:],
        "melody": notes_to_string(melody_notes, job.melody_reduction),
        "source": f"synthetic/{piece.collection}",
        "group": piece.name,
        "start_s": float(start_q * spq),
        "duration_s": float(n_samples / SAMPLE_RATE),
        "melody_gt": notes_to_string(lead),
        "collection": piece.collection,
        "title": piece.title,
        "instruments": names,
        "programs": [int(p) for p in programs],
        "accompaniment": accompaniment,
        "bpm": bpm,
        "key": key_text,
        "meter": piece.meter,
        "transpose": int(transpose),
        "dynamics": dynamics,
        "register": facts.register,
    }
    return JobResult(rows=[row])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _collection_pieces(request: tuple[str, int, int]) -> list[CorpusPiece]:
    """The first `wanted` usable pieces of a collection in the seeded order (a worker of `plan_synthetic_jobs`)."""
    collection, wanted, seed = request
    return [
        p
        for p in iter_corpus_pieces(collection, limit=wanted + 8, seed=seed)
        if ".rntxt" not in p.name and len(p.parts[0]) >= 8  # skip roman-numeral analyses and fragments
    ][:wanted]


def _piece_from_json(data: dict) -> CorpusPiece:
    """Inverse of `dataclasses.asdict` on a `CorpusPiece` read back from JSON (its notes are tuples again)."""
    parts = [[(float(o), float(d), int(p)) for o, d, p in part] for part in data["parts"]]
    return CorpusPiece(**{**data, "parts": parts})


def plan_synthetic_jobs(
    num_clips: int,
    clip_seconds: float,
    seed: int = 0,
    renders_per_piece: int = 2,
    melody_reduction: str = "skyline",
    num_proc: int = 1,
    cache_path: str | os.PathLike | None = None,
) -> list[Job]:
    """Choose the pieces and renderings of a build (parses the music21 corpus; deterministic for a seed).

    Clips are shared among collections by `COLLECTION_WEIGHTS`; each piece gets `renders_per_piece` renderings
    (more when a collection runs out of pieces). Parsing the corpus is the slow part (about 15 CPU-minutes for
    the `full` preset): collections are parsed in `num_proc` processes, and with `cache_path` the chosen pieces
    are kept in a JSON file that a resumed build reads instead of parsing again.
    """
    if num_clips < 1:
        raise MusicSetError(f"num_clips must be at least 1, got {num_clips}")
    if not 1.0 <= clip_seconds <= 60.0:
        raise MusicSetError(f"clip_seconds must be between 1 and 60, got {clip_seconds}")
    names = sorted(COLLECTION_WEIGHTS)
    shares = {c: int(num_clips * COLLECTION_WEIGHTS[c]) for c in names}
    for c in sorted(names, key=lambda c: -COLLECTION_WEIGHTS[c])[: num_clips - sum(shares.values())]:
        shares[c] += 1
    requests = [(c, math.ceil(shares[c] / renders_per_piece), seed) for c in names if shares[c]]
    chosen = _read_plan_cache(cache_path, requests)
    if chosen is None:
        if num_proc > 1 and len(requests) > 1:
            # the largest collections first, so that one slow parse does not finish last
            order = sorted(requests, key=lambda r: -r[1])
            with ProcessPoolExecutor(max_workers=min(num_proc, len(order)), mp_context=get_context("spawn")) as pool:
                chosen = dict(zip([r[0] for r in order], pool.map(_collection_pieces, order)))
        else:
            chosen = {r[0]: _collection_pieces(r) for r in requests}
        _write_plan_cache(cache_path, requests, chosen)
    jobs = []
    for collection, _, _ in requests:
        pieces = chosen[collection]
        if not pieces:
            raise MusicSetError(f"no usable pieces in the music21 collection '{collection}'")
        for i in range(shares[collection]):
            piece, render = pieces[i % len(pieces)], i // len(pieces)
            clip_id = f"{collection}-{_slug(piece.name.split('/', 1)[-1])}-r{render}"
            jobs.append(Job(clip_id, SynthJob(piece, render, clip_seconds, seed, clip_id, melody_reduction)))
    return jobs


def _read_plan_cache(path, requests) -> dict[str, list[CorpusPiece]] | None:
    if path is None or not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("requests") != [list(r) for r in requests]:
            return None  # planned for other arguments
        return {c: [_piece_from_json(p) for p in pieces] for c, pieces in data["pieces"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable or truncated (killed while writing): plan again


def _write_plan_cache(path, requests, chosen) -> None:
    if path is None:
        return
    data = {
        "requests": [list(r) for r in requests],
        "pieces": {c: [dataclasses.asdict(p) for p in ps] for c, ps in chosen.items()},
    }
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)  # atomic: a killed build never leaves half a plan


def build_synthetic_musicset(
    output_dir: str | os.PathLike,
    preset: str = "tiny",
    *,
    num_clips: int | None = None,
    clip_seconds: float | None = None,
    seed: int = 0,
    num_proc: int = 1,
    melody_reduction: str = "skyline",
    progress: bool = True,
    overwrite: bool = False,
    keep_work: bool = False,
):
    """Build (or resume building) a synthetic MusicSet into `output_dir`.

    Args:
        output_dir: the dataset folder (created). A folder left by a killed build is resumed.
        preset (`str`): one of `PRESETS` (tiny 24 clips of 10 s, mini 200 of 5 s, small 2,000, full 10,000).
        num_clips (`int`, *optional*): override the preset's clip count. clip_seconds (`float`, *optional*): ditto.
        seed (`int`): choice of pieces and every rendering decision.
        num_proc (`int`): worker processes. progress (`bool`): show a progress bar.
        melody_reduction (`str`): "skyline" (default) keeps the highest transcribed note at any time in `melody`;
            "none" keeps every note (the official token format then loses timing under long overlapping notes).
        overwrite (`bool`): replace a finished MusicSet in `output_dir`.
        keep_work (`bool`): keep the per-clip work files (``_work/``) after saving.
    Returns:
        the `datasets.DatasetDict` that was saved.
    """
    if preset not in PRESETS:
        raise MusicSetError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    preset_clips, preset_seconds, renders = PRESETS[preset]
    num_clips = preset_clips if num_clips is None else int(num_clips)
    clip_seconds = preset_seconds if clip_seconds is None else float(clip_seconds)
    output_dir = os.fspath(output_dir)
    work_dir = prepare_output(output_dir, overwrite)
    started = time.perf_counter()
    jobs = plan_synthetic_jobs(
        num_clips,
        clip_seconds,
        seed,
        renders,
        melody_reduction,
        num_proc=num_proc,
        cache_path=os.path.join(work_dir, "plan.json"),
    )
    features = musicset_features(SYNTH_COLUMNS)
    run_jobs(jobs, render_clip, work_dir, features, num_proc=num_proc, desc="synth", progress=progress)
    dataset = split_table(load_results(jobs, work_dir, features), seed=seed)
    arguments = {
        "preset": preset,
        "num_clips": num_clips,
        "clip_seconds": clip_seconds,
        "seed": seed,
        "num_proc": num_proc,
        "melody_reduction": melody_reduction,
    }
    info = {
        "builder": "synthetic",
        "arguments": arguments,
        "build_seconds": time.perf_counter() - started,
        "report": {"skipped": collect_skipped(jobs, work_dir)},
        "description": SYNTH_DESCRIPTION,
        "license": SYNTH_LICENSE,
    }
    save_musicset(dataset, output_dir, info)
    if not keep_work:
        shutil.rmtree(work_dir, ignore_errors=True)
    return dataset


SYNTH_DESCRIPTION = (
    "Synthetic build (`python -m mmgen data synth`). Melodies come from the music21 corpus (Essen folk songs, "
    "O'Neill's Music of Ireland, Ryan's Mammoth Collection, Aird's Airs, Bach chorales, Palestrina). Each clip is "
    "one rendering of a piece with FluidSynth (FluidR3 GM soundfont where installed) at 22,050 Hz: a random lead "
    "instrument out of 34 General MIDI programs or one of 8 ensembles, a random tempo, transposition (-5..+6 "
    "semitones, then whole octaves into the instrument's range) and dynamics (pp..ff), and for folk tunes an "
    "optional bass line and/or block chords chosen bar by bar from the melody (chorales and motets keep their own "
    "lower voices). Pieces shorter than a clip are looped. `melody` is the Basic Pitch (ICASSP 2022, ONNX) "
    "transcription of the rendered clip, as in the paper (reduced to its skyline, the highest note at any time, "
    "unless built with melody_reduction='none'); `melody_gt` is the lead line of the score. Captions "
    "are written from the rendering's facts by a seeded template writer with varied phrasing (no LLM offline)."
)
SYNTH_LICENSE = (
    "Source scores: the music21 corpus (public-domain works; see music21's corpus licence notes). Soundfont: "
    "FluidR3_GM (MIT). The rendered audio, captions and melodies are derived data released with MMGen."
)
