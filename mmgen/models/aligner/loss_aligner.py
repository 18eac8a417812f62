"""Contrastive loss of the TriModalAligner (paper eq. 6-7), correct on any number of processes.

Every process gathers the embeddings of all three modalities from all processes *with gradients*
(`torch.distributed.nn.functional.all_gather`, whose backward sums the gradients of each slice over
processes and hands each process the gradient for its own slice), then computes the loss of the global batch.
All processes hold the same loss; after the usual gradient averaging (DDP / accelerate) the gradients equal the
single-process gradients of the same global batch. The official implementation gathers audio and text only,
so its melody terms only see the local batch.
"""

from __future__ import annotations

from itertools import combinations

import torch
from torch import nn


def contrastive_loss(logits: torch.Tensor) -> torch.Tensor:
    """InfoNCE of one direction: row i's positive is column i.

    Args:
        logits (`torch.Tensor` of shape `(N, N)`): scaled similarities, queries in rows.
    """
    # Adapted from transformers/models/clap/modeling_clap.py (contrastive_loss)
    labels = torch.arange(logits.shape[0], device=logits.device)
    return nn.functional.cross_entropy(logits, labels)


def is_distributed() -> bool:
    return (
        torch.distributed.is_available()
        and torch.distributed.is_initialized()
        and torch.distributed.get_world_size() > 1
    )


def gather_with_grad(features: torch.Tensor) -> torch.Tensor:
    """Concatenate `features` `(b, D)` of every process into `(world_size * b, D)`, keeping the autograd graph.

    All processes must pass the same local batch size (train with `drop_last=True`).
    """
    if not is_distributed():
        return features
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(features.contiguous()), dim=0)


def pairwise_logits(embeds: dict[str, torch.Tensor], logit_scale: torch.Tensor) -> dict[tuple[str, str], torch.Tensor]:
    """Scaled cosine similarities for every ordered pair of the given modalities.

    Args:
        embeds (`dict[str, torch.Tensor]`): L2-normalised embeddings `(N, D)` per modality.
        logit_scale (`torch.Tensor`): scalar, 1 / temperature (already exponentiated).
    Returns:
        `{(x, y): logits (N, N)}` with rows = x queries, columns = y candidates, for both orders of each pair.
    """
    logits = {}
    for x, y in combinations([m for m in ("audio", "text", "melody") if m in embeds], 2):
        logits[(x, y)] = logit_scale * embeds[x] @ embeds[y].t()
        logits[(y, x)] = logits[(x, y)].t()
    return logits


def multimodal_contrastive_loss(logits: dict[tuple[str, str], torch.Tensor]) -> torch.Tensor:
    """Mean of the InfoNCE terms of all directions in `logits` (six for three modalities: eq. 6)."""
    return torch.stack([contrastive_loss(v) for v in logits.values()]).mean()
