"""TriModalAligner: audio, text and melody in one space; registered with the transformers Auto classes."""

from transformers import AutoConfig, AutoModel

from .configuration_aligner import (
    DEFAULT_AUDIO_CONFIG,
    DEFAULT_TEXT_ENCODER,
    PITCH_AUDIO_CONFIG,
    TINY_AUDIO_CONFIG,
    TINY_MELODY_CONFIG,
    TINY_PITCH_AUDIO_CONFIG,
    AlignerConfigError,
    TriModalAlignerConfig,
    TriModalMelodyConfig,
    TriModalTextConfig,
)
from .feature_extraction_aligner import HTSATInputAdapter, TriModalAlignerFeatureExtractor, stack_audio_features
from .loss_aligner import contrastive_loss, gather_with_grad, multimodal_contrastive_loss, pairwise_logits
from .modeling_aligner import AlignerInputError, TriModalAligner, TriModalAlignerOutput
from .processing_aligner import TriModalAlignerProcessor, average_windows

AutoConfig.register(TriModalAlignerConfig.model_type, TriModalAlignerConfig, exist_ok=True)
AutoModel.register(TriModalAlignerConfig, TriModalAligner, exist_ok=True)

__all__ = [
    "DEFAULT_AUDIO_CONFIG",
    "DEFAULT_TEXT_ENCODER",
    "PITCH_AUDIO_CONFIG",
    "TINY_AUDIO_CONFIG",
    "TINY_MELODY_CONFIG",
    "TINY_PITCH_AUDIO_CONFIG",
    "AlignerConfigError",
    "AlignerInputError",
    "HTSATInputAdapter",
    "TriModalAligner",
    "TriModalAlignerConfig",
    "TriModalAlignerFeatureExtractor",
    "TriModalAlignerOutput",
    "TriModalAlignerProcessor",
    "TriModalMelodyConfig",
    "TriModalTextConfig",
    "average_windows",
    "contrastive_loss",
    "gather_with_grad",
    "multimodal_contrastive_loss",
    "pairwise_logits",
    "stack_audio_features",
]
