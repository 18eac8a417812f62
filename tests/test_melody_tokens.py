"""mmgen.melody.tokenizer: official-format melody tokens and the MelodyTokenizer."""

import json
import math
import random

import pytest
import torch

from mmgen.melody.notes import MelodyError, Note, skyline, sort_notes
from mmgen.melody.tokenizer import (
    NUM_TIME_BINS,
    MelodyTokenizer,
    bin_half_width,
    bin_to_time,
    max_quantisation_error,
    notes_to_string,
    notes_to_triples,
    string_to_notes,
    time_to_bin,
)


def half_spacing(index: int) -> float:
    """Half the distance between the neighbouring bin boundaries of bin `index` (no clamping at the ends)."""
    return (bin_to_time(index + 0.5) - bin_to_time(index - 0.5)) / 2


def half_bin(index: int) -> float:
    """The largest quantisation error of bin `index`: the bins are centred on the log scale, so the upper half is
    slightly wider (by about 0.05%) than half the spacing."""
    return max(bin_to_time(index + 0.5) - bin_to_time(index), bin_to_time(index) - bin_to_time(index - 0.5))


def random_melody(rng: random.Random, n: int) -> list[Note]:
    """A monophonic line: rests from a slight legato overlap (-0.25 s) to 2 s, durations 30 ms to 3 s.

    Half of the melodies start exactly at 0 s, whose bin (79) decodes to -0.7 ms and is clamped to 0 by the
    decoder: the encoder applies the same clamping, so later notes must not drift.
    """
    notes, end = [], rng.choice([0.0, rng.uniform(0.01, 1.0)])
    for _ in range(n):
        duration = rng.choice([rng.uniform(0.03, 0.5), rng.uniform(0.03, 3.0)])
        rest = rng.choice([0.0, rng.uniform(0.0, 2.0), -min(0.25, duration * 0.5) * rng.random()])
        onset = max(end + rest, notes[-1].onset + 0.01 if notes else end)
        notes.append(Note(onset, onset + duration, rng.randint(36, 96), 100))
        end = onset + duration
    return notes


# ---- the time scale ------------------------------------------------------------------------------------------


def test_vocabulary_has_655_entries():
    tok = MelodyTokenizer()
    assert tok.vocab_size == 655 == len(tok)
    assert len(set(tok.get_vocab().values())) == 655
    for token in ("<s>", "</s>", "<unk>", ",", "|", "<0>", "<511>", "<C-1>", "<B9>", "<G4>"):
        assert token in tok.get_vocab()


def test_special_bins():
    assert time_to_bin(0.0) == 79  # a rest of exactly 0
    assert time_to_bin(-0.3) == 0 and time_to_bin(-5.0) == 0  # overlaps of 0.3 s or more
    assert time_to_bin(6.0) == 511 and time_to_bin(60.0) == 511  # 6 s or more
    assert bin_to_time(0) == pytest.approx(-0.3)
    assert bin_to_time(511) == pytest.approx(6.0)
    assert abs(bin_to_time(79)) < half_spacing(79)


def test_bins_are_monotonic_and_invert():
    times = [bin_to_time(i) for i in range(NUM_TIME_BINS)]
    assert all(b > a for a, b in zip(times, times[1:]))
    assert [time_to_bin(t) for t in times] == list(range(NUM_TIME_BINS))
    # resolution: about 4.5 ms near 0, about 32 ms near 6 s
    assert 0.003 < 2 * half_spacing(79) < 0.006
    assert 0.025 < 2 * half_spacing(510) < 0.035


def test_bin_half_width_matches_the_spacing_inside_the_scale():
    for index in (1, 79, 200, 510):
        assert bin_half_width(index) == pytest.approx(half_spacing(index), rel=1e-6)


# ---- round trips -------------------------------------------------------------------------------------------------


def test_round_trip_within_half_a_bin_on_random_melodies():
    rng = random.Random(1234)
    for case in range(300):
        notes = random_melody(rng, rng.randint(1, 60))
        text = notes_to_string(notes)
        triples = notes_to_triples(notes)
        decoded = string_to_notes(text)
        assert len(decoded) == len(notes), case
        for original, back, (pitch, duration_bin, rest_bin) in zip(notes, decoded, triples):
            assert back.pitch == original.pitch == pitch
            assert abs(back.onset - original.onset) <= half_bin(rest_bin) + 1e-9, (case, original, back)
            assert abs(back.offset - original.offset) <= half_bin(duration_bin) + 1e-9, (case, original, back)
            assert abs(back.onset - original.onset) <= 0.016 and abs(back.offset - original.offset) <= 0.016


def test_error_does_not_accumulate_over_a_long_melody():
    # 4 minutes of notes whose rests and durations all round the same way: without error feedback the error
    # would grow by about 1.5 ms per note.
    notes = [Note(0.05 + 0.1237 * i, 0.05 + 0.1237 * i + 0.0911, 60 + i % 12) for i in range(2000)]
    triples = notes_to_triples(notes)
    decoded = string_to_notes(notes_to_string(notes))
    errors = [abs(a.onset - b.onset) for a, b in zip(notes, decoded)]
    bound = max(half_bin(rest) for _, _, rest in triples) + 1e-9
    assert max(errors[-100:]) <= bound and max(errors[:100]) <= bound
    assert abs(decoded[-1].offset - notes[-1].offset) <= half_bin(triples[-1][1]) + 1e-9


