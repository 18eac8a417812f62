"""Embed a MusicSet split with the aligner, per modality, in batches (for the ISR sweep and the benchmark)."""

from __future__ import annotations

import logging

import numpy as np
import torch

from .retriever import _as_matrix
from .serialization import RetrieverError

logger = logging.getLogger(__name__)

MODALITY_COLUMNS = {"melody": "melody", "text": "caption", "audio": "audio"}


def embed_split(
    aligner, dataset_split, modalities=("melody", "audio", "text"), batch_size: int = 32
) -> dict[str, np.ndarray]:
    r"""
    Embed every row of a MusicSet split in the requested modalities.

    Args:
        aligner (`TriModalAligner`): with `embed_melody`, `embed_audio` and `embed_text`.
        dataset_split (`datasets.Dataset`): columns `melody`, `caption` and `audio` as needed.
        modalities (`tuple[str]`): any of `"melody"`, `"audio"`, `"text"`.
        batch_size (`int`): rows per aligner call.

    Returns:
        `dict[str, np.ndarray]`: one float32 `(n_rows, dim)` array per modality, row `i` = split row `i`.
    """
    unknown = sorted(set(modalities) - set(MODALITY_COLUMNS))
    if unknown:
        raise RetrieverError(f"unknown modalities {', '.join(unknown)}; choose from {', '.join(MODALITY_COLUMNS)}")
    missing = [MODALITY_COLUMNS[m] for m in modalities if MODALITY_COLUMNS[m] not in dataset_split.column_names]
    if missing:
        raise RetrieverError(f"the dataset split lacks the column(s) {', '.join(missing)}")
    outputs = {modality: [] for modality in modalities}
    n = len(dataset_split)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        with torch.no_grad():
            for modality in modalities:
                column = MODALITY_COLUMNS[modality]
                if modality == "audio":
                    from mmgen.data import decode_audio

                    rows = dataset_split.select(range(start, stop))
                    embeds = aligner.embed_audio([decode_audio(row) for row in rows])
                elif modality == "melody":
                    embeds = aligner.embed_melody(list(dataset_split[start:stop][column]))
                else:
                    embeds = aligner.embed_text(list(dataset_split[start:stop][column]))
                outputs[modality].append(_as_matrix(embeds, f"aligner.embed_{modality} output"))
        logger.info("embedded %d / %d rows", stop, n)
    return {m: np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32) for m, chunks in outputs.items()}
