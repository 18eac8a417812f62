"""Evaluate a folder of generated clips against a folder of reference clips (the `eval generation` command).

Clips pair by file stem (`gen/0007.wav` with `ref/0007.wav`); KL is over the pairs, FAD and IS over all
clips. Optional inputs add the alignment score (prompts + a `TriModalAligner`) and melody adherence (the
conditioning melody of each generated clip as `<stem>.mid` or a token string `<stem>.txt`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE, load_audio
from .audio_metrics import set_metrics
from .distributions import MetricInputError
from .embedders import AudioEmbedder, load_embedder

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
MELODY_EXTENSIONS = (".mid", ".midi", ".txt")


def list_audio(folder: str | os.PathLike) -> dict[str, Path]:
    """Audio files of a folder by stem, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"not a folder: {folder}")
    files = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in AUDIO_EXTENSIONS}
    if not files:
        raise MetricInputError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) in {folder}")
    return files


def read_prompts(path: str | os.PathLike, stems: list[str]) -> dict[str, str]:
    """Prompts by stem from a JSON object `{stem: prompt}`, JSON lines with `id` and `caption`/`prompt`/`text`,
    or a text file with one prompt per line in the sorted order of `stems`."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith(".json"):
        data = json.loads(text)
        if not isinstance(data, dict):
            raise MetricInputError(f"{path}: expected a JSON object {{stem: prompt}}")
        return {str(k): str(v) for k, v in data.items()}
    lines = [line for line in text.splitlines() if line.strip()]
    if str(path).endswith(".jsonl"):
        prompts = {}
        for line in lines:
            row = json.loads(line)
            key = next((k for k in ("caption", "prompt", "text") if k in row), None)
            if "id" not in row or key is None:
                raise MetricInputError(f"{path}: each JSON line needs `id` and one of caption/prompt/text")
            prompts[str(row["id"])] = str(row[key])
        return prompts
    if len(lines) != len(stems):
        raise MetricInputError(f"{path}: {len(lines)} prompt lines for {len(stems)} generated clips")
    return dict(zip(stems, lines))


def read_melody(folder: Path, stem: str):
    """The conditioning notes of one clip, or None when the folder has no melody for it."""
    from ..melody.notes import read_midi
    from ..melody.tokenizer import string_to_notes

    for ext in MELODY_EXTENSIONS:
        path = folder / f"{stem}{ext}"
        if path.is_file():
            return string_to_notes(path.read_text().strip()) if ext == ".txt" else read_midi(path)
    return None


def evaluate_generation(
    generated_dir: str | os.PathLike,
    reference_dir: str | os.PathLike,
    *,
    embedder: AudioEmbedder | None = None,
    prompts_path: str | os.PathLike | None = None,
    aligner=None,
    melody_dir: str | os.PathLike | None = None,
    note_f1: bool = True,
) -> dict:
    """Compute every metric the inputs allow.

    Returns:
        `dict` with `fad_<embedder>`, `kl_<embedder>` (when some stems pair), `is_<embedder>`, and when
        available `alignment_score`, `chroma_cosine`, `note_f1`, `note_precision`, `note_recall`, plus counts,
        `embedder` and `seconds_per_clip` (wall time of the whole evaluation over all clips).
    """
    start = time.perf_counter()
    embedder = embedder or load_embedder("musicnn")
    generated_files, reference_files = list_audio(generated_dir), list_audio(reference_dir)
    gen_waves = {stem: load_audio(p, sr=SAMPLE_RATE) for stem, p in generated_files.items()}
    ref_waves = {stem: load_audio(p, sr=SAMPLE_RATE) for stem, p in reference_files.items()}
    gen_features = dict(zip(gen_waves, embedder.features_batch(list(gen_waves.values()), SAMPLE_RATE)))
    ref_features = dict(zip(ref_waves, embedder.features_batch(list(ref_waves.values()), SAMPLE_RATE)))
    paired = [stem for stem in gen_features if stem in ref_features]

    results = set_metrics(list(gen_features.values()), list(ref_features.values()), embedder.name, paired=False)
    if paired:
        kl = set_metrics(
            [gen_features[s] for s in paired], [ref_features[s] for s in paired], embedder.name, paired=True
        )
        if f"kl_{embedder.name}" in kl:
            results[f"kl_{embedder.name}"] = kl[f"kl_{embedder.name}"]

    if prompts_path is not None and aligner is not None:
        from .alignment import alignment_score

        prompts = read_prompts(prompts_path, list(gen_waves))
        stems = [s for s in gen_waves if s in prompts]
        if not stems:
            raise MetricInputError(f"no prompt in {prompts_path} matches a generated file stem")
        scores = alignment_score(aligner, [gen_waves[s] for s in stems], [prompts[s] for s in stems])
        results["alignment_score"] = float(scores.mean())

    if melody_dir is not None:
        results.update(_melody_adherence(gen_waves, Path(melody_dir), note_f1))

    results.update(
        num_generated=len(gen_waves),
        num_reference=len(ref_waves),
        num_pairs=len(paired),
        embedder=embedder.name,
        seconds_per_clip=(time.perf_counter() - start) / (len(gen_waves) + len(ref_waves)),
    )
    return results


def _melody_adherence(gen_waves: dict[str, np.ndarray], melody_dir: Path, with_note_f1: bool) -> dict:
    from .melody import chroma_cosine, melody_note_f1

    chroma, f1, precision, recall = [], [], [], []
    for stem, wave in gen_waves.items():
        notes = read_melody(melody_dir, stem)
        if not notes:
            continue
        chroma.append(chroma_cosine(wave, notes, SAMPLE_RATE))
        if with_note_f1:
            scores = melody_note_f1(wave, notes, SAMPLE_RATE)
            f1.append(scores["f1"])
            precision.append(scores["precision"])
            recall.append(scores["recall"])
    if not chroma:
        raise MetricInputError(f"no melody file in {melody_dir} matches a generated file stem")
    out = {"chroma_cosine": float(np.mean(chroma)), "num_melodies": len(chroma)}
    if f1:
        out.update(note_f1=float(np.mean(f1)), note_precision=float(np.mean(precision)),
                   note_recall=float(np.mean(recall)))  # fmt: skip
    return out


def markdown_table(results: dict, model: str = "MMGen (ours)", dataset: str = "reference set") -> str:
    """A table laid out like the paper's Table 1 (FAD, KL, IS), extra metrics in further columns."""
    name = results.get("embedder", "musicnn")
    columns = [(f"fad_{name}", f"FAD-{name} ↓"), (f"kl_{name}", f"KL-{name} ↓"), (f"is_{name}", f"IS-{name} ↑")]
    extras = [("alignment_score", "Align ↑"), ("chroma_cosine", "Chroma cos ↑"), ("note_f1", "Note F1 ↑"),
              ("ac_chroma_cosine", "Chroma cos (audiocraft) ↑"), ("melody_accuracy", "Melody acc ↑")]  # fmt: skip
    columns += [c for c in extras if c[0] in results]
    header = "| Model | " + " | ".join(title for _, title in columns) + " |"
    rule = "|---|" + "---:|" * len(columns)
    cells = [f"{results[key]:.2f}" if isinstance(results.get(key), float) else "–" for key, _ in columns]
    row = f"| {model} | " + " | ".join(cells) + " |"
    caption = (
        f"Generation results on {dataset} ({results.get('num_generated', '?')} generated, "
        f"{results.get('num_reference', '?')} reference clips; {name} features"
        + (", not VGGish/PANNs, so not comparable with the paper's numbers)." if name.startswith("musicnn") else ").")
    )
    return "\n".join([header, rule, row, "", caption]) + "\n"
