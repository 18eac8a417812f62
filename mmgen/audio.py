"""Audio front end shared by every MMGen component.

The log-mel spectrogram is exactly the one HiFi-GAN V1 was trained on (jik876 ``meldataset.mel_spectrogram``):
22,050 Hz mono, n_fft 1024, Hann window 1024, hop 256, 80 Slaney mel bins over 0-8 kHz, magnitude, reflect
padding of (n_fft - hop) / 2 samples on both sides, STFT without centering, ``ln(clamp(x, 1e-5))``.
N samples give N // 256 frames.

The constants below are the one definition of the front end; every function reads them.

The log-mel has two implementations of the same formula, and both are needed:

- numpy (a numpy array in): the features every shipped model was trained and is run on (the MusicSet loader's
  mels, the melody sketch, the aligner's audio features, the pipeline's audio input), computed without torch, so
  that the loading, validation and dataset paths and `python -m mmgen --help` stay light;
- torch (a tensor in): differentiable and on the tensor's device, for losses on generated audio (`train/vocoder.py`'s
  mel loss, the decoder benchmark).

They agree to about 1e-6 (`tests/test_audio.py`), but not bit for bit: routing the numpy input through torch would
change the inputs of the trained models and with them the audio `make demo` gives for a seed.
"""

from __future__ import annotations

import io
import os
import sys
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from .limits import MAX_INPUT_CHANNELS, MAX_INPUT_SECONDS

if TYPE_CHECKING:
    import torch

# Hard-coded audio hyperparameters (one place, as in whisper/audio.py)
SAMPLE_RATE = 22050
N_FFT = 1024
WIN_LENGTH = 1024
HOP_LENGTH = 256
N_MELS = 80
F_MIN = 0.0
F_MAX = 8000.0
LOG_CLAMP = 1e-5
PAD = (N_FFT - HOP_LENGTH) // 2  # 384 samples of reflect padding on each side
LOG_MEL_SILENCE = float(np.log(LOG_CLAMP))  # value of a silent mel bin

# Semitone spectrogram: the aligner's pitch-resolving input beside the log-mel (80 mel rows below 1 kHz are
# ~28 Hz apart, two semitones around middle C). A 4096-point STFT (5.4 Hz bins) resolves semitones down to ~E2.
PITCH_N_FFT = 4096
PITCH_MIDI_LOW = 36  # C2, 65.4 Hz
PITCH_BINS = 64  # one row per semitone: C2 .. D#7 (2.5 kHz)
PITCH_PAD = (PITCH_N_FFT - HOP_LENGTH) // 2  # 1,920 samples of zero padding: frames line up with the log-mel's

SILENCE_PEAK = 1e-4  # a clip whose absolute peak is below this is treated as silent
DEFAULT_MAX_DURATION_S = MAX_INPUT_SECONDS


class AudioError(ValueError):
    """Raised for audio that cannot be used: unreadable, empty, silent, non-finite, too long, wrong rate."""


def _is_tensor(obj) -> bool:
    """Whether `obj` is a `torch.Tensor`, without importing torch: if torch was never imported, it cannot be one."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return f"'{os.fspath(source)}'"
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes of audio>"
    return f"<{type(source).__name__}>"


def resample(waveform: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a waveform with soxr (high quality).

    Args:
        waveform (`np.ndarray` of shape `(samples,)` or `(samples, channels)`): the audio.
        orig_sr (`int`): its sample rate. target_sr (`int`): the wanted one.
    Returns:
        `np.ndarray` float32 at `target_sr`, same channel layout.
    """
    if orig_sr == target_sr:
        return waveform.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(waveform, orig_sr, target_sr, quality="HQ").astype(np.float32)


def to_mono(waveform, *, name: str = "audio") -> np.ndarray:
    """One clip as a mono waveform: channels averaged, anything else that is not one clip refused.

    Accepted shapes: `(samples,)`; `(samples, channels)` (soundfile's layout) or `(channels, samples)` (librosa's),
    the channel axis being the one with at most `MAX_INPUT_CHANNELS` entries. A 2-D array whose two axes are both
    that short (or both longer) cannot be told apart and raises `AudioError`, as does any other number of axes: a
    mis-read layout would turn one second of stereo into 22,050 clips of 2 samples.

    Args:
        waveform (`np.ndarray` or `torch.Tensor`): the clip.
        name (`str`): how messages name it.
    Returns:
        `np.ndarray` of shape `(samples,)` (the input's dtype, float for a tensor).
    """
    if _is_tensor(waveform):
        waveform = waveform.detach().cpu().float().numpy()
    waveform = np.asarray(waveform)
    if waveform.ndim == 1:
        return waveform
    if waveform.ndim == 2:
        rows, cols = waveform.shape
        if cols <= MAX_INPUT_CHANNELS < rows:
            return waveform.mean(axis=1)
        if rows <= MAX_INPUT_CHANNELS < cols:
            return waveform.mean(axis=0)
    raise AudioError(
        f"{name}: expected a mono waveform (samples,) or one clip as (samples, channels) / (channels, samples) with "
        f"at most {MAX_INPUT_CHANNELS} channels, got shape {waveform.shape}"
    )


