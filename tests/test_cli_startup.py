"""`python -m mmgen --help` stays fast: building the parser and importing `mmgen.audio` load no heavy library.

The heavy imports (torch, transformers, diffusers, faiss, matplotlib, Basic Pitch) belong inside the command
handlers. Each check runs in a fresh interpreter, since this test process has most of them imported already.
"""

import os
import pkgutil
import subprocess
import sys

import pytest

import mmgen.cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("torch", "transformers", "diffusers", "faiss", "matplotlib", "basic_pitch", "librosa", "onnxruntime",
         "gradio", "scipy", "pretty_midi", "peft", "accelerate")  # fmt: skip
# What a generation loads only once it needs it (the retriever's index, the adherence check, the app): never on
# `import pipelines`, which already costs seconds of torch and diffusers.
AFTER_GENERATION = ("faiss", "matplotlib", "basic_pitch", "librosa", "onnxruntime", "gradio", "pretty_midi")
COMMANDS = sorted(m.name for m in pkgutil.iter_modules(mmgen.cli.__path__) if not m.name.startswith("_"))
# Nested sub-commands, checked in-process (their parsers are built by the same `build_parser` call).
SUBCOMMANDS = [
    ("data", "synth"),
    ("data", "build"),
    ("eval", "generation"),
    ("eval", "align"),
    ("retrieval", "build"),
    ("retrieval", "search"),
    ("retrieval", "sweep"),
]


def run_python(*args, timeout=120):
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_commands_are_discovered():
    assert {"data", "demo", "eval", "generate", "melody", "retrieval"} <= set(COMMANDS)


def test_building_the_parser_imports_no_heavy_module():
    code = (
        "import sys; from mmgen.cli import build_parser; build_parser(); "
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]; print(heavy)"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow  # a fresh interpreter importing torch, diffusers and transformers: 5-15 s
def test_importing_the_pipeline_leaves_the_post_generation_libraries_unloaded():
    code = f"import sys; import pipelines; print([m for m in {AFTER_GENERATION!r} if m in sys.modules])"
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_top_level_help_lists_every_command():
    result = run_python("-m", "mmgen", "--help")
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help(command):
    result = run_python("-m", "mmgen", command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"python -m mmgen {command}" in result.stdout  # the usage line names the command


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=" ".join)
def test_subcommand_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        mmgen.cli.build_parser().parse_args([*command, "--help"])
    assert exit_info.value.code == 0
    assert f"python -m mmgen {' '.join(command)}" in capsys.readouterr().out


def test_importing_audio_does_not_import_torch(tmp_path):
    """Constants and the numpy paths (log-mel, padding, saving and loading) work without torch."""
    code = (
        "import sys; import numpy as np; import mmgen.audio as audio; "
        "before = 'torch' in sys.modules; "
        "wave = np.sin(np.arange(audio.SAMPLE_RATE) / 10).astype(np.float32) * 0.5; "
        "mel = audio.log_mel_spectrogram(wave); "
        "assert isinstance(mel, np.ndarray) and mel.shape == (audio.N_MELS, audio.SAMPLE_RATE // audio.HOP_LENGTH); "
        "assert audio.pad_or_trim(wave, 100).shape == (100,); "
        f"audio.save_audio({str(tmp_path / 'x.wav')!r}, wave); "
        f"assert audio.load_audio({str(tmp_path / 'x.wav')!r}).shape == wave.shape; "
        "print(before, 'torch' in sys.modules)"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


# ---- the one constant the CLI still copies to stay light must match its source ------------------------------


def test_retrieval_index_types_match_index_module():
    from mmgen.cli import retrieval
    from mmgen.retrieval.index import INDEX_TYPES

    assert retrieval.INDEX_TYPES == INDEX_TYPES
