"""Piano roll, melody overlay, melody statistics, inspect_melody, the `melody` and `demo` commands."""

import json

import numpy as np
import pytest

from mmgen.audio import SAMPLE_RATE, load_audio
from mmgen.cli import main
from mmgen.melody.inspection import MelodyInspection, inspect_melody, note_scores
from mmgen.melody.load import is_midi
from mmgen.melody.notes import MelodyError, Note, read_midi, write_midi
from mmgen.melody.pianoroll import (
    EMPTY_MESSAGE,
    NO_TRANSCRIPTION_MESSAGE,
    estimate_tempo,
    format_scores,
    melody_statistics,
    plot_melody_overlay,
    plot_piano_roll,
)
from mmgen.melody.tokenizer import notes_to_string

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def figure_texts(figure):
    return [t.get_text() for ax in figure.axes for t in ax.texts]


def tick_labels(figure):
    return [label.get_text() for label in figure.axes[0].get_yticklabels()]


@pytest.fixture
def midi_path(tmp_path, scale_notes):
    path = tmp_path / "scale.mid"
    write_midi(scale_notes, path)
    return path


# ---- piano roll ----------------------------------------------------------------------------------------------------


def test_piano_roll_png_is_written(tmp_path, scale_notes):
    path = tmp_path / "roll.png"
    figure = plot_piano_roll(scale_notes, path, title="scale", highlight=(1.0, 2.0), reference=scale_notes[:2])
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    assert figure.axes[0].get_title() == "scale"
    labels = tick_labels(figure)
    assert "C4" in labels and "C5" in labels and "F4" in labels
    assert figure.axes[0].get_xlim() == pytest.approx((0.0, 4.1))
    gids = [patch.get_gid() for patch in figure.axes[0].patches]
    assert gids.count("note") == len(scale_notes) and gids.count("reference") == 2


def test_piano_roll_wide_range_labels_octaves(scale_notes):
    notes = scale_notes + [Note(0.0, 1.0, 36), Note(1.0, 2.0, 96)]
    labels = [label for label in tick_labels(plot_piano_roll(notes, seconds=10.0)) if label]
    assert {"C2", "C3", "C4", "C5", "C6", "C7"} <= set(labels)
    assert "C#4" not in labels


def test_piano_roll_of_no_notes_shows_a_message(tmp_path):
    path = tmp_path / "empty.png"
    figure = plot_piano_roll([], path)
    assert EMPTY_MESSAGE in figure_texts(figure)
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_piano_roll_rejects_bad_arguments(scale_notes):
    with pytest.raises(ValueError, match="seconds"):
        plot_piano_roll(scale_notes, seconds=0)
    with pytest.raises(ValueError, match="highlight"):
        plot_piano_roll(scale_notes, highlight=(2.0, 1.0))


# ---- melody overlay ------------------------------------------------------------------------------------------------


def legend_texts(figure):
    return [t.get_text() for legend in figure.legends for t in legend.get_texts()]


def test_melody_overlay_draws_the_transcription_over_the_guide(tmp_path, scale_notes):
    # the clip played the scale a little late, held the 4th note a semitone high and added a low note
    transcribed = [Note(n.onset + 0.02, n.offset, n.pitch + (i == 3)) for i, n in enumerate(scale_notes)]
    transcribed.append(Note(1.0, 1.3, 48))
    path = tmp_path / "overlay.png"
    figure = plot_melody_overlay(
        scale_notes, transcribed, path, title="flute clip", scores={"note-F1": 0.523, "chroma": 0.61}, seconds=5.0
    )
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    axes = figure.axes[0]
    assert axes.get_title() == "flute clip\nnote-F1 0.52 · chroma 0.61"
    gids = [patch.get_gid() for patch in axes.patches]
    assert gids.count("guide") == len(scale_notes) and gids.count("generated") == len(transcribed)
    guide_bar = next(p for p in axes.patches if p.get_gid() == "guide")
    outline = next(p for p in axes.patches if p.get_gid() == "generated")
    assert guide_bar.get_fill() and 0 < guide_bar.get_alpha() < 1  # translucent boxes
    assert not outline.get_fill() and outline.get_edgecolor() != guide_bar.get_facecolor()  # outlines, another colour
    # the axis conventions of plot_piano_roll: the given length, every drawn pitch labelled by name
    assert axes.get_xlim() == pytest.approx((0.0, 5.0)) and axes.get_xlabel() == "time (s)"
    assert {"C3", "C4", "C5"} <= set(tick_labels(figure))
    assert legend_texts(figure) == ["guiding melody (8 notes)", "generated clip, transcribed (9 notes)"]
    assert NO_TRANSCRIPTION_MESSAGE not in figure_texts(figure)


