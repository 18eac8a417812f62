"""mmgen.melody: Basic Pitch transcription, MIDI reading/writing and preview synthesis."""

import numpy as np
import pretty_midi
import pytest

from mmgen.audio import SAMPLE_RATE, AudioError, load_audio
from mmgen.melody import synth
from mmgen.melody.notes import MelodyError, Note, notes_to_midi, pitch_name, read_midi, write_midi
from mmgen.melody.transcribe import TranscriptionConfig, extract_notes

SMALL_SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"  # 6 MB: fast to load; FluidR3 is used when this is absent


def matched(reference, estimate, tolerance=0.05):
    """How many reference notes have an estimated note of the same pitch with an onset within `tolerance`."""
    return sum(any(e.pitch == r.pitch and abs(e.onset - r.onset) <= tolerance for e in estimate) for r in reference)


# ---- transcription ---------------------------------------------------------------------------------------------


def test_extract_notes_recovers_the_scale(scale_wav, scale_notes, tmp_path):
    midi_path = tmp_path / "out.mid"
    notes = extract_notes(scale_wav, midi_path=midi_path)
    assert notes == sorted(notes, key=lambda n: n.onset)
    assert matched(scale_notes, notes) == len(scale_notes)
    assert len(notes) <= len(scale_notes) + 1
    for n in notes:
        assert 0 <= n.onset < n.offset <= 4.5 and 1 <= n.velocity <= 127
    assert [n.pitch for n in read_midi(midi_path)] == [n.pitch for n in notes]


def test_extract_notes_from_bytes_and_array_at_another_rate(scale_wav, scale_notes):
    from_bytes = extract_notes(scale_wav.read_bytes())
    assert matched(scale_notes, from_bytes) == len(scale_notes)
    wave_44k = load_audio(scale_wav, sr=44100)
    from_array = extract_notes(wave_44k, sr=44100)
    assert [n.pitch for n in from_array] == [n.pitch for n in from_bytes]


def test_thresholds_change_the_result(scale_wav):
    loose = extract_notes(scale_wav, config=TranscriptionConfig(onset_threshold=0.3, frame_threshold=0.2))
    strict = extract_notes(scale_wav, config=TranscriptionConfig(onset_threshold=0.95, frame_threshold=0.9))
    assert len(strict) < len(loose)
    long_only = extract_notes(scale_wav, config=TranscriptionConfig(minimum_note_length_ms=600))
    assert long_only == []  # every note of the scale is 400 ms long


def test_frequency_limits_drop_notes(scale_wav):
    high_only = extract_notes(scale_wav, config=TranscriptionConfig(minimum_frequency=360.0))  # above F#4
    assert high_only and all(n.pitch >= 66 for n in high_only)


def test_silence_gives_no_notes_or_an_error():
    silence = np.zeros(SAMPLE_RATE, dtype=np.float32)
    assert extract_notes(silence) == []
    with pytest.raises(MelodyError, match="no notes"):
        extract_notes(silence, require_notes=True, name="quiet.wav")


def test_extract_notes_rejects_bad_audio():
    with pytest.raises(AudioError, match="mono"):
        extract_notes(np.zeros((2, SAMPLE_RATE), dtype=np.float32))
    with pytest.raises(AudioError, match="could not read"):
        extract_notes(b"not audio" * 100)


# ---- MIDI ------------------------------------------------------------------------------------------------------


def test_read_midi_skips_drums_and_merges_instruments(tmp_path):
    midi = pretty_midi.PrettyMIDI()
    lead = pretty_midi.Instrument(program=73)
    lead.notes = [pretty_midi.Note(90, 72, 0.5, 1.0), pretty_midi.Note(90, 74, 1.0, 1.5)]
    bass = pretty_midi.Instrument(program=32)
    bass.notes = [pretty_midi.Note(80, 40, 0.0, 2.0)]
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes = [pretty_midi.Note(100, 36, 0.25, 0.3)]
    midi.instruments += [lead, drums, bass]
    path = tmp_path / "band.mid"
    midi.write(str(path))
    notes = read_midi(path)
    assert [(n.pitch, round(n.onset, 3)) for n in notes] == [(40, 0.0), (72, 0.5), (74, 1.0)]
    assert 36 in [n.pitch for n in read_midi(path, include_drums=True)]
    assert read_midi(path.read_bytes()) == notes


