"""`python -m mmgen data build` without captions: plain captions from folder and file names, clear errors."""

import numpy as np
import pytest

from mmgen.audio import SAMPLE_RATE, save_audio
from mmgen.cli import main as cli_main
from mmgen.data import load_musicset
from mmgen.data.build import build_musicset_from_audio, plain_caption
from mmgen.data.format import MusicSetError


def _tune(pitches, note_s=0.4):
    t = np.arange(int(note_s * SAMPLE_RATE)) / SAMPLE_RATE
    return np.concatenate([0.4 * np.sin(2 * np.pi * 440 * 2 ** ((p - 69) / 12) * t) for p in pitches])


def test_plain_caption_names_the_folder_and_the_file():
    assert plain_caption("jazz_trio/Sunday Waltz.wav", "/music") == "jazz trio music, sunday waltz"
    assert plain_caption("SundayWaltz-02.flac", "/x/chip_tunes") == "chip tunes, sunday waltz 02"
    assert plain_caption("a.wav", "/home/me/My-Music/") == "my music, a"


def test_build_without_captions(tmp_path, capsys):
    folder = tmp_path / "lullabies"
    folder.mkdir()
    for i in range(3):
        save_audio(folder / f"night_song_{i}.wav", _tune([60 + i, 64, 67, 72, 67] * 2))
    (folder / "notes.txt").write_text("not audio")  # ignored: not an audio extension
    dataset, report = build_musicset_from_audio(tmp_path / "set", folder, clip_seconds=4.0, progress=False)
    rows = [row for split in dataset.values() for row in split]
    assert sorted(row["caption"] for row in rows) == [f"lullabies music, night song {i}" for i in range(3)]
    assert all(row["melody"] for row in rows) and report["clips"] == 3

    code = cli_main(["data", "build", "--audio-dir", str(folder), "--caption", "soft lullabies on a music box",
                     "--output", str(tmp_path / "cli"), "--clip-seconds", "4"])  # fmt: skip
    assert code == 0
    captions = {row["caption"] for split in load_musicset(tmp_path / "cli").values() for row in split}
    assert captions == {"soft lullabies on a music box"}


def test_build_errors_name_the_problem(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MusicSetError, match="holds no audio file"):
        build_musicset_from_audio(tmp_path / "a", empty, progress=False)
    assert cli_main(["data", "build", "--audio-dir", str(empty), "--output", str(tmp_path / "b")]) == 1
    assert "holds no audio file" in capsys.readouterr().err

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" + bytes(range(256)) * 4)
    with pytest.raises(MusicSetError, match=r"no usable clip .*bad\.wav: unreadable"):
        build_musicset_from_audio(tmp_path / "c", broken, progress=False)
    with pytest.raises(MusicSetError, match="not both"):
        build_musicset_from_audio(tmp_path / "d", broken, tmp_path / "x.csv", caption="x", progress=False)
