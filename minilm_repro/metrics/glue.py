"""GLUE dev-set metrics (percent), as the GLUE leaderboard and HF's ``glue`` metric define them.

cola: Matthews correlation; mrpc/qqp: accuracy and F1 of the positive class (label 1:
equivalent / duplicate); stsb: Pearson and Spearman correlation of float predictions with the
0-5 gold similarity; sst2/mnli/qnli/rte: accuracy.
"""

from __future__ import annotations

import numpy as np

from minilm_repro.data.features import GLUE_TASKS, num_labels

STSB_RANGE = (0.0, 5.0)


def check_labels(task: str, predictions, references) -> tuple[np.ndarray, np.ndarray]:
    """1-D arrays of equal length; class ids in [0, num_labels) for classification tasks."""
    preds, refs = np.asarray(predictions), np.asarray(references)
    if preds.ndim != 1 or preds.shape != refs.shape or preds.size == 0:
        raise ValueError(f"{task}: predictions and references must be non-empty 1-D arrays of one length; "
                         f"got shapes {preds.shape} and {refs.shape} (take argmax over logits first)")
    if task == "stsb":
        lo, hi = STSB_RANGE
        if refs.min() < lo or refs.max() > hi:
            raise ValueError(f"stsb references span [{refs.min()}, {refs.max()}], outside the 0-5 gold scale "
                             "(rescaled labels? hidden test labels?)")
        return preds.astype(np.float64), refs.astype(np.float64)
    k = num_labels(task)
    for name, arr in (("predictions", preds), ("references", refs)):
        if not np.issubdtype(arr.dtype, np.integer) and not np.all(np.mod(arr, 1) == 0):
            raise ValueError(f"{task}: {name} must be class ids (integers), got dtype {arr.dtype}")
        if arr.min() < 0 or arr.max() >= k:
            raise ValueError(f"{task}: {name} must be class ids in [0, {k}); got values in [{arr.min()}, {arr.max()}] "
                             "(-1 marks the hidden labels of a GLUE/XNLI test split)")
    return preds.astype(np.int64), refs.astype(np.int64)


def glue_scores(task: str, predictions, references) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    if task not in GLUE_TASKS:
        raise ValueError(f"unknown GLUE task {task!r}; expected one of {', '.join(GLUE_TASKS)}")
    preds, refs = check_labels(task, predictions, references)
    if task == "cola":
        return {"matthews_correlation": 100.0 * float(matthews_corrcoef(refs, preds))}
    if task == "stsb":
        return {"pearson": 100.0 * float(pearsonr(preds, refs)[0]),
                "spearmanr": 100.0 * float(spearmanr(preds, refs)[0])}
    out = {"accuracy": 100.0 * float(accuracy_score(refs, preds))}
    if task in ("mrpc", "qqp"):
        out["f1"] = 100.0 * float(f1_score(refs, preds, pos_label=1, average="binary", zero_division=0.0))
    return out