def test_midi_without_notes_raises(tmp_path):
    midi = pretty_midi.PrettyMIDI()
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes = [pretty_midi.Note(100, 36, 0.0, 0.1)]
    midi.instruments.append(drums)
    path = tmp_path / "drums.mid"
    midi.write(str(path))
    with pytest.raises(MelodyError, match="no \\(non-drum\\) notes"):
        read_midi(path)


def test_corrupt_or_missing_midi_raises(tmp_path):
    with pytest.raises(MelodyError, match="could not read MIDI"):
        read_midi(b"MThd\x00\x00\x00\x06garbage")
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"this is no MIDI file")
    with pytest.raises(MelodyError, match="could not read MIDI"):
        read_midi(broken)
    with pytest.raises(MelodyError, match="no such file"):
        read_midi(tmp_path / "missing.mid")
    assert issubclass(MelodyError, ValueError)


def test_write_midi_round_trip(tmp_path, scale_notes):
    path = tmp_path / "scale.mid"
    write_midi(scale_notes, path, program=40)
    back = read_midi(path)
    assert [n.pitch for n in back] == [n.pitch for n in scale_notes]
    assert [n.velocity for n in back] == [n.velocity for n in scale_notes]
    for a, b in zip(scale_notes, back):
        assert a.onset == pytest.approx(b.onset, abs=2e-3) and a.offset == pytest.approx(b.offset, abs=2e-3)
    assert pretty_midi.PrettyMIDI(str(path)).instruments[0].program == 40


def test_pitch_names():
    assert [pitch_name(p) for p in (0, 60, 61, 69, 127)] == ["C-1", "C4", "C#4", "A4", "G9"]


# ---- synthesis ---------------------------------------------------------------------------------------------------


def soundfont():
    return SMALL_SOUNDFONT if synth.find_soundfont(SMALL_SOUNDFONT) == SMALL_SOUNDFONT else None


def test_render_notes_shape_and_level(scale_notes):
    audio = synth.render_notes(scale_notes, program=73, soundfont=soundfont())
    end = max(n.offset for n in scale_notes)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == pytest.approx((end + synth.RELEASE_S) * SAMPLE_RATE, abs=2)
    assert np.max(np.abs(audio)) == pytest.approx(0.9, abs=1e-5)
    assert np.sqrt(np.mean(audio[: int(0.15 * SAMPLE_RATE)] ** 2)) < 0.01  # silent before the first note


def test_render_parts_mixes_instruments(scale_notes):
    bass = [Note(n.onset, n.offset, n.pitch - 24, 80) for n in scale_notes]
    mixed = synth.render_parts([scale_notes, bass], [73, 32], sr=16000, soundfont=soundfont())
    assert mixed.ndim == 1 and len(mixed) == pytest.approx((4.1 + synth.RELEASE_S) * 16000, abs=2)
    assert np.max(np.abs(mixed)) == pytest.approx(0.9, abs=1e-5)


def test_sine_fallback_without_fluidsynth(monkeypatch, scale_notes):
    monkeypatch.setattr(synth, "fluidsynth_available", lambda: False)
    audio = synth.render_midi(notes_to_midi(scale_notes))
    assert len(audio) == pytest.approx((4.1 + synth.RELEASE_S) * SAMPLE_RATE, abs=2)
    assert np.max(np.abs(audio)) == pytest.approx(0.9, abs=1e-5)
    first = audio[int(0.25 * SAMPLE_RATE) : int(0.55 * SAMPLE_RATE)]  # C4 = 261.6 Hz
    frequency = np.fft.rfftfreq(len(first), 1 / SAMPLE_RATE)[np.argmax(np.abs(np.fft.rfft(first)))]
    assert frequency == pytest.approx(261.6, abs=4)


def test_find_soundfont_prefers_an_existing_file(tmp_path):
    assert synth.find_soundfont(str(tmp_path / "missing.sf2")) != str(tmp_path / "missing.sf2")
    fake = tmp_path / "mine.sf2"
    fake.write_bytes(b"x")
    assert synth.find_soundfont(str(fake)) == str(fake)
