"""Issue 22: 2 processes x batch B give the first-step loss and gradients of 1 process x batch 2B, for the aligner
(`train/align.py`'s inputs and gathered contrastive loss) and the UNet (`train/diffusion.py`'s `diffusion_loss` with
the halves of one `draw_step_noise`), through `mmgen.training_utils.make_accelerator` and `accelerator.prepare` (DDP
over gloo), launched with the repository's CPU config as the scripts are.

This file is also the worker: `accelerate launch ... tests/test_multiprocess_equivalence.py <folder>` runs
`worker(<folder>)` in each process, which writes its loss and the (DDP-averaged) gradients to the folder.
"""

import argparse
import os
import socket
import subprocess
import sys

import pytest
import torch
from fixtures import CAPTIONS, MELODIES, load_script
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPU_CONFIG = os.path.join(ROOT, "configs", "accelerate", "cpu_2_processes.yaml")
WORLD_SIZE, LOCAL_BATCH = 2, 3
DIFFUSION_FLAGS = ["--dataset", "d", "--aligner", "a", "--vae", "v", "--output_dir", "o", "--melody_input", "sketch",
                   "--sketch_notes", "mixed", "--melody_dropout", "0.3", "--condition_dropout", "0.3"]  # fmt: skip


def aligner_batch(model) -> dict:
    """A global batch as `MusicSetCollator` gives it to `train/align.py`."""
    generator = torch.Generator().manual_seed(0)
    return {
        "mel": torch.randn(len(CAPTIONS), 80, 86, generator=generator) * 2 - 5,
        "captions": CAPTIONS,
        **model.tokenize_melody(MELODIES),
    }


def aligner_loss(align, model, batch, device):
    """`train/align.py`'s training loss (frozen text encoder run in the step, i.e. `--no_text_cache`)."""
    unwrapped = getattr(model, "module", model)
    inputs = align.model_inputs(unwrapped, batch, unwrapped.config.modalities, None, device)
    return model(**inputs, return_loss=True).loss


def diffusion_models(folder):
    from mmgen.models.condition import ConditionProjector
    from mmgen.models.unet import make_unet

    unet = make_unet("cpu", condition_dim=16, latent_channels=8, sketch_channels=8, block_out_channels=(8, 16),
                     attention_head_dim=8)  # fmt: skip
    projector = ConditionProjector(query_dim=16, melody_dim=16, hidden_dim=32, condition_dim=16,
                                   condition_dropout=0.3, melody_dropout=0.3)  # fmt: skip
    if folder is not None:
        unet = type(unet).from_pretrained(os.path.join(folder, "unet"))
        projector = type(projector).from_pretrained(os.path.join(folder, "projector"))
    return unet, projector


def noise_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_start=0.0015, beta_end=0.0195, beta_schedule="scaled_linear")


def diffusion_batch() -> list[torch.Tensor]:
    """A global batch of cached crops as `train/diffusion.py`'s loader gives it (mean, std, q, r, two sketches)."""
    generator = torch.Generator().manual_seed(1)
    n = WORLD_SIZE * LOCAL_BATCH

    def rand(*shape):
        return torch.randn(*shape, generator=generator)

    return [rand(n, 8, 8, 20), rand(n, 8, 8, 20).abs() * 0.1, rand(n, 16), rand(n, 16), rand(n, 8, 8, 20),
            rand(n, 8, 8, 20), torch.arange(n)]  # fmt: skip


def gradients(*models) -> dict[str, torch.Tensor]:
    return {f"{i}.{name}": p.grad.detach().clone() for i, model in enumerate(models)
            for name, p in model.named_parameters() if p.grad is not None}  # fmt: skip


