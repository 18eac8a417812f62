"""The latent decoder's round trip on MusicSet: audio -> log-mel -> VAE -> log-mel -> vocoder -> audio.

For each clip of the `--split` split (the first `--clip_seconds` s, trimmed to a multiple of 4 frames) three
stages are compared with the original recording:

- `vae`: the VAE's reconstruction of the log-mel (posterior mode): `log_mel_l1` only (no audio);
- `vocoder`: the original log-mel vocoded (`mmgen.models.vocoder.mel_to_audio`);
- `vae+vocoder`: the VAE's reconstruction vocoded (what the generation pipeline does after the UNet).

Metrics: `log_mel_l1` (mean |log-mel(result) - log-mel(original)|, natural log), `mr_stft` (multi-resolution
STFT distance, `mmgen.models.losses.MultiResolutionSTFTLoss`, spectral convergence + log magnitude),
`note_f1` (Basic Pitch notes of the result against Basic Pitch notes of the original, mir_eval onset within
50 ms, pitch within 50 cents, offsets ignored; clips where the original has no notes are skipped) and
`chroma_cosine` (`mmgen.eval.melody.chroma_cosine` against the original audio). Speed: process CPU seconds
(all threads) and wall seconds per audio second of the decode path, VAE decoder and vocoder separately,
timed on every clip after a warm-up call.

    nice -n 10 .venv/bin/python benchmarks/decoder.py --vae checkpoints/mmgen-default/vae \
        --vocoder default --dataset data/musicset-small        # -> benchmarks/results/decoder.json

`--measure_vae_training` instead times training steps of a fresh VAE preset (the loss of train/vae.py without
the discriminator, AdamW) on random crops and writes clips per second
(-> benchmarks/results/decoder_vae_training.json).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import torch

from mmgen.audio import HOP_LENGTH, SAMPLE_RATE, log_mel_spectrogram
from mmgen.eval.bench import write_json
from mmgen.models.losses import MultiResolutionSTFTLoss, kl_loss
from mmgen.models.vae import COMPRESSION, build_vae, decode_latents, encode_mels, mel_to_vae_input

STAGES = ("vae", "vocoder", "vae+vocoder")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vae", type=str, default=None, help="Saved VAE folder (AutoencoderKL.save_pretrained).")
    parser.add_argument(
        "--vocoder", type=str, default="default",
        help="'default' (the converted HiFi-GAN universal) or a saved SpeechT5HifiGan folder (e.g. a tuned one).",
    )
    parser.add_argument(
        "--vocoder_method", type=str, default="hybrid", choices=["hybrid", "hifigan", "griffinlim"],
        help="`mel_to_audio` method (hybrid is the pipeline's default).",
    )
    parser.add_argument("--dataset", type=str, default=None, help="A MusicSet folder.")
    parser.add_argument("--split", type=str, default="test", help="Split to evaluate.")
    parser.add_argument("--max_clips", type=int, default=32, help="Evaluate at most this many clips.")
    parser.add_argument("--clip_seconds", type=float, default=5.0, help="Evaluate the first N seconds of each clip.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    parser.add_argument("--output", type=str, default="benchmarks/results/decoder.json", help="Where to write JSON.")
    parser.add_argument(
        "--measure_vae_training", action="store_true",
        help="Time VAE training steps instead (writes benchmarks/results/decoder_vae_training.json by default).",
    )
    parser.add_argument("--vae_preset", type=str, default="default", help="Preset for --measure_vae_training.")
    parser.add_argument("--batch_size", type=int, default=4, help="Batch size for --measure_vae_training.")
    parser.add_argument("--crop_seconds", type=float, default=2.0, help="Crop length for --measure_vae_training.")
    parser.add_argument("--steps", type=int, default=6, help="Timed steps (after 1 warm-up).")
    parser.add_argument(
        "--mixed_precision", type=str, default="no", choices=["no", "bf16"],
        help="bf16 autocast for --measure_vae_training.",
    )
    args = parser.parse_args(argv)
    if not args.measure_vae_training and (args.vae is None or args.dataset is None):
        parser.error("--vae and --dataset are required (or use --measure_vae_training)")
    return args


class Timer:
    """Accumulates process CPU seconds and wall seconds of the `with` blocks it times."""

    def __init__(self):
        self.cpu, self.wall = 0.0, 0.0

    def __enter__(self):
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.cpu += time.process_time() - self._cpu
        self.wall += time.perf_counter() - self._wall


def audio_metrics(audio: np.ndarray, original: np.ndarray, original_mel: torch.Tensor, ref_notes, stft_loss) -> dict:
    """Metrics of a decoded waveform against the original (see the module docstring)."""
    from mmgen.eval.melody import chroma_cosine, note_f1
    from mmgen.melody.transcribe import extract_notes

    audio = audio[: original.shape[0]]
    mel = log_mel_spectrogram(torch.from_numpy(audio))
    frames = min(mel.shape[-1], original_mel.shape[-1])
    sc, mag = stft_loss(torch.from_numpy(audio)[None], torch.from_numpy(original[: audio.shape[0]])[None])
    row = {
        "log_mel_l1": float((mel[:, :frames] - original_mel[:, :frames]).abs().mean()),
        "mr_stft": float(sc + mag),
        "chroma_cosine": chroma_cosine(audio, original, SAMPLE_RATE),
    }
    if ref_notes:
        row["note_f1"] = note_f1(ref_notes, extract_notes(audio, SAMPLE_RATE))["f1"]
    return row


def summarise(rows: list[dict]) -> dict:
    keys = sorted({k for r in rows for k in r})
    return {k: {"mean": float(np.mean([r[k] for r in rows if k in r])), "n": sum(k in r for r in rows)} for k in keys}


@torch.no_grad()
def run_round_trip(args) -> dict:
    from diffusers import AutoencoderKL

    from mmgen.data import decode_audio, load_musicset
    from mmgen.melody.transcribe import extract_notes
    from mmgen.models.vocoder import load_vocoder, mel_to_audio

    vae = AutoencoderKL.from_pretrained(args.vae).eval()
    vocoder = None if args.vocoder_method == "griffinlim" else load_vocoder(
        None if args.vocoder == "default" else args.vocoder
    )
    split = load_musicset(args.dataset)[args.split]
    stft_loss = MultiResolutionSTFTLoss()
    quantum = HOP_LENGTH * COMPRESSION
    vae_timer, vocoder_timer = Timer(), Timer()
    rows = {stage: [] for stage in STAGES}
    audio_seconds, warmed_up = 0.0, False
    for index in range(min(args.max_clips, len(split))):
        wave = decode_audio(split[index])[: int(args.clip_seconds * SAMPLE_RATE)]
        wave = wave[: wave.shape[0] // quantum * quantum]
        if wave.shape[0] < quantum * 4 or np.abs(wave).max() < 1e-4:
            continue  # too short or silent
        mel = log_mel_spectrogram(torch.from_numpy(wave))
        ref_notes = extract_notes(wave, SAMPLE_RATE)
        latents = encode_mels(vae, mel)
        if not warmed_up:  # first calls allocate and load; keep them out of the timings
            mel_to_audio(decode_latents(vae, latents, num_frames=mel.shape[-1])[0], vocoder, args.vocoder_method)
            warmed_up = True
        with vae_timer:
            mel_vae = decode_latents(vae, latents, num_frames=mel.shape[-1])[0]
        with vocoder_timer:
            audio_both = mel_to_audio(mel_vae, vocoder, args.vocoder_method).numpy()
        audio_voc = mel_to_audio(mel, vocoder, args.vocoder_method).numpy()
        audio_seconds += wave.shape[0] / SAMPLE_RATE
        rows["vae"].append({"log_mel_l1": float((mel_vae - mel).abs().mean())})
        rows["vocoder"].append(audio_metrics(audio_voc, wave, mel, ref_notes, stft_loss))
        rows["vae+vocoder"].append(audio_metrics(audio_both, wave, mel, ref_notes, stft_loss))
        print(f"clip {index}: " + ", ".join(f"{s} {rows[s][-1]}" for s in STAGES), flush=True)
    if not rows["vae"]:
        raise SystemExit(f"no usable clip in split '{args.split}' of {args.dataset}")
    speed = {
        "vae_decode_cpu_s_per_audio_s": vae_timer.cpu / audio_seconds,
        "vocoder_cpu_s_per_audio_s": vocoder_timer.cpu / audio_seconds,
        "total_cpu_s_per_audio_s": (vae_timer.cpu + vocoder_timer.cpu) / audio_seconds,
        "vae_decode_wall_s_per_audio_s": vae_timer.wall / audio_seconds,
        "vocoder_wall_s_per_audio_s": vocoder_timer.wall / audio_seconds,
    }
    return {
        "stages": {stage: summarise(r) for stage, r in rows.items()},
        "speed": speed,
        "clips": len(rows["vae"]),
        "audio_seconds": audio_seconds,
        "vae_parameters": sum(p.numel() for p in vae.parameters()),
        "vae_scaling_factor": vae.config.scaling_factor,
    }


def run_vae_training_throughput(args) -> dict:
    """Clips per second of VAE training steps (L1 + KL, AdamW) on random normalised-range crops."""
    torch.manual_seed(0)
    vae = build_vae(args.vae_preset).train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=1e-4)
    frames = int(args.crop_seconds * SAMPLE_RATE) // HOP_LENGTH
    mel = torch.randn(args.batch_size, 80, frames) * 2.0 - 5.0
    x = mel_to_vae_input(mel)
    timer = Timer()
    for step in range(args.steps + 1):
        with timer if step > 0 else Timer():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.mixed_precision == "bf16"):
                posterior = vae.encode(x).latent_dist
                recon = vae.decode(posterior.sample()).sample
            loss = (recon.float() - x).abs().mean() + 1e-6 * kl_loss(posterior.mean, posterior.logvar) / x[0].numel()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    clips = args.steps * args.batch_size
    return {
        "preset": args.vae_preset,
        "parameters": sum(p.numel() for p in vae.parameters()),
        "batch_size": args.batch_size,
        "crop_seconds": args.crop_seconds,
        "frames": x.shape[2],
        "mixed_precision": args.mixed_precision,
        "timed_steps": args.steps,
        "clips_per_wall_s": clips / timer.wall,
        "clips_per_cpu_s": clips / timer.cpu,
        "wall_s_per_step": timer.wall / args.steps,
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = run_vae_training_throughput(args) if args.measure_vae_training else run_round_trip(args)
    if args.measure_vae_training and args.output == "benchmarks/results/decoder.json":
        args.output = "benchmarks/results/decoder_vae_training.json"
    results["setup"] = {
        "command": " ".join(sys.argv),
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15_min": list(os.getloadavg()),  # other jobs on the machine inflate wall times
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    if not args.measure_vae_training:
        results["setup"].update(vae=args.vae, vocoder=args.vocoder, vocoder_method=args.vocoder_method)
        results["setup"].update(dataset=args.dataset, split=args.split)
    write_json(args.output, results, echo=True, sort_keys=True)


if __name__ == "__main__":
    main()
