"""Audio front end of the TriModalAligner: waveforms -> project log-mels (+ semitone rows) -> the HTS-AT input.

Two steps, so that training can feed the MusicSet collator's spectrograms directly:

1. `TriModalAlignerFeatureExtractor` (waveforms, 22,050 Hz) -> `input_features` of shape `(N, 80 + P, frames)`:
   the project's HiFi-GAN log-mel (`mmgen.audio.log_mel_spectrogram`), followed, when the model has
   `audio_pitch_bins = P = 64`, by the semitone spectrogram (`mmgen.audio.semitone_spectrogram`), cut into windows
   of `clip_seconds` (`frames = clip_seconds * 86.13`). A shorter clip is padded with silence; a longer one is cut
   into consecutive windows, the last one aligned to the clip's end, and `clip_index` says which clip each window
   belongs to (`TriModalAligner.embed_audio` averages their embeddings).
2. `HTSATInputAdapter` (inside the model, no weights): `(B, 80 + P, T)` -> `(B, 1, time_frames, num_mel_bins)`,
   resized with antialiased bilinear interpolation. HTS-AT needs exactly `num_mel_bins` frequency rows and at most
   `spec_size * freq_ratio` time frames: the 80 mel rows (Slaney scale, 0-8 kHz) are interpolated to
   `num_mel_bins - P` rows on the same mel axis, the P semitone rows are kept, and 5 s (431 frames) become
   `time_frames` (256 for the log-mel-only default, 128 with the semitone rows). The encoder's own BatchNorm
   normalises each row.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from transformers import BatchFeature, FeatureExtractionMixin

from ...audio import (
    LOG_MEL_SILENCE,
    N_MELS,
    SAMPLE_RATE,
    AudioError,
    log_mel_spectrogram,
    num_frames,
    resample,
    semitone_spectrogram,
)


def stack_audio_features(log_mel: torch.Tensor, semitones: torch.Tensor | None = None) -> torch.Tensor:
    """The aligner's `input_features`: log-mel rows `(..., 80, T)`, then semitone rows `(..., P, T)` when given."""
    return log_mel if semitones is None else torch.cat([log_mel, semitones], dim=-2)


class HTSATInputAdapter(nn.Module):
    """Resize `input_features` `(B, 80 + pitch_bins, T)` to the HTS-AT input `(B, 1, time_frames, num_mel_bins)`.

    Args:
        num_mel_bins (`int`): frequency rows HTS-AT expects (`audio_config.num_mel_bins`): the resized mel rows
            plus the `pitch_bins` semitone rows.
        time_frames (`int`): time frames HTS-AT expects (`spec_size * spec_size // num_mel_bins`).
        pitch_bins (`int`): semitone rows after the 80 log-mel rows (`config.audio_pitch_bins`; 0: none).
    """

    def __init__(self, num_mel_bins: int, time_frames: int, pitch_bins: int = 0):
        super().__init__()
        self.num_mel_bins = num_mel_bins
        self.time_frames = time_frames
        self.pitch_bins = pitch_bins

    def _resize(self, rows: torch.Tensor, height: int) -> torch.Tensor:
        return nn.functional.interpolate(
            rows.float().unsqueeze(1), size=(height, self.time_frames), mode="bilinear", align_corners=False,
            antialias=True,
        )

    def forward(self, input_features: torch.Tensor) -> torch.Tensor:
        rows = N_MELS + self.pitch_bins
        if input_features.ndim != 3 or input_features.shape[1] != rows:
            what = f"{N_MELS} log-mel rows" + (f" + {self.pitch_bins} semitone rows" if self.pitch_bins else "")
            raise AudioError(
                f"input_features must have shape (batch, {rows}, frames) ({what}; see "
                f"TriModalAlignerFeatureExtractor), got {tuple(input_features.shape)}"
            )
        if input_features.shape[-1] < 2:
            raise AudioError(f"input_features has {input_features.shape[-1]} frame(s); at least 2 are needed")
        image = self._resize(input_features[:, :N_MELS], self.num_mel_bins - self.pitch_bins)
        if self.pitch_bins:  # semitone rows keep their pitch axis; only time is resized
            image = torch.cat([image, self._resize(input_features[:, N_MELS:], self.pitch_bins)], dim=-2)
        return image.transpose(-1, -2).to(input_features.dtype)


