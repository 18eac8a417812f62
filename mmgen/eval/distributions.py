"""Set-level statistics: Fréchet distance of embeddings (FAD), paired KL divergence and Inception Score of class
probabilities. Pure numpy/scipy; the features come from an `AudioEmbedder`.
"""

# Adapted from the definitions in gudgud96/frechet-audio-distance (FAD) and haoheliu/audioldm_eval (KL, IS):
# the formulas, re-derived here, not their code.

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

EPS = 1e-6


class MetricInputError(ValueError):
    """Inputs of a metric that cannot be compared (wrong shapes, too few samples, unpaired sets)."""


def embedding_statistics(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean `(D,)` and covariance `(D, D)` of embeddings `(N, D)`, N >= 2."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or embeddings.shape[0] < 2:
        raise MetricInputError(f"need at least 2 embeddings of shape (N, D), got {embeddings.shape}")
    return embeddings.mean(axis=0), np.cov(embeddings, rowvar=False)


def frechet_terms(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> dict[str, float]:
    """The two parts of the Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2): `mean_term` `|mu1 - mu2|^2`
    (where the sets sit) and `covariance_term` `tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2))` (how they spread), with
    each set's total variance `spread_1` `tr(sigma1)` and `spread_2` `tr(sigma2)`."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise MetricInputError(f"statistics differ in shape: {mu1.shape} vs {mu2.shape}")
    with warnings.catch_warnings():  # fewer samples than dimensions gives singular covariances; that is expected
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1.dot(sigma2))
        if not np.isfinite(covmean).all():  # regularise, as the reference FID code does
            offset = np.eye(sigma1.shape[0]) * EPS
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    spread_1, spread_2 = float(np.trace(sigma1)), float(np.trace(sigma2))
    diff = mu1 - mu2
    covariance_term = spread_1 + spread_2 - 2.0 * float(np.trace(covmean.real))
    return {"mean_term": float(diff.dot(diff)), "covariance_term": covariance_term, "spread_1": spread_1,
            "spread_2": spread_2}  # fmt: skip


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2):
    `|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2))` (`frechet_terms` gives the two parts).
    """
    terms = frechet_terms(mu1, sigma1, mu2, sigma2)
    return float(max(terms["mean_term"] + terms["covariance_term"], 0.0))


def frechet_audio_distance(embeddings_a: np.ndarray, embeddings_b: np.ndarray) -> float:
    """FAD between two sets of window embeddings, `(N_a, D)` and `(N_b, D)`."""
    return frechet_distance(*embedding_statistics(embeddings_a), *embedding_statistics(embeddings_b))


def frechet_audio_terms(embeddings_a: np.ndarray, embeddings_b: np.ndarray) -> dict[str, float]:
    """`frechet_terms` of two sets of window embeddings, `(N_a, D)` and `(N_b, D)` (their sum is the FAD)."""
    return frechet_terms(*embedding_statistics(embeddings_a), *embedding_statistics(embeddings_b))


def _as_distributions(probabilities: np.ndarray) -> np.ndarray:
    """Rows of class probabilities (multi-label sigmoid outputs) normalised into distributions over classes."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise MetricInputError(f"expected class probabilities (N, C), got shape {p.shape}")
    if (p < 0).any():
        raise MetricInputError("class probabilities must be non-negative")
    p = p + EPS
    return p / p.sum(axis=1, keepdims=True)


def kl_divergence(reference: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Per-pair KL(reference || generated) between class distributions.

    Args:
        reference (`np.ndarray` of shape `(N, C)`): class probabilities of the reference clips.
        generated (`np.ndarray` of shape `(N, C)`): those of the generated clips, row i paired with row i.

    Returns:
        `np.ndarray` of shape `(N,)`. Each row is normalised to sum to 1 first (the taggers are multi-label).
    """
    reference, generated = np.asarray(reference), np.asarray(generated)
    if reference.shape != generated.shape:
        raise MetricInputError(f"KL needs paired clips: shapes {reference.shape} and {generated.shape} differ")
    p, q = _as_distributions(reference), _as_distributions(generated)
    return (p * (np.log(p) - np.log(q))).sum(axis=1)


def inception_score(probabilities: np.ndarray, splits: int = 1) -> tuple[float, float]:
    """Inception Score `exp(E_x KL(p(y|x) || p(y)))` over clip class distributions `(N, C)`.

    Args:
        probabilities (`np.ndarray` of shape `(N, C)`): class probabilities per clip.
        splits (`int`, *optional*, defaults to 1): compute over this many equal splits; mean and std returned.

    Returns:
        `(mean, std)`; 1.0 means every clip has the same class distribution, at most C.
    """
    p = _as_distributions(probabilities)
    if not 1 <= splits <= len(p):
        raise MetricInputError(f"splits must be between 1 and the number of clips ({len(p)}), got {splits}")
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        scores.append(float(np.exp((part * (np.log(part) - np.log(marginal))).sum(axis=1).mean())))
    return float(np.mean(scores)), float(np.std(scores))
