"""A music style the default MMGen never heard, for `benchmarks/finetune.py`: 8-bit chiptune synthesised in numpy.

The default was trained on FluidR3_GM renderings (sampled General MIDI instruments). Here the same kind of
corpus melodies (O'Neill's Irish dance tunes) are played by oscillators of a 1980s sound chip: a pulse-wave lead
(12.5/25/50% duty, pitch vibrato, fast arpeggio ornaments), a triangle bass on the beats, and noise-channel drums;
no sample-based instrument anywhere. Each track is written as a WAV file with a caption built from its facts, so
the folder is what a user's own collection would be.
"""

from __future__ import annotations

import csv
import os
import random

import numpy as np

from mmgen.audio import SAMPLE_RATE, save_audio
from mmgen.melody.corpus import iter_corpus_pieces

DUTIES = {0.125: "thin", 0.25: "bright", 0.5: "hollow square"}
KEYS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def _hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


def _phase(freq: np.ndarray) -> np.ndarray:
    return np.cumsum(freq / SAMPLE_RATE) % 1.0


def _envelope(n: int, attack: float, decay: float, sustain: float, release: float) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    env = np.where(t < attack, t / attack, sustain + (1 - sustain) * np.exp(-(t - attack) / decay))
    tail = min(n, int(release * SAMPLE_RATE))
    env[n - tail :] *= np.linspace(1.0, 0.0, tail)
    return env


