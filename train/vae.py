"""Train the mel VAE of MMGen's latent decoder (paper 4.3, the AudioLDM recipe) on MusicSet.

Objective: L1 reconstruction of the normalised log-mel + a small KL term (AudioLDM's balance) and, after
`--disc_start_step`, a hinge-loss patch discriminator on the mel images whose weight is set adaptively from the
gradient norms at the decoder's last layer (taming-transformers / latent-diffusion). The model is fully
convolutional, so it trains on random crops of `--crop_seconds` and decodes any length.

    python train/vae.py --dataset data/musicset-small --output_dir runs/vae --train_batch_size 4 \
        --crop_seconds 2 --max_train_steps 20000 --mixed_precision bf16

At the end the latent scaling factor (1 / std of the latents on training crops) is written into the saved
config as diffusers' `scaling_factor`, and the VAE is saved with `save_pretrained` (safetensors) in
`--output_dir`; the discriminator, if any, in `--output_dir/discriminator`.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import torch
import torch.nn.functional as F
from accelerate.logging import get_logger

from mmgen.audio import LOG_MEL_SILENCE, save_audio
from mmgen.models.discriminators import PatchDiscriminator, frozen_forward
from mmgen.models.losses import hinge_discriminator_loss, hinge_generator_loss, kl_loss
from mmgen.models.vae import (
    VAE_PRESETS,
    build_vae,
    compute_scaling_factor,
    mel_range,
    mel_to_vae_input,
    vae_output_to_mel,
)
from mmgen.training_utils import (
    add_common_args,
    discriminator_step,
    init_trackers,
    log_first_batch,
    make_accelerator,
    num_update_steps_per_epoch,
    resume_from_checkpoint,
    resume_position,
    save_checkpoint,
    save_model_card,
    setup_gan,
    skip_consumed_batches,
    throughput,
    write_json,
)

logger = get_logger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the MMGen mel VAE (AutoencoderKL, r=4, 8 latent channels).")
    parser.add_argument("--dataset", type=str, required=True, help="A MusicSet folder (`mmgen.data.load_musicset`).")
    parser.add_argument(
        "--vae_preset", type=str, default="default", choices=sorted(VAE_PRESETS),
        help="Model size: default (32, 64, 128) channels, large (128, 256, 512), tiny (tests).",
    )
    parser.add_argument(
        "--mid_block_add_attention", action="store_true",
        help="Add self-attention to the VAE mid blocks (up to 2.2x the training cost on CPU).",
    )
    parser.add_argument(
        "--pretrained_vae", type=str, default=None,
        help="Start from this saved VAE folder instead of a fresh --vae_preset.",
    )
    parser.add_argument("--crop_seconds", type=float, default=2.0, help="Length of the random training crops (s).")
    parser.add_argument(
        "--kl_weight", type=float, default=1e-6,
        help="Weight of the KL term relative to the summed L1 (AudioLDM: 1e-6); both are divided by the pixel count.",
    )
    parser.add_argument(
        "--disc_weight", type=float, default=0.5,
        help="Weight of the patch-discriminator (hinge) loss, times the adaptive weight; 0 disables the GAN.",
    )
    parser.add_argument(
        "--disc_start_step", type=int, default=10000,
        help="Global step at which the discriminator and its loss switch on (warm-up on reconstruction only).",
    )
    parser.add_argument("--disc_learning_rate", type=float, default=1e-4, help="Learning rate of the discriminator.")
    parser.add_argument("--disc_channels", type=int, default=32, help="Patch discriminator first-layer width.")
    parser.add_argument(
        "--num_validation_clips", type=int, default=8,
        help="Validation clips (center crops of the validation split) used for the reconstruction L1.",
    )
    parser.add_argument(
        "--num_validation_samples", type=int, default=2,
        help="How many of them to write as spectrogram PNGs and vocoded WAVs.",
    )
    parser.add_argument(
        "--validation_vocoder", type=str, default="default",
        help="Vocoder for the validation WAVs: 'default' (converted HiFi-GAN universal) or a saved folder.",
    )
    parser.add_argument(
        "--validation_vocoder_method", type=str, default="hybrid", choices=["hybrid", "hifigan", "griffinlim"],
        help="`mmgen.models.vocoder.mel_to_audio` method for the validation WAVs.",
    )
    parser.add_argument(
        "--scaling_factor_batches", type=int, default=32,
        help="Training batches encoded at the end to compute the latent scaling factor (1 / std).",
    )
    add_common_args(parser)
    args = parser.parse_args(argv)
    if args.crop_seconds <= 0:
        parser.error("--crop_seconds must be positive")
    if args.disc_weight < 0 or args.kl_weight < 0:
        parser.error("--disc_weight and --kl_weight must be >= 0")
    return args


class VaeForTraining(torch.nn.Module):
    """Runs encode -> sample -> decode in one `forward`, so that DDP sees every parameter used.

    Returns:
        `tuple` of the reconstruction `(batch, 1, frames, 80)` and the posterior mean and log-variance
        `(batch, 8, frames / 4, 20)`.
    """

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, sample: torch.Tensor):
        posterior = self.vae.encode(sample).latent_dist
        reconstruction = self.vae.decode(posterior.sample()).sample
        return reconstruction, posterior.mean, posterior.logvar


def collate_mels(examples: list[dict]) -> dict:
    """Stack the `mel` of `MusicSetTorchDataset` items, padding short ones with silence: `(batch, 80, frames)`."""
    frames = max(e["mel"].shape[-1] for e in examples)
    mels = [F.pad(e["mel"], (0, frames - e["mel"].shape[-1]), value=LOG_MEL_SILENCE) for e in examples]
    return {"mel": torch.stack(mels).float(), "ids": [e["id"] for e in examples]}


# Adapted from taming-transformers/taming/modules/losses/vqperceptual.py (calculate_adaptive_weight)
def adaptive_gan_weight(rec_loss: torch.Tensor, gan_loss: torch.Tensor, last_layer: torch.Tensor) -> torch.Tensor:
    """||d rec / d W|| / ||d gan / d W|| at the decoder's last layer W, clamped to [0, 1e4], detached."""
    rec_grad = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    gan_grad = torch.autograd.grad(gan_loss, last_layer, retain_graph=True)[0]
    return (rec_grad.norm() / (gan_grad.norm() + 1e-4)).clamp(0.0, 1e4).detach()


