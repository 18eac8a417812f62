"""Audio -> notes with Basic Pitch (Spotify, ICASSP 2022) through its packaged ONNX model.

basic-pitch prefers TensorFlow / TFLite when they import; we select ``nmp.onnx`` explicitly so that results do
not depend on what else is installed, and run on in-memory arrays instead of file paths.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from dataclasses import dataclass

import numpy as np

from ..audio import SAMPLE_RATE, AudioError, load_audio, validate_waveform
from ..limits import MAX_INPUT_SECONDS
from .notes import MelodyError, Note, sort_notes, write_midi

_MODEL = None
_MODEL_LOCK = threading.Lock()
N_OVERLAPPING_FRAMES = 30  # as basic_pitch.inference.run_inference


@dataclass
class TranscriptionConfig:
    """Basic Pitch's post-processing knobs.

    The thresholds are MMGen's defaults, not Basic Pitch's (0.5 / 0.3): tuned on 12 held-out FluidSynth
    renders of folk tunes, they raise monophonic onset-F1 from 0.82 to 0.90 on 24 other renders, mostly by
    removing re-bowing and overtone notes (`benchmarks/melody_extraction.py`). `basic_pitch_defaults()` gives
    the original settings, as the paper used them.
    """

    onset_threshold: float = 0.8
    frame_threshold: float = 0.4
    minimum_note_length_ms: float = 127.70
    minimum_frequency: float | None = None
    maximum_frequency: float | None = None
    melodia_trick: bool = True

    @classmethod
    def basic_pitch_defaults(cls) -> TranscriptionConfig:
        return cls(onset_threshold=0.5, frame_threshold=0.3)


@contextlib.contextmanager
def _quiet_basic_pitch_import():
    """basic-pitch logs "Tensorflow is not installed" and resampy warns about pkg_resources on import: both
    irrelevant here (we run the ONNX model), so keep them off the user's console."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _basic_pitch_model():
    """Load the ONNX model once per process (thread-safe)."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            with _quiet_basic_pitch_import():
                from basic_pitch import FilenameSuffix, build_icassp_2022_model_path
                from basic_pitch.inference import Model

            _MODEL = Model(build_icassp_2022_model_path(FilenameSuffix.onnx))
            if _MODEL.model_type != Model.MODEL_TYPES.ONNX:
                raise RuntimeError(f"Basic Pitch loaded a {_MODEL.model_type} model, expected ONNX")
            # One intra-op thread costs about 22% less CPU per audio second than onnxruntime's default pool
            # on this small model (benchmarks/melody_extraction.py); callers parallelise across clips instead.
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = int(os.environ.get("MMGEN_BASIC_PITCH_THREADS", "1"))
            options.inter_op_num_threads = 1
            _MODEL.model = ort.InferenceSession(
                str(build_icassp_2022_model_path(FilenameSuffix.onnx)),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
    return _MODEL


def basic_pitch_posteriorgrams(waveform: np.ndarray) -> dict[str, np.ndarray]:
    """Run Basic Pitch on a 22,050 Hz mono waveform.

    Returns:
        dict with "note" `(frames, 88)`, "onset" `(frames, 88)` and "contour" `(frames, 264)` posteriorgrams.
    """
    model = _basic_pitch_model()
    from basic_pitch.constants import AUDIO_N_SAMPLES, FFT_HOP
    from basic_pitch.inference import unwrap_output, window_audio_file

    overlap_len = N_OVERLAPPING_FRAMES * FFT_HOP
    hop_size = AUDIO_N_SAMPLES - overlap_len
    padded = np.concatenate([np.zeros(overlap_len // 2, dtype=np.float32), waveform.astype(np.float32)])
    windows = np.stack([w for w, _ in window_audio_file(padded, hop_size)])  # (n_windows, AUDIO_N_SAMPLES, 1)
    outputs: dict[str, list[np.ndarray]] = {"note": [], "onset": [], "contour": []}
    for start in range(0, len(windows), 16):  # bounded batches keep memory flat for long files
        for key, value in model.predict(windows[start : start + 16]).items():
            outputs[key].append(value)
    return {
        key: unwrap_output(np.concatenate(value), len(waveform), N_OVERLAPPING_FRAMES)
        for key, value in outputs.items()
    }


def extract_notes(
    audio,
    sr: int = SAMPLE_RATE,
    config: TranscriptionConfig | None = None,
    *,
    midi_path: str | os.PathLike | None = None,
    name: str = "audio",
    require_notes: bool = False,
    max_duration_s: float | None = MAX_INPUT_SECONDS,
) -> list[Note]:
    """Transcribe audio to note events with Basic Pitch (ONNX).

    Args:
        audio: a path / bytes (read with `load_audio`) or a mono waveform `np.ndarray` of shape `(samples,)`.
        sr (`int`): sample rate of a waveform argument; resampled to 22,050 Hz if different.
        config (`TranscriptionConfig`, *optional*): thresholds and minimum note length.
        midi_path (*optional*): also write the notes to this MIDI file.
        require_notes (`bool`): raise `MelodyError` if nothing is transcribed.
        max_duration_s (`float`, *optional*): refuse longer audio (`AudioError`) before transcribing it; None: no
            limit (Basic Pitch costs about 0.02 s of CPU per second of audio, and its posteriorgrams grow with it).
    Returns:
        notes sorted by onset (`Note(onset, offset, pitch, velocity)`, times in seconds).
    """
    _basic_pitch_model()  # imports basic-pitch quietly
    from basic_pitch.constants import AUDIO_SAMPLE_RATE, FFT_HOP
    from basic_pitch.note_creation import model_output_to_notes

    config = config or TranscriptionConfig()
    if isinstance(audio, np.ndarray):
        if audio.ndim != 1:
            raise AudioError(f"{name}: expected a mono waveform of shape (samples,), got shape {audio.shape}")
        waveform = validate_waveform(audio, sr, name=name, max_duration_s=max_duration_s)
        if sr != AUDIO_SAMPLE_RATE:
            from ..audio import resample

            waveform = resample(waveform, sr, AUDIO_SAMPLE_RATE)
    else:
        waveform = load_audio(audio, AUDIO_SAMPLE_RATE, max_duration_s=max_duration_s)
    posteriorgrams = basic_pitch_posteriorgrams(waveform)
    min_note_frames = int(np.round(config.minimum_note_length_ms / 1000 * (AUDIO_SAMPLE_RATE / FFT_HOP)))
    _, note_events = model_output_to_notes(
        posteriorgrams,
        onset_thresh=config.onset_threshold,
        frame_thresh=config.frame_threshold,
        min_note_len=min_note_frames,
        min_freq=config.minimum_frequency,
        max_freq=config.maximum_frequency,
        melodia_trick=config.melodia_trick,
    )
    notes = sort_notes(
        Note(float(start), float(end), int(pitch), int(round(127 * min(max(amplitude, 0.0), 1.0))))
        for start, end, pitch, amplitude, _ in note_events
    )
    if require_notes and not notes:
        raise MelodyError(f"{name}: Basic Pitch found no notes in the audio")
    if midi_path is not None:
        write_midi(notes, midi_path)
    return notes
