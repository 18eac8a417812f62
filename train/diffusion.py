"""Train MMGen's melody-guided latent diffusion model (paper 4.2.2) and save a complete MMGenPipeline folder.

    accelerate launch train/diffusion.py --dataset data/musicset-small --aligner checkpoints/aligner \
        --vae checkpoints/vae --output_dir outputs/mmgen-default [--condition text_only] [--melody_source own]

Fine-tuning on your own music: `--pretrained_pipeline checkpoints/mmgen-default` takes the aligner, VAE, retriever,
UNet, condition projector and their conditioning from a pipeline folder; `--finetune full` trains the UNet and the
projector, `--finetune lora` only a peft LoRA of the UNet (fused into the saved UNet's weights, the adapter saved
beside it in `unet_lora/`); the dataset's train melodies are added to the saved retriever (`--add_melodies`);
`--max_train_cpu_seconds` bounds the run by CPU time (kept across resumes).

Frozen: the aligner, the retriever and the VAE. Trained: the UNet and the condition projector `c = MLP([q, r])`.
`q` is the aligner's text embedding of the clip's caption; `r` is the melody the retriever returns for that query,
exactly as at inference (one batched search over the whole split, index loaded once), or with
`--melody_source own` the aligner's embedding of the clip's own melody. `--condition text_only` trains the
ablation `c = MLP(q)` with the same code and budget.

Everything the frozen encoders compute is cached once (`--cache_dir`, default `<output_dir>/cache`), in two files:
the VAE posteriors (mean, std) of `--crops_per_clip` fixed crops of each clip — a fresh latent is sampled from them
at every step — with each crop's caption and melody (`latents-*`), and the aligner's query q and own-melody
embedding of each crop (`conditions-*`). A new aligner rebuilds only the second file; `--condition`,
`--melody_source` and the retriever change neither, so the text-only ablation pointed at the same `--cache_dir`
reuses both; the retrieved r is one batched search over the cached queries at start-up (a second). No encoder runs
inside the training step.

Classifier-free guidance: `condition_dropout` of the examples get the null condition `[q_null, r_null]`, exactly
the input that sampling uses for `eps(x, t)`; `melody_dropout` more get `[q, r_null]` (for `melody_guidance_scale`).
Noise schedule: DDPM, 1000 steps, betas 0.0015-0.0195 with the official (LDM) "linear" schedule, which
interpolates sqrt(beta) — diffusers' `scaled_linear` (`--beta_schedule linear` for a plain linear one); epsilon
prediction.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import shutil
import time

import numpy as np
import torch
import torch.nn.functional as F
from accelerate.logging import get_logger

from mmgen.audio import HOP_LENGTH, SAMPLE_RATE, save_audio
from mmgen.finetune import LORA_TARGET_MODULES, PipelineFolderError, read_pipeline_folder
from mmgen.training_utils import (
    add_common_args,
    init_trackers,
    log_first_batch,
    make_accelerator,
    num_update_steps_per_epoch,
    register_pretrained_hooks,
    resume_from_checkpoint,
    resume_position,
    save_checkpoint,
    save_model_card,
    skip_consumed_batches,
    write_json,
)

logger = get_logger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=str, required=True, help="MusicSet folder (load_musicset).")
    parser.add_argument("--pretrained_pipeline", type=str, default=None,
                        help="Fine-tune an MMGenPipeline folder: its aligner, VAE and retriever (frozen), UNet and "
                             "condition projector, and their conditioning; replaces --aligner/--vae/--retriever/"
                             "--init_from and the architecture flags.")
    parser.add_argument("--finetune", choices=["full", "lora"], default="full",
                        help="'full': train every UNet and projector weight; 'lora': train only a LoRA of the UNet "
                             "(peft; needs --pretrained_pipeline or --init_from), fused into the saved weights.")
    parser.add_argument("--lora_rank", type=int, default=16, help="LoRA rank (--finetune lora).")
    parser.add_argument("--lora_alpha", type=float, default=None, help="LoRA alpha (default: the rank).")
    parser.add_argument("--lora_target_modules", type=str, default=",".join(LORA_TARGET_MODULES),
                        help="Comma-separated UNet module names the LoRA adapts.")
    parser.add_argument("--add_melodies", action=argparse.BooleanOptionalAction, default=None,
                        help="Add the train split's melodies to the saved pipeline's retriever (default: on with "
                             "--pretrained_pipeline), so text prompts can retrieve them.")
    parser.add_argument("--retrieve_from", choices=["all", "own"], default="all",
                        help="With --add_melodies: the saved retriever holds the pipeline's melodies and the "
                             "dataset's ('all'), or the dataset's alone ('own': every text prompt then retrieves one "
                             "of your melodies; the aligner matches words to melodies, not to timbre, so style words "
                             "alone rarely reach them in 'all', benchmarks/results/finetune.json).")
    parser.add_argument("--max_train_cpu_seconds", type=float, default=None,
                        help="Stop after this much process CPU time in the training loop (summed over resumes; "
                             "saved in each checkpoint), or at --max_train_steps, whichever comes first.")
    parser.add_argument("--aligner", type=str, default=None, help="TriModalAligner folder (frozen).")
    parser.add_argument("--vae", type=str, default=None, help="Mel VAE (AutoencoderKL) folder (frozen).")
    parser.add_argument("--vocoder", type=str, default=None,
                        help="SpeechT5HifiGan folder; default: the packaged universal HiFi-GAN.")
    parser.add_argument("--retriever", type=str, default=None,
                        help="MelodyRetriever folder; default: built from the train split with the aligner.")
    parser.add_argument("--condition", choices=["melody", "text_only"], default="melody",
                        help="'melody': c = MLP([q, r]) (MMGen); 'text_only': c = MLP(q) (the ablation).")
    parser.add_argument("--melody_source", choices=["retrieved", "own"], default=None,
                        help="r from retrieval with the clip's query or the clip's own melody (default: own with the "
                             "sketch, whose notes are the clip's own; retrieved without it, the paper's design).")
    parser.add_argument("--melody_input", choices=["sketch", "pianoroll", "none"], default="sketch",
                        help="'sketch': the frame-aligned melody sketch latent joins the noisy latent on the channel "
                             "axis (v2); 'pianoroll': the piano roll on the latent's frame grid through a learned "
                             "projection (PianoRollEncoder) instead; 'none': the melody reaches the UNet only "
                             "through c (the paper's design).")
    parser.add_argument("--sketch_notes", choices=["transcribed", "score", "mixed"], default="mixed",
                        help="Notes the training sketch is drawn from: the Basic Pitch transcription (`melody`), the "
                             "score's lead line (`melody_gt`, synthetic sets), or a per-example coin flip.")
    parser.add_argument("--sketch_timbre", choices=["fixed", "varied"], default="fixed",
                        help="'fixed': every training sketch sounds like the pipeline's (SKETCH_TIMBRE); 'varied': "
                             "each cached crop's sketch gets its own timbre (random_sketch_timbre, seeded by --seed "
                             "and the crop), so the UNet learns the notes and not the sketch's sound.")
    parser.add_argument("--score_notes_prob", type=float, default=0.5,
                        help="With --sketch_notes mixed: probability of the score's notes.")
    parser.add_argument("--init_from", type=str, default=None,
                        help="Warm start from an MMGenPipeline folder: its UNet (new sketch input channels of "
                             "conv_in start at zero) and, when its configuration matches, its condition projector.")
    parser.add_argument("--unet_preset", type=str, default="cpu", help="mmgen.models.unet preset.")
    parser.add_argument("--unet_block_out_channels", type=str, default=None,
                        help="Override the preset's channels, e.g. '8,16' (tests).")
    parser.add_argument("--condition_dim", type=int, default=512, help="Dimension of the condition c.")
    parser.add_argument("--projector_hidden_dim", type=int, default=512, help="Hidden width of MLP([q, r]).")
    parser.add_argument("--normalize_condition_inputs", action="store_true",
                        help="Centre q and r on the training mean and scale them to unit variance per dimension "
                             "before the projector (fitted on the cached crops; a warm start stays exact).")
    parser.add_argument("--condition_dropout", type=float, default=0.1, help="P(whole condition -> null).")
    parser.add_argument("--melody_dropout", type=float, default=0.0,
                        help="P(melody only -> null); > 0 enables melody_guidance_scale at inference.")
    parser.add_argument("--cache_dir", type=str, default=None,
                        help="Folder of the frozen-feature cache (default <output_dir>/cache); share it between runs.")
    parser.add_argument("--clip_seconds", type=float, default=5.0, help="Training crop length in seconds.")
    parser.add_argument("--crops_per_clip", type=int, default=4, help="Fixed crops per clip in the latent cache.")
    parser.add_argument("--train_crop_seconds", type=float, default=None,
                        help="Train on a random window of this length of each cached crop (one offset per batch, "
                             "a multiple of the UNet's 4 latent frames): less compute per step; default: the whole "
                             "crop. The UNet is convolutional in time, so it still generates any length.")
    parser.add_argument("--num_train_timesteps", type=int, default=1000, help="DDPM steps.")
    parser.add_argument("--beta_start", type=float, default=0.0015, help="First beta.")
    parser.add_argument("--beta_end", type=float, default=0.0195, help="Last beta.")
    parser.add_argument("--beta_schedule", type=str, default="scaled_linear",
                        help="diffusers beta schedule ('scaled_linear' = the official LDM 'linear').")
    parser.add_argument("--use_ema", action=argparse.BooleanOptionalAction, default=True, help="Keep an EMA.")
    parser.add_argument("--ema_decay", type=float, default=0.9999, help="EMA decay (diffusers EMAModel).")
    parser.add_argument("--validation_prompts", type=str, nargs="*", default=None,
                        help="Prompts for validation; default: the first captions of the validation split.")
    parser.add_argument("--num_validation_clips", type=int, default=2, help="Validation clips per run.")
    parser.add_argument("--validation_inference_steps", type=int, default=50, help="DDIM steps for validation.")
    parser.add_argument("--validation_seconds", type=float, default=5.0, help="Length of validation clips.")
    parser.add_argument("--vocoder_method", type=str, default="hybrid",
                        help="mel_to_audio method of the pipeline (hybrid: measured best on music).")
    add_common_args(parser)
    args = parser.parse_args(argv)
    if args.pretrained_pipeline:
        given = [flag for flag in ("aligner", "vae", "retriever", "init_from") if getattr(args, flag)]
        if given:
            parser.error(f"--pretrained_pipeline takes the {', '.join(given)} from the pipeline folder; drop "
                         + ", ".join(f"--{flag}" for flag in given))  # fmt: skip
        try:
            folder = read_pipeline_folder(args.pretrained_pipeline)
        except PipelineFolderError as err:
            parser.error(f"--pretrained_pipeline: {err}")
        args.aligner, args.vae, args.retriever = folder.aligner, folder.vae, folder.retriever
        args.vocoder = args.vocoder or folder.vocoder
        args.condition, args.melody_input, args.vocoder_method = folder.condition, folder.melody_input, \
            folder.vocoder_method  # fmt: skip
        args.normalize_condition_inputs = False  # a trained projector keeps its fitted statistics
    elif not (args.aligner and args.vae):
        parser.error("give --pretrained_pipeline, or --aligner and --vae to train from scratch")
    if args.finetune == "lora":
        if not (args.pretrained_pipeline or args.init_from):
            parser.error("--finetune lora adapts a trained UNet: give --pretrained_pipeline (or --init_from)")
        if args.lora_rank < 1:
            parser.error("--lora_rank must be at least 1")
        args.use_ema = False  # diffusers' EMAModel shadows whole models, not peft adapters
    if args.add_melodies is None:
        args.add_melodies = bool(args.pretrained_pipeline)
    if args.add_melodies and args.condition != "melody":
        parser.error("--add_melodies needs a melody-conditioned pipeline (its retriever)")
    if args.retrieve_from == "own" and not args.add_melodies:
        parser.error("--retrieve_from own needs --add_melodies (the saved retriever holds the dataset's melodies)")
    if args.max_train_cpu_seconds is not None and args.max_train_cpu_seconds <= 0:
        parser.error("--max_train_cpu_seconds must be positive")
    if args.condition == "text_only" and args.melody_dropout:
        parser.error("--melody_dropout needs --condition melody")
    if args.condition == "text_only":
        args.melody_input = "none"
    if args.melody_source is None:
        args.melody_source = "own" if args.melody_input != "none" else "retrieved"
    if not 0.0 <= args.score_notes_prob <= 1.0:
        parser.error("--score_notes_prob must be in [0, 1]")
    return args


# ----------------------------------------------------------------------------------------------------- frozen parts
def load_frozen(args, device):
    from diffusers import AutoencoderKL

    from mmgen.models.aligner import TriModalAligner
    from mmgen.models.vocoder import load_vocoder
    from mmgen.retrieval import MelodyRetriever

    aligner = TriModalAligner.from_pretrained(args.aligner).eval().to(device).requires_grad_(False)
    vae = AutoencoderKL.from_pretrained(args.vae).eval().to(device).requires_grad_(False)
    # No --vocoder: the pipeline stores None and uses the packaged HiFi-GAN (no copy of its weights).
    vocoder = copy.deepcopy(load_vocoder(args.vocoder)).eval().requires_grad_(False) if args.vocoder else None
    retriever = MelodyRetriever.from_pretrained(args.retriever) if args.retriever else None
    return aligner, vae, vocoder, retriever, MelodyRetriever


def _key(fields) -> str:
    return hashlib.sha256(json.dumps(fields, default=str).encode()).hexdigest()[:16]


def cache_paths(args) -> tuple[str, str, str]:
    """The cache files: VAE posteriors of the crops (which do not depend on the aligner, so a new aligner reuses
    them), the aligner's embeddings of those crops' captions and melodies, and the crops' melody sketch latents
    (which depend on the VAE and the crops only)."""
    cache_dir = args.cache_dir or os.path.join(args.output_dir, "cache")
    latents = _key([args.dataset, args.vae, args.clip_seconds, args.crops_per_clip, args.seed])
    conditions = _key([latents, args.aligner])
    # The fixed-timbre file keeps its name from before the option existed, so existing caches stay valid.
    sketches = latents if args.sketch_timbre == "fixed" else _key([latents, args.sketch_timbre])
    return (
        os.path.join(cache_dir, f"latents-{latents}.safetensors"),
        os.path.join(cache_dir, f"conditions-{conditions}.safetensors"),
        os.path.join(cache_dir, f"sketches-{sketches}.safetensors"),
    )


@torch.no_grad()
def build_latent_cache(args, split, vae) -> tuple[dict[str, torch.Tensor], dict[str, list[str]]]:
    """VAE posteriors of `crops_per_clip` fixed crops of every clip of `split`, and each crop's caption and melodies.

    Returns:
        (`{"mean", "std"}` `(N, 8, T/4, 20)` float16, `{"captions", "melodies", "score_melodies"}` N strings each),
        N = clips x crops. `melodies` are the crop's Basic Pitch notes, `score_melodies` the score's lead line
        (`melody_gt`) where the set has one, else the transcription again.
    """
    from mmgen.data import MusicSetTorchDataset
    from mmgen.melody.windows import crop_melody
    from mmgen.models.vae import mel_range, mel_to_vae_input

    dataset = MusicSetTorchDataset(split, clip_seconds=args.clip_seconds, random_crop=True, seed=args.seed)
    scores = split["melody_gt"] if "melody_gt" in split.column_names else None
    crop_s = dataset.num_samples / SAMPLE_RATE
    means, stds, captions, melodies, score_melodies = [], [], [], [], []
    for _ in range(args.crops_per_clip):
        for start in range(0, len(dataset), args.train_batch_size):
            indices = range(start, min(start + args.train_batch_size, len(dataset)))
            items = [dataset[i] for i in indices]
            mel = torch.stack([item["mel"] for item in items]).to(vae.device)
            posterior = vae.encode(mel_to_vae_input(mel, *mel_range(vae)).to(vae.dtype)).latent_dist
            means.append(posterior.mean.half().cpu())
            stds.append(posterior.std.half().cpu())
            captions += [item["caption"] for item in items]
            melodies += [item["melody"] for item in items]
            score_melodies += [crop_melody(scores[i], item["start_s"], crop_s) if scores else item["melody"]
                               for i, item in zip(indices, items)]  # fmt: skip
    texts = {"captions": captions, "melodies": melodies, "score_melodies": score_melodies}
    return {"mean": torch.cat(means), "std": torch.cat(stds)}, texts


@torch.no_grad()
def build_sketch_cache(
    vae, texts: dict[str, list[str]], num_frames: int, batch_size: int, timbre: str = "fixed", seed: int = 0
) -> dict[str, torch.Tensor]:
    """The melody sketch latents of every cached crop, from its transcribed and its score notes.

    With `timbre="varied"` crop i is rendered with `random_sketch_timbre(default_rng([seed, i]))` (both of its
    sketches alike), so that a rebuilt cache is identical.

    Returns:
        `{"sketch_transcribed", "sketch_score"}`, each `(N, 8, T/4, 20)` float16, scaled as the UNet sees them.
    """
    from mmgen.melody.sketch import SKETCH_TIMBRE, random_sketch_timbre, sketch_log_mel
    from mmgen.melody.tokenizer import string_to_notes
    from mmgen.models.vae import encode_mels

    count = len(texts["melodies"])
    timbres = ([random_sketch_timbre(np.random.default_rng([seed, i])) for i in range(count)] if timbre == "varied"
               else [SKETCH_TIMBRE] * count)  # fmt: skip
    out = {}
    for key, column in (("sketch_transcribed", "melodies"), ("sketch_score", "score_melodies")):
        latents = []
        for start in range(0, count, batch_size):
            mels = [sketch_log_mel(string_to_notes(tokens) if tokens else [], num_frames, timbres[start + i])
                    for i, tokens in enumerate(texts[column][start : start + batch_size])]  # fmt: skip
            latents.append(encode_mels(vae, torch.from_numpy(np.stack(mels))).half().cpu())
        out[key] = torch.cat(latents)
    return out


@torch.no_grad()
def build_condition_cache(aligner, texts: dict[str, list[str]]) -> dict[str, torch.Tensor]:
    """`query` (caption) and `own_melody` `(N, D)` aligner embeddings of the cached crops."""
    # Every crop of a clip shares its caption: embed each distinct caption once.
    distinct = sorted(set(texts["captions"]))
    row = {caption: i for i, caption in enumerate(distinct)}
    query = aligner.embed_text(distinct).float().cpu()[[row[caption] for caption in texts["captions"]]]
    return {"query": query, "own_melody": aligner.embed_melody(texts["melodies"]).float().cpu()}


def _texts_path(latents_path: str) -> str:
    """The JSON beside a latents file: each cached crop's caption and melody."""
    return latents_path[: -len(".safetensors")] + ".json"


