"""XNLI accuracy (percent) as an ``evaluate`` module. Delegates to minilm_repro.metrics."""

import datasets
import evaluate

from minilm_repro.metrics.xnli import xnli_scores

_DESCRIPTION = "XNLI accuracy in percent."
_INPUTS = "predictions, references: class ids (0 entailment, 1 neutral, 2 contradiction)."
_CITATION = "Conneau et al. 2018, XNLI: Evaluating Cross-lingual Sentence Representations."


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class Xnli(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_INPUTS,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references):
        return xnli_scores(predictions, references)
