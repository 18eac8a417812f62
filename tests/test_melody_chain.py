"""A long piece's melody from several retrieved melodies (issue 17): key and tempo estimates, the chain, and the
pipeline's `melody_extension="retrieve"`."""

import pytest
import torch

from mmgen.melody.chain import chain_melodies, estimate_key, match_key_and_tempo, median_interonset
from mmgen.melody.notes import Note
from mmgen.melody.sketch import fit_to_length
from mmgen.melody.tokenizer import string_to_notes

MAJOR_STEPS = [0, 2, 4, 5, 7, 9, 11, 12, 7, 4, 0]


def scale_tune(tonic: int, step_s: float, start: float = 0.0) -> list[Note]:
    """A major-scale tune on `tonic` (MIDI), one note every `step_s` seconds from `start`."""
    return [Note(start + k * step_s, start + (k + 0.9) * step_s, tonic + s, 90) for k, s in enumerate(MAJOR_STEPS)]


def test_key_and_tempo_estimates():
    assert estimate_key(scale_tune(60, 0.25)) == (0, "major")
    assert estimate_key(scale_tune(67, 0.25)) == (7, "major")
    a_minor = [Note(0.3 * k, 0.3 * k + 0.25, p, 90) for k, p in enumerate([69, 71, 72, 74, 76, 72, 69, 64, 69])]
    assert estimate_key(a_minor) == (9, "minor")
    assert median_interonset(scale_tune(60, 0.4)) == pytest.approx(0.4)
    assert median_interonset([Note(0.0, 1.0, 60, 90)]) == 0.0


def test_match_key_and_tempo_transposes_by_the_smallest_shift_and_rescales_time():
    tune = scale_tune(67, 0.5, start=3.0)  # G major, two notes a second, starting late
    moved = match_key_and_tempo(tune, (0, "major"), 0.25)
    assert [n.pitch for n in moved] == [n.pitch + 5 for n in tune]  # G -> C: up a fourth, not down a fifth
    assert moved[0].onset == 0.0 and median_interonset(moved) == pytest.approx(0.25)
    assert match_key_and_tempo(tune, (5, "major"), 5.0)[1].onset == pytest.approx(1.0)  # at most twice as slow
    high = [Note(0.0, 0.5, 106, 90), Note(0.5, 1.0, 104, 90)]
    assert max(n.pitch for n in match_key_and_tempo(high, (10, "major"), 0.5)) <= 108  # kept in the sketch's range


def test_chain_plays_the_first_then_the_others_in_its_key_and_tempo():
    first, second, third = scale_tune(60, 0.25), scale_tune(62, 0.5, start=1.0), scale_tune(65, 0.125)
    notes, used = chain_melodies(first, [second, third], 8.0)
    period = max(n.offset for n in first)
    assert notes[: len(first)] == fit_to_length(first, period)
    after = [n for n in notes if period <= n.onset < 2 * period - 1e-6]
    assert [n.pitch for n in after] == [n.pitch for n in scale_tune(60, 0.25)][: len(after)]  # D -> C major
    assert median_interonset(after) == pytest.approx(0.25)
    assert used == 2 and max(n.offset for n in notes) <= 8.0 and len({round(n.onset, 6) for n in notes}) > 22
    short, used_short = chain_melodies(first, [second, third], 1.0)
    assert short == fit_to_length(first, 1.0) and used_short == 0
    with pytest.raises(ValueError, match="notes"):
        chain_melodies(first, [[]], 4.0)


def test_pipeline_continues_a_retrieved_melody_with_the_next_matches(sketch_pipe):
    kwargs = dict(audio_length_in_s=9.0, num_inference_steps=1, output_type="latent", window_length_in_s=4.0,
                  window_overlap_in_s=1.0, generator=torch.Generator().manual_seed(0))  # fmt: skip
    repeated = sketch_pipe("tune 1", **kwargs).melodies[0]
    chained = sketch_pipe("tune 1", melody_extension="retrieve",
                          **{**kwargs, "generator": torch.Generator().manual_seed(0)})
    melody = chained.melodies[0]
    assert melody["id"] == repeated["id"] and "followed_by" not in repeated
    assert melody["followed_by"] and repeated["id"] not in melody["followed_by"]
    assert melody["notes"] != repeated["notes"] and max(n.offset for n in melody["notes"]) <= 9.0
    period = max(n.offset for n in string_to_notes(repeated["source_tokens"]))  # the first melody, played once
    assert [n for n in melody["notes"] if n.onset < period] == [n for n in repeated["notes"] if n.onset < period]
    assert estimate_key(melody["notes"])[0] == estimate_key(repeated["notes"])[0]
    with pytest.raises(ValueError, match="melody_extension"):
        sketch_pipe("tune 1", melody_extension="shuffle", **kwargs)


def test_the_app_and_cli_pass_the_choice_and_refuse_a_bad_one(capsys):
    from mmgen.app.settings import GenerationSettings, SpaceError
    from mmgen.cli import main

    settings = GenerationSettings(melody_extension="retrieve").checked()
    assert settings.melody_extension == "retrieve" and settings.record()["melody_extension"] == "retrieve"
    with pytest.raises(SpaceError, match="melody extension"):
        GenerationSettings(melody_extension="shuffle").checked()
    with pytest.raises(SystemExit):
        main(["generate", "a waltz", "--melody-extension", "shuffle"])
    assert "--melody-extension" in capsys.readouterr().err