def _save_atomic(path: str, tensors: dict[str, torch.Tensor], texts: dict | None = None) -> None:
    """Write `path` (and its strings beside it, `.json`) via temporary files, the tensors last: a run killed
    mid-write leaves no half cache behind."""
    from safetensors.torch import save_file

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if texts is not None:
        texts_path = _texts_path(path)
        write_json(texts_path + ".tmp", texts)
        os.replace(texts_path + ".tmp", texts_path)
    save_file(tensors, path + ".tmp")
    os.replace(path + ".tmp", path)


def load_or_build_cache(args, accelerator, split, aligner, vae) -> dict[str, torch.Tensor]:
    """`mean`, `std`, `query`, `own_melody` (and the sketch latents with `--melody_input sketch`) of every cached crop,
    built where missing (main process only)."""
    from safetensors.torch import load_file

    latents_path, conditions_path, sketches_path = cache_paths(args)
    paths = [latents_path, conditions_path] + ([sketches_path] if args.melody_input == "sketch" else [])
    if accelerator.is_main_process:
        if not os.path.isfile(latents_path):
            logger.info(f"building the frozen-feature cache {latents_path} (VAE posteriors)", main_process_only=False)
            _save_atomic(latents_path, *build_latent_cache(args, split, vae))
        with open(_texts_path(latents_path), encoding="utf-8") as f:
            texts = json.load(f)
        if not os.path.isfile(conditions_path):
            logger.info(f"building the frozen-feature cache {conditions_path} (aligner embeddings)",
                        main_process_only=False)  # fmt: skip
            _save_atomic(conditions_path, build_condition_cache(aligner, texts))
        if sketches_path in paths and not os.path.isfile(sketches_path):
            logger.info(f"building the frozen-feature cache {sketches_path} (melody sketch latents)",
                        main_process_only=False)  # fmt: skip
            num_frames = int(args.clip_seconds * SAMPLE_RATE) // HOP_LENGTH
            _save_atomic(sketches_path, build_sketch_cache(vae, texts, num_frames, args.train_batch_size,
                                                           args.sketch_timbre, args.seed))
    accelerator.wait_for_everyone()
    cache = {}
    for path in paths:
        cache.update(load_file(path))
    return cache


