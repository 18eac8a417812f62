"""The plumbing the benchmark scripts share: JSON-safe results written to disk, the machine they ran on."""

import json
import math

import numpy as np

from mmgen.eval.bench import cpu_name, json_safe, machine, write_json


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