def validate_waveform(
    waveform: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    *,
    name: str = "audio",
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
    allow_silent: bool = True,
    min_duration_s: float | None = None,
    max_peak: float | None = None,
) -> np.ndarray:
    """Check a mono waveform and return it as float32; raise `AudioError` naming `name` and the problem.

    Args:
        waveform (`np.ndarray` of shape `(samples,)`): the audio (see `to_mono` for multi-channel input).
        sample_rate (`int`): its rate, for the duration checks.
        max_duration_s, min_duration_s (`float`, *optional*): refuse longer / shorter audio; None: no bound.
        allow_silent (`bool`): if False, a clip whose peak is below `SILENCE_PEAK` raises.
        max_peak (`float`, *optional*): refuse audio peaking above this (user input: `limits.MAX_INPUT_PEAK`).
            Float audio lives in [-1, 1]; a clip far beyond it was scaled wrongly (int16 samples stored as float),
            and since the aligner's embedding depends on level, it is refused rather than silently renormalised.
    """
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise AudioError(f"{name}: expected a mono waveform of shape (samples,), got shape {waveform.shape}")
    if waveform.size == 0:
        raise AudioError(f"{name}: the audio is empty (0 samples)")
    if not np.issubdtype(waveform.dtype, np.number) or np.iscomplexobj(waveform):
        raise AudioError(f"{name}: expected real-valued samples, got dtype {waveform.dtype}")
    if not np.all(np.isfinite(waveform)):
        raise AudioError(f"{name}: the audio contains NaN or infinite samples")
    duration = waveform.size / sample_rate
    if max_duration_s is not None and duration > max_duration_s:
        raise AudioError(f"{name}: the audio is {duration:.1f} s long, more than the limit of {max_duration_s:.1f} s")
    if min_duration_s is not None and duration < min_duration_s:
        raise AudioError(
            f"{name}: the audio is {duration:.3f} s long ({waveform.size} samples); at least {min_duration_s:g} s "
            "is needed"
        )
    peak = float(np.max(np.abs(waveform)))
    if max_peak is not None and peak > max_peak:
        raise AudioError(
            f"{name}: the audio peaks at {peak:.4g}; samples must lie in [-1, 1] (up to {max_peak:g} is accepted). "
            "Scale it first (int16 samples: divide by 32768)."
        )
    if not allow_silent and peak < SILENCE_PEAK:
        raise AudioError(f"{name}: the audio is silent (peak below {SILENCE_PEAK:g})")
    return waveform.astype(np.float32, copy=False)


