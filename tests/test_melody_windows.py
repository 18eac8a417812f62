"""Melody windows: what a training crop sees and the windows `embed_melody` averages, like `embed_audio`."""

import pytest
import torch
from fixtures import save_tiny_text_encoder, tiny_aligner_config

from mmgen.melody import Note, crop_melody, melody_windows, notes_to_string, string_to_notes
from mmgen.models.aligner import TriModalAligner


def scale(seconds: float, step: float = 0.5) -> str:
    """One note every `step` s, rising by a semitone, for `seconds`."""
    count = int(round(seconds / step))
    return notes_to_string([Note(i * step, (i + 0.8) * step, 60 + i % 24) for i in range(count)])


def test_windows_cover_the_melody_without_slivers():
    ten = scale(10.0)
    windows = melody_windows(ten, 5.0)
    assert len(windows) == 2
    assert windows[0] == crop_melody(ten, 0.0, 5.0) and windows[1] == crop_melody(ten, 5.0, 5.0)
    second = string_to_notes(windows[1])
    assert second[0].onset == pytest.approx(0.0, abs=0.02) and second[0].pitch == 70  # times restart in the window
    # a note ringing just past 10 s makes no third window; 13 s of melody makes three
    ringing = notes_to_string([*string_to_notes(ten), Note(9.9, 10.05, 72)])
    assert len(melody_windows(ringing, 5.0)) == 2
    assert len(melody_windows(scale(13.0), 5.0)) == 3
    # short, empty and gapped melodies
    assert melody_windows(scale(3.0), 5.0) == [scale(3.0)] and melody_windows("", 5.0) == [""]
    gapped = notes_to_string([Note(0.0, 1.0, 60), Note(11.0, 12.0, 67)])  # nothing sounds in 5-10 s
    assert [len(string_to_notes(w)) for w in melody_windows(gapped, 5.0)] == [1, 1]
    with pytest.raises(ValueError, match="window_s"):
        melody_windows(ten, 0.0)


@pytest.fixture(scope="module")
def aligner(tmp_path_factory):
    torch.manual_seed(0)
    encoder = save_tiny_text_encoder(tmp_path_factory.mktemp("tiny_text"))
    return TriModalAligner.from_text_pretrained(tiny_aligner_config(encoder, audio_clip_seconds=2.0)).eval()


def test_embed_melody_averages_its_windows(aligner):
    six, short = scale(6.0), scale(1.5)
    assert aligner.config.melody_window_seconds is None  # default: the audio window (2 s here)
    windows = melody_windows(six, 2.0)
    assert len(windows) == 3
    expected = torch.nn.functional.normalize(aligner.embed_melody(windows, window_seconds=0).sum(0), dim=0)
    batch = aligner.embed_melody([short, six])
    torch.testing.assert_close(batch[1], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(batch.norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(batch[0], aligner.embed_melody(short, window_seconds=0)[0], atol=1e-6, rtol=0)
    whole = aligner.embed_melody(six, window_seconds=0)[0]
    assert not torch.allclose(whole, expected, atol=1e-3)
    # the saved config decides (the v0 default pins 0: whole melodies, as its retriever was built)
    aligner.config.melody_window_seconds = 0.0
    try:
        torch.testing.assert_close(aligner.embed_melody(six)[0], whole, atol=1e-6, rtol=0)
    finally:
        aligner.config.melody_window_seconds = None
