"""Long pieces in windows and continuations (issue 17): the window plan, the cross-fade, and the pipeline with tiny
seeded components."""

import numpy as np
import pytest
import torch

from mmgen.audio import HOP_LENGTH, SAMPLE_RATE, AudioError
from mmgen.long_form import Window, crossfade_into, plan_windows, scale_window, split_held
from mmgen.melody.notes import Note
from mmgen.melody.sketch import notes_in_span

MELODY = [Note(0.1 + 0.2 * i, 0.25 + 0.2 * i, p, 100) for i, p in enumerate([60, 64, 67, 72])]
WINDOW_S, OVERLAP_S = 4.0, 1.0


# --- the window plan -----------------------------------------------------------------------------------------------
def test_plan_covers_the_piece_with_full_windows_that_overlap():
    windows = plan_windows(100, 30, 8)
    assert windows[0] == Window(0, 30, 0)
    assert all(w.length == 30 for w in windows) and windows[-1].stop == 100
    for before, after in zip(windows, windows[1:]):
        assert after.start + after.held == before.stop  # each window holds exactly what was made before it
        assert after.held >= 8  # the last one starts earlier and holds more
    assert plan_windows(20, 30, 8) == [Window(0, 20, 0)]  # a short piece is one window, as before


def test_plan_continues_a_held_prompt():
    windows = plan_windows(100, 30, 8, held=45)
    assert windows[0] == Window(37, 67, 8) and windows[-1].stop == 100
    assert plan_windows(10, 30, 8, held=4) == [Window(0, 10, 4)]  # prompt and continuation in one window
    assert plan_windows(40, 30, 8, held=40) == []
    for bad in ({"window": 0, "overlap": 0}, {"window": 8, "overlap": 8}, {"window": 8, "overlap": 2, "held": 200}):
        with pytest.raises(ValueError, match="invalid window plan"):
            plan_windows(100, **bad)


def test_crossfade_joins_without_a_step():
    piece = torch.zeros(1, 20)
    crossfade_into(piece, torch.zeros(1, 10), Window(0, 10, 0))
    crossfade_into(piece, torch.ones(1, 10), Window(6, 16, 4))
    assert torch.equal(piece[0, :6], torch.zeros(6)) and torch.equal(piece[0, 10:16], torch.ones(6))
    fade = piece[0, 6:10]
    assert torch.all(fade[1:] > fade[:-1]) and 0 < fade[0] and fade[-1] < 1  # a ramp from old to new
    assert scale_window(Window(2, 5, 1), 4) == Window(8, 20, 4)
    with pytest.raises(ValueError, match="chunk has 3 frames"):
        crossfade_into(piece, torch.ones(1, 3), Window(0, 10, 0))


def test_notes_in_span_cuts_and_shifts():
    notes = [Note(0.0, 1.0, 60), Note(1.5, 3.0, 62), Note(3.5, 4.0, 64)]
    assert notes_in_span(notes, 1.0, 3.2) == [Note(0.5, 2.0, 62)]
    assert notes_in_span(notes, 0.5, 2.0) == [Note(0.0, 0.5, 60), Note(1.0, 1.5, 62)]
    assert notes_in_span(notes, 4.0, 6.0) == []


# --- the pipeline -------------------------------------------------------------------------------------------------
def run(pipe, seed=0, **kwargs):
    kwargs.setdefault("num_inference_steps", 2)
    kwargs.setdefault("window_length_in_s", WINDOW_S)
    kwargs.setdefault("window_overlap_in_s", OVERLAP_S)
    return pipe(generator=torch.Generator().manual_seed(seed), **kwargs)


