"""Official SQuAD 2.0 metrics (percent) as an ``evaluate`` module. Delegates to minilm_repro.metrics."""

import datasets
import evaluate

from minilm_repro.metrics.squad_v2 import squad_v2_scores

_DESCRIPTION = "SQuAD 2.0 exact/F1 with HasAns/NoAns breakdown and best thresholds, as evaluate-v2.0.py."
_INPUTS = ("predictions: {id, prediction_text, no_answer_probability}; references: {id, answers: {text, "
           "answer_start}} (empty answers = unanswerable); na_prob_thresh (default 1.0).")
_CITATION = "Rajpurkar et al. 2018, Know What You Don't Know: Unanswerable Questions for SQuAD."


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class SquadV2(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_INPUTS,
            features=datasets.Features({
                "predictions": {"id": datasets.Value("string"), "prediction_text": datasets.Value("string"),
                                "no_answer_probability": datasets.Value("float64")},
                "references": {"id": datasets.Value("string"), "answers": datasets.Sequence(
                    {"text": datasets.Value("string"), "answer_start": datasets.Value("int32")})},
            }),
        )

    def _compute(self, predictions, references, na_prob_thresh=1.0):
        preds = {p["id"]: p["prediction_text"] for p in predictions}
        na_probs = {p["id"]: p["no_answer_probability"] for p in predictions}
        return squad_v2_scores(references, preds, na_probs, na_prob_thresh)
