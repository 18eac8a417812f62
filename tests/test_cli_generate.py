"""`python -m mmgen generate`: text-to-music, a user melody, music-to-music, outputs and readable errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from fixtures import EXAMPLE_AUDIO, EXAMPLE_MIDI, ROOT

from mmgen.audio import SAMPLE_RATE
from mmgen.cli import main
from mmgen.melody.notes import read_midi

FAST = ["--seconds", "2", "--steps", "3"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def scores_text(adherence):
    """The printed scores of a JSON summary's "adherence" entry."""
    return f"note-F1 {adherence['note_f1']:.2f} · chroma {adherence['chroma_cosine']:.2f}"


def generate(model_dir, tmp_path, *args, name="out"):
    paths = {kind: str(tmp_path / f"{name}.{kind}") for kind in ("wav", "png", "mid", "json")}
    argv = ["generate", *args, "-o", paths["wav"], "--model", model_dir, "--png", paths["png"], "--midi",
            paths["mid"], "--json", paths["json"], *FAST]  # fmt: skip
    assert main(argv) == 0
    with open(paths["json"], encoding="utf-8") as f:
        summary = json.load(f)
    wave, sr = sf.read(paths["wav"])
    assert sr == SAMPLE_RATE and wave.shape == (2 * SAMPLE_RATE,) and np.isfinite(wave).all()
    with open(paths["png"], "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    adherence_png = tmp_path / f"{name}_adherence.png"  # the clip's transcription over its guiding melody
    if "--no-adherence" in args:
        assert summary["adherence"] is None and not adherence_png.exists()
    else:
        assert adherence_png.read_bytes().startswith(PNG_SIGNATURE)
        scores = summary["adherence"]
        assert 0.0 <= scores["note_f1"] <= 1.0 and 0.0 <= scores["chroma_cosine"] <= 1.0 and scores["guide_notes"] > 0
    return wave, read_midi(paths["mid"]), summary


def test_text_to_music_writes_audio_piano_roll_midi_and_summary(model_dir, tmp_path, capsys):
    wave, notes, summary = generate(model_dir, tmp_path, "a calm folk tune on a flute", "--seed", "7")
    out = capsys.readouterr()
    assert out.out.strip() == str(tmp_path / "out.wav")  # stdout: only the written path
    assert "Retrieved melody" in out.err and "wrote   png" in out.err
    assert "Melody adherence: " in out.err and scores_text(summary["adherence"]) in out.err
    assert f"wrote adherence: {tmp_path / 'out_adherence.png'}" in out.err
    assert summary["settings"]["mode"] == "text-to-music" and summary["settings"]["seed"] == 7
    assert summary["settings"]["num_inference_steps"] == 3 and summary["settings"]["seconds"] == 2.0
    assert summary["melody"]["source"] == "dummy" and summary["melody"]["tokens"].count("|") == 5
    assert len(notes) == 6 and summary["timings"]["total_s"] > 0
    again, _, _ = generate(
        model_dir, tmp_path, "a calm folk tune on a flute", "--seed", "7", "--no-adherence", name="again"
    )
    np.testing.assert_allclose(again, wave, atol=1e-4)  # the seed makes it reproducible (16-bit WAV)
    assert "Melody adherence" not in capsys.readouterr().err


def test_without_png_or_midi_the_guiding_melody_is_neither_drawn_nor_synthesized(model_dir, tmp_path, monkeypatch):
    """Its piano roll and preview (about a second of a busy CPU) are made for --png / --midi only; the summary, the
    melody's tokens and the adherence check are as before."""
    from mmgen.melody import pianoroll, synth

    def refuse(*args, **kwargs):
        raise AssertionError("the guiding melody was drawn or synthesized without --png / --midi")

    monkeypatch.setattr(pianoroll, "plot_piano_roll", refuse)
    monkeypatch.setattr(synth, "render_notes", refuse)
    wav, summary_path = tmp_path / "plain.wav", tmp_path / "plain.json"
    argv = ["generate", "a calm folk tune", "-o", str(wav), "--model", model_dir, "--json", str(summary_path), *FAST]
    assert main(argv) == 0
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    assert summary["melody"]["source"] == "dummy" and summary["melody"]["tokens"].count("|") == 5
    assert summary["adherence"]["guide_notes"] > 0
    assert (tmp_path / "plain_adherence.png").read_bytes().startswith(PNG_SIGNATURE)


def test_user_melody_bypasses_retrieval(model_dir, tmp_path):
    _, notes, summary = generate(model_dir, tmp_path, "a jazz piano trio", "--melody", EXAMPLE_MIDI)
    assert summary["melody"]["source"] == "user" and summary["melody"]["score"] is None
    assert len(notes) == len(read_midi(EXAMPLE_MIDI)) == 31
    # A melody alone (no prompt) is a valid query too.
    _, _, alone = generate(model_dir, tmp_path, "--melody", EXAMPLE_MIDI, name="alone")
    assert alone["settings"]["prompt"] == "" and alone["settings"]["user_melody"]


def test_typed_melody_shaped_and_the_clip_melody_taken_out(model_dir, tmp_path, capsys):
    clip_midi = tmp_path / "clip.mid"
    _, notes, summary = generate(
        model_dir, tmp_path, "a fiddle tune", "--melody", "bpm=120 C4 D4 E4/2 F4/2 G4*2", "--transpose", "-3",
        "--tempo", "2", "--clip-midi", str(clip_midi),
    )  # fmt: skip
    assert [n.pitch for n in notes] == [57, 59, 61, 62, 64]
    assert notes[1].onset == pytest.approx(0.25, abs=0.01)  # one beat at 120 BPM, twice as fast
    settings = summary["settings"]
    assert settings["melody_kind"] == "note-list"
    assert settings["melody_edits"] == {"tempo": 2.0, "transpose_semitones": -3}
    assert summary["melody"]["edits"] == settings["melody_edits"]
    tokens = summary["adherence"]["tokens"]  # the clip's own melody: MIDI file and token string
    err = capsys.readouterr().err
    if summary["adherence"]["transcribed_notes"]:
        assert len(read_midi(clip_midi)) == tokens.count("|") + 1 == summary["adherence"]["transcribed_notes"]
        assert f"wrote clip_midi: {clip_midi}" in err
    else:  # the tiny random model's noise holds no notes: said, and nothing written
        assert tokens == "" and not clip_midi.exists() and "no notes were transcribed from the clip" in err
    abc = tmp_path / "tune.abc"
    abc.write_text("X:1\nL:1/8\nK:G\nGABc d2 e2|\n")
    _, abc_notes, abc_summary = generate(model_dir, tmp_path, "--melody", str(abc), "--fold", name="abc")
    assert [n.pitch for n in abc_notes] == [67, 69, 71, 72, 74, 76]
    assert abc_summary["settings"]["melody_edits"] == {"fold": [41, 96]}


def test_music_to_music_with_steering_text(model_dir, tmp_path):
    _, notes, summary = generate(
        model_dir, tmp_path, "played on a harp", "--audio", EXAMPLE_AUDIO, "--steer-weight", "0.5",
        "--candidates", "2", "--scheduler", "dpm-solver++",
    )  # fmt: skip
    settings = summary["settings"]
    assert settings["mode"] == "music-to-music" and settings["steer_text"] == "played on a harp"
    assert settings["steer_weight"] == 0.5 and settings["scheduler"] == "dpm-solver++"
    assert summary["melody"]["source"] == "dummy" and len(notes) == 6
    assert summary["score"] is not None  # two candidates were ranked by the aligner
    _, followed, follow = generate(model_dir, tmp_path, "--audio", EXAMPLE_AUDIO, "--follow-audio-melody", name="f")
    assert follow["melody"]["source"] == "user" and len(followed) >= 20  # the flute tune, transcribed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a tune", "--model", "{missing}"], "model_index.json"),
        (["--model", "{model}"], "nothing to generate from"),
        (["a tune", "--model", "{model}", "--seconds", "0.1"], "--seconds: the length must be between 0.5 and 300 s"),
        (["a tune", "--model", "{model}", "--seconds", "301"], "--seconds: the length must be between 0.5 and 300 s"),
        (["a tune", "--model", "{model}", "--seconds", "nan"], "--seconds: the length must be between"),
        (["a tune", "--model", "{model}", "--window", "50"], "--window: a window must be between 4 and 30 s"),
        (["a tune", "--model", "{model}", "--window", "4", "--overlap", "3"], "--overlap: the overlap must be"),
        (["a tune", "--model", "{model}", "--candidates", "17"], "candidates must be from 1 to 16"),
        (["a tune", "--model", "{model}", "--steps", "1001"], "steps must be a whole number from 1 to 1000"),
        (["a tune", "--model", "{model}", "--melody", "nope.mid"], "--melody: no such file 'nope.mid'"),
        (["--audio", "missing.wav", "--model", "{model}"], "--audio: no such file"),
        (["--melody", "X:1\nK:Q\nGABc|", "--model", "{model}"], "line 2: unknown key 'Q'"),
        (["--melody", "C4 D4 | C9 H4", "--model", "{model}"], "bar 2, token 2 ('H4')"),
        (["--melody", "C8 D4", "--transpose", "5", "--model", "{model}"], "outside the playable range"),
        (["a tune", "--transpose", "2", "--model", "{model}"], "shape a --melody: give one"),
        (
            ["a tune", "--melody", "C4", "--clip-midi", "x.mid", "--no-adherence", "--model", "{model}"],
            "--clip-midi needs the clip's transcription",
        ),
    ],
)
def test_errors_are_one_readable_line(model_dir, tmp_path, capsys, args, message):
    args = [a.format(missing=str(tmp_path / "none"), model=model_dir) for a in args]
    assert main(["generate", *args, "-o", str(tmp_path / "x.wav")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "x.wav").exists()


def test_missing_default_model_says_how_to_get_one(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no checkpoints/mmgen-default here
    assert main(["generate", "a tune", "-o", "x.wav"]) == 1
    err = capsys.readouterr().err
    assert "checkpoints/mmgen-default" in err and "--model PATH" in err


def test_help_explains_every_flag():
    result = subprocess.run(
        [sys.executable, "-m", "mmgen", "generate", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    for flag in ("--melody", "--audio", "--seconds", "--steps", "--seed", "--model", "--guidance", "--candidates",
                 "--png", "--midi", "--scheduler", "--negative", "-o OUTPUT"):  # fmt: skip
        assert flag in result.stdout
    assert "checkpoints/mmgen-default" in result.stdout and "Examples:" in result.stdout


def test_demo_generates_with_a_model_then_inspects(model_dir, tmp_path, capsys):
    out_dir = tmp_path / "demo"
    assert main(["demo", "--output-dir", str(out_dir), "--model", model_dir, *FAST, "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    wave, sr = sf.read(out_dir / "generated.wav")
    assert sr == SAMPLE_RATE and wave.shape == (2 * SAMPLE_RATE,) and np.abs(wave).max() > 0
    with open(out_dir / "guiding_melody.png", "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    assert (out_dir / "generated_adherence.png").read_bytes().startswith(PNG_SIGNATURE)
    summary = json.loads((out_dir / "generated.json").read_text())
    adherence = summary["adherence"]
    assert 0.0 <= adherence["note_f1"] <= 1.0 and 0.0 <= adherence["chroma_cosine"] <= 1.0
    assert "Melody adherence: " in printed and scores_text(adherence) in printed
    tokens = (out_dir / "guiding_melody_tokens.txt").read_text().strip()
    assert summary["seed"] == 3 and tokens.count("|") == 5 and len(read_midi(out_dir / "guiding_melody.mid")) == 6
    assert "Text to music with" in printed and (out_dir / "example_pianoroll.png").stat().st_size > 0
    assert not (out_dir / "_work").exists()


# --- long pieces and continuations (issue 17) ------------------------------------------------------------------
TINY_WINDOWS = ["--window", "4", "--overlap", "1", "--steps", "2", "--no-adherence"]


def sine_clip(path, seconds, amplitude=0.3):
    from mmgen.audio import save_audio

    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    save_audio(path, (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    return str(path)


def test_a_piece_longer_than_a_window_is_made_window_by_window(model_dir, tmp_path, capsys):
    out = tmp_path / "long.wav"
    argv = ["generate", "a slow folk song", "--model", model_dir, "--seconds", "5", *TINY_WINDOWS, "-o", str(out),
            "--json", str(tmp_path / "long.json")]  # fmt: skip
    assert main(argv) == 0
    wave, sr = sf.read(out)
    assert sr == SAMPLE_RATE and wave.shape == (5 * SAMPLE_RATE,) and np.isfinite(wave).all()
    err = capsys.readouterr().err
    # progress per window: 5 s in 4 s windows holding 1 s is two windows of two steps
    assert "window 1/2, step 1/2" in err and "window 2/2, step 2/2" in err and "window 3/" not in err
    assert "100%" in err and "101%" not in err
    settings = json.loads((tmp_path / "long.json").read_text())["settings"]
    assert (settings["seconds"], settings["window_s"], settings["overlap_s"]) == (5.0, 4.0, 1.0)


def test_continue_writes_the_clip_then_its_continuation_under_a_melody(sketch_model_dir, tmp_path, capsys):
    clip = sine_clip(tmp_path / "clip.wav", 1.5)
    out, midi, summary_path = tmp_path / "more.wav", tmp_path / "more.mid", tmp_path / "more.json"
    argv = ["generate", "--continue", clip, "--seconds", "2", "--melody", "bpm=120 C4 D4 E4 G4", "--model",
            sketch_model_dir, "--window", "4", "--overlap", "1", "--steps", "2", "-o", str(out), "--midi", str(midi),
            "--json", str(summary_path)]  # fmt: skip
    assert main(argv) == 0
    wave, _ = sf.read(out)
    summary = json.loads(summary_path.read_text())
    settings = summary["settings"]
    assert settings["mode"] == "continuation" and settings["clip"] == "'clip.wav'" and settings["clip_seconds"] == 1.5
    # the clip (its whole latent frames: at most one frame short of 1.5 s) followed by 2 new seconds
    held_s = len(wave) / SAMPLE_RATE - 2.0
    assert 1.4 < held_s <= 1.5
    notes = read_midi(midi)  # the melody starts where the clip ends
    assert [n.pitch for n in notes][:4] == [60, 62, 64, 67] and notes[0].onset == pytest.approx(held_s, abs=0.01)
    assert summary["adherence"]["guide_notes"] > 0  # the new part, compared with its melody
    err = capsys.readouterr().err
    assert "Continued 'clip.wav' (1.5 s) by 2.0 s: 3.5 s in all" in err


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: sine_clip(d / "short.wav", 0.5), "--continue: 'short.wav': the audio is 0.500 s long"),
        (lambda d: sine_clip(d / "quiet.wav", 2.0, amplitude=0.0), "--continue: 'quiet.wav': the audio is silent"),
        (
            lambda d: (d / "bad.wav").write_bytes(b"not audio at all") and str(d / "bad.wav"),
            "--continue: 'bad.wav': could not read audio",
        ),
        (lambda d: str(d), "is a folder; give one recording to continue"),
        (lambda d: str(d / "missing.wav"), "--continue: no such file"),
    ],
)
def test_continue_errors_name_the_flag(model_dir, tmp_path, capsys, make, message):
    clip = make(tmp_path)
    assert main(["generate", "--continue", clip, "--model", model_dir, "-o", str(tmp_path / "x.wav")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "x.wav").exists()


def test_continue_refuses_lengths_past_the_limit_and_music_to_music(model_dir, tmp_path, capsys):
    clip = sine_clip(tmp_path / "clip.wav", 2.0)
    for extra, message in (
        (["--seconds", "300.5"], "--seconds: the continuation's length must be between 0.5 and 300"),
        (["--audio", clip], "--audio and --continue: give one"),
    ):
        argv = ["generate", "--continue", clip, *extra, "--model", model_dir, "-o", str(tmp_path / "x.wav")]
        assert main(argv) == 1
        assert message in capsys.readouterr().err
