"""Which vocoding method keeps music intact: HiFi-GAN, Griffin-Lim, or the hybrid of both?

Clips of `--seconds` s are cut from the music21 corpus (monophonic: Essen, O'Neill, Ryan, Aird; polyphonic:
Bach, Palestrina, all parts), each note played for `--gate` of its written length (0.9: detached; a legato
repeated note is not re-attacked by most GM patches, so no transcriber can hear it), rendered with FluidSynth
on several General MIDI instruments, turned into MMGen log-mels (`mmgen.audio.log_mel_spectrogram`) and
vocoded back with `mmgen.models.vocoder.mel_to_audio` by each method. Every result is compared with the
rendered original:

- `log_mel_l1`: mean |log-mel(result) - log-mel(original)| (natural log, the front end's own mel).
- `mr_stft`: multi-resolution STFT distance (Yamamoto et al., Parallel WaveGAN): spectral convergence plus mean
  |log magnitude| difference, averaged over FFT sizes 512 / 1024 / 2048 with hops of a quarter.
- `note_f1`: Basic Pitch (`extract_notes`) on the result, scored with mir_eval against the notes that were
  rendered (onset within 50 ms, pitch within 50 cents, offsets ignored); `original` gives the same for the
  rendered original, the ceiling. `note_f1_vs_original` scores the result's notes against the original's.
- `chroma_cosine`: librosa `chroma_cqt` (hop 512) of result and original, cosine per frame, averaged over the
  frames where the original is not silent (frame RMS above -50 dB of the clip's peak RMS).
- `off_pitch_share`: librosa `pyin` f0 (C2-C7, frame 2048, hop 256) of result and original; on the frames both
  call voiced, the share whose difference exceeds 25 cents after folding octave jumps away (the difference is
  wrapped into [-600, 600) cents, so pyin's own octave errors do not count as detuning). Most telling on the
  monophonic clips; pyin follows one voice of the polyphonic ones.
- `cpu_s_per_audio_s`: process CPU seconds (all threads) of the `mel_to_audio` call divided by the clip's
  duration, with `--threads` torch threads, after the generator was loaded and warmed up.

    nice -n 10 .venv/bin/python benchmarks/vocoder.py     # about 10 CPU minutes (pyin and HiFi-GAN dominate)
    -> benchmarks/results/vocoder.json

With `--vocoder FOLDER` (a fine-tuned generator from `train/vocoder.py`), `hifigan` and `hybrid` are also run with
it, reported as `hifigan@tuned` and `hybrid@tuned` beside the packaged universal generator's: the before/after
comparison that decides whether the tuned vocoder becomes the default.

With `--vocos FOLDER` (a `VocosVocoder`, `train/vocoder.py --architecture vocos`; default: the shipped
`checkpoints/mmgen-default/vocoder` when it is one), `vocos` is run alone and refined by each of
`--vocos_griffin_lim_iters` fast Griffin-Lim iterations started from its phase, towards its own magnitude
(`vocos+glN`) or, as the hybrid, towards the mel's (`vocos-hybridN`); more folders can follow `--vocos` (labelled
`...@<folder name>`). `--methods` keeps a subset of the labels (for a quick look;
the recorded file has them all).

`--mel_source vae` passes every mel through the VAE (`--vae`) and back before vocoding, as the pipeline's mels are
(the scores stay against the rendered original): which vocoder copes best with the VAE decoder's blur.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch

from mmgen.audio import HOP_LENGTH, SAMPLE_RATE, log_mel_spectrogram
from mmgen.eval.bench import write_json
from mmgen.melody.corpus import iter_corpus_pieces
from mmgen.melody.notes import Note
from mmgen.melody.synth import find_soundfont, fluidsynth_available, render_notes
from mmgen.melody.transcribe import extract_notes
from mmgen.models.vocoder import METHODS, load_vocoder, mel_to_audio
from mmgen.models.vocos import VocosVocoder

# (collection, General MIDI program, instrument name, quarter notes per minute); cycled for --clips
CLIP_SPECS = [
    ("essen", 73, "flute", 120), ("bach", 0, "piano", 84), ("oneills", 40, "violin", 132),
    ("palestrina", 48, "string ensemble", 100), ("ryans", 56, "trumpet", 120), ("bach", 19, "church organ", 80),
    ("airds", 68, "oboe", 90), ("bach", 24, "nylon guitar", 90), ("essen", 71, "clarinet", 110),
    ("palestrina", 52, "choir aahs", 96), ("oneills", 0, "piano", 140), ("bach", 48, "string ensemble", 84),
    ("ryans", 40, "violin", 126), ("airds", 46, "harp", 96), ("essen", 11, "vibraphone", 116),
    ("palestrina", 19, "church organ", 100),
]  # fmt: skip
MIN_NOTES = 6
SHIPPED_VOCODER = "checkpoints/mmgen-default/vocoder"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=16, help="Number of clips (cycles through CLIP_SPECS).")
    parser.add_argument("--seconds", type=float, default=8.0, help="Clip length in seconds.")
    parser.add_argument("--griffin_lim_iters", type=int, default=32, help="Iterations for griffinlim and hybrid.")
    parser.add_argument("--gate", type=float, default=0.9, help="Played fraction of each note's written length.")
    parser.add_argument("--threads", type=int, default=1, help="torch threads while vocoding.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the corpus order and Griffin-Lim's phase.")
    parser.add_argument(
        "--vocoder",
        default=None,
        help="A fine-tuned SpeechT5HifiGan folder (train/vocoder.py) to compare with the packaged generator.",
    )
    parser.add_argument(
        "--vocos", nargs="*", default=None,
        help="VocosVocoder folder(s) to run (default: checkpoints/mmgen-default/vocoder when it holds one).",
    )
    parser.add_argument(
        "--vocos_griffin_lim_iters", type=int, nargs="*", default=[8, 16],
        help="Griffin-Lim iterations refining the Vocos output (vocos+glN); vocos alone is always run.",
    )
    parser.add_argument("--methods", nargs="*", default=None, help="Run only these labels (default: all).")
    parser.add_argument(
        "--mel_source", default="clean", choices=("clean", "vae"), help="Vocode the mels, or their VAE round trip."
    )
    parser.add_argument("--vae", default="checkpoints/mmgen-default/vae", help="AutoencoderKL of --mel_source vae.")
    parser.add_argument("--output", default="benchmarks/results/vocoder.json", help="Where to write the results.")
    return parser.parse_args()


def make_clips(num_clips: int, seconds: float, seed: int, gate: float = 0.9) -> list[dict]:
    """Render `num_clips` corpus excerpts: dicts with `name`, `instrument`, `notes`, `audio` (samples,)."""
    specs = [CLIP_SPECS[i % len(CLIP_SPECS)] for i in range(num_clips)]
    pieces = {}
    for collection in {spec[0] for spec in specs}:
        wanted = sum(spec[0] == collection for spec in specs)
        pieces[collection] = iter_corpus_pieces(collection, limit=10 * wanted, seed=seed)
    clips = []
    for collection, program, instrument, bpm in specs:
        for piece in pieces[collection]:
            notes = [n for n in piece.to_notes(bpm) if n.onset < seconds - 0.5]
            notes = [Note(n.onset, min(n.onset + gate * (n.offset - n.onset), seconds - 0.3), n.pitch, n.velocity)
                     for n in notes]  # fmt: skip
            if len(notes) >= MIN_NOTES:
                break
        else:
            raise RuntimeError(f"no piece of {collection} with {MIN_NOTES} notes in {seconds} s")
        audio = render_notes(notes, program=program)
        length = int(seconds * SAMPLE_RATE) // HOP_LENGTH * HOP_LENGTH
        audio = np.pad(audio, (0, max(0, length - len(audio))))[:length]
        clips.append({"name": piece.name, "instrument": instrument, "notes": notes, "audio": audio})
    return clips


def is_vocos(folder: str) -> bool:
    """Whether `folder` holds a saved `VocosVocoder` (its config names the class)."""
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            return json.load(f).get("_class_name") == "VocosVocoder"
    except (OSError, ValueError):
        return False


@torch.no_grad()
def vae_round_trip(vae, log_mel: np.ndarray) -> np.ndarray:
    """`log_mel` `(80, frames)` encoded by `vae` (posterior mode) and decoded back, as the pipeline's mels are made."""
    from mmgen.models.vae import decode_latents, encode_mels

    mel = torch.from_numpy(log_mel)[None]
    return decode_latents(vae, encode_mels(vae, mel), num_frames=mel.shape[-1])[0].numpy()


