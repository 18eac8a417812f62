"""Chroma cosine similarity as an `evaluate` metric: `evaluate.load("metrics/chroma_cosine")` (offline).

Melody adherence as MusicGen reports it: per-frame cosine between the argmax chroma of the generated audio and
the chroma of the conditioning melody (built from its notes), averaged over the frames where the melody sounds.
"""

import datasets
import evaluate
import numpy as np

from mmgen.eval.melody import chroma_cosine
from mmgen.melody.tokenizer import string_to_notes

_DESCRIPTION = "Chroma cosine similarity between generated audio and its conditioning melody."
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list[float]`): generated mono waveforms.
    references (`list[str]`): the conditioning melodies as token strings ("<G4>,<114>,<79>|...").
    sample_rate (`int`, *optional*, defaults to 22050): sample rate of the waveforms.
Returns:
    chroma_cosine (`float`): mean over clips, in [0, 1]; higher is better.
Examples:
    >>> chroma = evaluate.load("metrics/chroma_cosine")
    >>> chroma.compute(predictions=generated, references=melody_strings, sample_rate=22050)
"""
_CITATION = """@inproceedings{copet2023simple, title={Simple and Controllable Music Generation},
author={Copet, Jade and others}, booktitle={NeurIPS}, year={2023}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ChromaCosine(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, sample_rate=22050):
        scores = [
            chroma_cosine(np.asarray(wave, dtype=np.float32), string_to_notes(melody), sample_rate)
            for wave, melody in zip(predictions, references)
        ]
        return {"chroma_cosine": float(np.mean(scores))}
