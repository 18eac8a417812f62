"""Tiny models and data for the tests (seconds on a CPU, no downloads): the one place test scaffolding lives.

- `save_tiny_text_encoder`, `tiny_aligner_config`: a random 2-layer BERT and a `TriModalAlignerConfig` around it;
- `tiny_vocoder_config`: a ~13k-parameter `SpeechT5HifiGan` config with the project's rates;
- `save_tiny_musicset`: a fabricated MusicSet of sine tunes;
- `run_train_script`: a script of `train/` in a subprocess, offline;
- `load_script`, `load_benchmark`: a script of `train/` or `benchmarks/` as a module;
- `sine_notes_waveform`: a clean signal of given notes; `CAPTIONS` / `MELODIES`: an aligner batch's six rows;
- `save_tiny_pipeline`: a random `MMGenPipeline` from `pipeline_dummies`, saved; `launch_app`: the Space on a free
  local port; `serve_app`: that with a `gradio_client` Client, `EXTERNAL` recording any network access that is not
  local; `t2m_args`: the Space's `/text_to_music` arguments.

Import with `from fixtures import ...` (pytest puts `tests/` on the path). Test modules never import each other or
`conftest` (whose fixtures, built on these, pytest hands to the tests). Heavy libraries are imported where used.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import numpy as np

from mmgen.audio import N_MELS, SAMPLE_RATE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE_AUDIO = os.path.join(ROOT, "examples", "example_melody.flac")
EXAMPLE_MIDI = os.path.join(ROOT, "examples", "example_melody.mid")

# Six captions and melodies: a global aligner batch (the multi-process tests split it over two processes).
CAPTIONS = ["calm piano", "fast drums", "sad violin", "happy flute", "dark organ", "bright guitar solo"]
MELODIES = [
    "<C4>,<114>,<79>|<E4>,<114>,<79>",
    "<A3>,<90>,<85>",
    "<D5>,<150>,<79>|<C5>,<150>,<79>|<B4>,<150>,<79>",
    "<F4>,<60>,<100>|<F4>,<60>,<100>",
    "<G2>,<300>,<79>",
    "<E5>,<40>,<79>|<F5>,<40>,<79>|<G5>,<40>,<79>|<A5>,<40>,<79>",
]

# The Space's tests generate this little: seconds and denoising steps.
APP_SECONDS = 2.0
APP_STEPS = 3


def sine_notes_waveform(notes, sr=SAMPLE_RATE, amplitude=0.5):
    """A clean test signal: each note a sine with a short fade, shape (samples,)."""
    end = max(n.offset for n in notes)
    wave = np.zeros(int(round((end + 0.25) * sr)), dtype=np.float32)
    for n in notes:
        start, stop = int(n.onset * sr), int(n.offset * sr)
        t = np.arange(stop - start) / sr
        envelope = np.minimum(1.0, np.minimum(t / 0.01, (n.offset - n.onset - t) / 0.02)).clip(0, 1)
        wave[start:stop] += amplitude * envelope * np.sin(2 * np.pi * 440.0 * 2 ** ((n.pitch - 69) / 12) * t)
    return wave


def save_tiny_text_encoder(path: str | os.PathLike, seed: int = 0) -> str:
    """A 2-layer, 16-wide random BERT with the packaged MiniLM tokenizer, saved at `path` (safetensors)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from mmgen.models.aligner.configuration_aligner import DEFAULT_TEXT_ENCODER, resolve_text_encoder_path

    path = os.fspath(path)
    tokenizer = AutoTokenizer.from_pretrained(resolve_text_encoder_path(DEFAULT_TEXT_ENCODER))
    tokenizer.save_pretrained(path)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(path)
    return path


def tiny_aligner_config(text_encoder_path: str, **kwargs):
    """A tiny `TriModalAlignerConfig` around the text encoder saved by `save_tiny_text_encoder`."""
    from mmgen.models.aligner import TINY_AUDIO_CONFIG, TINY_MELODY_CONFIG, TriModalAlignerConfig

    text_config = {"encoder_name_or_path": os.fspath(text_encoder_path), "max_length": 32}
    text_config.update(kwargs.pop("text_config", {}))
    kwargs.setdefault("projection_dim", 8)
    kwargs.setdefault("audio_clip_seconds", 1.0)
    kwargs.setdefault("audio_config", dict(TINY_AUDIO_CONFIG))
    kwargs.setdefault("melody_config", dict(TINY_MELODY_CONFIG))
    return TriModalAlignerConfig(text_config=text_config, **kwargs)


def tiny_vocoder_config():
    """A randomly initialised SpeechT5HifiGan of ~13k parameters with the project's rates."""
    from transformers import SpeechT5HifiGanConfig

    return SpeechT5HifiGanConfig(
        model_in_dim=N_MELS, sampling_rate=SAMPLE_RATE, upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8],
        upsample_initial_channel=16, resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
        normalize_before=False,
    )  # fmt: skip


def save_tiny_vocoder(path: str | os.PathLike, seed: int = 0) -> str:
    """A random `SpeechT5HifiGan` of `tiny_vocoder_config`, saved at `path` (for `--pretrained_vocoder`)."""
    import torch
    from transformers import SpeechT5HifiGan

    torch.manual_seed(seed)
    SpeechT5HifiGan(tiny_vocoder_config()).save_pretrained(os.fspath(path))
    return os.fspath(path)