def test_first_rest_is_the_onset_from_zero():
    notes = [Note(1.5, 2.0, 67)]
    assert notes_to_string(notes).split(",")[2] == f"<{time_to_bin(1.5)}>"
    assert string_to_notes(notes_to_string(notes))[0].onset == pytest.approx(1.5, abs=half_spacing(time_to_bin(1.5)))


def test_official_example_string_decodes():
    decoded = string_to_notes("<G4>,<114>,<79>|<A4>,<119>,<81>")
    assert [n.pitch for n in decoded] == [67, 69]
    assert decoded[0].onset == 0.0
    assert decoded[0].duration == pytest.approx(bin_to_time(114))
    assert decoded[1].onset == pytest.approx(decoded[0].offset + bin_to_time(81))


def test_long_durations_and_rests_are_clamped_to_six_seconds():
    decoded = string_to_notes(notes_to_string([Note(0.0, 8.0, 60), Note(20.0, 20.5, 62)]))
    assert decoded[0].duration == pytest.approx(6.0)
    assert decoded[1].onset == pytest.approx(12.0, abs=0.02)  # the 12 s rest becomes 6 s


def test_unsorted_input_is_sorted_by_onset():
    notes = [Note(1.0, 1.5, 64), Note(0.0, 0.5, 60), Note(0.5, 1.0, 62)]
    assert [n.pitch for n in string_to_notes(notes_to_string(notes))] == [60, 62, 64]


# ---- chords, overlaps, skyline ---------------------------------------------------------------------------------


def test_short_chord_round_trips_highest_note_first():
    chord = [Note(1.0, 1.25, p) for p in (60, 64, 67)]
    text = notes_to_string(chord)
    assert text.startswith("<G4>,")
    assert [group.split(",")[0] for group in text.split("|")] == ["<G4>", "<E4>", "<C4>"]
    assert time_to_bin(-0.25) == int(text.split("|")[1].split(",")[2][1:-1])  # negative rest back to the onset
    decoded = string_to_notes(text)
    assert [n.pitch for n in decoded] == [67, 64, 60]
    for n in decoded:
        assert n.onset == pytest.approx(1.0, abs=0.005) and n.offset == pytest.approx(1.25, abs=0.005)


def test_long_chord_overlap_is_clamped_to_bin_zero():
    chord = [Note(0.0, 1.0, 67), Note(0.0, 1.0, 60)]
    text = notes_to_string(chord)
    assert text.split("|")[1].split(",")[2] == "<0>"  # rest -1 s clamped to -0.3 s
    decoded = string_to_notes(text)
    assert decoded[1].onset == pytest.approx(0.7, abs=0.005)  # decodes 0.7 s late, as documented
    assert decoded[1].offset == pytest.approx(1.0, abs=0.005)  # its end is kept: the note is shortened


def test_skyline_keeps_the_highest_sounding_note():
    notes = [
        Note(0.0, 1.0, 60),  # cut at 0.5 when the higher note starts
        Note(0.5, 1.5, 72),
        Note(0.8, 1.2, 65),  # starts under a higher note: dropped
        Note(2.0, 2.5, 48),
        Note(2.0, 2.5, 55),  # chord: only the top survives
    ]
    line = skyline(notes)
    assert [(n.pitch, n.onset, n.offset) for n in line] == [(60, 0.0, 0.5), (72, 0.5, 1.5), (55, 2.0, 2.5)]
    assert skyline(line) == line
    text = notes_to_string(notes, reduction="skyline")
    assert [group.split(",")[0] for group in text.split("|")] == ["<C4>", "<C5>", "<G3>"]


def test_unknown_reduction_raises():
    with pytest.raises(ValueError, match="reduction"):
        notes_to_string([Note(0, 1, 60)], reduction="lowest")


def test_sort_notes_orders_chords_top_down():
    assert [n.pitch for n in sort_notes([Note(0, 1, 60), Note(0, 1, 67), Note(-1, 0, 50)])] == [50, 67, 60]


# ---- errors --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<G4>,<114>",  # two parts
        "<G4>,<114>,<79>,<1>",  # four parts
        "<H4>,<114>,<79>",  # no such pitch
        "<G4>,<512>,<79>",  # bin out of range
        "<G4>,<114>,<-1>",
        "<G4>,<abc>,<79>",
        "<G4>,<114>,<79>|garbage",
        "<G4>,114,<79>",  # time without brackets
        "G4,<114>,<79>",  # pitch without brackets
    ],
)
def test_malformed_strings_raise_melody_error(text):
    with pytest.raises(MelodyError):
        string_to_notes(text)


