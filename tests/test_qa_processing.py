"""QA windows and span decoding on tiny tokenizers trained here (BERT WordPiece and XLM-R sentencepiece)."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset
from scipy.special import expit

from minilm_repro.data.tokenizer import (
    TokenizerConfig,
    train_sentencepiece,
    train_wordpiece,
)
from minilm_repro.finetune.qa_processing import (
    CLS_INDEX,
    postprocess_qa_predictions,
    prepare_eval_features,
    prepare_train_features,
)

SENTS = [
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in France.",
    "They were descended from Norse raiders and pirates from Denmark, Iceland and Norway.",
    "The Rhine is a European river that begins in the Swiss canton of Graubunden and flows north.",
    "Who gave their name to Normandy? In what country is Normandy located? When were the Normans in Normandy?",
]
CONTEXT = " ".join(SENTS[:3])
QUESTION = "In what country is Normandy located?"
MAX_LEN, STRIDE = 32, 8


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("qa") / "corpus.txt"
    path.write_text("\n".join(SENTS * 5) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def bert_tok(corpus):
    return train_wordpiece([corpus], TokenizerConfig(kind="wordpiece", vocab_size=300, min_frequency=1))


@pytest.fixture(scope="module")
def xlmr_tok(corpus):
    return train_sentencepiece([corpus], TokenizerConfig(kind="sentencepiece", vocab_size=200, min_frequency=1))


def _rows(answer: str | None, start: int | None = None, id_: str = "q1", context: str = CONTEXT) -> dict:
    if answer is None:
        answers = {"text": [], "answer_start": []}
    else:
        answers = {"text": [answer], "answer_start": [context.index(answer) if start is None else start]}
    return {"id": [id_], "question": [QUESTION], "context": [context], "answers": [answers]}


def _eval(rows, tok):
    return prepare_eval_features(rows, tok, MAX_LEN, STRIDE)


def _ctx_tokens(offsets):
    return [i for i, o in enumerate(offsets) if o is not None]


def test_single_window_recovers_answer_text_exactly(bert_tok):
    rows = _rows("region in France")
    train = prepare_train_features(rows, bert_tok, 64, 16)
    ev = prepare_eval_features(rows, bert_tok, 64, 16)
    assert len(train["input_ids"]) == 2  # the 3-sentence context does not fit in 64 tokens
    s, e = train["start_positions"][0], train["end_positions"][0]
    off = ev["offset_mapping"][0]
    # lower-casing tokenizer, but offsets point into the original text: the casing survives
    assert CONTEXT[off[s][0]:off[e][1]] == "region in France"
    assert "token_type_ids" in train and "attention_mask" in train
    # no padding: lengths differ between the full first window and the shorter last one
    assert len(train["input_ids"][0]) == 64 > len(train["input_ids"][1])


@pytest.mark.parametrize("tok_name", ["bert_tok", "xlmr_tok"])
def test_every_window_labels_answer_iff_fully_inside(tok_name, request):
    tok = request.getfixturevalue(tok_name)
    # every word of the context as an answer, once each: labels must decode to it exactly when
    # the window holds all its characters, and point at CLS otherwise
    pos, words = 0, []
    for w in CONTEXT.split(" "):
        words.append((w.strip(".,"), CONTEXT.index(w.strip(".,"), pos)))
        pos += len(w) + 1
    for word, start in words:
        rows = _rows(word, start)
        train = prepare_train_features(rows, tok, MAX_LEN, STRIDE)
        ev = _eval(rows, tok)
        assert len(train["input_ids"]) > 2  # several windows
        inside_any = False
        for s, e, off in zip(train["start_positions"], train["end_positions"], ev["offset_mapping"]):
            ctx = _ctx_tokens(off)
            fully_inside = off[ctx[0]][0] <= start and off[ctx[-1]][1] >= start + len(word)
            if fully_inside:
                inside_any = True
                assert s in ctx and e in ctx and s <= e
                assert CONTEXT[off[s][0]:off[e][1]].strip() == word, (word, tok_name)
            else:
                assert (s, e) == (CLS_INDEX, CLS_INDEX)
        assert inside_any, word


def test_windows_overlap_by_doc_stride_tokens(bert_tok):
    ev = _eval(_rows("France"), bert_tok)
    windows = [[tuple(o) for o in off if o is not None] for off in ev["offset_mapping"]]
    assert len(windows) == 4
    for a, b in zip(windows, windows[1:]):
        assert a[-STRIDE:] == b[:STRIDE]
    assert windows[0][0] == (0, 3) and windows[-1][-1][1] == len(CONTEXT)


def test_answer_at_window_boundary(bert_tok):
    off0 = _eval(_rows(None), bert_tok)["offset_mapping"][0]
    last = _ctx_tokens(off0)[-1]
    # the last context token of window 0 as the answer: labelled there, at that very token
    a0, a1 = off0[last]
    train = prepare_train_features(_rows(CONTEXT[a0:a1], a0), bert_tok, MAX_LEN, STRIDE)
    assert train["start_positions"][0] == train["end_positions"][0] == last
    # an answer running one token past the window end: CLS in window 0, labelled in window 1
    off1 = _eval(_rows(None), bert_tok)["offset_mapping"][1]
    i1 = next(i for i, o in enumerate(off1) if o is not None and o[0] == a0)
    b1 = off1[i1 + 1][1]
    train = prepare_train_features(_rows(CONTEXT[a0:b1], a0), bert_tok, MAX_LEN, STRIDE)
    assert (train["start_positions"][0], train["end_positions"][0]) == (CLS_INDEX, CLS_INDEX)
    assert (train["start_positions"][1], train["end_positions"][1]) == (i1, i1 + 1)


def test_unanswerable_points_at_cls_everywhere(xlmr_tok):
    train = prepare_train_features(_rows(None), xlmr_tok, MAX_LEN, STRIDE)
    assert "token_type_ids" not in train  # XLM-R layout: none needed
    assert set(train["start_positions"]) == set(train["end_positions"]) == {CLS_INDEX}
    assert all(ids[0] == xlmr_tok.cls_token_id for ids in train["input_ids"])


def test_eval_features_mark_non_context_tokens(bert_tok):
    rows = {k: v * 2 for k, v in _rows("France").items()}
    rows["id"] = ["x", "y"]
    ev = _eval(rows, bert_tok)
    n = len(ev["input_ids"]) // 2
    assert ev["example_id"] == ["x"] * n + ["y"] * n
    for ids, off in zip(ev["input_ids"], ev["offset_mapping"]):
        sep = ids.index(bert_tok.sep_token_id)
        assert all(o is None for o in off[: sep + 1]) and off[-1] is None
        assert all(o is not None for o in off[sep + 1: -1])


def test_rejects_bad_input(bert_tok):
    with pytest.raises(ValueError, match="doc_stride"):
        prepare_train_features(_rows("France"), bert_tok, 32, 32)
    with pytest.raises(KeyError, match="answers"):
        prepare_train_features({"id": ["a"], "question": ["q"], "context": ["c"]}, bert_tok, 32, 8)


# ---- post-processing on hand-built logits ----

def _setup(tok, answer="France"):
    rows = _rows(answer)
    examples = Dataset.from_dict(rows)
    feats = examples.map(prepare_eval_features, batched=True, remove_columns=examples.column_names,
                         fn_kwargs=dict(tokenizer=tok, max_length=MAX_LEN, doc_stride=STRIDE))
    offsets = feats["offset_mapping"]
    pad = 5  # logits padded past every window's length, as a batched predict returns them
    shape = (len(feats), max(len(o) for o in offsets) + pad)
    return examples, feats, offsets, np.full(shape, -10.0), np.full(shape, -10.0)


def _token(offsets, text, window):
    start = CONTEXT.index(text)
    return next(i for i, o in enumerate(offsets[window]) if o is not None and o[0] == start)


def test_best_span_across_windows_v1_ignores_cls_question_and_padding(bert_tok):
    ex, feats, offs, start, end = _setup(bert_tok)
    w = next(i for i, o in enumerate(offs) if o[-2] is not None and CONTEXT[o[-2][0]:o[-2][1]] == "France")
    s = _token(offs, "region", w)
    start[w, s], end[w, s + 2] = 3.0, 2.5  # "region in France": score 5.5
    other = (w + 2) % len(offs)
    t = _ctx_tokens(offs[other])[0]
    start[other, t], end[other, t] = 2.0, 2.0  # weaker span elsewhere: score 4.0
    start[:, CLS_INDEX] = end[:, CLS_INDEX] = 50.0  # v1 never answers "" however strong CLS is
    start[:, 2] = 60.0  # a question token
    start[:, -1] = end[:, -1] = 100.0  # padding past the window
    preds, na = postprocess_qa_predictions(ex, feats, start, end)
    assert preds == {"q1": "region in France"}
    assert na["q1"] == pytest.approx(expit(100.0 - 5.5))


def test_null_score_is_min_over_windows(bert_tok):
    ex, feats, offs, start, end = _setup(bert_tok)
    w = 0
    s = _token(offs, "Normans", w)
    start[w, s], end[w, s] = 3.0, 2.0  # best span "Normans": 5.0
    start[:, CLS_INDEX] = end[:, CLS_INDEX] = 6.0  # null 12 in most windows ...
    start[1, CLS_INDEX], end[1, CLS_INDEX] = 2.0, 1.0  # ... but 3 in window 1: min = 3 < 5
    preds, na = postprocess_qa_predictions(ex, feats, start, end, version_2_with_negative=True)
    assert preds == {"q1": "Normans"}
    assert na["q1"] == pytest.approx(expit(3.0 - 5.0))


def test_no_answer_wins_v2(bert_tok):
    ex, feats, offs, start, end = _setup(bert_tok)
    s = _token(offs, "Normans", 0)
    start[0, s], end[0, s] = 3.0, 2.0  # best span 5.0
    start[:, CLS_INDEX], end[:, CLS_INDEX] = 3.0, 2.5  # null 5.5 in every window: 5.5 - 5.0 > 0
    preds, na = postprocess_qa_predictions(ex, feats, start, end, version_2_with_negative=True)
    assert preds == {"q1": ""}
    assert na["q1"] == pytest.approx(expit(0.5))
    # v1 on the same logits still answers the span
    preds, _ = postprocess_qa_predictions(ex, feats, start, end, version_2_with_negative=False)
    assert preds == {"q1": "Normans"}


def test_max_answer_length_and_end_before_start(bert_tok):
    ex, feats, offs, start, end = _setup(bert_tok)
    s = _token(offs, "region", 0)
    start[0, s], end[0, s + 2] = 5.0, 5.0  # "region in France": 3 tokens
    end[0, s - 1] = 9.0  # end before start: never valid
    end[0, s + 1] = 1.0  # "region in": 2 tokens, score 6
    preds, _ = postprocess_qa_predictions(ex, feats, start, end, max_answer_length=2)
    assert preds == {"q1": "region in"}
    preds, _ = postprocess_qa_predictions(ex, feats, start, end, max_answer_length=3)
    assert preds == {"q1": "region in France"}


def test_postprocess_rejects_misaligned_logits(bert_tok):
    ex, feats, _, start, end = _setup(bert_tok)
    with pytest.raises(ValueError, match="num_features"):
        postprocess_qa_predictions(ex, feats, start[1:], end[1:])
