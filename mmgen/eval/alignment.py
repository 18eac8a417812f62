"""Alignment score: cosine between a clip's and its prompt's `TriModalAligner` embeddings (CLAP-score style)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


class AlignmentInputError(ValueError):
    """Audio clips and prompts that cannot be paired."""


def alignment_score(aligner, audios: Sequence[np.ndarray] | torch.Tensor, prompts: Sequence[str]) -> np.ndarray:
    """Per-pair cosine similarity between generated audio and its text prompt in the aligner's joint space.

    Args:
        aligner: an object with `embed_audio(list[np.ndarray @ 22,050 Hz] or (B, samples)) -> (B, D)` and
            `embed_text(list[str]) -> (B, D)`, e.g. `TriModalAligner`.
        audios (`list[np.ndarray]` of shape `(samples,)` or `torch.Tensor` of shape `(B, samples)`): the clips.
        prompts (`list[str]`): one prompt per clip.

    Returns:
        `np.ndarray` float32 of shape `(B,)` in [-1, 1]; embeddings are re-normalised here, so an aligner that
        returns unnormalised vectors still gives a cosine. Use it to re-rank candidates (higher is better)
        or average it for evaluation.
    """
    if isinstance(prompts, str):
        raise AlignmentInputError("prompts must be a list of strings, one per clip, not a single string")
    if len(audios) != len(prompts):
        raise AlignmentInputError(f"{len(audios)} audio clips but {len(prompts)} prompts")
    if len(prompts) == 0:
        raise AlignmentInputError("no clips to score")
    audio_input = audios if isinstance(audios, torch.Tensor) else [np.asarray(a, dtype=np.float32) for a in audios]
    with torch.no_grad():
        audio_embeds = torch.as_tensor(aligner.embed_audio(audio_input)).float()
        text_embeds = torch.as_tensor(aligner.embed_text(list(prompts))).float()
    if audio_embeds.shape != text_embeds.shape:
        raise AlignmentInputError(f"audio embeddings {tuple(audio_embeds.shape)} vs text {tuple(text_embeds.shape)}")
    cosine = torch.nn.functional.cosine_similarity(audio_embeds, text_embeds, dim=-1)
    return cosine.cpu().numpy().astype(np.float32)
