"""ConditionProjector (c = MLP([q, r]) with learned CFG nulls) and the guidance formula."""

import pytest
import torch

from mmgen.models.condition import ConditionProjector, classifier_free_guidance


def make_projector(**kwargs):
    torch.manual_seed(0)
    projector = ConditionProjector(query_dim=8, melody_dim=6, hidden_dim=16, condition_dim=12, **kwargs)
    with torch.no_grad():
        projector.null_query.normal_()
        if projector.null_melody is not None:
            projector.null_melody.normal_()
    return projector


def test_output_shape_and_dependence_on_both_inputs():
    projector = make_projector()
    q, r = torch.randn(3, 8), torch.randn(3, 6)
    c = projector(q, r)
    assert c.shape == (3, 12)
    assert not torch.allclose(c, projector(q, torch.randn(3, 6)))
    assert not torch.allclose(c, projector(torch.randn(3, 8), r))


def test_null_condition_is_the_dropped_training_input():
    """The unconditional input at sampling equals the input of a whole-condition drop in training."""
    projector = make_projector()
    q, r = torch.randn(4, 8), torch.randn(4, 6)
    dropped = projector(q, r, drop_condition=torch.ones(4, dtype=torch.bool))
    null = projector.null_condition(4)
    torch.testing.assert_close(dropped, null)
    expected = projector.mlp(torch.cat([projector.null_query, projector.null_melody]))
    torch.testing.assert_close(null, expected.expand(4, -1))


def test_drop_masks_apply_per_example():
    projector = make_projector()
    q, r = torch.randn(3, 8), torch.randn(3, 6)
    drop_condition = torch.tensor([True, False, False])
    drop_melody = torch.tensor([False, True, False])
    c = projector(q, r, drop_condition=drop_condition, drop_melody=drop_melody)
    torch.testing.assert_close(c[0], projector.null_condition(1)[0])
    torch.testing.assert_close(c[1], projector(q[1:2], None, drop_melody=True)[0])
    torch.testing.assert_close(c[2], projector(q[2:3], r[2:3])[0])


def test_sample_drop_masks_rates_and_disjointness():
    projector = make_projector(condition_dropout=0.1, melody_dropout=0.2)
    generator = torch.Generator().manual_seed(0)
    drop_condition, drop_melody = projector.sample_drop_masks(20000, generator=generator)
    assert drop_condition.dtype == torch.bool and drop_condition.shape == (20000,)
    assert abs(drop_condition.float().mean().item() - 0.1) < 0.01
    assert abs(drop_melody.float().mean().item() - 0.2) < 0.01
    assert not (drop_condition & drop_melody).any()


def test_nulls_receive_gradients_only_when_dropped():
    projector = make_projector()
    q, r = torch.randn(2, 8), torch.randn(2, 6)
    projector(q, r).sum().backward()
    assert projector.null_query.grad is None or projector.null_query.grad.abs().sum() == 0
    projector.zero_grad()
    projector(q, r, drop_condition=torch.tensor([True, False])).sum().backward()
    assert projector.null_query.grad.abs().sum() > 0 and projector.null_melody.grad.abs().sum() > 0


def test_text_only_projector_ignores_melody():
    projector = make_projector(use_melody=False)
    assert projector.null_melody is None
    q = torch.randn(2, 8)
    torch.testing.assert_close(projector(q), projector(q, torch.randn(2, 6)))
    assert projector.mlp[0].in_features == 8
    assert not projector.sample_drop_masks(100)[1].any()


def test_missing_melody_raises():
    with pytest.raises(ValueError, match="melody_embeds"):
        make_projector()(torch.randn(2, 8))


@pytest.mark.parametrize(
    ("q_shape", "r_shape", "match"),
    [((2, 7), (2, 6), "query_embeds"), ((2, 8), (2, 5), "melody_embeds"), ((2, 8), (3, 6), "batch size")],
)
def test_wrong_shapes_raise(q_shape, r_shape, match):
    with pytest.raises(ValueError, match=match):
        make_projector()(torch.randn(*q_shape), torch.randn(*r_shape))