def save_tiny_musicset(path: str | os.PathLike, rows: dict[str, int] | None = None, seconds: float = 2.0) -> str:
    """A fabricated MusicSet of sine tunes (distinct pitch patterns, matching captions and melody tokens).

    Args:
        path: output folder (`datasets.save_to_disk` layout, as `mmgen data synth` writes).
        rows (`dict[str, int]`, *optional*): rows per split (default train 8, validation 4, test 4).
        seconds (`float`): clip length.
    """
    import datasets
    import numpy as np

    from mmgen.data.format import encode_flac, musicset_features, save_musicset
    from mmgen.melody.notes import Note, pitch_name
    from mmgen.melody.tokenizer import notes_to_string

    rows = rows or {"train": 8, "validation": 4, "test": 4}
    splits, index = {}, 0
    for split, count in rows.items():
        items = []
        for _ in range(count):
            base, step = 48 + (index * 7) % 24, 1 + index % 5
            notes = [
                Note(0.05 + 0.25 * i, 0.25 + 0.25 * i, base + (i * step) % 12, 90) for i in range(int(seconds * 4) - 1)
            ]
            wave = np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)
            for n in notes:
                t = np.arange(int((n.offset - n.onset) * SAMPLE_RATE)) / SAMPLE_RATE
                start = int(n.onset * SAMPLE_RATE)
                wave[start : start + t.size] += 0.4 * np.sin(2 * np.pi * 440 * 2 ** ((n.pitch - 69) / 12) * t)
            items.append({
                "id": f"{split}-{index}", "audio": encode_flac(wave), "melody": notes_to_string(notes),
                "caption": f"a sine tune starting on {pitch_name(base)} rising by {step} semitones",
                "alt_captions": [f"sine melody from {pitch_name(base)}"], "source": "test", "group": f"g{index}",
                "start_s": 0.0, "duration_s": seconds,
            })  # fmt: skip
            index += 1
        splits[split] = datasets.Dataset.from_list(items, features=musicset_features())
    save_musicset(datasets.DatasetDict(splits), path, {"builder": "tiny test set", "license": "CC0"})
    return os.fspath(path)


def load_script(folder: str, name: str):
    """`<folder>/<name>.py` of the repository (`benchmarks`, `train`) as a fresh module named `<folder>_<name>`, its
    folder importable while it loads, as when it runs as a script."""
    folder = os.path.join(ROOT, folder)
    module_name = f"{os.path.basename(folder)}_{name}"
    spec = importlib.util.spec_from_file_location(module_name, os.path.join(folder, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # as an import does: dataclasses look their module up while the class is made
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    finally:
        sys.path.remove(folder)
    return module


def load_benchmark(name: str):
    """`benchmarks/<name>.py` as a module."""
    return load_script("benchmarks", name)


def run_train_script(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run `train/<script>` offline with 2 threads; fail the test with the tail of its output if it fails."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train", script), *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def save_tiny_pipeline(path: str | os.PathLike, **kwargs) -> str:
    """A random `MMGenPipeline` of `pipeline_dummies.get_dummy_components(**kwargs)` saved at `path`
    (`melody_sketch=True`: the v2 UNet that takes the frame-aligned melody sketch)."""
    from pipeline_dummies import get_dummy_components

    from pipelines.pipeline_mmgen import MMGenPipeline

    MMGenPipeline(**get_dummy_components(**kwargs)).save_pretrained(path)
    return os.fspath(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0", "", None}
EXTERNAL: list[tuple[str, object]] = []  # (audit event, address) of every non-loopback network access
_watching = []


def _audit(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple) and args[1][0] not in LOOPBACK:
        EXTERNAL.append((event, args[1]))
    elif event == "socket.getaddrinfo" and args[0] not in LOOPBACK:
        host = args[0].decode() if isinstance(args[0], bytes) else args[0]
        if host not in LOOPBACK:
            EXTERNAL.append((event, host))


def watch_network() -> None:
    """From now on record in `EXTERNAL` every network access that is not local (and forget the earlier ones)."""
    if not _watching:
        sys.addaudithook(_audit)  # audit hooks cannot be removed; this one only records
        _watching.append(True)
    EXTERNAL.clear()


def launch_app(model_dir: str) -> tuple:
    """The Space (`app.py`) launched on 127.0.0.1 (a free port) with the pipeline at `model_dir`, as `app.py`'s
    flags set it up: `(demo, url)`; the caller closes the demo."""
    import app

    demo = app.build_demo(model_dir)
    demo.queue(max_size=16, default_concurrency_limit=2)
    args = app.parse_args(["--model", model_dir, "--port", str(free_port())])
    demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs(args))
    return demo, f"http://127.0.0.1:{args.port}/"


@contextlib.contextmanager
def serve_app(model_dir: str) -> Iterator[tuple]:
    """`launch_app` and a `gradio_client.Client` on it: `(demo, client)`; network access from here on is recorded
    in `EXTERNAL`."""
    from gradio_client import Client

    watch_network()
    demo, url = launch_app(model_dir)
    client = Client(url, verbose=False, download_files=True)
    try:
        yield demo, client
    finally:
        client.close()
        demo.close()


def t2m_args(prompt="a calm folk tune on a flute", melody="", seed=0, recording=None, transpose=0, tempo=1.0,
             trim=(0, None), fold=False):  # fmt: skip
    """The Space's `/text_to_music` arguments: prompt, negative prompt, typed melody, seconds, steps, guidance,
    melody guidance, candidates, seed, scheduler, recording, transpose, tempo, trim start, trim end, fold."""
    return (prompt, "", melody, APP_SECONDS, APP_STEPS, 3.0, 1.0, 1, seed, "default", recording, transpose, tempo,
            *trim, fold)  # fmt: skip
