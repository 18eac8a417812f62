"""Tiny seeded components for the MMGenPipeline and training tests (diffusers' `get_dummy_components` pattern).

Every component is the real class at a tiny size: `TriModalAligner` (2-layer 16-wide random BERT text tower from
`fixtures`), mel VAE, UNet, HiFi-GAN, `MelodyRetriever`, `ConditionProjector` and
`MelodyTokenizer`.
"""

from __future__ import annotations

import functools
import tempfile

import torch
from fixtures import save_tiny_text_encoder, tiny_aligner_config
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

from mmgen.audio import N_MELS
from mmgen.melody.notes import Note
from mmgen.melody.tokenizer import MelodyTokenizer, notes_to_string
from mmgen.models.aligner import TriModalAligner
from mmgen.models.condition import ConditionProjector
from mmgen.models.unet import make_unet
from mmgen.models.vae import build_vae
from mmgen.retrieval import MelodyRetriever

EMBED_DIM = 16


@functools.lru_cache(maxsize=1)
def tiny_text_encoder_dir() -> str:
    """A tiny random BERT saved once per test process (the aligner re-reads its frozen weights from here)."""
    return save_tiny_text_encoder(tempfile.mkdtemp(prefix="mmgen-tiny-text-"))


def tiny_aligner(projection_dim: int = EMBED_DIM) -> TriModalAligner:
    torch.manual_seed(0)
    config = tiny_aligner_config(tiny_text_encoder_dir(), projection_dim=projection_dim)
    return TriModalAligner.from_text_pretrained(config).eval()


def dummy_melodies(count: int = 6) -> list[dict]:
    """Metadata rows of a tiny melody database (ascending scales from different roots)."""
    rows = []
    for i in range(count):
        notes = [Note(0.25 * j, 0.25 * j + 0.2, 55 + 2 * i + j, 100) for j in range(6)]
        rows.append({"id": f"mel-{i}", "melody": notes_to_string(notes), "caption": f"tune {i}", "source": "dummy"})
    return rows


def tiny_vocoder() -> SpeechT5HifiGan:
    torch.manual_seed(0)
    config = SpeechT5HifiGanConfig(
        model_in_dim=N_MELS,
        upsample_initial_channel=16,
        upsample_rates=[8, 8, 4],
        upsample_kernel_sizes=[16, 16, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1]],
        normalize_before=False,
    )
    return SpeechT5HifiGan(config).eval()


def get_dummy_components(use_melody: bool = True, melody_dropout: float = 0.1, melody_sketch: bool = False) -> dict:
    """Seeded tiny components of an `MMGenPipeline` (keyword arguments of its constructor); `melody_sketch`: the
    UNet takes the frame-aligned melody sketch beside the noisy latent (the v2 design)."""
    from pipelines.pipeline_mmgen import default_scheduler

    aligner = tiny_aligner()
    torch.manual_seed(0)
    vae = build_vae("tiny").eval()
    torch.manual_seed(0)
    sketch_channels = vae.config.latent_channels if melody_sketch else 0
    unet = make_unet("cpu", condition_dim=EMBED_DIM, block_out_channels=(8, 16), attention_head_dim=4,
                     sketch_channels=sketch_channels).eval()  # fmt: skip
    torch.manual_seed(0)
    projector = ConditionProjector(
        query_dim=EMBED_DIM,
        melody_dim=EMBED_DIM,
        hidden_dim=32,
        condition_dim=EMBED_DIM,
        use_melody=use_melody,
        melody_dropout=melody_dropout if use_melody else 0.0,
    ).eval()
    with torch.no_grad():  # non-zero nulls so that guidance has something to do in the tests
        projector.null_query.normal_()
        if use_melody:
            projector.null_melody.normal_()
    rows = dummy_melodies()
    retriever = MelodyRetriever.from_embeddings(aligner.embed_melody([r["melody"] for r in rows]), rows, "flat")
    return {
        "vae": vae,
        "vocoder": tiny_vocoder(),
        "unet": unet,
        "scheduler": default_scheduler(),
        "aligner": aligner,
        "condition_projector": projector,
        "melody_tokenizer": MelodyTokenizer(),
        "retriever": retriever if use_melody else None,
    }
