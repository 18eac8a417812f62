"""Piano-roll pictures and summary statistics of a note list (the app's melody inspection tab, the CLI, the demo).

`plot_piano_roll` draws one melody, `plot_melody_overlay` the transcription of a generated clip over the melody that
guided it. All functions take the same `Note` lists everything else in `mmgen.melody` uses and never modify them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .notes import Note, pitch_name, sort_notes

EMPTY_MESSAGE = "No notes to show"
NO_TRANSCRIPTION_MESSAGE = "no notes transcribed"
GUIDE_COLOUR = "tab:blue"
GENERATED_COLOUR = "tab:red"
GUIDE_ALPHA = 0.45  # the overlay's guide bars: translucent, so the outlines on them stay visible
TEMPO_RANGE_BPM = (70.0, 140.0)  # tempo estimates are folded by octaves into [low, high)
ONSET_MERGE_S = 0.03  # onsets closer than this count as one (a chord, or transcription jitter)


def _figure(width: float, height: float):
    """A figure that does not touch pyplot's global state (safe in threads, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _pitch_ticks(low: int, high: int) -> list[int]:
    """Every pitch for a narrow range, every C and G for a middle one, every C for a wide one."""
    if high - low <= 24:
        return list(range(low, high + 1))
    step_pitches = (0, 7) if high - low <= 48 else (0,)
    return [p for p in range(low, high + 1) if p % 12 in step_pitches]


def _roll_axes(every: Sequence[Note], seconds: float | None, title: str | None):
    """A figure with one piano-roll axes for `every` note that will be drawn on it, without the notes.

    Time (s) on x from 0 to `seconds` (default: the last note-off), pitch on y spanning the notes plus a row either
    side, labelled with note names, black-key rows shaded; "No notes to show" instead when `every` is empty.
    Returns `(figure, axes)`.
    """
    if seconds is not None and not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    end = seconds if seconds is not None else max((n.offset for n in every), default=1.0)
    figure = _figure(min(max(4.0 + end * 0.5, 6.0), 16.0), 4.0)
    axes = figure.add_subplot()
    if title:
        axes.set_title(title)
    axes.set_xlabel("time (s)")
    axes.set_xlim(0.0, end)
    if not every:
        axes.text(0.5, 0.5, EMPTY_MESSAGE, ha="center", va="center", transform=axes.transAxes, fontsize=14)
        axes.set_yticks([])
    else:
        low = min(n.pitch for n in every) - 1
        high = max(n.pitch for n in every) + 1
        axes.set_ylim(low - 0.5, high + 0.5)
        ticks = _pitch_ticks(low, high)
        axes.set_yticks(ticks, [pitch_name(p) for p in ticks], fontsize=8 if len(ticks) > 16 else 9)
        axes.set_ylabel("pitch")
        for p in range(low, high + 1):  # black-key rows shaded, as on a keyboard
            if p % 12 in (1, 3, 6, 8, 10):
                axes.axhspan(p - 0.5, p + 0.5, color="0.93", zorder=0, linewidth=0)
    axes.grid(axis="x", color="0.85", linewidth=0.6)
    return figure, axes


def _bar(note: Note, colour: str, alpha: float, gid: str):
    """A filled note bar, 0.8 of a pitch row high."""
    from matplotlib.patches import Rectangle

    return Rectangle((note.onset, note.pitch - 0.4), note.duration, 0.8, fc=colour, alpha=alpha, lw=0, gid=gid)


def _outline(note: Note, colour: str, linewidth: float, gid: str):
    """An unfilled note box, 0.9 of a pitch row high (drawn over or behind the bars)."""
    from matplotlib.patches import Rectangle

    box = Rectangle((note.onset, note.pitch - 0.45), note.duration, 0.9, fill=False, ec=colour, lw=linewidth)
    box.set_gid(gid)
    return box


