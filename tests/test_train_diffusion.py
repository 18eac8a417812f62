"""Smoke tests of train/diffusion.py on the tiny MusicSet (diffusers' `examples/test_*.py` pattern)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from pipeline_dummies import tiny_aligner, tiny_vocoder

from mmgen.models.vae import build_vae
from pipelines.pipeline_mmgen import MMGenPipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def frozen_parts(tmp_path_factory):
    """A fabricated tiny MusicSet and tiny aligner, VAE and vocoder folders, as the script loads them."""
    from fixtures import save_tiny_musicset

    folder = tmp_path_factory.mktemp("frozen")
    save_tiny_musicset(folder / "musicset", rows={"train": 8, "validation": 4, "test": 4})
    tiny_aligner().save_pretrained(folder / "aligner")
    torch.manual_seed(0)
    build_vae("tiny").save_pretrained(folder / "vae")
    tiny_vocoder().save_pretrained(folder / "vocoder")
    return folder


def train(frozen, output_dir, *extra):
    command = [
        sys.executable, os.path.join(ROOT, "train", "diffusion.py"),
        "--dataset", str(frozen / "musicset"),
        "--aligner", str(frozen / "aligner"),
        "--vae", str(frozen / "vae"),
        "--vocoder", str(frozen / "vocoder"),
        "--output_dir", str(output_dir),
        "--train_batch_size", "4",
        "--unet_block_out_channels", "8,16",
        "--projector_hidden_dim", "32",
        "--condition_dim", "16",
        "--clip_seconds", "1",
        "--crops_per_clip", "1",
        "--num_validation_clips", "1",
        "--validation_inference_steps", "2",
        "--validation_seconds", "1",
        "--report_to", "none",
        *extra,
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def generate(folder):
    pipe = MMGenPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe("a calm folk tune", audio_length_in_s=1.0, num_inference_steps=2,
                generator=torch.Generator().manual_seed(0))  # fmt: skip


def test_two_steps_save_a_loadable_pipeline(frozen_parts, tmp_path):
    out = tmp_path / "run"
    train(frozen_parts, out, "--max_train_steps", "2", "--checkpointing_steps", "1", "--validation_steps", "2",
          "--melody_dropout", "0.1")  # fmt: skip
    assert (out / "model_index.json").is_file()
    assert (out / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (out / "condition_projector" / "diffusion_pytorch_model.safetensors").is_file()
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    assert (out / "checkpoint-2" / "unet_ema" / "diffusion_pytorch_model.safetensors").is_file()
    validation = json.loads((out / "validation" / "step-2" / "results.json").read_text())
    assert len(validation["alignment_scores"]) == 1 and (out / "validation" / "step-2" / "0.wav").is_file()
    assert json.loads((out / "training_args.json").read_text())["global_step"] == 2
    assert (out / "checkpoint-2" / "unet" / "diffusion_pytorch_model.safetensors").is_file()  # save_pretrained hooks
    card = (out / "README.md").read_text()
    assert "# MMGen pipeline" in card and "| validation alignment score |" in card
    result = generate(out)
    assert result.audios.shape == (1, 22050) and np.isfinite(result.audios).all()
    assert result.melodies[0]["id"] is not None  # retrieved from the train split's melodies


@pytest.mark.slow
def test_resume_and_text_only_ablation_sharing_the_cache(frozen_parts, tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache"
    first = train(frozen_parts, out, "--max_train_steps", "1", "--checkpointing_steps", "1",
                  "--validation_steps", "100", "--cache_dir", str(cache))  # fmt: skip
    assert "building the frozen-feature cache" in first.stderr
    files = sorted(p.name.split("-")[0] + p.suffix for p in cache.iterdir())
    assert files == ["conditions.safetensors", "latents.json", "latents.safetensors", "retriever",
                     "sketches.safetensors"]  # fmt: skip
    resumed = train(frozen_parts, out, "--max_train_steps", "2", "--checkpointing_steps", "100", "--validation_steps",
                    "100", "--resume_from_checkpoint", "latest", "--cache_dir", str(cache))  # fmt: skip
    assert "resumed from" in resumed.stderr and "checkpoint-1" in resumed.stderr
    assert json.loads((out / "training_args.json").read_text())["global_step"] == 2

    ablation = tmp_path / "text_only"
    result = train(frozen_parts, ablation, "--max_train_steps", "1", "--checkpointing_steps", "100",
                   "--validation_steps", "1", "--condition", "text_only", "--cache_dir", str(cache))  # fmt: skip
    assert "building the frozen-feature cache" not in result.stderr  # the ablation reused the melody run's cache
    assert "building the frozen-feature cache" not in resumed.stderr
    pipe = MMGenPipeline.from_pretrained(ablation)
    assert pipe.retriever is None and not pipe.condition_projector.config.use_melody
    assert generate(ablation).melodies == [None]


def test_frozen_feature_cache_embeds_each_caption_once_and_keeps_every_crop(frozen_parts, monkeypatch, tmp_path):
    """One row per crop; the crops of a clip share their caption's query, embedded once; a new aligner reuses the
    VAE posteriors."""
    from accelerate import PartialState
    from diffusers import AutoencoderKL

    from mmgen.data import load_musicset
    from mmgen.models.aligner import TriModalAligner

    monkeypatch.syspath_prepend(os.path.join(ROOT, "train"))
    import diffusion

    args = diffusion.parse_args(["--dataset", str(frozen_parts / "musicset"), "--aligner", "a", "--vae", "v",
                                 "--output_dir", str(tmp_path), "--clip_seconds", "1", "--crops_per_clip", "2",
                                 "--train_batch_size", "3"])  # fmt: skip
    aligner = TriModalAligner.from_pretrained(frozen_parts / "aligner").eval()
    vae = AutoencoderKL.from_pretrained(frozen_parts / "vae").eval()
    split = load_musicset(str(frozen_parts / "musicset"))["train"]
    embedded = []
    original = aligner.embed_text
    monkeypatch.setattr(aligner, "embed_text", lambda texts: embedded.append(list(texts)) or original(texts))

    accelerator = PartialState()  # what load_or_build_cache uses of an Accelerator (and what its logger needs)
    cache = diffusion.load_or_build_cache(args, accelerator, split, aligner, vae)

    n = 2 * len(split)
    assert cache["mean"].shape[0] == cache["std"].shape[0] == n and cache["mean"].dtype == torch.float16
    assert cache["query"].shape == cache["own_melody"].shape == (n, aligner.config.projection_dim)
    assert len(embedded) == 1 and sorted(embedded[0]) == sorted(set(split["caption"]))  # each caption once
    torch.testing.assert_close(cache["query"][: len(split)], cache["query"][len(split) :])  # same clip, same q
    torch.testing.assert_close(cache["query"][: len(split)], original(list(split["caption"])), atol=1e-5, rtol=1e-4)
    assert not torch.equal(cache["mean"][: len(split)], cache["mean"][len(split) :])  # two different crops
    texts = json.loads((tmp_path / "cache" / os.path.basename(diffusion.cache_paths(args)[0])).with_suffix(".json")
                       .read_text())  # fmt: skip
    assert texts["captions"] == 2 * list(split["caption"]) and len(texts["melodies"]) == n

    # Another aligner: only its embeddings are computed again; the VAE is not run.
    args.aligner = "another"
    monkeypatch.setattr(diffusion, "build_latent_cache", lambda *a: pytest.fail("the VAE posteriors were rebuilt"))
    again = diffusion.load_or_build_cache(args, accelerator, split, aligner, vae)
    assert len(embedded) == 2 and torch.equal(again["mean"], cache["mean"])
    assert len(list((tmp_path / "cache").glob("conditions-*.safetensors"))) == 2

    # Sketches in varied timbres (--sketch_timbre varied): a file of their own beside the fixed-timbre one (whose
    # name predates the option), seeded per crop, and different from the pipeline's timbre.
    before = diffusion.cache_paths(args)
    assert os.path.basename(before[2]) == "sketches-" + os.path.basename(before[0])[len("latents-") :]
    args.sketch_timbre = "varied"
    assert diffusion.cache_paths(args)[2] != before[2] and diffusion.cache_paths(args)[:2] == before[:2]
    num_frames = 86
    fixed = diffusion.build_sketch_cache(vae, texts, num_frames, 3)
    varied = diffusion.build_sketch_cache(vae, texts, num_frames, 3, "varied", seed=0)
    assert varied.keys() == fixed.keys() and varied["sketch_score"].shape == fixed["sketch_score"].shape
    assert torch.equal(varied["sketch_score"], diffusion.build_sketch_cache(vae, texts, num_frames, 3, "varied")[
        "sketch_score"])  # fmt: skip
    voiced = [i for i, tokens in enumerate(texts["score_melodies"]) if tokens]
    assert voiced and all(not torch.equal(varied["sketch_score"][i], fixed["sketch_score"][i]) for i in voiced)


def test_warm_start_grows_conv_in_with_zeros_so_the_trained_unet_is_unchanged(monkeypatch, tmp_path):
    """InstructPix2Pix-style warm start: the sketch channels start at zero, the v1 UNet's output is kept exactly."""
    from pipeline_dummies import get_dummy_components

    from mmgen.models.condition import ConditionProjector
    from mmgen.models.unet import make_unet

    monkeypatch.syspath_prepend(os.path.join(ROOT, "train"))
    import diffusion
    from accelerate import PartialState

    PartialState()  # the script logs through accelerate, whose state must exist (the script's Accelerator makes it)

    v1 = MMGenPipeline(**get_dummy_components())
    v1.save_pretrained(tmp_path / "v1")
    unet = make_unet("cpu", condition_dim=16, block_out_channels=(8, 16), attention_head_dim=4, sketch_channels=8)
    projector = ConditionProjector(query_dim=16, melody_dim=16, hidden_dim=32, condition_dim=16)
    diffusion.warm_start(str(tmp_path / "v1"), unet, projector)

    torch.manual_seed(0)
    x, sketch, c = torch.randn(2, 8, 8, 20), torch.randn(2, 8, 8, 20), torch.randn(2, 16)
    with torch.no_grad():
        expected = v1.unet(x, 10, encoder_hidden_states=None, class_labels=c).sample
        got = unet.eval()(torch.cat([x, sketch], 1), 10, encoder_hidden_states=None, class_labels=c).sample
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(projector.null_query, v1.condition_projector.null_query)
    assert unet.conv_in.weight[:, 8:].abs().sum() == 0


