"""Fine-tune on your own music, end to end on a tiny folder: `mmgen data build` (no captions) ->
`train/diffusion.py --pretrained_pipeline` (full and LoRA) -> the folder's melodies in the saved retriever ->
`from_pretrained` loads and generates; and the errors of a bad pipeline folder."""

import importlib.util
import json
import os

import numpy as np
import pytest
import torch
from pipeline_dummies import get_dummy_components

from mmgen.audio import SAMPLE_RATE, save_audio
from mmgen.cli import main as cli_main
from mmgen.data import load_musicset
from mmgen.finetune import PipelineFolderError, add_unet_lora, read_pipeline_folder, save_and_fuse_lora
from pipelines.pipeline_mmgen import MMGenPipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tune(pitches, note_s=0.25):
    t = np.arange(int(note_s * SAMPLE_RATE)) / SAMPLE_RATE
    return np.concatenate([0.4 * np.sin(2 * np.pi * 440 * 2 ** ((p - 69) / 12) * t) for p in pitches])


@pytest.fixture(scope="module")
def own_music(tmp_path_factory):
    """A tiny pretrained pipeline folder and a MusicSet built from a folder of uncaptioned audio files."""
    root = tmp_path_factory.mktemp("finetune")
    MMGenPipeline(**get_dummy_components(melody_sketch=True)).save_pretrained(root / "pretrained")
    folder = root / "my_tunes"
    folder.mkdir()
    for i in range(5):
        save_audio(folder / f"tune_{i}.wav", _tune([60 + i, 64 + i, 67 + i, 72 + i] * 2))  # 2 s each
    assert cli_main(["data", "build", "--audio-dir", str(folder), "--output", str(root / "musicset"),
                     "--clip-seconds", "2"]) == 0  # fmt: skip
    return root


