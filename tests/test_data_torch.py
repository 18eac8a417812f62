"""MusicSetTorchDataset / MusicSetCollator: shapes, crops whose melody matches the cropped audio, caching."""

import datasets
import mir_eval
import numpy as np
import pytest
import torch

from mmgen.audio import HOP_LENGTH, LOG_MEL_SILENCE, PITCH_BINS, SAMPLE_RATE, log_mel_spectrogram, semitone_spectrogram
from mmgen.data import MusicSetCollator, MusicSetTorchDataset, crop_melody
from mmgen.data.format import MusicSetError, decode_audio, encode_flac, musicset_features, save_musicset, split_table
from mmgen.melody import MelodyTokenizer, Note, notes_to_string, string_to_notes
from mmgen.melody.transcribe import extract_notes


def _render(notes, seconds):
    wave = np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)
    for n in notes:
        start, stop = int(n.onset * SAMPLE_RATE), int(n.offset * SAMPLE_RATE)
        t = np.arange(stop - start) / SAMPLE_RATE
        fade = np.minimum(1.0, np.minimum(t / 0.01, (n.duration - t) / 0.02)).clip(0, 1)
        wave[start:stop] += 0.4 * fade * np.sin(2 * np.pi * 440 * 2 ** ((n.pitch - 69) / 12) * t)
    return wave


def _notes(first_pitch, seconds, note_s=0.35, gap_s=0.15):
    count = int(seconds / (note_s + gap_s))
    return [Note(0.1 + i * (note_s + gap_s), 0.1 + i * (note_s + gap_s) + note_s, first_pitch + (i * 5) % 17, 90)
            for i in range(count)]  # fmt: skip


@pytest.fixture(scope="module")
def split():
    rows = []
    for i, seconds in enumerate([6.0, 6.0, 5.0, 1.0]):
        notes = _notes(55 + 3 * i, seconds)
        rows.append({"id": f"clip-{i}", "audio": encode_flac(_render(notes, seconds)), "caption": f"tune {i}",
                     "alt_captions": [f"other words for tune {i}"], "melody": notes_to_string(notes),
                     "source": f"s{i}", "group": f"s{i}", "start_s": 0.0, "duration_s": seconds})  # fmt: skip
    return datasets.Dataset.from_list(rows, features=musicset_features())


def test_items_have_the_contract_shapes(split):
    dataset = MusicSetTorchDataset(split, clip_seconds=2.0, return_waveform=True)
    frames = int(2.0 * SAMPLE_RATE) // HOP_LENGTH
    assert len(dataset) == 4 and dataset.num_frames == frames == 172
    item = dataset[0]
    assert item["mel"].shape == (80, frames) and item["mel"].dtype == torch.float32
    assert item["waveform"].shape == (frames * HOP_LENGTH,)
    assert item["caption"] == "tune 0" and item["id"] == "clip-0"
    assert string_to_notes(item["melody"])  # a 2 s crop of this tune holds notes
    short = dataset[3]  # 1 s clip: padded
    assert torch.all(short["mel"][:, -50:] == LOG_MEL_SILENCE)
    assert torch.all(short["waveform"][SAMPLE_RATE + 100 :] == 0)
    assert "waveform" not in MusicSetTorchDataset(split, clip_seconds=2.0)[0]


def test_crop_keeps_the_notes_inside_the_crop(split):
    dataset = MusicSetTorchDataset(split, clip_seconds=2.0, return_waveform=True, seed=3)
    tokenizer = MelodyTokenizer()
    for index in (0, 1, 2, 0, 1):
        item = dataset[index]
        start = item["start_s"]
        full = string_to_notes(split[index]["melody"])
        expected = [n for n in full if n.offset - start > 0.03 and n.onset < start + 2.0 - 0.03]
        got = string_to_notes(item["melody"])
        assert [n.pitch for n in got] == [n.pitch for n in expected]
        for g, e in zip(got, expected):
            assert g.onset == pytest.approx(max(e.onset - start, 0.0), abs=0.02)
            assert g.offset <= dataset.num_samples / SAMPLE_RATE + 0.02
        # the crop's audio, transcribed again, gives the crop's melody
        audio_notes = extract_notes(item["waveform"].numpy())
        ref = np.array([[n.onset, n.offset] for n in got])
        est = np.array([[n.onset, n.offset] for n in audio_notes]).reshape(-1, 2)
        precision, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
            ref, 440 * 2 ** ((np.array([n.pitch for n in got]) - 69) / 12), est,
            440 * 2 ** ((np.array([n.pitch for n in audio_notes]) - 69) / 12), offset_ratio=None,
        )  # fmt: skip
        assert f1 > 0.8, (index, start, f1)
        # and the mel is the cropped audio's mel
        mel = log_mel_spectrogram(item["waveform"].numpy())
        assert np.abs(mel[:, 2:-2] - item["mel"].numpy()[:, 2:-2]).max() < 0.05
    assert tokenizer.decode_notes(tokenizer(item["melody"])["input_ids"]) == string_to_notes(item["melody"])


