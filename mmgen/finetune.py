"""Fine-tuning a trained MMGen pipeline folder on the user's own music (`train/diffusion.py --pretrained_pipeline`).

What the script needs beyond plain training: the folder checked and read (which components, which conditioning),
a UNet LoRA through peft (diffusers' `add_adapter`), fused into the UNet's own weights for saving so the result
loads with plain `MMGenPipeline.from_pretrained`, and the user's melodies added to the pipeline's retriever so that
text prompts can retrieve them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import torch

# The UNet's 1x1/3x3 convolutions hold ~80% of its weights (the timbre); the attention projections the rest.
LORA_TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0", "conv1", "conv2")
REQUIRED_COMPONENTS = ("unet", "vae", "aligner", "condition_projector", "scheduler")


class PipelineFolderError(ValueError):
    """A pipeline folder that cannot be fine-tuned: missing, or missing a component."""


@dataclass
class PipelineFolder:
    """What `train/diffusion.py` takes from a pipeline folder: component paths and the conditioning they imply."""

    path: str
    aligner: str
    vae: str
    retriever: str | None
    vocoder: str | None  # None: the packaged HiFi-GAN, as the pipeline itself falls back to
    condition: str  # "melody" or "text_only"
    melody_input: str  # "sketch", "pianoroll" or "none"
    vocoder_method: str


def _read_json(path: str, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise PipelineFolderError(f"{what}: '{path}' not found") from None
    except json.JSONDecodeError as err:
        raise PipelineFolderError(f"{what}: '{path}' is not valid JSON ({err})") from err


def read_pipeline_folder(folder: str | os.PathLike) -> PipelineFolder:
    """Check that `folder` is a complete `MMGenPipeline` folder and read its conditioning.

    Raises:
        PipelineFolderError: the folder, its `model_index.json` or a component's config is missing, naming which.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise PipelineFolderError(f"pipeline folder '{folder}' does not exist")
    index = _read_json(os.path.join(folder, "model_index.json"), f"'{folder}' is not a pipeline folder")
    configs = {}
    for name in REQUIRED_COMPONENTS + (("retriever",) if (index.get("retriever") or [None])[0] else ()):
        config_name = "scheduler_config.json" if name == "scheduler" else "config.json"
        path = os.path.join(folder, name, config_name)
        if not os.path.isfile(path):
            raise PipelineFolderError(f"pipeline folder '{folder}' lacks its {name} component ({path} not found)")
        configs[name] = _read_json(path, f"the {name} component of '{folder}'")
    use_melody = bool(configs["condition_projector"].get("use_melody", True))
    if (index.get("melody_encoder") or [None])[0]:
        melody_input = "pianoroll"
    elif configs["unet"].get("in_channels", 0) > configs["vae"].get("latent_channels", 0):
        melody_input = "sketch"
    else:
        melody_input = "none"
    if use_melody and "retriever" not in configs and melody_input == "none":
        raise PipelineFolderError(f"pipeline folder '{folder}' conditions on melodies but has no retriever")
    vocoder = os.path.join(folder, "vocoder")
    return PipelineFolder(
        path=folder,
        aligner=os.path.join(folder, "aligner"),
        vae=os.path.join(folder, "vae"),
        retriever=os.path.join(folder, "retriever") if "retriever" in configs else None,
        vocoder=vocoder if os.path.isfile(os.path.join(vocoder, "config.json")) else None,
        condition="melody" if use_melody else "text_only",
        melody_input=melody_input,
        vocoder_method=index.get("vocoder_method", "hybrid"),
    )


def add_unet_lora(unet, rank: int, alpha: float | None = None, target_modules=LORA_TARGET_MODULES) -> list:
    """Freeze `unet` and give it a peft LoRA adapter (diffusers' `add_adapter`); returns the trainable parameters.

    The LoRA B matrices start at zero, so the adapted UNet first computes exactly what the pretrained one did.
    """
    from peft import LoraConfig

    unet.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=alpha or rank, init_lora_weights="gaussian",
                        target_modules=list(target_modules))  # fmt: skip
    unet.add_adapter(config)
    return [p for p in unet.parameters() if p.requires_grad]


def save_and_fuse_lora(unet, adapter_dir: str | None = None):
    """Save the adapter (small safetensors, `unet.load_lora_adapter` reads it) and fuse it into the UNet's weights.

    Returns the UNet without peft layers: a plain `UNet2DConditionModel` whose weights include the LoRA update, so
    that the saved pipeline folder loads with plain `MMGenPipeline.from_pretrained`.
    """
    if adapter_dir is not None:
        unet.save_lora_adapter(adapter_dir, safe_serialization=True)
    unet.fuse_lora(lora_scale=1.0)
    unet.unload_lora()
    return unet


def empty_like(retriever):
    """A retriever with no melodies and the same index type, search settings and aligner as `retriever`."""
    config = retriever.config
    return type(retriever)(
        embedding_dim=config.embedding_dim, index_type=config.index_type, index_params=dict(config.index_params),
        aligner_name_or_path=config.aligner_name_or_path,
    )  # fmt: skip


@torch.no_grad()
def add_melodies(retriever, aligner, split, batch_size: int = 64) -> int:
    """Embed every melody of a MusicSet split with the pipeline's aligner and add it to the retriever.

    Rows already in the retriever (same `id`) are skipped, so running it twice adds nothing. Returns how many
    melodies were added.
    """
    from .retrieval.serialization import METADATA_KEYS

    known = {row.get("id") for row in retriever.metadata}
    rows = [row for row in split.select_columns(list(METADATA_KEYS)) if row["id"] not in known and row["melody"]]
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        embeddings = aligner.embed_melody([row["melody"] for row in batch]).float().cpu()
        retriever.add(embeddings, [dict(row) for row in batch])
    return len(rows)
