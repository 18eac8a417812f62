"""Long music in windows: which frames each window makes and which it holds, and the cross-fade that joins them.

A piece longer than one window is denoised window by window (diffusers' inpainting pattern, RePaint-style): each
window after the first starts `overlap` frames before the end of what is already made and holds the first of those
frames to it at every denoising step, so its new frames continue the music. The last `crossfade` shared frames are
not held: the window makes them afresh and they are cross-faded from the old frames to the new ones (holding all of
them left a step where the held frames end: 1.67x the interiors' log-mel change in `long_form.json`).

Decoding (VAE, vocoder) runs window by window as well, each window cross-faded into the piece over the frames it
shares with the previous one, so that memory is bounded by the window, not by the piece. The same plan serves
latent frames, log-mel frames and samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Window:
    """Frames `[start, stop)` of the piece; the first `held` of them were made before this window."""

    start: int
    stop: int
    held: int

    @property
    def length(self) -> int:
        return self.stop - self.start


def plan_windows(total: int, window: int, overlap: int, held: int = 0) -> list[Window]:
    """Cover frames `[0, total)` with windows of `window` frames, each sharing `overlap` frames with what came before.

    Args:
        total: frames of the whole piece.
        window: frames per window (every window has exactly this length unless the piece is shorter).
        overlap: frames each window shares with the previous ones (`0 <= overlap < window`); the last window starts
            earlier when the piece ends inside it, so it holds more.
        held: frames `[0, held)` already made before the first window (a continuation's prompt).
    Returns:
        The windows in order; `[Window(0, total, 0)]` for a fresh piece that fits in one window, `[]` when `held`
        already covers the piece.
    """
    if window <= 0 or not 0 <= overlap < window or total < 0 or not 0 <= held <= total:
        raise ValueError(f"invalid window plan: total={total}, window={window}, overlap={overlap}, held={held}")
    windows, covered = [], held
    while covered < total:
        start = max(0, covered - overlap) if covered else 0
        stop = min(start + window, total)
        start = max(0, stop - window)  # a window that would run past the end starts earlier instead
        windows.append(Window(start, stop, covered - start))
        covered = stop
    return windows


def split_held(window: Window, crossfade: int) -> tuple[int, int]:
    """`(hold, fade)`: of the window's `window.held` shared frames, the first `hold` are held at every denoising
    step and the last `fade = min(crossfade, window.held // 2)` are made afresh and cross-faded into the piece (at
    most half, so that a short continuation prompt keeps most of itself)."""
    if crossfade < 0:
        raise ValueError(f"crossfade must be >= 0 frames, got {crossfade}")
    fade = min(crossfade, window.held // 2)
    return window.held - fade, fade


def crossfade_into(piece: torch.Tensor, chunk: torch.Tensor, window: Window, fade: int | None = None) -> None:
    """Write `chunk` (the window's frames on the last axis of `piece`) into `piece` in place: its new frames as they
    are, and over the last `fade` of its held frames (all of them by default) a linear cross-fade from what `piece`
    holds to the chunk, so that the join has no step.

    Args:
        piece (`torch.Tensor` of shape `(..., total)`): the piece being assembled.
        chunk (`torch.Tensor` of shape `(..., window.length)`).
        fade (`int`, *optional*): cross-faded frames, at most `window.held`.
    """
    if chunk.shape[-1] != window.length:
        raise ValueError(f"chunk has {chunk.shape[-1]} frames for a window of {window.length}")
    fade = window.held if fade is None else min(fade, window.held)
    new = window.start + window.held
    if fade:
        ramp = torch.linspace(0.0, 1.0, fade + 2, dtype=piece.dtype, device=piece.device)[1:-1]
        region = piece[..., new - fade : new]
        piece[..., new - fade : new] = region * (1 - ramp) + chunk[..., window.held - fade : window.held] * ramp
    piece[..., new : window.stop] = chunk[..., window.held :]


def scale_window(window: Window, factor: int) -> Window:
    """The same window on a grid `factor` times finer (latent frames -> log-mel frames -> samples)."""
    return Window(window.start * factor, window.stop * factor, window.held * factor)