def load_or_build_retriever(args, accelerator, retriever_cls, aligner, split):
    """The melody retriever of the train split, built once (main process) into the cache folder beside the features
    and loaded from there by every process (and by later runs with the same data and aligner)."""
    cache_dir = args.cache_dir or os.path.join(args.output_dir, "cache")
    path = os.path.join(cache_dir, f"retriever-{_key([args.dataset, args.aligner])}")
    if accelerator.is_main_process and not os.path.isfile(os.path.join(path, "config.json")):
        logger.info(f"building the melody retriever from the train split into {path}", main_process_only=False)
        partial = path + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        retriever_cls.build(aligner, split, index_type="flat").save_pretrained(partial)
        shutil.rmtree(path, ignore_errors=True)
        os.replace(partial, path)
    accelerator.wait_for_everyone()
    return retriever_cls.from_pretrained(path)


def melody_condition(args, cache, retriever) -> torch.Tensor | None:
    """r for every cached crop: None (text-only), the crop's own melody, or the melody its query retrieves."""
    if args.condition == "text_only":
        return None
    if args.melody_source == "own":
        return cache["own_melody"]
    # One batched search with each clip's query, exactly as the pipeline retrieves at inference.
    return retriever.search(cache["query"], k=1).embeddings[:, 0].float().cpu()