def _drums(n: int, beat_s: float, pattern: str, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    step = beat_s / 2  # eighth notes
    for i in range(int(n / SAMPLE_RATE / step)):
        start = int(i * step * SAMPLE_RATE)
        hit = pattern[i % len(pattern)]
        if hit == "k":  # kick: a fast downward sine sweep
            m = min(n - start, int(0.12 * SAMPLE_RATE))
            t = np.arange(m) / SAMPLE_RATE
            out[start : start + m] += 0.6 * np.sin(2 * np.pi * (160 * t - 500 * t**2)) * np.exp(-t / 0.05)
        elif hit in "sh":  # snare / hat: the noise channel, long or short
            length, gain = (0.10, 0.35) if hit == "s" else (0.03, 0.12)
            m = min(n - start, int(length * SAMPLE_RATE))
            noise = np.sign(rng.standard_normal(m // 4 + 1)).repeat(4)[:m]  # LFSR-like coarse noise
            out[start : start + m] += gain * noise * np.exp(-np.arange(m) / (length * SAMPLE_RATE / 3))
    return out


def render_track(piece, seconds: float, rng: random.Random) -> tuple[np.ndarray, str, dict]:
    """Render `seconds` of a corpus piece's lead line (looped) as chiptune; returns (audio, caption, facts)."""
    bpm = rng.randint(100, 170)
    beat_s = 60.0 / bpm
    duty = rng.choice(sorted(DUTIES))
    drums = rng.random() < 0.75
    arpeggio = rng.random() < 0.3
    transpose = rng.randint(-4, 5)
    lead = sorted(piece.parts[0])
    period = max(o + d for o, d, _ in lead)
    # shift octaves so the lead sits around C5-C6, where chip leads live
    mean_pitch = np.mean([p for _, _, p in lead]) + transpose
    transpose += 12 * round((78 - mean_pitch) / 12)
    n = int(seconds * SAMPLE_RATE)
    wave = np.zeros(n)
    bass = np.zeros(n)
    loops = int(seconds / (period * beat_s)) + 1
    for loop in range(loops):
        for onset_q, dur_q, pitch in lead:
            start = int((loop * period + onset_q) * beat_s * SAMPLE_RATE)
            if start >= n:
                break
            m = min(n - start, max(1, int(dur_q * beat_s * SAMPLE_RATE * 0.9)))
            t = np.arange(m) / SAMPLE_RATE
            vibrato = 0.15 * np.sin(2 * np.pi * 6 * t) * np.clip(t / 0.2, 0, 1)
            steps = np.zeros(m)
            if arpeggio:  # the classic chip ornament: root, third, fifth every 1/50 s
                steps = np.array([0, 4, 7])[(np.arange(m) // int(SAMPLE_RATE / 50)) % 3]
            freq = _hz(pitch + transpose + vibrato + steps)
            pulse = np.where(_phase(freq) < duty, 1.0, -1.0)
            wave[start : start + m] += 0.22 * pulse * _envelope(m, 0.005, 0.25, 0.6, 0.02)
        for beat in range(int(period)):  # triangle bass: the lowest lead pitch class of each beat, two octaves down
            start = int((loop * period + beat) * beat_s * SAMPLE_RATE)
            if start >= n:
                break
            near = [p for o, d, p in lead if o <= beat < o + d] or [p for o, _, p in lead if o >= beat][:1]
            if not near:
                continue
            m = min(n - start, int(beat_s * SAMPLE_RATE * 0.8))
            phase = _phase(np.full(m, _hz(min(near) + transpose - 24)))
            bass[start : start + m] += 0.3 * (2 * np.abs(2 * phase - 1) - 1) * _envelope(m, 0.003, 0.3, 0.8, 0.02)
    audio = wave + bass
    pattern = rng.choice(["khshkhsh", "kkshkhsh", "khhhshhh"])
    if drums:
        audio += _drums(n, beat_s, pattern, np.random.default_rng(rng.randrange(2**32)))
    audio = (audio / max(1e-6, np.abs(audio).max()) * 0.8).astype(np.float32)
    key_name = ""
    if piece.key:
        tonic, mode = piece.key.split()[0], piece.key.split()[-1]
        pc = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[tonic[0].upper()]
        pc += tonic.count("#") - tonic.count("-")
        key_name = f"{KEYS[(pc + transpose) % 12]} {mode}"
    parts = [f"{DUTIES[duty]} pulse-wave lead", "triangle bass"] + (["noise drums"] if drums else [])
    opener = rng.choice(["An 8-bit chiptune", "A retro video game tune", "Chiptune music from an old sound chip"])
    caption = f"{opener}: {', '.join(parts[:-1])} and {parts[-1]}, {bpm} bpm"
    caption += (f", in {key_name}" if key_name else "") + (", with fast arpeggios" if arpeggio else "")
    facts = {"bpm": bpm, "duty": duty, "drums": drums, "arpeggio": arpeggio, "key": key_name, "piece": piece.name}
    return audio, caption + ".", facts


def write_style_folders(root: str, train_tracks: int, heldout_tracks: int, seconds: float, seed: int = 0) -> dict:
    """Render `train_tracks` + `heldout_tracks` tracks (distinct pieces) into `<root>/audio` and `<root>/heldout`,
    each with a `captions.csv` beside it (file, caption). Finished folders are kept (resumable)."""
    done = os.path.join(root, "style.done")
    folders = {"audio": os.path.join(root, "audio"), "heldout": os.path.join(root, "heldout")}
    if os.path.isfile(done):
        return folders
    pieces = [p for p in iter_corpus_pieces("oneills", limit=train_tracks + heldout_tracks + 20, seed=seed)
              if len(p.parts[0]) >= 8][: train_tracks + heldout_tracks]  # fmt: skip
    if len(pieces) < train_tracks + heldout_tracks:
        raise RuntimeError(f"only {len(pieces)} usable corpus pieces")
    for name, chosen in (("audio", pieces[:train_tracks]), ("heldout", pieces[train_tracks:])):
        os.makedirs(folders[name], exist_ok=True)
        rows = []
        for i, piece in enumerate(chosen):
            audio, caption, _ = render_track(piece, seconds, random.Random(f"{seed}|{name}|{i}"))
            file = f"tune_{i:03d}.wav"
            save_audio(os.path.join(folders[name], file), audio, SAMPLE_RATE)
            rows.append({"file": file, "caption": caption})
        with open(os.path.join(root, f"{name}_captions.csv"), "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["file", "caption"])
            writer.writeheader()
            writer.writerows(rows)
    open(done, "w").close()
    return folders
