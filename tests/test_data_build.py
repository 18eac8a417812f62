"""Own-audio MusicSet builder: caption layouts, clip cutting, bad inputs in the report, resuming, the CLI."""

import json

import numpy as np
import pytest

import mmgen.data.build as build_module
from mmgen.audio import SAMPLE_RATE, save_audio
from mmgen.cli import main as cli_main
from mmgen.data import load_musicset
from mmgen.data.build import build_musicset_from_audio, clip_starts, plan_audio_jobs, read_caption_file
from mmgen.data.format import SPLITS, MusicSetError


def _tune(pitches, note_s=0.4, sr=SAMPLE_RATE):
    """Sine notes, one after another, shape (samples,)."""
    t = np.arange(int(note_s * sr)) / sr
    fade = np.minimum(1.0, np.minimum(t / 0.01, (note_s - t) / 0.02)).clip(0, 1)
    return np.concatenate([0.4 * fade * np.sin(2 * np.pi * 440 * 2 ** ((p - 69) / 12) * t) for p in pitches])


@pytest.fixture
def audio_folder(tmp_path):
    folder = tmp_path / "audio"
    (folder / "sub").mkdir(parents=True)
    for i in range(4):
        save_audio(folder / f"song{i}.wav", _tune([60 + i, 64 + i, 67 + i, 72 + i, 67 + i] * 2))  # 4 s
    save_audio(folder / "sub" / "long.flac", _tune(list(range(55, 80)) * 2, note_s=0.3))  # 15 s
    save_audio(folder / "silent.wav", np.zeros(3 * SAMPLE_RATE, dtype=np.float32))
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" + bytes(range(256)) * 4)
    rows = ["file,caption"] + [f"song{i}.wav,a sine tune number {i}" for i in range(4)]
    rows += ["sub/long.flac,a long rising scale", "sub/long.flac,scales going up", "silent.wav,nothing at all",
             "corrupt.wav,a broken file", "missing.wav,a file that is not there"]  # fmt: skip
    (tmp_path / "captions.csv").write_text("\n".join(rows) + "\n")
    return folder, tmp_path / "captions.csv"


def test_clip_starts_skips_the_ends_of_long_tracks():
    assert clip_starts(100.0, 10.0, 0.1, 20.0) == [10.0 + 10 * i for i in range(8)]  # 10..90 s
    assert clip_starts(15.0, 10.0, 0.1, 20.0) == [0.0, 10.0]  # a last clip half a clip long or more is kept ...
    assert clip_starts(14.9, 10.0, 0.1, 20.0) == [0.0]  # ... a shorter one is not
    assert clip_starts(4.0, 10.0, 0.1, 20.0) == [0.0]  # short track: one clip
    assert clip_starts(0.5, 10.0, 0.1, 20.0) == []


def test_build_reports_bad_files_and_never_shares_a_recording(audio_folder, tmp_path):
    folder, captions = audio_folder
    dataset, report = build_musicset_from_audio(
        tmp_path / "set", folder, captions, clip_seconds=2.0, long_track_seconds=8.0, progress=False
    )
    reasons = {item["input"]: item["reason"] for item in report["skipped"]}
    assert "unreadable" in reasons["corrupt.wav"]
    assert reasons["silent.wav"].startswith("silent")
    assert reasons["missing.wav"] == "audio file not found"
    loaded = load_musicset(tmp_path / "set")
    rows = [row for split in SPLITS for row in loaded[split]]
    sources = {row["source"] for row in rows}
    assert sources == {f"song{i}.wav" for i in range(4)} | {"sub/long.flac"}
    assert len([r for r in rows if r["source"].startswith("song")]) == 8  # 4 s files give two 2 s clips
    long_rows = sorted((r for r in rows if r["source"] == "sub/long.flac"), key=lambda r: r["start_s"])
    assert long_rows[0]["start_s"] == pytest.approx(1.5)  # 10% of 15 s skipped at the start
    assert long_rows[-1]["start_s"] + long_rows[-1]["duration_s"] <= 13.5 + 1e-3  # and at the end
    assert long_rows[0]["caption"] == "a long rising scale" and long_rows[0]["alt_captions"] == ["scales going up"]
    assert all(r["melody"].startswith("<") and r["duration_s"] == pytest.approx(2.0, abs=0.01) for r in rows)
    for a in SPLITS:
        for b in SPLITS:
            if a != b:
                assert not set(loaded[a]["group"]) & set(loaded[b]["group"])
    card = (tmp_path / "set" / "README.md").read_text()
    assert "corrupt.wav" in card and "silent.wav" in card
    assert not (tmp_path / "set" / "_work").exists()


