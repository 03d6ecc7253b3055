"""SQuAD 2.0 exact match / F1 with no-answer handling, as the official ``evaluate-v2.0.py`` defines them.

Re-implemented from the published definition, keeping its details that change numbers:
gold answers that normalise to "" are dropped and an unanswerable question's gold is [""];
F1 is 1 when both sides have no tokens; the HasAns/NoAns split uses the raw answer list;
a question counts as "no answer" when its na_prob exceeds ``na_prob_thresh`` (strictly);
``best_*`` walk the questions in ascending na_prob (stable sort, so ties keep the order of the
na_probs mapping) and a threshold is taken only on strict improvement.  Values are percent.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable

from minilm_repro.metrics.qa_data import check_predictions, gold_table

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower case, drop ASCII punctuation, English articles and extra whitespace."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def _tokens(s: str) -> list[str]:
    return normalize_answer(s).split() if s else []


def compute_exact(gold: str, pred: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(pred))


def compute_f1(gold: str, pred: str) -> float:
    gold_toks, pred_toks = _tokens(gold), _tokens(pred)
    if not gold_toks or not pred_toks:
        return float(gold_toks == pred_toks)
    same = sum((Counter(gold_toks) & Counter(pred_toks)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_toks), same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def raw_scores(gold: dict[str, list[str]], preds: dict[str, str]) -> tuple[dict, dict]:
    """Per-question exact (0/1) and F1 (0-1), max over the gold answers, in gold order."""
    exact, f1 = {}, {}
    for qid, answers in gold.items():
        answers = [a for a in answers if normalize_answer(a)] or [""]
        exact[qid] = max(compute_exact(a, preds[qid]) for a in answers)
        f1[qid] = max(compute_f1(a, preds[qid]) for a in answers)
    return exact, f1


def apply_no_ans_threshold(scores: dict, na_probs: dict, has_ans: dict, thresh: float) -> dict:
    return {qid: float(not has_ans[qid]) if na_probs[qid] > thresh else s for qid, s in scores.items()}


def _eval_dict(exact: dict, f1: dict, qids: list | None = None) -> dict:
    if not qids:
        total = len(exact)
        return {"exact": 100.0 * sum(exact.values()) / total, "f1": 100.0 * sum(f1.values()) / total, "total": total}
    total = len(qids)
    return {"exact": 100.0 * sum(exact[k] for k in qids) / total,
            "f1": 100.0 * sum(f1[k] for k in qids) / total, "total": total}


def find_best_thresh(preds: dict, scores: dict, na_probs: dict, has_ans: dict) -> tuple[float, float]:
    """(best score in percent, na_prob threshold reaching it) over thresholds at each question."""
    cur = best = sum(1 for v in has_ans.values() if not v)
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if has_ans[qid]:
            cur += scores[qid]
        elif preds[qid]:
            cur -= 1
        if cur > best:
            best, best_thresh = cur, na_probs[qid]
    return 100.0 * best / len(scores), best_thresh


def evaluate(gold: dict[str, list[str]], preds: dict[str, str], na_probs: dict[str, float] | None = None,
             na_prob_thresh: float = 1.0) -> dict:
    """The official script's output dict for gold (id -> answer texts) and preds (id -> text)."""
    check_predictions(gold, preds)
    given = na_probs is not None
    if not given:
        na_probs = {k: 0.0 for k in preds}
    missing = [k for k in gold if k not in na_probs]
    if missing:
        raise ValueError(f"na_probs lack {len(missing)} question ids, e.g. {missing[:3]}")
    has_ans = {k: bool(v) for k, v in gold.items()}
    exact_raw, f1_raw = raw_scores(gold, preds)
    exact = apply_no_ans_threshold(exact_raw, na_probs, has_ans, na_prob_thresh)
    f1 = apply_no_ans_threshold(f1_raw, na_probs, has_ans, na_prob_thresh)
    out = _eval_dict(exact, f1)
    for prefix, want in (("HasAns", True), ("NoAns", False)):
        qids = [k for k, v in has_ans.items() if v is want]
        if qids:
            out.update({f"{prefix}_{k}": v for k, v in _eval_dict(exact, f1, qids).items()})
    if given:
        out["best_exact"], out["best_exact_thresh"] = find_best_thresh(preds, exact_raw, na_probs, has_ans)
        out["best_f1"], out["best_f1_thresh"] = find_best_thresh(preds, f1_raw, na_probs, has_ans)
    return out


def squad_v2_scores(examples: Iterable[dict], preds: dict[str, str], na_probs: dict[str, float] | None = None,
                    na_prob_thresh: float = 1.0) -> dict:
    """Official SQuAD 2.0 metrics (percent) for hub-layout rows (id, answers{text, answer_start})."""
    return evaluate(gold_table(examples), preds, na_probs, na_prob_thresh)