def test_a_long_piece_is_made_in_windows_that_start_as_the_short_clip_does(sketch_pipe):
    steps = []
    melody = [*MELODY, Note(8.4, 8.9, 65)]  # the same notes in the first window whether fitted to 4 s or to 9 s
    out = run(sketch_pipe, prompt="a tune", melody=melody, audio_length_in_s=9.0, output_type="latent",
              callback_on_step_end=lambda p, i, t, kw: steps.append((i, p.num_timesteps)) or kw)  # fmt: skip
    latents = out.audios
    windows = plan_windows(latents.shape[2], sketch_pipe.window_frames(WINDOW_S), sketch_pipe.window_frames(OVERLAP_S))
    assert len(windows) == 3
    assert [i for i, _ in steps] == list(range(6)) and steps[0][1] == 6  # the step index counts over the windows
    # the first window is exactly the 4 s clip made from the same noise: generation is causal window by window
    noise = torch.Generator().manual_seed(0)
    full = torch.randn(latents.shape, generator=noise)
    first = run(sketch_pipe, prompt="a tune", melody=melody, audio_length_in_s=9.0, latents=full, output_type="latent")
    torch.testing.assert_close(first.audios, latents)
    short = sketch_pipe("a tune", melody=melody, audio_length_in_s=WINDOW_S, num_inference_steps=2,
                        output_type="latent", latents=full[:, :, : windows[0].stop].clone(),
                        window_length_in_s=WINDOW_S)  # fmt: skip
    # up to where the second window's cross-fade starts (it holds the frames before)
    hold, fade = split_held(windows[1], sketch_pipe.window_crossfade_frames(sketch_pipe.window_frames(OVERLAP_S)))
    frames = windows[1].start + hold
    assert hold > 0 and fade > 0
    torch.testing.assert_close(short.audios[:, :, :frames], latents[:, :, :frames])
    assert not torch.allclose(short.audios[:, :, frames : windows[0].stop], latents[:, :, frames : windows[0].stop])
    # holding the whole overlap (no cross-fade) keeps every frame of the first window
    held_all = run(sketch_pipe, prompt="a tune", melody=melody, audio_length_in_s=9.0, latents=full,
                   output_type="latent", window_crossfade_in_s=0.0)  # fmt: skip
    torch.testing.assert_close(short.audios, held_all.audios[:, :, : windows[0].stop])


def test_split_held_holds_the_start_of_the_shared_frames_and_fades_the_end():
    assert split_held(Window(20, 50, 8), 4) == (4, 4)
    assert split_held(Window(20, 50, 8), 0) == (8, 0)
    assert split_held(Window(0, 30, 3), 4) == (2, 1)  # never more than half the shared frames
    assert split_held(Window(0, 30, 0), 4) == (0, 0)  # the first window of a fresh piece shares nothing
    with pytest.raises(ValueError, match="crossfade"):
        split_held(Window(20, 50, 8), -1)


def test_a_long_piece_has_its_length_and_the_melody_spans_it(sketch_pipe):
    out = run(sketch_pipe, prompt="a tune", melody=MELODY, audio_length_in_s=9.0)
    assert out.audios.shape == (1, 9 * SAMPLE_RATE) and np.isfinite(out.audios).all()
    assert np.abs(out.audios).max() <= 0.9 + 1e-6
    notes = out.melodies[0]["notes"]
    assert notes[0].onset == 0.0 and 8.5 < max(n.offset for n in notes) <= 9.0  # repeated over the whole piece
    again = run(sketch_pipe, prompt="a tune", melody=MELODY, audio_length_in_s=9.0)
    np.testing.assert_array_equal(out.audios, again.audios)  # same seed, same piece


