"""MLQA language-aware normalisation and scores on hand-computed cases."""

from __future__ import annotations

import pytest

from minilm_repro.metrics import mlqa_scores
from minilm_repro.metrics.mlqa import (
    f1_score,
    mixed_segmentation,
    normalize_answer,
    punctuation,
)


def test_unicode_punctuation_set():
    p = punctuation()
    assert {"«", "»", "，", "。", "、", "؟", "—", "!"} <= p
    assert "$" in p  # ASCII string.punctuation is added although "$" is a symbol (Sc), not P*
    assert "€" not in p and "a" not in p


def test_chinese_mixed_segmentation():
    # ，and 。 are Unicode punctuation (removed); each ideograph becomes a token
    assert normalize_answer("北京市，中国。", "zh") == "北 京 市 中 国"
    # latin/digit runs stay whole and are split on whitespace only
    assert normalize_answer("2008年北京 Olympic Games", "zh") == "2008 年 北 京 olympic games"
    assert mixed_segmentation("ab北c d") == ["ab", "北", "c", "d"]
    # pred [北, 京, 市] vs gold [北, 京]: 2 shared, P = 2/3, R = 1, F1 = 2 * (2/3) / (5/3) = 0.8
    assert f1_score("北京市", "北京", "zh") == pytest.approx(0.8)
    # with whitespace tokenisation "北京市" and "北京" are single, different tokens
    assert f1_score("北京市", "北京", "en") == 0.0


def test_arabic_article_handling():
    assert normalize_answer("الكتاب", "ar") == "كتاب"
    # the script's pattern removes "ال" anywhere, also inside a word: one word becomes two tokens
    assert normalize_answer("فالكتاب", "ar") == "ف كتاب"
    assert normalize_answer("كتاب؟", "ar") == "كتاب"  # Arabic question mark is punctuation
    # pred [كتاب] vs gold [ف, كتاب]: P = 1, R = 1/2, F1 = 2/3
    assert f1_score("كتاب", "فالكتاب", "ar") == pytest.approx(2 / 3)


@pytest.mark.parametrize("lang, text, expected", [
    ("en", "The dog", "dog"),
    ("es", "Los perros y la casa", "perros y casa"),
    ("de", "Der Hund, dieser «Hund»", "hund dieser hund"),
    ("vi", "cái bàn của tôi", "bàn tôi"),
    ("hi", "the दिल्ली", "the दिल्ली"),  # no articles removed for Hindi
    ("zh", "the 猫", "the 猫"),
])
def test_articles_per_language(lang, text, expected):
    assert normalize_answer(text, lang) == expected


def test_unknown_language():
    with pytest.raises(ValueError, match="unknown MLQA answer language 'fr'"):
        normalize_answer("x", "fr")


def test_mlqa_scores():
    rows = [{"id": "1", "answers": {"text": ["Hund"], "answer_start": [0]}},
            {"id": "2", "answers": {"text": ["kleine Katze"], "answer_start": [0]}}]
    # 1: "der Hund" -> "hund": EM 1, F1 1
    # 2: "große katze" vs "kleine katze": 1 shared of 2 and 2 -> P = R = 1/2, F1 0.5; EM 0
    out = mlqa_scores(rows, {"1": "der Hund", "2": "große Katze"}, "de")
    assert out == {"exact_match": 50.0, "f1": 75.0}
    # in English, "der" is not an article: 1 gets P = 1/2, R = 1, F1 2/3 and EM 0
    out = mlqa_scores(rows, {"1": "der Hund", "2": "große Katze"}, "en")
    assert out == {"exact_match": 0.0, "f1": pytest.approx(100 * (2 / 3 + 0.5) / 2)}