def test_sketch_training_step_feeds_the_sketch_and_drops_it_with_the_melody(frozen_parts, tmp_path):
    out = tmp_path / "run"
    train(frozen_parts, out, "--max_train_steps", "2", "--checkpointing_steps", "100", "--validation_steps", "100",
          "--sketch_notes", "mixed", "--melody_dropout", "0.1")  # fmt: skip
    pipe = MMGenPipeline.from_pretrained(out)
    assert pipe.uses_melody_sketch and pipe.unet.config.in_channels == 2 * pipe.unet.config.out_channels
    args = json.loads((out / "training_args.json").read_text())
    assert args["melody_source"] == "own" and args["melody_input"] == "sketch"
    ablation = tmp_path / "global"
    train(frozen_parts, ablation, "--max_train_steps", "1", "--checkpointing_steps", "100", "--validation_steps",
          "100", "--melody_input", "none")  # fmt: skip
    pipe = MMGenPipeline.from_pretrained(ablation)
    assert not pipe.uses_melody_sketch
    assert json.loads((ablation / "training_args.json").read_text())["melody_source"] == "retrieved"


def test_pianoroll_training_saves_a_pipeline_whose_encoder_drives_the_unet(frozen_parts, tmp_path):
    """--melody_input pianoroll: the learned piano-roll projection is trained, saved and used by the pipeline; its
    null (no melody) is zeros as for the sketch."""
    from mmgen.melody.notes import Note

    out = tmp_path / "run"
    train(frozen_parts, out, "--max_train_steps", "2", "--checkpointing_steps", "1", "--validation_steps", "100",
          "--melody_input", "pianoroll", "--melody_dropout", "0.1", "--checkpoints_total_limit", "1")  # fmt: skip
    assert (out / "checkpoint-2" / "melody_encoder_ema" / "diffusion_pytorch_model.safetensors").is_file()
    pipe = MMGenPipeline.from_pretrained(out)
    assert pipe.melody_encoder is not None and pipe.uses_melody_sketch
    notes = [[Note(0.0, 0.4, 60), Note(0.4, 0.9, 67)]]
    info = [{"notes": notes[0]}, None]
    latents = pipe.prepare_melody_latents(info, 8, torch.device("cpu"), torch.float32)
    assert latents.shape == (2, 8, 8, 20) and latents[0].abs().sum() > 0 and latents[1].abs().sum() == 0
    higher = pipe.prepare_melody_latents([{"notes": [Note(0.0, 0.4, 62), Note(0.4, 0.9, 69)]}], 8,
                                         torch.device("cpu"), torch.float32)  # fmt: skip
    assert not torch.allclose(higher[0], latents[0])
    result = pipe("a calm folk tune", melody=notes[0], audio_length_in_s=1.0, num_inference_steps=2,
                  generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert np.isfinite(result.audios).all()


def test_warm_start_with_condition_normalization_keeps_the_projector_function(monkeypatch, tmp_path):
    """--normalize_condition_inputs on a warm start: the v1 projector (no statistics) loads into the normalising one,
    and fitting the statistics leaves its output unchanged."""
    from pipeline_dummies import get_dummy_components

    from mmgen.models.condition import ConditionProjector
    from mmgen.models.unet import make_unet

    monkeypatch.syspath_prepend(os.path.join(ROOT, "train"))
    import diffusion
    from accelerate import PartialState

    PartialState()  # the script logs through accelerate, whose state must exist (the script's Accelerator makes it)

    v1 = MMGenPipeline(**get_dummy_components())
    v1.save_pretrained(tmp_path / "v1")
    unet = make_unet("cpu", condition_dim=16, block_out_channels=(8, 16), attention_head_dim=4)
    projector = ConditionProjector(query_dim=16, melody_dim=16, hidden_dim=32, condition_dim=16,
                                   normalize_inputs=True)  # fmt: skip
    diffusion.warm_start(str(tmp_path / "v1"), unet, projector)
    q = torch.nn.functional.normalize(torch.randn(32, 16) + 2.0, dim=-1)
    r = torch.nn.functional.normalize(torch.randn(32, 16) - 1.0, dim=-1)
    projector.fit_input_normalization(q, r)
    with torch.no_grad():
        torch.testing.assert_close(projector(q, r), v1.condition_projector(q, r), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(projector.null_condition(3), v1.condition_projector.null_condition(3))
