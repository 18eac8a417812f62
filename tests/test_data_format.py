"""MusicSet format: splits by source piece, FLAC round trip, saving, loading and the dataset card."""

import os

import datasets
import numpy as np
import pytest

from mmgen.audio import AudioError
from mmgen.data.format import (
    CORE_COLUMNS,
    SPLITS,
    MusicSetError,
    assign_splits,
    decode_audio,
    encode_flac,
    load_musicset,
    musicset_features,
    save_musicset,
    split_table,
)


def _rows(groups):
    wave = (0.3 * np.sin(np.linspace(0, 200, 2205))).astype(np.float32)
    audio = encode_flac(wave)
    return [
        {"id": f"clip-{i:03d}", "audio": audio, "caption": f"caption {i}", "alt_captions": [], "melody": "",
         "source": g, "group": g, "start_s": 0.0, "duration_s": 0.1}
        for i, g in enumerate(groups)
    ]  # fmt: skip


def test_assign_splits_never_shares_a_group_and_approaches_8_1_1():
    rng = np.random.default_rng(0)
    groups = [f"piece-{int(g)}" for g in rng.integers(0, 200, size=1000)]
    assignment = assign_splits(groups, seed=3)
    assert set(assignment) == set(groups)
    counts = {s: sum(assignment[g] == s for g in groups) for s in SPLITS}
    assert abs(counts["train"] / 1000 - 0.8) < 0.03
    assert abs(counts["validation"] / 1000 - 0.1) < 0.03
    assert assign_splits(groups, seed=3) == assignment  # deterministic
    assert assign_splits(groups, seed=4) != assignment


def test_assign_splits_gives_every_split_a_group_when_possible():
    assignment = assign_splits(["a", "a", "b", "c", "c", "c"], seed=0)
    assert set(assignment.values()) == set(SPLITS)
    with pytest.raises(MusicSetError, match="fractions"):
        assign_splits(["a"], fractions=(0.5, 0.5, 0.5))


def test_flac_round_trip_and_decode_audio_layouts():
    wave = (0.5 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)).astype(np.float32)
    data = encode_flac(wave)
    assert data[:4] == b"fLaC"
    assert len(data) < wave.nbytes / 2  # compressed
    for source in (data, {"audio": data}, {"audio": {"bytes": data, "path": None}}):
        decoded = decode_audio(source)
        assert decoded.shape == wave.shape and decoded.dtype == np.float32
        assert np.max(np.abs(decoded - wave)) < 1e-4  # 16-bit quantisation only
    assert decode_audio(data, sr=11025).shape == (11025,)
    with pytest.raises(AudioError):
        decode_audio({"audio": None})
    with pytest.raises(AudioError):
        decode_audio(b"not audio at all")


def test_save_and_load_musicset_with_card(tmp_path):
    groups = [f"g{i // 3}" for i in range(30)]
    table = datasets.Dataset.from_list(_rows(groups), features=musicset_features())
    dataset = split_table(table, seed=0)
    split_groups = [set(dataset[s]["group"]) for s in SPLITS]
    assert not (
        split_groups[0] & split_groups[1] or split_groups[0] & split_groups[2] or split_groups[1] & split_groups[2]
    )
    assert sum(len(dataset[s]) for s in SPLITS) == 30
    save_musicset(dataset, tmp_path / "set", {"builder": "test", "arguments": {"seed": 0}, "description": "made here"})
    loaded = load_musicset(tmp_path / "set")
    assert {s: len(loaded[s]) for s in SPLITS} == {s: len(dataset[s]) for s in SPLITS}
    assert list(loaded["train"].column_names) == list(CORE_COLUMNS)
    card = (tmp_path / "set" / "README.md").read_text()
    assert f"| train | {len(dataset['train'])} |" in card and "made here" in card and '"seed": 0' in card
    assert os.path.isfile(tmp_path / "set" / "build_info.json")


def test_load_musicset_errors(tmp_path):
    with pytest.raises(MusicSetError, match="does not exist"):
        load_musicset(tmp_path / "missing")
    with pytest.raises(MusicSetError, match="not a saved MusicSet"):
        load_musicset(tmp_path)
    table = datasets.Dataset.from_list(_rows(["a", "b", "c"]), features=musicset_features())
    datasets.DatasetDict({"train": table}).save_to_disk(tmp_path / "partial")
    with pytest.raises(MusicSetError, match="lacks the split"):
        load_musicset(tmp_path / "partial")
