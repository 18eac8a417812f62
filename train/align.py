"""Train the TriModalAligner (paper 4.1.2) on a MusicSet: an accelerate script in the style of diffusers' examples.

    python train/align.py --dataset_dir data/musicset-small --output_dir outputs/aligner
    python train/align.py ... --modalities audio,text          # the bi-modal CLAP-style baseline, same budget
    accelerate launch --multi_gpu train/align.py ...            # N GPUs: all three modalities gathered for the loss

Random `--clip_seconds` crops of each clip, the melody tokens of the notes inside the crop and the clip's caption
form one positive triple. With a frozen text encoder the caption features are computed once before training.
Checkpoints (`checkpoint-N`, resumable with `--resume_from_checkpoint latest`) hold the aligner via
`save_pretrained` (no frozen text weights) plus optimizer/scheduler/RNG state; the final model and its card go
to `--output_dir`.
"""

from __future__ import annotations

import argparse
import json
import math
import os

import torch
from accelerate.logging import get_logger

from mmgen.training_utils import (
    add_common_args,
    computed_once,
    init_trackers,
    log_first_batch,
    make_accelerator,
    num_update_steps_per_epoch,
    register_pretrained_hooks,
    resume_from_checkpoint,
    resume_position,
    save_checkpoint,
    skip_consumed_batches,
    write_json,
)

logger = get_logger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset", "--dataset_dir", dest="dataset_dir", type=str, required=True,
        help="MusicSet folder (mmgen.data.load_musicset); --dataset_dir is an alias.",
    )
    parser.add_argument(
        "--modalities",
        type=str,
        default="audio,text,melody",
        help="Comma-separated towers to align: 'audio,text,melody' (tri-modal) or 'audio,text' (bi-modal baseline).",
    )
    parser.add_argument(
        "--model_config",
        type=str,
        default="default",
        help="'default', 'tiny' (smoke tests) or a JSON file of TriModalAlignerConfig keyword arguments.",
    )
    parser.add_argument(
        "--pretrained_model_name_or_path",
        type=str,
        default=None,
        help="Start from a saved TriModalAligner instead of a fresh one (its config wins over --model_config).",
    )
    parser.add_argument(
        "--text_encoder",
        type=str,
        default=None,
        help="Text encoder: 'package:<module>', a local HF folder or a Hub id (default: packaged all-MiniLM-L6-v2).",
    )
    parser.add_argument(
        "--text_trainable_layers",
        type=int,
        default=None,
        help="0 keeps the text encoder frozen (default), N tunes its top N layers, -1 tunes all of it.",
    )
    parser.add_argument("--projection_dim", type=int, default=None, help="Joint embedding size (default 256).")
    parser.add_argument(
        "--audio_pitch_bins",
        type=int,
        default=0,
        choices=(0, 64),
        help="Semitone-spectrogram rows fed to the audio tower beside the log-mel ('default'/'tiny' configs): 0 "
        "(default, the shipped tower) or 64. Measured on the full MusicSet, 64 did not help audio-melody recall "
        "(benchmarks/results/alignment-pitch-frontend.json).",
    )
    parser.add_argument("--clip_seconds", type=float, default=5.0, help="Length of the random audio crops, seconds.")
    parser.add_argument(
        "--alt_caption_prob",
        type=float,
        default=0.0,
        help="Probability of training on one of a row's alternative captions instead of its main one.",
    )
    parser.add_argument(
        "--batch_grouping",
        type=str,
        default=None,
        help="A MusicSet column (e.g. 'key'): each batch is drawn from --groups_per_batch groups of clips sharing its "
        "value, so contrastive negatives share it too (hard negatives). Default: uniformly random batches.",
    )
    parser.add_argument(
        "--groups_per_batch", type=int, default=4, help="Distinct --batch_grouping values in each batch."
    )
    parser.add_argument("--num_train_epochs", type=int, default=None, help="Overrides --max_train_steps when set.")
    parser.add_argument(
        "--no_text_cache",
        action="store_true",
        help="Run the frozen text encoder every step instead of caching caption features once.",
    )
    parser.add_argument("--validation_split", type=str, default="validation", help="Split used for validation recall.")
    parser.add_argument(
        "--max_validation_items", type=int, default=256, help="Validate on at most this many rows of the split."
    )
    parser.add_argument("--eval_batch_size", type=int, default=32, help="Batch size for validation embedding.")
    add_common_args(parser)
    parser.set_defaults(learning_rate=1e-4, lr_warmup_steps=50, train_batch_size=32)
    args = parser.parse_args(argv)
    args.modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
    return args


