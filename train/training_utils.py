"""What every MMGen training script shares: common flags, the Accelerator, checkpoints and resuming.

Each script still reads top to bottom (as diffusers' examples do); only the plumbing lives here.
Checkpoints are `accelerator.save_state` folders named `checkpoint-<step>` (safetensors, no pickled models),
rotated by `--checkpoints_total_limit`, and resumed with `--resume_from_checkpoint latest`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shutil
import sys

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed

logger = get_logger(__name__)
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")

# Make `python train/x.py` work from a checkout without `pip install -e .`.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def add_common_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Flags shared by all training scripts (diffusers' names, so that their habits carry over)."""
    g = parser.add_argument_group("common training options")
    g.add_argument("--output_dir", type=str, required=True, help="Where checkpoints, logs and the final model go.")
    g.add_argument("--seed", type=int, default=0, help="Seed for reproducible training (torch, numpy, random).")
    g.add_argument("--train_batch_size", type=int, default=16, help="Batch size per device.")
    g.add_argument("--max_train_steps", type=int, default=1000, help="Total optimizer steps to train for.")
    g.add_argument("--learning_rate", type=float, default=1e-4, help="Peak learning rate (AdamW).")
    g.add_argument("--adam_weight_decay", type=float, default=1e-2, help="AdamW weight decay.")
    g.add_argument("--max_grad_norm", type=float, default=1.0, help="Gradient clipping norm.")
    g.add_argument(
        "--lr_scheduler", type=str, default="constant_with_warmup",
        help="Learning-rate schedule from diffusers.optimization.get_scheduler (constant, cosine, linear, ...).",
    )
    g.add_argument("--lr_warmup_steps", type=int, default=100, help="Warm-up steps of the schedule.")
    g.add_argument("--gradient_accumulation_steps", type=int, default=1, help="Micro-batches per optimizer step.")
    g.add_argument(
        "--mixed_precision", type=str, default="no", choices=["no", "fp16", "bf16"],
        help="Mixed precision (bf16 is 1.5x faster on CPUs with avx512_bf16; fp16 needs a GPU).",
    )
    g.add_argument("--dataloader_num_workers", type=int, default=0, help="DataLoader worker processes.")
    g.add_argument("--checkpointing_steps", type=int, default=500, help="Save a resumable checkpoint every N steps.")
    g.add_argument("--checkpoints_total_limit", type=int, default=2, help="Keep at most this many checkpoints.")
    g.add_argument(
        "--resume_from_checkpoint", type=str, default=None,
        help="A checkpoint-N folder to resume from, or 'latest' for the newest one in --output_dir (if any).",
    )
    g.add_argument("--validation_steps", type=int, default=500, help="Run validation every N steps (and at the end).")
    g.add_argument(
        "--report_to", type=str, default="tensorboard",
        help="Tracker for accelerate (tensorboard, wandb, ...; 'none' to disable). Logs go under output_dir/logs.",
    )
    g.add_argument("--logging_steps", type=int, default=10, help="Log the training loss every N steps.")
    g.add_argument(
        "--num_threads", type=int, default=None,
        help="torch CPU threads per process (default: torch's choice). 1 is much faster on a busy shared CPU.",
    )
    return parser


def make_accelerator(args: argparse.Namespace) -> Accelerator:
    """Accelerator with the project layout, seeded; also sets up logging."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its CPU-feature probing is noise at INFO
    report_to = None if args.report_to in (None, "none") else args.report_to
    if report_to == "tensorboard":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            report_to = None  # accelerate would raise; a missing optional tracker must not stop training
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=report_to,
        project_config=ProjectConfiguration(
            project_dir=args.output_dir, logging_dir=os.path.join(args.output_dir, "logs")
        ),
    )
    set_seed(args.seed)
    if getattr(args, "num_threads", None):
        torch.set_num_threads(args.num_threads)
    if accelerator.is_main_process:
        os.makedirs(args.output_dir, exist_ok=True)
    return accelerator


def list_checkpoints(output_dir: str) -> list[str]:
    """checkpoint-N folders in `output_dir`, oldest first."""
    if not os.path.isdir(output_dir):
        return []
    found = [(int(m.group(1)), d) for d in os.listdir(output_dir) if (m := _CHECKPOINT_RE.match(d))]
    return [os.path.join(output_dir, d) for _, d in sorted(found)]


def resolve_resume_checkpoint(args: argparse.Namespace) -> str | None:
    """The checkpoint folder to resume from, or None to start fresh ('latest' with none present)."""
    if not args.resume_from_checkpoint:
        return None
    if args.resume_from_checkpoint == "latest":
        checkpoints = list_checkpoints(args.output_dir)
        return checkpoints[-1] if checkpoints else None
    if not os.path.isdir(args.resume_from_checkpoint):
        raise FileNotFoundError(f"--resume_from_checkpoint: no checkpoint folder at '{args.resume_from_checkpoint}'")
    return args.resume_from_checkpoint


def checkpoint_step(path: str) -> int:
    return int(_CHECKPOINT_RE.match(os.path.basename(os.path.normpath(path))).group(1))


def resume_from_checkpoint(accelerator: Accelerator, args: argparse.Namespace) -> int:
    """Load the checkpoint chosen by --resume_from_checkpoint (if any) and return its global step (else 0)."""
    path = resolve_resume_checkpoint(args)
    if not path:
        return 0
    accelerator.load_state(path)
    step = checkpoint_step(path)
    logger.info(f"resumed from {path} at step {step}")
    return step


def save_checkpoint(accelerator: Accelerator, args: argparse.Namespace, step: int) -> str:
    """Save a resumable checkpoint-<step>, first removing the oldest beyond --checkpoints_total_limit."""
    if accelerator.is_main_process and args.checkpoints_total_limit is not None:
        existing = list_checkpoints(args.output_dir)
        for old in existing[: max(len(existing) - args.checkpoints_total_limit + 1, 0)]:
            shutil.rmtree(old, ignore_errors=True)
    path = os.path.join(args.output_dir, f"checkpoint-{step}")
    accelerator.save_state(path, safe_serialization=True)
    if accelerator.is_main_process:
        with open(os.path.join(path, "training_state.json"), "w") as f:
            json.dump({"global_step": step}, f)
    logger.info(f"saved checkpoint {path}")
    return path


def num_update_steps_per_epoch(num_batches: int, accumulation: int) -> int:
    return max(math.ceil(num_batches / accumulation), 1)


def write_json(path: str, payload: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
