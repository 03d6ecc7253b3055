"""SQuAD 2.0 / 1.1 metrics on hand-computed cases."""

from __future__ import annotations

import pytest

from minilm_repro.metrics import squad_v1_scores, squad_v2_scores
from minilm_repro.metrics.squad_v2 import compute_exact, compute_f1, normalize_answer


def _row(qid, answers):
    return {"id": qid, "answers": {"text": list(answers), "answer_start": [0] * len(answers)}}


def test_normalize_answer():
    assert normalize_answer("The  Quick, brown-fox!") == "quick brownfox"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("theatre") == "theatre"  # articles only as whole words
    assert normalize_answer("«Paris»") == "«paris»"  # only ASCII punctuation in SQuAD


def test_exact_and_f1_per_question():
    # gold tokens [cat, sat, on, mat] (4), pred [cat, on, mat] (3), 3 shared:
    # P = 3/3, R = 3/4, F1 = 2 * 1 * 0.75 / 1.75 = 6/7
    assert compute_f1("the cat sat on the mat", "a cat on a mat") == pytest.approx(6 / 7)
    assert compute_exact("The Cat.", "cat") == 1
    # no-answer rule: F1 is 1 when both sides are empty, else 0
    assert compute_f1("", "") == 1.0
    assert compute_f1("", "cat") == 0.0 and compute_f1("cat", "") == 0.0
    # tokens count with multiplicity: gold [cat, cat], pred [cat]: P = 1, R = 1/2 -> F1 2/3
    assert compute_f1("cat cat", "cat") == pytest.approx(2 / 3)


# q1 has-ans "Paris"/"Paris" exact 1 f1 1        na 0.1
# q2 has-ans "red apple"/"apple": exact 0, P=1 R=1/2 -> f1 2/3   na 0.3
# q3 no-ans, pred "London": 0, 0                  na 0.3 (tie with q2)
# q4 no-ans, pred "": 1, 1                        na 0.8
# q5 has-ans "blue"/"green": 0, 0                 na 0.9
EXAMPLES = [_row("q1", ["Paris"]), _row("q2", ["red apple"]), _row("q3", []), _row("q4", []), _row("q5", ["blue"])]
PREDS = {"q1": "Paris", "q2": "apple", "q3": "London", "q4": "", "q5": "green"}
NA = {"q1": 0.1, "q2": 0.3, "q3": 0.3, "q4": 0.8, "q5": 0.9}


def test_v2_breakdown_without_na_probs():
    out = squad_v2_scores(EXAMPLES, PREDS)
    assert list(out) == ["exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total",
                         "NoAns_exact", "NoAns_f1", "NoAns_total"]
    assert out["exact"] == pytest.approx(100 * (1 + 0 + 0 + 1 + 0) / 5)  # 40
    assert out["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0 + 1 + 0) / 5)  # 53.33
    assert out["HasAns_exact"] == pytest.approx(100 * 1 / 3)
    assert out["HasAns_f1"] == pytest.approx(100 * (1 + 2 / 3 + 0) / 3)  # 55.56
    assert (out["NoAns_exact"], out["NoAns_f1"]) == (50.0, 50.0)
    assert (out["total"], out["HasAns_total"], out["NoAns_total"]) == (5, 3, 2)


def test_v2_best_thresholds_and_tie_order():
    out = squad_v2_scores(EXAMPLES, PREDS, NA)
    assert list(out)[-4:] == ["best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"]
    # walk in na order starting at #NoAns = 2:
    # exact: q1 +1 -> 3 (best, thr 0.1); q2 +0; q3 -1 (non-empty on no-ans); q4 0; q5 0 -> 3/5
    assert (out["best_exact"], out["best_exact_thresh"]) == (pytest.approx(60.0), 0.1)
    # f1: q1 +1 -> 3 (0.1); q2 +2/3 -> 11/3 (best, 0.3); q3 -1; q4 0; q5 0 -> (11/3)/5
    assert out["best_f1"] == pytest.approx(100 * 11 / 3 / 5)
    assert out["best_f1_thresh"] == 0.3
    # same probabilities, q3 before q2 in the mapping: the stable sort walks q3 (-1) first,
    # so q2's +2/3 never beats 3 and the best stays at q1
    swapped = {k: NA[k] for k in ("q1", "q3", "q2", "q4", "q5")}
    out = squad_v2_scores(EXAMPLES, PREDS, swapped)
    assert (out["best_f1"], out["best_f1_thresh"]) == (pytest.approx(60.0), 0.1)


def test_v2_na_prob_threshold():
    # thresh 0.2: q2..q5 (na > 0.2) count as "no answer": q2 0, q3 1, q4 1, q5 0; q1 keeps 1
    out = squad_v2_scores(EXAMPLES, PREDS, NA, na_prob_thresh=0.2)
    assert (out["exact"], out["f1"]) == (pytest.approx(60.0), pytest.approx(60.0))
    assert out["HasAns_f1"] == pytest.approx(100 / 3) and out["NoAns_exact"] == 100.0
    # best_* use the raw scores: unchanged by the threshold
    assert out["best_f1"] == pytest.approx(100 * 11 / 3 / 5)
    # strictly greater: na 0.3 at thresh 0.3 is still "answered"
    assert squad_v2_scores(EXAMPLES, PREDS, NA, na_prob_thresh=0.3)["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1) / 5)


def test_v2_gold_that_normalises_to_nothing():
    # raw answers ["The"] make it HasAns, but the gold set becomes [""]: an empty prediction scores 1
    out = squad_v2_scores([_row("q", ["The"])], {"q": ""})
    assert (out["HasAns_total"], out["exact"], out["f1"]) == (1, 100.0, 100.0)


def test_v2_rejects_missing_ids():
    with pytest.raises(ValueError, match="lack 1 of 5"):
        squad_v2_scores(EXAMPLES, {k: v for k, v in PREDS.items() if k != "q4"})
    with pytest.raises(ValueError, match="na_probs lack"):
        squad_v2_scores(EXAMPLES, PREDS, {"q1": 0.5})


def test_v1_exact_and_f1():
    rows = [_row("a", ["cat", "a black cat"]), _row("b", ["a black cat", "cat"]), _row("c", ["x"])]
    preds = {"a": "the cat", "b": "black dog", "c": ""}
    # a: "cat" == "cat" -> EM 1, F1 1
    # b: vs "black cat": 1 shared, P = 1/2, R = 1/2 -> 0.5; vs "cat": 0 -> EM 0, F1 0.5
    # c: empty prediction: EM 0, F1 0 (v1.1 has no no-answer rule)
    out = squad_v1_scores(rows, preds)
    assert out == {"exact_match": pytest.approx(100 / 3), "f1": pytest.approx(100 * 1.5 / 3)}


def test_v1_rejects_unanswerable_rows():
    with pytest.raises(ValueError, match="squad_v2_scores"):
        squad_v1_scores([_row("a", [])], {"a": ""})
