"""The plumbing the benchmark scripts share: JSON-safe results written to disk, the machine they ran on."""

import json
import math

import numpy as np
import pytest

from mmgen.eval.bench import cpu_name, json_safe, load_cached_clips, machine, named_folder, write_json


def test_json_safe_turns_non_finite_into_none_and_numpy_into_python():
    value = {"a": [np.float32(1.5), math.nan, (math.inf, np.int64(3))], "b": {"c": -math.inf, "d": "x"}}
    safe = json_safe(value)
    assert safe == {"a": [1.5, None, [None, 3]], "b": {"c": None, "d": "x"}}
    assert type(safe["a"][0]) is float and type(safe["a"][2][1]) is int


def test_write_json_creates_the_folder_and_echoes(tmp_path, capsys):
    path = write_json(tmp_path / "deep" / "out.json", {"x": math.nan, "y": 1}, echo=True)
    assert json.loads(path.read_text()) == {"x": None, "y": 1}
    assert path.read_text().endswith("}\n")
    assert json.loads(capsys.readouterr().out) == {"x": None, "y": 1}


def test_machine_names_the_machine():
    assert cpu_name()
    info = machine(torch_threads=2)
    assert info["torch_threads"] == 2 and info["cpu_count"] >= 1 and info["python"].count(".") == 2


def test_named_folder_is_name_equals_an_existing_folder(tmp_path):
    assert named_folder(f"v2={tmp_path}") == ("v2", tmp_path)
    with pytest.raises(SystemExit, match="a set is NAME=FOLDER"):
        named_folder(str(tmp_path))
    with pytest.raises(SystemExit, match="model folder .* does not exist"):
        named_folder(f"v2={tmp_path / 'missing'}", "model")


def test_cached_clips_are_npy_or_wav_waveforms_at_the_pipeline_rate(tmp_path):
    import soundfile as sf

    wave = (0.5 * np.sin(np.linspace(0, 200, 2205))).astype(np.float32)
    np.save(tmp_path / "a.npy", wave)
    sf.write(tmp_path / "b.wav", wave, 22050, subtype="FLOAT")
    a, b = load_cached_clips(tmp_path, ["a", "b"], 22050)
    np.testing.assert_array_equal(a, wave)
    np.testing.assert_allclose(b, wave, atol=1e-6)  # read back, not resampled
    with pytest.raises(SystemExit, match="at 22050 Hz, not the pipeline's 16000 Hz"):
        load_cached_clips(tmp_path, ["b"], 16000)
    with pytest.raises(SystemExit, match="lacks 1 of the 2 clips, e.g. c"):
        load_cached_clips(tmp_path, ["a", "c"], 22050)
    np.save(tmp_path / "mel.npy", np.zeros((80, 10), dtype=np.float32))
    with pytest.raises(SystemExit, match="not waveforms"):
        load_cached_clips(tmp_path, ["mel"], 22050)