def time_window(args, frames: int) -> slice:
    """The latent frames trained on this step: all of them, or a random `--train_crop_seconds` window whose length is
    a multiple of 4 (the UNet's down-sampling factor)."""
    if not args.train_crop_seconds:
        return slice(None)
    length = int(args.train_crop_seconds * SAMPLE_RATE / HOP_LENGTH / 4) // 4 * 4
    length = max(4, min(length, frames // 4 * 4))
    start = int(torch.randint(0, frames - length + 1, ()).item())
    return slice(start, start + length)


def build_piano_rolls(texts: dict[str, list[str]], num_frames: int, frame_seconds: float) -> dict[str, torch.Tensor]:
    """The piano rolls of every cached crop (`--melody_input pianoroll`), from its transcribed and its score notes;
    cheap (no encoder), so computed at start-up rather than cached.

    Returns:
        `{"roll_transcribed", "roll_score"}`, each `(N, 88, T/4)` float16 on the latent's frame grid.
    """
    from mmgen.melody.sketch import piano_roll
    from mmgen.melody.tokenizer import string_to_notes

    return {
        key: torch.from_numpy(np.stack([piano_roll(string_to_notes(tokens) if tokens else [], num_frames,
                                                   frame_seconds) for tokens in texts[column]])).half()
        for key, column in (("roll_transcribed", "melodies"), ("roll_score", "score_melodies"))
    }  # fmt: skip


def pick_sketch_notes(args, transcribed: torch.Tensor, score: torch.Tensor, use_score: torch.Tensor | None = None):
    """Per example, the sketch (or piano roll) of the transcribed or of the score's notes (`--sketch_notes`): mixing
    both makes the model robust to transcription errors while the score's notes teach it clean pitch (`use_score`,
    `(batch,)` bool, drawn by `draw_step_noise`)."""
    if args.sketch_notes == "transcribed":
        return transcribed
    if args.sketch_notes == "score":
        return score
    return torch.where(use_score.view(-1, *[1] * (transcribed.ndim - 1)), score, transcribed)


def draw_step_noise(args, batch, projector, num_train_timesteps: int) -> dict:
    """Every random draw of one training step, per example (in the order the step has always drawn them): the latent
    window, the posterior sample's noise, the diffusion noise and timesteps, the condition/melody drop masks and
    which notes the sketch is drawn from. Kept apart from `diffusion_loss` so that a test can give two processes
    the halves of one draw (`tests/test_multiprocess_equivalence.py`)."""
    mean = batch[0]
    window = time_window(args, mean.shape[2])
    shape, device = mean[:, :, window].shape, mean.device
    draws = {"window": window, "posterior": torch.randn(shape, device=device)}
    draws["noise"] = torch.randn(shape, device=device)
    draws["timesteps"] = torch.randint(0, num_train_timesteps, (shape[0],), device=device)
    draws["drop_condition"], draws["drop_melody"] = projector.sample_drop_masks(shape[0], device=device)
    if args.melody_input != "none" and args.sketch_notes == "mixed":
        draws["use_score"] = torch.rand(shape[0], device=device) < args.score_notes_prob
    return draws


def diffusion_loss(args, batch, draws, unet, projector, melody_encoder, noise_scheduler, scaling_factor, accelerator):
    """The epsilon-prediction MSE of one batch of cached crops (`[mean, std, query, (melody), (sketches)...]`) with
    the random draws of `draw_step_noise`; `unet`, `projector`, `melody_encoder` may be wrapped by accelerate."""
    window = draws["window"]
    mean, std, query = batch[0][:, :, window].float(), batch[1][:, :, window].float(), batch[2].float()
    melody = batch[3].float() if args.condition == "melody" else None
    drop_condition, drop_melody = draws["drop_condition"], draws["drop_melody"]
    latents = (mean + std * draws["posterior"]) * scaling_factor
    noise, timesteps = draws["noise"], draws["timesteps"]
    noisy = noise_scheduler.add_noise(latents, noise, timesteps)
    with accelerator.autocast():
        if args.melody_input != "none":
            # The sketch (or encoded piano roll) is dropped with the melody (null = zeros), so that eps(x, t) and
            # eps(x, t, q) of guidance see the same inputs as the dropped training examples.
            sketch = pick_sketch_notes(args, batch[4][:, :, window].float(), batch[5][:, :, window].float(),
                                       draws.get("use_score"))  # fmt: skip
            if melody_encoder is not None:
                sketch = melody_encoder(sketch)
            keep = ~(drop_condition | drop_melody)
            noisy = torch.cat([noisy, sketch * keep[:, None, None, None].to(sketch.dtype)], dim=1)
        condition = projector(query, melody, drop_condition=drop_condition, drop_melody=drop_melody)
        pred = unet(noisy, timesteps, encoder_hidden_states=None, class_labels=condition).sample
    return F.mse_loss(pred.float(), noise.float())


def make_models(args, dim: int, latent_channels: int, latent_width: int):
    """New UNet, condition projector and (with `--melody_input pianoroll`) piano-roll encoder from the flags."""
    from mmgen.models.condition import ConditionProjector
    from mmgen.models.melody_encoder import PianoRollEncoder
    from mmgen.models.unet import make_unet

    projector = ConditionProjector(
        query_dim=dim,
        melody_dim=dim,
        hidden_dim=args.projector_hidden_dim,
        condition_dim=args.condition_dim,
        use_melody=args.condition == "melody",
        condition_dropout=args.condition_dropout,
        melody_dropout=args.melody_dropout,
        normalize_inputs=args.normalize_condition_inputs,
    )
    overrides = {}
    if args.unet_block_out_channels:
        overrides["block_out_channels"] = tuple(int(c) for c in args.unet_block_out_channels.split(","))
        overrides["attention_head_dim"] = min(overrides["block_out_channels"])
    sketch_channels = latent_channels if args.melody_input != "none" else 0
    unet = make_unet(args.unet_preset, args.condition_dim, latent_channels, sketch_channels=sketch_channels,
                     **overrides)  # fmt: skip
    melody_encoder = None
    if args.melody_input == "pianoroll":
        melody_encoder = PianoRollEncoder(out_channels=latent_channels, latent_width=latent_width)
    return unet, projector, melody_encoder


def load_pretrained_models(folder: str, melody_input: str):
    """The UNet, condition projector and piano-roll encoder (or None) of a pipeline folder, in float32."""
    from diffusers import UNet2DConditionModel

    from mmgen.models.condition import ConditionProjector
    from mmgen.models.melody_encoder import PianoRollEncoder

    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=torch.float32)
    projector = ConditionProjector.from_pretrained(folder, subfolder="condition_projector", torch_dtype=torch.float32)
    melody_encoder = None
    if melody_input == "pianoroll":
        melody_encoder = PianoRollEncoder.from_pretrained(folder, subfolder="melody_encoder",
                                                          torch_dtype=torch.float32)  # fmt: skip
    logger.info(f"fine-tuning the UNet and condition projector of {folder}")
    return unet, projector, melody_encoder


def make_noise_scheduler(args):
    """The training noise schedule: the pipeline folder's (a fine-tune must keep its betas), else the flags'."""
    from diffusers import DDPMScheduler

    if args.pretrained_pipeline:
        config = DDPMScheduler.load_config(args.pretrained_pipeline, subfolder="scheduler")
        return DDPMScheduler.from_config(config, prediction_type="epsilon")
    return DDPMScheduler(
        num_train_timesteps=args.num_train_timesteps,
        beta_start=args.beta_start,
        beta_end=args.beta_end,
        beta_schedule=args.beta_schedule,
        prediction_type="epsilon",
    )


class TrainingClock:
    """Process CPU seconds spent in the training loop, summed over resumes: saved in every checkpoint (`clock.json`,
    written inside `save_state` before the checkpoint's completion marker) and read back by `load_state`."""

    FILE = "clock.json"

    def __init__(self, accelerator):
        self.previous, self.started = 0.0, None
        self.accelerator = accelerator
        accelerator.register_save_state_pre_hook(self._save)
        accelerator.register_load_state_pre_hook(self._load)

    def start(self) -> None:
        self.started = time.process_time()

    def seconds(self) -> float:
        return self.previous + (time.process_time() - self.started if self.started is not None else 0.0)

    def spent(self, budget: float | None) -> bool:
        """Whether `budget` CPU seconds are spent, decided alike by every process (any one's clock past it)."""
        if budget is None:
            return False
        past = torch.tensor([float(self.seconds() >= budget)], device=self.accelerator.device)
        if self.accelerator.num_processes > 1:
            past = self.accelerator.reduce(past, reduction="sum")
        return bool(past.item() > 0)

    def _save(self, models, weights, output_dir) -> None:
        if self.accelerator.is_main_process:  # the main process's clock stands for the run
            write_json(os.path.join(output_dir, self.FILE), {"train_cpu_seconds": self.seconds()})

    def _load(self, models, input_dir) -> None:
        path = os.path.join(input_dir, self.FILE)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                self.previous = float(json.load(f)["train_cpu_seconds"])
            self.started = None


def warm_start(folder: str, unet, projector) -> None:
    """Load a trained pipeline's UNet (and projector, when its configuration matches) into the new models.

    The UNet may gain input channels (the melody sketch): as in diffusers' InstructPix2Pix training, the new
    `conv_in` input channels start at zero, so the warm-started UNet computes exactly what the trained one did.
    """
    from diffusers import UNet2DConditionModel

    from mmgen.models.condition import ConditionProjector

    trained = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=torch.float32)
    state = trained.state_dict()
    weight = state["conv_in.weight"]
    if weight.shape[1] < unet.config.in_channels:
        grown = torch.zeros(weight.shape[0], unet.config.in_channels, *weight.shape[2:], dtype=weight.dtype)
        grown[:, : weight.shape[1]] = weight
        state["conv_in.weight"] = grown
    unet.load_state_dict(state)
    logger.info(f"UNet warm-started from {folder} (conv_in {weight.shape[1]} -> {unet.config.in_channels} inputs)")
    old = ConditionProjector.from_pretrained(folder, subfolder="condition_projector", torch_dtype=torch.float32)
    state = old.state_dict()
    # A projector gaining input normalisation keeps its identity statistics until fit_input_normalization.
    statistics = {k: v for k, v in projector.state_dict().items() if k.endswith(("_mean", "_scale"))}
    state = statistics | state
    if {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in projector.state_dict().items()}:
        projector.load_state_dict(state)
        logger.info(f"condition projector warm-started from {folder}")
    else:
        logger.info(f"condition projector of {folder} has another shape: trained from scratch")


