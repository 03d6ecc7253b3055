"""GLUE / XNLI classification metrics on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minilm_repro.metrics import classification_scores


def test_cola_matthews():
    preds, refs = [1, 1, 0, 0, 1], [1, 0, 0, 0, 1]
    # TP = 2 (#0, #4), FP = 1 (#1), TN = 2, FN = 0
    # MCC = (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = 4 / sqrt(3*2*3*2) = 4/6
    assert classification_scores("cola", np.array(preds), np.array(refs)) == {
        "matthews_correlation": pytest.approx(100 * 4 / 6)}


@pytest.mark.parametrize("task", ["mrpc", "qqp"])
def test_f1_on_positive_class(task):
    preds, refs = [1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 1]
    # TP = 2 (#0, #4), FP = 1 (#1), FN = 2 (#3, #5), TN = 1 (#2)
    # accuracy 3/6; F1(label 1) = 2TP / (2TP + FP + FN) = 4/7  (label 0 would give 2/5, macro 0.486)
    out = classification_scores(task, np.array(preds), np.array(refs))
    assert out == {"accuracy": 50.0, "f1": pytest.approx(100 * 4 / 7)}


def test_stsb_on_0_5_scale():
    preds, refs = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 2.0, 2.5, 5.0])
    # deviations from the means 2.5 and 2.375: dp = [-1.5, -.5, .5, 1.5], dr = [-2.375, -.375, .125, 2.625]
    # sum dp*dr = 3.5625 + .1875 + .0625 + 3.9375 = 7.75; sum dp^2 = 5; sum dr^2 = 12.6875
    pearson = 7.75 / math.sqrt(5 * 12.6875)
    out = classification_scores("stsb", preds, refs)
    # same ranking on both sides -> Spearman 1
    assert out == {"pearson": pytest.approx(100 * pearson), "spearmanr": pytest.approx(100.0)}
    with pytest.raises(ValueError, match="0-5 gold scale"):
        classification_scores("stsb", preds, refs * 2)


def test_accuracy_tasks_and_xnli():
    # 3 of 4 right
    for task in ("sst2", "qnli", "rte"):
        assert classification_scores(task, np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])) == {"accuracy": 75.0}
    # 2 of 3 right, three classes
    assert classification_scores("mnli", np.array([2, 1, 0]), np.array([2, 1, 1])) == {
        "accuracy": pytest.approx(100 * 2 / 3)}
    assert classification_scores("xnli", np.array([2, 1, 0, 0]), np.array([2, 1, 1, 0])) == {"accuracy": 75.0}


def test_bad_inputs():
    with pytest.raises(ValueError, match="1-D"):
        classification_scores("sst2", np.zeros((4, 2)), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="hidden labels"):
        classification_scores("rte", np.array([0, 1]), np.array([-1, -1]))
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\)"):
        classification_scores("xnli", np.array([0, 3]), np.array([0, 1]))
    with pytest.raises(ValueError, match="no classification metric"):
        classification_scores("squad", np.array([0]), np.array([0]))