def test_build_resumes_after_being_killed(audio_folder, tmp_path, monkeypatch):
    folder, captions = audio_folder
    calls, resumed = [], False
    real = build_module.process_audio_file

    class Killed(Exception):
        pass

    def dies_on_third_file(job):
        calls.append(job.name)
        if len(calls) == 3 and not resumed:
            raise Killed("the build was killed here")
        return real(job)

    monkeypatch.setattr(build_module, "process_audio_file", dies_on_third_file)
    kwargs = {"clip_seconds": 2.0, "long_track_seconds": 8.0, "progress": False}
    with pytest.raises(Killed):
        build_musicset_from_audio(tmp_path / "set", folder, captions, **kwargs)
    done = [p.name for p in (tmp_path / "set" / "_work").glob("*.done.json")]
    assert len(done) == 2  # the two finished files were written before the kill
    first_two, calls[:], resumed = calls[:2], [], True
    dataset, _ = build_musicset_from_audio(tmp_path / "set", folder, captions, **kwargs)
    assert not set(first_two) & set(calls)  # finished files are not redone
    assert len(calls) == 5  # 4 remaining real files + nothing else (missing file has no job)
    reference, _ = build_musicset_from_audio(tmp_path / "ref", folder, captions, **kwargs)
    ids = sorted(i for s in SPLITS for i in dataset[s]["id"])
    assert ids == sorted(i for s in SPLITS for i in reference[s]["id"])
    with pytest.raises(MusicSetError, match="already holds"):
        build_musicset_from_audio(tmp_path / "set", folder, captions, **kwargs)


def test_musiccaps_and_musicbench_layouts(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    save_audio(folder / "abc123.wav", _tune([60, 62, 64] * 10))  # 12 s "full video"
    save_audio(folder / "xyz789_30.wav", _tune([67, 65] * 5))  # 4 s, already cut
    (tmp_path / "musiccaps.csv").write_text(
        "ytid,start_s,end_s,aspect_list,caption,author_id,is_balanced_subset,is_audioset_eval\n"
        "abc123,2,6,\"['pop', 'tinny wide hi hats']\",\"A pop song, with hats.\",4,False,True\n"
        "xyz789,30,34,\"['folk']\",A folk song.,1,False,False\n"
        "gone000,0,10,\"['rock']\",A missing one.,1,False,False\n"
    )
    records = read_caption_file(tmp_path / "musiccaps.csv", "musiccaps")
    assert records[0].aspects == ["pop", "tinny wide hi hats"] and records[0].start_s == 2.0
    jobs, skipped = plan_audio_jobs(str(folder), records, clip_seconds=4.0)
    assert [j.payload.name for j in jobs] == ["abc123.wav", "xyz789_30.wav"]
    assert skipped == [{"input": "gone000", "reason": "audio file not found"}]
    rows = [row for job in jobs for row in build_module.process_audio_file(job.payload).rows]
    assert [(r["source"], r["start_s"]) for r in rows] == [("abc123.wav", 2.0), ("xyz789_30.wav", 0.0)]
    assert rows[0]["aspects"] == ["pop", "tinny wide hi hats"]

    bench = [
        {"dataset": "MusicCaps", "location": "data/abc123.wav", "main_caption": "Main.", "alt_caption": "Alt."},
        {"dataset": "MusicCaps", "location": "data/xyz789_30.wav", "main_caption": "Other.", "alt_caption": ""},
    ]
    (tmp_path / "bench.json").write_text("\n".join(json.dumps(b) for b in bench))
    records = read_caption_file(tmp_path / "bench.json")  # .json -> musicbench
    assert [(r.file, r.caption, r.alt_captions) for r in records] == [
        ("data/abc123.wav", "Main.", ["Alt."]), ("data/xyz789_30.wav", "Other.", [])
    ]  # fmt: skip
    jobs, skipped = plan_audio_jobs(str(folder), records, clip_seconds=4.0)
    assert len(jobs) == 2 and not skipped
    with pytest.raises(MusicSetError, match="lacks a file or a caption"):
        (tmp_path / "bad.jsonl").write_text('{"file": "a.wav"}\n')
        read_caption_file(tmp_path / "bad.jsonl")


def test_cli_build(audio_folder, tmp_path, capsys):
    folder, captions = audio_folder
    code = cli_main(["data", "build", "--audio-dir", str(folder), "--captions", str(captions), "--output",
                     str(tmp_path / "cli"), "--clip-seconds", "4", "--max-clips-per-file", "1"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "corrupt.wav" in out and "skipped" in out
    assert sum(len(d) for d in load_musicset(tmp_path / "cli").values()) == 5  # one clip per readable file
    assert cli_main(["data", "build", "--audio-dir", str(tmp_path / "nope"), "--captions", str(captions),
                     "--output", str(tmp_path / "x")]) == 1  # fmt: skip
