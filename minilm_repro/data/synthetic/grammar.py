"""Realise meaning (facts, opinions, questions) as sentences of one language.

A realised sentence is a list of tokens ``(surface, tag)``; ``tag`` marks the words a task needs
to find again (e.g. ``("value", "Ana", "city")`` on the city Ana lives in, for QA answer spans).
:func:`render` joins sentences into text and returns the character offset of every tagged word.
"""

from __future__ import annotations

import dataclasses

from minilm_repro.data.synthetic.lexicon import ATTRIBUTE_NOUN, ATTRIBUTE_VERB, Language

Token = tuple[str, object]


@dataclasses.dataclass(frozen=True)
class Fact:
    """``subjects`` (one or more names) have ``value`` for ``attr``; ``negated`` states they do not."""

    subjects: tuple[str, ...]
    attr: str
    value: str
    negated: bool = False

    def tag(self) -> tuple:
        return ("value", self.subjects, self.attr)


def word(lang: Language, concept: str, tag=None) -> list[Token]:
    surface = lang.word(concept)
    return [(surface, tag)] if surface else []


def _agree(lang: Language, stem: str, plural: bool) -> str:
    if lang.code == "l0" and stem == "have" and not plural:
        return "has"
    return stem + lang.verb_suffix[1 if plural else 0]


def verb_group(lang: Language, verb: str, plural: bool, negated: bool) -> list[Token]:
    """The finite verb with subject agreement and negation (English: do-support)."""
    if lang.negation == "aux":
        if negated:
            return word(lang, "do" if plural else "does") + word(lang, "not") + word(lang, verb)
        return [(_agree(lang, lang.word(verb), plural), None)]
    v = [(_agree(lang, lang.word(verb), plural), None)]
    if not negated:
        return v
    if lang.negation == "pre":
        return word(lang, "not") + v
    if lang.negation == "post":
        return v + word(lang, "not")
    return word(lang, "not") + v + word(lang, "neg2")


def _copula(lang: Language, negated: bool) -> list[Token]:
    if lang.negation == "aux":
        return word(lang, "was") + (word(lang, "not") if negated else [])
    was = word(lang, "was")
    if not negated:
        return was
    return {"pre": word(lang, "not") + was, "post": was + word(lang, "not")}.get(
        lang.negation, word(lang, "not") + was + word(lang, "neg2"))


def article(lang: Language, next_word: str) -> list[Token]:
    """The indefinite article (English: ``an`` before a vowel)."""
    if lang.code == "l0" and next_word[:1] in "aeiou":
        return [("an", None)]
    return word(lang, "a")


def _value_word(lang: Language, attr: str, value: str) -> str:
    return value if attr == "city" else lang.word(value)


def object_phrase(lang: Language, fact: Fact) -> list[Token]:
    _, adposition, takes_article = ATTRIBUTE_VERB[fact.attr]
    value = _value_word(lang, fact.attr, fact.value)
    np = (article(lang, value) if takes_article else []) + [(value, fact.tag())]
    if adposition is None:
        return np
    return np + word(lang, adposition) if lang.postpositions else word(lang, adposition) + np


def subject_phrase(lang: Language, subjects: tuple[str, ...]) -> list[Token]:
    out: list[Token] = []
    for i, name in enumerate(subjects):
        if i:
            out += word(lang, "and")
        out.append((name, ("subject", name)))
    return out


def _order(lang: Language, s: list[Token], v: list[Token], o: list[Token]) -> list[Token]:
    return {"SVO": s + v + o, "SOV": s + o + v, "VSO": v + s + o}[lang.order]


def predicate(lang: Language, fact: Fact) -> list[Token]:
    """Verb and object without the subject, in the language's order (for coordination)."""
    v = verb_group(lang, ATTRIBUTE_VERB[fact.attr][0], len(fact.subjects) > 1, fact.negated)
    o = object_phrase(lang, fact)
    return o + v if lang.order == "SOV" else v + o


