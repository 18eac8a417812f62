"""Alignment score against a stand-in object with the TriModalAligner convenience API."""

import numpy as np
import pytest
import torch

from mmgen.eval.alignment import AlignmentInputError, alignment_score


class StandInAligner:
    """Embeds audio by (rms, zero-crossing rate) and text by keyword, both L2-normalised, like TriModalAligner."""

    def embed_audio(self, audios):
        rows = []
        for a in audios:
            a = torch.as_tensor(np.asarray(a), dtype=torch.float32)
            zcr = (a[1:].sign() != a[:-1].sign()).float().mean()
            rows.append(torch.stack([a.pow(2).mean().sqrt(), 10 * zcr]))
        return torch.nn.functional.normalize(torch.stack(rows), dim=-1)

    def embed_text(self, texts):
        table = {"loud low": [1.0, 0.0], "quiet bright": [0.0, 1.0]}
        return torch.nn.functional.normalize(torch.tensor([table[t] for t in texts]), dim=-1)


def _clips():
    t = np.arange(22050) / 22050
    loud_low = 0.8 * np.sin(2 * np.pi * 50 * t)
    quiet_bright = 0.01 * np.sin(2 * np.pi * 5000 * t)
    return [loud_low.astype(np.float32), quiet_bright.astype(np.float32)]


def test_matching_prompts_score_higher_than_swapped():
    clips = _clips()
    matched = alignment_score(StandInAligner(), clips, ["loud low", "quiet bright"])
    swapped = alignment_score(StandInAligner(), clips, ["quiet bright", "loud low"])
    assert matched.shape == (2,) and matched.dtype == np.float32
    assert (matched > swapped).all()
    assert np.all(np.abs(matched) <= 1 + 1e-6)


def test_tensor_batch_input_and_renormalisation():
    class Unnormalised(StandInAligner):
        def embed_text(self, texts):
            return 5.0 * super().embed_text(texts)

    clips = torch.from_numpy(np.stack(_clips()))
    a = alignment_score(Unnormalised(), clips, ["loud low", "quiet bright"])
    b = alignment_score(StandInAligner(), clips, ["loud low", "quiet bright"])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_rejects_unpaired_inputs():
    with pytest.raises(AlignmentInputError, match="2 audio clips but 1 prompts"):
        alignment_score(StandInAligner(), _clips(), ["loud low"])
    with pytest.raises(AlignmentInputError, match="single string"):
        alignment_score(StandInAligner(), _clips()[:1], "loud low")
