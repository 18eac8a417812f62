"""The Space (`app.py`) and the app layer (`mmgen.app`: `logic`, `defaults`): Blocks build, the served app driven
with gradio_client through every tab's API on 127.0.0.1, readable errors, the lazy thread-safe model load, settings
bounds that the pipeline accepts, and no internet access."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from fixtures import APP_SECONDS as SECONDS
from fixtures import APP_STEPS as STEPS
from fixtures import EXAMPLE_AUDIO, EXAMPLE_MIDI, EXTERNAL, ROOT, sine_notes_waveform, t2m_args

from mmgen.app import defaults, logic, views
from mmgen.app.settings import GenerationSettings, UserMelody
from mmgen.audio import SAMPLE_RATE, AudioError, save_audio
from mmgen.melody.notes import Note, read_midi
from mmgen.melody.sing import sing_notes

gr = pytest.importorskip("gradio")
import app  # noqa: E402


def assert_wav(path, seconds=None):
    wave, sr = sf.read(path)
    assert sr == SAMPLE_RATE and wave.ndim == 1 and np.isfinite(wave).all()
    if seconds is not None:
        assert len(wave) == int(round(seconds * SAMPLE_RATE))
    return wave


def assert_png(path):
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def assert_adherence(png, info):
    """The Space's adherence outputs: the overlay PNG and its scores."""
    assert_png(png)
    assert info.startswith("**Did the music follow its melody?**") and "note-F1" in info and "chroma" in info


def assert_clip_melody(midi, tokens):
    """ "Take it out": the generated clip's transcription as MIDI and tokens (none when nothing was transcribed)."""
    if midi is None:
        assert tokens == ""
    else:
        assert tokens.startswith("<") and len(read_midi(midi)) == tokens.count("|") + 1


