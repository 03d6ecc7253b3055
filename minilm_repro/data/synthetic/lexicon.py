"""Concepts, the languages that name them, and the proper nouns all languages share.

Language ``l0`` plays English's role and uses the English gloss of each concept as its word, so
generated examples stay readable. Every other language gets its own generated lexicon (pseudo
words from a language-specific syllable inventory), its own word order, negation, question
formation, adposition side, adjective position and agreement suffixes. Names of people and
cities are proper nouns spelled the same in every language (as real names are): together with
the shared concepts they are what makes cross-lingual transfer possible.
"""

from __future__ import annotations

import dataclasses
import random

# attribute -> its values (concepts, translated per language); "city" values are proper nouns
ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {
    "job": ("baker", "teacher", "doctor", "farmer", "pilot", "singer", "lawyer", "nurse",
            "painter", "driver", "cook", "writer"),
    "colour": ("red", "blue", "green", "yellow", "black", "white", "pink", "grey"),
    "animal": ("cat", "dog", "horse", "bird", "fish", "rabbit", "goat", "mouse"),
}
ATTRIBUTES = ("city", "job", "colour", "animal")
# attribute -> (verb concept, adposition concept or None, takes the indefinite article)
ATTRIBUTE_VERB = {"city": ("live", "in", False), "job": ("work", "as", True),
                  "colour": ("like", None, False), "animal": ("have", None, True)}
# the noun that names an attribute ("what is the city of Ana?")
ATTRIBUTE_NOUN = {"city": "city", "job": "job", "colour": "colour", "animal": "pet"}

ITEMS = ("film", "book", "meal", "trip", "song", "show", "game", "hotel")
POSITIVE = ("good", "great", "nice", "lovely", "fine", "superb")
NEGATIVE = ("bad", "awful", "boring", "dull", "poor", "weak")
FUNCTION_WORDS = ("the", "a", "and", "but", "not", "in", "as", "of", "is", "was", "were", "do", "does",
                  "where", "what", "which", "it", "very", "also", "qpart", "neg2")
VERBS = ("live", "work", "like", "have", "know")
ATTRIBUTE_NOUNS = ("city", "job", "colour", "pet")

CONCEPTS: tuple[str, ...] = tuple(dict.fromkeys(
    FUNCTION_WORDS + VERBS + ATTRIBUTE_NOUNS + ITEMS + POSITIVE + NEGATIVE
    + tuple(v for vals in ATTRIBUTE_VALUES.values() for v in vals)))

# words l0 (English-like) does not have: an empty surface is dropped when realising
_L0_EMPTY = {"qpart", "neg2"}
# what code-switched text may say in another language (see corpus.CodeSwitched): every word but the
# particles some languages lack (a switch would drop or add a word)
SWITCHABLE = frozenset(CONCEPTS) - _L0_EMPTY

_NAME_SYLLABLES = ("ka", "lo", "mi", "ra", "te", "no", "sa", "vi", "du", "be", "ri", "to", "ma", "el", "an", "ju")
_CITY_SYLLABLES = ("dor", "vel", "mar", "tis", "por", "gal", "ben", "lun", "sar", "kel", "rom", "tal")

# generated words that would read as English words best avoided
_AVOID = {"penis", "anal", "rape", "sex", "nazi", "kill", "die", "dead", "porn", "slut", "fag"}

# per-language grammar profiles (cycled for languages beyond those listed)
_PROFILES = (
    dict(order="SVO", adj_after_noun=True, postpositions=True, negation="pre", question="insitu",
         consonants="ptkmnslrwj", vowels="aiueo", verb_suffix=("u", "uni"), adj_gender=True),
    dict(order="VSO", adj_after_noun=False, postpositions=False, negation="post", question="front",
         consonants="bdgvzhmnlr", vowels="aeiouy", verb_suffix=("et", "eten"), adj_gender=False),
    dict(order="SOV", adj_after_noun=True, postpositions=True, negation="circum", question="insitu",
         consonants="ptkfsxmnrl", vowels="aeio", verb_suffix=("ar", "aran"), adj_gender=True),
)


