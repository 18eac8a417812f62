"""What the app shows of a generation: the guiding melody (`MelodyView`), whether the clip followed it
(`AdherenceView`), and the results the generations and the melody inspection return (`GenerationResult`,
`InspectionResult`), with the files behind them (piano rolls, previews, MIDI, tokens).

```
melody_view(notes, tokens, title, out_dir, stem)          -> MelodyView     (piano roll PNG, preview WAV, MIDI)
melody_adherence_view(waveform, sr, guide_notes, ...)    -> AdherenceView  (did the clip follow its melody?)
guiding_melody_view(info, out_dir)                        -> MelodyView     (the pipeline's melody, titled)
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..audio import SAMPLE_RATE, save_audio
from ..melody.notes import Note
from ..melody.pianoroll import NO_TRANSCRIPTION_MESSAGE, format_scores
from .defaults import ADHERENCE_ONSET_TOLERANCE_S


@dataclass
class MelodyView:
    """A melody ready to show: what it is, its piano roll, tokens, a synthesized preview and a MIDI file.

    `preview_path` and `midi_path` are None when the melody has no notes (`png_path` then says so); all three are
    None when its files were not asked for (`melody_view(..., files=False)`).
    """

    title: str
    tokens: str | None
    notes: list[Note]
    png_path: str | None
    preview_path: str | None
    midi_path: str | None
    info: dict = field(default_factory=dict)

    def markdown(self) -> str:
        lines = [f"**{self.title}**"]
        for key, label in (("caption", "Caption"), ("id", "Database id"), ("source", "Source")):
            if self.info.get(key):
                lines.append(f"- {label}: {self.info[key]}")
        if self.info.get("score") is not None:
            lines.append(f"- Retrieval score (cosine): {self.info['score']:.3f}")
        if self.info.get("edits"):
            lines.append(f"- Edits: {edits_text(self.info['edits'])}")
        lines.append(f"- Notes: {len(self.notes)}")
        return "\n".join(lines)


@dataclass
class AdherenceView:
    """Whether a generated clip followed its guiding melody (`melody_adherence_view`).

    Args:
        png_path (`str`): the clip's transcription (red outlines) over the guiding notes (blue bars), scores in the
            title (`plot_melody_overlay`).
        notes (`list[Note]`): the notes Basic Pitch transcribed from the clip.
        tokens (`str`): their official token string; "" when none were found.
        midi_path (`str`, *optional*), tokens_path (`str`, *optional*): the transcription as a MIDI file and as a
            token text file; None when no notes were transcribed.
        scores (`dict`): `note_f1`, `note_precision`, `note_recall` (onsets within `onset_tolerance_s`, pitch within
            50 cents, offsets ignored), `chroma_cosine` (`mmgen.eval.melody.chroma_cosine` of the clip against the
            guiding notes), `guide_notes` (guiding notes starting inside the clip: the ones compared),
            `transcribed_notes` and `onset_tolerance_s`. A score is None where it cannot be computed (no guiding
            note inside the clip); with no transcribed notes the note scores are 0.
    """

    png_path: str
    notes: list[Note]
    tokens: str
    midi_path: str | None
    tokens_path: str | None
    scores: dict

    @property
    def caption(self) -> str:
        """The scores in one line, e.g. "note-F1 0.52 · chroma 0.61", led by "no notes transcribed" if so."""
        text = format_scores({"note-F1": self.scores["note_f1"], "chroma": self.scores["chroma_cosine"]})
        return text if self.notes else f"{NO_TRANSCRIPTION_MESSAGE} · {text}"

    def summary(self) -> str:
        """One line for the CLI."""
        return (
            f"Melody adherence: {self.caption} ({len(self.notes)} notes transcribed from the clip, "
            f"{self.scores['guide_notes']} guiding notes)"
        )

    def markdown(self) -> str:
        """The scores and how to read them, for the Space."""
        tolerance_ms = round(self.scores["onset_tolerance_s"] * 1000)
        lines = [f"**Did the music follow its melody?** {self.caption}"]
        if not self.scores["guide_notes"]:
            lines.append("- No note of the guiding melody starts inside the clip: there is nothing to compare.")
        elif self.notes:
            lines.append(
                f"- Basic Pitch transcribed {len(self.notes)} notes from the generated clip (red outlines), drawn "
                f"over the {self.scores['guide_notes']} guiding notes (blue)."
            )
        else:
            lines.append(f"- Basic Pitch found no notes in the generated clip ({NO_TRANSCRIPTION_MESSAGE}).")
        lines.append(
            f"- note-F1: guiding notes matched by a transcribed note of the same pitch starting within {tolerance_ms} "
            "ms; chroma: frame by frame, the clip's dominant pitch class against the melody's (1 = every frame)."
        )
        return "\n".join(lines)


@dataclass
class GenerationResult:
    """A generated clip and what guided it.

    Args:
        audio_path (`str`): the WAV (22,050 Hz mono).
        waveform (`np.ndarray` of shape `(samples,)`): the same audio, float32.
        melody (`MelodyView`, *optional*): the melody that guided it (retrieved or the user's); None for a
            text-only model.
        query_melody (`MelodyView`, *optional*): music-to-music only: the melody Basic Pitch found in the upload.
        seed (`int`), score (`float`, *optional*: aligner score when several candidates were ranked),
        timings (`dict`): seconds: `model_load_s` (0 when already loaded), `generate_s`, `postprocess_s`, `total_s`,
            and `adherence_s` (in `total_s` too) once the adherence check ran (`logic.check_adherence`).
        settings (`dict`): the settings used.
        adherence (`AdherenceView`, *optional*): the clip's transcription against the guiding notes; None when no
            notes guided it (a text-only model, an empty melody) or when it was not asked for.
    """

    audio_path: str
    waveform: np.ndarray
    melody: MelodyView | None
    query_melody: MelodyView | None
    seed: int
    score: float | None
    timings: dict
    settings: dict
    adherence: AdherenceView | None = None

    def summary(self) -> str:
        t = self.timings
        length = len(self.waveform) / SAMPLE_RATE
        if self.settings.get("mode") == "continuation":
            what = (
                f"Continued {self.settings['clip']} ({self.settings['clip_seconds']:.1f} s) by "
                f"{self.settings['seconds']:.1f} s: {length:.1f} s in all,"
            )
        else:
            what = f"Generated {length:.1f} s"
        audio_s = t["total_s"] - t.get("adherence_s", 0.0)  # until the audio was there
        text = f"{what} in {audio_s:.1f} s (denoising and decoding {t['generate_s']:.1f} s"
        if t.get("model_load_s"):
            text += f", loading the model {t['model_load_s']:.1f} s"
        text += f"). Seed {self.seed}."
        if self.score is not None:
            text += f" Best of {self.settings['num_candidates']} candidates, aligner score {self.score:.3f}."
        if "adherence_s" in t:
            text += f" Checked against its melody in {t['adherence_s']:.1f} s."
        return text


@dataclass
class InspectionResult:
    """Melody inspection output: the melody view plus statistics and the source kind ("audio" or "midi")."""

    melody: MelodyView
    statistics: dict
    source_kind: str
    seconds: float

    def summary(self) -> str:
        s = self.statistics
        tempo = "unknown" if s["tempo_bpm"] is None else f"about {s['tempo_bpm']:.0f} BPM"
        how = "transcribed with Basic Pitch" if self.source_kind == "audio" else "read from MIDI"
        return (
            f"{s['num_notes']} notes {how} in {self.seconds:.1f} s, range {s['lowest']}-{s['highest']} "
            f"({s['pitch_range_semitones']} semitones), tempo {tempo}, "
            f"{s['polyphony_share']:.0%} of the time polyphonic."
        )


WIDE_ROLL_INCHES_PER_S = 0.4  # a long melody's piano roll: 40 px a second (at 100 dpi), scrolled sideways in the app


def save_wide(figure, path: str, seconds: float) -> str:
    """Save a piano-roll figure as a PNG at least `WIDE_ROLL_INCHES_PER_S` wide per second of its time axis, so that
    a long melody keeps readable notes (the app shows it in a sideways-scrolling frame); short ones keep their size."""
    width, height = figure.get_size_inches()
    figure.set_size_inches(max(width, WIDE_ROLL_INCHES_PER_S * float(seconds)), height)
    figure.savefig(path, format="png")
    return path


def melody_view(
    notes: list[Note], tokens: str | None, title: str, out_dir: str, stem: str, info=None, *, files: bool = True
) -> MelodyView:
    """Write the piano roll PNG, the preview WAV and the MIDI file of `notes` into `out_dir`; with `files=False`
    none of them (drawing and synthesizing take about a second on a busy CPU: the CLI makes them only when asked)."""
    if not files:
        return MelodyView(title, tokens, list(notes), None, None, None, dict(info or {}))
    from ..melody.notes import write_midi
    from ..melody.pianoroll import plot_piano_roll
    from ..melody.synth import render_notes

    png = os.path.join(out_dir, f"{stem}_pianoroll.png")
    save_wide(plot_piano_roll(notes, title=title), png, max((n.offset for n in notes), default=0.0))
    preview = midi = None
    if notes:
        preview = os.path.join(out_dir, f"{stem}_preview.wav")
        save_audio(preview, render_notes(notes, SAMPLE_RATE), SAMPLE_RATE)
        midi = os.path.join(out_dir, f"{stem}.mid")
        write_midi(notes, midi)
    return MelodyView(title, tokens, list(notes), png, preview, midi, dict(info or {}))


def melody_adherence_view(
    waveform: np.ndarray,
    sr: int,
    guide_notes: list[Note],
    out_dir: str,
    stem: str,
    *,
    title: str | None = None,
    onset_tolerance: float = ADHERENCE_ONSET_TOLERANCE_S,
) -> AdherenceView:
    """Transcribe a generated clip, score it against the notes that guided it and draw one over the other.

    Args:
        waveform (`np.ndarray` of shape `(samples,)`): the generated audio at `sr`.
        guide_notes (`list[Note]`): the notes that guided it (times from the clip's start). Notes starting after
            the clip ends are left out of the comparison, as `chroma_cosine` leaves out frames past the clip.
        out_dir, stem: writes `{stem}_adherence.png` and, when Basic Pitch finds notes, `{stem}_transcribed.mid` and
            `{stem}_transcribed_tokens.txt` there.
        title (`str`, *optional*): the overlay's title line.
        onset_tolerance (`float`): note-F1 onset tolerance in seconds.
    Returns:
        `AdherenceView`. A clip in which nothing is transcribed gives note scores of 0 (its chroma cosine is still
        measured on the audio) and an overlay of the guiding notes alone, captioned "no notes transcribed".
    """
    from ..eval.melody import MelodyMetricError, chroma_cosine, note_f1
    from ..melody.notes import sort_notes, write_midi
    from ..melody.pianoroll import plot_melody_overlay
    from ..melody.tokenizer import notes_to_string
    from ..melody.transcribe import extract_notes

    waveform = np.asarray(waveform, dtype=np.float32)
    seconds = len(waveform) / sr
    guide = [n for n in sort_notes(guide_notes) if n.onset < seconds]
    transcribed = extract_notes(waveform, sr, name=stem)
    scores = {
        "note_f1": None, "note_precision": None, "note_recall": None, "chroma_cosine": None,
        "guide_notes": len(guide), "transcribed_notes": len(transcribed), "onset_tolerance_s": onset_tolerance,
    }  # fmt: skip
    if guide:
        matched = note_f1(guide, transcribed, onset_tolerance=onset_tolerance)
        scores.update(
            note_f1=round(matched["f1"], 4),
            note_precision=round(matched["precision"], 4),
            note_recall=round(matched["recall"], 4),
        )
        try:
            scores["chroma_cosine"] = round(chroma_cosine(waveform, guide, sr), 4)
        except MelodyMetricError:  # guiding notes too short to cover a chroma frame: no chroma to compare
            pass
    view = AdherenceView(os.path.join(out_dir, f"{stem}_adherence.png"), transcribed, "", None, None, scores)
    figure = plot_melody_overlay(
        guide, transcribed, title=title, scores={"note-F1": scores["note_f1"], "chroma": scores["chroma_cosine"]},
        seconds=seconds,
    )  # fmt: skip
    save_wide(figure, view.png_path, seconds)
    if transcribed:
        view.tokens = notes_to_string(transcribed)
        view.midi_path = os.path.join(out_dir, f"{stem}_transcribed.mid")
        write_midi(transcribed, view.midi_path)
        view.tokens_path = os.path.join(out_dir, f"{stem}_transcribed_tokens.txt")
        with open(view.tokens_path, "w", encoding="utf-8") as f:
            f.write(view.tokens + "\n")
    return view


def guiding_melody_view(info: dict | None, out_dir: str, *, files: bool = True) -> MelodyView | None:
    """The view of the melody that guided a generation (the pipeline's `melodies[0]`), titled by where it came from;
    None for none. `files`: as in `melody_view`."""
    if info is None:
        return None
    notes = info.get("notes") or []
    if info.get("source") == "user":
        title = "Your melody (retrieval skipped)"
    elif info.get("source") == "null":
        title = "No melody: the model has no retriever, so the null melody guided it"
    else:
        title = f"Retrieved melody: {info.get('caption') or info.get('id') or 'database entry'}"
    shown = {k: info.get(k) for k in ("id", "caption", "source", "score", "kind", "edits") if k in info}
    return melody_view(notes, info.get("tokens"), title, out_dir, "melody", shown, files=files)


def edits_text(edits: dict) -> str:
    """The shaping edits in words, e.g. "transposed +2 semitones, tempo x1.5"; "" for none."""
    parts = []
    if edits.get("trim_s"):
        start, end = edits["trim_s"]
        parts.append(f"trimmed to {start:g}-{'end' if end is None else f'{end:g}'} s")
    if edits.get("tempo"):
        parts.append(f"tempo x{edits['tempo']:.3g}")
    if edits.get("transpose_semitones"):
        parts.append(f"transposed {edits['transpose_semitones']:+d} semitones")
    if edits.get("fold"):
        parts.append(f"octave-folded into MIDI {edits['fold'][0]}-{edits['fold'][1]}")
    return ", ".join(parts)
