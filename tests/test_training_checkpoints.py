"""Issue 16, item 12: checkpoints are written atomically, rotated only once the new one is complete, and resuming
skips incomplete ones (with a message) or falls back past one that fails to load. The shared helpers of
`mmgen.training_utils` with a real Accelerator and a tiny model; `benchmarks/hardening.py` kills real runs."""

import argparse
import logging
import os

import pytest
import torch
from accelerate import Accelerator

from mmgen.training_utils import (
    COMPLETE_MARKER,
    is_complete_checkpoint,
    list_checkpoints,
    register_pretrained_hooks,
    resume_from_checkpoint,
    resume_position,
    save_checkpoint,
    skip_consumed_batches,
    tracker_config,
)


@pytest.fixture
def setup(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    accelerator = Accelerator(cpu=True)
    model, optimizer = accelerator.prepare(model, optimizer)
    args = argparse.Namespace(output_dir=str(tmp_path), checkpoints_total_limit=1, resume_from_checkpoint=None)
    return accelerator, model, optimizer, args


def step(model, optimizer):
    model(torch.randn(2, 4)).pow(2).mean().backward()
    optimizer.step()
    optimizer.zero_grad()


def test_save_is_atomic_and_rotates_after_completion(setup, tmp_path):
    accelerator, model, optimizer, args = setup
    for i in (1, 2, 3):
        step(model, optimizer)
        save_checkpoint(accelerator, args, i)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-3"]  # limit 1, no partial or trash folder left
    assert is_complete_checkpoint(tmp_path / "checkpoint-3")


def test_a_failed_save_keeps_the_previous_checkpoint(setup, tmp_path, monkeypatch):
    """With --checkpoints_total_limit 1 the old checkpoint used to be deleted before the new one was written."""
    accelerator, model, optimizer, args = setup
    save_checkpoint(accelerator, args, 1)

    def killed(path, **kwargs):
        os.makedirs(path, exist_ok=True)
        open(os.path.join(path, "optimizer.bin"), "wb").close()  # what a kill mid-write leaves: a 0-byte file
        raise KeyboardInterrupt

    monkeypatch.setattr(accelerator, "save_state", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(accelerator, args, 2)
    assert list_checkpoints(str(tmp_path)) == [str(tmp_path / "checkpoint-1")]
    assert not (tmp_path / "checkpoint-2").exists()


def test_resume_latest_skips_incomplete_checkpoints(setup, tmp_path, caplog):
    accelerator, model, optimizer, args = setup
    args.checkpoints_total_limit = 3
    step(model, optimizer)
    save_checkpoint(accelerator, args, 2)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    # a half-written checkpoint as the old code left it (the newest folder name), and an empty one
    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "optimizer.bin").write_bytes(b"")
    (tmp_path / "checkpoint-6").mkdir()
    (tmp_path / ".partial-checkpoint-8").mkdir()
    step(model, optimizer)
    args.resume_from_checkpoint = "latest"
    with caplog.at_level(logging.WARNING):
        assert resume_from_checkpoint(accelerator, args) == 2
    assert "skipping incomplete checkpoint(s) checkpoint-4, checkpoint-6" in caplog.text
    assert "resuming from checkpoint-2" in caplog.text
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, saved[k])
    save_checkpoint(accelerator, args, 3)  # the next save clears the debris
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-2", "checkpoint-3"]


def test_resume_falls_back_past_a_checkpoint_that_fails_to_load(setup, tmp_path, caplog):
    accelerator, model, optimizer, args = setup
    args.checkpoints_total_limit = 2
    save_checkpoint(accelerator, args, 1)
    step(model, optimizer)
    save_checkpoint(accelerator, args, 2)
    for name in os.listdir(tmp_path / "checkpoint-2"):
        if name != COMPLETE_MARKER:
            (tmp_path / "checkpoint-2" / name).write_bytes(b"")  # damaged after it was completed
    args.resume_from_checkpoint = "latest"
    with caplog.at_level(logging.WARNING):
        assert resume_from_checkpoint(accelerator, args) == 1
    assert "could not load" in caplog.text and "checkpoint-1" in caplog.text