def load_audio(
    source: str | os.PathLike | bytes | io.IOBase,
    sr: int = SAMPLE_RATE,
    *,
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
    allow_silent: bool = True,
    offset_s: float = 0.0,
    duration_s: float | None = None,
    min_duration_s: float | None = None,
    max_peak: float | None = None,
) -> np.ndarray:
    """Read any format soundfile reads, downmix to mono and resample to `sr`.

    Args:
        source: a path, raw file bytes or a binary file object.
        sr (`int`): the output sample rate (22,050 Hz by default).
        max_duration_s (`float`, *optional*): refuse longer audio (after `offset_s`/`duration_s`); None: no limit.
        allow_silent (`bool`): if False, an all-silent clip raises `AudioError`.
        offset_s, duration_s: read only this part of the file.
        min_duration_s, max_peak: see `validate_waveform` (user input: `limits.MIN_INPUT_SECONDS`,
            `limits.MAX_INPUT_PEAK`; integer files decode to [-1, 1], float files may hold anything).
    Returns:
        `np.ndarray` of shape `(samples,)`, float32.
    """
    import soundfile as sf

    name = _describe(source)
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)) and os.path.isdir(source):
        raise AudioError(f"{name}: is a folder, not an audio file")
    elif isinstance(source, (str, os.PathLike)) and not os.path.isfile(source):
        raise AudioError(f"{name}: no such file")
    try:
        with sf.SoundFile(source) as f:
            native_sr = f.samplerate
            start = int(round(offset_s * native_sr))
            frames = -1 if duration_s is None else int(round(duration_s * native_sr))
            if max_duration_s is not None and duration_s is None:
                # Refuse before decoding an hour of audio into memory.
                total = (f.frames - start) / native_sr if f.frames >= 0 else 0
                if total > max_duration_s:
                    raise AudioError(
                        f"{name}: the audio is {total:.1f} s long, more than the limit of {max_duration_s:.1f} s"
                    )
            if start:
                f.seek(start)
            data = f.read(frames=frames, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as err:  # soundfile raises LibsndfileError / RuntimeError / TypeError for bad input
        raise AudioError(f"{name}: could not read audio ({err})") from err
    waveform = data.mean(axis=1)
    if waveform.size == 0:
        raise AudioError(f"{name}: the audio is empty (0 samples)")
    waveform = resample(waveform, native_sr, sr)
    return validate_waveform(waveform, sr, name=name, max_duration_s=max_duration_s, allow_silent=allow_silent,
                             min_duration_s=min_duration_s, max_peak=max_peak)  # fmt: skip


def save_audio(path: str | os.PathLike, waveform, sr: int = SAMPLE_RATE) -> None:
    """Write a mono waveform (numpy or torch, shape `(samples,)`) as 16-bit PCM WAV (or any soundfile format)."""
    import soundfile as sf

    if _is_tensor(waveform):
        waveform = waveform.detach().cpu().float().numpy()
    waveform = np.clip(np.asarray(waveform, dtype=np.float32).reshape(-1), -1.0, 1.0)
    sf.write(os.fspath(path), waveform, sr, subtype="PCM_16" if str(path).endswith(".wav") else None)


@lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """Slaney mel filterbank of shape `(N_MELS, N_FFT // 2 + 1)`, float32 (librosa's default norm, as HiFi-GAN)."""
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=F_MIN, fmax=F_MAX).astype(np.float32)


def num_frames(num_samples: int) -> int:
    """Frames produced for `num_samples` samples (N // HOP_LENGTH)."""
    return (num_samples + 2 * PAD - N_FFT) // HOP_LENGTH + 1


def _log_mel_numpy(waveform: np.ndarray) -> np.ndarray:
    lead = waveform.shape[:-1]
    x = waveform.reshape(-1, waveform.shape[-1]).astype(np.float32)
    x = np.pad(x, ((0, 0), (PAD, PAD)), mode="reflect")
    n_frames = (x.shape[-1] - N_FFT) // HOP_LENGTH + 1
    idx = np.arange(N_FFT)[None, :] + HOP_LENGTH * np.arange(n_frames)[:, None]
    window = np.hanning(WIN_LENGTH + 1)[:-1].astype(np.float32)  # periodic Hann, as torch.hann_window
    frames = x[:, idx] * window  # (batch, frames, n_fft)
    magnitude = np.sqrt(np.abs(np.fft.rfft(frames, axis=-1)) ** 2 + 1e-9).astype(np.float32)
    mel = magnitude @ mel_filters().T  # (batch, frames, n_mels)
    log_mel = np.log(np.clip(mel, LOG_CLAMP, None)).transpose(0, 2, 1)
    return log_mel.reshape(*lead, N_MELS, n_frames)


def _log_mel_torch(waveform: torch.Tensor) -> torch.Tensor:
    import torch

    lead = waveform.shape[:-1]
    x = waveform.reshape(-1, waveform.shape[-1]).float()
    x = torch.nn.functional.pad(x.unsqueeze(1), (PAD, PAD), mode="reflect").squeeze(1)
    window = torch.hann_window(WIN_LENGTH, device=x.device)
    spec = torch.stft(
        x,
        N_FFT,
        hop_length=HOP_LENGTH,
        win_length=WIN_LENGTH,
        window=window,
        center=False,
        return_complex=True,
    )
    magnitude = torch.sqrt(spec.real**2 + spec.imag**2 + 1e-9)  # HiFi-GAN's +1e-9 keeps the gradient finite
    mel = torch.from_numpy(mel_filters()).to(x.device) @ magnitude
    log_mel = torch.log(torch.clamp(mel, min=LOG_CLAMP))
    return log_mel.reshape(*lead, N_MELS, log_mel.shape[-1])


