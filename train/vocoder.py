"""Train a vocoder on MusicSet audio: fine-tune the HiFi-GAN (transformers `SpeechT5HifiGan`) or train the
Vocos-style `VocosVocoder` (`mmgen.models.vocos`).

`--architecture hifigan` (default) starts from the converted HiFi-GAN V1 "universal" generator
(`mmgen.models.vocoder.convert_hifigan`) or a saved folder; `--architecture vocos` from a fresh `VocosVocoder()`
(the shipped size) or a saved folder. Either is trained on random segments of `--segment_seconds` with

- mel L1 (weight 45, as HiFi-GAN) between the log-mels of the output and of the target, plus the
  multi-resolution STFT loss (spectral convergence + log magnitude, Parallel WaveGAN);
- unless `--no_gan`: HiFi-GAN's multi-period and multi-scale discriminators, trained from scratch (the package
  ships none), LSGAN losses and feature matching (weight 2), with alternating discriminator and generator
  steps on two optimizers (diffusers' examples/vqgan/train_vqgan.py). The generator's adversarial terms switch
  on after `--gan_start_step`, so that the fresh discriminators first learn something.

    python train/vocoder.py --dataset data/musicset-small --output_dir runs/vocoder --train_batch_size 8 \
        --segment_seconds 0.75 --max_train_steps 5000
    python train/vocoder.py --architecture vocos --no_gan --dataset data/musicset-small --output_dir runs/vocos

`--mel_source vae` feeds the generator the mel after a round trip through a frozen VAE (`--pretrained_vae`), the
blurrier mel the pipeline's VAE decoder gives it, while the targets stay the clean audio.

The generator is saved with `save_pretrained` (safetensors) in `--output_dir` and loads with
`mmgen.models.vocoder.load_vocoder(path)`; the discriminator in `--output_dir/discriminator`.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
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

DISCRIMINATOR_PRESETS = {
    "default": {"period_channels": 32, "scale_channels": 128},  # HiFi-GAN V1 (71M parameters)
    "small": {"period_channels": 8, "scale_channels": 32},  # 4.4M, for CPU fine-tuning
    "tiny": {"period_channels": 2, "scale_channels": 8},  # tests
}
ARCHITECTURES = ("hifigan", "vocos")
ARCHITECTURE_DEFAULTS = {
    "hifigan": {"learning_rate": 2e-5, "lr_warmup_steps": 0, "betas": (0.8, 0.99)},  # HiFi-GAN's AdamW
    "vocos": {"learning_rate": 5e-4, "lr_warmup_steps": 100, "betas": (0.8, 0.9)},  # Vocos' AdamW
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Fine-tune the HiFi-GAN vocoder on MusicSet audio.")
    parser.add_argument("--dataset", type=str, required=True, help="A MusicSet folder (`mmgen.data.load_musicset`).")
    parser.add_argument(
        "--architecture", type=str, default="hifigan", choices=ARCHITECTURES,
        help="hifigan: fine-tune SpeechT5HifiGan; vocos: train the iSTFT VocosVocoder (mmgen.models.vocos).",
    )
    parser.add_argument(
        "--pretrained_vocoder", type=str, default=None,
        help="Saved generator folder (of --architecture) to start from; default: the converted HiFi-GAN V1 universal "
        "generator, or a fresh VocosVocoder().",
    )
    parser.add_argument(
        "--mel_source", type=str, default="clean", choices=("clean", "vae"),
        help="The generator's input: the clean log-mel of the target, or that mel after a VAE round trip.",
    )
    parser.add_argument(
        "--pretrained_vae", type=str, default="checkpoints/mmgen-default/vae",
        help="The frozen AutoencoderKL of --mel_source vae.",
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
    parser.set_defaults(learning_rate=None, lr_warmup_steps=None)  # per architecture, below
    args = parser.parse_args(argv)
    # Fine-tuning a pretrained HiFi-GAN wants a small step; a Vocos from scratch Vocos' own (5e-4, warmed up).
    defaults = ARCHITECTURE_DEFAULTS[args.architecture]
    args.learning_rate = defaults["learning_rate"] if args.learning_rate is None else args.learning_rate
    args.lr_warmup_steps = defaults["lr_warmup_steps"] if args.lr_warmup_steps is None else args.lr_warmup_steps
    if args.segment_seconds * SAMPLE_RATE < 4 * HOP_LENGTH:
        parser.error("--segment_seconds is too short (needs at least 4 frames)")
    return args


class WaveformCrops(torch.utils.data.Dataset):
    """Random frame-aligned crops of `num_samples` samples from a MusicSet split, each clip decoded once.

    The clips are kept as 16-bit integers (MusicSet stores PCM_16 FLAC, so nothing is lost): 1,600 clips of 10 s
    take 0.7 GB, and a step no longer pays for decoding a 10 s FLAC and its full log-mel per segment (what
    `MusicSetTorchDataset` does; a vocoder needs neither). Crop starts come from torch's global generator, whose
    state `accelerate` saves in every checkpoint.
    """

    def __init__(self, split, num_samples: int):
        from mmgen.data import decode_audio

        self.num_samples = num_samples - num_samples % HOP_LENGTH
        self.ids = list(split["id"])
        self.clips = [torch.from_numpy(np.round(decode_audio(row) * 32767.0).astype(np.int16)) for row in split]

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict:
        clip = self.clips[index]
        frames = (len(clip) - self.num_samples) // HOP_LENGTH
        start = int(torch.randint(0, frames + 1, ()).item()) * HOP_LENGTH if frames > 0 else 0
        segment = clip[start : start + self.num_samples].float() / 32767.0
        return {"waveform": F.pad(segment, (0, self.num_samples - len(segment))), "id": self.ids[index]}


def collate_waveforms(examples: list[dict]) -> dict:
    """Stack `waveform`s, zero-padded to the longest and trimmed to whole frames: `(batch, frames * 256)`."""
    samples = max(e["waveform"].shape[-1] for e in examples)
    samples -= samples % HOP_LENGTH
    waves = [F.pad(e["waveform"], (0, max(samples - e["waveform"].shape[-1], 0)))[:samples] for e in examples]
    return {"waveform": torch.stack(waves).float(), "ids": [e["id"] for e in examples]}


def vocode(generator, log_mel: torch.Tensor, architecture: str = "hifigan") -> torch.Tensor:
    """`(batch, 80, frames)` log-mel -> `(batch, frames * 256)` waveform through a (possibly wrapped) generator
    (`SpeechT5HifiGan` takes `(batch, frames, 80)`, `VocosVocoder` the mel as it is)."""
    return generator(log_mel.transpose(1, 2) if architecture == "hifigan" else log_mel)


def build_generator(args: argparse.Namespace):
    """The generator to train: from --pretrained_vocoder, else the packaged HiFi-GAN or a fresh `VocosVocoder`
    (a new copy, never the cached `load_vocoder()` one)."""
    if args.architecture == "vocos":
        from mmgen.models.vocos import VocosVocoder

        return VocosVocoder.from_pretrained(args.pretrained_vocoder) if args.pretrained_vocoder else VocosVocoder()
    from transformers import SpeechT5HifiGan

    from mmgen.models.vocoder import convert_hifigan

    if args.pretrained_vocoder:
        return SpeechT5HifiGan.from_pretrained(args.pretrained_vocoder)
    return convert_hifigan("universal")


def make_input_mel(wave: torch.Tensor, vae=None) -> torch.Tensor:
    """The generator's input for target audio `wave`: its log-mel, through the frozen `vae` and back when given."""
    mel = log_mel_spectrogram(wave)
    if vae is None:
        return mel
    from mmgen.models.vae import decode_latents, encode_mels

    with torch.no_grad():
        return decode_latents(vae, encode_mels(vae, mel), num_frames=mel.shape[-1]).to(mel.dtype)


