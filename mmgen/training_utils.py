"""What every MMGen training script (`train/*.py`) shares: common flags, the Accelerator, checkpoints and resuming.

The counterpart of `diffusers.training_utils`: each script still reads top to bottom (as diffusers' examples do);
only the plumbing lives here, importable from the installed package (`pip install -e .`), so no script edits
`sys.path`.

Checkpoints are `accelerator.save_state` folders named `checkpoint-<step>` (safetensors, no pickled models),
rotated by `--checkpoints_total_limit`, and resumed with `--resume_from_checkpoint latest`.

A kill at any moment must not cost more than one checkpoint interval, so a checkpoint is written into a hidden
`.partial-checkpoint-<step>` folder, completed by `training_state.json` (written last, synced), and only then renamed
to `checkpoint-<step>` (a rename is atomic); older checkpoints are rotated out only after that. Resuming from
'latest' takes the newest *complete* checkpoint and says which incomplete ones it skipped (checkpoints written
before this scheme also end with `training_state.json`, so they count as complete when they have it).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shutil

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, broadcast_object_list, set_seed

logger = get_logger(__name__)
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
COMPLETE_MARKER = "training_state.json"  # written last: a checkpoint folder without it is incomplete
_PARTIAL_PREFIX = ".partial-"  # a checkpoint being written
_TRASH_PREFIX = ".trash-"  # a checkpoint being removed (renamed first, so that a kill leaves no half-deleted one)


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
        "--mixed_precision", type=str, default=None, choices=["no", "fp16", "bf16"],
        help="Mixed precision (bf16 is 1.5x faster on CPUs with avx512_bf16; fp16 needs a GPU). Default: the "
        "`accelerate launch` config's (configs/accelerate/), else no.",
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
    """Accelerator with the project layout, seeded; also sets up logging.

    Several processes started by `accelerate launch --multi_gpu` / `torchrun` (their WORLD_SIZE) on a machine without
    CUDA run as accelerate's MULTI_CPU over gloo, the code path DDP takes on GPUs (without `cpu=True` accelerate
    would give each process a single-process run of its own, all writing the same files). Each process seeds its own
    random stream (`args.seed + process index`: noise, timesteps, dropout masks differ between processes; process 0
    keeps `args.seed`, so a single-process run is unchanged)."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its CPU-feature probing is noise at INFO
    report_to = None if args.report_to in (None, "none") else args.report_to
    if report_to == "tensorboard":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            report_to = None  # accelerate would raise; a missing optional tracker must not stop training
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    accelerator = Accelerator(
        cpu=world_size > 1 and not torch.cuda.is_available(),
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=report_to,
        project_config=ProjectConfiguration(
            project_dir=args.output_dir, logging_dir=os.path.join(args.output_dir, "logs")
        ),
    )
    if accelerator.num_processes != world_size:
        raise RuntimeError(
            f"the launcher started {world_size} processes but accelerate sees {accelerator.num_processes} "
            f"({accelerator.distributed_type}); launch with `accelerate launch --config_file configs/accelerate/...`"
        )
    args.mixed_precision = accelerator.mixed_precision  # the launch config's when the flag is not given
    set_seed(args.seed, device_specific=True)
    if getattr(args, "num_threads", None):
        torch.set_num_threads(args.num_threads)
    if accelerator.is_main_process:
        os.makedirs(args.output_dir, exist_ok=True)
    return accelerator


