"""Issue 16, the `generate` CLI's entry point: outputs that cannot be written are refused before any work (item 10),
`--audio` is bounded by its duration, not a size rule, and a folder is named as one (item 11), and bad audio or
settings give one readable line (items 6, 7, 9). A tiny random pipeline."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf
from fixtures import EXAMPLE_AUDIO

from mmgen.audio import SAMPLE_RATE, save_audio
from mmgen.cli import main


@pytest.fixture(scope="module")
def bad_audio(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-audio")
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    save_audio(root / "one_sample.wav", tone[:1])
    sf.write(root / "loud.wav", tone * 1e6, SAMPLE_RATE, subtype="FLOAT")
    (root / "a_folder").mkdir()
    (root / "file.txt").write_text("not a folder")
    # 25 MB but 290 s: over the Space's 20 MB upload rule, under the CLI's 300 s limit
    sf.write(root / "long.wav", np.zeros(290 * SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE, subtype="FLOAT")
    return root


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a tune", "-o", "{root}/a_folder"], "-o/--output: '{root}/a_folder' is a folder"),
        (["a tune", "-o", "{root}/file.txt/out.wav"], "-o/--output: cannot write to '{root}/file.txt'"),
        (["a tune", "-o", "{root}/out.xyz"], "cannot write audio as '.xyz'"),
        (["a tune", "--png", "{root}/a_folder"], "--png: '{root}/a_folder' is a folder"),
        (["a tune", "--json", "{root}/file.txt/s.json"], "--json: cannot write to"),
        (["--audio", "{root}/a_folder"], "--audio: '{root}/a_folder' is a folder; give one recording (up to 300 s)"),
        (["--audio", "{root}/one_sample.wav"], "at least 0.5 s is needed"),
        (["--audio", "{root}/loud.wav"], "peaks at"),
        (["--audio", EXAMPLE_AUDIO, "--seconds", "nan"], "--seconds: the length must be between 0.5 and 300 s"),
        (["a tune", "--guidance", "nan"], "guidance scale must be between 0 and 20"),
        (["a tune", "--guidance", "inf"], "guidance scale must be between 0 and 20"),
        (["a tune", "--melody-guidance", "nan"], "melody guidance must be between 0 and 20"),
        (["a tune", "--melody", "{root}/one_sample.wav"], "at least 0.5 s is needed"),
        (["a tune", "--candidates", "1000"], "candidates must be from 1 to 16"),  # the library's bounds
    ],
)
def test_refused_before_generating(model_dir, bad_audio, tmp_path, capsys, args, message):
    args = [a.format(root=bad_audio) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "x.wav")]
    if "--seconds" not in args:
        args += ["--seconds", "2"]
    started = time.perf_counter()
    assert main(["generate", *args, "--model", model_dir, "--steps", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message.format(root=bad_audio) in err and "Traceback" not in err
    assert err.count("\n") == 1
    assert time.perf_counter() - started < 60.0
    assert not (tmp_path / "x.wav").exists()


def test_long_audio_is_bounded_by_duration_not_size(model_dir, bad_audio, tmp_path, capsys):
    """A 25 MB, 290 s recording is within the CLI's 300 s limit (the Space's 20 MB rule used to refuse it)."""
    out = tmp_path / "long.wav"
    assert main(["generate", "--audio", str(bad_audio / "long.wav"), "-o", str(out), "--model", model_dir,
                 "--seconds", "1", "--steps", "1", "--no-adherence", "-q"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "MB" not in err and "silent" in err  # it got past every size rule to the audio itself (silence)