def test_melody_overlay_without_a_transcription_shows_the_guide_and_says_so(tmp_path, scale_notes):
    path = tmp_path / "overlay.png"
    figure = plot_melody_overlay(scale_notes, [], path, scores={"note-F1": 0.0, "chroma": None})
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert figure.axes[0].get_title() == "Generated clip over its guiding melody\nnote-F1 0.00 · chroma n/a"
    assert [p.get_gid() for p in figure.axes[0].patches if p.get_gid()] == ["guide"] * len(scale_notes)
    assert NO_TRANSCRIPTION_MESSAGE in figure_texts(figure)
    assert legend_texts(figure)[1] == f"generated clip: {NO_TRANSCRIPTION_MESSAGE}"
    assert figure.axes[0].get_xlim() == pytest.approx((0.0, 4.1))  # default length: the last note-off
    nothing = plot_melody_overlay([], [])
    assert EMPTY_MESSAGE in figure_texts(nothing) and not nothing.legends
    with pytest.raises(ValueError, match="seconds"):
        plot_melody_overlay(scale_notes, [], seconds=-1.0)


def test_format_scores():
    assert format_scores({"note-F1": 0.523, "chroma": 0.6149}) == "note-F1 0.52 · chroma 0.61"
    assert format_scores({"note-F1": None}) == "note-F1 n/a"


# ---- statistics ----------------------------------------------------------------------------------------------------


