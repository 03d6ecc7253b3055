"""SQuAD 1.1 exact match / F1 as the official ``evaluate-v1.1.py`` defines them (percent).

Same normalisation as SQuAD 2.0, but no no-answer rule: an empty prediction or gold has F1 0
(never 1) and a question without gold answers cannot be scored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from minilm_repro.metrics.qa_data import check_predictions, gold_table
from minilm_repro.metrics.squad_v2 import normalize_answer


def token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    """Bag-of-tokens F1 (0-1) as the v1.1 and MLQA scripts compute it (0 when nothing overlaps)."""
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(pred: str, gold: str) -> bool:
    return normalize_answer(pred) == normalize_answer(gold)


def f1_score(pred: str, gold: str) -> float:
    return token_f1(normalize_answer(pred).split(), normalize_answer(gold).split())


def evaluate_with(gold: dict[str, list[str]], preds: dict[str, str], exact_fn: Callable, f1_fn: Callable) -> dict:
    """Mean over questions of the max over gold answers, in percent: {"exact_match", "f1"}."""
    check_predictions(gold, preds)
    no_gold = [k for k, v in gold.items() if not v]
    if no_gold:
        raise ValueError(f"{len(no_gold)} questions have no gold answer (e.g. {no_gold[:3]}): unanswerable "
                         "questions are SQuAD 2.0 data, score them with squad_v2_scores")
    em = f1 = 0.0
    for qid, answers in gold.items():
        em += max(exact_fn(preds[qid], a) for a in answers)
        f1 += max(f1_fn(preds[qid], a) for a in answers)
    return {"exact_match": 100.0 * em / len(gold), "f1": 100.0 * f1 / len(gold)}


def squad_v1_scores(examples: Iterable[dict], preds: dict[str, str]) -> dict:
    """Official SQuAD 1.1 {"exact_match", "f1"} (percent) for hub-layout rows."""
    return evaluate_with(gold_table(examples), preds, exact_match_score, f1_score)