def build_config(args):
    from mmgen.models.aligner import (
        DEFAULT_AUDIO_CONFIG,
        PITCH_AUDIO_CONFIG,
        TINY_AUDIO_CONFIG,
        TINY_MELODY_CONFIG,
        TINY_PITCH_AUDIO_CONFIG,
        TriModalAlignerConfig,
    )

    pitch = args.audio_pitch_bins
    kwargs = {"audio_pitch_bins": pitch, "audio_config": dict(PITCH_AUDIO_CONFIG if pitch else DEFAULT_AUDIO_CONFIG)}
    if args.model_config == "tiny":
        kwargs = {
            "audio_pitch_bins": pitch,
            "audio_config": dict(TINY_PITCH_AUDIO_CONFIG if pitch else TINY_AUDIO_CONFIG),
            "melody_config": dict(TINY_MELODY_CONFIG),
            "projection_dim": 32,
        }
    elif args.model_config != "default":
        with open(args.model_config, encoding="utf-8") as f:
            kwargs = json.load(f)
    text = dict(kwargs.pop("text_config", {}) or {})
    if args.text_encoder:
        text["encoder_name_or_path"] = args.text_encoder
    if args.text_trainable_layers is not None:
        text["trainable_layers"] = args.text_trainable_layers
    if args.projection_dim:
        kwargs["projection_dim"] = args.projection_dim
    return TriModalAlignerConfig(
        text_config=text, modalities=args.modalities, audio_clip_seconds=args.clip_seconds, **kwargs
    )


