"""XNLI: accuracy (percent) over the three NLI classes (entailment, neutral, contradiction)."""

from __future__ import annotations

from minilm_repro.metrics.glue import check_labels


def xnli_scores(predictions, references) -> dict[str, float]:
    preds, refs = check_labels("xnli", predictions, references)
    return {"accuracy": 100.0 * float((preds == refs).mean())}
