"""Melody tokens in the official MMGen format.

Each note becomes the triple ``<pitch>,<duration>,<rest>``; triples are joined by ``|``:
``<G4>,<114>,<79>|<A4>,<119>,<81>|...``. Times are quantised with one logarithmic scale of 512 bins over
[-0.3, 6.0] s (`time_to_bin`): bin 79 is exactly 0 s, bin 0 an overlap of 0.3 s or more, bin 511 is 6 s or more.

How we differ from the official code, and why:
- Notes of all (non-drum) instruments are merged and sorted by onset (highest pitch first in a chord); the
  official code walks instruments in file order, so its "previous note" is arbitrary in polyphony.
- The rest of a note is its onset minus the previous note's offset, as in the official code, so in a chord it
  is negative. Overlaps up to 0.3 s are represented exactly; a larger overlap is clamped to bin 0 (-0.3 s)
  and decodes to a later onset. For a faithful single line use ``reduction="skyline"`` (highest note only).
- The first note's rest is its onset from the start of the clip (the official code always writes 0).
- Encoding uses error feedback: each rest is measured from the *decoded* previous offset and each duration
  to the *decoded* onset, so quantisation error does not accumulate and, for rests and durations inside
  [-0.3, 6.0] s, every decoded onset and offset lies in the quantisation interval of its bin: the error is at
  most `max_quantisation_error(bin)` (half a bin, measured on the log scale; about 2.2 ms near 0 s). The encoder
  applies the decoder's clamping (no onset before 0 s, no negative duration), so both stay in step.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Sequence

from transformers import PreTrainedTokenizer

from .notes import MelodyError, Note, skyline, sort_notes

NUM_TIME_BINS = 512
TIME_MIN = -0.3
TIME_MAX = 6.0
_LOG_LOW = math.log(0.7)  # ln(TIME_MIN + 1)
_LOG_SPAN = math.log(7.0) - math.log(0.7)  # ln(TIME_MAX + 1) - ln(TIME_MIN + 1)

SPECIAL_TOKENS = ("<s>", "</s>", "<unk>", ",", "|")
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
PITCH_TOKENS = tuple(f"<{name}{octave}>" for octave in range(-1, 10) for name in NOTE_NAMES)  # 132: C-1 .. B9
TIME_TOKENS = tuple(f"<{i}>" for i in range(NUM_TIME_BINS))
STRUCTURE_TOKENS = tuple(f"<struct_{i}>" for i in range(6))  # reserved, unused (official vocabulary size 655)
VOCAB = SPECIAL_TOKENS + TIME_TOKENS + PITCH_TOKENS + STRUCTURE_TOKENS
assert len(VOCAB) == 655

_TOKEN_RE = re.compile(r"<[^<>]+>|[,|]")
VOCAB_FILES_NAMES = {"vocab_file": "vocab.json"}


def time_to_bin(seconds: float) -> int:
    """Quantise a time in seconds to one of 512 log-spaced bins (official formula)."""
    x = min(max(float(seconds), TIME_MIN), TIME_MAX)
    return int(round((math.log(x + 1.0) - _LOG_LOW) / _LOG_SPAN * (NUM_TIME_BINS - 1)))


def bin_to_time(index: int) -> float:
    """The time in seconds at the centre of bin `index` (inverse of `time_to_bin`)."""
    return math.exp(index / (NUM_TIME_BINS - 1) * _LOG_SPAN + _LOG_LOW) - 1.0


def bin_half_width(index: int) -> float:
    """Half the width, in seconds, of the interval that quantises to bin `index`."""
    low = bin_to_time(max(index - 0.5, 0))
    high = bin_to_time(min(index + 0.5, NUM_TIME_BINS - 1))
    return (high - low) / 2


def max_quantisation_error(index: int) -> float:
    """Largest |t - bin_to_time(index)| in seconds over the times t that quantise to bin `index`.

    Bins are centred on the log scale, so this is the upper half-interval (slightly more than half the linear
    spacing); times clamped into bins 0 and 511 are not covered.
    """
    return bin_to_time(min(index + 0.5, NUM_TIME_BINS - 1)) - bin_to_time(index)


def pitch_from_token(token: str) -> int:
    """'<C#4>' -> 61. Raises `MelodyError` for anything that is not a MIDI pitch (0..127) token."""
    if not (token.startswith("<") and token.endswith(">")):
        raise MelodyError(f"'{token}' is not a pitch token")
    body = token[1:-1]
    name, octave = (body[:2], body[2:]) if len(body) > 1 and body[1] == "#" else (body[:1], body[1:])
    try:
        pitch = (int(octave) + 1) * 12 + NOTE_NAMES.index(name)
    except ValueError as err:
        raise MelodyError(f"'{token}' is not a pitch token") from err
    if not 0 <= pitch <= 127:
        raise MelodyError(f"'{token}' is outside the MIDI pitch range (C-1..G9)")
    return pitch


def _time_from_token(token: str) -> int:
    if not (token.startswith("<") and token.endswith(">") and token[1:-1].isdigit()):
        raise MelodyError(f"'{token}' is not a time-bin token like '<79>'")
    index = int(token[1:-1])
    if not 0 <= index < NUM_TIME_BINS:
        raise MelodyError(f"'{token}' is a time bin outside 0..{NUM_TIME_BINS - 1}")
    return index


def notes_to_triples(notes: Iterable[Note], reduction: str = "none") -> list[tuple[int, int, int]]:
    """Notes -> (pitch, duration bin, rest bin) with error feedback (see the module docstring)."""
    if reduction not in ("none", "skyline"):
        raise ValueError(f"reduction must be 'none' or 'skyline', got {reduction!r}")
    notes = skyline(notes) if reduction == "skyline" else sort_notes(notes)
    triples = []
    decoded_end = 0.0
    for note in notes:
        if not 0 <= note.pitch <= 127:
            raise MelodyError(f"pitch {note.pitch} is outside the MIDI range 0..127")
        rest_bin = time_to_bin(note.onset - decoded_end)
        decoded_onset = max(decoded_end + bin_to_time(rest_bin), 0.0)  # same clamping as triples_to_notes
        duration_bin = time_to_bin(note.offset - decoded_onset)
        decoded_end = decoded_onset + max(bin_to_time(duration_bin), 0.0)
        triples.append((note.pitch, duration_bin, rest_bin))
    return triples


def triples_to_notes(triples: Iterable[tuple[int, int, int]], velocity: int = 100) -> list[Note]:
    """(pitch, duration bin, rest bin) -> notes, onsets accumulated from time 0."""
    notes = []
    end = 0.0
    for pitch, duration_bin, rest_bin in triples:
        onset = max(end + bin_to_time(rest_bin), 0.0)
        end = onset + max(bin_to_time(duration_bin), 0.0)
        notes.append(Note(onset, end, int(pitch), velocity))
    return notes


def notes_to_string(notes: Iterable[Note], reduction: str = "none") -> str:
    """Notes -> official token string ``<G4>,<114>,<79>|<A4>,<119>,<81>``."""
    return "|".join(f"{PITCH_TOKENS[p]},<{d}>,<{r}>" for p, d, r in notes_to_triples(notes, reduction))


def string_to_notes(text: str) -> list[Note]:
    """Official token string -> notes. Raises `MelodyError` on a malformed string."""
    triples = []
    for i, group in enumerate(filter(None, text.strip().split("|"))):
        parts = group.strip().split(",")
        if len(parts) != 3:
            raise MelodyError(f"melody token group {i} ('{group}') is not '<pitch>,<duration>,<rest>'")
        pitch, duration, rest = (p.strip() for p in parts)
        try:
            triples.append((pitch_from_token(pitch), _time_from_token(duration), _time_from_token(rest)))
        except MelodyError as err:
            raise MelodyError(f"melody token group {i} ('{group}') is malformed: {err}") from err
    return triples_to_notes(triples)


class MelodyTokenizer(PreTrainedTokenizer):
    """Tokenizer for melody token strings (official MMGen format, 655-entry vocabulary).

    Text in, ids out, like any transformers tokenizer (padding, truncation, attention masks, tensors):

    ```py
    >>> tok = MelodyTokenizer()
    >>> batch = tok(["<G4>,<114>,<79>|<A4>,<119>,<81>"], padding="max_length", max_length=32, return_tensors="pt")
    ```
    Use `encode_notes` / `notes_to_string` to go from `Note` lists to strings, `decode_notes` for the way back.
    Sequences are wrapped in ``<s> ... </s>``; padding uses ``<unk>`` and is masked out by `attention_mask`
    (the official vocabulary has no pad token).
    """

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, vocab_file: str | None = None, model_max_length: int = 1024, **kwargs):
        if vocab_file is not None:
            with open(vocab_file, encoding="utf-8") as f:
                self.vocab = json.load(f)
        else:
            self.vocab = {token: i for i, token in enumerate(VOCAB)}
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        kwargs.setdefault("bos_token", "<s>")
        kwargs.setdefault("eos_token", "</s>")
        kwargs.setdefault("unk_token", "<unk>")
        kwargs.setdefault("pad_token", "<unk>")
        # ',' and '|' are ordinary vocabulary entries here (not HF special tokens), so that
        # decode(..., skip_special_tokens=True) keeps the separators.
        super().__init__(model_max_length=model_max_length, **kwargs)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return _TOKEN_RE.findall(text)

    def _convert_token_to_id(self, token: str) -> int:
        return self.vocab.get(token, self.vocab["<unk>"])

    def _convert_id_to_token(self, index: int) -> str:
        return self.ids_to_tokens.get(int(index), "<unk>")

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(t for t in tokens if t not in ("<s>", "</s>", "<unk>"))

    def build_inputs_with_special_tokens(self, token_ids_0: list[int], token_ids_1: list[int] | None = None):
        if token_ids_1 is not None:
            raise ValueError("MelodyTokenizer encodes one melody per sequence")
        return [self.bos_token_id] + token_ids_0 + [self.eos_token_id]

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False):
        if already_has_special_tokens:
            return [1 if t in (self.bos_token_id, self.eos_token_id) else 0 for t in token_ids_0]
        return [1] + [0] * len(token_ids_0) + [1]

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        path = os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") + "vocab.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.vocab, f, ensure_ascii=False, indent=0)
        return (path,)

    # --- notes <-> strings ---------------------------------------------------------------------------------
    notes_to_string = staticmethod(notes_to_string)
    string_to_notes = staticmethod(string_to_notes)

    def encode_notes(self, notes: Sequence[Note] | Sequence[Sequence[Note]], reduction: str = "none", **kwargs):
        """Tokenize one note list or a batch of them; kwargs go to `__call__` (padding, max_length, ...)."""
        batch = notes and not isinstance(notes[0], Note)
        texts = [notes_to_string(n, reduction) for n in notes] if batch else notes_to_string(notes, reduction)
        return self(texts, **kwargs)

    def decode_notes(self, ids) -> list[Note]:
        """Token ids (a 1-D sequence, padding allowed) -> notes. A triple cut by truncation is dropped."""
        text = self.decode(ids, skip_special_tokens=False)
        groups = text.split("|")
        if groups and groups[-1].count(",") != 2:
            groups = groups[:-1]
        return string_to_notes("|".join(groups))