def log_mel_spectrogram(waveform):
    """HiFi-GAN V1 log-mel spectrogram.

    Args:
        waveform (`np.ndarray` or `torch.Tensor` of shape `(..., samples)`): audio at `SAMPLE_RATE`.
    Returns:
        the same array type, shape `(..., N_MELS, samples // HOP_LENGTH)`, float32 (numpy or torch implementation:
        see the module docstring).
    """
    if waveform.shape[-1] <= PAD:
        raise AudioError(f"audio of {waveform.shape[-1]} samples is too short for a mel spectrogram (needs > {PAD})")
    if _is_tensor(waveform):
        return _log_mel_torch(waveform)
    return _log_mel_numpy(np.asarray(waveform))


@lru_cache(maxsize=2)
def semitone_filters(n_fft: int = PITCH_N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Filterbank `(PITCH_BINS, n_fft // 2 + 1)` float32: row r averages the STFT bins within a semitone of MIDI
    `PITCH_MIDI_LOW + r` (triangular weights on the log-frequency axis); rows too narrow to hold a whole bin
    interpolate linearly between the two bins around their centre frequency. Rows sum to 1."""
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    midi = np.full(freqs.shape, -np.inf)
    midi[1:] = 69.0 + 12.0 * np.log2(freqs[1:] / 440.0)
    filters = np.zeros((PITCH_BINS, freqs.size), dtype=np.float64)
    for row in range(PITCH_BINS):
        centre = PITCH_MIDI_LOW + row
        weights = np.clip(1.0 - np.abs(midi - centre), 0.0, None)
        if weights.sum() < 1.0:
            position = 440.0 * 2 ** ((centre - 69) / 12) * n_fft / sample_rate
            low = int(np.floor(position))
            weights = np.zeros_like(weights)
            weights[low], weights[low + 1] = low + 1 - position, position - low
        filters[row] = weights / weights.sum()
    return filters.astype(np.float32)


def semitone_spectrogram(waveform):
    """Log-magnitude spectrogram on a semitone axis, frame for frame with `log_mel_spectrogram`.

    Args:
        waveform (`np.ndarray` or `torch.Tensor` of shape `(..., samples)`): audio at 22,050 Hz.
    Returns:
        the same array type, shape `(..., PITCH_BINS, samples // HOP_LENGTH)`, float32: row r is MIDI note
        `PITCH_MIDI_LOW + r`; silence is `LOG_MEL_SILENCE` as in the log-mel.
    """
    import torch

    if waveform.shape[-1] <= PAD:
        raise AudioError(
            f"audio of {waveform.shape[-1]} samples is too short for a semitone spectrogram (needs > {PAD})"
        )
    is_tensor = _is_tensor(waveform)
    x = waveform if is_tensor else torch.from_numpy(np.asarray(waveform, dtype=np.float32))
    lead = x.shape[:-1]
    x = torch.nn.functional.pad(x.reshape(-1, x.shape[-1]).float(), (PITCH_PAD, PITCH_PAD))
    spec = torch.stft(
        x,
        PITCH_N_FFT,
        hop_length=HOP_LENGTH,
        window=torch.hann_window(PITCH_N_FFT, device=x.device),
        center=False,
        return_complex=True,
    )
    filters = torch.from_numpy(semitone_filters()).to(x.device)
    pitch = torch.log(torch.clamp(filters @ spec.abs(), min=LOG_CLAMP))
    pitch = pitch.reshape(*lead, PITCH_BINS, pitch.shape[-1])
    return pitch if is_tensor else pitch.numpy()


def pad_or_trim(array, length: int, *, axis: int = -1, pad_value: float = 0.0):
    """Pad (with `pad_value`) or trim `array` (numpy or torch) to `length` along `axis`."""
    if _is_tensor(array):
        import torch

        if array.shape[axis] > length:
            return array.narrow(axis, 0, length)
        pad = [0, 0] * (array.ndim - 1 - (axis % array.ndim)) + [0, length - array.shape[axis]]
        return torch.nn.functional.pad(array, pad, value=pad_value)
    if array.shape[axis] > length:
        return np.take(array, np.arange(length), axis=axis)
    widths = [(0, 0)] * array.ndim
    widths[axis] = (0, length - array.shape[axis])
    return np.pad(array, widths, constant_values=pad_value)
