"""Fine-tune the HiFi-GAN vocoder (transformers `SpeechT5HifiGan`) on MusicSet audio.

Starts from the converted HiFi-GAN V1 "universal" generator (`mmgen.models.vocoder.convert_hifigan`) or a
saved folder, and trains it on random segments of `--segment_seconds` with

- mel L1 (weight 45, as HiFi-GAN) between the log-mels of the output and of the target, plus the
  multi-resolution STFT loss (spectral convergence + log magnitude, Parallel WaveGAN);
- unless `--no_gan`: HiFi-GAN's multi-period and multi-scale discriminators, trained from scratch (the package
  ships none), LSGAN losses and feature matching (weight 2), with alternating discriminator and generator
  steps on two optimizers (diffusers' examples/vqgan/train_vqgan.py). The generator's adversarial terms switch
  on after `--gan_start_step`, so that the fresh discriminators first learn something.

    python train/vocoder.py --dataset data/musicset-small --output_dir runs/vocoder --train_batch_size 8 \
        --segment_seconds 0.75 --max_train_steps 5000

The tuned generator is saved with `save_pretrained` (safetensors) in `--output_dir` and loads with
`mmgen.models.vocoder.load_vocoder(path)`; the discriminator in `--output_dir/discriminator`.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn.functional as F
from accelerate.logging import get_logger

from mmgen.audio import HOP_LENGTH, SAMPLE_RATE, log_mel_spectrogram, save_audio
from mmgen.models.discriminators import HifiGanDiscriminator, frozen_forward
from mmgen.models.losses import (
    MultiResolutionSTFTLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from mmgen.training_utils import (
    add_common_args,
    discriminator_step,
    init_trackers,
    log_first_batch,
    make_accelerator,
    num_update_steps_per_epoch,
    prepare_gan,
    register_pretrained_hooks,
    resume_from_checkpoint,
    resume_position,
    save_checkpoint,
    save_model_card,
    skip_consumed_batches,
    throughput,
    write_json,
)

logger = get_logger(__name__)

DISCRIMINATOR_PRESETS = {
    "default": {"period_channels": 32, "scale_channels": 128},  # HiFi-GAN V1 (71M parameters)
    "small": {"period_channels": 8, "scale_channels": 32},  # 4.4M, for CPU fine-tuning
    "tiny": {"period_channels": 2, "scale_channels": 8},  # tests
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Fine-tune the HiFi-GAN vocoder on MusicSet audio.")
    parser.add_argument("--dataset", type=str, required=True, help="A MusicSet folder (`mmgen.data.load_musicset`).")
    parser.add_argument(
        "--pretrained_vocoder", type=str, default=None,
        help="Saved SpeechT5HifiGan folder to start from; default: the converted HiFi-GAN V1 universal generator.",
    )
    parser.add_argument("--segment_seconds", type=float, default=0.75, help="Length of the random training segments.")
    parser.add_argument("--no_gan", action="store_true", help="Regression only (mel L1 + MR-STFT), no discriminators.")
    parser.add_argument(
        "--disc_preset", type=str, default="small", choices=sorted(DISCRIMINATOR_PRESETS),
        help="Discriminator widths: default (HiFi-GAN's, 71M), small (4.4M), tiny (tests).",
    )
    parser.add_argument("--disc_learning_rate", type=float, default=2e-4, help="Learning rate of the discriminators.")
    parser.add_argument(
        "--gan_start_step", type=int, default=200,
        help="Step from which the generator gets adversarial and feature-matching losses (D trains from step 0).",
    )
    parser.add_argument("--lambda_mel", type=float, default=45.0, help="Weight of the log-mel L1 (HiFi-GAN: 45).")
    parser.add_argument("--lambda_stft", type=float, default=2.5, help="Weight of the multi-resolution STFT loss.")
    parser.add_argument("--lambda_fm", type=float, default=2.0, help="Weight of feature matching (HiFi-GAN: 2).")
    parser.add_argument("--lambda_adv", type=float, default=1.0, help="Weight of the generator's LSGAN loss.")
    parser.add_argument(
        "--validation_seconds", type=float, default=4.0, help="Length of the validation clips (center crops)."
    )
    parser.add_argument("--num_validation_clips", type=int, default=8, help="Validation clips for the metrics.")
    parser.add_argument("--num_validation_samples", type=int, default=2, help="How many of them to write as WAVs.")
    add_common_args(parser)
    parser.set_defaults(learning_rate=2e-5, lr_warmup_steps=0)  # fine-tuning a pretrained generator
    args = parser.parse_args(argv)
    if args.segment_seconds * SAMPLE_RATE < 4 * HOP_LENGTH:
        parser.error("--segment_seconds is too short (needs at least 4 frames)")
    return args


def collate_waveforms(examples: list[dict]) -> dict:
    """Stack `waveform`s, zero-padded to the longest and trimmed to whole frames: `(batch, frames * 256)`."""
    samples = max(e["waveform"].shape[-1] for e in examples)
    samples -= samples % HOP_LENGTH
    waves = [F.pad(e["waveform"], (0, max(samples - e["waveform"].shape[-1], 0)))[:samples] for e in examples]
    return {"waveform": torch.stack(waves).float(), "ids": [e["id"] for e in examples]}


def vocode(generator, log_mel: torch.Tensor) -> torch.Tensor:
    """`(batch, 80, frames)` log-mel -> `(batch, frames * 256)` waveform through a (possibly wrapped) generator."""
    return generator(log_mel.transpose(1, 2))


@torch.no_grad()
def run_validation(generator, val_dataset, stft_loss, args, accelerator, step: int) -> dict:
    """Log-mel L1 and MR-STFT on center crops of the validation split; WAVs of the first few."""
    generator.eval()
    out_dir = os.path.join(args.output_dir, "validation", f"step-{step}")
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for i in range(min(args.num_validation_clips, len(val_dataset))):
        item = val_dataset[i]
        wave = collate_waveforms([item])["waveform"].to(accelerator.device)
        mel = log_mel_spectrogram(wave)
        y_hat = vocode(generator, mel).float()
        sc, mag = stft_loss(y_hat, wave)
        mel_l1 = F.l1_loss(log_mel_spectrogram(y_hat), mel).item()
        rows.append({"id": item["id"], "log_mel_l1": mel_l1, "mr_stft": (sc + mag).item()})
        if i < args.num_validation_samples:
            save_audio(os.path.join(out_dir, f"{i:02d}.wav"), y_hat[0].cpu())
    metrics = {f"val/{k}": sum(r[k] for r in rows) / max(len(rows), 1) for k in ("log_mel_l1", "mr_stft")}
    write_json(os.path.join(out_dir, "metrics.json"), {"step": step, **metrics, "clips": rows})
    generator.train()
    return metrics


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from diffusers.optimization import get_scheduler
    from transformers import SpeechT5HifiGan

    from mmgen.data import MusicSetTorchDataset, load_musicset
    from mmgen.models.vocoder import convert_hifigan

    accelerator = make_accelerator(args)

    # 1. Models: the pretrained generator (a fresh copy, never the cached `load_vocoder()` one)
    if args.pretrained_vocoder:
        generator = SpeechT5HifiGan.from_pretrained(args.pretrained_vocoder)
    else:
        generator = convert_hifigan("universal")
    use_gan = not args.no_gan
    discriminator = HifiGanDiscriminator(**DISCRIMINATOR_PRESETS[args.disc_preset]) if use_gan else None
    stft_loss = MultiResolutionSTFTLoss()

    # 2. Data
    dataset = load_musicset(args.dataset)
    train_dataset = MusicSetTorchDataset(
        dataset["train"], clip_seconds=args.segment_seconds, random_crop=True, return_waveform=True,
        seed=args.seed + accelerator.process_index,
    )
    val_dataset = MusicSetTorchDataset(
        dataset["validation"], clip_seconds=args.validation_seconds, random_crop=False, return_waveform=True
    )
    train_dataloader = torch.utils.data.DataLoader(
        train_dataset, batch_size=args.train_batch_size, shuffle=True,
        drop_last=len(train_dataset) > args.train_batch_size,
        collate_fn=collate_waveforms, num_workers=args.dataloader_num_workers,
    )

    # 3. Two optimizers (HiFi-GAN's AdamW betas) and the generator's schedule
    optimizer = torch.optim.AdamW(
        generator.parameters(), lr=args.learning_rate, betas=(0.8, 0.99), weight_decay=args.adam_weight_decay
    )
    lr_scheduler = get_scheduler(
        args.lr_scheduler, optimizer=optimizer,
        num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=args.max_train_steps * accelerator.num_processes,
    )
    # Checkpoints hold the generator and the discriminators as save_pretrained folders.
    register_pretrained_hooks(
        accelerator, {"vocoder": generator} | ({"discriminator": discriminator} if use_gan else {}),
        mismatch_hint="--pretrained_vocoder or --disc_preset differ",
    )
    unwrapped_generator, unwrapped_disc = generator, discriminator
    generator, discriminator, optimizer, disc_optimizer, train_dataloader, lr_scheduler = prepare_gan(
        accelerator, generator, discriminator, optimizer, train_dataloader, lr_scheduler,
        disc_learning_rate=args.disc_learning_rate, betas=(0.8, 0.99),
    )
    init_trackers(accelerator, "mmgen-vocoder", args)

    # 4. Resume
    global_step = resume_from_checkpoint(accelerator, args)
    num_params = sum(p.numel() for p in generator.parameters())
    logger.info(f"generator {num_params / 1e6:.2f}M parameters, {len(train_dataset)} training clips")

    # 5. Train: discriminator step, then generator step, on each batch
    generator.train()
    players = (generator, discriminator) if use_gan else (generator,)
    first_step, start_time, metrics = global_step, time.perf_counter(), {}
    steps_per_epoch = num_update_steps_per_epoch(len(train_dataloader), args.gradient_accumulation_steps)
    _, skip_batches = resume_position(global_step, steps_per_epoch, args.gradient_accumulation_steps)
    while global_step < args.max_train_steps:
        loader = skip_consumed_batches(accelerator, train_dataloader, skip_batches)  # a resumed epoch goes on
        skip_batches = 0
        for batch in loader:
            if global_step == first_step:
                log_first_batch(accelerator, batch["ids"])
            wave = batch["waveform"]
            mel = log_mel_spectrogram(wave)
            logs = {}
            with accelerator.accumulate(*players):
                y_hat = vocode(generator, mel).float()

                if use_gan:
                    logs["d_loss"] = discriminator_step(
                        accelerator, discriminator, disc_optimizer, wave, y_hat, discriminator_loss, args.max_grad_norm
                    ).item()

                mel_loss = F.l1_loss(log_mel_spectrogram(y_hat), mel)
                sc_loss, mag_loss = stft_loss(y_hat, wave)
                loss = args.lambda_mel * mel_loss + args.lambda_stft * (sc_loss + mag_loss)
                logs.update(mel_l1=mel_loss.item(), stft_sc=sc_loss.item(), stft_mag=mag_loss.item())
                if use_gan and global_step >= args.gan_start_step:
                    fake = frozen_forward(unwrapped_disc, y_hat)  # no gradients into D's parameters
                    with torch.no_grad():
                        real = unwrapped_disc(wave)
                    adv_loss = generator_adversarial_loss(fake.logits)
                    fm_loss = feature_matching_loss(real.features, fake.features)
                    loss = loss + args.lambda_adv * adv_loss + args.lambda_fm * fm_loss
                    logs.update(g_adv=adv_loss.item(), fm=fm_loss.item())
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(generator.parameters(), args.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad(set_to_none=True)

            if not accelerator.sync_gradients:
                continue
            global_step += 1
            logs.update(loss=loss.item(), lr=lr_scheduler.get_last_lr()[0])
            accelerator.log(logs, step=global_step)
            if global_step % args.logging_steps == 0 or global_step == 1:
                logger.info(f"step {global_step}: " + ", ".join(f"{k} {v:.4g}" for k, v in logs.items()))
            if global_step % args.checkpointing_steps == 0:
                save_checkpoint(accelerator, args, global_step)
            if accelerator.is_main_process and (
                global_step % args.validation_steps == 0 or global_step == args.max_train_steps
            ):
                metrics = run_validation(
                    unwrapped_generator, val_dataset, stft_loss, args, accelerator, global_step
                )
                accelerator.log(metrics, step=global_step)
                logger.info(f"validation at step {global_step}: {metrics}")
            if global_step >= args.max_train_steps:
                break

    # Throughput of this session (written for planning runs)
    summary = throughput(accelerator, args, global_step - first_step, time.perf_counter() - start_time)

    # 6. Save (safetensors)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json(os.path.join(args.output_dir, "train_summary.json"), {**summary, "global_step": global_step})
        unwrapped_generator.save_pretrained(args.output_dir, safe_serialization=True)
        if use_gan:
            unwrapped_disc.save_pretrained(os.path.join(args.output_dir, "discriminator"))
        save_model_card(
            args.output_dir, title="MMGen HiFi-GAN vocoder", script="train/vocoder.py", args=args,
            global_step=global_step, num_processes=accelerator.num_processes, library_name="transformers",
            tags=("vocoder", "hifigan"),
            description="A HiFi-GAN generator (transformers `SpeechT5HifiGan`) tuned on MusicSet audio: 80-bin "
            f"log-mel in, {SAMPLE_RATE} Hz waveform out (`mmgen.models.vocoder.load_vocoder(path)`)."
            + (" Its discriminators are in `discriminator/`." if use_gan else ""),
            results={**metrics, "clips_per_second": summary["clips_per_second"]},
        )
        logger.info(f"saved the vocoder to {args.output_dir}")
    accelerator.end_training()


if __name__ == "__main__":
    main()
