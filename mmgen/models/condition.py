"""The condition projector of MMGen (paper 4.2.2, eq. 9): `c = MLP([q, r])`, with classifier-free guidance nulls.

`q` is the query embedding (a text prompt, or a reference audio for music-to-music) and `r` the melody embedding
(retrieved from the melody database, or of a melody the user gives), both from the tri-modal aligner's joint space.

Classifier-free guidance (CFG) is done so that the unconditional input is the same at training and at sampling
(the official code trains with `[null_text, retrieve(null_text)]` but samples with `[null, null]`):

* **whole-condition drop** (`condition_dropout`, 10% by default): `q` and `r` are both replaced by learned null
  vectors, `[q_null, r_null]`. Sampling uses exactly this input for `eps(x, t)`.
* **melody-only drop** (`melody_dropout`, optional): only `r` is replaced, `[q, r_null]`. Sampling uses this input
  for `eps(x, t, q)` when text (query) and melody are guided separately (`melody_guidance_scale`).

The combined guidance, with `w = guidance_scale` and `beta = melody_guidance_scale` (audiocraft's `cfg_coef_beta`,
with its `cfg_coef = w + 1`), is implemented by [`classifier_free_guidance`]:

    beta is None:  eps = (w + 1) * eps(x, t, [q, r]) - w * eps(x, t, [q_null, r_null])           (paper eq. 11)
    otherwise:     eps = eps_null + (w + 1) * (eps_q + beta * (eps_qr - eps_q) - eps_null)

where `eps_qr = eps(x, t, [q, r])`, `eps_q = eps(x, t, [q, r_null])` and `eps_null = eps(x, t, [q_null, r_null])`.
`beta = 1` gives the paper's formula back; `beta > 1` pushes further towards the melody, `beta < 1` weakens it.
`w = 0` disables guidance (one UNet pass).

**Input normalisation** (`normalize_inputs`): the aligner's embeddings have unit norm (256 dimensions in the
shipped model: about 0.06 per dimension) and share a common direction, so a default-initialised first layer sees
inputs no larger than its bias, and the condition `c` of v1 barely varied over prompts (mean pairwise cosine 0.72
where `q` and `r` sit at 0.03 and 0.08: `benchmarks/results/condition_spread.json`). With `normalize_inputs=True`,
`q` and `r` are centred on their training mean and scaled to unit variance per dimension before the MLP (the
statistics are buffers saved with the weights; [`ConditionProjector.fit_input_normalization`] sets them from training
embeddings and re-expresses the first layer and the nulls so that the projector computes exactly what it did before).
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class ConditionProjector(ModelMixin, ConfigMixin):
    r"""
    `c = MLP([q, r])` with learned null embeddings for classifier-free guidance.

    Parameters:
        query_dim (`int`, defaults to 512):
            Dimension of the query embedding `q` (the aligner's `projection_dim`).
        melody_dim (`int`, defaults to 512):
            Dimension of the melody embedding `r` (the retriever's `embedding_dim`).
        hidden_dim (`int`, defaults to 512):
            Width of the MLP's hidden layers.
        condition_dim (`int`, defaults to 512):
            Dimension of the output condition `c` (the UNet's `projection_class_embeddings_input_dim`).
        num_layers (`int`, defaults to 2):
            Number of linear layers of the MLP (SiLU between them); at least 1.
        use_melody (`bool`, defaults to `True`):
            `False` builds the text-only ablation `c = MLP(q)`: `r` is ignored and never needed.
        condition_dropout (`float`, defaults to 0.1):
            Training probability of dropping the whole condition to `[q_null, r_null]`.
        melody_dropout (`float`, defaults to 0.0):
            Training probability of dropping only the melody to `[q, r_null]` (needed for `melody_guidance_scale`).
        normalize_inputs (`bool`, defaults to `False`):
            Centre and scale `q` and `r` with stored training statistics before the MLP (module docstring).
    """

    @register_to_config
    def __init__(
        self,
        query_dim: int = 512,
        melody_dim: int = 512,
        hidden_dim: int = 512,
        condition_dim: int = 512,
        num_layers: int = 2,
        use_melody: bool = True,
        condition_dropout: float = 0.1,
        melody_dropout: float = 0.0,
        normalize_inputs: bool = False,
    ):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"`num_layers` must be at least 1, got {num_layers}.")
        for name, p in (("condition_dropout", condition_dropout), ("melody_dropout", melody_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {p}.")
        if condition_dropout + melody_dropout >= 1.0:
            raise ValueError("`condition_dropout + melody_dropout` must be below 1.")

        # Learned nulls, initialised at zero: the same tensors are used for the dropped training examples and for
        # the unconditional branch at sampling.
        self.null_query = nn.Parameter(torch.zeros(query_dim))
        self.null_melody = nn.Parameter(torch.zeros(melody_dim)) if use_melody else None

        in_dim = query_dim + (melody_dim if use_melody else 0)
        layers: list[nn.Module] = []
        for i in range(num_layers):
            out_dim = condition_dim if i == num_layers - 1 else hidden_dim
            layers.append(nn.Linear(in_dim, out_dim))
            if i < num_layers - 1:
                layers.append(nn.SiLU())
            in_dim = out_dim
        self.mlp = nn.Sequential(*layers)

        if normalize_inputs:  # identity until fit_input_normalization; saved with the weights
            self.register_buffer("query_mean", torch.zeros(query_dim))
            self.register_buffer("query_scale", torch.ones(1))
            if use_melody:
                self.register_buffer("melody_mean", torch.zeros(melody_dim))
                self.register_buffer("melody_scale", torch.ones(1))

    def _inputs(self) -> list[tuple[str, int]]:
        """(name, dimension) of the MLP's inputs, in the order they are concatenated."""
        names = [("query", self.config.query_dim)]
        return names + ([("melody", self.config.melody_dim)] if self.config.use_melody else [])

    def _normalize(self, name: str, embeds: torch.Tensor) -> torch.Tensor:
        if not self.config.normalize_inputs:
            return embeds
        return (embeds - getattr(self, f"{name}_mean")) * getattr(self, f"{name}_scale")

    @torch.no_grad()
    def fit_input_normalization(self, query_embeds: torch.Tensor, melody_embeds: torch.Tensor | None = None) -> None:
        """Set the input statistics from training embeddings `(N, dim)` and re-express the first layer and the nulls in
        the new coordinates, so that the projector's output is unchanged for every input (a warm start stays exact).

        With old statistics `(m0, s0)` and new `(m1, s1)`, `x0 = (x - m0) s0 = x1 s0 / s1 + (m1 - m0) s0`: the first
        layer's weight columns are scaled by `s0 / s1` and `W (m1 - m0) s0` is added to its bias.
        """
        if not self.config.normalize_inputs:
            raise ValueError("This projector was built with `normalize_inputs=False`.")
        fitted = {"query": query_embeds, "melody": melody_embeds}
        first = self.mlp[0]
        column = 0
        for name, dim in self._inputs():
            embeds = fitted[name]
            if embeds is None or embeds.ndim != 2 or embeds.shape[-1] != dim or len(embeds) < 2:
                raise ValueError(f"`{name}_embeds` must have shape (N >= 2, {dim}) to fit the normalisation.")
            embeds = embeds.to(first.weight.device, torch.float64)
            m0, s0 = getattr(self, f"{name}_mean").double(), getattr(self, f"{name}_scale").double()
            m1 = embeds.mean(0)
            s1 = 1.0 / (embeds - m1).pow(2).mean().sqrt().clamp_min(1e-8).reshape(1)
            weight = first.weight[:, column : column + dim].double()
            first.bias += (weight @ ((m1 - m0) * s0)).to(first.bias.dtype)
            first.weight[:, column : column + dim] = (weight * s0 / s1).to(first.weight.dtype)
            null = getattr(self, f"null_{name}")
            null.copy_(((null.double() / s0 + m0 - m1) * s1).to(null.dtype))
            getattr(self, f"{name}_mean").copy_(m1.to(m0.dtype))
            getattr(self, f"{name}_scale").copy_(s1.to(s0.dtype))
            column += dim

    def _check(self, name: str, embeds: torch.Tensor, dim: int) -> None:
        if embeds.ndim != 2 or embeds.shape[-1] != dim:
            raise ValueError(f"`{name}` must have shape (batch_size, {dim}), got {tuple(embeds.shape)}.")

    def sample_drop_masks(
        self, batch_size: int, device: torch.device | str | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random training drop masks `(drop_condition, drop_melody)`, each a bool tensor of shape `(batch_size,)`.

        One uniform draw per example: below `condition_dropout` drops the whole condition, the next
        `melody_dropout` of probability mass drops the melody only (so the two never overlap).
        """
        u = torch.rand(batch_size, generator=generator, device=generator.device if generator else None)
        u = u.to(device) if device is not None else u
        drop_condition = u < self.config.condition_dropout
        drop_melody = (~drop_condition) & (u < self.config.condition_dropout + self.config.melody_dropout)
        if not self.config.use_melody:
            drop_melody = torch.zeros_like(drop_melody)
        return drop_condition, drop_melody

    def forward(
        self,
        query_embeds: torch.Tensor | None,
        melody_embeds: torch.Tensor | None = None,
        drop_condition: torch.Tensor | bool | None = None,
        drop_melody: torch.Tensor | bool | None = None,
        batch_size: int | None = None,
    ) -> torch.Tensor:
        r"""
        Project `[q, r]` to the condition `c`.

        Args:
            query_embeds (`torch.Tensor` of shape `(batch_size, query_dim)`, *optional*):
                The query embeddings `q`. `None` with `drop_condition=True` gives the null condition.
            melody_embeds (`torch.Tensor` of shape `(batch_size, melody_dim)`, *optional*):
                The melody embeddings `r`; required when `use_melody` unless the melody is dropped.
            drop_condition (`torch.Tensor` of shape `(batch_size,)` or `bool`, *optional*):
                Where `True`, replace `q` and `r` by the nulls (the unconditional input).
            drop_melody (`torch.Tensor` of shape `(batch_size,)` or `bool`, *optional*):
                Where `True`, replace only `r` by its null.
            batch_size (`int`, *optional*):
                Batch size when both embeddings are `None` (the all-null condition).

        Returns:
            `torch.Tensor` of shape `(batch_size, condition_dim)`.
        """
        cfg = self.config
        if query_embeds is not None:
            self._check("query_embeds", query_embeds, cfg.query_dim)
            batch_size = query_embeds.shape[0]
        if melody_embeds is not None and cfg.use_melody:
            self._check("melody_embeds", melody_embeds, cfg.melody_dim)
            if batch_size is not None and melody_embeds.shape[0] != batch_size:
                raise ValueError(
                    f"`melody_embeds` has batch size {melody_embeds.shape[0]}, `query_embeds` has {batch_size}."
                )
            batch_size = melody_embeds.shape[0]
        if batch_size is None:
            raise ValueError("Pass `query_embeds`, `melody_embeds` or `batch_size`.")

        device, dtype = self.null_query.device, self.null_query.dtype
        drop_condition = _as_mask(drop_condition, batch_size, device)
        drop_melody = _as_mask(drop_melody, batch_size, device) | drop_condition

        if query_embeds is None and not bool(drop_condition.all()):
            raise ValueError("`query_embeds` is required unless the whole condition is dropped.")
        # The nulls live in the normalised coordinates: they replace the inputs after normalisation.
        q = self.null_query.expand(batch_size, -1)
        if query_embeds is not None:
            query_embeds = self._normalize("query", query_embeds.to(device=device, dtype=dtype))
            q = torch.where(drop_condition[:, None], q, query_embeds)
        inputs = [q]

        if cfg.use_melody:
            if melody_embeds is None and not bool(drop_melody.all()):
                raise ValueError(
                    "`melody_embeds` is required by this melody-conditioned projector (`use_melody=True`) "
                    "unless the melody is dropped."
                )
            r = self.null_melody.expand(batch_size, -1)
            if melody_embeds is not None:
                melody_embeds = self._normalize("melody", melody_embeds.to(device=device, dtype=dtype))
                r = torch.where(drop_melody[:, None], r, melody_embeds)
            inputs.append(r)
        return self.mlp(torch.cat(inputs, dim=-1))

    def null_condition(self, batch_size: int) -> torch.Tensor:
        """The unconditional input `MLP([q_null, r_null])`, shape `(batch_size, condition_dim)`."""
        return self(None, None, drop_condition=True, batch_size=batch_size)


def _as_mask(mask: torch.Tensor | bool | None, batch_size: int, device: torch.device) -> torch.Tensor:
    if mask is None or isinstance(mask, bool):
        return torch.full((batch_size,), bool(mask), dtype=torch.bool, device=device)
    mask = torch.as_tensor(mask, device=device).bool()
    if mask.shape != (batch_size,):
        raise ValueError(f"Drop masks must have shape ({batch_size},), got {tuple(mask.shape)}.")
    return mask


def classifier_free_guidance(
    noise_pred: torch.Tensor, guidance_scale: float, melody_guidance_scale: float | None = None
) -> torch.Tensor:
    r"""
    Combine the stacked UNet predictions into the guided noise (formulas in this module's docstring).

    Args:
        noise_pred (`torch.Tensor`):
            The predictions stacked on the batch axis: `[eps_null, eps_qr]` (shape `(2 * B, ...)`) when
            `melody_guidance_scale` is `None`, else `[eps_null, eps_q, eps_qr]` (shape `(3 * B, ...)`).
        guidance_scale (`float`):
            The paper's `w` (`w = 0`: no guidance).
        melody_guidance_scale (`float`, *optional*):
            audiocraft's `cfg_coef_beta`; weighs the melody against the query.

    Returns:
        `torch.Tensor` of shape `(B, ...)`.
    """
    if melody_guidance_scale is None:
        eps_null, eps_qr = noise_pred.chunk(2)
        return (guidance_scale + 1.0) * eps_qr - guidance_scale * eps_null
    # Adapted from audiocraft/models/lm.py (`cfg_coef_beta`, double classifier-free guidance).
    eps_null, eps_q, eps_qr = noise_pred.chunk(3)
    return eps_null + (guidance_scale + 1.0) * (eps_q + melody_guidance_scale * (eps_qr - eps_q) - eps_null)
