"""Official MLQA exact match / F1 (percent) as an ``evaluate`` module. Delegates to minilm_repro.metrics.

The answer language comes from config_name (``load_metric("mlqa", "de")``) or ``compute(..., lang="de")``.
"""

import datasets
import evaluate

from minilm_repro.metrics.mlqa import LANGUAGES, check_language, mlqa_scores

_DESCRIPTION = "MLQA exact match and F1 with the language-aware normalisation of mlqa_evaluation_v1.py."
_INPUTS = "predictions: {id, prediction_text}; references: {id, answers: {text, answer_start}}; lang: answer language."
_CITATION = "Lewis et al. 2020, MLQA: Evaluating Cross-lingual Extractive Question Answering."


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class Mlqa(evaluate.Metric):
    def _info(self):
        if self.config_name != "default":
            check_language(self.config_name)
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_INPUTS,
            features=datasets.Features({
                "predictions": {"id": datasets.Value("string"), "prediction_text": datasets.Value("string")},
                "references": {"id": datasets.Value("string"), "answers": datasets.Sequence(
                    {"text": datasets.Value("string"), "answer_start": datasets.Value("int32")})},
            }),
        )

    def _compute(self, predictions, references, lang=None):
        config_lang = None if self.config_name == "default" else self.config_name
        if lang is None and config_lang is None:
            raise ValueError(f"mlqa needs the answer language: load it with config_name in {LANGUAGES} "
                             "or pass lang= to compute()")
        if lang is not None and config_lang is not None and lang != config_lang:
            raise ValueError(f"mlqa loaded for language {config_lang!r} but compute() got lang={lang!r}")
        return mlqa_scores(references, {p["id"]: p["prediction_text"] for p in predictions}, lang or config_lang)