def clause(lang: Language, fact: Fact, agree_plural: bool | None = None) -> list[Token]:
    """``Ana lives in Dorvel`` / ``Ana dorvel-in liv-u`` ... one fact as a clause.

    ``agree_plural`` overrides the verb's number (an agreement error when it contradicts the subject).
    """
    plural = len(fact.subjects) > 1 if agree_plural is None else agree_plural
    v = verb_group(lang, ATTRIBUTE_VERB[fact.attr][0], plural, fact.negated)
    return _order(lang, subject_phrase(lang, fact.subjects), v, object_phrase(lang, fact))


def coordinated(lang: Language, first: Fact, second: Fact) -> list[Token]:
    """Two facts about the same subjects sharing one subject: ``Ana lives in X and works as a Y``."""
    if first.subjects != second.subjects:
        raise ValueError("coordinated facts must share their subjects")
    return clause(lang, first) + word(lang, "and") + predicate(lang, second)


def adjective(lang: Language, adj: str, item: str) -> str:
    word = lang.word(adj)
    return word + ("ao"[lang.noun_gender[item]] if lang.adj_gender else "")


def opinion(lang: Language, item: str, adj: str, negated: bool, attributive: bool = False) -> list[Token]:
    """``the film was (not) good`` or, attributive, ``it was (not) a good film``."""
    cop = _copula(lang, negated)
    a = [(adjective(lang, adj, item), ("adj", adj))]
    if attributive:
        n = word(lang, item)
        phrase = n + a if lang.adj_after_noun else a + n
        np = article(lang, phrase[0][0]) + phrase
        return _order(lang, word(lang, "it"), cop, np)
    subject = word(lang, "the") + word(lang, item)
    return _order(lang, subject, cop, a)


def _wh_phrase(lang: Language, attr: str) -> list[Token]:
    return word(lang, "where") if attr == "city" else word(lang, "which") + word(lang, ATTRIBUTE_NOUN[attr])


def question(lang: Language, subject: str, attr: str, variant: int) -> list[Token]:
    """A question asking ``subject``'s ``attr``; variant 0 asks with the verb, variant 1 with the noun."""
    s = [(subject, ("subject", subject))]
    noun = word(lang, ATTRIBUTE_NOUN[attr])
    verb, adposition, _ = ATTRIBUTE_VERB[attr]
    if variant == 1:
        if lang.question == "insitu":
            return s + word(lang, "of") + noun + word(lang, "what") + word(lang, "is") + word(lang, "qpart")
        return word(lang, "what") + word(lang, "is") + word(lang, "the") + noun + word(lang, "of") + s
    if lang.question == "do-front":
        tail = word(lang, adposition) if attr == "job" else []
        return _wh_phrase(lang, attr) + word(lang, "does") + s + word(lang, verb) + tail
    v = [(_agree(lang, lang.word(verb), False), None)]
    if lang.question == "front":
        return _wh_phrase(lang, attr) + v + s
    return s + _wh_phrase(lang, attr) + v + word(lang, "qpart")


def render(sentences: list[list[Token]], ends: list[str] | None = None) -> tuple[str, dict]:
    """Join sentences (first letter capitalised, ``.``/``?`` attached) into text.

    Returns ``(text, spans)`` where ``spans[tag] = (char_start, surface)`` for the first
    occurrence of every tagged token.
    """
    parts: list[str] = []
    spans: dict = {}
    pos = 0
    for k, sent in enumerate(sentences):
        words = [(s, t) for s, t in sent if s]
        for i, (surface, tag) in enumerate(words):
            if i == 0:
                surface = surface[:1].upper() + surface[1:]
            if parts:
                parts.append(" ")
                pos += 1
            if tag is not None and tag not in spans:
                spans[tag] = (pos, surface)
            if i == len(words) - 1:
                surface += ends[k] if ends else "."
            parts.append(surface)
            pos += len(surface)
    return "".join(parts), spans


def sentence(tokens: list[Token], end: str = ".") -> str:
    return render([tokens], [end])[0]
