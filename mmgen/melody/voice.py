"""A hummed or sung melody -> notes: Basic Pitch tuned for one voice, then a note-level clean-up.

A voice is not an instrument: it slides into notes (scoops), wobbles around them (vibrato, about ±50 cents at
5-7 Hz), breathes between them and its strong second harmonic tempts a transcriber an octave up. Basic Pitch turns
these into short fragments one semitone off, breath blips, overtone notes sounding with the sung one and octave
slips. `clean_voice_notes` undoes them in five passes, each a pure function on notes (and, when the recording is at
hand, its loudness envelope):

1. `one_voice`: where notes overlap, keep the strongest (duration x velocity), so overtones and doubled notes go.
2. `merge_fragments`: a fragment shorter than `fragment_s` joined to a neighbour (gap under `join_gap_s`) within
   `bend_semitones` goes into it (a scoop, a fall, a vibrato excursion). Two touching pieces of the same pitch are one
   note unless the voice sang the second one again: its loudness dips just before it (`sung_again`; a singer
   re-articulates a repeated note with a breath, a consonant or a restart), so repeated notes stay apart while a held
   note that Basic Pitch split (vibrato wakes its onset detector) is joined. Without the audio only fragments join.
3. `drop_blips`: notes shorter than `min_note_s`, or short and much quieter than the voice (breath noise).
4. `fix_octave_slips`: a note an octave (±1 semitone) away from both neighbours, which lie within a fifth of each
   other, moves an octave toward them.
5. `merge_fragments` again, for pieces that the other passes left side by side.

`benchmarks/voice_melody.py` measures it against plain Basic Pitch on synthesised singing.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..audio import SAMPLE_RATE, AudioError, validate_waveform
from ..limits import MAX_VOICE_SECONDS
from .notes import Note, sort_notes
from .transcribe import TranscriptionConfig, extract_notes

VOICE_PITCH_RANGE_HZ = (65.0, 1400.0)  # C2 .. F6: bass to soprano, fundamentals only


def voice_transcription_config() -> TranscriptionConfig:
    """Basic Pitch settings for one voice, limited to the sung range; the thresholds are the best of the tuning grid
    of `benchmarks/voice_melody.py` (tuning tunes apart from the test tunes, scored with `clean_voice_notes`). Its
    results are in `benchmarks/results/voice_melody.json`."""
    low, high = VOICE_PITCH_RANGE_HZ
    return TranscriptionConfig(
        onset_threshold=0.6,
        frame_threshold=0.4,
        minimum_note_length_ms=58.0,
        minimum_frequency=low,
        maximum_frequency=high,
        melodia_trick=True,
    )


@dataclass(frozen=True)
class VoiceCleanup:
    """Thresholds of `clean_voice_notes` (seconds and semitones).

    `dip_ratio`, `dip_before_s` and `dip_after_s` define a re-articulation (`sung_again`): the loudness falls below
    `dip_ratio` times that of the quieter note between `dip_before_s` before the second note's onset and `dip_after_s`
    after it. `dip_ratio=0` never sees one (every touching same-pitch pair is joined, as the first version did).
    """

    fragment_s: float = 0.12
    join_gap_s: float = 0.05
    bend_semitones: int = 2
    min_note_s: float = 0.07
    blip_s: float = 0.2
    quiet_ratio: float = 0.4
    dip_ratio: float = 0.5
    dip_before_s: float = 0.06
    dip_after_s: float = 0.02


ENVELOPE_HOP_S = 0.01  # frames of `loudness_envelope`


def loudness_envelope(waveform: np.ndarray, sr: int = SAMPLE_RATE, hop_s: float = ENVELOPE_HOP_S) -> np.ndarray:
    """RMS loudness in consecutive frames of `hop_s` seconds.

    Args:
        waveform (`np.ndarray` of shape `(samples,)`): mono audio at `sr`.
    Returns:
        `np.ndarray` of shape `(floor(samples / (hop_s * sr)),)`, float64; frame `i` covers the seconds
        `[i * hop_s, (i + 1) * hop_s)` (to the nearest sample, so that frames do not drift when `hop_s * sr` is not
        a whole number of samples).
    """
    frames = int(len(waveform) / (hop_s * sr))
    if frames == 0:
        return np.zeros(0)
    edges = np.round(np.arange(frames + 1) * hop_s * sr).astype(np.int64)
    power = np.add.reduceat(np.asarray(waveform[: edges[-1]], dtype=np.float64) ** 2, edges[:-1])
    return np.sqrt(power / np.diff(edges))


def _frames(envelope: np.ndarray, start: float, end: float, hop_s: float) -> np.ndarray:
    first = max(int(start / hop_s), 0)
    return envelope[first : max(int(end / hop_s), first + 1)]


def sung_again(
    envelope: np.ndarray,
    previous: Note,
    note: Note,
    cleanup: VoiceCleanup = VoiceCleanup(),
    hop_s: float = ENVELOPE_HOP_S,
) -> bool:
    """Whether the voice re-articulated `note` after `previous` (see `VoiceCleanup`): a loudness dip just before
    `note`'s onset, relative to the median loudness of the quieter of the two notes."""
    around = _frames(envelope, note.onset - cleanup.dip_before_s, note.onset + cleanup.dip_after_s, hop_s)
    levels = [_frames(envelope, n.onset, n.offset, hop_s) for n in (previous, note)]
    if not len(around) or not all(len(level) for level in levels):
        return False  # past the end of the recording: no evidence of a dip
    reference = min(float(np.median(level)) for level in levels)
    return float(around.min()) < cleanup.dip_ratio * reference