@torch.no_grad()
def run_validation(generator, val_dataset, stft_loss, args, accelerator, step: int, vae=None) -> dict:
    """Log-mel L1 and MR-STFT on center crops of the validation split (the input through `vae` when given, the
    scores against the clean audio); WAVs of the first few."""
    generator.eval()
    out_dir = os.path.join(args.output_dir, "validation", f"step-{step}")
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for i in range(min(args.num_validation_clips, len(val_dataset))):
        item = val_dataset[i]
        wave = collate_waveforms([item])["waveform"].to(accelerator.device)
        mel = log_mel_spectrogram(wave)
        y_hat = vocode(generator, make_input_mel(wave, vae), args.architecture).float()
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

    from mmgen.data import MusicSetTorchDataset, load_musicset

    accelerator = make_accelerator(args)

    # 1. Models: the generator, the frozen VAE of --mel_source vae, the discriminators
    generator = build_generator(args)
    vae = None
    if args.mel_source == "vae":
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(args.pretrained_vae, torch_dtype=torch.float32).to(accelerator.device)
        vae.requires_grad_(False).eval()
    use_gan = not args.no_gan
    discriminator = HifiGanDiscriminator(**DISCRIMINATOR_PRESETS[args.disc_preset]) if use_gan else None
    stft_loss = MultiResolutionSTFTLoss()

    # 2. Data
    dataset = load_musicset(args.dataset)
    train_dataset = WaveformCrops(dataset["train"], int(args.segment_seconds * SAMPLE_RATE))
    val_dataset = MusicSetTorchDataset(
        dataset["validation"], clip_seconds=args.validation_seconds, random_crop=False, return_waveform=True
    )
    train_dataloader = torch.utils.data.DataLoader(
        train_dataset, batch_size=args.train_batch_size, shuffle=True,
        drop_last=len(train_dataset) > args.train_batch_size,
        collate_fn=collate_waveforms, num_workers=args.dataloader_num_workers,
    )

    # 3. Two optimizers (HiFi-GAN's or Vocos' AdamW betas) and the generator's schedule; checkpoints hold the
    # generator and the discriminators as save_pretrained folders.
    unwrapped_generator, unwrapped_disc = generator, discriminator
    generator, discriminator, optimizer, disc_optimizer, train_dataloader, lr_scheduler = setup_gan(
        accelerator, args, generator, discriminator, train_dataloader, saved={"vocoder": generator},
        betas=ARCHITECTURE_DEFAULTS[args.architecture]["betas"],
        mismatch_hint="--architecture, --pretrained_vocoder or --disc_preset differ",
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
            input_mel = mel if vae is None else make_input_mel(wave, vae)
            logs = {}
            with accelerator.accumulate(*players):
                y_hat = vocode(generator, input_mel, args.architecture).float()

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
                    unwrapped_generator, val_dataset, stft_loss, args, accelerator, global_step, vae
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
        if args.architecture == "vocos":
            title, library, description = "MMGen Vocos vocoder", "diffusers", (
                "A Vocos-style vocoder (`mmgen.models.vocos.VocosVocoder`: ConvNeXt blocks at the mel frame rate, "
                f"inverse-STFT head) trained on MusicSet audio: 80-bin log-mel in, {SAMPLE_RATE} Hz waveform out "
                "(`VocosVocoder.from_pretrained(path)`)."
            )
        else:
            title, library, description = "MMGen HiFi-GAN vocoder", "transformers", (
                "A HiFi-GAN generator (transformers `SpeechT5HifiGan`) tuned on MusicSet audio: 80-bin "
                f"log-mel in, {SAMPLE_RATE} Hz waveform out (`mmgen.models.vocoder.load_vocoder(path)`)."
            )
        if vae is not None:
            description += f" Its input mels went through the VAE `{args.pretrained_vae}` and back."
        save_model_card(
            args.output_dir, title=title, script="train/vocoder.py", args=args,
            global_step=global_step, num_processes=accelerator.num_processes, library_name=library,
            tags=("vocoder", args.architecture),
            description=description + (" Its discriminators are in `discriminator/`." if use_gan else ""),
            results={**metrics, "clips_per_second": summary["clips_per_second"]},
        )
        logger.info(f"saved the vocoder to {args.output_dir}")
    accelerator.end_training()


if __name__ == "__main__":
    main()