def register_pretrained_hooks(
    accelerator: Accelerator,
    models: dict[str, torch.nn.Module],
    ema: dict | None = None,
    mismatch_hint: str = "the model flags differ from the run that saved it",
) -> None:
    """Make `accelerator.save_state` / `load_state` hold each trained model as `save_pretrained` in its own subfolder
    of the checkpoint (safetensors beside its config), as diffusers' `train_text_to_image.py` does with its hooks,
    instead of accelerate's anonymous `model_<i>.safetensors`.

    Args:
        models (`dict[str, torch.nn.Module]`):
            Subfolder name -> a model with `save_pretrained`/`from_pretrained`: the object given to
            `accelerator.prepare`, or a module inside it (the VAE inside its training wrapper).
        ema (`dict[str, diffusers.training_utils.EMAModel]`, *optional*):
            EMA copies of some of `models` (same keys), saved in `<name>_ema`.
        mismatch_hint (`str`):
            Which flags to name when a checkpoint holds another architecture than the run builds.

    Checkpoints written before these hooks (the models in accelerate's own files) still load: when a checkpoint
    lacks one of the subfolders, the models are left to accelerate's loader.
    """
    ema = ema or {}

    def named_in(prepared) -> list[str]:
        unwrapped = accelerator.unwrap_model(prepared)
        inside = {id(module) for module in unwrapped.modules()}
        return [name for name, model in models.items() if id(model) in inside]

    def save_hook(prepared_models, weights, output_dir):
        for i in reversed(range(len(prepared_models))):
            names = named_in(prepared_models[i])
            if not names:
                continue  # left to accelerate's own file
            if accelerator.is_main_process:
                for name in names:
                    models[name].save_pretrained(os.path.join(output_dir, name), safe_serialization=True)
            if i < len(weights):
                weights.pop(i)
        if accelerator.is_main_process:
            for name, model_ema in ema.items():
                model_ema.save_pretrained(os.path.join(output_dir, f"{name}_ema"))

    def load_hook(prepared_models, input_dir):
        for name, model_ema in ema.items():
            loaded = type(model_ema).from_pretrained(os.path.join(input_dir, f"{name}_ema"), type(models[name]))
            model_ema.load_state_dict(loaded.state_dict())
            model_ema.to(accelerator.device)
        if not all(os.path.isdir(os.path.join(input_dir, name)) for name in models):
            logger.info(f"{input_dir} holds the models in accelerate's own files (written before the hooks)")
            return
        for i in reversed(range(len(prepared_models))):
            names = named_in(prepared_models[i])
            for name in names:
                target = models[name]
                loaded = type(target).from_pretrained(os.path.join(input_dir, name))
                try:
                    target.load_state_dict(loaded.state_dict())
                except RuntimeError as err:
                    raise ValueError(
                        f"the {name} in {input_dir} has another architecture than this run builds ({mismatch_hint}); "
                        f"resume with the same flags. {str(err).splitlines()[0]}"
                    ) from err
            if names:
                prepared_models.pop(i)

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def computed_once(accelerator: Accelerator, fn, *args, **kwargs):
    """`fn(*args, **kwargs)` run on the main process only and its (picklable) result sent to the other processes:
    shared work such as a frozen encoder's features is done once, not by every process at the same time."""
    result = None
    if accelerator.is_main_process:
        result = fn(*args, **kwargs)
        logger.info(f"process {accelerator.process_index} computed {fn.__name__} for all {accelerator.num_processes} "
                    "process(es)", main_process_only=False)  # fmt: skip
    return broadcast_object_list([result])[0]


def log_first_batch(accelerator: Accelerator, ids) -> None:
    """Every process names the examples of its first batch (one line each), so that a multi-process run shows that
    its processes train on different data."""
    logger.info(f"process {accelerator.process_index} of {accelerator.num_processes}: first batch {list(ids)}",
                main_process_only=False)  # fmt: skip


def list_checkpoints(output_dir: str, complete_only: bool = True) -> list[str]:
    """checkpoint-N folders in `output_dir`, oldest first: the complete ones (`is_complete_checkpoint`), or all."""
    if not os.path.isdir(output_dir):
        return []
    found = [(int(m.group(1)), d) for d in os.listdir(output_dir) if (m := _CHECKPOINT_RE.match(d))]
    paths = [os.path.join(output_dir, d) for _, d in sorted(found)]
    return [p for p in paths if is_complete_checkpoint(p)] if complete_only else paths