def test_pitch_outside_the_midi_range_raises():
    with pytest.raises(MelodyError, match="outside the MIDI range"):
        notes_to_string([Note(0.0, 1.0, 140)])
    with pytest.raises(MelodyError, match="outside the MIDI pitch range"):  # in the vocabulary, not in MIDI
        string_to_notes("<A9>,<114>,<79>")


def test_melody_starting_at_zero_does_not_drift():
    notes = [Note(0.5 * i, 0.5 * i + 0.4, 60 + i % 5) for i in range(200)]
    decoded = string_to_notes(notes_to_string(notes))
    assert decoded[0].onset == 0.0
    assert max(abs(a.onset - b.onset) for a, b in zip(notes, decoded)) < 0.0025  # not 200 x 0.7 ms


def test_max_quantisation_error_is_the_upper_half_interval():
    for index in (1, 79, 300, 510):
        assert max_quantisation_error(index) == pytest.approx(half_bin(index), rel=1e-9)


def test_decode_skipping_special_tokens_keeps_separators(texts):
    tok = MelodyTokenizer()
    ids = tok(texts[0])["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == texts[0]


def test_empty_string_and_empty_notes():
    assert string_to_notes("") == []
    assert notes_to_string([]) == ""


# ---- MelodyTokenizer ---------------------------------------------------------------------------------------------


@pytest.fixture
def texts():
    rng = random.Random(7)
    return [notes_to_string(random_melody(rng, n)) for n in (3, 10)]


def test_tokenizer_ids_and_structure(texts):
    tok = MelodyTokenizer()
    ids = tok(texts[0])["input_ids"]
    assert len(ids) == 6 * 3 - 1 + 2  # 5 tokens per note, '|' between notes, <s> and </s>
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    tokens = tok.convert_ids_to_tokens(ids)
    assert tokens[1].startswith("<") and tokens[2] == "," and tokens[6] == "|"
    assert tok.decode(ids) == texts[0]  # <s> and </s> are left out of the text
    assert tok.unk_token_id not in ids


def test_padding_truncation_and_masks(texts):
    tok = MelodyTokenizer()
    lengths = [len(tok(t)["input_ids"]) for t in texts]
    batch = tok(texts, padding="max_length", max_length=40, truncation=True, return_tensors="pt")
    assert lengths[0] < 40 < lengths[1]
    assert batch["input_ids"].shape == (2, 40) and batch["input_ids"].dtype == torch.long
    assert batch["attention_mask"].sum(dim=1).tolist() == [lengths[0], 40]
    short = batch["input_ids"][0]
    assert torch.all(short[lengths[0] :] == tok.pad_token_id)
    assert torch.all(batch["attention_mask"][0, lengths[0] :] == 0)
    assert batch["input_ids"][1, -1] == tok.eos_token_id  # truncated, still closed

    longest = tok(texts, padding="longest", return_tensors="pt")
    assert longest["input_ids"].shape == (2, max(lengths))


def test_decode_notes_drops_a_triple_cut_by_truncation(texts):
    tok = MelodyTokenizer()
    full = string_to_notes(texts[1])
    ids = tok(texts[1], max_length=20, truncation=True)["input_ids"]
    decoded = tok.decode_notes(ids)
    assert len(decoded) == 3  # 18 content tokens: three complete triples
    assert decoded == full[:3]
    padded = tok(texts[1], padding="max_length", max_length=200)["input_ids"]
    assert tok.decode_notes(padded) == full


def test_encode_notes_single_and_batch():
    tok = MelodyTokenizer()
    melody = [Note(0.0, 0.5, 60), Note(0.5, 1.0, 62)]
    single = tok.encode_notes(melody)
    assert single["input_ids"] == tok(notes_to_string(melody))["input_ids"]
    batch = tok.encode_notes([melody, melody[:1]], padding=True, return_tensors="pt")
    assert batch["input_ids"].shape == (2, 13)
    assert batch["attention_mask"][1].sum() == 7
    chord = [Note(0.0, 0.5, 60), Note(0.0, 0.5, 67)]
    assert len(tok.encode_notes(chord, reduction="skyline")["input_ids"]) == 7


def test_save_and_load(tmp_path, texts):
    tok = MelodyTokenizer(model_max_length=256)
    tok.save_pretrained(tmp_path)
    with open(tmp_path / "vocab.json", encoding="utf-8") as f:
        vocab = json.load(f)
    assert len(vocab) == 655 and vocab["<G4>"] == tok.convert_tokens_to_ids("<G4>")
    loaded = MelodyTokenizer.from_pretrained(tmp_path)
    assert loaded.get_vocab() == tok.get_vocab()
    assert loaded.pad_token_id == tok.pad_token_id and loaded.model_max_length == 256
    assert loaded(texts)["input_ids"] == tok(texts)["input_ids"]


def test_tokenizer_refuses_pairs():
    with pytest.raises(ValueError, match="one melody"):
        MelodyTokenizer().build_inputs_with_special_tokens([5], [6])


def test_time_scale_constants_follow_the_official_formula():
    x = 0.37
    expected = round((math.log(x + 1) - math.log(0.7)) / (math.log(7) - math.log(0.7)) * 511)
    assert time_to_bin(x) == expected
