"""Render notes or MIDI to audio: FluidSynth with a General MIDI soundfont where present, sines otherwise.

Used for melody previews in the app, the synthetic MusicSet and the benchmarks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

from ..audio import SAMPLE_RATE
from .notes import Note, notes_to_midi

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",  # Debian fluid-soundfont-gm (145 MB, best)
    "/usr/share/sounds/sf2/TimGM6mb.sf2",  # Debian timgm6mb-soundfont (6 MB)
    "/usr/share/sounds/sf2/default-GM.sf2",
)
RELEASE_S = 0.5  # audio kept after the last note-off (FluidSynth otherwise adds a long release tail)


def find_soundfont(preferred: str | None = None) -> str | None:
    """The soundfont to use: `preferred`, $MMGEN_SOUNDFONT, the Debian GM fonts, pretty_midi's TimGM6mb; or None."""
    candidates = [preferred, os.environ.get("MMGEN_SOUNDFONT"), *SOUNDFONT_CANDIDATES]
    try:
        import pretty_midi

        candidates.append(os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2"))
    except ImportError:
        pass
    return next((c for c in candidates if c and os.path.isfile(c)), None)


def fluidsynth_available() -> bool:
    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth; needs libfluidsynth3)
    except (ImportError, OSError):
        return False
    return find_soundfont() is not None


def render_midi(midi, sr: int = SAMPLE_RATE, soundfont: str | None = None, *, peak: float = 0.9) -> np.ndarray:
    """Render a `pretty_midi.PrettyMIDI` to mono float32 audio of shape `(samples,)`, peak-normalised.

    Uses FluidSynth when available, else pretty_midi's sine synthesis. The result ends `RELEASE_S` after the
    last note-off.
    """
    end = midi.get_end_time()
    if fluidsynth_available():
        audio = midi.fluidsynth(fs=sr, synthesizer=find_soundfont(soundfont))
    else:
        audio = midi.synthesize(fs=sr)
    audio = np.asarray(audio, dtype=np.float32)
    audio = audio[: int((end + RELEASE_S) * sr)]
    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    return audio * (peak / top) if top > 0 else audio


def render_notes(
    notes: Iterable[Note], sr: int = SAMPLE_RATE, *, program: int = 0, soundfont: str | None = None
) -> np.ndarray:
    """Render notes with one General MIDI `program` (0 = piano) to mono float32 audio `(samples,)`."""
    return render_midi(notes_to_midi(notes, program=program), sr, soundfont)


def render_parts(
    parts: Sequence[Sequence[Note]], programs: Sequence[int], sr: int = SAMPLE_RATE, *, soundfont: str | None = None
) -> np.ndarray:
    """Render several note lists, each with its own GM program, mixed into one mono track `(samples,)`."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI()
    for notes, program in zip(parts, programs):
        instrument = pretty_midi.Instrument(program=int(program))
        instrument.notes = [pretty_midi.Note(int(n.velocity), int(n.pitch), n.onset, n.offset) for n in notes]
        midi.instruments.append(instrument)
    return render_midi(midi, sr, soundfont)