# ------------------------------------------------------------------------------------------ building the Blocks
def test_blocks_build_without_launching_and_expose_the_apis(model_dir):
    demo = app.build_demo(model_dir)
    assert isinstance(demo, gr.Blocks) and not demo.is_running
    names = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert {"text_to_music", "music_to_music", "continue_clip", "inspect_melody", "use_melody"} <= names
    tabs = [b.label for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert tabs == ["Text to music", "Music to music", "Continue a clip", "Melody inspection"]
    assert demo.mmgen_store.available and not demo.mmgen_store.loaded  # loaded lazily, on the first generation
    generate = [b for b in demo.blocks.values() if isinstance(b, gr.Button) and b.value == "Generate music"]
    assert len(generate) == 2 and all(b.interactive for b in generate)
    blocks = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    for tab in ("t2m", "m2m", "cont"):  # the adherence overlay and scores sit under the guiding melody's piano roll
        assert {f"{tab}-melody-view-{part}" for part in ("pianoroll", "adherence", "adherence-info")} <= blocks.keys()
        assert "mmgen-wide" in blocks[f"{tab}-melody-view-pianoroll"].elem_classes  # a long melody scrolls sideways
        assert blocks[f"{tab}-continue"].value == "Continue this clip"  # under each generated clip
    assert blocks["t2m-seconds"].maximum == blocks["cont-seconds"].maximum == 300  # up to five minutes


def test_missing_model_shows_a_notice_and_keeps_inspection(tmp_path):
    demo = app.build_demo(str(tmp_path / "no-model"))
    notices = [b for b in demo.blocks.values() if isinstance(b, gr.Markdown) and "unavailable" in (b.value or "")]
    assert len(notices) == 3 and all(n.visible for n in notices)  # the three generation tabs
    assert "model_index.json" in notices[0].value and "--model" in notices[0].value
    buttons = {b.value: b for b in demo.blocks.values() if isinstance(b, gr.Button)}
    assert buttons["Generate music"].interactive is False
    assert buttons["Inspect"].interactive is not False
    with pytest.raises(logic.SpaceError, match="model_index.json"):
        store = logic.PipelineStore(str(tmp_path))
        logic.generate_from_text(store, "a tune", GenerationSettings(seconds=SECONDS, steps=STEPS))


def test_argparse_flags():
    args = app.parse_args(["--model", "m", "--host", "0.0.0.0", "--port", "9000", "--share"])
    assert (args.model, args.host, args.port, args.share) == ("m", "0.0.0.0", 9000, True)
    defaults = app.parse_args([])
    assert defaults.model == "checkpoints/mmgen-default" and defaults.host == "127.0.0.1" and not defaults.share
    kwargs = app.launch_kwargs(defaults)
    assert kwargs["max_file_size"] == f"{logic.MAX_UPLOAD_MB}mb" and kwargs["show_error"] and not kwargs["share"]
    with pytest.raises(SystemExit):
        app.parse_args(["--concurrency", "0"])


def test_unexpected_errors_become_readable_gradio_errors():
    @app.readable_errors
    def broken():
        raise RuntimeError("tensor sizes do not match")

    @app.readable_errors
    def refused():
        raise logic.SpaceError("Please upload a file.")

    with pytest.raises(gr.Error) as unexpected:
        broken()
    assert unexpected.value.message.startswith("Something went wrong (RuntimeError: tensor sizes do not match)")
    with pytest.raises(gr.Error) as expected:
        refused()
    assert expected.value.message == "Please upload a file."


# ------------------------------------------------------------------------------------------------- the logic
def test_pipeline_store_loads_once_across_threads(model_dir, monkeypatch):
    from pipelines.pipeline_mmgen import MMGenPipeline

    calls = []
    original = MMGenPipeline.from_pretrained.__func__

    def slow_load(cls, path, **kwargs):
        calls.append(path)
        time.sleep(0.2)
        return original(cls, path, **kwargs)

    monkeypatch.setattr(MMGenPipeline, "from_pretrained", classmethod(slow_load))
    store = logic.PipelineStore(model_dir)
    results = []
    threads = [threading.Thread(target=lambda: results.append(store.get())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 4 and all(r is results[0] for r in results)
    a, b = store.pipeline_for_call("dpm-solver++"), store.pipeline_for_call("dpm-solver++")
    assert a.scheduler is not b.scheduler and a.unet is b.unet  # own scheduler state, shared weights
    base = store.get().components
    assert a.components.keys() == base.keys() and a.config.vocoder_method == store.get().config.vocoder_method
    assert all(a.components[k] is v for k, v in base.items() if k != "scheduler")  # every component, none rebuilt
    assert type(a.scheduler).__name__ == "DPMSolverMultistepScheduler"
    # the measured samplers are built as the steps sweep built them, whatever the saved scheduler's settings
    assert a.scheduler.config.use_karras_sigmas and a.scheduler.config.algorithm_type == "dpmsolver++"
    unipc = store.pipeline_for_call("unipc").scheduler
    assert type(unipc).__name__ == "UniPCMultistepScheduler" and not unipc.config.use_karras_sigmas
    assert unipc.config.solver_type == "bh2"
    np.testing.assert_allclose(unipc.alphas_cumprod.numpy(), base["scheduler"].alphas_cumprod.numpy(), rtol=1e-6)
    with pytest.raises(logic.SpaceError, match="Unknown scheduler"):
        store.pipeline_for_call("nope")


def test_generate_reports_progress_timings_and_files(model_dir, tmp_path):
    store = logic.PipelineStore(model_dir)
    seen = []
    settings = GenerationSettings(seconds=SECONDS, steps=STEPS, seed=3, num_candidates=2, melody_guidance_scale=2.0)
    result = logic.generate_from_text(
        store, "a tune", settings, progress=lambda f, m: seen.append((f, m)), output_dir=str(tmp_path)
    )
    assert [f for f, _ in seen] == [0.0, 1 / 3, 2 / 3, 1.0, 1.0] and seen[-2][1] == "Denoising step 3/3"
    assert seen[-1][1].startswith("Transcribing")  # then the adherence check
    assert_wav(result.audio_path, SECONDS)
    assert result.seed == 3 and result.score is not None and result.melody.info["source"] == "dummy"
    assert set(result.timings) == {"model_load_s", "generate_s", "postprocess_s", "adherence_s", "total_s"}
    t = result.timings
    assert t["total_s"] >= t["generate_s"] + t["adherence_s"] and t["adherence_s"] > 0 and t["model_load_s"] > 0
    assert "Best of 2 candidates" in result.summary()
    # the clip's own transcription against the notes that guided it
    adherence = result.adherence
    assert adherence is not None and os.path.dirname(adherence.png_path) == str(tmp_path)
    assert_png(adherence.png_path)
    assert adherence.scores["guide_notes"] == sum(n.onset < SECONDS for n in result.melody.notes) > 0
    assert 0.0 <= adherence.scores["note_f1"] <= 1.0 and 0.0 <= adherence.scores["chroma_cosine"] <= 1.0
    assert adherence.scores["transcribed_notes"] == len(adherence.notes)
    settings = GenerationSettings(seconds=SECONDS, steps=1, seed=-1, adherence=False)
    random = logic.generate_from_text(store, "a tune", settings, output_dir=str(tmp_path / "later"))
    assert 0 <= random.seed <= defaults.MAX_SEED and random.adherence is None  # adherence=False skips transcription
    assert "adherence_s" not in random.timings
    # the check run afterwards (the Space's second step) gives what the one-call path gives, beside the audio
    checked = logic.check_adherence(random)
    assert checked.adherence.png_path == str(tmp_path / "later" / "music_adherence.png") and random.adherence is None
    again = logic.generate_from_text(store, "a tune", settings.replace(seed=random.seed, adherence=True),
                                     output_dir=str(tmp_path / "again"))  # fmt: skip
    assert checked.adherence.scores == again.adherence.scores
    assert checked.timings["total_s"] == pytest.approx(random.timings["total_s"] + checked.timings["adherence_s"])


@pytest.fixture
def scale_clip(scale_notes):
    return sine_notes_waveform(scale_notes)


def test_adherence_view_of_a_clip_that_follows_its_melody(scale_notes, scale_clip, tmp_path):
    late = [Note(12.0, 12.5, 60)]  # starts after the 4.35 s clip: not compared
    view = views.melody_adherence_view(scale_clip, SAMPLE_RATE, scale_notes + late, str(tmp_path), "clip")
    scores = view.scores
    assert scores["note_f1"] >= 0.9 and scores["chroma_cosine"] >= 0.9
    assert scores["guide_notes"] == len(scale_notes) and scores["onset_tolerance_s"] == 0.05
    assert view.png_path == str(tmp_path / "clip_adherence.png")
    assert_png(view.png_path)
    assert [n.pitch for n in read_midi(view.midi_path)] == [n.pitch for n in view.notes]
    assert view.midi_path == str(tmp_path / "clip_transcribed.mid")
    assert open(view.tokens_path).read().strip() == view.tokens and view.tokens.count("|") == len(view.notes) - 1
    assert view.caption == f"note-F1 {scores['note_f1']:.2f} · chroma {scores['chroma_cosine']:.2f}"
    assert "Basic Pitch transcribed" in view.markdown() and view.summary().startswith("Melody adherence: note-F1")


def test_adherence_view_of_a_clip_that_does_not_follow(scale_notes, scale_clip, tmp_path):
    transposed = [Note(n.onset, n.offset, n.pitch + 3) for n in scale_notes]  # the clip is a minor third off
    view = views.melody_adherence_view(scale_clip, SAMPLE_RATE, transposed, str(tmp_path), "clip")
    assert len(view.notes) >= 6  # Basic Pitch hears the notes, but they are not the guiding ones
    assert view.scores["note_f1"] <= 0.2 and view.scores["chroma_cosine"] <= 0.3


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # Basic Pitch on silence
def test_adherence_view_of_a_clip_without_notes(scale_notes, tmp_path):
    silent = np.zeros(3 * SAMPLE_RATE, dtype=np.float32)
    view = views.melody_adherence_view(silent, SAMPLE_RATE, scale_notes, str(tmp_path), "quiet")
    assert view.notes == [] and view.tokens == "" and view.midi_path is None and view.tokens_path is None
    assert view.scores["note_f1"] == view.scores["note_recall"] == view.scores["chroma_cosine"] == 0.0
    assert view.scores["guide_notes"] == 6  # the scale's notes that start inside the 3 s clip
    assert_png(view.png_path)
    assert view.caption.startswith("no notes transcribed · note-F1 0.00")
    assert "found no notes in the generated clip" in view.markdown()
    assert sorted(os.listdir(tmp_path)) == ["quiet_adherence.png"]


def test_space_adherence_outputs_without_guiding_notes():
    from types import SimpleNamespace

    png, info, midi, tokens = app._adherence_outputs(SimpleNamespace(adherence=None, melody=None))
    assert png is None and "No melody guided the generation" in info and midi is None and tokens == ""
    png, info, midi, tokens = app._adherence_outputs(SimpleNamespace(adherence=None, melody=object()))
    assert png is None and "no notes" in info and midi is None and tokens == ""


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prompt": "  "}, "prompt is empty"),
        ({"seconds": 0.2}, "duration must be between 1 and 300"),
        ({"seconds": 301}, "duration must be between 1 and 300"),
        ({"steps": 0}, "steps must be a whole number"),
        ({"num_candidates": 9}, "candidates must be from 1 to 4"),
        ({"seed": 2**40}, "seed must be between"),
    ],
)
def test_bad_settings_are_refused_before_loading(kwargs, match, tmp_path):
    kwargs = {"seconds": SECONDS, "steps": STEPS, **kwargs}
    prompt = kwargs.pop("prompt", "a tune")
    store = logic.PipelineStore(str(tmp_path))  # no model: the check must come first
    with pytest.raises(logic.SpaceError, match=match):
        logic.generate_from_text(store, prompt, GenerationSettings(**kwargs))


def test_the_app_bounds_are_ones_the_pipeline_accepts(model_dir):
    """Every bound of `mmgen.app.defaults` (the Space's and the CLI's, which are the library's own) passes
    `MMGenPipeline.check_inputs`: what the app lets through is never refused later, after the model has loaded."""
    from mmgen import limits

    pipe = logic.PipelineStore(model_dir).get()
    cli = defaults.CLI
    assert (cli.min_seconds, cli.max_seconds, cli.max_steps, cli.max_candidates) == (
        limits.MIN_AUDIO_LENGTH_S, limits.MAX_AUDIO_LENGTH_S, limits.MAX_INFERENCE_STEPS, limits.MAX_NUM_CANDIDATES
    )  # fmt: skip
    assert defaults.SPACE.max_seconds == limits.SPACE_MAX_SECONDS == 300.0
    for bounds in (defaults.SPACE, defaults.CLI):
        lowest = (1, defaults.MIN_GUIDANCE, 1)
        highest = (bounds.max_steps, defaults.MAX_GUIDANCE, bounds.max_candidates)
        for seconds in (bounds.min_seconds, bounds.max_seconds):
            for steps, guidance, candidates in (lowest, highest):
                pipe.check_inputs(
                    prompt="a tune", audio=None, melody=None, negative_prompt=None, audio_length_in_s=seconds,
                    num_inference_steps=steps, guidance_scale=guidance, melody_guidance_scale=guidance,
                    num_waveforms_per_prompt=1, num_candidates=candidates, prompt_embeds=None, melody_embeds=None,
                    output_type="np",
                )  # fmt: skip
        # and the app's own check lets the same extremes through
        for seconds, (steps, guidance, candidates) in ((bounds.min_seconds, highest), (bounds.max_seconds, lowest)):
            settings = GenerationSettings(seconds=seconds, steps=steps, guidance_scale=guidance,
                                          num_candidates=candidates, bounds=bounds, melody_guidance_scale=0.0)
            assert settings.checked().seed == 0
        with pytest.raises(logic.SpaceError, match=f"between {bounds.min_seconds:g} and {bounds.max_seconds:g}"):
            GenerationSettings(seconds=bounds.max_seconds + 1, bounds=bounds).checked()


def test_app_defaults_import_nothing_heavy_and_the_old_module_name_is_gone():
    code = (
        "import sys, importlib.util; import mmgen.app.defaults; import mmgen.cli.generate; "
        "print(importlib.util.find_spec('mmgen.app_logic') is None, "
        "[m for m in ('torch', 'transformers', 'diffusers', 'gradio', 'basic_pitch', 'pipelines') "
        "if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True []"


# -------------------------------------------------------------------------------------- the served app (client)
def test_generation_shows_the_audio_before_the_adherence_check(served):
    """The handlers yield twice: the audio with the check pending, then the same audio with the clip's transcription
    over its melody; `predict` (above) returns the last step."""
    _, client = served
    job = client.submit(*t2m_args(), api_name="/text_to_music")
    job.result(timeout=300)
    first, last = job.outputs()
    with open(first[0], "rb") as a, open(last[0], "rb") as b:
        assert a.read() == b.read()  # the same audio, shown first
    assert last[1].startswith(first[1]) and "Checked against its melody in" in last[1][len(first[1]) :]
    assert first[7] is None and first[8].startswith("Transcribing the music")
    assert_wav(first[0], SECONDS)
    assert_adherence(last[7], last[8])


def test_text_to_music_via_client(served):
    _, client = served
    outputs = client.predict(*t2m_args(), api_name="/text_to_music")
    audio, timing, info, png, tokens, preview, midi, adherence_png, adherence_info, clip_midi, clip_tokens = outputs
    assert_wav(audio, SECONDS)
    assert_adherence(adherence_png, adherence_info)
    assert_clip_melody(clip_midi, clip_tokens)
    assert timing.startswith(f"Generated {SECONDS:.1f} s in") and "Seed 0." in timing
    assert "Retrieved melody" in info and "Retrieval score" in info
    assert_png(png)
    assert tokens.startswith("<") and tokens.count("|") == 5  # the dummy database holds 6-note scales
    assert_wav(preview)
    assert len(read_midi(midi)) == 6
    assert not EXTERNAL, EXTERNAL


def test_user_melody_from_inspection_bypasses_retrieval(served):
    from gradio_client import handle_file

    _, client = served
    inspected = client.predict(handle_file(EXAMPLE_MIDI), "none", api_name="/inspect_melody")
    tokens = inspected[3]
    filled = client.predict(tokens, api_name="/use_melody")  # also selects the text-to-music tab (not in the API)
    assert filled == tokens
    outputs = client.predict(*t2m_args(melody=filled), api_name="/text_to_music")
    _, _, info, png, used_tokens, _, midi, adherence_png, adherence_info, *_ = outputs
    assert "Your melody (retrieval skipped)" in info and used_tokens == tokens
    assert len(read_midi(midi)) == 31
    assert_png(png)
    assert_adherence(adherence_png, adherence_info)


def test_typed_abc_transposed_via_client(served):
    _, client = served
    abc = "X:1\nL:1/8\nK:D\nDEFG A2 B2|A4 d4|]"
    outputs = client.predict(*t2m_args(melody=abc, transpose=2), api_name="/text_to_music")
    audio, _, info, png, tokens, _, midi, adherence_png, adherence_info, clip_midi, clip_tokens = outputs
    assert_wav(audio, SECONDS)
    assert "Your melody (retrieval skipped)" in info and "Edits: transposed +2 semitones" in info
    # K:D: D E F# G A B A d, each up 2 semitones; 0.25 s per eighth at the default 120 BPM
    assert [n.pitch for n in read_midi(midi)] == [64, 66, 68, 69, 71, 73, 71, 76]
    assert tokens.startswith("<E4>,") and tokens.count("|") == 7
    assert_adherence(adherence_png, adherence_info)
    assert_clip_melody(clip_midi, clip_tokens)
    assert not EXTERNAL, EXTERNAL


def test_preview_shows_the_shaped_melody_and_never_opens_typed_paths(served):
    from gradio_client.exceptions import AppError

    _, client = served
    png, info, tokens, midi = client.predict(
        "bpm=60 C4 D4 E4 F4 G4", None, -12, 2.0, 1.0, None, False, api_name="/preview_melody"
    )
    assert_png(png)
    assert "note-list" in info and "trimmed to 1-end s" in info and "tempo x2" in info and "-12 semitones" in info
    notes = read_midi(midi)
    assert [n.pitch for n in notes] == [50, 52, 53, 55] and tokens.count("|") == 3
    assert notes[1].onset == pytest.approx(0.5, abs=0.01)  # one beat at 60 BPM, twice as fast
    for typed, match in ((EXAMPLE_MIDI, "is not a melody"), ("X:1\nK:Q\nGABc|", "unknown key 'Q'"),
                         ("C4 D4 | H4", "bar 2, token 1 ('H4')")):  # fmt: skip
        with pytest.raises(AppError, match=match.replace("(", r"\(").replace(")", r"\)")):
            client.predict(typed, None, 0, 1.0, 0, None, False, api_name="/preview_melody")
    with pytest.raises(AppError, match=r"transposing by \+24 .* outside the playable range"):
        client.predict("C7 D7", None, 24, 1.0, 0, None, False, api_name="/preview_melody")
    with pytest.raises(AppError, match="Type a melody"):
        client.predict("", None, 0, 1.0, 0, None, False, api_name="/preview_melody")


def test_hummed_recording_is_transcribed_as_one_voice(tmp_path):
    sung = [Note(0.2 + 0.5 * i, 0.6 + 0.5 * i, p, 100) for i, p in enumerate([55, 57, 59, 60, 62, 60, 59, 55])]
    path = tmp_path / "hum.wav"
    save_audio(path, sing_notes(sung, seed=0))
    view = logic.preview_melody(str(path), voice=True, edits={"fold": (41, 96)}, output_dir=str(tmp_path))
    assert view.info["kind"] == "voice" and view.info["edits"] == {"fold": [41, 96]}
    assert [n.pitch for n in view.notes] == [55, 57, 59, 60, 62, 60, 59, 55]
    assert all(abs(a.onset - b.onset) < 0.05 for a, b in zip(view.notes, sung))
    silent = tmp_path / "silent.wav"
    save_audio(silent, np.zeros(SAMPLE_RATE, dtype=np.float32))
    with pytest.raises(AudioError, match="'silent.wav': the audio is silent"):
        logic.preview_melody(str(silent), voice=True, output_dir=str(tmp_path))
    long = tmp_path / "long.wav"
    save_audio(long, np.full(61 * SAMPLE_RATE, 0.1, dtype=np.float32))
    with pytest.raises(AudioError, match="'long.wav': the audio is 61.0 s long, more than the limit of 60.0 s"):
        logic.preview_melody(str(long), voice=True, output_dir=str(tmp_path))


def test_music_to_music_via_client(served):
    from gradio_client import handle_file

    _, client = served
    # reference, steer text, steer weight, follow melody, negative, seconds, steps, guidance, beta, candidates, seed,
    # scheduler
    outputs = client.predict(
        handle_file(EXAMPLE_AUDIO), "played on a harp", 0.3, False, "", SECONDS, STEPS, 3.0, 1.0, 1,
        0, "dpm-solver++", api_name="/music_to_music",
    )  # fmt: skip
    audio, timing, query_info, query_png, query_tokens, info, png, tokens, preview, midi, *adherence = outputs
    assert_wav(audio, SECONDS)
    assert_adherence(*adherence[:2])
    assert_clip_melody(*adherence[2:])
    assert "Melody in your audio" in query_info and query_tokens.startswith("<")
    assert query_tokens.count("|") >= 20  # Basic Pitch hears the flute tune (30 of 31 notes)
    assert "Retrieved melody" in info
    assert_png(query_png)
    assert_png(png)
    assert len(read_midi(midi)) == 6 and tokens.startswith("<")
    assert not EXTERNAL, EXTERNAL


def test_melody_inspection_via_client(served):
    from gradio_client import handle_file

    _, client = served
    png, summary, stats, tokens, preview, midi = client.predict(
        handle_file(EXAMPLE_AUDIO), "skyline", api_name="/inspect_melody"
    )
    assert_png(png)
    assert "transcribed with Basic Pitch" in summary and "BPM" in summary
    assert 15 <= stats["num_notes"] <= 31 and stats["max_polyphony"] == 1  # skyline: one note at a time
    assert 64 <= stats["lowest_pitch"] <= stats["highest_pitch"] <= 81  # inside the tune's range, E4-A5
    assert tokens.count("|") == stats["num_notes"] - 1
    assert len(assert_wav(preview)) > SAMPLE_RATE
    assert len(read_midi(midi)) == stats["num_notes"]


def test_error_paths_return_readable_messages(served, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    _, client = served
    silent = tmp_path / "silent.wav"
    save_audio(silent, np.zeros(SAMPLE_RATE * 2, dtype=np.float32))
    empty_midi = tmp_path / "empty.mid"
    import pretty_midi

    pretty_midi.PrettyMIDI().write(str(empty_midi))
    garbage = tmp_path / "notes.wav"
    garbage.write_bytes(b"this is not audio")
    m2m_rest = ("", 0.3, False, "", SECONDS, STEPS, 3.0, 1.0, 1, 0, "default")
    cases = [
        (lambda: client.predict(*t2m_args(prompt="   "), api_name="/text_to_music"), "prompt is empty"),
        (lambda: client.predict(*t2m_args(melody="<G4>,oops"), api_name="/text_to_music"), "token"),
        (lambda: client.predict(handle_file(str(silent)), *m2m_rest, api_name="/music_to_music"), "'silent.wav'"),
        (lambda: client.predict(None, *m2m_rest, api_name="/music_to_music"), "Please upload a reference"),
        (
            lambda: client.predict(handle_file(str(empty_midi)), "none", api_name="/inspect_melody"),
            "'empty.mid': the MIDI file contains no",
        ),
        (lambda: client.predict(handle_file(str(garbage)), "none", api_name="/inspect_melody"), "could not read"),
        (lambda: client.predict(None, "none", api_name="/inspect_melody"), "Please upload an audio or MIDI"),
        (lambda: client.predict("", api_name="/use_melody"), "Inspect a melody first"),
    ]
    for call, match in cases:
        with pytest.raises(AppError) as info:
            call()
        message = str(info.value)
        assert match.lower() in message.lower(), message
        assert "Traceback" not in message and 'File "' not in message and "/tmp/gradio" not in message
    assert not EXTERNAL, EXTERNAL


def test_upload_limits_name_the_file_not_its_server_path(tmp_path):

    long = tmp_path / "long.wav"
    t = np.arange(int(61 * SAMPLE_RATE)) / SAMPLE_RATE
    save_audio(long, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    settings = GenerationSettings(seconds=2)
    for call in (lambda: logic.inspect(str(long)), lambda: logic.generate_from_audio(None, str(long), settings)):
        with pytest.raises(AudioError) as info:
            call()
        assert "more than the limit of 60.0 s" in str(info.value) and "long.wav" in str(info.value)
        assert str(tmp_path) not in str(info.value)
    big = tmp_path / "big.mid"
    big.write_bytes(b"MThd" + bytes(21 * 2**20))
    with pytest.raises(logic.SpaceError, match="The file is 21.0 MB; the limit is 20 MB."):
        logic.inspect(str(big))


# ------------------------------------------------------------------------ long pieces and continuations (issue 17)
def test_progress_is_per_window_and_stays_within_zero_and_one():
    assert logic.denoising_progress(2, 3, 3) == (1.0, "Denoising step 3/3")  # one window: as before
    seen = [logic.denoising_progress(i, 14, 2) for i in range(14)]  # 7 windows of 2 steps
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] == 1.0
    assert seen[0][1] == "window 1/7, step 1/2" and seen[3][1] == "window 2/7, step 2/2"
    assert seen[-1][1] == "window 7/7, step 2/2"
    assert logic.denoising_progress(20, 14, 2) == (1.0, "window 7/7, step 2/2")  # never past the end


def test_continuation_holds_the_clip_and_reports_progress_per_window(sketch_model_dir, tmp_path):
    from mmgen.app import continuation

    clip = tmp_path / "clip.wav"
    save_audio(clip, (0.3 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32))
    seen = []
    settings = GenerationSettings(seconds=4.0, steps=2, window_s=4.0, overlap_s=1.0)
    melody = UserMelody("bpm=120 C4 D4 E4 G4", typed=True)
    result = continuation.continue_clip(
        logic.PipelineStore(sketch_model_dir), str(clip), settings, melody=melody,
        progress=lambda f, m: seen.append((f, m)), output_dir=str(tmp_path),
    )  # fmt: skip
    held_s = len(result.waveform) / SAMPLE_RATE - 4.0
    assert 0.9 < held_s <= 1.0 and result.settings["mode"] == "continuation"
    assert_wav(result.audio_path, held_s + 4.0)
    assert result.melody.notes[0].onset == pytest.approx(held_s) and result.melody.info["source"] == "user"
    fractions = [f for f, _ in seen]
    assert all(0.0 <= f <= 1.0 for f in fractions) and fractions == sorted(fractions) and fractions[-1] == 1.0
    windows = {m.split(",")[0] for _, m in seen if m.startswith("window")}
    assert len(windows) >= 2 and all(w.endswith(f"/{len(windows)}") for w in windows)  # counted per window
    assert result.summary().startswith("Continued 'clip.wav' (1.0 s) by 4.0 s:")
    # the new part against its melody (repeated over the 4 s), the clip before it left out
    assert 4 <= result.adherence.scores["guide_notes"] <= len(result.melody.notes)
    assert all(n.onset >= held_s - 1e-6 for n in result.melody.notes)


def test_a_long_clip_is_continued_from_its_last_minute(tmp_path):
    from mmgen import limits
    from mmgen.app import continuation

    t = np.arange(int(62 * SAMPLE_RATE)) / SAMPLE_RATE
    wave = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    head, context = continuation.Clip(wave, "long.wav").split()
    fade = int(round(logic.CLIP_JOIN_S * SAMPLE_RATE))
    assert len(context) == limits.MAX_PROMPT_SECONDS * SAMPLE_RATE and len(head) == 2 * SAMPLE_RATE + fade
    rebuilt = np.concatenate([0.9 * context, np.full(SAMPLE_RATE, 0.1, np.float32)])  # the pipeline's output
    joined = logic.join_head(head, rebuilt)
    assert len(joined) == 63 * SAMPLE_RATE  # the clip, then one new second
    np.testing.assert_array_equal(joined[: 2 * SAMPLE_RATE], wave[: 2 * SAMPLE_RATE])  # the start kept as it was
    np.testing.assert_allclose(joined[2 * SAMPLE_RATE + fade :], rebuilt[fade:])
    between = joined[2 * SAMPLE_RATE : 2 * SAMPLE_RATE + fade]  # a cross-fade from the original to its rebuilt self
    assert np.all(np.abs(between) <= np.abs(wave[2 * SAMPLE_RATE : 2 * SAMPLE_RATE + fade]) + 1e-6)
    assert continuation.Clip(wave[: 10 * SAMPLE_RATE], "short.wav").split()[0] is None  # short: the context whole
    silent_end = np.concatenate([wave[: 5 * SAMPLE_RATE], np.zeros(61 * SAMPLE_RATE, np.float32)])
    path = tmp_path / "silent_end.wav"  # sound, then a silent last minute: nothing to continue from
    save_audio(path, silent_end)
    with pytest.raises(AudioError, match=r"'silent_end.wav' \(its last 60 s\): the audio is silent"):
        continuation.load_clip(str(path))


def test_a_long_melody_gets_a_wide_piano_roll(tmp_path):
    notes = [Note(2.0 * i, 2.0 * i + 1.0, 60 + i % 12, 100) for i in range(60)]  # two minutes
    short = views.melody_view(notes[:5], None, "short", str(tmp_path), "short")
    long = views.melody_view(notes, None, "long", str(tmp_path), "long")

    def width(path):
        with open(path, "rb") as f:
            return int.from_bytes(f.read(24)[16:20], "big")  # the PNG header's IHDR width

    assert width(short.png_path) <= 1600 and width(long.png_path) >= 119 * 40  # 40 px a second


def test_continue_clip_via_client(served, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    _, client = served
    clip = tmp_path / "clip.wav"
    save_audio(clip, (0.3 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32))
    # clip, prompt, melody, negative, seconds, steps, guidance, beta, candidates, seed, scheduler
    outputs = client.predict(
        handle_file(str(clip)), "", "bpm=120 C4 D4 E4", "", SECONDS, STEPS, 3.0, 1.0, 1, 0, "default",
        api_name="/continue_clip",
    )  # fmt: skip
    audio, timing, info, png, tokens, preview, midi, adherence_png, adherence_info, clip_midi, clip_tokens = outputs
    wave = assert_wav(audio)
    assert 0.9 < len(wave) / SAMPLE_RATE - SECONDS <= 1.0
    assert timing.startswith("Continued 'clip.wav' (1.0 s) by 2.0 s") and "Your melody" in info
    assert [n.pitch for n in read_midi(midi)] == [60, 62, 64]
    assert_png(png)
    assert_adherence(adherence_png, adherence_info)
    silent = tmp_path / "quiet.wav"
    save_audio(silent, np.zeros(2 * SAMPLE_RATE, dtype=np.float32))
    rest = ("", "", "", SECONDS, STEPS, 3.0, 1.0, 1, 0, "default")
    for upload, match in ((handle_file(str(silent)), "'quiet.wav': the audio is silent"),
                          (None, "Please give a clip to continue")):  # fmt: skip
        with pytest.raises(AppError, match=match):
            client.predict(upload, *rest, api_name="/continue_clip")
    assert not EXTERNAL, EXTERNAL