def test_windowed_decoding_is_the_windows_joined_by_cross_fades(sketch_pipe):
    latents = torch.randn(1, 8, 48, 20, generator=torch.Generator().manual_seed(1))
    whole = sketch_pipe.decode_latents(latents, 48 * 4)
    # one window: one pass
    torch.testing.assert_close(sketch_pipe.decode_latents(latents, 48 * 4, window_frames=48), whole)
    windowed = sketch_pipe.decode_latents(latents, 48 * 4, window_frames=16, overlap_frames=4)
    assert windowed.shape == whole.shape and torch.isfinite(windowed).all()
    # outside the cross-faded frames each window's frames are that window decoded alone (memory: one window at a time)
    windows = plan_windows(48, 16, 4)
    for window, after in zip(windows, [*windows[1:], None]):
        alone = sketch_pipe.decode_latents(latents[:, :, window.start : window.stop], window.length * 4)
        start, stop = window.start + window.held, window.stop if after is None else after.start
        torch.testing.assert_close(windowed[..., start * 4 : stop * 4],
                                   alone[..., (start - window.start) * 4 : (stop - window.start) * 4])  # fmt: skip
    mel = whole[..., :96]
    wave = sketch_pipe.mel_to_waveform(mel, 96 * HOP_LENGTH, window_frames=32, overlap_frames=8)
    assert wave.shape == (1, 96 * HOP_LENGTH) and torch.isfinite(wave).all()


def test_continuation_holds_the_prompt_and_follows_a_melody_after_it(sketch_pipe):
    prompt = 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(2.0 * SAMPLE_RATE)) / SAMPLE_RATE).astype(np.float32)
    held, _ = sketch_pipe.encode_audio_prompt(prompt, sketch_pipe.window_frames(WINDOW_S))
    out = run(sketch_pipe, audio_prompt=prompt, melody=MELODY, audio_length_in_s=5.0, output_type="latent")
    hold = held.shape[2] - sketch_pipe.window_crossfade_frames(sketch_pipe.window_frames(OVERLAP_S))
    assert hold > 0  # the prompt's last frames are cross-faded into the new music, the rest is kept as it is
    torch.testing.assert_close(out.audios[:, :, :hold], held[:, :, :hold].expand(1, -1, -1, -1))
    exact = run(sketch_pipe, audio_prompt=prompt, melody=MELODY, audio_length_in_s=5.0, output_type="latent",
                window_crossfade_in_s=0.0)  # fmt: skip
    torch.testing.assert_close(exact.audios[:, :, : held.shape[2]], held.expand(1, -1, -1, -1))
    prompt_s = held.shape[2] * sketch_pipe.vae_scale_factor * HOP_LENGTH / SAMPLE_RATE
    notes = out.melodies[0]["notes"]
    assert notes[0].onset == pytest.approx(prompt_s) and max(n.offset for n in notes) <= prompt_s + 5.0
    audio = run(sketch_pipe, audio_prompt=prompt, audio_length_in_s=3.0)  # the prompt alone is the query, too
    assert audio.audios.shape == (1, int(round((prompt_s + 3.0) * SAMPLE_RATE)))
    assert audio.melodies[0]["source"] == "dummy"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"audio_prompt": np.zeros(2 * SAMPLE_RATE, np.float32)}, AudioError, "silent"),
        ({"audio_prompt": np.full(SAMPLE_RATE // 4, 0.1, np.float32)}, AudioError, "audio_prompt"),
        ({"audio_prompt": ["a.wav", "b.wav"]}, ValueError, "not a batch"),
        ({"audio_prompt": "/no/such/clip.wav"}, AudioError, "clip.wav"),
        ({"window_length_in_s": 2.0}, ValueError, "window_length_in_s"),
        ({"window_overlap_in_s": 3.0}, ValueError, "window_overlap_in_s"),
        ({"window_crossfade_in_s": 0.6}, ValueError, "window_crossfade_in_s"),
        ({"window_crossfade_in_s": -0.1}, ValueError, "window_crossfade_in_s"),
        ({"audio_length_in_s": 301.0}, ValueError, "audio_length_in_s"),
    ],
)
def test_bad_long_form_inputs_raise_clearly(sketch_pipe, kwargs, error, match):
    with pytest.raises(error, match=match):
        run(sketch_pipe, **{"prompt": "a tune", "audio_length_in_s": 5.0, **kwargs})