def _train_main():
    spec = importlib.util.spec_from_file_location("train_diffusion", os.path.join(ROOT, "train", "diffusion.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def finetune(root, output_dir, *extra):
    """Run train/diffusion.py's main in this process (the tiny models train in a second; no interpreter start)."""
    _train_main()([
        "--pretrained_pipeline", str(root / "pretrained"),
        "--dataset", str(root / "musicset"),
        "--output_dir", str(output_dir),
        "--cache_dir", str(root / "cache"),
        "--train_batch_size", "2",
        "--clip_seconds", "1",
        "--crops_per_clip", "1",
        "--num_threads", "1",
        "--validation_steps", "1000",
        "--report_to", "none",
        *extra,
    ])  # fmt: skip


def generate(folder, prompt="lullabies"):
    pipe = MMGenPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe(prompt, audio_length_in_s=1.0, num_inference_steps=2, generator=torch.Generator().manual_seed(0))


def _unet_state(folder):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.from_pretrained(folder, subfolder="unet").state_dict()


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_finetune_saves_a_pipeline_that_retrieves_the_new_melodies(own_music, tmp_path, mode):
    out = tmp_path / mode
    finetune(own_music, out, "--finetune", mode, "--max_train_steps", "2", "--checkpointing_steps", "1",
             "--learning_rate", "1e-2", "--lr_warmup_steps", "0")  # fmt: skip
    args = json.loads((out / "training_args.json").read_text())
    assert args["global_step"] == 2 and args["train_cpu_seconds"] > 0
    before, after = _unet_state(own_music / "pretrained"), _unet_state(out)
    assert before.keys() == after.keys()  # a plain UNet: LoRA fused, no peft keys
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    if mode == "lora":  # only the adapted layers moved, the adapter is saved beside the pipeline
        assert changed and all(k.endswith("weight") and any(t in k for t in ("to_", "conv1", "conv2"))
                               for k in changed)  # fmt: skip
        assert (out / "unet_lora" / "pytorch_lora_weights.safetensors").is_file()
    else:
        assert "conv_in.weight" in changed
    pipe = MMGenPipeline.from_pretrained(out)
    added = [row for row in pipe.retriever.metadata if row["source"].startswith("tune_")]
    train_ids = set(load_musicset(own_music / "musicset")["train"]["id"])
    assert {row["id"] for row in added} == train_ids and len(pipe.retriever) == 6 + len(train_ids)
    # each is in the index (its own embedding finds it), and generation from a caption runs with the grown database
    hits = pipe.retriever.search(pipe.aligner.embed_melody([added[0]["melody"]]), k=1).metadata[0][0]
    assert hits["id"] == added[0]["id"]
    out_audio = generate(out, prompt=added[0]["caption"])
    assert out_audio.audios.shape[0] == 1 and np.isfinite(out_audio.audios).all()


def test_retrieve_from_own_keeps_only_the_new_melodies(own_music, tmp_path):
    out = tmp_path / "own"
    finetune(own_music, out, "--finetune", "lora", "--max_train_steps", "1", "--retrieve_from", "own")
    pipe = MMGenPipeline.from_pretrained(out)
    train_ids = set(load_musicset(own_music / "musicset")["train"]["id"])
    assert {row["id"] for row in pipe.retriever.metadata} == train_ids
    pretrained = MMGenPipeline.from_pretrained(own_music / "pretrained").retriever
    assert pipe.retriever.config.index_type == pretrained.config.index_type
    # any text prompt now retrieves one of the user's melodies
    pipe.set_progress_bar_config(disable=True)
    out_audio = pipe("a bright march", audio_length_in_s=1.0, num_inference_steps=2,
                     generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert out_audio.melodies[0]["id"] in train_ids


def test_cpu_budget_stops_and_resumes_spent(own_music, tmp_path):
    out = tmp_path / "budget"
    finetune(own_music, out, "--finetune", "lora", "--max_train_steps", "1000", "--max_train_cpu_seconds", "0.01",
             "--checkpointing_steps", "1000")  # fmt: skip
    args = json.loads((out / "training_args.json").read_text())
    assert args["global_step"] == 1 and (out / "checkpoint-1" / "clock.json").is_file()
    finetune(own_music, out, "--finetune", "lora", "--max_train_steps", "1000", "--max_train_cpu_seconds",
                     "0.01", "--checkpointing_steps", "1000", "--resume_from_checkpoint", "latest")  # fmt: skip
    assert json.loads((out / "training_args.json").read_text())["global_step"] == 1


def test_lora_fuses_into_the_same_function():
    unet = get_dummy_components(melody_sketch=True)["unet"]
    add_unet_lora(unet, rank=4)
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.1)
    x = torch.randn(1, 16, 8, 20, generator=torch.Generator().manual_seed(0))
    c = torch.randn(1, unet.config.projection_class_embeddings_input_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        adapted = unet(x, 10, encoder_hidden_states=None, class_labels=c).sample
        fused = save_and_fuse_lora(unet)(x, 10, encoder_hidden_states=None, class_labels=c).sample
    assert not any("lora" in k for k in unet.state_dict())
    torch.testing.assert_close(fused, adapted, atol=1e-5, rtol=1e-4)


def test_clear_errors(own_music, tmp_path, capsys):
    broken = tmp_path / "broken"
    MMGenPipeline(**get_dummy_components(melody_sketch=True)).save_pretrained(broken)
    for name in ("config.json", "diffusion_pytorch_model.safetensors"):
        (broken / "vae" / name).unlink()
    with pytest.raises(PipelineFolderError, match="lacks its vae component"):
        read_pipeline_folder(broken)
    with pytest.raises(PipelineFolderError, match="does not exist"):
        read_pipeline_folder(tmp_path / "nowhere")
    parse_args = _train_main().__globals__["parse_args"]
    base = ["--dataset", str(own_music / "musicset"), "--output_dir", str(tmp_path / "x")]
    for argv, message in [
        (["--pretrained_pipeline", str(broken)], "lacks its vae component"),
        (["--pretrained_pipeline", str(own_music / "pretrained"), "--aligner", "a"], "drop --aligner"),
        (["--finetune", "lora", "--aligner", "a", "--vae", "v"], "adapts a trained UNet"),
        ([], "give --pretrained_pipeline, or --aligner and --vae"),
    ]:
        with pytest.raises(SystemExit):
            parse_args(base + argv)
        assert message in capsys.readouterr().err
