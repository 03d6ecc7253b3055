"""GLUE metrics as an ``evaluate`` module; config_name = the GLUE task. Delegates to minilm_repro.metrics."""

import datasets
import evaluate

from minilm_repro.data.features import GLUE_TASKS
from minilm_repro.metrics.glue import glue_scores

_DESCRIPTION = "GLUE dev metrics in percent: cola MCC, mrpc/qqp accuracy+F1 (label 1), stsb Pearson/Spearman, else accuracy."
_INPUTS = "predictions, references: class ids (int) per example; for stsb float scores on the 0-5 scale."
_CITATION = "Wang et al. 2019, GLUE: A Multi-Task Benchmark and Analysis Platform for Natural Language Understanding."


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class Glue(evaluate.Metric):
    def _info(self):
        if self.config_name not in GLUE_TASKS:
            raise KeyError(f"glue config_name must be a GLUE task ({', '.join(GLUE_TASKS)}), got {self.config_name!r}")
        kind = "float64" if self.config_name == "stsb" else "int64"
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_INPUTS,
            features=datasets.Features({"predictions": datasets.Value(kind), "references": datasets.Value(kind)}),
        )

    def _compute(self, predictions, references):
        return glue_scores(self.config_name, predictions, references)
