"""Official-exact evaluation metrics, offline (percent, 0-100).

``classification_scores`` (GLUE tasks, XNLI), ``squad_v2_scores`` / ``squad_v1_scores`` /
``mlqa_scores`` (extractive QA, rows in the hub layout), loaders of the official JSON files,
and ``load_metric``: the same metrics as local ``evaluate`` modules (``hf/<name>/<name>.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from minilm_repro.data.features import GLUE_TASKS
from minilm_repro.metrics.glue import glue_scores
from minilm_repro.metrics.mlqa import mlqa_scores
from minilm_repro.metrics.qa_data import (
    load_official,
    load_predictions,
    rows_from_official,
)
from minilm_repro.metrics.squad_v1 import squad_v1_scores
from minilm_repro.metrics.squad_v2 import squad_v2_scores
from minilm_repro.metrics.xnli import xnli_scores

HF_DIR = Path(__file__).resolve().parent / "hf"
HF_METRICS = ("glue", "squad_v2", "mlqa", "xnli")

__all__ = [
    "classification_scores", "squad_v2_scores", "squad_v1_scores", "mlqa_scores", "glue_scores", "xnli_scores",
    "load_official", "load_predictions", "rows_from_official", "load_metric", "HF_DIR", "HF_METRICS",
]


def classification_scores(task: str, predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
    """The task's official metrics in percent; ``task`` in GLUE_TASKS or "xnli" (stsb: float predictions)."""
    if task == "xnli":
        return xnli_scores(predictions, references)
    if task in GLUE_TASKS:
        return glue_scores(task, predictions, references)
    raise ValueError(f"no classification metric for task {task!r}; expected one of {', '.join(GLUE_TASKS)}, xnli")


def load_metric(name: str, config_name: str | None = None, **kwargs):
    """``evaluate.load`` of the module shipped in ``hf/<name>`` (works with HF_EVALUATE_OFFLINE=1).

    config_name: the GLUE task for "glue", the answer language for "mlqa"; unused otherwise.
    """
    import evaluate

    if name not in HF_METRICS:
        raise ValueError(f"no local evaluate module {name!r}; available: {', '.join(HF_METRICS)}")
    return evaluate.load(str(HF_DIR / name), config_name, **kwargs)