# ------------------------------------------------------------------------------------------------------- validation
def build_pipeline(args, vae, vocoder, unet, projector, aligner, retriever, melody_encoder=None):
    from diffusers import DDIMScheduler

    from mmgen.melody.tokenizer import MelodyTokenizer
    from pipelines.pipeline_mmgen import MMGenPipeline, default_scheduler

    if args.pretrained_pipeline:  # the folder's own sampler settings
        scheduler = DDIMScheduler.from_pretrained(args.pretrained_pipeline, subfolder="scheduler")
    else:
        scheduler = default_scheduler(args.beta_schedule)
    return MMGenPipeline(
        vae=vae,
        vocoder=vocoder,
        unet=unet,
        scheduler=scheduler,
        aligner=aligner,
        condition_projector=projector,
        melody_tokenizer=MelodyTokenizer(),
        retriever=retriever if args.condition == "melody" else None,
        melody_encoder=melody_encoder,
        vocoder_method=args.vocoder_method,
    )


def run_validation(args, accelerator, pipeline, prompts, step) -> dict:
    """Generate a clip per prompt, save the WAVs, log audio and the mean aligner score."""
    pipeline.set_progress_bar_config(disable=True)
    generator = torch.Generator(device="cpu").manual_seed(args.seed)
    out = pipeline(prompts, audio_length_in_s=args.validation_seconds,
                   num_inference_steps=args.validation_inference_steps, generator=generator)  # fmt: skip
    query = pipeline.aligner.embed_text(prompts)
    scores = pipeline.score_audio(torch.from_numpy(out.audios), query).tolist()
    folder = os.path.join(args.output_dir, "validation", f"step-{step}")
    os.makedirs(folder, exist_ok=True)
    for i, audio in enumerate(out.audios):
        save_audio(os.path.join(folder, f"{i}.wav"), audio, SAMPLE_RATE)
    result = {"step": step, "prompts": prompts, "alignment_scores": scores, "alignment_score": float(np.mean(scores)),
              "melodies": [m["id"] if m else None for m in out.melodies]}  # fmt: skip
    write_json(os.path.join(folder, "results.json"), result)
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            for i, audio in enumerate(out.audios):
                tracker.writer.add_audio(f"validation/{i}", audio, step, sample_rate=SAMPLE_RATE)
    accelerator.log({"validation/alignment_score": result["alignment_score"]}, step=step)
    logger.info(f"validation at step {step}: alignment score {result['alignment_score']:.4f}")
    return result


