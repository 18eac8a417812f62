"""Under 2 processes (gloo, CPU) the loss and averaged gradients equal the single-process ones on the global batch."""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from fixtures import CAPTIONS, MELODIES, save_tiny_text_encoder, tiny_aligner_config
from safetensors.torch import load_file, save_file

from mmgen.models.aligner import TriModalAligner

WORLD_SIZE = 2
GLOBAL_BATCH = 6


def global_batch(model):
    generator = torch.Generator().manual_seed(0)
    return {
        **model.tokenize_text(CAPTIONS),
        "input_features": torch.randn(GLOBAL_BATCH, 80, 86, generator=generator) * 2 - 5,
        **model.tokenize_melody(MELODIES),
    }


def loss_and_grads(model, batch):
    model.zero_grad()
    loss = model(**batch, return_loss=True).loss
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


def _worker(rank, model_dir, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE)
    try:
        torch.set_num_threads(1)
        model = TriModalAligner.from_pretrained(model_dir).eval()  # eval: BatchNorm/dropout must not differ
        batch = global_batch(model)
        local = GLOBAL_BATCH // WORLD_SIZE
        batch = {k: v[rank * local : (rank + 1) * local] for k, v in batch.items()}
        loss, grads = loss_and_grads(model, batch)
        for grad in grads.values():  # what DDP / accelerate do
            dist.all_reduce(grad)
            grad /= WORLD_SIZE
        save_file({"loss": loss.reshape(1), **grads}, os.path.join(out_dir, f"rank{rank}.safetensors"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_loss_and_gradients_match_one_process(tmp_path):
    torch.manual_seed(0)
    model = TriModalAligner.from_text_pretrained(tiny_aligner_config(save_tiny_text_encoder(tmp_path / "text")))
    model.save_pretrained(tmp_path / "model")
    model = TriModalAligner.from_pretrained(tmp_path / "model").eval()
    reference_loss, reference_grads = loss_and_grads(model, global_batch(model))
    assert {n.split(".")[0] for n in reference_grads} >= {"audio_model", "melody_model", "text_projection"}

    mp.spawn(_worker, args=(str(tmp_path / "model"), str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD_SIZE)

    for rank in range(WORLD_SIZE):
        result = load_file(tmp_path / f"rank{rank}.safetensors")
        torch.testing.assert_close(result.pop("loss")[0], reference_loss, atol=1e-5, rtol=0)
        assert set(result) == set(reference_grads)
        for name, grad in reference_grads.items():
            torch.testing.assert_close(result[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_without_gathering_the_melody_terms_would_differ(tmp_path):
    """Guards the test above: losses of the two halves alone (the official code's melody terms) are not the global
    loss, so equality really comes from gathering all three modalities."""
    torch.manual_seed(0)
    model = TriModalAligner.from_text_pretrained(tiny_aligner_config(save_tiny_text_encoder(tmp_path / "text"))).eval()
    batch = global_batch(model)
    full = model(**batch, return_loss=True).loss
    halves = [model(**{k: v[i * 3 : (i + 1) * 3] for k, v in batch.items()}, return_loss=True).loss for i in range(2)]
    assert abs(torch.stack(halves).mean().item() - full.item()) > 1e-3