@dataclasses.dataclass(frozen=True)
class Language:
    """One language of the world: its words for every concept and its grammar settings.

    ``order``: "SVO" | "SOV" | "VSO" (clause constituent order); ``negation``: "aux" (English do-
    support), "pre"/"post" (particle before/after the verb), "circum" (particle on both sides);
    ``question``: "do-front" (English), "front" (wh-word first, verb before subject), "insitu"
    (wh-phrase in place, sentence-final particle); ``verb_suffix``: (singular, plural) agreement
    suffixes; ``adj_gender``: adjectives agree with the noun's gender class (suffix "a"/"o").
    """

    code: str
    words: dict
    order: str
    adj_after_noun: bool
    postpositions: bool
    negation: str
    question: str
    verb_suffix: tuple[str, str]
    adj_gender: bool
    noun_gender: dict

    def word(self, concept: str) -> str:
        return self.words[concept]

    def profile(self) -> dict:
        return {"order": self.order, "adj_after_noun": self.adj_after_noun, "postpositions": self.postpositions,
                "negation": self.negation, "question": self.question, "verb_suffix": list(self.verb_suffix),
                "adjective_agreement": self.adj_gender}


def _pseudo_words(rng: random.Random, n: int, consonants: str, vowels: str, taken: set[str]) -> list[str]:
    """``n`` distinct pronounceable words (1-3 CV(C) syllables), none in ``taken``."""
    out: list[str] = []
    while len(out) < n:
        syllables = rng.choice((1, 2, 2, 3))
        w = "".join(rng.choice(consonants) + rng.choice(vowels) + (rng.choice(consonants) if rng.random() < 0.25 else "")
                    for _ in range(syllables))
        if len(w) >= 2 and w not in taken:
            taken.add(w)
            out.append(w)
    return out


def make_languages(n: int, seed: int) -> list[Language]:
    """``l0`` (English-like) plus ``n - 1`` generated languages, deterministic in ``seed``."""
    if n < 2:
        raise ValueError(f"languages must be >= 2 (got {n}): cross-lingual transfer needs a second language")
    l0_words = {c: ("" if c in _L0_EMPTY else c) for c in CONCEPTS}
    langs = [Language("l0", l0_words, "SVO", False, False, "aux", "do-front", ("s", ""), False,
                      {i: 0 for i in ITEMS})]
    for i in range(1, n):
        prof = _PROFILES[(i - 1) % len(_PROFILES)]
        rng = random.Random(f"{seed}/lexicon/l{i}")
        taken = set(l0_words.values()) | set(names(seed)) | {c.lower() for c in cities(seed)} | _AVOID
        surface = _pseudo_words(rng, len(CONCEPTS), prof["consonants"], prof["vowels"], taken)
        words = dict(zip(CONCEPTS, surface))
        if prof["question"] != "insitu":
            words["qpart"] = ""
        if prof["negation"] != "circum":
            words["neg2"] = ""
        gender = {item: rng.randrange(2) for item in ITEMS}
        langs.append(Language(f"l{i}", words, prof["order"], prof["adj_after_noun"], prof["postpositions"],
                              prof["negation"], prof["question"], prof["verb_suffix"], prof["adj_gender"], gender))
    return langs


def _proper_nouns(seed: int, tag: str, syllables: tuple[str, ...], n: int, parts: tuple[int, ...]) -> list[str]:
    rng = random.Random(f"{seed}/{tag}")
    out: list[str] = []
    while len(out) < n:
        w = "".join(rng.choice(syllables) for _ in range(rng.choice(parts))).capitalize()
        if w not in out:
            out.append(w)
    return out


def names(seed: int, n: int = 40) -> list[str]:
    """People's names, shared by every language."""
    return _proper_nouns(seed, "names", _NAME_SYLLABLES, n, (2, 2, 3))


def cities(seed: int, n: int = 16) -> list[str]:
    """City names, shared by every language."""
    return _proper_nouns(seed, "cities", _CITY_SYLLABLES, n, (2,))