# ------------------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    from mmgen.data import load_musicset
    from mmgen.finetune import add_melodies, add_unet_lora, empty_like, save_and_fuse_lora

    args = parse_args(argv)
    # Imported now, not when the final pipeline is saved: a run lasts hours, and a pipeline module edited meanwhile
    # would meet the older modules this process already holds (three runs lost their last steps that way).
    import pipelines.pipeline_mmgen  # noqa: F401

    accelerator = make_accelerator(args)
    aligner, vae, vocoder, retriever, retriever_cls = load_frozen(args, accelerator.device)
    dataset = load_musicset(args.dataset)
    if args.condition == "melody" and retriever is None:
        retriever = load_or_build_retriever(args, accelerator, retriever_cls, aligner, dataset["train"])

    # 1. Frozen features (VAE posteriors, q, own melodies), cached once and shared via --cache_dir; then r
    cache = load_or_build_cache(args, accelerator, dataset["train"], aligner, vae)
    melody = melody_condition(args, cache, retriever)
    tensors = [cache["mean"], cache["std"], cache["query"]] + ([melody] if melody is not None else [])
    if args.melody_input == "sketch":
        tensors += [cache["sketch_transcribed"], cache["sketch_score"]]
    elif args.melody_input == "pianoroll":
        with open(_texts_path(cache_paths(args)[0]), encoding="utf-8") as f:
            rolls = build_piano_rolls(json.load(f), cache["mean"].shape[2], 4 * HOP_LENGTH / SAMPLE_RATE)
        tensors += [rolls["roll_transcribed"], rolls["roll_score"]]
    train_data = torch.utils.data.TensorDataset(*tensors, torch.arange(len(tensors[0])))  # last: the row numbers
    loader = torch.utils.data.DataLoader(train_data, batch_size=args.train_batch_size, shuffle=True,
                                         num_workers=args.dataloader_num_workers, drop_last=False)  # fmt: skip

    # 2. Trainable models: the pipeline folder's, or new ones of the flags' architecture
    dim = aligner.config.projection_dim
    if args.pretrained_pipeline:
        unet, projector, melody_encoder = load_pretrained_models(args.pretrained_pipeline, args.melody_input)
    else:
        unet, projector, melody_encoder = make_models(args, dim, vae.config.latent_channels, cache["mean"].shape[3])
        if args.init_from:
            warm_start(args.init_from, unet, projector)
    trained = {"unet": unet, "projector": projector} | ({"melody_encoder": melody_encoder} if melody_encoder else {})
    if args.finetune == "lora":  # only the adapter trains; the projector (and melody encoder) stay as they are
        lora_params = add_unet_lora(unet, args.lora_rank, args.lora_alpha, args.lora_target_modules.split(","))
        for model in (projector, melody_encoder):
            if model is not None:
                model.requires_grad_(False).eval().to(accelerator.device)
        trained = {"unet": unet}
        logger.info(f"LoRA rank {args.lora_rank}: {sum(p.numel() for p in lora_params):,} trainable parameters")
    if args.normalize_condition_inputs:  # before the EMA and optimizer take copies of the parameters
        projector.fit_input_normalization(cache["query"], melody)
    noise_scheduler = make_noise_scheduler(args)
    ema = {}
    if args.use_ema:
        ema = {name: EMAModel(model.parameters(), decay=args.ema_decay, model_cls=type(model),
                              model_config=model.config) for name, model in trained.items()}  # fmt: skip
    # Checkpoints hold the trained models and their EMA weights as save_pretrained folders (diffusers' hooks); a
    # LoRA-adapted UNet is left to accelerate's own file (its peft layers are not a plain UNet's state).
    hooked = {} if args.finetune == "lora" else trained
    register_pretrained_hooks(accelerator, hooked, ema=ema, mismatch_hint="the model flags differ")
    clock = TrainingClock(accelerator)

    params = [p for model in trained.values() for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.learning_rate, weight_decay=args.adam_weight_decay)
    lr_scheduler = get_scheduler(
        args.lr_scheduler,
        optimizer=optimizer,
        num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=args.max_train_steps * accelerator.num_processes,
    )
    if args.finetune == "lora":
        unet, optimizer, loader, lr_scheduler = accelerator.prepare(unet, optimizer, loader, lr_scheduler)
    else:
        unet, projector, optimizer, loader, lr_scheduler = accelerator.prepare(
            unet, projector, optimizer, loader, lr_scheduler
        )
        if melody_encoder is not None:
            melody_encoder = accelerator.prepare(melody_encoder)
    trained = {"unet": unet} | ({} if args.finetune == "lora" else {"projector": projector})
    trained |= {"melody_encoder": melody_encoder} if melody_encoder is not None and args.finetune == "full" else {}
    for model in ema.values():
        model.to(accelerator.device)
    scaling_factor = vae.config.scaling_factor
    # 3. Resume
    global_step = resume_from_checkpoint(accelerator, args)
    init_trackers(accelerator, "mmgen-diffusion", args)
    validation_prompts = args.validation_prompts or list(dataset["validation"]["caption"][: args.num_validation_clips])

    # 4. Train
    steps_per_epoch = num_update_steps_per_epoch(len(loader), args.gradient_accumulation_steps)
    num_epochs = math.ceil(args.max_train_steps / steps_per_epoch)
    logger.info(f"{len(train_data)} cached crops, {num_epochs} epochs, {args.max_train_steps} steps")
    for model in trained.values():
        model.train()
    _, skip_batches = resume_position(global_step, steps_per_epoch, args.gradient_accumulation_steps)
    validation, first_batch = {}, True
    clock.start()
    finished = global_step >= args.max_train_steps or clock.spent(args.max_train_cpu_seconds)
    while not finished:
        epoch_loader = skip_consumed_batches(accelerator, loader, skip_batches)  # a resumed epoch goes on
        skip_batches = 0
        for batch in epoch_loader:
            if first_batch:
                log_first_batch(accelerator, batch[-1].tolist())  # the cached crops' row numbers
                first_batch = False
            with accelerator.accumulate(*trained.values()):
                draws = draw_step_noise(args, batch, accelerator.unwrap_model(projector),
                                        noise_scheduler.config.num_train_timesteps)  # fmt: skip
                loss = diffusion_loss(args, batch, draws, unet, projector, melody_encoder, noise_scheduler,
                                      scaling_factor, accelerator)  # fmt: skip
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(params, args.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()

            if not accelerator.sync_gradients:
                continue
            global_step += 1
            for name, model_ema in ema.items():
                model_ema.step(trained[name].parameters())
            if global_step % args.logging_steps == 0 or global_step == 1:
                loss_value = accelerator.gather(loss.detach()).mean().item()
                accelerator.log({"train/loss": loss_value, "lr": lr_scheduler.get_last_lr()[0]}, step=global_step)
                logger.info(f"step {global_step}: loss {loss_value:.4f}")
            if global_step % args.checkpointing_steps == 0:
                save_checkpoint(accelerator, args, global_step)
            if accelerator.is_main_process and (
                global_step % args.validation_steps == 0 or global_step == args.max_train_steps
            ):
                with ema_weights(ema, trained):
                    models = {"projector": projector, "melody_encoder": melody_encoder}  # frozen with LoRA
                    models |= {name: accelerator.unwrap_model(model) for name, model in trained.items()}
                    pipeline = build_pipeline(args, vae, vocoder, models["unet"], models["projector"], aligner,
                                              retriever, models.get("melody_encoder"))  # fmt: skip
                    validation = run_validation(args, accelerator, pipeline, validation_prompts, global_step)
                for model in trained.values():
                    model.train()
            if clock.spent(args.max_train_cpu_seconds):
                logger.info(f"CPU-time budget spent ({clock.seconds():.0f} s) at step {global_step}")
                if global_step % args.checkpointing_steps:  # a resumed run then knows the budget is spent
                    save_checkpoint(accelerator, args, global_step)
                finished = True
                break
            if global_step >= args.max_train_steps:
                finished = True
                break

    # 5. Save the complete pipeline (EMA weights) in output_dir
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final = {name: accelerator.unwrap_model(model).eval() for name, model in trained.items()}
        for name, model_ema in ema.items():
            model_ema.copy_to(final[name].parameters())
        if args.finetune == "lora":  # the adapter beside the pipeline, fused into the UNet it saves
            final["unet"] = save_and_fuse_lora(final["unet"], os.path.join(args.output_dir, "unet_lora"))
        final.setdefault("projector", projector)
        final.setdefault("melody_encoder", melody_encoder)
        added = 0
        if args.add_melodies and retriever is not None:
            if args.retrieve_from == "own":
                retriever = empty_like(retriever)
            added = add_melodies(retriever, aligner, dataset["train"])
            logger.info(f"added {added} melodies of {args.dataset} to the retriever ({len(retriever)} in all)")
        pipeline = build_pipeline(args, vae, vocoder, final["unet"], final["projector"], aligner, retriever,
                                  final.get("melody_encoder"))  # fmt: skip
        pipeline.save_pretrained(args.output_dir)
        summary = {"global_step": global_step, "train_cpu_seconds": clock.seconds(), "melodies_added": added}
        write_json(os.path.join(args.output_dir, "training_args.json"),
                   {k: v for k, v in vars(args).items()} | summary)  # fmt: skip
        save_model_card(
            args.output_dir, title="MMGen pipeline", script="train/diffusion.py", args=args, global_step=global_step,
            num_processes=accelerator.num_processes, tags=("text-to-music", "latent-diffusion", "melody"),
            description="A complete `MMGenPipeline` (melody-guided latent diffusion): frozen aligner, retriever, VAE "
            "and vocoder with the trained UNet and condition projector (EMA weights). Load with "
            "`MMGenPipeline.from_pretrained(path)`.",
            results={"validation alignment score": validation["alignment_score"]} if validation else None,
        )
        logger.info(f"saved the pipeline to {args.output_dir}")
    accelerator.end_training()


class ema_weights:  # noqa: N801 - used as a context manager
    """Temporarily swap the EMA weights into the models (for validation), restoring the trained ones after."""

    def __init__(self, ema: dict, models: dict):
        self.pairs = [(ema[name], model) for name, model in models.items() if name in ema]

    def __enter__(self):
        for model_ema, model in self.pairs:
            model_ema.store(model.parameters())
            model_ema.copy_to(model.parameters())
            model.eval()

    def __exit__(self, *exc):
        for model_ema, model in self.pairs:
            model_ema.restore(model.parameters())
        return False


if __name__ == "__main__":
    main()
