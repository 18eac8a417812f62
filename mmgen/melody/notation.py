"""Typed melodies: ABC notation (read with music21) and a plain note list, parsed into `Note`s.

A note list is whitespace-separated notes with optional durations in beats, an optional tempo and optional bar
lines (they only number the bars in error messages):

    bpm=100  C4 D4 E4/2 F4/2 | G4*2 R G4 | A4*3/2 Bb4/2 C5*2

`C4` is one beat, `E4/2` half a beat, `G4*2` two beats, `A4*3/2` one and a half; `R` is a rest (`R/2`, `R*2`);
sharps and flats as `F#4` / `Bb3`. Malformed input raises `MelodyError` naming the bar and the token (note lists)
or the line and bar (ABC). Both kinds are bounded: at most `MAX_TEXT_CHARS` characters, `MAX_MELODY_NOTES` notes and
`MAX_MELODY_SECONDS` seconds.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from ..limits import MAX_MELODY_NOTES, MAX_MELODY_SECONDS, MAX_TEXT_CHARS
from .notes import MelodyError, Note, sort_notes

DEFAULT_BPM = 120.0
MIN_BPM, MAX_BPM = 20.0, 400.0
NOTE_VELOCITY = 100

_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_NOTE_RE = re.compile(r"(?P<name>[A-Ga-g])(?P<accidental>#|b|)(?P<octave>-?\d)(?P<duration>.*)")
_REST_RE = re.compile(r"(?P<name>[Rr])(?P<duration>.*)")
_DURATION_RE = re.compile(r"(?:\*(?P<num>\d+(?:\.\d+)?))?(?:/(?P<den>\d+))?")
_TEMPO_RE = re.compile(r"(?:bpm|tempo)\s*=\s*(?P<bpm>\d+(?:\.\d+)?)", re.IGNORECASE)
_NOTE_HELP = "write a note name A-G, an optional # or b, an octave and an optional duration (C4, F#3/2, Bb4*2) or R"


def check_text_size(text: str, name: str = "melody") -> None:
    """`MelodyError` if `text` is longer than `MAX_TEXT_CHARS` characters."""
    if len(text) > MAX_TEXT_CHARS:
        raise MelodyError(f"{name}: the text is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,}.")


def check_notes(notes: list[Note], name: str = "melody") -> None:
    """`MelodyError` naming the first note that is not a playable event: non-numeric or non-finite times, a negative
    onset, an offset before its onset, a pitch or velocity outside MIDI's 0-127 (given notes are built by callers,
    so nothing else has checked them)."""
    for i, note in enumerate(notes):
        try:
            onset, offset = float(note.onset), float(note.offset)
            pitch, velocity = note.pitch, note.velocity
            whole = all(float(v) == int(v) for v in (pitch, velocity))
        except (TypeError, ValueError, OverflowError):
            onset = offset = math.nan
            whole = False
        if not (math.isfinite(onset) and math.isfinite(offset)) or not whole:
            raise MelodyError(f"{name}: note {i + 1} ({note}) needs finite times and whole-number pitch and velocity.")
        if onset < 0 or offset < onset:
            raise MelodyError(f"{name}: note {i + 1} ({note}) must start at 0 s or later and end after it starts.")
        if not (0 <= pitch <= 127 and 0 <= velocity <= 127):
            raise MelodyError(f"{name}: note {i + 1} ({note}) has a pitch or velocity outside MIDI's 0-127.")


def check_melody_bounds(notes: list[Note], name: str = "melody") -> None:
    """`MelodyError` for no notes, more than `MAX_MELODY_NOTES` notes, a melody ending after `MAX_MELODY_SECONDS` or
    a note that is not a playable event (`check_notes`)."""
    if not notes:
        raise MelodyError(f"{name}: the melody has no notes.")
    if len(notes) > MAX_MELODY_NOTES:
        raise MelodyError(f"{name}: the melody has {len(notes):,} notes; the limit is {MAX_MELODY_NOTES:,}.")
    check_notes(notes, name)
    end = max(n.offset for n in notes)
    if end > MAX_MELODY_SECONDS:
        raise MelodyError(f"{name}: the melody lasts {end:.0f} s; the limit is {MAX_MELODY_SECONDS:.0f} s (trim it).")


def _check_bpm(bpm: float, name: str) -> float:
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise MelodyError(f"{name}: tempo {bpm:g} BPM is outside {MIN_BPM:g}-{MAX_BPM:g} BPM.")
    return float(bpm)


# --------------------------------------------------------------------------------------------- note lists
def looks_like_note_list(text: str) -> bool:
    """True when the first item of `text` (after an optional tempo) reads as a note or a rest."""
    words = _TEMPO_RE.sub(" ", text).replace("|", " ").replace(",", " ").split()
    return bool(words) and bool(_NOTE_RE.fullmatch(words[0]) or _REST_RE.fullmatch(words[0]))


def _beats(duration: str) -> Fraction | None:
    match = _DURATION_RE.fullmatch(duration)
    if match is not None and match["den"] is not None and int(match["den"]) == 0:
        return None
    if match is None or (duration and not (match["num"] or match["den"])):
        return None
    beats = Fraction(match["num"] or "1") / Fraction(match["den"] or "1")
    return beats if beats > 0 else None


def parse_note_list(text: str, *, bpm: float | None = None, name: str = "note list") -> tuple[list[Note], float]:
    """A plain note list (see the module docstring) -> notes.

    Args:
        text (`str`): the notes; a `bpm=N` (or `tempo=N`) item anywhere sets the tempo.
        bpm (`float`, *optional*): the tempo in beats per minute when the text gives none (default 120).
    Returns:
        `(notes, bpm)`: notes from t = 0 in seconds, one after another (a note lasts its full value), and the tempo.
    Raises:
        `MelodyError` naming the bar and the token that cannot be read, or the bound that was exceeded.
    """
    check_text_size(text, name)
    tempos = _TEMPO_RE.findall(text)
    if len(tempos) > 1:
        raise MelodyError(f"{name}: the tempo is given {len(tempos)} times ({', '.join(tempos)} BPM); give it once.")
    bpm = _check_bpm(float(tempos[0]) if tempos else float(bpm or DEFAULT_BPM), name)
    seconds_per_beat = 60.0 / bpm
    notes: list[Note] = []
    time = Fraction(0)
    for bar_index, bar in enumerate(_TEMPO_RE.sub(" ", text).split("|"), start=1):
        for token_index, token in enumerate(bar.replace(",", " ").split(), start=1):
            where = f"{name}, bar {bar_index}, token {token_index} ('{token}')"
            note = _NOTE_RE.fullmatch(token)
            rest = None if note else _REST_RE.fullmatch(token)
            if note is None and rest is None:
                raise MelodyError(f"{where}: not a note; {_NOTE_HELP} for a rest.")
            beats = _beats((note or rest)["duration"])
            if beats is None:
                raise MelodyError(f"{where}: cannot read the duration; use /2, *2 or *3/2 (beats).")
            if note is not None:
                step = _STEPS[note["name"].upper()] + {"#": 1, "b": -1, "": 0}[note["accidental"]]
                pitch = (int(note["octave"]) + 1) * 12 + step
                if not 0 <= pitch <= 127:
                    raise MelodyError(f"{where}: outside the MIDI range C-1..G9.")
                onset = float(time) * seconds_per_beat
                notes.append(Note(onset, onset + float(beats) * seconds_per_beat, pitch, NOTE_VELOCITY))
                if len(notes) > MAX_MELODY_NOTES:
                    raise MelodyError(f"{where}: more than {MAX_MELODY_NOTES:,} notes; the limit is reached.")
            time += beats
    if not notes:
        raise MelodyError(f"{name}: no notes found; {_NOTE_HELP}.")
    check_melody_bounds(notes, name)
    return notes, bpm


# --------------------------------------------------------------------------------------------------- ABC
_FIELD_RE = re.compile(r"^\s*(?P<key>[A-Za-z]):(?P<value>.*)$")
_MODES = ("maj", "major", "ion", "ionian", "m", "min", "minor", "aeo", "aeolian", "mix", "mixolydian", "dor",
          "dorian", "phr", "phrygian", "lyd", "lydian", "loc", "locrian")  # fmt: skip
_KEY_RE = re.compile(r"(?:none|HP|Hp|(?P<tonic>[A-G][#b]?)\s*(?P<mode>[A-Za-z]*))(?:\s+.*)?", re.DOTALL)
# One body element of ABC 2.1 (what music21 reads): a note or rest with accidentals, octave marks and length;
# chord brackets, ties, slurs, tuplets, broken rhythm, bar lines and repeats, decorations, grace-note braces.
_ABC_ELEMENT_RE = re.compile(
    r"""(?P<note>[_=^]*[A-Ga-gzxZ][,']*\d*/*\d*)
      | (?P<bar>:*\|+[\]:]*\d*|\[\|\]?|\|\]|::|\[\d)
      | (?P<other>\s+|\]\d*/*\d*|[\[\-()<>{}.~HLMOPSTuvJR]|\(\d(?::\d*)*|\\)""",
    re.VERBOSE,
)
_ABC_SKIP_RE = re.compile(r'"[^"]*"|![^!]*!|\+[^+\s]*\+|\[[A-Za-z]:[^\]]*\]')  # chord symbols, decorations, fields


def looks_like_abc(text: str) -> bool:
    """True when `text` has an ABC key field line (`K:...`) or starts with a reference number line (`X:1`)."""
    return bool(re.search(r"^\s*K:", text, re.MULTILINE) or re.match(r"\s*X:\s*\d", text))


def _check_key(value: str, where: str) -> None:
    match = _KEY_RE.fullmatch(value.strip())
    if match is None or (match["mode"] and match["mode"].lower() not in _MODES):
        raise MelodyError(
            f"{where}: unknown key '{value.strip()}'; write a tonic A-G with an optional # or b and mode "
            "(K:G, K:Am, K:F#m, K:Bb, K:Dmix, K:Edor) or K:none."
        )


def _default_unit_length(meter: str | None) -> str:
    """ABC 2.1's default L: 1/16 for meters below 3/4, else 1/8 (also with no meter)."""
    try:
        num, den = (int(x) for x in (meter or "").strip().split("/"))
        return "1/16" if Fraction(num, den) < Fraction(3, 4) else "1/8"
    except ValueError:  # C, C|, none, or no meter at all
        return "1/8"


def _check_abc_body(lines: list[tuple[int, str]], name: str) -> int:
    """Validate the tune body element by element; returns the number of notes and rests.

    Raises `MelodyError` naming the line, the bar (counted from 1 at the start of the body) and the text that
    cannot be read, since music21 ignores or misplaces what it does not understand.
    """
    bar = 1
    count = 0
    for line_number, line in lines:
        body = _ABC_SKIP_RE.sub(lambda m: " " * len(m.group()), line)
        position = 0
        while position < len(body):
            match = _ABC_ELEMENT_RE.match(body, position)
            if match is None or match.end() == position:
                snippet = line[position : position + 12].strip()
                raise MelodyError(
                    f"{name}, line {line_number}, bar {bar}: cannot read '{body[position]}' (at '{snippet}'); an ABC "
                    "note is a letter A-G or a-g with optional ^ _ = accidentals, , or ' octave marks and a length "
                    "(A2, A/2), z is a rest, | a bar line."
                )
            if match["bar"]:
                bar += 1
            elif match["note"]:
                count += 1
            position = match.end()
    return count


def parse_abc(text: str, *, name: str = "ABC tune") -> tuple[list[Note], float]:
    """An ABC tune -> notes, read with music21 after checking the fields and the body here.

    The tune needs a key line (`K:G`) before its notes; `X:` is added when missing, and `L:` takes ABC's default
    (1/8, or 1/16 in meters below 3/4). `Q:1/4=90` sets the tempo (default 120 quarter notes per minute). Chords
    give all their notes, ties are merged, every voice is kept (reduce with `skyline` for one line).

    Returns:
        `(notes, bpm)`: notes in seconds from the tune's start (first tempo mark's BPM in quarter notes).
    Raises:
        `MelodyError`: no key line, an unknown key, an unreadable element (line and bar named), no notes, too long.
    """
    check_text_size(text, name)
    header: dict[str, str] = {}
    body: list[tuple[int, str]] = []
    key_line = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(?<!\\)%.*", "", raw).rstrip()  # comments
        field = _FIELD_RE.match(line)
        if field:  # header or mid-tune field (K: M: L: Q: V: w: ...), not part of the note body
            if field["key"] == "K":
                _check_key(field["value"], f"{name}, line {number}")
                key_line = key_line or number
            elif key_line is None:
                header.setdefault(field["key"], field["value"].strip())
            body.append((number, ""))
        elif line.strip():
            if key_line is None:
                raise MelodyError(
                    f"{name}, line {number}: notes before the key line; an ABC tune needs 'K:' (e.g. K:G) after its "
                    "header and before its notes."
                )
            body.append((number, line))
    if key_line is None:
        raise MelodyError(f"{name}: no key line; an ABC tune needs 'K:' (e.g. K:G) before its notes.")
    if not _check_abc_body(body, name):
        raise MelodyError(f"{name}: the tune has no notes after its key line 'K:'.")
    lines = text.splitlines()
    prefix = [] if re.match(r"\s*X:", text) else ["X:1"]
    if "L" not in header:
        prefix.append(f"L:{_default_unit_length(header.get('M'))}")
    source = "\n".join(lines[: key_line - 1] + prefix + lines[key_line - 1 :]) + "\n"

    from music21 import converter

    try:
        score = converter.parse(source, format="abc").stripTies()
    except Exception as err:  # music21 raises its own exception types for what passed the checks above
        raise MelodyError(f"{name}: music21 could not read the tune ({type(err).__name__}: {err}).") from err
    flat = score.flatten()
    marks = list(flat.getElementsByClass("MetronomeMark"))
    bpm = _check_bpm(float(marks[0].getQuarterBPM()), name) if marks else DEFAULT_BPM
    notes = []
    for entry in flat.secondsMap:
        element = entry["element"]
        if type(element).__name__ not in ("Note", "Chord") or entry["durationSeconds"] <= 0:
            continue  # grace notes have no duration
        onset = float(entry["offsetSeconds"])
        for pitch in element.pitches:
            notes.append(Note(onset, onset + float(entry["durationSeconds"]), int(pitch.midi), NOTE_VELOCITY))
    check_melody_bounds(notes, name)
    return sort_notes(notes), bpm
