"""Inputs of the TriModalAligner: the caption and melody tokenizers, the audio feature extractor and the windowing.

Shaped like transformers' `ClapProcessor` (`processing_clap.py`), with a third modality: one object that turns raw
captions, melody token strings and waveforms into the tensors `TriModalAligner.forward` and its `get_*_features`
take, and cuts long melodies and clips into the windows the towers were trained on. `modeling_aligner.py` holds the
model only; its `embed_*` helpers use this processor.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .configuration_aligner import TriModalAlignerConfig, resolve_text_encoder_path
from .feature_extraction_aligner import TriModalAlignerFeatureExtractor


class TriModalAlignerProcessor:
    r"""
    Captions, melodies and audio in; the aligner's input tensors out.

    Args:
        config (`TriModalAlignerConfig`): the aligner's config (text encoder, lengths, window and clip seconds).
        text_tokenizer (*optional*): the caption tokenizer; by default loaded on first use from
            `config.text_config.encoder_name_or_path`.
        melody_tokenizer (`MelodyTokenizer`, *optional*): by default made on first use.

    ```py
    >>> processor = TriModalAlignerProcessor(aligner.config)
    >>> inputs = processor.tokenize_text(["a calm piano melody"]) | processor.tokenize_melody(["<C4>,<114>,<79>"])
    >>> aligner(**inputs).logits_text_melody
    ```
    """

    def __init__(self, config: TriModalAlignerConfig, text_tokenizer=None, melody_tokenizer=None):
        self.config = config
        self._text_tokenizer = text_tokenizer
        self._melody_tokenizer = melody_tokenizer

    @property
    def text_tokenizer(self):
        if self._text_tokenizer is None:
            from transformers import AutoTokenizer

            self._text_tokenizer = AutoTokenizer.from_pretrained(
                resolve_text_encoder_path(self.config.text_config.encoder_name_or_path)
            )
        return self._text_tokenizer

    @property
    def melody_tokenizer(self):
        if self._melody_tokenizer is None:
            from ...melody.tokenizer import MelodyTokenizer

            self._melody_tokenizer = MelodyTokenizer()
        return self._melody_tokenizer

    @property
    def feature_extractor(self) -> TriModalAlignerFeatureExtractor:
        return TriModalAlignerFeatureExtractor(
            clip_seconds=self.config.audio_clip_seconds, pitch_bins=self.config.audio_pitch_bins
        )

    @staticmethod
    def _tokenize(tokenizer, items: list[str], max_length: int) -> dict[str, torch.Tensor]:
        out = tokenizer(list(items), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}

    def tokenize_text(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Captions -> `input_ids`, `attention_mask` `(B, L)` (padded to the longest, truncated to max_length)."""
        return self._tokenize(self.text_tokenizer, texts, self.config.text_config.max_length)

    def tokenize_melody(self, melodies: list[str]) -> dict[str, torch.Tensor]:
        """Melody token strings -> `melody_input_ids`, `melody_attention_mask` `(B, L)` (right padding)."""
        out = self._tokenize(self.melody_tokenizer, melodies, self.config.melody_config.max_position_embeddings)
        return {f"melody_{key}": value for key, value in out.items()}

    def melody_windows(self, melodies: list[str], window_seconds: float | None = None) -> tuple[list[str], list[int]]:
        """Each melody cut into windows of `window_seconds` (`mmgen.melody.melody_windows`).

        `window_seconds` defaults to `config.melody_window_seconds`, itself defaulting to `audio_clip_seconds` (the
        crop length the towers are trained on); 0 keeps every melody whole.

        Returns:
            `(windows, owners)`: the token strings of all windows, and for each the index of its melody.
        """
        from ...melody.windows import melody_windows

        if window_seconds is None:
            window_seconds = self.config.melody_window_seconds
        window = self.config.audio_clip_seconds if window_seconds is None else float(window_seconds)
        pieces, owners = [], []
        for number, melody in enumerate(melodies):
            cut = melody_windows(melody, window) if window > 0 else [melody]
            pieces += cut
            owners += [number] * len(cut)
        return pieces, owners

    def audio_windows(
        self, audios: list[np.ndarray] | np.ndarray | torch.Tensor, sampling_rate: int
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Each clip cut into `config.audio_clip_seconds` windows of `input_features` (the feature extractor).

        Returns:
            `(windows, owners)`: one `(80 + audio_pitch_bins, frames)` tensor per window, and for each the index of
            its clip (`torch.LongTensor`).
        """
        features = self.feature_extractor(audios, sampling_rate=sampling_rate)
        return list(features["input_features"]), features["clip_index"]


def average_windows(per_window: torch.Tensor, owners: torch.Tensor, count: int) -> torch.Tensor:
    """Window embeddings `(W, D)` of `count` items (`owners[w]`: the item of window w) -> `(count, D)`, unit length."""
    summed = torch.zeros(count, per_window.shape[-1]).index_add_(0, owners, per_window)
    return nn.functional.normalize(summed, dim=-1)
