"""Render `model_cards/trimodal_aligner.md` (a Jinja template) into the README.md of a saved aligner."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ...audio import PITCH_MIDI_LOW

TEMPLATE = Path(__file__).resolve().parents[3] / "model_cards" / "trimodal_aligner.md"
_FALLBACK = (
    "# TriModalAligner\n\nMMGen tri-modal aligner ({{ modalities }}).\n\n## Training data\n{{ training_data }}\n"
)


def _describe_training(summary: dict | None) -> tuple[str, str, str]:
    if not summary:
        none = "Not recorded (this folder was saved without a training summary)."
        return none, none, "No evaluation recorded."
    data = summary.get("dataset", {})
    data_text = (
        f"`{data.get('path', 'unknown')}` ({data.get('description', 'MusicSet on disk')}): "
        f"{data.get('train_rows', '?')} training rows, {data.get('validation_rows', '?')} validation rows; "
        f"random {summary.get('clip_seconds', '?')} s crops, melody tokens of the notes inside each crop."
    )
    keys = ("max_train_steps", "train_batch_size", "num_processes", "learning_rate", "mixed_precision", "seed")
    procedure = ", ".join(f"{k} = {summary[k]}" for k in keys if k in summary) or "Not recorded."
    metrics = summary.get("metrics")
    if metrics:
        rows = "\n".join(
            f"| {d} | " + " | ".join(f"{v.get(m, float('nan')):.4f}" for m in ("R@1", "R@5", "R@10", "mAP@10")) + " |"
            for d, v in metrics.items()
        )
        evaluation = (
            f"Retrieval on the `{summary.get('metrics_split', 'validation')}` split "
            f"({summary.get('metrics_items', '?')} items, one true match each):\n\n"
            f"| direction | R@1 | R@5 | R@10 | mAP@10 |\n|---|---|---|---|---|\n{rows}"
        )
    else:
        evaluation = "No evaluation recorded."
    return data_text, procedure, evaluation


def render_model_card(model) -> str:
    """The model card text of a `TriModalAligner` (its config and `config.training_summary`)."""
    import jinja2

    config = model.config
    sizes = model.get_config_summary()
    training_data, procedure, evaluation = _describe_training(config.training_summary)
    trainable = config.text_config.trainable_layers
    audio, pitch = config.audio_config, config.audio_pitch_bins
    values = {
        "variant": "tri-modal" if config.uses_melody else "bi-modal baseline",
        "modalities": ", ".join(config.modalities),
        "projection_dim": config.projection_dim,
        "text_encoder": config.text_config.encoder_name_or_path,
        "text_tuning": {0: "frozen", -1: "fully fine-tuned"}.get(trainable, f"top {trainable} layers fine-tuned"),
        "text_params": f"{sizes['text_params']:,}",
        "audio_depths": list(audio.depths),
        "audio_width": audio.patch_embeds_hidden_size,
        "audio_spec_size": audio.spec_size,
        "audio_input": (
            f"80-bin HiFi-GAN log-mels resized to {audio.num_mel_bins - pitch} mel rows, then a {pitch}-row semitone "
            f"spectrogram (MIDI {PITCH_MIDI_LOW}-{PITCH_MIDI_LOW + pitch - 1}, 4096-point STFT) that resolves the "
            "pitches melodies are made of"
            if pitch
            else f"80-bin HiFi-GAN log-mels resized to {audio.num_mel_bins} mel rows"
        ),
        "audio_clip_seconds": config.audio_clip_seconds,
        "audio_params": f"{sizes['audio_params']:,}",
        "melody_layers": config.melody_config.num_hidden_layers,
        "melody_width": config.melody_config.hidden_size,
        "melody_params": f"{sizes['melody_params']:,}",
        "training_data": training_data,
        "training_procedure": procedure,
        "evaluation": evaluation,
        "summary_json": json.dumps(config.training_summary or {}, indent=2, sort_keys=True),
    }
    text = TEMPLATE.read_text(encoding="utf-8") if TEMPLATE.is_file() else _FALLBACK
    return jinja2.Template(text, undefined=jinja2.StrictUndefined).render(**values)


def write_model_card(model, save_directory: str | os.PathLike) -> str:
    """Write README.md into `save_directory`; returns its path."""
    path = os.path.join(os.fspath(save_directory), "README.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_model_card(model))
    return path