def _weight(note: Note) -> float:
    return note.duration * max(note.velocity, 1)


def one_voice(notes: Sequence[Note]) -> list[Note]:
    """Monophonic reduction by strength: of two overlapping notes the weaker one is cut (or dropped if nothing of
    it is left before the stronger one starts). Unlike `skyline`, a strong low note beats its own overtones."""
    result: list[Note] = []
    for note in sort_notes(notes):
        while result and note.onset < result[-1].offset:
            last = result[-1]
            if _weight(note) <= _weight(last):
                if note.offset <= last.offset:
                    note = None
                    break
                note = Note(last.offset, note.offset, note.pitch, note.velocity)  # its tail after the stronger one
            elif note.onset - last.onset > 1e-6:
                result[-1] = Note(last.onset, note.onset, last.pitch, last.velocity)
                break
            else:
                result.pop()
        if note is not None and note.duration > 1e-6:
            result.append(note)
    return result


def merge_fragments(
    notes: Sequence[Note],
    cleanup: VoiceCleanup = VoiceCleanup(),
    envelope: np.ndarray | None = None,
    hop_s: float = ENVELOPE_HOP_S,
) -> list[Note]:
    """Join touching pieces of one sung note (see the module docstring, pass 2). Input: one voice, sorted.

    A piece joins the note before it when the gap is under `join_gap_s` and
    - the pitch is the same and either piece is shorter than `fragment_s`, or the voice did not sing it again
      (`sung_again` on `envelope`; without an envelope only such fragments join), or
    - the pitch is within `bend_semitones` and either piece is shorter than `fragment_s` (a scoop or a fall), or it
      returns to the pitch two pieces back (a vibrato swinging across a semitone boundary).
    The joined note takes the duration-weighted mean pitch of its pieces, so a vibrato alternating 61/63 becomes 62.

    Args:
        envelope (`np.ndarray` of shape `(frames,)`, *optional*): `loudness_envelope` of the recording, frames of
            `hop_s` seconds.
    """
    groups: list[list[Note]] = []
    for note in sort_notes(notes):
        if groups:
            group = groups[-1]
            last = group[-1]
            step = abs(note.pitch - last.pitch)
            short = min(last.duration, note.duration) < cleanup.fragment_s
            swing = len(group) >= 2 and note.pitch == group[-2].pitch
            if step == 0:
                held = short or (envelope is not None and not sung_again(envelope, last, note, cleanup, hop_s))
            else:
                held = step <= cleanup.bend_semitones and (short or swing)
            if note.onset - last.offset < cleanup.join_gap_s and held:
                group.append(note)
                continue
        groups.append([note])
    merged = []
    for group in groups:
        weights = np.array([max(n.duration, 1e-3) for n in group])
        pitch = int(np.round(np.average([n.pitch for n in group], weights=weights)))
        merged.append(Note(group[0].onset, max(n.offset for n in group), pitch, max(n.velocity for n in group)))
    return merged


