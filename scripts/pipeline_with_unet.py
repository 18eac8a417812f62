"""A pipeline folder that is another pipeline with the UNet and condition projector of a training run swapped in.

Measures a training run at the shipped settings (sampler, vocoder, retriever): everything but the denoiser comes from
`--base`.

    python scripts/pipeline_with_unet.py --base checkpoints/mmgen-default --unet_from runs-v3/mmgen-v3-timbre \\
        --output runs-v3/eval-v3-timbre
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="MMGenPipeline folder giving every other component.")
    parser.add_argument("--unet_from", required=True, help="MMGenPipeline folder (a training run's output).")
    parser.add_argument("--output", required=True, help="Folder to write (must not exist).")
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    if os.path.exists(args.output):
        raise SystemExit(f"--output {args.output} exists; choose a new folder")
    from diffusers import UNet2DConditionModel

    from mmgen.models.condition import ConditionProjector
    from pipelines.pipeline_mmgen import MMGenPipeline

    base = MMGenPipeline.from_pretrained(args.base)
    unet = UNet2DConditionModel.from_pretrained(args.unet_from, subfolder="unet")
    projector = ConditionProjector.from_pretrained(args.unet_from, subfolder="condition_projector")
    if unet.config.in_channels != base.unet.config.in_channels:
        raise SystemExit(f"the UNets take {unet.config.in_channels} and {base.unet.config.in_channels} input "
                         "channels: one has the melody sketch input and the other not")  # fmt: skip
    pipe = MMGenPipeline(**{**base.components, "unet": unet, "condition_projector": projector},
                         vocoder_method=base.config.vocoder_method)  # fmt: skip
    pipe.save_pretrained(args.output)
    print(f"wrote {args.output}: {args.base} with the UNet and projector of {args.unet_from}")
    return args.output


if __name__ == "__main__":
    main()