@pytest.mark.parametrize(
    "kwargs",
    [{"num_layers": 0}, {"condition_dropout": 1.0}, {"melody_dropout": -0.1},
     {"condition_dropout": 0.6, "melody_dropout": 0.5}],
)  # fmt: skip
def test_bad_config_raises(kwargs):
    with pytest.raises(ValueError):
        ConditionProjector(**kwargs)


def test_save_and_load_round_trip(tmp_path):
    projector = make_projector(melody_dropout=0.05)
    projector.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = ConditionProjector.from_pretrained(tmp_path)
    assert loaded.config.melody_dropout == 0.05
    q, r = torch.randn(2, 8), torch.randn(2, 6)
    torch.testing.assert_close(loaded(q, r), projector(q, r))
    torch.testing.assert_close(loaded.null_condition(2), projector.null_condition(2))


def test_classifier_free_guidance_formulas():
    eps_null, eps_q, eps_qr = torch.randn(3, 2, 4).unbind(0)
    w = 3.0
    paper = classifier_free_guidance(torch.cat([eps_null, eps_qr]), w)
    torch.testing.assert_close(paper, (w + 1) * eps_qr - w * eps_null)
    # beta = 1 gives the paper's formula back; w = 0 means no guidance.
    torch.testing.assert_close(classifier_free_guidance(torch.cat([eps_null, eps_q, eps_qr]), w, 1.0), paper)
    torch.testing.assert_close(classifier_free_guidance(torch.cat([eps_null, eps_qr]), 0.0), eps_qr)
    double = classifier_free_guidance(torch.cat([eps_null, eps_q, eps_qr]), w, 2.0)
    torch.testing.assert_close(double, eps_null + (w + 1) * (eps_q + 2.0 * (eps_qr - eps_q) - eps_null))


def _embeddings(n: int, dim: int, seed: int) -> torch.Tensor:
    """Unit-norm embeddings sharing a common direction, like the aligner's."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g) * 0.2 + torch.randn(dim, generator=g)
    return torch.nn.functional.normalize(x, dim=-1)


def test_input_normalization_refit_keeps_the_function_and_standardises_the_inputs(tmp_path):
    """fit_input_normalization re-expresses the first layer and nulls: outputs (conditional, melody-dropped and null)
    are unchanged, a second fit on other statistics too, the MLP then sees centred unit-variance inputs, and the
    statistics travel with the weights."""
    plain = make_projector(melody_dropout=0.1)
    normalized = make_projector(melody_dropout=0.1, normalize_inputs=True)
    normalized.load_state_dict(plain.state_dict(), strict=False)  # the statistics start at identity
    q, r = _embeddings(64, 8, 1), _embeddings(64, 6, 2)
    for fit_q, fit_r in ((q, r), (_embeddings(32, 8, 3), _embeddings(32, 6, 4))):
        normalized.fit_input_normalization(fit_q, fit_r)
        torch.testing.assert_close(normalized(q, r), plain(q, r), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(normalized(q, r, drop_melody=True), plain(q, r, drop_melody=True),
                                   atol=1e-5, rtol=1e-5)  # fmt: skip
        torch.testing.assert_close(normalized.null_condition(2), plain.null_condition(2), atol=1e-5, rtol=1e-5)
    normalized.fit_input_normalization(q, r)
    standard = normalized._normalize("query", q)
    assert standard.mean(0).abs().max() < 1e-5
    assert abs(standard.pow(2).mean().item() - 1.0) < 1e-4
    assert q.pow(2).mean().item() < 0.2  # the raw inputs were far below unit variance per dimension
    normalized.save_pretrained(tmp_path)
    loaded = ConditionProjector.from_pretrained(tmp_path)
    torch.testing.assert_close(loaded.melody_mean, normalized.melody_mean)
    torch.testing.assert_close(loaded(q, r), normalized(q, r))


def test_input_normalization_needs_the_option_and_enough_embeddings():
    with pytest.raises(ValueError, match="normalize_inputs=False"):
        make_projector().fit_input_normalization(torch.randn(4, 8), torch.randn(4, 6))
    projector = make_projector(normalize_inputs=True)
    with pytest.raises(ValueError, match="melody_embeds"):
        projector.fit_input_normalization(torch.randn(4, 8), None)
    with pytest.raises(ValueError, match="query_embeds"):
        projector.fit_input_normalization(torch.randn(1, 8), torch.randn(4, 6))
