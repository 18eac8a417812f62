"""IS-musicnn as an `evaluate` metric: `evaluate.load("metrics/is_musicnn")` (offline, from this folder).

Inception Score `exp(E_x KL(p(tag|x) || p(tag)))` over the musicnn (MTT) tag distributions of generated clips.
"""

import datasets
import evaluate

from mmgen.eval.audio_metrics import is_musicnn

_DESCRIPTION = "Inception Score over musicnn (MagnaTagATune) tag distributions of generated clips."
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list[float]`): generated mono waveforms.
    sample_rate (`int`, *optional*, defaults to 22050): sample rate of all waveforms.
Returns:
    is_musicnn (`float`): from 1 (all clips tagged alike) up to 50; higher is better.
Examples:
    >>> inception = evaluate.load("metrics/is_musicnn")
    >>> inception.compute(predictions=generated, sample_rate=22050)
"""
_CITATION = """@inproceedings{salimans2016improved, title={Improved techniques for training GANs},
author={Salimans, Tim and others}, booktitle={NeurIPS}, year={2016}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class IsMusicnn(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float32"))}),
        )

    def _compute(self, predictions, sample_rate=22050):
        return {"is_musicnn": is_musicnn(predictions, sr=sample_rate)}