def cache_text_features(model, captions: list[str], batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Frozen text-encoder outputs (before the trainable projection), one per distinct caption."""
    unique = sorted(set(captions))
    cache = {}
    with torch.no_grad():
        for i in range(0, len(unique), batch_size):
            chunk = unique[i : i + batch_size]
            tokens = {k: v.to(model.device) for k, v in model.tokenize_text(chunk).items()}
            cache.update(zip(chunk, model.encode_text(**tokens).float().cpu()))
    return cache


def model_inputs(model, batch, modalities, text_cache, device) -> dict:
    from mmgen.models.aligner import stack_audio_features

    inputs = {}
    if "audio" in modalities:
        inputs["input_features"] = stack_audio_features(batch["mel"], batch.get("pitch"))
    if "melody" in modalities:
        inputs["melody_input_ids"] = batch["melody_input_ids"]
        inputs["melody_attention_mask"] = batch["melody_attention_mask"]
    if "text" in modalities:
        if text_cache is not None:
            inputs["text_encoder_embeds"] = torch.stack([text_cache[c] for c in batch["captions"]]).to(device)
        else:
            inputs.update({k: v.to(device) for k, v in model.tokenize_text(batch["captions"]).items()})
    return inputs


def validate(accelerator, model, split, args, step) -> dict:
    from mmgen.eval.aligner_retrieval import evaluate_alignment

    metrics = evaluate_alignment(
        accelerator.unwrap_model(model),
        split,
        clip_seconds=args.clip_seconds,
        batch_size=args.eval_batch_size,
        max_items=args.max_validation_items,
    )
    flat = {f"val/{d}_{m}": v for d, scores in metrics.items() for m, v in scores.items()}
    accelerator.log(flat, step=step)
    logger.info("step %d validation R@1: %s", step, {d: round(s["R@1"], 4) for d, s in metrics.items()})
    return metrics


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    accelerator = make_accelerator(args)

    from diffusers.optimization import get_scheduler

    from mmgen.data import GroupedBatchSampler, MusicSetCollator, MusicSetTorchDataset, load_musicset
    from mmgen.models.aligner import TriModalAligner

    # 1. Model
    if args.pretrained_model_name_or_path:
        model = TriModalAligner.from_pretrained(args.pretrained_model_name_or_path)
        if sorted(model.config.modalities) != sorted(args.modalities):
            raise ValueError(f"--modalities {args.modalities} differ from the pretrained {model.config.modalities}")
        model.config.audio_clip_seconds = args.clip_seconds
    else:
        model = TriModalAligner.from_text_pretrained(build_config(args))
    model.train()

    # 2. Data
    dataset = load_musicset(args.dataset_dir)
    train_split = dataset["train"]
    train_set = MusicSetTorchDataset(
        train_split,
        clip_seconds=args.clip_seconds,
        random_crop=True,
        seed=args.seed + accelerator.process_index,  # each process its own crop positions
        alt_caption_prob=args.alt_caption_prob,
        pitch_features=bool(model.config.audio_pitch_bins),
    )
    collator = MusicSetCollator(max_melody_tokens=model.config.melody_config.max_position_embeddings)
    global_batch = args.train_batch_size * accelerator.num_processes
    if len(train_set) < global_batch:
        raise ValueError(f"the train split has {len(train_set)} rows, fewer than one global batch ({global_batch})")
    batching = {"batch_size": args.train_batch_size, "shuffle": True, "drop_last": True}
    if args.batch_grouping:
        if args.batch_grouping not in train_split.column_names:
            raise ValueError(f"--batch_grouping: the train split has no column '{args.batch_grouping}'")
        labels = [str(v) for v in train_split[args.batch_grouping]]
        sampler = GroupedBatchSampler(labels, args.train_batch_size, args.groups_per_batch, args.seed)
        batching = {"batch_sampler": sampler}
    else:
        sampler = None
    train_dataloader = torch.utils.data.DataLoader(
        train_set, collate_fn=collator, num_workers=args.dataloader_num_workers, **batching
    )
    val_split = dataset[args.validation_split] if args.validation_split in dataset else None
    text_cache = None
    if "text" in args.modalities and model.config.text_config.is_frozen and not args.no_text_cache:
        captions = list(train_split["caption"])
        if args.alt_caption_prob > 0 and "alt_captions" in train_split.column_names:
            captions += [c for alts in train_split["alt_captions"] for c in (alts or [])]
        model.to(accelerator.device)
        text_cache = computed_once(accelerator, cache_text_features, model, captions)  # shared with the others
        logger.info("cached frozen text features of %d captions", len(text_cache))

    # 3. Optimizer and schedule
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.learning_rate, weight_decay=args.adam_weight_decay)
    steps_per_epoch = num_update_steps_per_epoch(
        math.ceil(len(train_dataloader) / accelerator.num_processes), args.gradient_accumulation_steps
    )
    if args.num_train_epochs is not None:
        args.max_train_steps = args.num_train_epochs * steps_per_epoch
    lr_scheduler = get_scheduler(
        args.lr_scheduler,
        optimizer=optimizer,
        num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=args.max_train_steps * accelerator.num_processes,
    )

    # 4. Checkpoints hold the aligner as save_pretrained (no frozen text weights), like diffusers' hooks.
    register_pretrained_hooks(
        accelerator, {"aligner": model},
        mismatch_hint="model flags such as --model_config, --audio_pitch_bins or --projection_dim differ from the run "
        "that saved it",
    )
    model, optimizer, train_dataloader, lr_scheduler = accelerator.prepare(
        model, optimizer, train_dataloader, lr_scheduler
    )
    init_trackers(accelerator, "align", args)

    # 5. Resume
    global_step = resume_from_checkpoint(accelerator, args)
    first_epoch, skip_batches = resume_position(global_step, steps_per_epoch, args.gradient_accumulation_steps)

    # 6. Train
    logger.info(
        "training %s on %d clips: %d steps, %d per process per step, %d processes",
        args.modalities,
        len(train_set),
        args.max_train_steps,
        args.train_batch_size,
        accelerator.num_processes,
    )
    unwrapped = accelerator.unwrap_model(model)
    metrics, last_loss, first_step = {}, float("nan"), global_step
    epoch = first_epoch
    while global_step < args.max_train_steps:
        loader = skip_consumed_batches(accelerator, train_dataloader, skip_batches)
        skip_batches = 0
        if args.batch_grouping:  # the grouped batches of epoch N are seeded by N, so a resumed run sees the same ones
            loader.set_epoch(epoch)
            sampler.set_epoch(epoch)  # also behind skip_first_batches' wrapper, which set_epoch does not reach
        for batch in loader:
            if global_step == first_step and epoch == first_epoch:
                log_first_batch(accelerator, batch["ids"])
            with accelerator.accumulate(model):
                inputs = model_inputs(unwrapped, batch, args.modalities, text_cache, accelerator.device)
                loss = model(**inputs, return_loss=True).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(params, args.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
            if not accelerator.sync_gradients:
                continue
            global_step += 1
            last_loss = loss.detach().item()
            if global_step % args.logging_steps == 0 or global_step == 1:
                scale = unwrapped.logit_scale.exp().item()
                accelerator.log(
                    {"train/loss": last_loss, "lr": lr_scheduler.get_last_lr()[0], "logit_scale": scale},
                    step=global_step,
                )
                logger.info("step %d loss %.4f", global_step, last_loss)
            if global_step % args.checkpointing_steps == 0:
                save_checkpoint(accelerator, args, global_step)
            if val_split is not None and global_step % args.validation_steps == 0 and accelerator.is_main_process:
                metrics = validate(accelerator, model, val_split, args, global_step)
            if global_step >= args.max_train_steps:
                break
        epoch += 1

    # 7. Final validation, model card and save
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if val_split is not None and args.max_train_steps % args.validation_steps != 0:
            metrics = validate(accelerator, model, val_split, args, global_step)
        unwrapped.config.training_summary = {
            "dataset": {
                "path": os.fspath(args.dataset_dir),
                "train_rows": len(train_split),
                "validation_rows": len(val_split) if val_split is not None else 0,
                "description": "MusicSet (see its README.md)",
            },
            "clip_seconds": args.clip_seconds,
            "max_train_steps": global_step,
            "epochs": epoch,
            "train_batch_size": args.train_batch_size,
            "num_processes": accelerator.num_processes,
            "learning_rate": args.learning_rate,
            "mixed_precision": args.mixed_precision,
            "seed": args.seed,
            "final_train_loss": last_loss,
            "metrics": metrics,
            "metrics_split": args.validation_split,
            "metrics_items": min(len(val_split), args.max_validation_items) if val_split is not None else 0,
        }
        unwrapped.save_pretrained(args.output_dir)
        write_json(os.path.join(args.output_dir, "train_summary.json"), unwrapped.config.training_summary)
        logger.info("saved the aligner to %s", args.output_dir)
    accelerator.end_training()


if __name__ == "__main__":
    main()