class TriModalAlignerFeatureExtractor(FeatureExtractionMixin):
    r"""
    Turns waveforms into the aligner's `input_features`: windows of project log-mels (and semitone rows).

    Args:
        sampling_rate (`int`, *optional*, defaults to 22050): the rate the log-mel front end works at.
        clip_seconds (`float`, *optional*, defaults to 5.0): the window length the audio tower was trained on.
        pitch_bins (`int`, *optional*, defaults to 0): append the semitone spectrogram's rows (the model's
            `config.audio_pitch_bins`: 0 or 64).
    """

    model_input_names = ["input_features"]

    def __init__(self, sampling_rate: int = SAMPLE_RATE, clip_seconds: float = 5.0, pitch_bins: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.sampling_rate = sampling_rate
        self.clip_seconds = clip_seconds
        self.pitch_bins = pitch_bins

    @property
    def window_frames(self) -> int:
        return num_frames(int(round(self.clip_seconds * self.sampling_rate)))

    def __call__(
        self,
        raw_audio: np.ndarray | torch.Tensor | list[np.ndarray],
        sampling_rate: int | None = None,
        return_tensors: str = "pt",
    ) -> BatchFeature:
        r"""
        Args:
            raw_audio (`np.ndarray`/`torch.Tensor` of shape `(samples,)` or `(batch, samples)`, or a list of 1-D
                arrays of any lengths): mono audio.
            sampling_rate (`int`, *optional*): the rate of `raw_audio`; resampled to 22,050 Hz when it differs.
        Returns:
            `BatchFeature` with `input_features` `(num_windows, 80 + pitch_bins, window_frames)` float32 and
            `clip_index` `(num_windows,)` long: the input each window came from.
        """
        if return_tensors != "pt":
            raise ValueError(f"TriModalAlignerFeatureExtractor returns PyTorch tensors only, got '{return_tensors}'")
        clips = _as_clip_list(raw_audio)
        sampling_rate = sampling_rate or self.sampling_rate
        windows, index = [], []
        for i, wave in enumerate(clips):
            if wave.ndim != 1 or wave.size == 0 or not np.all(np.isfinite(wave)):
                raise AudioError(f"audio {i}: expected a finite, non-empty mono waveform, got shape {wave.shape}")
            wave = resample(wave.astype(np.float32), sampling_rate, self.sampling_rate)
            if wave.size <= 384:  # shorter than the STFT padding: pad with silence first
                wave = np.pad(wave, (0, 385 - wave.size))
            features = torch.from_numpy(log_mel_spectrogram(wave))
            if self.pitch_bins:
                features = stack_audio_features(features, torch.from_numpy(semitone_spectrogram(wave)))
            for window in split_windows(features, self.window_frames):
                windows.append(window)
                index.append(i)
        return BatchFeature(
            {"input_features": torch.stack(windows), "clip_index": torch.tensor(index, dtype=torch.long)}
        )


def split_windows(log_mel: torch.Tensor, frames: int) -> list[torch.Tensor]:
    """Cut features `(rows, T)` into windows `(rows, frames)`: pad a short one with silence, tile a long one (last
    window flush with the end)."""
    total = log_mel.shape[-1]
    if total <= frames:
        return [nn.functional.pad(log_mel, (0, frames - total), value=LOG_MEL_SILENCE)]
    starts = list(range(0, total - frames + 1, frames))
    if starts[-1] + frames < total:
        starts.append(total - frames)
    return [log_mel[:, s : s + frames] for s in starts]


def _as_clip_list(raw_audio) -> list[np.ndarray]:
    if isinstance(raw_audio, torch.Tensor):
        raw_audio = raw_audio.detach().cpu().float().numpy()
    if isinstance(raw_audio, np.ndarray):
        if raw_audio.ndim == 1:
            return [raw_audio]
        if raw_audio.ndim == 2:
            return list(raw_audio)
        raise AudioError(f"raw_audio must have shape (samples,) or (batch, samples), got {raw_audio.shape}")
    if isinstance(raw_audio, (list, tuple)):
        if not raw_audio:
            raise AudioError("raw_audio is an empty list")
        return [np.asarray(w.detach().cpu().float() if isinstance(w, torch.Tensor) else w) for w in raw_audio]
    raise AudioError(f"raw_audio must be a numpy array, a torch tensor or a list of them, got {type(raw_audio)}")
