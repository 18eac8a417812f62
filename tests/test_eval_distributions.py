"""FAD, KL and IS formulas on synthetic statistics (no model)."""

import numpy as np
import pytest

from mmgen.eval.distributions import (
    MetricInputError,
    frechet_audio_distance,
    frechet_audio_terms,
    frechet_distance,
    frechet_terms,
    inception_score,
    kl_divergence,
)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0]), np.array([3.0, 1.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 4.0])
    # |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2 = 9 + (1-3)^2 + 0
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(13.0)


def test_frechet_terms_split_the_distance_into_where_the_sets_sit_and_how_they_spread():
    mu1, mu2 = np.array([0.0, 1.0]), np.array([3.0, 1.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 4.0])
    terms = frechet_terms(mu1, s1, mu2, s2)
    assert terms["mean_term"] == pytest.approx(9.0) and terms["covariance_term"] == pytest.approx(4.0)
    assert (terms["spread_1"], terms["spread_2"]) == (pytest.approx(5.0), pytest.approx(13.0))
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 6)), 0.5 * rng.normal(size=(300, 6)) + 1.0  # narrower and shifted
    terms = frechet_audio_terms(a, b)
    assert terms["mean_term"] + terms["covariance_term"] == pytest.approx(frechet_audio_distance(a, b))
    assert terms["spread_2"] < terms["spread_1"] and terms["mean_term"] == pytest.approx(6.0, rel=0.2)


def test_fad_is_zero_for_identical_sets_and_grows_with_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 8))
    assert frechet_audio_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    distances = [frechet_audio_distance(a, a + shift) for shift in (0.5, 1.0, 2.0)]
    assert distances == sorted(distances) and distances[0] > 0
    assert distances[1] == pytest.approx(8 * 1.0**2, rel=1e-6)  # a pure mean shift adds |shift|^2 per dimension


def test_fad_handles_fewer_samples_than_dimensions():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 50)), rng.normal(size=(6, 50))
    value = frechet_audio_distance(a, b)
    assert np.isfinite(value) and value > 0


def test_fad_rejects_bad_shapes():
    with pytest.raises(MetricInputError, match="at least 2"):
        frechet_audio_distance(np.zeros((1, 4)), np.zeros((3, 4)))
    with pytest.raises(MetricInputError, match="shape"):
        frechet_audio_distance(np.ones((3, 4)), np.ones((3, 5)))


def test_kl_zero_for_identical_and_positive_otherwise():
    p = np.array([[0.9, 0.1, 0.5], [0.2, 0.2, 0.8]])
    np.testing.assert_allclose(kl_divergence(p, p), 0.0, atol=1e-12)
    q = p[::-1]
    kl = kl_divergence(p, q)
    assert kl.shape == (2,) and (kl > 0).all()
    # matches the textbook formula on normalised rows
    pn, qn = (p + 1e-6) / (p + 1e-6).sum(1, keepdims=True), (q + 1e-6) / (q + 1e-6).sum(1, keepdims=True)
    np.testing.assert_allclose(kl, (pn * np.log(pn / qn)).sum(1))


def test_kl_requires_pairs():
    with pytest.raises(MetricInputError, match="paired"):
        kl_divergence(np.ones((2, 3)), np.ones((3, 3)))
    with pytest.raises(MetricInputError, match="non-negative"):
        kl_divergence(-np.ones((2, 3)), np.ones((2, 3)))


def test_inception_score_bounds():
    same = np.tile([0.7, 0.2, 0.1, 0.0], (8, 1))
    assert inception_score(same)[0] == pytest.approx(1.0)
    distinct = np.tile(np.eye(4), (2, 1))  # each clip certain of one class, all classes used equally
    assert inception_score(distinct)[0] == pytest.approx(4.0, rel=1e-3)
    mean, std = inception_score(distinct, splits=2)
    assert mean == pytest.approx(4.0, rel=1e-3) and std == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(MetricInputError, match="splits"):
        inception_score(distinct, splits=9)
