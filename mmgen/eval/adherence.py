"""Melody adherence computed as the peer papers compute it, so that MMGen's numbers sit beside theirs.

Two audio-to-audio metrics, each a re-implementation (written here, not vendored) of one paper's code:

- `audiocraft_chroma_cosine`: MusicGen's "chroma cosine similarity" (audiocraft `metrics/chroma_cosinesim.py`
  with `modules/chroma.py`'s `ChromaExtractor`, as configured by the MusicGen solver: 32 kHz, 12 chroma bins,
  `radix2_exp=14`, `argmax=True`).
- `melody_accuracy`: Music ControlNet's melody accuracy, as MuseControlLite's `utils/extract_conditions.py`
  extracts it (high-passed chroma, argmax pitch class per frame, share of frames that agree).

Both quantise every frame to its single strongest pitch class. That class follows the strongest *harmonic* after
the chroma filterbank's weighting (a Gaussian over octaves centred on 880 Hz, which favours the upper partials of
low notes), not necessarily the fundamental: a clarinet (weak even partials) or a trumpet below F4 puts its fifth
(3rd partial) or major third (5th partial) on top, and then a perfect rendering of the right notes scores near
chance. The ceiling of both metrics therefore depends on timbre and register; `benchmarks/adherence_ceilings.py`
measures it per instrument (`benchmarks/results/adherence_ceilings.json`). Near-silent frames (rests) have an
arbitrary argmax in both metrics, so rests count as agreement or disagreement by chance.

audiocraft choices reproduced (`audiocraft_chroma`, `audiocraft_chroma_cosine`):

- resample to 32 kHz. audiocraft uses julius' windowed-sinc `resample_frac`; julius is not a dependency, so
  scipy's polyphase FIR (`resample_poly`, Kaiser window) stands in. The two differ far below a chroma bin.
- a clip shorter than n_fft (16,384 samples, 0.51 s) is zero-padded to n_fft, split evenly (the odd sample at the
  end), as `ChromaExtractor.forward` does.
- power spectrogram as torchaudio's `Spectrogram(n_fft=2**14, win_length=2**14, hop_length=4096, power=2,
  center=True, pad=0, normalized=True)`: periodic Hann window, reflect padding of n_fft // 2 on both sides
  (1 + samples // 4096 frames), magnitude divided by sqrt(sum(window**2)) before squaring.
- `librosa.filters.chroma(sr=32000, n_fft=2**14, tuning=0, n_chroma=12)` (librosa's defaults for the rest:
  Gaussian octave weighting centred on ctroct=5 with octwidth=2, each row L2-normalised, C first).
- each frame divided by max(its largest bin, 1e-6) (`F.normalize(p=inf, eps=1e-6)`), then one-hot on its
  argmax. A silent frame is all zero before the argmax, so it becomes one-hot on C (index 0, the first maximum,
  as torch's argmax): two silent frames agree, exactly as in audiocraft.
- both waveforms are first cut to the shorter (audiocraft requires equal shapes); the score averages the cosine
  (eps 1e-8; with one-hot frames it is 1 where the argmaxes agree, else 0) over the first ceil(samples / 4096)
  frames, samples counted at 32 kHz. audiocraft counts the samples at the input rate; the two agree for 32 kHz
  input, MusicGen's case.

Music ControlNet / MuseControlLite choices reproduced (`melody_chroma_argmax`, `melody_accuracy`):

- resample to 44.1 kHz with soxr (quality "HQ"), what `librosa.load(path, sr=44100)` does.
- 2nd-order Butterworth high-pass at 261.2 Hz (middle C) applied forward and backward with
  `scipy.signal.filtfilt` (zero phase, so the magnitude response is the filter's squared).
- `librosa.feature.chroma_stft(y, sr=44100, n_fft=2048, hop_length=256)` with librosa's defaults otherwise:
  window = n_fft, centred frames with zero padding (1 + samples // 256 frames), power 2, tuning estimated from
  each signal, each frame inf-normalised. Silent frames stay all zero and their argmax is C (index 0).
- argmax pitch class per frame; the score is the share of frames that agree over the shorter of the two frame
  sequences.

`melody_adherence` scores a set of clips, each against the notes that guided it, on the project's metrics
(`mmgen.eval.melody`) and on these two: the melody-adherence columns of `benchmarks/generation.py`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from functools import lru_cache
from numbers import Real

import numpy as np

from ..melody.notes import MelodyError, Note
from .melody import MelodyMetricError

# audiocraft ChromaExtractor / ChromaCosineSimilarityMetric, as the MusicGen solver configures them
AUDIOCRAFT_SAMPLE_RATE = 32000
AUDIOCRAFT_N_FFT = 2**14  # radix2_exp=14; win_length = n_fft
AUDIOCRAFT_HOP_LENGTH = AUDIOCRAFT_N_FFT // 4  # audiocraft's default winhop: 4096 samples, 128 ms at 32 kHz
AUDIOCRAFT_N_CHROMA = 12
AUDIOCRAFT_NORM_EPS = 1e-6  # F.normalize(p=inf, eps=1e-6)
AUDIOCRAFT_COSINE_EPS = 1e-8  # ChromaCosineSimilarityMetric(eps=1e-8)

# Music ControlNet melody (MuseControlLite utils/extract_conditions.py)
MELODY_SAMPLE_RATE = 44100
MELODY_HIGHPASS_HZ = 261.2  # middle C: keeps the melody's register, drops bass and most accompaniment roots
MELODY_HIGHPASS_ORDER = 2
MELODY_N_FFT = 2048
MELODY_HOP_LENGTH = 256  # about 172 frames per second at 44.1 kHz

MIN_SAMPLE_RATE = 4000  # below this an sr is almost surely in kHz or a frame rate, not samples per second
SILENCE_PEAK = 1e-5  # -100 dBFS: a clip whose absolute peak is below this has nothing to compare


def _check_sr(sr) -> int:
    if isinstance(sr, bool) or not isinstance(sr, Real) or not math.isfinite(sr) or sr != int(sr):
        raise MelodyMetricError(f"sr must be the sample rate as an integer number of Hz, got {sr!r}")
    if sr < MIN_SAMPLE_RATE:
        raise MelodyMetricError(
            f"sr={sr!r} Hz is below {MIN_SAMPLE_RATE} Hz; pass the waveform's sample rate in Hz (e.g. 22050, 44100)"
        )
    return int(sr)


def _check_waveform(waveform, name: str) -> np.ndarray:
    """`waveform` as float64 `(samples,)`, or `MelodyMetricError` naming `name` and what is wrong with it."""
    wave = np.asarray(waveform)
    if wave.ndim != 1:
        raise MelodyMetricError(
            f"{name}: expected a mono waveform of shape (samples,), got shape {wave.shape}; mix channels down first"
        )
    if wave.size == 0:
        raise MelodyMetricError(f"{name}: the waveform is empty")
    if not np.issubdtype(wave.dtype, np.number) or np.iscomplexobj(wave):
        hint = " (to score against notes use mmgen.eval.melody.chroma_cosine)" if wave.dtype == object else ""
        raise MelodyMetricError(f"{name}: expected a mono waveform of real samples, got dtype {wave.dtype}{hint}")
    wave = wave.astype(np.float64)
    if not np.isfinite(wave).all():
        bad = int((~np.isfinite(wave)).sum())
        raise MelodyMetricError(f"{name}: {bad} of {wave.size} samples are NaN or infinite")
    peak = float(np.abs(wave).max())
    if peak < SILENCE_PEAK:
        raise MelodyMetricError(f"{name}: the waveform is silent (peak {peak:.1e} < {SILENCE_PEAK:.0e})")
    return wave


def _resample_poly(wave: np.ndarray, sr: int, target: int) -> np.ndarray:
    """Polyphase resampling (the stand-in for audiocraft's julius); exact ratio, output length ceil(n * up / down)."""
    from scipy.signal import resample_poly

    if sr == target:
        return wave
    g = math.gcd(sr, target)
    return resample_poly(wave, target // g, sr // g)


@lru_cache(maxsize=1)
def _audiocraft_filterbank() -> np.ndarray:
    import librosa

    # (12, n_fft // 2 + 1); rows start at C (base_c=True), as in audiocraft
    return librosa.filters.chroma(
        sr=AUDIOCRAFT_SAMPLE_RATE, n_fft=AUDIOCRAFT_N_FFT, tuning=0, n_chroma=AUDIOCRAFT_N_CHROMA
    ).astype(np.float64)


def _audiocraft_chroma_32k(wave: np.ndarray, *, argmax: bool) -> np.ndarray:
    """`ChromaExtractor.forward` on a 32 kHz float64 waveform `(samples,)` -> `(frames, 12)`."""
    import librosa

    if wave.size < AUDIOCRAFT_N_FFT:  # audiocraft pads short (e.g. dropped-out) clips to one window
        pad = AUDIOCRAFT_N_FFT - wave.size
        wave = np.pad(wave, (pad // 2, pad // 2 + pad % 2))
    spec = librosa.stft(
        wave,
        n_fft=AUDIOCRAFT_N_FFT,
        hop_length=AUDIOCRAFT_HOP_LENGTH,
        win_length=AUDIOCRAFT_N_FFT,
        window="hann",  # scipy's periodic Hann, as torch.hann_window
        center=True,
        pad_mode="reflect",  # torch.stft's default; librosa's own default is zeros
    )
    window = librosa.filters.get_window("hann", AUDIOCRAFT_N_FFT, fftbins=True)
    power = np.abs(spec / np.sqrt(np.sum(window**2))) ** 2  # normalized=True, then power=2
    raw = _audiocraft_filterbank() @ power  # (12, frames)
    chroma = (raw / np.maximum(np.abs(raw).max(axis=0, keepdims=True), AUDIOCRAFT_NORM_EPS)).T
    if argmax:
        onehot = np.zeros_like(chroma)
        onehot[np.arange(chroma.shape[0]), chroma.argmax(axis=1)] = 1.0
        chroma = onehot
    return chroma


def audiocraft_chroma(waveform: np.ndarray, sr: int, *, argmax: bool = True) -> np.ndarray:
    """audiocraft's `ChromaExtractor` (MusicGen's metric settings) on a mono waveform.

    Args:
        waveform (`np.ndarray` of shape `(samples,)`): mono audio at `sr`.
        sr (`int`): its sample rate in Hz; the audio is resampled to 32 kHz first.
        argmax (`bool`, *optional*, defaults to `True`): one-hot each frame on its strongest pitch class, as the
            MusicGen metric does; `False` returns the inf-normalised chroma.

    Returns:
        `np.ndarray` of shape `(1 + max(samples_32k, 16384) // 4096, 12)`, float64; column 0 is C. (A clip
        shorter than one 16,384-sample window is zero-padded to it first, so it has 5 frames.)
    """
    sr = _check_sr(sr)
    wave = _resample_poly(_check_waveform(waveform, "waveform"), sr, AUDIOCRAFT_SAMPLE_RATE)
    return _audiocraft_chroma_32k(wave, argmax=argmax)


def audiocraft_chroma_cosine(generated: np.ndarray, reference: np.ndarray, sr: int) -> float:
    """MusicGen's chroma cosine similarity between two mono waveforms (see the module docstring for the details).

    Args:
        generated (`np.ndarray` of shape `(samples,)`): the generated audio at `sr`.
        reference (`np.ndarray` of shape `(samples,)`): the melody reference audio at `sr`.
        sr (`int`): sample rate of both, in Hz.

    Returns:
        `float` in [0, 1]: the share of 128 ms frames whose dominant pitch class agrees (cosine of one-hot chroma),
        over the frames covering the shorter waveform.
    """
    sr = _check_sr(sr)
    gen = _check_waveform(generated, "generated")
    ref = _check_waveform(reference, "reference")
    samples = min(gen.size, ref.size)  # audiocraft compares equal shapes
    gen = _resample_poly(gen[:samples], sr, AUDIOCRAFT_SAMPLE_RATE)
    ref = _resample_poly(ref[:samples], sr, AUDIOCRAFT_SAMPLE_RATE)
    gen_chroma = _audiocraft_chroma_32k(gen, argmax=True)
    ref_chroma = _audiocraft_chroma_32k(ref, argmax=True)
    frames = min(math.ceil(gen.size / AUDIOCRAFT_HOP_LENGTH), gen_chroma.shape[0], ref_chroma.shape[0])
    gen_chroma, ref_chroma = gen_chroma[:frames], ref_chroma[:frames]
    norms = np.linalg.norm(gen_chroma, axis=1) * np.linalg.norm(ref_chroma, axis=1)
    cosine = (gen_chroma * ref_chroma).sum(axis=1) / np.maximum(norms, AUDIOCRAFT_COSINE_EPS)
    return float(cosine.sum() / frames)


@lru_cache(maxsize=1)
def _melody_highpass() -> tuple[np.ndarray, np.ndarray]:
    from scipy.signal import butter

    return butter(MELODY_HIGHPASS_ORDER, MELODY_HIGHPASS_HZ, btype="highpass", fs=MELODY_SAMPLE_RATE)


def melody_chroma_argmax(waveform: np.ndarray, sr: int) -> np.ndarray:
    """Music ControlNet's melody: the dominant pitch class of each frame of the high-passed audio.

    Args:
        waveform (`np.ndarray` of shape `(samples,)`): mono audio at `sr`.
        sr (`int`): its sample rate in Hz; the audio is resampled to 44.1 kHz first.

    Returns:
        `np.ndarray` of shape `(1 + samples_44k // 256,)`, int64 pitch classes 0..11 (0 = C).
    """
    import librosa
    from scipy.signal import filtfilt

    sr = _check_sr(sr)
    wave = _check_waveform(waveform, "waveform")
    if sr != MELODY_SAMPLE_RATE:
        wave = librosa.resample(wave, orig_sr=sr, target_sr=MELODY_SAMPLE_RATE, res_type="soxr_hq")
    b, a = _melody_highpass()
    # filtfilt needs more than 3 * max(len(a), len(b)) = 9 samples; pad shorter clips instead of failing
    padlen = min(3 * max(len(a), len(b)), wave.size - 1)
    wave = filtfilt(b, a, wave, padlen=padlen)
    chroma = librosa.feature.chroma_stft(
        y=wave, sr=MELODY_SAMPLE_RATE, n_fft=MELODY_N_FFT, hop_length=MELODY_HOP_LENGTH
    )  # (12, frames)
    return chroma.argmax(axis=0).astype(np.int64)


def melody_accuracy(generated: np.ndarray, reference: np.ndarray, sr: int) -> float:
    """Music ControlNet / MuseControlLite melody accuracy between two mono waveforms.

    Args:
        generated (`np.ndarray` of shape `(samples,)`): the generated audio at `sr`.
        reference (`np.ndarray` of shape `(samples,)`): the melody reference audio at `sr`.
        sr (`int`): sample rate of both, in Hz.

    Returns:
        `float` in [0, 1]: the share of 5.8 ms frames whose dominant pitch class (above middle C) agrees, over the
        shorter of the two frame sequences.
    """
    sr = _check_sr(sr)
    _check_waveform(generated, "generated")
    _check_waveform(reference, "reference")
    gen = melody_chroma_argmax(generated, sr)
    ref = melody_chroma_argmax(reference, sr)
    frames = min(gen.size, ref.size)
    return float(np.mean(gen[:frames] == ref[:frames]))


# ----------------------------------------------------------------------------------------- a set of clips
# The melody-adherence columns of `benchmarks/generation.py`: each clip scored against the melody that guided it,
# with the project's metrics (`mmgen.eval.melody`, against the notes) and the peers' above (against the notes
# rendered with the sketch's timbre, and optionally against the audio whose melody it is).
ADHERENCE_KEYS = ("chroma_cosine", "note_f1", "note_precision", "note_recall", "ac_chroma_cosine", "melody_accuracy",
                  "ac_chroma_cosine_vs_audio", "melody_accuracy_vs_audio")  # fmt: skip


def parse_notes(tokens: str | None) -> list[Note] | None:
    """The notes of a token string (`mmgen.melody.tokenizer`), or None when it is empty or does not parse."""
    from ..melody.tokenizer import string_to_notes  # here: the tokenizer module loads transformers

    if not tokens:
        return None
    try:
        return string_to_notes(tokens)
    except MelodyError:
        return None


def crop_notes(notes: Sequence[Note] | None, seconds: float) -> list[Note] | None:
    """The notes that start inside the first `seconds` (None when nothing is left)."""
    if not notes:
        return None
    kept = [n for n in notes if n.onset < seconds]
    return kept or None


def melody_notes(info: dict | None) -> list[Note] | None:
    """The notes of a pipeline output's melody entry (parsed from its tokens when the notes are absent)."""
    if info is None:
        return None
    return info.get("notes") or parse_notes(info.get("tokens"))


def melody_adherence(
    waves: Sequence[np.ndarray],
    melodies: Sequence[list[Note] | None],
    prefix: str = "",
    reference_audio: Sequence[np.ndarray] | None = None,
    sr: int | None = None,
) -> dict:
    """Melody adherence of each clip against its melody, averaged (clips without one are skipped).

    `chroma_cosine` and `note_f1` are the project's (against the notes); `ac_chroma_cosine` (audiocraft's definition)
    and `melody_accuracy` (MuseControlLite's) compare two waveforms, so the notes are rendered with the melody sketch's
    fixed harmonic timbre (`mmgen.melody.sketch.render_sketch`) as the reference audio. With `reference_audio` (the
    clips whose melody it is), both are also computed against that audio, as MusicGen's evaluation does
    (`ac_chroma_cosine_vs_audio`, `melody_accuracy_vs_audio`).

    Args:
        waves (`Sequence[np.ndarray]`, each of shape `(samples,)`): the clips at `sr`.
        melodies (`Sequence[list[Note] | None]`): the notes each clip is scored against (None: no melody).
        prefix (`str`): put before every key of the result.
        reference_audio (`Sequence[np.ndarray]`, *optional*): per clip, the audio whose melody it is, at `sr`.
        sr (`int`, *optional*): sample rate of all audio; default `mmgen.audio.SAMPLE_RATE`.

    Returns:
        `dict`: the mean of each of `ADHERENCE_KEYS` (None where no clip gave one; the `*_vs_audio` keys only with
        `reference_audio`), `num_melodies` (clips scored) and `num_without_melody` (clips skipped).
    """
    from ..audio import SAMPLE_RATE
    from ..melody.sketch import render_sketch
    from .melody import chroma_cosine, melody_note_f1

    sr = SAMPLE_RATE if sr is None else sr
    values: dict[str, list[float]] = {k: [] for k in ADHERENCE_KEYS}
    skipped = 0
    for i, (wave, notes) in enumerate(zip(waves, melodies)):
        if not notes:
            skipped += 1
            continue
        try:
            chroma = chroma_cosine(wave, notes, sr)
        except MelodyMetricError:
            skipped += 1
            continue
        values["chroma_cosine"].append(chroma)
        scores = melody_note_f1(wave, notes, sr)
        for key in ("f1", "precision", "recall"):
            values[f"note_{key}"].append(scores[key])
        rendered = render_sketch(notes, len(wave), sr)
        with contextlib.suppress(MelodyMetricError):  # a silent clip has no chroma to compare
            values["ac_chroma_cosine"].append(audiocraft_chroma_cosine(wave, rendered, sr))
            values["melody_accuracy"].append(melody_accuracy(wave, rendered, sr))
        if reference_audio is not None:
            with contextlib.suppress(MelodyMetricError):
                values["ac_chroma_cosine_vs_audio"].append(audiocraft_chroma_cosine(wave, reference_audio[i], sr))
                values["melody_accuracy_vs_audio"].append(melody_accuracy(wave, reference_audio[i], sr))
    out = {f"{prefix}{k}": float(np.mean(v)) if v else None for k, v in values.items()}
    if reference_audio is None:
        del out[f"{prefix}ac_chroma_cosine_vs_audio"], out[f"{prefix}melody_accuracy_vs_audio"]
    out[f"{prefix}num_melodies"] = len(values["chroma_cosine"])
    out[f"{prefix}num_without_melody"] = skipped
    return out
