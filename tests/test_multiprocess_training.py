"""Issue 22: every training script under `accelerate launch` with two processes (gloo on this CPU, the code path DDP
takes on GPUs), launched as the README says: `accelerate launch --config_file configs/accelerate/...`.

Checked on the tiny MusicSet: the processes train on different examples, shared work (the frozen text features, the
frozen-feature cache, the retriever) is done once by process 0, checkpoints and the final folder are written once,
validation runs in the middle of a multi-process run without deadlock, and a run checkpointed by 2 processes
resumes under 1 and the other way round with the step count and the learning-rate schedule right.
"""

import json
import os
import re
import socket
import subprocess
import sys

import pytest
import torch
from fixtures import save_tiny_vocoder, tiny_aligner_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPU_CONFIG = os.path.join(ROOT, "configs", "accelerate", "cpu_2_processes.yaml")
FIRST_BATCH = re.compile(r"process (\d) of (\d): first batch \[(.*)\]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(script: str, *args: str, processes: int = 2) -> str:
    """Run `train/<script>` with 2 processes (the repository's CPU launch config) or as a plain single process;
    returns its log."""
    path = os.path.join(ROOT, "train", script)
    if processes == 2:
        command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", CPU_CONFIG,
                   "--main_process_port", str(free_port()), path, *args]  # fmt: skip
    else:
        command = [sys.executable, path, *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1200)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    return log


def first_batches(log: str) -> dict[int, list[str]]:
    """What each process named as its first batch (`mmgen.training_utils.log_first_batch`)."""
    found = {}
    for rank, world, items in FIRST_BATCH.findall(log):
        found.setdefault(int(rank), [x.strip(" '") for x in items.split(",")])
        assert int(world) == 2
    return found


def assert_processes_saw_different_data(log: str) -> None:
    batches = first_batches(log)
    assert set(batches) == {0, 1}, log[-3000:]
    assert not set(batches[0]) & set(batches[1]), batches


def training_state(folder) -> dict:
    return json.loads((folder / "training_state.json").read_text())


@pytest.mark.slow
def test_align_under_two_processes_then_resumed_by_one(tiny_assets, tmp_path):
    common = ["--dataset_dir", tiny_assets["musicset"], "--output_dir", str(tmp_path), "--model_config", "tiny",
              "--text_encoder", tiny_assets["text"], "--clip_seconds", "1.0", "--train_batch_size", "2",
              "--report_to", "none", "--lr_warmup_steps", "1", "--lr_scheduler", "linear"]  # fmt: skip
    log = launch("align.py", *common, "--max_train_steps", "2", "--checkpointing_steps", "1",
                 "--checkpoints_total_limit", "1", "--validation_steps", "1")  # fmt: skip
    assert_processes_saw_different_data(log)
    computed = re.findall(r"\[RANK (\d)\].*computed cache_text_features for all 2", log)
    assert computed == ["0"]  # the frozen text features: once, by process 0, shared with process 1
    assert "step 1 validation R@1" in log and "step 2 validation R@1" in log  # validation mid-run: no deadlock
    checkpoint = tmp_path / "checkpoint-2"
    assert training_state(checkpoint) == {"global_step": 2, "num_processes": 2}
    assert sorted(p.name for p in checkpoint.glob("random_states_*")) == ["random_states_0.pkl", "random_states_1.pkl"]
    assert (checkpoint / "aligner" / "model.safetensors").is_file() and not (tmp_path / "checkpoint-1").exists()
    assert json.loads((tmp_path / "train_summary.json").read_text())["num_processes"] == 2
    assert (tmp_path / "README.md").is_file() and (tmp_path / "model.safetensors").is_file()

    log = launch("align.py", *common, "--max_train_steps", "3", "--checkpointing_steps", "3",
                 "--validation_steps", "100", "--resume_from_checkpoint", "latest", processes=1)  # fmt: skip
    assert "checkpoint-2 at step 2" in log and "written by 2 processes, this run has 1" in log
    assert training_state(tmp_path / "checkpoint-3") == {"global_step": 3, "num_processes": 1}
    # accelerate steps a schedule once per process: the 2-process run left it at 4 (2 steps x 2); one process goes on
    # from step 2, so after step 3 it stands at 3, where a single-process run of 3 steps leaves it.
    scheduler = torch.load(tmp_path / "checkpoint-3" / "scheduler.bin", weights_only=False)
    assert scheduler["last_epoch"] == 3
    assert json.loads((tmp_path / "train_summary.json").read_text())["max_train_steps"] == 3


