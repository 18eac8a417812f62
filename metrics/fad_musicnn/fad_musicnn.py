"""FAD-musicnn as an `evaluate` metric: `evaluate.load("metrics/fad_musicnn")` (offline, from this folder).

Fréchet distance between the musicnn (MTT) embedding statistics of two sets of clips. musicnn, not VGGish:
do not compare these numbers with published VGGish FADs.
"""

import datasets
import evaluate

from mmgen.eval.audio_metrics import fad_musicnn

_DESCRIPTION = "Fréchet Audio Distance with musicnn (MagnaTagATune) penultimate-layer embeddings of 3 s windows."
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list[float]`): generated mono waveforms.
    references (`list` of `list[float]`): reference mono waveforms (any number, not necessarily paired).
    sample_rate (`int`, *optional*, defaults to 22050): sample rate of all waveforms.
Returns:
    fad_musicnn (`float`): 0 for identical sets; lower is better.
Examples:
    >>> fad = evaluate.load("metrics/fad_musicnn")
    >>> fad.compute(predictions=generated, references=reference, sample_rate=22050)
"""
_CITATION = """@inproceedings{kilgour2019frechet, title={Fr\\'echet Audio Distance: A Reference-Free Metric for
Evaluating Music Enhancement Algorithms}, author={Kilgour, Kevin and others}, booktitle={Interspeech}, year={2019}}
@inproceedings{pons2019musicnn, title={musicnn: Pre-trained convolutional neural networks for music audio
tagging}, author={Pons, Jordi and Serra, Xavier}, booktitle={ISMIR LBD}, year={2019}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class FadMusicnn(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Sequence(datasets.Value("float32")),
                }
            ),
        )

    def _compute(self, predictions, references, sample_rate=22050):
        return {"fad_musicnn": fad_musicnn(predictions, references, sr=sample_rate)}
