"""Issue 16, the Space's entry point: typed text is never a server path, melodies and settings are bounded, the files
it writes are bounded and removed when it stops, and its footer states the caps. The served app via gradio_client
(conftest's `served` fixture: a tiny random pipeline)."""

import math
import os
import time

import pytest
from fixtures import EXAMPLE_MIDI, t2m_args

import app
from mmgen import limits
from mmgen.app import logic
from mmgen.app.settings import GenerationSettings
from mmgen.melody.notes import Note
from mmgen.melody.tokenizer import notes_to_string


# --- item 2: the melody box never opens a path -----------------------------------------------------------------
@pytest.mark.parametrize("typed", ["/etc/passwd", EXAMPLE_MIDI, "/no/such/file.wav", "../../etc/hostname"])
def test_typed_paths_are_never_opened(served, typed):
    """An existing path and a missing one give the same answer, so files cannot be probed either."""
    from gradio_client.exceptions import AppError

    _, client = served
    for api, args in (("/text_to_music", t2m_args(melody=typed)),
                      ("/preview_melody", (typed, None, 0, 1.0, 0, None, False))):  # fmt: skip
        with pytest.raises(AppError, match="is not a melody; type a note list"):
            client.predict(*args, api_name=api)


# --- item 3: bounded melodies ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("notes", "match"),
    [
        ([Note(60.0 * i, 60.0 * i + 0.5, 60, 100) for i in range(2000)], "the limit is 600 s"),  # long rests
        ([Note(0.1 * i, 0.1 * i + 0.05, 60, 100) for i in range(limits.MAX_MELODY_NOTES + 1)], "the limit is 5,000"),
    ],
)
def test_long_token_melodies_are_refused_quickly(served, notes, match):
    from gradio_client.exceptions import AppError

    _, client = served
    started = time.perf_counter()
    with pytest.raises(AppError, match=match):
        client.predict(notes_to_string(notes), None, 0, 1.0, 0, None, False, api_name="/preview_melody")
    assert time.perf_counter() - started < 30.0


# --- item 6: settings ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seconds": True}, "duration must be between"),
        ({"seconds": math.nan}, "duration must be between"),
        ({"seconds": "10"}, "duration must be between"),
        ({"steps": 2.5}, "steps must be a whole number"),
        ({"steps": math.nan}, "steps must be a whole number"),
        ({"guidance_scale": math.nan}, "guidance scale must be between 0 and 20"),
        ({"guidance_scale": math.inf}, "guidance scale must be between 0 and 20"),
        ({"num_candidates": "2"}, "candidates must be from 1 to 4"),
        ({"num_candidates": 1.5}, "candidates must be from 1 to 4"),
        ({"seed": "x"}, "seed must be between"),
        ({"seed": 1.5}, "seed must be between"),
        ({"window_s": 3.0}, "window must be between 4 and 30 seconds"),
        ({"window_s": 10.0, "overlap_s": 6.0}, r"overlap must be between 0.5 seconds and half the window \(5 s\)"),
    ],
)
def test_bad_settings_name_the_setting(kwargs, match, tmp_path):
    settings = GenerationSettings(**{"seconds": 1.0, "steps": 2, **kwargs})
    store = logic.PipelineStore(str(tmp_path))  # no model: the check comes first
    with pytest.raises(logic.SpaceError, match=match):
        logic.generate_from_text(store, "a tune", settings)


def test_whole_float_settings_from_sliders_are_accepted():
    controls = ("", 10.0, 50.0, 3.0, None, 2.0, 7.0, "default")  # the Space's controls, sliders as floats
    checked = GenerationSettings.from_controls(*controls).checked()
    assert (checked.seed, checked.steps, checked.num_candidates) == (7, 50, 2)
    assert isinstance(checked.steps, int) and checked.negative_prompt is None
    assert GenerationSettings.from_controls(*controls, window_s=10.0, overlap_s=5.0).checked().seed == 7
    with pytest.raises(TypeError, match="expected the 8 controls"):
        GenerationSettings.from_controls(10.0, 50.0)


# --- item 3: the files the Space writes ---------------------------------------------------------------------------
def test_output_folders_are_bounded_by_size_and_age(tmp_path):
    root = tmp_path / "space"
    old = []
    for i in range(4):
        folder = logic.new_output_dir(str(root), max_total_mb=1.5)
        with open(os.path.join(folder, "music.wav"), "wb") as f:
            f.write(b"\0" * 2**19)  # 0.5 MB each
        os.utime(folder, (time.time() - 100 + i, time.time() - 100 + i))
        old.append(folder)
    logic.new_output_dir(str(root), max_total_mb=1.5)
    assert [os.path.isdir(f) for f in old] == [False, True, True, True]  # the oldest went first
    logic.new_output_dir(str(root), max_age_s=50)
    assert not any(os.path.isdir(f) for f in old)


def test_space_files_are_removed_on_shutdown(model_dir, tmp_path):
    demo = app.build_demo(model_dir, output_root=str(tmp_path / "out"))
    folder = logic.new_output_dir(demo.mmgen_output_root)
    app.clean_up(demo)
    assert not os.path.exists(folder) and not os.path.exists(demo.mmgen_output_root)


def test_footer_states_the_caps(model_dir):
    text = app.limits_text()
    for figure in ("300 s (5 minutes", "take minutes on a CPU", "200 steps", "4 candidates", "continue 1-300 s",
                   "20 MB", "60 s", "5,000 notes", "600 s", "6 h", "2 GB"):  # fmt: skip
        assert figure in text
    demo = app.build_demo(model_dir)
    assert any(getattr(b, "elem_id", None) == "mmgen-limits" and text in b.value for b in demo.blocks.values())
    app.clean_up(demo)