def test_resume_from_nothing_and_from_a_named_incomplete_folder(setup, tmp_path):
    accelerator, model, optimizer, args = setup
    args.resume_from_checkpoint = "latest"
    assert resume_from_checkpoint(accelerator, args) == 0  # nothing yet: start fresh
    save_checkpoint(accelerator, args, 5)
    (tmp_path / "checkpoint-9").mkdir()
    args.resume_from_checkpoint = str(tmp_path / "checkpoint-9")
    with pytest.raises(ValueError, match="checkpoint-9' is incomplete.*newest complete one is .*checkpoint-5"):
        resume_from_checkpoint(accelerator, args)
    args.resume_from_checkpoint = str(tmp_path / "checkpoint-7")
    with pytest.raises(FileNotFoundError, match="no checkpoint folder"):
        resume_from_checkpoint(accelerator, args)


def tiny_projector():
    from mmgen.models.condition import ConditionProjector

    return ConditionProjector(query_dim=4, melody_dim=4, hidden_dim=8, condition_dim=4)


def test_checkpoints_hold_models_as_save_pretrained_folders_and_load_them_back(tmp_path):
    torch.manual_seed(0)
    projector = tiny_projector()
    accelerator = Accelerator(cpu=True)
    register_pretrained_hooks(accelerator, {"projector": projector})
    prepared = accelerator.prepare(projector)
    args = argparse.Namespace(output_dir=str(tmp_path), checkpoints_total_limit=2, resume_from_checkpoint="latest")
    save_checkpoint(accelerator, args, 1)
    folder = tmp_path / "checkpoint-1"
    assert (folder / "projector" / "diffusion_pytorch_model.safetensors").is_file()
    assert (folder / "projector" / "config.json").is_file()
    assert not list(folder.glob("model*.safetensors"))  # not in accelerate's anonymous file as well
    saved = {k: v.clone() for k, v in projector.state_dict().items()}
    with torch.no_grad():
        for p in prepared.parameters():
            p.add_(1.0)
    assert resume_from_checkpoint(accelerator, args) == 1
    for k, v in projector.state_dict().items():
        torch.testing.assert_close(v, saved[k])


def test_a_checkpoint_in_accelerates_own_files_still_resumes_with_the_hooks(tmp_path):
    """Runs checkpointed before the hooks (model.safetensors) resume under the new scripts."""
    torch.manual_seed(0)
    old = Accelerator(cpu=True)
    projector = old.prepare(tiny_projector())
    args = argparse.Namespace(output_dir=str(tmp_path), checkpoints_total_limit=2, resume_from_checkpoint="latest")
    save_checkpoint(old, args, 3)
    assert (tmp_path / "checkpoint-3" / "model.safetensors").is_file()

    new = Accelerator(cpu=True)
    fresh = tiny_projector()
    register_pretrained_hooks(new, {"projector": fresh})
    new.prepare(fresh)
    assert resume_from_checkpoint(new, args) == 3
    for k, v in fresh.state_dict().items():
        torch.testing.assert_close(v, projector.state_dict()[k])


def test_resume_goes_on_with_the_interrupted_epoch():
    """Every script resumes where its epoch stopped: the batches already trained on are skipped."""
    accelerator = Accelerator(cpu=True)
    loader = accelerator.prepare(torch.utils.data.DataLoader(torch.arange(10), batch_size=2))
    epoch, skip = resume_position(global_step=7, steps_per_epoch=len(loader))
    assert (epoch, skip) == (1, 2)
    assert [b.tolist() for b in skip_consumed_batches(accelerator, loader, skip)] == [[4, 5], [6, 7], [8, 9]]
    assert skip_consumed_batches(accelerator, loader, 0) is loader
    assert resume_position(global_step=7, steps_per_epoch=3, accumulation=2) == (2, 2)


def test_tracker_config_keeps_what_trackers_take():
    args = argparse.Namespace(steps=3, lr=1e-4, name="x", flag=True, unset=None, modalities=["audio", "text"],
                              shape=(8, 16))  # fmt: skip
    assert tracker_config(args) == {"steps": 3, "lr": 1e-4, "name": "x", "flag": True, "modalities": "audio,text",
                                    "shape": "8,16"}  # fmt: skip