def plot_piano_roll(
    notes: Iterable[Note],
    path: str | os.PathLike | None = None,
    *,
    title: str | None = None,
    highlight: tuple[float, float] | None = None,
    seconds: float | None = None,
    reference: Iterable[Note] | None = None,
):
    """Draw notes as a piano roll: time (s) on x, pitch on y labelled with note names ('C4', 'F#5').

    Args:
        notes (`Iterable[Note]`): the notes to draw; bar opacity follows velocity.
        path (`str` or `os.PathLike`, *optional*): also save the figure there as a PNG.
        title (`str`, *optional*): the figure title.
        highlight (`tuple[float, float]`, *optional*): a time span `(start, end)` in seconds to shade, e.g. the
            crop a model is conditioned on.
        seconds (`float`, *optional*): the length of the time axis; default: up to the last note-off.
        reference (`Iterable[Note]`, *optional*): notes drawn as outlines behind `notes`, e.g. the ground truth
            of a transcription.
    Returns:
        `matplotlib.figure.Figure` (Agg canvas; pyplot is not used, so nothing is shown or kept open). Note bars
        are `Rectangle` patches with gid "note", reference outlines gid "reference".

    An empty `notes` (and no `reference`) gives a figure with the message "No notes to show" instead of an
    error, so that an app can always display something.
    """
    notes = sort_notes(notes)
    reference = sort_notes(reference or [])
    if highlight is not None and not (len(highlight) == 2 and highlight[0] < highlight[1]):
        raise ValueError(f"highlight must be a (start, end) span in seconds with start < end, got {highlight}")
    figure, axes = _roll_axes(notes + reference, seconds, title)
    for n in reference:
        axes.add_patch(_outline(n, "tab:orange", 1.2, "reference"))
    for n in notes:
        axes.add_patch(_bar(n, GUIDE_COLOUR, 0.35 + 0.65 * min(max(n.velocity, 0), 127) / 127, "note"))
    if highlight is not None:
        axes.axvspan(highlight[0], highlight[1], color="gold", alpha=0.25, zorder=0, linewidth=0)
    if path is not None:
        figure.savefig(os.fspath(path), format="png")
    return figure


def format_scores(scores: Mapping[str, float | None]) -> str:
    """`{"note-F1": 0.523, "chroma": 0.61}` -> "note-F1 0.52 · chroma 0.61" (None shows as "n/a")."""
    return " · ".join(f"{label} {'n/a' if value is None else f'{value:.2f}'}" for label, value in scores.items())


def plot_melody_overlay(
    guide_notes: Iterable[Note],
    generated_notes: Iterable[Note],
    path: str | os.PathLike | None = None,
    *,
    title: str | None = None,
    scores: Mapping[str, float | None] | None = None,
    seconds: float | None = None,
):
    """Draw the transcription of a generated clip over the melody that guided it, to see whether the music followed.

    Args:
        guide_notes (`Iterable[Note]`): the guiding melody, drawn as translucent blue bars.
        generated_notes (`Iterable[Note]`): the notes transcribed from the generated audio, drawn as red outlines;
            where the music follows its melody the outlines sit on the bars.
        path (`str` or `os.PathLike`, *optional*): also save the figure there as a PNG.
        title (`str`, *optional*): the first title line (default: "Generated clip over its guiding melody").
        scores (`Mapping[str, float | None]`, *optional*): adherence scores by label, shown as the second title
            line in insertion order (`format_scores`), e.g. `{"note-F1": 0.52, "chroma": 0.61}`.
        seconds (`float`, *optional*): the length of the time axis (e.g. the clip's); default: the last note-off.
    Returns:
        `matplotlib.figure.Figure` with the axis conventions of `plot_piano_roll`; guide bars are `Rectangle`
        patches with gid "guide", transcription outlines gid "generated", and a legend below the axes naming both
        with their note counts. Without transcribed notes the axes also say "no notes transcribed"; with no notes
        at all they say "No notes to show".
    """
    from matplotlib.patches import Patch

    guide = sort_notes(guide_notes)
    generated = sort_notes(generated_notes)
    heading = [title or "Generated clip over its guiding melody"]
    if scores:
        heading.append(format_scores(scores))
    figure, axes = _roll_axes(guide + generated, seconds, "\n".join(heading))
    for n in guide:
        axes.add_patch(_bar(n, GUIDE_COLOUR, GUIDE_ALPHA, "guide"))
    for n in generated:
        axes.add_patch(_outline(n, GENERATED_COLOUR, 1.4, "generated"))
    if guide or generated:
        generated_label = (
            f"generated clip, transcribed ({len(generated)} notes)"
            if generated
            else f"generated clip: {NO_TRANSCRIPTION_MESSAGE}"
        )
        handles = [
            Patch(fc=GUIDE_COLOUR, alpha=GUIDE_ALPHA, lw=0, label=f"guiding melody ({len(guide)} notes)"),
            Patch(fill=False, ec=GENERATED_COLOUR, lw=1.4, label=generated_label),
        ]
        figure.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=9, frameon=False)
    if guide and not generated:
        axes.text(
            0.5, 0.5, NO_TRANSCRIPTION_MESSAGE, ha="center", va="center", transform=axes.transAxes, fontsize=14,
            color=GENERATED_COLOUR, bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
        )  # fmt: skip
    if path is not None:
        figure.savefig(os.fspath(path), format="png")
    return figure


