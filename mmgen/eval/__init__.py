"""Evaluation metrics: FAD / KL / IS with musicnn (or VGGish / PANNs weights), alignment score, melody adherence.

Names are imported lazily so that `python -m mmgen` stays fast; `from mmgen.eval import fad_musicnn` works.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "fad_musicnn": ".audio_metrics",
    "kl_musicnn": ".audio_metrics",
    "is_musicnn": ".audio_metrics",
    "set_metrics": ".audio_metrics",
    "extract_features": ".audio_metrics",
    "default_embedder": ".audio_metrics",
    "frechet_distance": ".distributions",
    "frechet_audio_distance": ".distributions",
    "frechet_terms": ".distributions",
    "frechet_audio_terms": ".distributions",
    "kl_divergence": ".distributions",
    "inception_score": ".distributions",
    "MetricInputError": ".distributions",
    "AudioEmbedder": ".embedder_base",
    "ClipFeatures": ".embedder_base",
    "MusicnnEmbedder": ".embedders",
    "EmbedderError": ".embedder_base",
    "load_embedder": ".embedders",
    "MusicnnModel": ".musicnn",
    "musicnn_log_mel": ".musicnn",
    "read_tf_checkpoint": ".tf_checkpoint",
    "alignment_score": ".alignment",
    "chroma_cosine": ".melody",
    "melody_note_f1": ".melody",
    "note_f1": ".melody",
    "audiocraft_chroma_cosine": ".adherence",
    "melody_accuracy": ".adherence",
    "melody_adherence": ".adherence",
    "evaluate_generation": ".generation",
    "markdown_table": ".generation",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
