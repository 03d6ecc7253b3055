"""MLQA exact match / F1 with the language-aware normalisation of the official ``mlqa_evaluation_v1.py``.

Normalisation order (as the script): lower case -> drop every Unicode punctuation character
(general category P*) and ASCII ``string.punctuation`` -> remove articles of the answer
language -> tokenise (whitespace; for zh "mixed segmentation": each CJK ideograph in
U+4E00..U+9FA5 and each punctuation mark is its own token, runs of other characters are split
on whitespace) -> join with single spaces.  F1 splits the normalised string on whitespace.
Arabic: the script's pattern ``\\sال^|ال`` can only ever match its second branch, so every
occurrence of "ال" (anywhere in a word, not just as a prefix) becomes a space; kept as is.
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from minilm_repro.metrics.qa_data import gold_table
from minilm_repro.metrics.squad_v1 import evaluate_with, token_f1

WHITESPACE_LANGS = ("en", "es", "hi", "vi", "de", "ar")
MIXED_SEGMENTATION_LANGS = ("zh",)
LANGUAGES = WHITESPACE_LANGS + MIXED_SEGMENTATION_LANGS

_ARTICLES = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile(r"\sال^|ال"),
}
_CJK = re.compile(r"[\u4e00-\u9fa5]")


@lru_cache(maxsize=1)
def punctuation() -> frozenset[str]:
    """Every code point below sys.maxunicode whose Unicode category starts with P, plus ASCII punctuation."""
    return frozenset(c for c in map(chr, range(sys.maxunicode))
                     if unicodedata.category(c).startswith("P")) | frozenset(string.punctuation)


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown MLQA answer language {lang!r}; the official script knows {', '.join(LANGUAGES)}")
    return lang


def mixed_segmentation(text: str) -> list[str]:
    punct = punctuation()
    tokens, run = [], ""
    for ch in text:
        if _CJK.search(ch) or ch in punct:
            tokens.extend(run.split())
            run = ""
            tokens.append(ch)
        else:
            run += ch
    tokens.extend(run.split())
    return tokens


def normalize_answer(s: str, lang: str) -> str:
    check_language(lang)
    punct = punctuation()
    s = "".join(ch for ch in s.lower() if ch not in punct)
    if lang in _ARTICLES:
        s = _ARTICLES[lang].sub(" ", s)
    tokens = mixed_segmentation(s) if lang in MIXED_SEGMENTATION_LANGS else s.split()
    return " ".join(t for t in tokens if t.strip() != "")


def exact_match_score(pred: str, gold: str, lang: str) -> bool:
    return normalize_answer(pred, lang) == normalize_answer(gold, lang)


def f1_score(pred: str, gold: str, lang: str) -> float:
    return token_f1(normalize_answer(pred, lang).split(), normalize_answer(gold, lang).split())


def mlqa_scores(examples: Iterable[dict], preds: dict[str, str], lang: str) -> dict:
    """Official MLQA {"exact_match", "f1"} (percent) for hub-layout rows; ``lang`` = answer (context) language."""
    check_language(lang)
    return evaluate_with(gold_table(examples), preds,
                         lambda p, g: exact_match_score(p, g, lang), lambda p, g: f1_score(p, g, lang))
