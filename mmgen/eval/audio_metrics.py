"""FAD, KL and IS over lists of waveforms, with any `AudioEmbedder` (musicnn by default).

    >>> from mmgen.eval import fad_musicnn, kl_musicnn, is_musicnn
    >>> fad_musicnn(generated_waves, reference_waves, sr=22050)

Results are named after the embedder (`fad_musicnn`, `fad_vggish`, ...); `set_metrics` computes all three
from one pass of the model over each set.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from .distributions import MetricInputError, frechet_audio_distance, inception_score, kl_divergence
from .embedders import AudioEmbedder, ClipFeatures, MusicnnEmbedder


@functools.lru_cache(maxsize=2)
def default_embedder(model: str = "MTT_musicnn") -> MusicnnEmbedder:
    """The musicnn embedder, built once per process."""
    return MusicnnEmbedder(model)


def extract_features(waveforms: Sequence[np.ndarray], sr: int, embedder: AudioEmbedder | None = None):
    """`ClipFeatures` of every clip (one model pass per clip)."""
    if len(waveforms) == 0:
        raise MetricInputError("no clips given")
    embedder = embedder or default_embedder()
    return embedder.features_batch([np.asarray(w, dtype=np.float32) for w in waveforms], sr)


def _stack_embeddings(features: Sequence[ClipFeatures]) -> np.ndarray:
    return np.concatenate([f.embeddings for f in features], axis=0)


def _stack_probabilities(features: Sequence[ClipFeatures], embedder_name: str) -> np.ndarray:
    if any(f.probabilities is None for f in features):
        raise MetricInputError(f"the {embedder_name} embedder has no classifier head: KL and IS need one")
    return np.stack([f.probabilities for f in features])


def set_metrics(
    generated: Sequence[ClipFeatures],
    reference: Sequence[ClipFeatures] | None,
    embedder_name: str = "musicnn",
    *,
    paired: bool = True,
) -> dict[str, float]:
    """FAD, KL and IS from precomputed features.

    Args:
        generated (`list[ClipFeatures]`): features of the generated clips.
        reference (`list[ClipFeatures]`, *optional*): features of the reference clips; without them only IS.
        embedder_name (`str`, *optional*, defaults to `"musicnn"`): suffix of the metric names.
        paired (`bool`, *optional*, defaults to `True`): `generated[i]` and `reference[i]` are the same
            prompt/piece, so KL is defined (mean over pairs); otherwise KL is left out.

    Returns:
        `dict` with `fad_<name>`, `kl_<name>`, `is_<name>`, `is_<name>_std` (those computable).
    """
    results = {}
    has_classifier = all(f.probabilities is not None for f in generated)
    if reference is not None:
        results[f"fad_{embedder_name}"] = frechet_audio_distance(
            _stack_embeddings(generated), _stack_embeddings(reference)
        )
        if paired and has_classifier:
            if len(generated) != len(reference):
                raise MetricInputError(f"KL needs paired sets: {len(generated)} generated vs {len(reference)}")
            kl = kl_divergence(
                _stack_probabilities(reference, embedder_name), _stack_probabilities(generated, embedder_name)
            )
            results[f"kl_{embedder_name}"] = float(kl.mean())
    if has_classifier:
        mean, std = inception_score(_stack_probabilities(generated, embedder_name))
        results[f"is_{embedder_name}"], results[f"is_{embedder_name}_std"] = mean, std
    return results


def fad_musicnn(generated: Sequence[np.ndarray], reference: Sequence[np.ndarray], sr: int, embedder=None) -> float:
    """FAD between two sets of waveforms `(samples,)` at `sr`, with musicnn (or the given embedder) features."""
    embedder = embedder or default_embedder()
    return frechet_audio_distance(
        _stack_embeddings(extract_features(generated, sr, embedder)),
        _stack_embeddings(extract_features(reference, sr, embedder)),
    )


def kl_musicnn(generated: Sequence[np.ndarray], reference: Sequence[np.ndarray], sr: int, embedder=None) -> float:
    """Mean KL(reference || generated) of tag distributions over paired clips (`generated[i]` ~ `reference[i]`)."""
    if len(generated) != len(reference):
        raise MetricInputError(f"KL needs paired clips: {len(generated)} generated vs {len(reference)} reference")
    embedder = embedder or default_embedder()
    gen = _stack_probabilities(extract_features(generated, sr, embedder), embedder.name)
    ref = _stack_probabilities(extract_features(reference, sr, embedder), embedder.name)
    return float(kl_divergence(ref, gen).mean())


def is_musicnn(generated: Sequence[np.ndarray], sr: int, embedder=None) -> float:
    """Inception Score of the tag distributions of a set of waveforms."""
    embedder = embedder or default_embedder()
    return inception_score(_stack_probabilities(extract_features(generated, sr, embedder), embedder.name))[0]