def test_crop_melody_edges():
    notes = [Note(0.0, 1.0, 60), Note(1.0, 1.5, 62), Note(1.6, 3.0, 64)]
    cropped = string_to_notes(crop_melody(notes_to_string(notes), 0.9, 1.0))
    assert [n.pitch for n in cropped] == [60, 62, 64]
    assert cropped[0].onset == pytest.approx(0.0, abs=0.01) and cropped[0].offset == pytest.approx(0.1, abs=0.01)
    assert cropped[-1].offset == pytest.approx(1.0, abs=0.02)
    assert crop_melody(notes_to_string(notes), 5.0, 1.0) == "" and crop_melody("", 0.0, 1.0) == ""


def test_crops_are_seeded_and_mels_cached(split):
    starts = [MusicSetTorchDataset(split, 2.0, seed=5)[0]["start_s"] for _ in range(2)]
    assert starts[0] == starts[1]
    many = {MusicSetTorchDataset(split, 2.0, seed=s)[0]["start_s"] for s in range(8)}
    assert len(many) > 1
    fixed = MusicSetTorchDataset(split, 2.0, random_crop=False)
    first = fixed[1]
    assert first["start_s"] == 0.0 and 1 in fixed._mel_cache
    again = fixed[1]  # from the cache (float16)
    assert torch.allclose(first["mel"], again["mel"], atol=0.02)
    uncached = MusicSetTorchDataset(split, 2.0, random_crop=False, cache_mels=False)
    assert torch.allclose(uncached[1]["mel"], first["mel"], atol=0.02) and not uncached._mel_cache
    assert MusicSetTorchDataset(split, 2.0, alt_caption_prob=1.0)[2]["caption"] == "other words for tune 2"


def test_collator_batches_and_masks(split):
    dataset = MusicSetTorchDataset(split, clip_seconds=2.0, return_waveform=True)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, collate_fn=MusicSetCollator(max_melody_tokens=64))
    batch = next(iter(loader))
    assert batch["mel"].shape == (4, 80, 172) and batch["waveform"].shape == (4, 172 * HOP_LENGTH)
    assert batch["ids"] == ["clip-0", "clip-1", "clip-2", "clip-3"] and len(batch["captions"]) == 4
    ids, mask = batch["melody_input_ids"], batch["melody_attention_mask"]
    assert ids.dtype == mask.dtype == torch.long and ids.shape == mask.shape and ids.shape[1] <= 64
    tokenizer = MelodyTokenizer()
    for row, melody in enumerate(batch["melodies"]):
        length = int(mask[row].sum())
        decoded, full = tokenizer.decode_notes(ids[row, :length].tolist()), string_to_notes(melody)
        assert decoded == full[: len(decoded)] and (length == 64 or decoded == full)  # prefix only if truncated
        assert torch.all(ids[row, length:] == tokenizer.pad_token_id)
    with pytest.raises(ValueError, match="empty batch"):
        MusicSetCollator()([])


def test_pitch_features_are_the_crops_semitone_rows_and_are_batched(split):
    dataset = MusicSetTorchDataset(split, clip_seconds=2.0, seed=3, pitch_features=True, return_waveform=True)
    item = dataset[0]
    frames = dataset.num_frames
    assert item["pitch"].shape == (PITCH_BINS, frames) and item["mel"].shape == (80, frames)
    full = semitone_spectrogram(decode_audio(split[0]))
    start = round(item["start_s"] * SAMPLE_RATE / HOP_LENGTH)
    assert start > 0  # a random crop, so the rows must come from the right place
    assert torch.allclose(item["pitch"], torch.from_numpy(full[:, start : start + frames]), atol=0.05)
    assert torch.all(dataset[3]["pitch"][:, -50:] == LOG_MEL_SILENCE)  # the 1 s clip is padded with silence
    batch = MusicSetCollator()([dataset[i] for i in range(4)])
    assert batch["pitch"].shape == (4, PITCH_BINS, frames)
    assert "pitch" not in MusicSetCollator()([MusicSetTorchDataset(split, 2.0)[0]])


def test_path_input_and_errors(split, tmp_path):
    save_musicset(split_table(split), tmp_path / "set", {"builder": "test"})
    by_path = MusicSetTorchDataset(str(tmp_path / "set"), 2.0, split_name="train")
    assert len(by_path) >= 1 and by_path[0]["mel"].shape == (80, 172)
    with pytest.raises(MusicSetError, match="lacks the MusicSet column"):
        MusicSetTorchDataset(split.remove_columns(["melody"]))
    with pytest.raises(MusicSetError, match="too short"):
        MusicSetTorchDataset(split, clip_seconds=0.01)
