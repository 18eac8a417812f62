"""Captions written from musical facts, with enough phrasing variety that a text encoder cannot key on a template.

The paper asks an LLM (MPT-7B-Chat) to expand tag lists into descriptions. No LLM is available offline, so the
synthetic MusicSet writes its captions from the facts used to render each clip: style / origin of the source
collection, instrument(s) and accompaniment, tempo in words and BPM, key and mode, meter, register, dynamics,
and mood words derived from mode and tempo. Variety comes from several caption shapes (prose, one long
sentence, tag list), synonyms for every fact, optional clauses and shuffled clause order; a seeded
`random.Random` makes it deterministic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# collection -> ways to name its style (the first matches mmgen.melody.corpus.COLLECTIONS)
STYLE_PHRASES = {
    "essen": ("a European folk song", "a German folk melody", "a traditional European folk tune", "an old folk song"),
    "oneills": (
        "an Irish dance tune",
        "a traditional Irish tune",
        "an Irish folk dance melody",
        "a Celtic dance tune",
    ),
    "ryans": (
        "a fiddle tune from Ryan's Mammoth Collection",
        "an old American fiddle tune",
        "a traditional reel",
        "a 19th-century dance tune",
    ),
    "airds": ("a Scottish air", "a traditional Scottish melody", "a Scottish folk tune", "an old Highland air"),
    "bach": (
        "a Bach chorale",
        "a four-part chorale by J. S. Bach",
        "a Baroque chorale",
        "a Lutheran hymn harmonised by Bach",
    ),
    "palestrina": (
        "a Renaissance motet by Palestrina",
        "a piece of Renaissance polyphony",
        "a sacred Renaissance work",
        "a Palestrina motet",
    ),
}
STYLE_TAGS = {
    "essen": ("folk", "european folk"),
    "oneills": ("irish folk", "celtic"),
    "ryans": ("fiddle music", "folk dance"),
    "airds": ("scottish folk", "celtic"),
    "bach": ("baroque", "classical", "chorale"),
    "palestrina": ("renaissance", "early music", "sacred"),
}

TEMPO_WORDS = (  # (upper bpm bound, words)
    (60, ("very slow", "stately", "unhurried", "largo")),
    (76, ("slow", "leisurely", "gentle-paced", "adagio")),
    (108, ("moderate", "medium-tempo", "walking-pace", "moderately paced")),
    (132, ("lively", "brisk", "upbeat", "allegro")),
    (168, ("fast", "quick", "energetic", "rapid")),
    (1000, ("very fast", "racing", "presto", "breakneck")),
)
MOODS = {
    ("major", "slow"): ("calm", "peaceful", "serene", "tender", "warm", "gentle"),
    ("major", "mid"): ("pleasant", "warm", "graceful", "bright", "friendly", "sunny"),
    ("major", "fast"): ("cheerful", "joyful", "playful", "happy", "festive", "energetic"),
    ("minor", "slow"): ("melancholic", "sad", "wistful", "mournful", "somber", "longing"),
    ("minor", "mid"): ("pensive", "nostalgic", "bittersweet", "reflective", "dark", "brooding"),
    ("minor", "fast"): ("restless", "urgent", "dramatic", "intense", "driving", "stormy"),
}
DYNAMICS = {
    "pp": ("very softly", "in a hushed, very quiet way", "pianissimo", "barely above a whisper"),
    "p": ("softly", "quietly", "at a low volume", "delicately"),
    "mf": ("at a moderate volume", "with a medium loudness", "at a comfortable level", "mezzo-forte"),
    "f": ("loudly", "strongly", "with a full, loud sound", "forte"),
    "ff": ("very loudly", "forcefully", "at full power", "fortissimo"),
}
DYNAMICS_ADJ = {
    "pp": ("hushed", "very quiet"),
    "p": ("soft", "quiet"),
    "mf": ("moderately loud", "balanced"),
    "f": ("loud", "strong"),
    "ff": ("very loud", "powerful"),
}
REGISTER = {
    "low": ("in a low register", "low-pitched", "deep in the low range", "in the bass range"),
    "middle": ("in a middle register", "in the mid range", "at a comfortable middle pitch", "mid-pitched"),
    "high": ("in a high register", "high-pitched", "up in the high range", "bright and high"),
}
METER_WORDS = {
    "2/4": ("a brisk duple meter", "two beats to the bar", "a march-like 2/4"),
    "3/4": ("waltz time", "three beats to the bar", "a triple meter"),
    "4/4": ("common time", "four beats to the bar", "a steady 4/4 pulse"),
    "6/8": ("a lilting compound meter", "a swaying 6/8 jig rhythm", "two dotted beats to the bar"),
    "9/8": ("a slip-jig 9/8", "a rolling compound triple meter"),
    "3/2": ("a broad triple meter in half notes", "a stately 3/2"),
}
MELODY_NOUNS = ("melody", "tune", "theme", "line", "piece")
PLAY_VERBS = ("plays", "carries", "performs", "sings out", "leads with")
ACCOMPANIMENT_PHRASES = {
    "bass": ("over a simple {bass} bass line", "supported by a {bass} bass", "with a {bass} playing the bass notes"),
    "chords": ("over sustained {chords} chords", "accompanied by {chords} chords", "with {chords} harmony underneath"),
    "bass+chords": (
        "accompanied by {chords} chords and a {bass} bass",
        "over {chords} harmony and a {bass} bass line",
        "with a backing of {chords} chords and {bass} bass",
    ),
    "parts": ("with the lower voices on {others}", "harmonised by {others}", "in four-part harmony with {others}"),
}
SOLO_PHRASES = ("solo {lead}", "unaccompanied {lead}", "{lead} alone", "lone {lead}")


@dataclass
class MusicFacts:
    """The facts a caption is written from (any of them may be missing except the lead instrument)."""

    instruments: list[str]
    collection: str | None = None
    accompaniment: str = "none"  # none, bass, chords, bass+chords, parts
    ensemble: str | None = None  # e.g. "string quartet" when every part has an instrument of one family
    bpm: float | None = None
    key: str | None = None  # "g minor", "B- major", "f# minor"
    meter: str | None = None
    register: str | None = None  # low, middle, high
    dynamics: str | None = None  # pp, p, mf, f, ff
    extra_tags: list[str] = field(default_factory=list)


def tempo_words(bpm: float) -> tuple[str, ...]:
    """Words for a tempo in quarter notes per minute."""
    return next(words for bound, words in TEMPO_WORDS if bpm < bound)


def pretty_key(key: str) -> tuple[str, str]:
    """'g minor' -> ('G minor', 'minor'); 'B- major' -> ('Bb major', 'major')."""
    tonic, _, mode = key.strip().partition(" ")
    tonic = tonic[:1].upper() + tonic[1:].replace("-", "b")
    return f"{tonic} {mode}".strip(), mode.lower()


def mood_words(mode: str | None, bpm: float | None) -> tuple[str, ...]:
    """Mood adjectives derived from the mode (major / minor) and the tempo."""
    mode = mode if mode in ("major", "minor") else "major"
    speed = "mid" if bpm is None else "slow" if bpm < 80 else "fast" if bpm >= 120 else "mid"
    return MOODS[(mode, speed)]


def _article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


class CaptionWriter:
    """Write varied captions from `MusicFacts`.

    ```py
    >>> writer = CaptionWriter(seed=0)
    >>> writer.write(MusicFacts(["flute"], collection="oneills", bpm=126, key="D major", meter="6/8"), n=2)
    ```
    """

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)

    # --- clause builders: each returns one phrasing picked at random -------------------------------------------
    def _performers(self, facts: MusicFacts) -> str:
        rng, lead = self.rng, facts.instruments[0]
        if facts.ensemble:
            members = sorted(set(facts.instruments), key=facts.instruments.index)
            if len(members) > 1 and rng.random() < 0.4:
                return f"{_article(facts.ensemble)} ({', '.join(members)})"
            return _article(facts.ensemble)
        if facts.accompaniment in ACCOMPANIMENT_PHRASES and len(facts.instruments) > 1:
            others = facts.instruments[1:]
            bass, chords = others[0], others[-1]  # instruments are [lead, bass, chords] (see synthetic_musicset.py)
            others_text = ", ".join(others[:-1]) + (" and " if len(others) > 1 else "") + others[-1]
            clause = rng.choice(ACCOMPANIMENT_PHRASES[facts.accompaniment]).format(
                bass=bass, chords=chords, others=others_text
            )
            return f"{_article(lead)} {clause}"
        return _article(rng.choice(SOLO_PHRASES).format(lead=lead))

    def _tempo(self, facts: MusicFacts, with_bpm: bool) -> str:
        word = self.rng.choice(tempo_words(facts.bpm))
        bpm = int(round(facts.bpm))
        if not with_bpm:
            return f"{_article(word)} tempo"
        return self.rng.choice(
            (
                f"{_article(word)} tempo of {bpm} BPM",
                f"{_article(word)} {bpm} beats per minute",
                f"about {bpm} BPM ({word})",
                f"{_article(word)} pace, around {bpm} bpm",
            )
        )

    def _key(self, facts: MusicFacts) -> str:
        name, mode = pretty_key(facts.key)
        return self.rng.choice((f"in {name}", f"in the key of {name}", f"set in {name}", f"in a {mode} key ({name})"))

    def _meter(self, facts: MusicFacts) -> str:
        words = METER_WORDS.get(facts.meter)
        if words and self.rng.random() < 0.6:
            return self.rng.choice(
                (
                    f"in {self.rng.choice(words)}",
                    f"moving in {self.rng.choice(words)}",
                    f"with {self.rng.choice(words)}",
                )
            )
        return self.rng.choice((f"in {facts.meter} time", f"in {facts.meter}", f"with a {facts.meter} meter"))

    def _facts_clauses(self, facts: MusicFacts) -> list[str]:
        """Optional descriptive clauses (each kept with some probability), in shuffled order."""
        rng = self.rng
        clauses = []
        if facts.key and rng.random() < 0.8:
            clauses.append(self._key(facts))
        if facts.meter and rng.random() < 0.6:
            clauses.append(self._meter(facts))
        if facts.register and rng.random() < 0.5:
            clauses.append(rng.choice(REGISTER[facts.register]))
        if facts.dynamics and rng.random() < 0.6:
            clauses.append(f"played {rng.choice(DYNAMICS[facts.dynamics])}")
        rng.shuffle(clauses)
        return clauses

    # --- caption shapes ----------------------------------------------------------------------------------------
    def _prose(self, facts: MusicFacts, mood: str, style: str | None) -> str:
        rng = self.rng
        noun = rng.choice(MELODY_NOUNS)
        performers = self._performers(facts)
        openers = [
            f"{_article(mood)} {noun} played by {performers}",
            f"{performers} {rng.choice(PLAY_VERBS)} {_article(mood)} {noun}",
            f"this is {style or _article(noun)}, performed by {performers}",
            f"{performers} performing {style or _article(mood + ' ' + noun)}",
            f"here {performers} {rng.choice(PLAY_VERBS)} {style or _article(mood + ' ' + noun)}",
        ]
        sentences = [_capitalise(rng.choice(openers)) + "."]
        if style and style not in sentences[0] and rng.random() < 0.7:
            sentences.append(
                _capitalise(rng.choice((f"the music is {style}", f"it sounds like {style}", f"the source is {style}")))
                + "."
            )
        if facts.bpm is not None and rng.random() < 0.9:
            tempo = self._tempo(facts, with_bpm=rng.random() < 0.75)
            sentences.append(
                _capitalise(
                    rng.choice(
                        (
                            f"it moves at {tempo}",
                            f"the tempo is {tempo}",
                            f"the {noun} keeps {tempo}",
                            f"expect {tempo}",
                        )
                    )
                )
                + "."
            )
        clauses = self._facts_clauses(facts)
        if clauses:
            sentences.append(
                _capitalise(rng.choice(("the music is ", "it is ", "the performance is ", "")) + ", ".join(clauses))
                + "."
            )
        if rng.random() < 0.5:
            extra = [m for m in mood_words(pretty_key(facts.key)[1] if facts.key else None, facts.bpm) if m != mood]
            sentences.append(
                _capitalise(
                    rng.choice(
                        (
                            f"the overall mood is {mood} and {rng.choice(extra)}",
                            f"it feels {rng.choice(extra)}",
                            f"a {rng.choice(extra)} atmosphere throughout",
                        )
                    )
                )
                + "."
            )
        head, tail = sentences[:1], sentences[1:]
        rng.shuffle(tail)
        return " ".join(head + tail)

    def _one_sentence(self, facts: MusicFacts, mood: str, style: str | None) -> str:
        rng = self.rng
        parts = [f"{_article(mood)} {rng.choice(MELODY_NOUNS)} for {self._performers(facts)}"]
        if facts.bpm is not None:
            parts.append(f"at {self._tempo(facts, with_bpm=rng.random() < 0.8)}")
        parts += self._facts_clauses(facts)
        if style and rng.random() < 0.7:
            parts.insert(rng.randint(1, len(parts)), f"in the style of {style}")
        return _capitalise(", ".join(parts)) + "."

    def _tags(self, facts: MusicFacts, mood: str) -> str:
        rng = self.rng
        tags = [", ".join(facts.instruments)]
        if facts.ensemble:
            tags.append(facts.ensemble)
        tags.append("solo" if facts.accompaniment == "none" else "accompanied")
        if facts.collection in STYLE_TAGS:
            tags.extend(STYLE_TAGS[facts.collection][: rng.randint(1, len(STYLE_TAGS[facts.collection]))])
        if facts.bpm is not None:
            tags += [rng.choice(tempo_words(facts.bpm)), f"{int(round(facts.bpm))} bpm"]
        if facts.key:
            tags.append(pretty_key(facts.key)[0])
        if facts.meter:
            tags.append(f"{facts.meter} time")
        if facts.dynamics:
            tags.append(rng.choice(DYNAMICS_ADJ[facts.dynamics]))
        tags.append(mood)
        tags += facts.extra_tags
        head, tail = tags[:1], tags[1:]
        rng.shuffle(tail)
        joiner = rng.choice((", ", "; ", " | "))
        prefix = rng.choice(("", "Tags: ", "Keywords: ", "Music: "))
        return prefix + joiner.join(head + tail)

    def write_one(self, facts: MusicFacts) -> str:
        """One caption (prose 60%, single sentence 30%, tag list 10%)."""
        if not facts.instruments:
            raise ValueError("MusicFacts.instruments must name at least the lead instrument")
        rng = self.rng
        mode = pretty_key(facts.key)[1] if facts.key else None
        mood = rng.choice(mood_words(mode, facts.bpm))
        style = rng.choice(STYLE_PHRASES[facts.collection]) if facts.collection in STYLE_PHRASES else None
        shape = rng.random()
        if shape < 0.6:
            return self._prose(facts, mood, style)
        if shape < 0.9:
            return self._one_sentence(facts, mood, style)
        return self._tags(facts, mood)

    def write(self, facts: MusicFacts, n: int = 1) -> list[str]:
        """`n` different captions of the same facts (fewer only if the writer keeps repeating itself)."""
        captions: list[str] = []
        for _ in range(20 * n):
            caption = self.write_one(facts)
            if caption not in captions:
                captions.append(caption)
            if len(captions) == n:
                break
        return captions