def is_complete_checkpoint(path: str) -> bool:
    """Whether `path` holds a whole checkpoint: its `training_state.json`, written last, is there and readable."""
    try:
        with open(os.path.join(path, COMPLETE_MARKER), encoding="utf-8") as f:
            return isinstance(json.load(f).get("global_step"), int)
    except (OSError, ValueError, AttributeError):
        return False


def resolve_resume_checkpoint(args: argparse.Namespace) -> str | None:
    """The checkpoint folder to resume from, or None to start fresh ('latest' with no complete one present)."""
    candidates = resume_candidates(args)
    return candidates[0] if candidates else None


def resume_candidates(args: argparse.Namespace) -> list[str]:
    """Checkpoints to try, best first: the one named by --resume_from_checkpoint, or for 'latest' every complete
    one, newest first (logging the incomplete ones skipped). Raises for a named folder that is missing or
    incomplete."""
    if not args.resume_from_checkpoint:
        return []
    if args.resume_from_checkpoint == "latest":
        everything = list_checkpoints(args.output_dir, complete_only=False)
        complete = [p for p in everything if is_complete_checkpoint(p)]
        newest = checkpoint_step(complete[-1]) if complete else -1
        skipped = [os.path.basename(p) for p in everything if p not in complete and checkpoint_step(p) > newest]
        if skipped:
            where = f"resuming from {os.path.basename(complete[-1])}" if complete else "starting from scratch"
            logger.warning(
                f"skipping incomplete checkpoint(s) {', '.join(skipped)} in {args.output_dir} (no {COMPLETE_MARKER}: "
                f"the run was stopped while writing them); {where}"
            )
        return complete[::-1]
    path = args.resume_from_checkpoint
    if not os.path.isdir(path):
        raise FileNotFoundError(f"--resume_from_checkpoint: no checkpoint folder at '{path}'")
    if not is_complete_checkpoint(path):
        parent = os.path.dirname(os.path.normpath(path))
        complete = list_checkpoints(parent)
        hint = f"; the newest complete one is '{complete[-1]}'" if complete else ""
        raise ValueError(
            f"--resume_from_checkpoint: '{path}' is incomplete (no readable {COMPLETE_MARKER}: the run was stopped "
            f"while writing it){hint}, or pass 'latest'"
        )
    return [path]


def checkpoint_step(path: str) -> int:
    return int(_CHECKPOINT_RE.match(os.path.basename(os.path.normpath(path))).group(1))


def resume_from_checkpoint(accelerator: Accelerator, args: argparse.Namespace) -> int:
    """Load the checkpoint chosen by --resume_from_checkpoint (if any) and return its global step (else 0).

    With 'latest', a complete checkpoint that still fails to load (a disk error after it was written) is reported
    and the next older complete one is tried: every `load_state` replaces the whole state, so nothing mixes.
    A checkpoint written by another number of processes resumes with the step count and the learning-rate schedule
    of this run (`_rescale_schedules`)."""
    candidates = resume_candidates(args)
    for i, path in enumerate(candidates):
        try:
            accelerator.load_state(path)
        except Exception as err:
            if i + 1 == len(candidates):
                raise RuntimeError(f"could not resume from {path}: {err}") from err
            logger.warning(f"could not load {path} ({type(err).__name__}: {err}); trying {candidates[i + 1]}")
            continue
        step = checkpoint_step(path)
        _rescale_schedules(accelerator, path, step)
        logger.info(f"resumed from {path} at step {step}")
        return step
    return 0