def save_spectrogram_png(path: str, original, reconstruction, title: str) -> None:
    """Original (top) and reconstruction (bottom) log-mels, each `(80, frames)`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    for ax, mel, name in zip(axes, (original, reconstruction), ("original", "reconstruction")):
        ax.imshow(mel, origin="lower", aspect="auto", vmin=LOG_MEL_SILENCE, vmax=3.0, cmap="magma")
        ax.set_ylabel(f"{name}\nmel bin")
    axes[-1].set_xlabel("frame")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


@torch.no_grad()
def run_validation(vae, val_dataset, args, accelerator, step: int) -> dict:
    """Reconstruction L1 (log-mel units, posterior mode) on center crops; PNGs and WAVs of the first few."""
    from mmgen.models.vocoder import load_vocoder, mel_to_audio

    vae.eval()
    out_dir = os.path.join(args.output_dir, "validation", f"step-{step}")
    os.makedirs(out_dir, exist_ok=True)
    lo, hi = mel_range(vae)
    losses, rows = [], []
    vocoder = None
    for i in range(min(args.num_validation_clips, len(val_dataset))):
        item = val_dataset[i]
        mel = item["mel"].float().unsqueeze(0).to(accelerator.device)
        x = mel_to_vae_input(mel, lo, hi).to(vae.dtype)
        recon = vae_output_to_mel(vae(x, sample_posterior=False).sample.float(), lo, hi, num_frames=mel.shape[-1])
        l1 = F.l1_loss(recon, mel).item()
        losses.append(l1)
        rows.append({"id": item["id"], "log_mel_l1": l1})
        if i < args.num_validation_samples:
            name = f"{i:02d}"
            save_spectrogram_png(
                os.path.join(out_dir, f"{name}.png"), mel[0].cpu().numpy(), recon[0].cpu().numpy(),
                f"{item['id']}  step {step}  L1 {l1:.3f}",
            )
            if args.validation_vocoder_method != "griffinlim" and vocoder is None:
                vocoder = load_vocoder(None if args.validation_vocoder == "default" else args.validation_vocoder)
            audio = mel_to_audio(recon[0].cpu(), vocoder=vocoder, method=args.validation_vocoder_method)
            save_audio(os.path.join(out_dir, f"{name}.wav"), audio)
    metrics = {"val/log_mel_l1": float(sum(losses) / max(len(losses), 1))}
    write_json(os.path.join(out_dir, "metrics.json"), {"step": step, **metrics, "clips": rows})
    vae.train()
    return metrics


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from diffusers import AutoencoderKL

    from mmgen.data import MusicSetTorchDataset, load_musicset

    accelerator = make_accelerator(args)

    # 1. Models
    if args.pretrained_vae:
        vae = AutoencoderKL.from_pretrained(args.pretrained_vae)
    else:
        vae = build_vae(args.vae_preset, mid_block_add_attention=args.mid_block_add_attention)
    model = VaeForTraining(vae)
    use_gan = args.disc_weight > 0
    discriminator = PatchDiscriminator(base_channels=args.disc_channels) if use_gan else None

    # 2. Data: random crops for training, center crops for validation
    dataset = load_musicset(args.dataset)
    train_dataset = MusicSetTorchDataset(
        dataset["train"], clip_seconds=args.crop_seconds, random_crop=True, seed=args.seed + accelerator.process_index
    )
    val_dataset = MusicSetTorchDataset(dataset["validation"], clip_seconds=args.crop_seconds, random_crop=False)
    train_dataloader = torch.utils.data.DataLoader(
        train_dataset, batch_size=args.train_batch_size, shuffle=True,
        drop_last=len(train_dataset) > args.train_batch_size,
        collate_fn=collate_mels, num_workers=args.dataloader_num_workers,
    )

    # 3. Optimizers (one per player, as diffusers' examples/vqgan/train_vqgan.py) and schedule; checkpoints hold the
    # VAE and the discriminator as save_pretrained folders.
    unwrapped_vae, unwrapped_disc = vae, discriminator
    model, discriminator, optimizer, disc_optimizer, train_dataloader, lr_scheduler = setup_gan(
        accelerator, args, model, discriminator, train_dataloader, saved={"vae": vae}, betas=(0.5, 0.9),
        mismatch_hint="--vae_preset, --mid_block_add_attention or --disc_channels differ",
    )
    mel_lo, mel_hi = mel_range(unwrapped_vae)
    init_trackers(accelerator, "mmgen-vae", args)

    # 4. Resume
    global_step = resume_from_checkpoint(accelerator, args)
    num_params = sum(p.numel() for p in unwrapped_vae.parameters())
    logger.info(f"VAE {num_params / 1e6:.2f}M parameters, {len(train_dataset)} training clips")

    # 5. Train
    model.train()
    players = (model, discriminator) if use_gan else (model,)
    first_step, start_time, metrics = global_step, time.perf_counter(), {}
    steps_per_epoch = num_update_steps_per_epoch(len(train_dataloader), args.gradient_accumulation_steps)
    _, skip_batches = resume_position(global_step, steps_per_epoch, args.gradient_accumulation_steps)
    while global_step < args.max_train_steps:
        loader = skip_consumed_batches(accelerator, train_dataloader, skip_batches)  # a resumed epoch goes on
        skip_batches = 0
        for batch in loader:
            if global_step == first_step:
                log_first_batch(accelerator, batch["ids"])
            x = mel_to_vae_input(batch["mel"], mel_lo, mel_hi)
            gan_active = use_gan and global_step >= args.disc_start_step
            with accelerator.accumulate(*players):
                reconstruction, mean, logvar = model(x)
                rec_loss = F.l1_loss(reconstruction.float(), x)
                # AudioLDM's sum(L1) + kl_weight * sum(KL), divided by the pixel count of a sample.
                kl = kl_loss(mean, logvar) / x[0].numel()
                loss = rec_loss + args.kl_weight * kl
                logs = {"rec_l1": rec_loss.item(), "kl": kl.item()}
                if gan_active:
                    gen_loss = hinge_generator_loss(frozen_forward(unwrapped_disc, reconstruction).logits)
                    weight = args.disc_weight * adaptive_gan_weight(
                        rec_loss, gen_loss, unwrapped_vae.decoder.conv_out.weight
                    )
                    loss = loss + weight * gen_loss
                    logs.update(g_loss=gen_loss.item(), d_weight=weight.item())
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad(set_to_none=True)

                if gan_active:  # discriminator step on real vs detached reconstructions
                    logs["d_loss"] = discriminator_step(
                        accelerator, discriminator, disc_optimizer, x, reconstruction, hinge_discriminator_loss,
                        args.max_grad_norm,
                    ).item()

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
                metrics = run_validation(unwrapped_vae, val_dataset, args, accelerator, global_step)
                accelerator.log(metrics, step=global_step)
                logger.info(f"validation at step {global_step}: {metrics}")
            if global_step >= args.max_train_steps:
                break

    # Throughput of this session (written for planning runs)
    summary = throughput(accelerator, args, global_step - first_step, time.perf_counter() - start_time)

    # 6. Scaling factor from data, then save (safetensors)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json(os.path.join(args.output_dir, "train_summary.json"), {**summary, "global_step": global_step})
        vae = accelerator.unwrap_model(model).vae.eval()

        def training_mels():  # a plain loader: the prepared one may synchronise with the other processes
            loader = torch.utils.data.DataLoader(
                train_dataset, batch_size=args.train_batch_size, shuffle=True, collate_fn=collate_mels
            )
            for i, batch in enumerate(loader):
                if i >= args.scaling_factor_batches:
                    break
                yield batch["mel"].to(accelerator.device)

        scaling_factor = compute_scaling_factor(vae, training_mels())
        if not math.isfinite(scaling_factor):
            raise RuntimeError(f"the latent scaling factor is not finite ({scaling_factor}); training diverged")
        vae.register_to_config(scaling_factor=scaling_factor)
        vae.save_pretrained(args.output_dir, safe_serialization=True)
        if use_gan:
            unwrapped_disc.save_pretrained(os.path.join(args.output_dir, "discriminator"))
        save_model_card(
            args.output_dir, title="MMGen mel VAE", script="train/vae.py", args=args, global_step=global_step,
            num_processes=accelerator.num_processes, tags=("autoencoder", "mel-spectrogram"),
            description="A diffusers `AutoencoderKL` that compresses 80-bin log-mels 4x in time and frequency into 8 "
            "latent channels: MMGen's latent space (`AutoencoderKL.from_pretrained(path)`; the latent "
            "`scaling_factor` is in its config)."
            + (" Its patch discriminator is in `discriminator/`." if use_gan else ""),
            results={**metrics, "scaling_factor": scaling_factor, "clips_per_second": summary["clips_per_second"]},
        )
        logger.info(f"saved the VAE to {args.output_dir} (scaling_factor {scaling_factor:.4f})")
    accelerator.end_training()


if __name__ == "__main__":
    main()
