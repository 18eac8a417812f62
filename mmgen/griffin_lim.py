"""Griffin-Lim phase reconstruction that inverts MMGen's own log-mel front end (`mmgen.audio`), batched in torch.

Three steps, each a pure function:

1. `mel_to_linear_magnitude`: undo the Slaney mel filterbank with non-negative least squares (multiplicative
   updates started from the clipped pseudo-inverse), giving a linear STFT magnitude. Bins above `F_MAX` (8 kHz)
   carry no mel energy and come back as zero.
2. `stft` / `istft`: the front end's STFT (reflect padding of `PAD` samples on both sides, Hann window, no
   centering) and its exact inverse, so that `T` frames give `T * HOP_LENGTH` samples.
3. `fast_griffin_lim`: Griffin-Lim with momentum ("fast Griffin-Lim", Perraudin, Balazs and Sondergaard, 2013),
   optionally started from a given phase (the hybrid vocoder starts it from HiFi-GAN's output).
"""

from __future__ import annotations

from functools import lru_cache

import torch

from .audio import HOP_LENGTH, N_FFT, PAD, WIN_LENGTH, mel_filters

RANDOM_PHASE_SEED = 0  # the random initial phase when no generator is given: the same magnitude, the same waveform


def num_mel_frequency_bins() -> int:
    """Number of linear STFT bins (from DC up) that the mel filterbank covers; the rest lie above `F_MAX`."""
    basis = mel_filters()
    return int(basis.sum(axis=0).nonzero()[0].max()) + 1


def mel_to_linear_magnitude(log_mel: torch.Tensor, n_iter: int = 30) -> torch.Tensor:
    """Invert the mel filterbank of a natural-log mel spectrogram into a non-negative linear magnitude.

    Solves `min ||M x - exp(log_mel)||^2, x >= 0` per frame with Lee-Seung multiplicative updates started from the
    clipped pseudo-inverse (librosa's `mel_to_stft` solves the same problem with L-BFGS-B, one frame at a time).

    Args:
        log_mel (`torch.Tensor` of shape `(batch, n_mels, frames)`): `ln` of the mel magnitude.
        n_iter (`int`): multiplicative updates; 0 returns the clipped pseudo-inverse.
    Returns:
        `torch.Tensor` of shape `(batch, N_FFT // 2 + 1, frames)`, zero above `F_MAX`.
    """
    basis, pseudo_inverse, gram = (m.to(log_mel.device) for m in _filterbank_inverse())
    covered = basis.shape[1]
    mel = torch.exp(log_mel.float())
    numerator = basis.T @ mel  # (batch, covered, frames)
    linear = torch.clamp(pseudo_inverse @ mel, min=0.0)
    # Multiplicative updates never revive an exact zero, so start every bin the filterbank sees above zero.
    linear = linear + 1e-3 * numerator / basis.sum(dim=0).clamp(min=1e-8)[:, None]
    for _ in range(n_iter):
        linear = linear * numerator / (gram @ linear + 1e-10)
    full = linear.new_zeros(linear.shape[0], N_FFT // 2 + 1, linear.shape[-1])
    full[:, :covered] = linear
    return full


@lru_cache(maxsize=1)
def _filterbank_inverse() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The mel basis over the bins it covers `(n_mels, covered)`, its pseudo-inverse and its Gram matrix, computed once
    per process: the SVD behind `pinv` took 1.4 s a call at two threads on a busy 2-core machine (7 ms at one)."""
    basis = torch.from_numpy(mel_filters())[:, : num_mel_frequency_bins()].float()
    return basis, torch.linalg.pinv(basis), basis.T @ basis


def stft(waveform: torch.Tensor) -> torch.Tensor:
    """The front end's complex STFT.

    Args:
        waveform (`torch.Tensor` of shape `(batch, samples)`): audio, more than `PAD` samples long.
    Returns:
        complex `torch.Tensor` of shape `(batch, N_FFT // 2 + 1, samples // HOP_LENGTH)`.
    """
    padded = torch.nn.functional.pad(waveform.unsqueeze(1), (PAD, PAD), mode="reflect").squeeze(1)
    window = torch.hann_window(WIN_LENGTH, device=waveform.device, dtype=waveform.dtype)
    return torch.stft(
        padded, N_FFT, hop_length=HOP_LENGTH, win_length=WIN_LENGTH, window=window, center=False, return_complex=True
    )


def istft(spectrogram: torch.Tensor) -> torch.Tensor:
    """Least-squares inverse of `stft` (weighted overlap-add, then the reflect padding is cut off).

    `torch.istft(center=False)` refuses this window layout (the first padded sample has zero window weight), so
    the overlap-add is done with `fold`; the cut-off padding is exactly where the weight vanishes.

    Args:
        spectrogram (complex `torch.Tensor` of shape `(batch, N_FFT // 2 + 1, frames)`).
    Returns:
        `torch.Tensor` of shape `(batch, frames * HOP_LENGTH)`.
    """
    batch, _, frames = spectrogram.shape
    window = torch.hann_window(WIN_LENGTH, device=spectrogram.device, dtype=spectrogram.real.dtype)
    segments = torch.fft.irfft(spectrogram, n=N_FFT, dim=1) * window[:, None]  # (batch, N_FFT, frames)
    length = (frames - 1) * HOP_LENGTH + N_FFT
    fold = dict(output_size=(1, length), kernel_size=(1, N_FFT), stride=(1, HOP_LENGTH))
    signal = torch.nn.functional.fold(segments, **fold).reshape(batch, length)
    weight = (window**2)[None, :, None].expand(1, -1, frames)
    envelope = torch.nn.functional.fold(weight, **fold).reshape(1, length)
    signal = signal / envelope.clamp(min=1e-8)
    return signal[:, PAD : length - PAD]


# Adapted from librosa/core/spectrum.py (griffinlim): the momentum update of Perraudin et al. (2013).
def fast_griffin_lim(
    magnitude: torch.Tensor,
    n_iter: int = 32,
    momentum: float = 0.99,
    init: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Estimate a phase for `magnitude` with fast Griffin-Lim.

    Args:
        magnitude (`torch.Tensor` of shape `(batch, N_FFT // 2 + 1, frames)`): the target linear magnitude.
        n_iter (`int`): iterations (each one `istft` and one `stft`).
        momentum (`float`): 0 gives classic Griffin-Lim; 0.99 is the usual fast setting.
        init (complex `torch.Tensor`, *optional*): a spectrogram whose phase starts the iterations (same shape as
            `magnitude`); random phase from `generator` when None.
        generator (`torch.Generator`, *optional*): the random initial phase; None: one seeded with
            `RANDOM_PHASE_SEED` (the global RNG would make a seeded pipeline's audio differ from call to call).
    Returns:
        complex `torch.Tensor` of shape `(batch, N_FFT // 2 + 1, frames)`: `magnitude` with the estimated phase.
        `istft` of it is the waveform.
    """
    if init is None:
        generator = torch.Generator().manual_seed(RANDOM_PHASE_SEED) if generator is None else generator
        phase = torch.rand(magnitude.shape, generator=generator, dtype=magnitude.dtype) * (2 * torch.pi)
        angles = torch.polar(torch.ones_like(phase), phase).to(magnitude.device)
    else:
        angles = init / (init.abs() + 1e-16)
    previous = torch.zeros_like(angles)
    for _ in range(n_iter):
        rebuilt = stft(istft(magnitude * angles))
        angles = rebuilt - (momentum / (1 + momentum)) * previous
        angles = angles / (angles.abs() + 1e-16)
        previous = rebuilt
    return magnitude * angles