def mr_stft_distance(result: np.ndarray, original: np.ndarray) -> float:
    # Adapted from ParallelWaveGAN/parallel_wavegan/losses/stft_loss.py (spectral convergence + log magnitude).
    x, y = torch.from_numpy(result)[None], torch.from_numpy(original)[None]
    total = 0.0
    for n_fft in (512, 1024, 2048):
        window = torch.hann_window(n_fft)
        mags = [torch.stft(s, n_fft, n_fft // 4, window=window, return_complex=True).abs() for s in (x, y)]
        mags = [torch.clamp(m, min=1e-7) for m in mags]
        convergence = torch.linalg.norm(mags[1] - mags[0]) / torch.linalg.norm(mags[1])
        total += float(convergence + (mags[1].log() - mags[0].log()).abs().mean())
    return total / 3


def note_f1(reference: list[Note], estimate: list[Note]) -> float:
    import mir_eval

    if not reference or not estimate:
        return 0.0

    def arrays(notes):
        intervals = np.array([[n.onset, max(n.offset, n.onset + 1e-3)] for n in notes])
        return intervals, 440.0 * 2 ** ((np.array([n.pitch for n in notes]) - 69) / 12)

    (ref_i, ref_p), (est_i, est_p) = arrays(reference), arrays(estimate)
    _, _, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_i, ref_p, est_i, est_p, onset_tolerance=0.05, pitch_tolerance=50.0, offset_ratio=None
    )
    return float(f1)


def chroma_cosine(result: np.ndarray, original: np.ndarray) -> float:
    import librosa

    a = librosa.feature.chroma_cqt(y=result, sr=SAMPLE_RATE, hop_length=512)
    b = librosa.feature.chroma_cqt(y=original, sr=SAMPLE_RATE, hop_length=512)
    rms = librosa.feature.rms(y=original, frame_length=2048, hop_length=512)[0]
    frames = min(a.shape[1], b.shape[1], len(rms))
    loud = rms[:frames] > rms.max() * 10 ** (-50 / 20)
    cosine = (a * b).sum(0)[:frames] / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0) + 1e-9)[:frames]
    return float(cosine[loud].mean())