def test_statistics_of_a_known_melody():
    # eight eighth notes at 100 BPM (0.3 s apart, 0.25 s long), then a two-note chord
    notes = [Note(0.3 * i, 0.3 * i + 0.25, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]
    notes += [Note(2.4, 2.9, 76), Note(2.4, 2.9, 79)]
    stats = melody_statistics(notes)
    assert stats["num_notes"] == 10
    assert stats["start_s"] == 0.0 and stats["end_s"] == pytest.approx(2.9)
    assert stats["duration_s"] == pytest.approx(2.9)
    assert (stats["lowest"], stats["highest"]) == ("C4", "G5")
    assert (stats["lowest_pitch"], stats["highest_pitch"], stats["pitch_range_semitones"]) == (60, 79, 19)
    assert stats["mean_pitch"] == pytest.approx(np.mean([n.pitch for n in notes]), abs=1e-3)
    assert stats["notes_per_second"] == pytest.approx(10 / 2.9, abs=1e-3)
    assert stats["tempo_bpm"] == pytest.approx(100.0, abs=0.5)
    sounding = 8 * 0.25 + 0.5
    assert stats["polyphony_share"] == pytest.approx(0.5 / sounding, abs=1e-3)
    assert stats["max_polyphony"] == 2
    json.dumps(stats)


def test_statistics_of_nothing():
    stats = melody_statistics([])
    assert stats["num_notes"] == 0 and stats["tempo_bpm"] is None and stats["lowest"] is None


@pytest.mark.parametrize("bpm", [72, 96, 120, 135])
def test_tempo_estimate_is_octave_folded(bpm):
    beat = 60.0 / bpm
    quarters = [Note(beat * i, beat * (i + 0.9), 60) for i in range(12)]
    sixteenths = [Note(beat / 4 * i, beat / 4 * (i + 0.9), 60) for i in range(32)]
    assert estimate_tempo(quarters) == pytest.approx(bpm, rel=0.01)
    assert estimate_tempo(sixteenths) == pytest.approx(bpm, rel=0.01)
    assert estimate_tempo(quarters[:2]) is None


# ---- inspect_melody ----------------------------------------------------------------------------------------------


def test_inspect_audio(scale_wav, scale_notes, tmp_path):
    inspection = inspect_melody(scale_wav)
    assert isinstance(inspection, MelodyInspection)
    assert inspection.source_kind == "audio" and inspection.name == "scale.wav"
    assert note_scores(scale_notes, inspection.notes)["f1"] >= 0.9
    assert inspection.tokens == notes_to_string(inspection.notes)
    assert inspection.statistics == melody_statistics(inspection.notes)
    assert inspection.waveform.shape == load_audio(scale_wav).shape
    from_bytes = inspect_melody(scale_wav.read_bytes())
    assert from_bytes.source_kind == "audio" and from_bytes.tokens == inspection.tokens

    paths = {
        "mid": inspection.write_midi(tmp_path / "o.mid"),
        "png": inspection.write_piano_roll(tmp_path / "o.png"),
        "wav": inspection.write_preview(tmp_path / "o.wav"),
        "txt": inspection.write_tokens(tmp_path / "o.txt"),
        "json": inspection.write_json(tmp_path / "o.json"),
    }
    assert [n.pitch for n in read_midi(paths["mid"])] == [n.pitch for n in inspection.notes]
    assert open(paths["png"], "rb").read(8) == PNG_SIGNATURE
    preview = load_audio(paths["wav"])
    assert abs(len(preview) / SAMPLE_RATE - (inspection.notes[-1].offset + 0.5)) < 0.01
    assert open(paths["txt"]).read().strip() == inspection.tokens
    assert json.load(open(paths["json"]))["statistics"]["num_notes"] == len(inspection.notes)


def test_inspect_midi_by_extension_bytes_and_header(midi_path, scale_notes, tmp_path):
    by_path = inspect_melody(midi_path)
    assert by_path.source_kind == "midi" and by_path.waveform is None
    assert [n.pitch for n in by_path.notes] == [n.pitch for n in scale_notes]
    by_bytes = inspect_melody(midi_path.read_bytes())
    assert by_bytes.source_kind == "midi" and by_bytes.tokens == by_path.tokens
    renamed = tmp_path / "upload.bin"
    renamed.write_bytes(midi_path.read_bytes())
    assert is_midi(renamed) and inspect_melody(renamed).tokens == by_path.tokens
    assert not is_midi(b"RIFF....WAVE") and not is_midi(tmp_path / "missing.wav")


def test_inspect_skyline_reduces_chords(tmp_path):
    chords = [Note(0.5 * i, 0.5 * i + 0.4, p + 12 * (i % 2)) for i in range(4) for p in (60, 64, 67)]
    path = tmp_path / "chords.mid"
    write_midi(chords, path)
    full = inspect_melody(path)
    line = inspect_melody(path, reduction="skyline")
    assert full.statistics["max_polyphony"] == 3 and len(full.notes) == 12
    assert line.statistics["max_polyphony"] == 1 and [n.pitch for n in line.notes] == [67, 79, 67, 79]
    assert line.reduction == "skyline"


def test_inspect_errors(tmp_path):
    with pytest.raises(ValueError, match="reduction"):
        inspect_melody(b"MThd", reduction="top")
    with pytest.raises(MelodyError, match="could not read MIDI"):
        inspect_melody(b"MThd\x00\x00\x00\x06broken")
    with pytest.raises(MelodyError, match="no notes"):
        inspect_melody(np.zeros(SAMPLE_RATE, dtype=np.float32))
    with pytest.raises(ValueError, match="no such file"):
        inspect_melody(tmp_path / "missing.flac")


# ---- command line --------------------------------------------------------------------------------------------------


def test_cli_melody_midi_tokens(midi_path, capsys):
    assert main(["melody", str(midi_path), "--tokens"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == notes_to_string(read_midi(midi_path))
    assert "8 notes from midi" in out.err


def test_cli_melody_audio_writes_files_and_json(scale_wav, tmp_path, capsys):
    args = ["melody", str(scale_wav), "--midi", str(tmp_path / "a.mid"), "--png", str(tmp_path / "a.png"),
            "--preview", str(tmp_path / "a.wav"), "--json", "--tokens", "--onset-threshold", "0.6"]  # fmt: skip
    assert main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["source_kind"] == "audio" and payload["statistics"]["num_notes"] >= 8
    assert payload["tokens"].count("|") == payload["statistics"]["num_notes"] - 1
    assert set(payload["written"]) == {"midi", "png", "preview"}
    for name in ("a.mid", "a.png", "a.wav"):
        assert (tmp_path / name).stat().st_size > 0


def test_cli_melody_reports_bad_input(tmp_path, midi_path, capsys):
    assert main(["melody", str(tmp_path / "missing.wav")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["melody", str(midi_path), "--onset-threshold", "1.5"]) == 1
    assert "--onset-threshold" in capsys.readouterr().err
    assert main(["melody", str(midi_path), "--program", "200"]) == 1


def test_cli_demo_end_to_end(tmp_path, capsys):
    out_dir = tmp_path / "demo"
    assert main(["demo", "--output-dir", str(out_dir), "--skip-generation"]) == 0
    printed = capsys.readouterr().out
    for name in ("example.mid", "example_pianoroll.png", "example_tokens.txt", "example_preview.wav"):
        assert (out_dir / name).stat().st_size > 0 and str(out_dir / name) in printed
    tokens = (out_dir / "example_tokens.txt").read_text().strip()
    report = json.loads((out_dir / "example.json").read_text())
    assert report["tokens"] == tokens and len(read_midi(out_dir / "example.mid")) == len(report["notes"])
    assert report["scores_vs_ground_truth"]["f1"] >= 0.7


def test_cli_demo_without_a_model_says_why_and_still_inspects(tmp_path, capsys):
    out_dir = tmp_path / "demo"
    assert main(["demo", "--output-dir", str(out_dir), "--model", str(tmp_path / "no-model")]) == 0
    printed = capsys.readouterr().out
    assert "Text to music skipped" in printed and "model_index.json is missing" in printed
    assert not (out_dir / "generated.wav").exists() and (out_dir / "example_pianoroll.png").stat().st_size > 0


def test_cli_demo_uses_the_shipped_default_steps():
    from mmgen.app.defaults import DEFAULT_STEPS
    from mmgen.cli import build_parser

    assert build_parser().parse_args(["demo"]).steps == DEFAULT_STEPS