def worker(folder: str) -> None:
    """One of the two processes: its half of each global batch through the prepared (DDP) models."""
    from mmgen.models.aligner import TriModalAligner
    from mmgen.training_utils import make_accelerator

    args = argparse.Namespace(output_dir=os.path.join(folder, "run"), gradient_accumulation_steps=1,
                              mixed_precision=None, report_to="none", seed=0, num_threads=1)  # fmt: skip
    accelerator = make_accelerator(args)
    assert accelerator.num_processes == WORLD_SIZE and accelerator.distributed_type == "MULTI_CPU"
    rank = accelerator.process_index
    part = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
    out = {}

    align = load_script("train", "align")
    model = TriModalAligner.from_pretrained(os.path.join(folder, "aligner")).eval()  # eval: no dropout draws
    prepared = accelerator.prepare(model)
    batch = {k: v[part] for k, v in aligner_batch(model).items()}
    loss = aligner_loss(align, prepared, batch, accelerator.device)
    accelerator.backward(loss)
    out["aligner.loss"] = loss.detach().reshape(1)
    out.update({f"aligner.{k}": v for k, v in gradients(model).items()})

    diffusion = load_script("train", "diffusion")
    diffusion_args = diffusion.parse_args(DIFFUSION_FLAGS)
    unet, projector = diffusion_models(folder)
    prepared_unet, prepared_projector = accelerator.prepare(unet, projector)
    batch = [t[part] for t in diffusion_batch()]
    draws = {k: v[part] for k, v in load_file(os.path.join(folder, "draws.safetensors")).items()}
    draws["window"] = slice(None)
    loss = diffusion.diffusion_loss(diffusion_args, batch, draws, prepared_unet, prepared_projector, None,
                                    noise_scheduler(), 0.5, accelerator)  # fmt: skip
    accelerator.backward(loss)
    out["unet.loss"] = loss.detach().reshape(1)
    out.update({f"unet.{k}": v for k, v in gradients(unet, projector).items()})
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(folder, f"rank{rank}.safetensors"))
    accelerator.wait_for_everyone()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_give_the_first_step_of_one_process_on_the_global_batch(tmp_path):
    from accelerate import Accelerator
    from fixtures import save_tiny_text_encoder, tiny_aligner_config

    from mmgen.models.aligner import TriModalAligner

    # References: one process, the global batch of 2 x 3.
    accelerator = Accelerator(cpu=True)
    torch.manual_seed(0)
    config = tiny_aligner_config(save_tiny_text_encoder(tmp_path / "text"))
    TriModalAligner.from_text_pretrained(config).save_pretrained(tmp_path / "aligner")
    model = TriModalAligner.from_pretrained(tmp_path / "aligner").eval()
    loss = aligner_loss(load_script("train", "align"), model, aligner_batch(model), "cpu")
    loss.backward()
    reference = {"aligner.loss": loss.detach()} | {f"aligner.{k}": v for k, v in gradients(model).items()}
    assert {k.split(".")[2] for k in reference if k != "aligner.loss"} >= {"audio_model", "melody_model"}

    diffusion = load_script("train", "diffusion")
    torch.manual_seed(0)
    unet, projector = diffusion_models(None)
    unet.save_pretrained(tmp_path / "unet")
    projector.save_pretrained(tmp_path / "projector")
    args = diffusion.parse_args(DIFFUSION_FLAGS)
    batch = diffusion_batch()
    torch.manual_seed(2)
    draws = diffusion.draw_step_noise(args, batch, projector, 1000)
    assert draws["drop_condition"].any() or draws["drop_melody"].any()  # the null condition is in the step too
    save_file({k: v for k, v in draws.items() if k != "window"}, tmp_path / "draws.safetensors")
    loss = diffusion.diffusion_loss(args, batch, draws, unet, projector, None, noise_scheduler(), 0.5, accelerator)
    loss.backward()
    reference |= {"unet.loss": loss.detach()} | {f"unet.{k}": v for k, v in gradients(unet, projector).items()}

    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", CPU_CONFIG,
               "--main_process_port", str(free_port()), os.path.abspath(__file__), str(tmp_path)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]

    ranks = [load_file(tmp_path / f"rank{rank}.safetensors") for rank in range(WORLD_SIZE)]
    # The aligner gathers all three modalities, so each process's loss is the global batch's loss; the UNet's
    # mean-squared error is per process, and the two halves' mean is the global one.
    for result in ranks:
        torch.testing.assert_close(result["aligner.loss"][0], reference["aligner.loss"], atol=1e-5, rtol=0)
    unet_loss = torch.stack([r["unet.loss"][0] for r in ranks]).mean()
    torch.testing.assert_close(unet_loss, reference["unet.loss"], atol=1e-6, rtol=1e-5)
    assert ranks[0]["unet.loss"][0] != ranks[1]["unet.loss"][0]  # the processes did train on different halves
    for result in ranks:
        grads = {k: v for k, v in result.items() if not k.endswith(".loss")}
        assert set(grads) == {k for k in reference if not k.endswith(".loss")}
        for name, grad in grads.items():  # DDP averaged the gradients of the two halves
            torch.testing.assert_close(grad, reference[name], atol=1e-5, rtol=1e-4, msg=name)


if __name__ == "__main__":
    worker(sys.argv[1])
