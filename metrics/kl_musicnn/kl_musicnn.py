"""KL-musicnn as an `evaluate` metric: `evaluate.load("metrics/kl_musicnn")` (offline, from this folder).

Mean over paired clips of KL(reference || generated) between the clips' musicnn (MTT) tag distributions (the
50 sigmoid outputs averaged over 3 s windows, normalised to sum to 1).
"""

import datasets
import evaluate

from mmgen.eval.audio_metrics import kl_musicnn

_DESCRIPTION = "KL divergence between musicnn tag distributions of paired generated and reference clips."
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list[float]`): generated mono waveforms.
    references (`list` of `list[float]`): reference mono waveforms, `references[i]` paired with `predictions[i]`.
    sample_rate (`int`, *optional*, defaults to 22050): sample rate of all waveforms.
Returns:
    kl_musicnn (`float`): 0 when every pair has the same tag distribution; lower is better.
Examples:
    >>> kl = evaluate.load("metrics/kl_musicnn")
    >>> kl.compute(predictions=generated, references=reference, sample_rate=22050)
"""
_CITATION = """@inproceedings{pons2019musicnn, title={musicnn: Pre-trained convolutional neural networks for music
audio tagging}, author={Pons, Jordi and Serra, Xavier}, booktitle={ISMIR LBD}, year={2019}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class KlMusicnn(evaluate.Metric):
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
        return {"kl_musicnn": kl_musicnn(predictions, references, sr=sample_rate)}
