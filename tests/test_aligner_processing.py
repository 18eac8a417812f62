"""TriModalAlignerProcessor: the aligner's tokenizers, feature extractor and windowing, apart from the model."""

import numpy as np
import pytest
import torch
from fixtures import save_tiny_text_encoder, tiny_aligner_config

from mmgen.audio import SAMPLE_RATE
from mmgen.melody import Note, notes_to_string
from mmgen.models.aligner import TriModalAligner, TriModalAlignerProcessor, average_windows


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return tiny_aligner_config(save_tiny_text_encoder(tmp_path_factory.mktemp("text")), audio_clip_seconds=1.0)


def scale(seconds: float) -> str:
    return notes_to_string([Note(0.5 * i, 0.5 * i + 0.4, 60 + i % 12, 90) for i in range(int(seconds * 2))])


def test_tokenizers_give_the_model_inputs_padded_to_the_longest(config):
    processor = TriModalAlignerProcessor(config)
    text = processor.tokenize_text(["a calm piano melody", "drums"])
    melody = processor.tokenize_melody([scale(2.0), scale(0.5)])
    assert set(text) == {"input_ids", "attention_mask"} and text["input_ids"].shape[0] == 2
    assert set(melody) == {"melody_input_ids", "melody_attention_mask"}
    assert melody["melody_attention_mask"].sum(1).tolist()[0] > melody["melody_attention_mask"].sum(1).tolist()[1]
    assert melody["melody_input_ids"].shape == melody["melody_attention_mask"].shape


def test_melody_windows_follow_the_clip_length_unless_told_otherwise(config):
    processor = TriModalAlignerProcessor(config)
    pieces, owners = processor.melody_windows([scale(3.0), scale(0.5)])  # 1 s windows (audio_clip_seconds)
    assert owners == [0, 0, 0, 1] and len(pieces) == 4
    pieces, owners = processor.melody_windows([scale(3.0), scale(0.5)], window_seconds=0)
    assert pieces == [scale(3.0), scale(0.5)] and owners == [0, 1]


def test_audio_windows_and_their_average(config):
    processor = TriModalAlignerProcessor(config)
    clips = [np.zeros(int(2.5 * SAMPLE_RATE), dtype=np.float32), np.zeros(SAMPLE_RATE // 2, dtype=np.float32)]
    windows, owners = processor.audio_windows(clips, SAMPLE_RATE)
    assert owners.tolist() == [0, 0, 0, 1] and len(windows) == 4
    assert windows[0].shape == windows[3].shape and windows[0].shape[0] == 80
    per_window = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 3.0]])
    averaged = average_windows(per_window, owners, 2)
    torch.testing.assert_close(averaged, torch.tensor([[2.0, 2.0], [0.0, 3.0]]) / torch.tensor([[8**0.5], [3.0]]))


def test_the_model_embeds_through_its_processor(config):
    torch.manual_seed(0)
    model = TriModalAligner.from_text_pretrained(config).eval()
    assert model.melody_tokenizer is model.processor.melody_tokenizer
    assert model.tokenize_text(["a tune"])["input_ids"].equal(model.processor.tokenize_text(["a tune"])["input_ids"])
    pieces, owners = model.processor.melody_windows([scale(3.0)])
    with torch.no_grad():
        per_window = model.get_melody_features(**model.processor.tokenize_melody(pieces))
    torch.testing.assert_close(model.embed_melody([scale(3.0)]), average_windows(per_window, torch.tensor(owners), 1))