def _rescale_schedules(accelerator: Accelerator, path: str, step: int) -> None:
    """accelerate advances a prepared scheduler once per process at every optimizer step, so a checkpoint written by
    P processes holds a schedule at `step * P`; another process count P' must continue from `step * P'`."""
    with open(os.path.join(path, COMPLETE_MARKER), encoding="utf-8") as f:
        saved = json.load(f).get("num_processes", accelerator.num_processes)  # older checkpoints: assume the same
    if saved == accelerator.num_processes:
        return
    for prepared in accelerator._schedulers:
        scheduler = getattr(prepared, "scheduler", prepared)
        if not isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):  # what diffusers' get_scheduler returns
            continue
        scheduler.last_epoch = step * accelerator.num_processes
        for group, lr in zip(scheduler.optimizer.param_groups, scheduler.get_lr()):
            group["lr"] = lr
        scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]
    logger.info(f"{path} was written by {saved} processes, this run has {accelerator.num_processes}: "
                f"the learning-rate schedule continues at step {step}")  # fmt: skip


def resume_position(global_step: int, steps_per_epoch: int, accumulation: int = 1) -> tuple[int, int]:
    """Where a run resumed at `global_step` stands: its epoch and the batches of that epoch it already trained on.

    Every script skips those batches (`skip_consumed_batches`) instead of restarting the epoch, so that an epoch
    interrupted by a crash is not trained on twice and the epoch boundaries stay where an uninterrupted run has them.
    """
    return global_step // steps_per_epoch, (global_step % steps_per_epoch) * accumulation


def skip_consumed_batches(accelerator: Accelerator, dataloader, skip_batches: int):
    """The prepared `dataloader` without its first `skip_batches` batches (per process), for the first epoch of a
    resumed run; the dataloader itself when there is nothing to skip."""
    return accelerator.skip_first_batches(dataloader, skip_batches) if skip_batches else dataloader