def pyin_f0(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    f0, voiced, _ = librosa.pyin(
        audio, fmin=librosa.note_to_hz("C2"), fmax=librosa.note_to_hz("C7"), sr=SAMPLE_RATE, frame_length=2048,
        hop_length=256,
    )  # fmt: skip
    return f0, voiced


def off_pitch_share(result_f0, original_f0) -> tuple[float, int]:
    (f_r, v_r), (f_o, v_o) = result_f0, original_f0
    both = v_r & v_o & np.isfinite(f_r) & np.isfinite(f_o)
    if not both.any():
        return float("nan"), 0
    cents = 1200 * np.log2(f_r[both] / f_o[both])
    cents = (cents + 600) % 1200 - 600
    return float(np.mean(np.abs(cents) > 25)), int(both.sum())


def mean(values):
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    print(f"rendering {args.clips} clips of {args.seconds} s (FluidSynth: {fluidsynth_available()})", flush=True)
    clips = make_clips(args.clips, args.seconds, args.seed, args.gate)

    torch.set_num_threads(args.threads)
    start = time.process_time()
    vocoder = load_vocoder()
    load_cpu_s = time.process_time() - start
    # (label, method, generator, Griffin-Lim iterations): the packaged generator's methods, the tuned generator's,
    # the Vocos alone and refined
    variants = [(method, method, vocoder, args.griffin_lim_iters) for method in METHODS if "vocos" not in method]
    if args.vocoder:
        tuned = load_vocoder(args.vocoder)
        variants += [(f"{method}@tuned", method, tuned, args.griffin_lim_iters) for method in ("hifigan", "hybrid")]
    vocos_folders = args.vocos if args.vocos is not None else [f for f in [SHIPPED_VOCODER] if is_vocos(f)]
    vocos_load_cpu_s = {}
    for i, folder in enumerate(vocos_folders):
        start = time.process_time()
        vocos = load_vocoder(folder)
        vocos_load_cpu_s[folder] = time.process_time() - start
        if not isinstance(vocos, VocosVocoder):
            raise SystemExit(f"--vocos {folder}: not a VocosVocoder folder")
        tag = "" if i == 0 else f"@{os.path.basename(os.path.normpath(folder))}"
        variants += [(f"vocos+gl{n}{tag}" if n else f"vocos{tag}", "vocos", vocos, n)
                     for n in [0, *args.vocos_griffin_lim_iters]]  # fmt: skip
        variants += [(f"vocos-hybrid{n}{tag}", "vocos-hybrid", vocos, n) for n in args.vocos_griffin_lim_iters if n]
    if args.methods:
        unknown = set(args.methods) - {label for label, *_ in variants}
        if unknown:
            raise SystemExit(f"--methods: unknown label(s) {sorted(unknown)}; have {[v[0] for v in variants]}")
        variants = [v for v in variants if v[0] in args.methods]
    for _, method, generator, _ in variants:  # warm up each method once
        mel_to_audio(np.zeros((80, 16), np.float32) - 11.5, vocoder=generator, method=method)
    labels = [label for label, *_ in variants]
    vae = None
    if args.mel_source == "vae":
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(args.vae, torch_dtype=torch.float32).eval()

    rows = []
    for index, clip in enumerate(clips):
        original = clip["audio"]
        duration = len(original) / SAMPLE_RATE
        log_mel = log_mel_spectrogram(original)
        vocoder_input = log_mel if vae is None else vae_round_trip(vae, log_mel)
        original_notes = extract_notes(original)
        original_f0 = pyin_f0(original)
        row = {
            "name": clip["name"], "instrument": clip["instrument"], "num_notes": len(clip["notes"]),
            "original": {"note_f1": note_f1(clip["notes"], original_notes)},
        }  # fmt: skip
        for label, method, generator_model, iters in variants:
            generator = torch.Generator().manual_seed(args.seed)
            start = time.process_time()
            result = mel_to_audio(
                vocoder_input,
                vocoder=generator_model,
                method=method,
                griffin_lim_iters=iters,
                generator=generator,
            )
            cpu = time.process_time() - start
            notes = extract_notes(result)
            share, voiced = off_pitch_share(pyin_f0(result), original_f0)
            row[label] = {
                "log_mel_l1": float(np.abs(log_mel_spectrogram(result) - log_mel).mean()),
                "mr_stft": mr_stft_distance(result, original),
                "note_f1": note_f1(clip["notes"], notes),
                "note_f1_vs_original": note_f1(original_notes, notes),
                "chroma_cosine": chroma_cosine(result, original),
                "off_pitch_share": share,
                "voiced_frames_compared": voiced,
                "cpu_s_per_audio_s": cpu / duration,
            }
        rows.append(row)
        summary = ", ".join(f"{m} F1 {row[m]['note_f1']:.2f}" for m in labels)
        print(f"[{index + 1}/{len(clips)}] {clip['name']} ({clip['instrument']}): original F1 "
              f"{row['original']['note_f1']:.2f}, {summary}", flush=True)  # fmt: skip

    metrics = list(rows[0][labels[0]])
    results = {
        "benchmark": "vocoder",
        "command": "nice -n 10 .venv/bin/python benchmarks/vocoder.py " + " ".join(sys.argv[1:]),
        "settings": vars(args) | {"soundfont": find_soundfont(), "fluidsynth": fluidsynth_available()},
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": args.threads},
        "vocoder_load_cpu_s": load_cpu_s,
        "vocos_load_cpu_s": vocos_load_cpu_s,
        "vocos_parameters": {f: sum(p.numel() for p in load_vocoder(f).parameters()) for f in vocos_folders},
        "summary": {
            "original": {"note_f1": mean(r["original"]["note_f1"] for r in rows)},
            **{m: {k: mean(r[m][k] for r in rows) for k in metrics} for m in labels},
        },
        "clips": rows,
    }
    write_json(args.output, results)
    print(json.dumps(results["summary"], indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