@pytest.fixture(scope="module")
def frozen_parts(tiny_assets, tmp_path_factory):
    from mmgen.models.aligner import TriModalAligner
    from mmgen.models.vae import build_vae

    folder = tmp_path_factory.mktemp("frozen")
    torch.manual_seed(0)
    TriModalAligner.from_text_pretrained(tiny_aligner_config(tiny_assets["text"])).save_pretrained(folder / "aligner")
    build_vae("tiny").save_pretrained(folder / "vae")
    save_tiny_vocoder(folder / "vocoder")
    return folder


@pytest.mark.slow
def test_diffusion_resumed_by_two_processes_builds_shared_work_once(tiny_assets, frozen_parts, tmp_path):
    out = tmp_path / "run"
    common = ["--dataset", tiny_assets["musicset"], "--aligner", str(frozen_parts / "aligner"), "--vae",
              str(frozen_parts / "vae"), "--vocoder", str(frozen_parts / "vocoder"), "--output_dir", str(out),
              "--train_batch_size", "2", "--unet_block_out_channels", "8,16", "--projector_hidden_dim", "32",
              "--condition_dim", "16", "--clip_seconds", "1", "--crops_per_clip", "1", "--num_validation_clips", "1",
              "--validation_inference_steps", "2", "--validation_seconds", "1", "--report_to", "none",
              "--melody_dropout", "0.1"]  # fmt: skip
    launch("diffusion.py", *common, "--max_train_steps", "1", "--checkpointing_steps", "1", "--validation_steps",
           "100", "--cache_dir", str(tmp_path / "cache-1"), processes=1)  # fmt: skip
    assert training_state(out / "checkpoint-1") == {"global_step": 1, "num_processes": 1}

    # Two processes go on from that checkpoint, with a fresh cache folder so that they build the shared work again.
    log = launch("diffusion.py", *common, "--max_train_steps", "3", "--checkpointing_steps", "2", "--validation_steps",
                 "2", "--resume_from_checkpoint", "latest", "--cache_dir", str(tmp_path / "cache-2"))  # fmt: skip
    assert "checkpoint-1 at step 1" in log and "written by 1 processes, this run has 2" in log
    assert_processes_saw_different_data(log)
    built = re.findall(r"\[RANK (\d)\].*building the frozen-feature cache .*(latents|conditions|sketches)-", log)
    assert sorted(built) == [("0", "conditions"), ("0", "latents"), ("0", "sketches")]
    assert re.findall(r"\[RANK (\d)\].*building the melody retriever", log) == ["0"]
    assert len(list((tmp_path / "cache-2").glob("retriever-*"))) == 1

    assert training_state(out / "checkpoint-2") == {"global_step": 2, "num_processes": 2}
    assert (out / "checkpoint-2" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (out / "checkpoint-2" / "unet_ema" / "diffusion_pytorch_model.safetensors").is_file()
    assert json.loads((out / "validation" / "step-2" / "results.json").read_text())["step"] == 2  # mid-run
    assert json.loads((out / "training_args.json").read_text())["global_step"] == 3
    assert (out / "model_index.json").is_file() and "# MMGen pipeline" in (out / "README.md").read_text()
    assert not list(out.glob(".partial-*")) and not list(out.glob(".trash-*"))

    from pipelines.pipeline_mmgen import MMGenPipeline

    pipe = MMGenPipeline.from_pretrained(out)
    pipe.set_progress_bar_config(disable=True)
    audio = pipe("a sine tune", audio_length_in_s=1.0, num_inference_steps=2,
                 generator=torch.Generator().manual_seed(0)).audios  # fmt: skip
    assert audio.shape == (1, 22050) and torch.isfinite(torch.from_numpy(audio)).all()


@pytest.mark.slow
def test_vae_and_vocoder_gans_under_two_processes(tiny_assets, frozen_parts, tmp_path):
    vae_out = tmp_path / "vae"
    log = launch("vae.py", "--dataset", tiny_assets["musicset"], "--output_dir", str(vae_out), "--vae_preset", "tiny",
                 "--train_batch_size", "2", "--crop_seconds", "0.5", "--disc_weight", "0.5", "--disc_start_step", "1",
                 "--disc_channels", "8", "--checkpointing_steps", "2", "--validation_steps", "1",
                 "--num_validation_clips", "1", "--num_validation_samples", "1", "--validation_vocoder_method",
                 "griffinlim", "--scaling_factor_batches", "1", "--report_to", "none", "--lr_warmup_steps", "0",
                 "--max_train_steps", "2")  # fmt: skip
    assert_processes_saw_different_data(log)
    assert training_state(vae_out / "checkpoint-2") == {"global_step": 2, "num_processes": 2}
    assert (vae_out / "checkpoint-2" / "discriminator" / "diffusion_pytorch_model.safetensors").is_file()
    assert (vae_out / "validation" / "step-1" / "metrics.json").is_file()  # validation mid-run, then a GAN step
    assert json.loads((vae_out / "train_summary.json").read_text())["global_step"] == 2
    assert (vae_out / "README.md").is_file() and (vae_out / "discriminator" / "config.json").is_file()

    vocoder_out = tmp_path / "vocoder"
    log = launch("vocoder.py", "--dataset", tiny_assets["musicset"], "--output_dir", str(vocoder_out),
                 "--pretrained_vocoder", str(frozen_parts / "vocoder"), "--disc_preset", "tiny",
                 "--train_batch_size", "2", "--segment_seconds", "0.25", "--gan_start_step", "1",
                 "--checkpointing_steps", "2", "--validation_steps", "1", "--validation_seconds", "0.5",
                 "--num_validation_clips", "1", "--num_validation_samples", "1", "--report_to", "none",
                 "--max_train_steps", "2")  # fmt: skip
    assert_processes_saw_different_data(log)
    assert training_state(vocoder_out / "checkpoint-2") == {"global_step": 2, "num_processes": 2}
    assert (vocoder_out / "checkpoint-2" / "vocoder" / "model.safetensors").is_file()
    assert (vocoder_out / "validation" / "step-1" / "metrics.json").is_file()
    assert (vocoder_out / "model.safetensors").is_file() and (vocoder_out / "README.md").is_file()


def test_launch_configs_load_and_the_readme_launches_every_script_with_one():
    from accelerate.commands.config.config_args import load_config_from_file

    expected = {  # distributed type, processes, machines, mixed precision
        "single_gpu_bf16": ("NO", 1, 1, "bf16"),
        "multi_gpu_8_bf16": ("MULTI_GPU", 8, 1, "bf16"),
        "two_nodes_8_gpus_bf16": ("MULTI_GPU", 16, 2, "bf16"),
        "cpu_2_processes": ("MULTI_GPU", 2, 1, "no"),  # torchrun's launcher; the scripts pick gloo without CUDA
    }
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for name, want in expected.items():
        config = load_config_from_file(os.path.join(ROOT, "configs", "accelerate", f"{name}.yaml"))
        assert (config.distributed_type, config.num_processes, config.num_machines, config.mixed_precision) == want
        assert f"configs/accelerate/{name}.yaml" in readme
    lines = readme.splitlines()
    for script in ("align", "vae", "vocoder", "diffusion"):
        assert any(line.startswith("accelerate launch --config_file configs/accelerate/")
                   and f"train/{script}.py" in line + (lines[i + 1] if line.endswith("\\") else "")
                   for i, line in enumerate(lines)), script  # fmt: skip