def drop_blips(notes: Sequence[Note], cleanup: VoiceCleanup = VoiceCleanup()) -> list[Note]:
    """Remove breath noise: notes shorter than `min_note_s`, and notes shorter than `blip_s` whose velocity is below
    `quiet_ratio` times the median velocity."""
    if not notes:
        return []
    median = statistics.median(n.velocity for n in notes)
    return [
        n
        for n in notes
        if n.duration >= cleanup.min_note_s
        and not (n.duration < cleanup.blip_s and n.velocity < cleanup.quiet_ratio * median)
    ]


def fix_octave_slips(notes: Sequence[Note]) -> list[Note]:
    """Move a note an octave (11-13 semitones) away from both neighbours, which lie within 7 semitones of each other,
    by an octave toward them. The first and last notes are compared with their one neighbour and moved only when it
    is 11-13 semitones away and the next one along agrees with that neighbour (within 7)."""
    notes = list(notes)
    fixed = list(notes)
    for i, note in enumerate(notes):
        neighbours = [notes[j].pitch for j in (i - 1, i + 1) if 0 <= j < len(notes)]
        if len(neighbours) == 1 and len(notes) >= 3:  # an end note: its neighbour and the one beyond must agree
            beyond = notes[2].pitch if i == 0 else notes[-3].pitch
            neighbours = neighbours if abs(beyond - neighbours[0]) <= 7 else []
        if not neighbours or max(neighbours) - min(neighbours) > 7:
            continue
        distances = [note.pitch - p for p in neighbours]
        if all(11 <= d <= 13 for d in distances) or all(-13 <= d <= -11 for d in distances):
            shift = -12 if distances[0] > 0 else 12
            fixed[i] = Note(note.onset, note.offset, note.pitch + shift, note.velocity)
    return fixed


def clean_voice_notes(
    notes: Sequence[Note],
    cleanup: VoiceCleanup = VoiceCleanup(),
    envelope: np.ndarray | None = None,
    hop_s: float = ENVELOPE_HOP_S,
) -> list[Note]:
    """The five clean-up passes of the module docstring; input and output sorted by onset, output monophonic.

    Args:
        envelope (`np.ndarray` of shape `(frames,)`, *optional*): `loudness_envelope` of the recording (frames of
            `hop_s` seconds), which tells repeated notes from a held one; without it same-pitch pieces join only
            when one of them is a fragment.
    """
    notes = one_voice(notes)
    notes = merge_fragments(notes, cleanup, envelope, hop_s)
    notes = drop_blips(notes, cleanup)
    notes = fix_octave_slips(notes)
    return merge_fragments(notes, cleanup, envelope, hop_s)


def transcribe_voice(
    waveform: np.ndarray,
    sr: int = SAMPLE_RATE,
    *,
    config: TranscriptionConfig | None = None,
    cleanup: VoiceCleanup = VoiceCleanup(),
    name: str = "recording",
    max_seconds: float = MAX_VOICE_SECONDS,
) -> list[Note]:
    """Transcribe one hummed or sung voice.

    Args:
        waveform (`np.ndarray` of shape `(samples,)`): mono audio at `sr`.
        config (`TranscriptionConfig`, *optional*): Basic Pitch settings; default `voice_transcription_config()`.
        cleanup (`VoiceCleanup`): thresholds of `clean_voice_notes`.
        max_seconds (`float`): longest recording accepted.
    Returns:
        one voice of notes, sorted by onset, times in seconds (empty when nothing was sung).
    Raises:
        `AudioError`: an empty, silent, non-finite or too long recording.
    """
    waveform = validate_waveform(waveform, sr, name=name, max_duration_s=max_seconds, allow_silent=False)
    if len(waveform) < sr // 10:
        raise AudioError(f"{name}: the recording is {len(waveform) / sr * 1000:.0f} ms long; sing for longer.")
    notes = extract_notes(waveform, sr, config or voice_transcription_config(), name=name)
    return clean_voice_notes(notes, cleanup, loudness_envelope(waveform, sr))
