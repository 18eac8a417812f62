"""Symbolic music from the music21 corpus (shipped inside the package, so available offline).

Pieces are kept in quarter-note units so that callers choose the tempo; `CorpusPiece.to_notes` turns a part
into seconds. Used by the synthetic MusicSet and the benchmarks.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from .notes import Note, sort_notes

# collection -> (style words for captions, whether pieces are polyphonic, how the corpus stores them)
COLLECTIONS = {
    "essen": ("a European folk song", False, "essenFolksong"),
    "oneills": ("an Irish dance tune", False, "oneills1850"),
    "ryans": ("a fiddle tune from Ryan's Mammoth Collection", False, "ryansMammoth"),
    "airds": ("a Scottish air", False, "airdsAirs"),
    "bach": ("a Bach chorale", True, "bach"),
    "palestrina": ("a Renaissance motet by Palestrina", True, "palestrina"),
}


SCORE_EXTENSIONS = (".mxl", ".xml", ".musicxml", ".krn", ".abc", ".mid", ".midi")


@dataclass
class CorpusPiece:
    """One piece: parts as (onset, duration, pitch) in quarter notes, plus what a caption can say about it."""

    name: str
    collection: str
    parts: list[list[tuple[float, float, int]]]
    key: str  # e.g. "g minor"
    meter: str  # e.g. "4/4"
    title: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def length_quarters(self) -> float:
        return max((o + d for part in self.parts for o, d, _ in part), default=0.0)

    def to_notes(self, bpm: float, part: int | None = None, transpose: int = 0, velocity: int = 90) -> list[Note]:
        """Notes in seconds at `bpm` quarter notes per minute; `part=None` merges all parts."""
        seconds = 60.0 / bpm
        parts = self.parts if part is None else [self.parts[part]]
        return sort_notes(
            Note(o * seconds, (o + d) * seconds, min(max(p + transpose, 0), 127), velocity)
            for notes in parts
            for o, d, p in notes
        )


def _corpus_paths(collection: str) -> list[str]:
    from music21 import corpus

    folder = COLLECTIONS[collection][2]
    # Scores only: the bach folder also holds Roman-numeral analyses (*.rntxt), which parse as block chords.
    return sorted(
        str(p)
        for p in corpus.getPaths()
        if f"{os.sep}{folder}{os.sep}" in str(p) and str(p).endswith(SCORE_EXTENSIONS)
    )


def _piece_from_score(score, name: str, collection: str) -> CorpusPiece | None:
    parts = []
    for part in score.parts:
        notes = []
        for element in part.stripTies().flatten().notes:
            onset, duration = float(element.offset), float(element.quarterLength)
            if duration <= 0:
                continue
            notes.extend((onset, duration, int(p.midi)) for p in element.pitches)
        if notes:
            parts.append(notes)
    if not parts:
        return None
    try:
        key = str(score.analyze("key"))
    except Exception:  # key analysis fails on a few fragments; the caption then omits the key
        key = ""
    signature = score.recurse().getElementsByClass("TimeSignature").first()
    title = (score.metadata.title or "") if score.metadata else ""
    return CorpusPiece(name, collection, parts, key, signature.ratioString if signature else "", title)


def iter_corpus_pieces(collection: str, limit: int | None = None, seed: int = 0) -> Iterator[CorpusPiece]:
    """Yield up to `limit` parseable pieces of a collection (see `COLLECTIONS`), in a seeded random order.

    Opus files (Essen, O'Neill, Aird) hold many tunes: the whole file is parsed once and its tunes are read
    from memory (notes only; exporting a score taken from an Opus to MIDI can fail in music21 10.5).
    """
    from music21 import corpus

    if collection not in COLLECTIONS:
        raise ValueError(f"unknown corpus collection {collection!r}; choose from {sorted(COLLECTIONS)}")
    rng = random.Random(seed)
    paths = _corpus_paths(collection)
    rng.shuffle(paths)
    count = 0
    for path in paths:
        try:
            parsed = corpus.parse(path)
        except Exception:  # a few corpus files do not parse in every music21 version: skip them
            continue
        scores = list(parsed.scores) if hasattr(parsed, "scores") else [parsed]
        order = list(range(len(scores)))
        rng.shuffle(order)
        for number in order:
            try:
                name = f"{collection}/{os.path.basename(path)}#{number}"
                piece = _piece_from_score(scores[number], name, collection)
            except Exception:
                continue
            if piece is None:
                continue
            yield piece
            count += 1
            if limit is not None and count >= limit:
                return
