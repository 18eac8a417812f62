"""scripts/pipeline_with_unet.py: a training run's UNet and projector measured inside another pipeline's settings."""

import os
import sys

import pytest
import torch
from pipeline_dummies import get_dummy_components

from pipelines.pipeline_mmgen import MMGenPipeline, sampler_scheduler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import pipeline_with_unet  # noqa: E402


def save(path, seed, **kwargs):
    pipe = MMGenPipeline(**get_dummy_components(**kwargs))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # another training run's weights
        for module in (pipe.unet, pipe.condition_projector):
            for p in module.parameters():
                p.add_(0.01 * torch.randn(p.shape, generator=generator))
    pipe.save_pretrained(path)
    return pipe


def test_the_runs_unet_and_projector_in_the_base_pipeline(tmp_path):
    base = save(tmp_path / "base", 0, melody_sketch=True)
    base.scheduler = sampler_scheduler("unipc", base.scheduler)
    base.save_pretrained(tmp_path / "base")
    run = save(tmp_path / "run", 1, melody_sketch=True)
    pipeline_with_unet.main(["--base", str(tmp_path / "base"), "--unet_from", str(tmp_path / "run"),
                             "--output", str(tmp_path / "out")])  # fmt: skip
    out = MMGenPipeline.from_pretrained(tmp_path / "out")
    for name, module in (("unet", run.unet), ("condition_projector", run.condition_projector)):
        got = getattr(out, name).state_dict()
        assert all(torch.equal(got[k], v) for k, v in module.state_dict().items()), name
    assert not torch.equal(out.unet.conv_in.weight, base.unet.conv_in.weight)
    assert type(out.scheduler).__name__ == "UniPCMultistepScheduler"  # the base's settings
    assert all(torch.equal(a, b) for a, b in zip(out.vae.state_dict().values(), base.vae.state_dict().values()))
    with pytest.raises(SystemExit, match="exists"):
        pipeline_with_unet.main(["--base", str(tmp_path / "base"), "--unet_from", str(tmp_path / "run"),
                                 "--output", str(tmp_path / "out")])  # fmt: skip
    save(tmp_path / "global", 2)  # no sketch input: it cannot stand in for the base's UNet
    with pytest.raises(SystemExit, match="input channels"):
        pipeline_with_unet.main(["--base", str(tmp_path / "base"), "--unet_from", str(tmp_path / "global"),
                                 "--output", str(tmp_path / "mixed")])  # fmt: skip