def _fsync(path: str) -> None:
    """Flush a file or folder to disk (so that a power cut, not only a kill, finds the checkpoint whole)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # folders cannot be synced on some systems
    finally:
        os.close(fd)


def _remove(path: str) -> None:
    """Delete a checkpoint folder: renamed out of the way first (atomic), then removed."""
    trash = os.path.join(os.path.dirname(path), _TRASH_PREFIX + os.path.basename(path))
    shutil.rmtree(trash, ignore_errors=True)
    try:
        os.rename(path, trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def save_checkpoint(accelerator: Accelerator, args: argparse.Namespace, step: int) -> str:
    """Save a resumable checkpoint-<step> atomically, then rotate out the oldest beyond --checkpoints_total_limit.

    The state goes into `.partial-checkpoint-<step>`, `training_state.json` is written last, the files are synced
    and the folder renamed; a kill at any moment leaves either the previous checkpoints or the new one complete."""
    path = os.path.join(args.output_dir, f"checkpoint-{step}")
    partial = os.path.join(args.output_dir, _PARTIAL_PREFIX + os.path.basename(path))
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)  # left by a run killed while saving this step
    accelerator.wait_for_everyone()
    accelerator.save_state(partial, safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        for root, _, files in os.walk(partial):
            for name in files:
                _fsync(os.path.join(root, name))
        marker = os.path.join(partial, COMPLETE_MARKER)
        with open(marker, "w", encoding="utf-8") as f:
            json.dump({"global_step": step, "num_processes": accelerator.num_processes}, f)
            f.flush()
            os.fsync(f.fileno())
        _fsync(partial)
        if os.path.exists(path):  # the same step saved again (a resumed run): the new one replaces it
            _remove(path)
        os.rename(partial, path)
        _fsync(args.output_dir)
        _rotate_checkpoints(args, keep=path)
    accelerator.wait_for_everyone()
    logger.info(f"saved checkpoint {path}")
    return path


def _rotate_checkpoints(args: argparse.Namespace, keep: str) -> None:
    """After a checkpoint is complete: drop complete ones beyond the limit (oldest first), incomplete ones and
    leftovers of interrupted saves and removals."""
    for entry in os.listdir(args.output_dir):
        if entry.startswith((_PARTIAL_PREFIX, _TRASH_PREFIX)):
            shutil.rmtree(os.path.join(args.output_dir, entry), ignore_errors=True)
    for incomplete in set(list_checkpoints(args.output_dir, complete_only=False)) - set(
        list_checkpoints(args.output_dir)
    ):
        _remove(incomplete)
    if args.checkpoints_total_limit is not None:
        complete = [p for p in list_checkpoints(args.output_dir) if p != keep]
        for old in complete[: max(len(complete) + 1 - max(args.checkpoints_total_limit, 1), 0)]:
            _remove(old)


def prepare_gan(accelerator: Accelerator, generator, discriminator, optimizer, dataloader, lr_scheduler, *,
                disc_learning_rate: float, betas: tuple[float, float]):  # fmt: skip
    """Prepare a generator trained alone or against a discriminator (`vae.py`, `vocoder.py`), with one optimizer per
    player as diffusers' `examples/vqgan/train_vqgan.py`.

    Returns:
        `(generator, discriminator, optimizer, disc_optimizer, dataloader, lr_scheduler)`, prepared; the two
        discriminator entries are None when `discriminator` is None (no GAN).
    """
    if discriminator is None:
        generator, optimizer, dataloader, lr_scheduler = accelerator.prepare(
            generator, optimizer, dataloader, lr_scheduler
        )
        return generator, None, optimizer, None, dataloader, lr_scheduler
    disc_optimizer = torch.optim.AdamW(discriminator.parameters(), lr=disc_learning_rate, betas=betas)
    return accelerator.prepare(generator, discriminator, optimizer, disc_optimizer, dataloader, lr_scheduler)


def setup_gan(accelerator: Accelerator, args: argparse.Namespace, generator, discriminator, dataloader, *,
              saved: dict[str, torch.nn.Module], betas: tuple[float, float], mismatch_hint: str):  # fmt: skip
    """The setup `vae.py` and `vocoder.py` share: the generator's AdamW (`args.learning_rate`,
    `args.adam_weight_decay`) and its schedule (`args.lr_scheduler`, warm-up and length counted per process, as
    accelerate steps a prepared scheduler once per process), checkpoint hooks holding `saved` (and the
    discriminator, if any) as `save_pretrained` folders, then `prepare_gan` (the discriminator's AdamW at
    `args.disc_learning_rate`, the same `betas`).

    Args:
        generator: what the generator's optimizer trains (a model, or a training wrapper around it).
        discriminator: the discriminator, or None (no GAN).
        saved (`dict[str, torch.nn.Module]`): checkpoint subfolder name -> model (`register_pretrained_hooks`).
    Returns:
        `(generator, discriminator, optimizer, disc_optimizer, dataloader, lr_scheduler)`, prepared (`prepare_gan`).
    """
    from diffusers.optimization import get_scheduler

    optimizer = torch.optim.AdamW(
        generator.parameters(), lr=args.learning_rate, betas=betas, weight_decay=args.adam_weight_decay
    )
    lr_scheduler = get_scheduler(
        args.lr_scheduler, optimizer=optimizer,
        num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=args.max_train_steps * accelerator.num_processes,
    )  # fmt: skip
    players = dict(saved) | ({"discriminator": discriminator} if discriminator is not None else {})
    register_pretrained_hooks(accelerator, players, mismatch_hint=mismatch_hint)
    return prepare_gan(accelerator, generator, discriminator, optimizer, dataloader, lr_scheduler,
                       disc_learning_rate=args.disc_learning_rate, betas=betas)  # fmt: skip


def discriminator_step(accelerator: Accelerator, discriminator, disc_optimizer, real: torch.Tensor,
                       fake: torch.Tensor, loss_fn, max_grad_norm: float) -> torch.Tensor:  # fmt: skip
    """One discriminator update on real examples vs the generator's detached output, both in one batch (so that a
    wrapped discriminator runs once per step); `loss_fn(real_logits, fake_logits)` takes lists of logits.

    Returns:
        The detached discriminator loss.
    """
    logits = discriminator(torch.cat([real, fake.detach().to(real.dtype)])).logits
    n = real.shape[0]
    loss = loss_fn([lg[:n] for lg in logits], [lg[n:] for lg in logits])
    accelerator.backward(loss)
    if accelerator.sync_gradients:
        accelerator.clip_grad_norm_(discriminator.parameters(), max_grad_norm)
    disc_optimizer.step()
    disc_optimizer.zero_grad(set_to_none=True)
    return loss.detach()


def throughput(accelerator: Accelerator, args: argparse.Namespace, steps: int, seconds: float) -> dict:
    """Clips per second of this session over all processes (includes validation and checkpointing time); logged."""
    clips = steps * args.train_batch_size * args.gradient_accumulation_steps * accelerator.num_processes
    summary = {"steps": steps, "seconds": seconds, "clips_per_second": clips / max(seconds, 1e-9)}
    logger.info(f"trained {steps} steps in {seconds:.1f} s ({summary['clips_per_second']:.3f} clips/s)")
    return summary


def tracker_config(args: argparse.Namespace) -> dict:
    """The run's flags as tracker hyperparameters: numbers, strings and booleans as they are, lists and tuples joined
    with commas, anything else as its string, unset (None) flags left out (tensorboard's hparams take no other
    types)."""
    config = {}
    for key, value in vars(args).items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif not isinstance(value, (bool, int, float, str)):
            value = str(value)
        config[key] = value
    return config


def init_trackers(accelerator: Accelerator, project_name: str, args: argparse.Namespace) -> None:
    """Start the trackers of --report_to (main process) with `tracker_config(args)`."""
    if accelerator.is_main_process:
        accelerator.init_trackers(project_name, config=tracker_config(args))


def save_model_card(
    output_dir: str,
    *,
    title: str,
    description: str,
    script: str,
    args: argparse.Namespace,
    global_step: int,
    num_processes: int,
    results: dict | None = None,
    library_name: str = "diffusers",
    tags: tuple[str, ...] = (),
    limitations: str = "Trained on a small synthetic MusicSet on CPU unless the flags below say otherwise; see the "
    "repository's README for what was measured.",
) -> str:
    """Write `README.md` (a model card, as diffusers' training examples end with) into `output_dir`; returns its path.

    Args:
        title (`str`): The card's heading.
        description (`str`): What the model is and how to load it (markdown).
        script (`str`): The training script, e.g. `train/vae.py`.
        args (`argparse.Namespace`): The run's flags, listed under "Training procedure".
        global_step (`int`): Optimizer steps trained.
        num_processes (`int`): Processes the run had (the global batch is per-process batch x processes x
            accumulation).
        results (`dict`, *optional*): Final metrics, listed under "Evaluation".
    """
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(library_name=library_name, license="apache-2.0", tags=["mmgen", "music", *tags])
    dataset = getattr(args, "dataset", None) or getattr(args, "dataset_dir", None)
    batch = args.train_batch_size * num_processes * args.gradient_accumulation_steps
    metrics = "\n".join(f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
                         for k, v in (results or {}).items())  # fmt: skip
    flags = json.dumps(tracker_config(args), indent=2, sort_keys=True)
    content = f"""---
{data.to_yaml()}
---

# {title}

{description}

## Training data

MusicSet at `{dataset}` (see its README.md for sources and licences).

## Training procedure

`{script}`, {global_step} optimizer steps, global batch {batch} ({args.train_batch_size} per process x {num_processes}
process(es) x {args.gradient_accumulation_steps} accumulation), learning rate {args.learning_rate}
({args.lr_scheduler}), mixed precision {args.mixed_precision}, seed {args.seed}.

<details><summary>All flags</summary>

```json
{flags}
```

</details>

## Evaluation

{"| metric | value |" + chr(10) + "|---|---|" + chr(10) + metrics if metrics else "No evaluation recorded."}

## Limitations

{limitations}
"""
    path = os.path.join(output_dir, "README.md")
    ModelCard(content).save(path)
    return path


def num_update_steps_per_epoch(num_batches: int, accumulation: int) -> int:
    return max(math.ceil(num_batches / accumulation), 1)


def write_json(path: str, payload: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
