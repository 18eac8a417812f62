"""Torch access to a MusicSet split: log-mel crops, captions and the melody tokens of the notes inside each crop.

```py
>>> from torch.utils.data import DataLoader
>>> from mmgen.data import MusicSetCollator, MusicSetTorchDataset, load_musicset
>>> train = MusicSetTorchDataset(load_musicset("data/musicset-tiny")["train"], clip_seconds=5.0)
>>> loader = DataLoader(train, batch_size=8, shuffle=True, collate_fn=MusicSetCollator())
>>> batch = next(iter(loader))  # mel (8, 80, 430), captions, melody_input_ids (8, L), ...
```
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ..audio import HOP_LENGTH, LOG_MEL_SILENCE, N_MELS, SAMPLE_RATE, log_mel_spectrogram, semitone_spectrogram
from ..melody.windows import crop_melody
from .format import MusicSetError, decode_audio, load_musicset


class MusicSetTorchDataset(torch.utils.data.Dataset):
    """A MusicSet split as a torch `Dataset` of fixed-length crops.

    Args:
        split (`datasets.Dataset` or `str`): a split of `load_musicset(...)`, or the path of a MusicSet folder
            (then `split_name` picks the split).
        clip_seconds (`float`): crop length; the crop is `int(clip_seconds * 22050) // 256` mel frames. Clips
            shorter than that are padded (silence in the mel, zeros in the waveform).
        random_crop (`bool`): a random, frame-aligned crop start (training); False crops from the clip's start.
        return_waveform (`bool`): also return the cropped waveform.
        seed (`int`): seed of the crop positions (combined with the DataLoader worker id).
        split_name (`str`): the split to read when `split` is a path.
        cache_mels (`bool`): keep each clip's full log-mel in memory (float16) after its first use, so later
            epochs skip FLAC decoding and the STFT (about 80 kB per 10 s clip).
        alt_caption_prob (`float`): probability of returning one of the row's `alt_captions` instead of its
            `caption` (text augmentation; 0 disables).
        pitch_features (`bool`): also return the crop's semitone spectrogram (`mmgen.audio.semitone_spectrogram`,
            the aligner's pitch rows), cached like the mels.
    Item:
        dict with `mel` float32 tensor `(80, frames)`, optionally `pitch` float32 `(64, frames)` and `waveform`
        float32 `(frames * 256,)`, `caption`
        `str`, `melody` `str` (tokens of the notes inside the crop), `id` `str`, `start_s` `float`.
    """

    def __init__(
        self,
        split,
        clip_seconds: float = 5.0,
        random_crop: bool = True,
        return_waveform: bool = False,
        seed: int = 0,
        *,
        split_name: str = "train",
        cache_mels: bool = True,
        alt_caption_prob: float = 0.0,
        pitch_features: bool = False,
    ):
        if isinstance(split, (str, os.PathLike)):
            split = load_musicset(split)[split_name]
        missing = {"id", "audio", "caption", "melody"} - set(split.column_names)
        if missing:
            raise MusicSetError(f"the split lacks the MusicSet column(s) {sorted(missing)}")
        if clip_seconds * SAMPLE_RATE < 2 * HOP_LENGTH:
            raise MusicSetError(f"clip_seconds={clip_seconds} is too short for a mel spectrogram")
        if not 0.0 <= alt_caption_prob <= 1.0:
            raise MusicSetError(f"alt_caption_prob must be in [0, 1], got {alt_caption_prob}")
        columns = [c for c in ("id", "audio", "caption", "alt_captions", "melody") if c in split.column_names]
        self.data = split.select_columns(columns)
        self.clip_seconds = float(clip_seconds)
        self.num_frames = int(clip_seconds * SAMPLE_RATE) // HOP_LENGTH
        self.num_samples = self.num_frames * HOP_LENGTH
        self.random_crop = random_crop
        self.return_waveform = return_waveform
        self.seed = seed
        self.cache_mels = cache_mels
        self.alt_caption_prob = alt_caption_prob
        self.pitch_features = pitch_features
        self._mel_cache: dict[int, np.ndarray] = {}
        self._rng = None

    def __len__(self) -> int:
        return len(self.data)

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None:  # created lazily so that every DataLoader worker gets its own stream
            info = torch.utils.data.get_worker_info()
            self._rng = np.random.default_rng([self.seed, info.id if info is not None else 0])
        return self._rng

    def _full_mel(self, index: int, row: dict) -> tuple[np.ndarray, np.ndarray | None]:
        """The whole clip's log-mel `(80, frames)`, with its semitone rows below when `pitch_features` (cached), and,
        when needed, its waveform."""
        wave = None
        mel = self._mel_cache.get(index)
        if mel is None or self.return_waveform:
            wave = decode_audio(row)
        if mel is None:
            mel = log_mel_spectrogram(wave).astype(np.float32)
            if self.pitch_features:
                mel = np.concatenate([mel, semitone_spectrogram(wave)])
            if self.cache_mels:
                self._mel_cache[index] = mel.astype(np.float16)
        return mel.astype(np.float32), wave

    def __getitem__(self, index: int) -> dict:
        row = self.data[int(index)]
        mel, wave = self._full_mel(int(index), row)
        total = mel.shape[-1]
        start = (
            int(self.rng.integers(0, total - self.num_frames + 1))
            if self.random_crop and total > self.num_frames
            else 0
        )
        crop = np.full((mel.shape[0], self.num_frames), LOG_MEL_SILENCE, dtype=np.float32)
        piece = mel[:, start : start + self.num_frames]
        crop[:, : piece.shape[-1]] = piece
        start_s = start * HOP_LENGTH / SAMPLE_RATE
        caption = row["caption"]
        if self.alt_caption_prob and row.get("alt_captions") and self.rng.random() < self.alt_caption_prob:
            caption = row["alt_captions"][int(self.rng.integers(len(row["alt_captions"])))]
        item = {
            "mel": torch.from_numpy(crop[:N_MELS]),
            "caption": caption,
            "melody": crop_melody(row["melody"], start_s, self.num_samples / SAMPLE_RATE),
            "id": row["id"],
            "start_s": start_s,
        }
        if self.pitch_features:
            item["pitch"] = torch.from_numpy(crop[N_MELS:])
        if self.return_waveform:
            segment = np.zeros(self.num_samples, dtype=np.float32)
            chunk = wave[start * HOP_LENGTH : start * HOP_LENGTH + self.num_samples]
            segment[: len(chunk)] = chunk
            item["waveform"] = torch.from_numpy(segment)
        return item


class MusicSetCollator:
    """Batch `MusicSetTorchDataset` items and tokenize their melodies.

    Args:
        tokenizer (`MelodyTokenizer`, *optional*): defaults to a fresh `MelodyTokenizer()`.
        max_melody_tokens (`int`): truncate melody ids to this length (ids are padded to the batch's longest).
    Returns (from `__call__`):
        dict with `mel` `(B, 80, T)`, `pitch` `(B, 64, T)` and `waveform` `(B, S)` when the items have them,
        `captions` `list[str]`,
        `melody_input_ids` `(B, L)` long, `melody_attention_mask` `(B, L)` long, `ids` `list[str]`,
        `melodies` `list[str]` and `start_s` `(B,)` float.
    """

    def __init__(self, tokenizer=None, max_melody_tokens: int = 512):
        if tokenizer is None:
            from ..melody.tokenizer import MelodyTokenizer

            tokenizer = MelodyTokenizer()
        if max_melody_tokens < 2:
            raise ValueError(f"max_melody_tokens must be at least 2 (room for <s> and </s>), got {max_melody_tokens}")
        self.tokenizer = tokenizer
        self.max_melody_tokens = max_melody_tokens

    def __call__(self, items: list[dict]) -> dict:
        if not items:
            raise ValueError("cannot collate an empty batch")
        frames = max(item["mel"].shape[-1] for item in items)
        melodies = [item["melody"] for item in items]
        tokens = self.tokenizer(
            melodies, padding="longest", max_length=self.max_melody_tokens, truncation=True, return_tensors="pt"
        )
        batch = {
            "mel": _stack_with_silence([item["mel"] for item in items], frames),
            "captions": [item["caption"] for item in items],
            "melody_input_ids": tokens["input_ids"].long(),
            "melody_attention_mask": tokens["attention_mask"].long(),
            "ids": [item["id"] for item in items],
            "melodies": melodies,
            "start_s": torch.tensor([float(item.get("start_s", 0.0)) for item in items]),
        }
        if all("pitch" in item for item in items):
            batch["pitch"] = _stack_with_silence([item["pitch"] for item in items], frames)
        if all("waveform" in item for item in items):
            samples = max(item["waveform"].shape[-1] for item in items)
            batch["waveform"] = torch.stack(
                [
                    torch.nn.functional.pad(item["waveform"], (0, samples - item["waveform"].shape[-1]))
                    for item in items
                ]
            )
        return batch


def _stack_with_silence(spectrograms: list[torch.Tensor], frames: int) -> torch.Tensor:
    """Stack `(rows, T_i)` log spectrograms into `(B, rows, frames)`, padding the short ones with silence."""
    batch = torch.full((len(spectrograms), spectrograms[0].shape[0], frames), LOG_MEL_SILENCE)
    for i, spectrogram in enumerate(spectrograms):
        batch[i, :, : spectrogram.shape[-1]] = spectrogram
    return batch
