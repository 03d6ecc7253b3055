"""Extractive-QA windows and span decoding (SQuAD 1.1/2.0, MLQA) for HF fast tokenizers.

Inputs are rows in the hub layout (``id``, ``question``, ``context``, ``answers`` with
``text``/``answer_start`` lists; ``answers.text == []`` means unanswerable).  A context longer
than ``max_length`` is cut into overlapping windows ("features"); ``doc_stride`` is the number of
tokens two consecutive windows share.  The question always comes first and is never truncated,
so token index 0 is the classifier token ([CLS] for BERT, <s> for XLM-R) — the "no answer"
position.  Works for BERT WordPiece and XLM-R sentencepiece alike: only ``sequence_ids`` and
offsets are used, never ``token_type_ids``.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy.special import expit

CLS_INDEX = 0
_CONTEXT = 1  # sequence id of the context in (question, context) pairs


def _check_fast(tokenizer) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"{type(tokenizer).__name__} is not a fast (Rust) tokenizer: offsets and "
                        "overflowing windows need one; load it with use_fast=True")


def _check_columns(examples: dict, needed: tuple[str, ...]) -> None:
    missing = [c for c in needed if c not in examples]
    if missing:
        raise KeyError(f"QA rows lack columns {missing}; expected the SQuAD layout id/question/context/answers, "
                       f"got {sorted(examples)}")


def _windows(examples: dict, tokenizer, max_length: int, doc_stride: int):
    _check_fast(tokenizer)
    if doc_stride >= max_length:
        raise ValueError(f"doc_stride ({doc_stride}) must be smaller than max_length ({max_length})")
    # some SQuAD questions start with long runs of spaces that would eat the window
    questions = [q.lstrip() for q in examples["question"]]
    return tokenizer(
        questions, examples["context"], truncation="only_second", max_length=max_length, stride=doc_stride,
        return_overflowing_tokens=True, return_offsets_mapping=True, padding=False,
    )


def _context_bounds(sequence_ids: list) -> tuple[int, int]:
    """First and last token index of the context inside one window."""
    idx = [i for i, s in enumerate(sequence_ids) if s == _CONTEXT]
    if not idx:
        raise ValueError("a window holds no context token: max_length is too small for the question")
    return idx[0], idx[-1]


def _span_tokens(offsets: list, ctx_start: int, ctx_end: int, start_char: int, end_char: int) -> tuple[int, int]:
    """Token indices (start, end) covering chars [start_char, end_char), or (CLS, CLS) if not inside."""
    if offsets[ctx_start][0] > start_char or offsets[ctx_end][1] < end_char:
        return CLS_INDEX, CLS_INDEX
    s = ctx_start
    while s <= ctx_end and offsets[s][0] <= start_char:
        s += 1
    e = ctx_end
    while e >= ctx_start and offsets[e][1] >= end_char:
        e -= 1
    return s - 1, e + 1


def prepare_train_features(examples: dict[str, list], tokenizer, max_length: int, doc_stride: int) -> dict:
    """Batched ``datasets.map`` function: rows -> windows with start/end token labels.

    Returns the tokenizer's columns (input_ids, attention_mask, token_type_ids when the tokenizer
    has them; each a list of variable-length int lists, unpadded) plus ``start_positions`` and
    ``end_positions`` (ints, token indices; CLS_INDEX when the answer is not fully inside the
    window or the row is unanswerable). One output row per window.
    """
    _check_columns(examples, ("question", "context", "answers"))
    enc = _windows(examples, tokenizer, max_length, doc_stride)
    sample_map = enc.pop("overflow_to_sample_mapping")
    offsets_all = enc.pop("offset_mapping")
    starts, ends = [], []
    for i, offsets in enumerate(offsets_all):
        answers = examples["answers"][sample_map[i]]
        if len(answers["text"]) == 0:
            starts.append(CLS_INDEX)
            ends.append(CLS_INDEX)
            continue
        start_char = int(answers["answer_start"][0])
        end_char = start_char + len(answers["text"][0])
        ctx_start, ctx_end = _context_bounds(enc.sequence_ids(i))
        s, e = _span_tokens(offsets, ctx_start, ctx_end, start_char, end_char)
        starts.append(s)
        ends.append(e)
    enc["start_positions"] = starts
    enc["end_positions"] = ends
    return dict(enc)


def prepare_eval_features(examples: dict[str, list], tokenizer, max_length: int, doc_stride: int) -> dict:
    """Batched ``datasets.map`` function: rows -> windows for prediction.

    Returns the tokenizer's columns plus ``example_id`` (str, the row's ``id``) and
    ``offset_mapping`` (per token ``[char_start, char_end)`` into the context, ``None`` for
    question/special tokens). One output row per window.
    """
    _check_columns(examples, ("id", "question", "context"))
    enc = _windows(examples, tokenizer, max_length, doc_stride)
    sample_map = enc.pop("overflow_to_sample_mapping")
    enc["example_id"] = [examples["id"][j] for j in sample_map]
    enc["offset_mapping"] = [
        [tuple(o) if s == _CONTEXT else None for o, s in zip(offsets, enc.sequence_ids(i))]
        for i, offsets in enumerate(enc["offset_mapping"])
    ]
    return dict(enc)


def _best_span(start: np.ndarray, end: np.ndarray, offsets: list, n_best_size: int, max_answer_length: int):
    """Best (score, char_start, char_end) in one window, or None; start/end: (seq_len,) logits."""
    n = min(len(offsets), len(start))
    ctx = np.array([i for i in range(n) if offsets[i] is not None], dtype=np.int64)
    if ctx.size == 0:
        return None
    # candidates restricted to context tokens first (the reference BERT code takes the top-n over
    # all tokens and then discards question tokens, which can leave no candidate at all)
    top_s = ctx[np.argsort(-start[ctx], kind="stable")[:n_best_size]]
    top_e = ctx[np.argsort(-end[ctx], kind="stable")[:n_best_size]]
    length = top_e[None, :] - top_s[:, None] + 1  # (n_start, n_end) span lengths in tokens
    scores = np.where((length >= 1) & (length <= max_answer_length),
                      start[top_s][:, None] + end[top_e][None, :], -np.inf)
    i, j = np.unravel_index(np.argmax(scores), scores.shape)
    if not np.isfinite(scores[i, j]):
        return None
    s, e = top_s[i], top_e[j]
    return float(scores[i, j]), offsets[s][0], offsets[e][1]


def postprocess_qa_predictions(examples, features, start_logits: np.ndarray, end_logits: np.ndarray,
                               n_best_size: int = 20, max_answer_length: int = 30,
                               version_2_with_negative: bool = False, return_spans: bool = False) -> tuple:
    """Turn window logits into one answer string per example.

    start_logits/end_logits: (num_features, seq_len) floats, row i belongs to ``features[i]``;
    positions past a window's own length (padding) are ignored.  A span's score is
    start_logit + end_logit; the best span over all windows of an example wins.  With
    ``version_2_with_negative`` the null score is the minimum over windows of
    start[CLS] + end[CLS]; the answer is "" when null score - best span score > 0.0.

    Returns (predictions: id -> text, na_probs: id -> sigmoid(null score - best span score),
    a monotone no-answer score in (0, 1) for the official threshold search; 1.0 when no span is
    possible). For SQuAD 1.1/MLQA (not v2) the answer is never "". With ``return_spans`` a third dict:
    id -> the best span's text whatever the null score ("" only when no span is possible), what the
    official best-threshold search (``best_f1``) applies its thresholds to.
    """
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    if start_logits.ndim != 2 or start_logits.shape != end_logits.shape or start_logits.shape[0] != len(features):
        raise ValueError(f"start/end logits must both be (num_features={len(features)}, seq_len); got "
                         f"{start_logits.shape} and {end_logits.shape}")
    for col in ("example_id", "offset_mapping"):
        if col not in features.column_names:
            raise KeyError(f"features lack column {col!r}: build them with prepare_eval_features")
    by_example = defaultdict(list)
    for i, ex_id in enumerate(features["example_id"]):
        by_example[ex_id].append(i)
    offsets_all = features["offset_mapping"]
    predictions, na_probs, spans = {}, {}, {}
    for ex_id, context in zip(examples["id"], examples["context"]):
        feats = by_example.get(ex_id)
        if not feats:
            raise ValueError(f"example {ex_id!r} has no features: were features built from these examples?")
        best, null = None, None
        for i in feats:
            cand = _best_span(start_logits[i], end_logits[i], offsets_all[i], n_best_size, max_answer_length)
            if cand is not None and (best is None or cand[0] > best[0]):
                best = cand
            cls_score = float(start_logits[i][CLS_INDEX] + end_logits[i][CLS_INDEX])
            null = cls_score if null is None else min(null, cls_score)
        if best is None:
            if not version_2_with_negative:
                raise ValueError(f"example {ex_id!r}: no context token in any window, cannot predict a span")
            predictions[ex_id], na_probs[ex_id], spans[ex_id] = "", 1.0, ""
            continue
        diff = null - best[0]
        text = context[best[1]:best[2]]
        predictions[ex_id] = "" if version_2_with_negative and diff > 0.0 else text
        na_probs[ex_id] = float(expit(diff))
        spans[ex_id] = text
    return (predictions, na_probs, spans) if return_spans else (predictions, na_probs)