def _sounding_profile(notes: Sequence[Note]) -> tuple[float, float, int]:
    """(seconds with >= 1 note sounding, seconds with >= 2, the most notes sounding at once)."""
    events = sorted([(n.onset, 1) for n in notes] + [(n.offset, -1) for n in notes])  # offsets sort before onsets
    any_time = poly_time = 0.0
    count = peak = 0
    previous = events[0][0]
    for time, change in events:
        if count >= 1:
            any_time += time - previous
        if count >= 2:
            poly_time += time - previous
        count += change
        peak = max(peak, count)
        previous = time
    return any_time, poly_time, peak


def estimate_tempo(notes: Iterable[Note]) -> float | None:
    """A rough tempo in BPM from the most common inter-onset interval, folded into `TEMPO_RANGE_BPM`.

    Onsets closer than `ONSET_MERGE_S` are merged (chords). Intervals are histogrammed on a log scale (bins 6%
    wide, so 0.5 s and 0.52 s fall together) and the median interval of the fullest bin is the beat or one of
    its multiples/subdivisions by powers of two. Returns None for fewer than three distinct onsets.
    """
    onsets: list[float] = []
    for t in sorted(n.onset for n in notes):
        if not onsets or t - onsets[-1] >= ONSET_MERGE_S:
            onsets.append(t)
    intervals = np.diff(onsets)
    intervals = intervals[intervals < 4.0]  # long pauses say nothing about the beat
    if intervals.size < 2:
        return None
    keys = np.round(np.log(intervals) / math.log(1.06)).astype(int)
    values, counts = np.unique(keys, return_counts=True)
    best = values[counts == counts.max()].max()  # ties: the longer interval, nearer a beat than a subdivision
    bpm = 60.0 / float(np.median(intervals[np.abs(keys - best) <= 1]))
    low, high = TEMPO_RANGE_BPM
    while bpm < low:
        bpm *= 2
    while bpm >= high:
        bpm /= 2
    return bpm


def melody_statistics(notes: Iterable[Note]) -> dict:
    """Summary numbers of a melody, JSON-serialisable.

    Returns:
        `dict` with `num_notes`, `start_s` (first onset), `end_s` (last note-off), `duration_s` (end - start),
        `lowest` / `highest` (names such as 'C4') and `lowest_pitch` / `highest_pitch` (MIDI numbers),
        `pitch_range_semitones`, `mean_pitch` (MIDI number, float), `notes_per_second` (over `duration_s`),
        `tempo_bpm` (`estimate_tempo`; None when it cannot be estimated), `polyphony_share` (fraction of the
        sounding time during which two or more notes sound) and `max_polyphony`. An empty list gives
        `num_notes` 0 and None for every other value.
    """
    notes = sort_notes(notes)
    keys = (
        "start_s", "end_s", "duration_s", "lowest", "highest", "lowest_pitch", "highest_pitch",
        "pitch_range_semitones", "mean_pitch", "notes_per_second", "tempo_bpm", "polyphony_share", "max_polyphony",
    )  # fmt: skip
    if not notes:
        return {"num_notes": 0, **dict.fromkeys(keys)}
    start = min(n.onset for n in notes)
    end = max(n.offset for n in notes)
    duration = end - start
    pitches = [n.pitch for n in notes]
    sounding, polyphonic, peak = _sounding_profile(notes)
    tempo = estimate_tempo(notes)
    return {
        "num_notes": len(notes),
        "start_s": round(start, 4),
        "end_s": round(end, 4),
        "duration_s": round(duration, 4),
        "lowest": pitch_name(min(pitches)),
        "highest": pitch_name(max(pitches)),
        "lowest_pitch": min(pitches),
        "highest_pitch": max(pitches),
        "pitch_range_semitones": max(pitches) - min(pitches),
        "mean_pitch": round(float(np.mean(pitches)), 3),
        "notes_per_second": round(len(notes) / duration, 4) if duration > 0 else None,
        "tempo_bpm": None if tempo is None else round(tempo, 2),
        "polyphony_share": round(polyphonic / sounding, 4) if sounding > 0 else 0.0,
        "max_polyphony": peak,
    }
