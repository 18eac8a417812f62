"""Captions from musical facts: facts are stated, phrasing varies, a seed makes it deterministic."""

import random
import re
from collections import Counter

import pytest

from mmgen.data.captions import CaptionWriter, MusicFacts, mood_words, pretty_key, tempo_words

INSTRUMENTS = ["flute", "violin", "piano", "trumpet", "cello", "harp", "clarinet", "banjo"]
COLLECTIONS = ["essen", "oneills", "ryans", "airds", "bach", "palestrina"]


def _random_facts(rng):
    accompaniment = rng.choice(["none", "bass", "chords", "bass+chords"])
    extra = {"none": [], "bass": ["acoustic bass"], "chords": ["piano"], "bass+chords": ["tuba", "harp"]}
    return MusicFacts(
        instruments=[rng.choice(INSTRUMENTS)] + extra[accompaniment],
        collection=rng.choice(COLLECTIONS),
        accompaniment=accompaniment,
        bpm=float(rng.randint(50, 190)),
        key=f"{rng.choice('cdefgab')} {rng.choice(['major', 'minor'])}",
        meter=rng.choice(["2/4", "3/4", "4/4", "6/8"]),
        register=rng.choice(["low", "middle", "high"]),
        dynamics=rng.choice(["pp", "p", "mf", "f", "ff"]),
    )


def _skeleton(caption, facts):
    """The caption with its fact words masked: what a text encoder could key on if templates were few."""
    text = caption.lower()
    for word in facts.instruments + [str(int(facts.bpm)), pretty_key(facts.key)[0].lower()]:
        text = text.replace(word.lower(), "#")
    return re.sub(r"[^a-z# ]", "", text)


def test_captions_state_the_facts_with_varied_phrasing():
    rng = random.Random(0)
    writer = CaptionWriter(seed=1)
    pairs = [(facts, writer.write_one(facts)) for facts in (_random_facts(rng) for _ in range(300))]
    for facts, caption in pairs:
        assert facts.instruments[0] in caption  # the lead instrument is always named
    with_bpm = sum(str(int(f.bpm)) in c for f, c in pairs)
    with_key = sum(pretty_key(f.key)[0] in c for f, c in pairs)
    assert 0.5 * len(pairs) < with_bpm < len(pairs)  # usually stated, sometimes only in words
    assert 0.5 * len(pairs) < with_key < len(pairs)
    skeletons = {_skeleton(c, f) for f, c in pairs}
    assert len(skeletons) > 0.9 * len(pairs)  # almost no two captions share a template
    openings = Counter(" ".join(c.split()[:2]).lower() for _, c in pairs)
    assert len(openings) >= 15 and openings.most_common(1)[0][1] < 0.25 * len(pairs)
    shapes = Counter("tags" if ("|" in c or ";" in c or c.startswith(("Tags", "Keywords"))) else
                     "sentences" if c.count(". ") >= 1 else "one" for _, c in pairs)  # fmt: skip
    assert len(shapes) == 3


def test_captions_are_deterministic_per_seed_and_distinct():
    facts = MusicFacts(["violin", "violin", "viola", "cello"], "bach", "parts", "string quartet", 72, "f# minor")
    first = CaptionWriter(seed=7).write(facts, n=4)
    assert first == CaptionWriter(seed=7).write(facts, n=4)
    assert first != CaptionWriter(seed=8).write(facts, n=4)
    assert len(set(first)) == 4
    assert all("F# minor" in c or "string quartet" in c or "violin" in c for c in first)


def test_fact_vocabulary_helpers():
    assert pretty_key("B- major") == ("Bb major", "major")
    assert pretty_key("f# minor") == ("F# minor", "minor")
    assert "slow" in tempo_words(70) and "fast" in tempo_words(150)
    assert set(mood_words("minor", 60)) & {"sad", "melancholic"}
    assert set(mood_words("major", 150)) & {"cheerful", "joyful"}
    with pytest.raises(ValueError, match="lead instrument"):
        CaptionWriter().write_one(MusicFacts([]))
