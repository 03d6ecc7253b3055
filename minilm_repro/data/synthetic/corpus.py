"""Pretraining text: documents about small casts of people, one sentence per line.

A document tells a scene (see :mod:`scenes`) in shuffled order, with opinions mixed in, then
*comes back to it*: a recap restates some of its facts in other sentence forms, denies other
values of them ("Ana does not live in Y" after "Ana lives in X") or asks a question and answers
it. A masked value in the recap can only be restored by finding the earlier mention of the same
person and attribute and copying its value, and a masked negation only by comparing the two
values: the circuits that entailment, paraphrase and extractive QA need (as real text restates,
and a masked-LM teacher learns to copy across sentences).

In the multilingual corpus a share of each language's documents (``bilingual``) is told in that
language and re-told in language 0, or the reverse, like the comparable articles of real
multilingual Wikipedia: the recap of a scene told in another language aligns the lexicons, so
what a model learns in language 0 transfers. Documents are separated by a blank line (the corpus
stage never packs a block across documents). The multilingual corpus has geometrically fewer
documents per language (``decay``), so the sampling exponent ``alpha`` changes what the model sees.
"""

from __future__ import annotations

import random
from pathlib import Path

from minilm_repro.data.synthetic.grammar import Fact
from minilm_repro.data.synthetic.lexicon import ATTRIBUTES, SWITCHABLE, Language
from minilm_repro.data.synthetic.scenes import (
    Scene,
    Spec,
    World,
    random_opinion,
    realise,
    sample_scene,
    tell_scene,
)


class CodeSwitched:
    """``base`` with each word of :data:`~.lexicon.SWITCHABLE` (every word but the particles only
    some languages have) said in ``other``'s word with probability ``p``, drawn per word; word
    order, agreement and gender suffixes stay ``base``'s (``live`` with ``l1``'s agreement suffix:
    ``liveu``), so the words align across languages while each grammar stays its own."""

    def __init__(self, base: Language, other: Language, p: float, rng: random.Random):
        self.base, self.other, self.p, self.rng = base, other, p, rng

    def __getattr__(self, name):
        return getattr(self.base, name)

    def word(self, concept: str) -> str:
        if concept in SWITCHABLE and self.rng.random() < self.p:
            return self.other.word(concept)
        return self.base.word(concept)


def recap(rng: random.Random, world: World, scene: Scene, n: int) -> list[Spec]:
    """``n`` statements coming back to facts of ``scene``: each a restatement, a denial of
    another value, or a question followed by the sentence that answers it."""
    facts = sorted((p, a, v) for p, av in scene.items() for a, v in av.items())
    specs: list[Spec] = []
    for _ in range(n):
        p, a, v = rng.choice(facts)
        r = rng.random()
        if r < 0.4:
            rest = sorted(b for b in scene[p] if b != a)
            if rest and rng.random() < 0.4:
                b = rng.choice(rest)
                specs.append(("coord", Fact((p,), a, v), Fact((p,), b, scene[p][b])))
            else:
                specs.append(("fact", Fact((p,), a, v)))
        elif r < 0.7:
            specs.append(("fact", Fact((p,), a, world.other_value(rng, a, v), True)))
        else:
            specs += [("question", p, a, rng.randrange(2)), ("fact", Fact((p,), a, v))]
    return specs


def document_specs(rng: random.Random, world: World) -> tuple[list[Spec], list[Spec]]:
    """(telling, recap) of one document: a scene of 1-2 people with 1-2 facts each, told in 1-6
    sentences (facts, a denial, an opinion), then 2-4 statements coming back to it. Short scenes and
    long recaps make copying a large share of what masked LM can learn (the smoke 4x128 teacher's
    MLM loss drops sharply once it copies: within 1000 steps at lr 1e-3, not within 600)."""
    scene = sample_scene(rng, world, rng.choice((1, 2)), (1, 2))
    specs = tell_scene(rng, scene, coordinate=0.35, plural=0.3)
    for _ in range(rng.choice((0, 0, 1))):
        specs.insert(rng.randrange(len(specs) + 1), random_opinion(rng))
    if rng.random() < 0.3:
        p = rng.choice(tuple(scene))
        free = [a for a in ATTRIBUTES if a not in scene[p]]
        if free:
            a = rng.choice(free)
            specs.insert(rng.randrange(len(specs) + 1), ("fact", Fact((p,), a, rng.choice(world.values(a)), True)))
    return specs, recap(rng, world, scene, rng.choice((2, 3, 4)))


def document(rng: random.Random, world: World, lang: Language, retell: Language | None = None) -> list[str]:
    """One document in ``lang``; with ``retell``, the scene is told in ``lang`` and then re-told
    (its facts again, in another order and forms, instead of the recap) in ``retell``."""
    specs, back = document_specs(rng, world)
    if retell is None:
        return [realise(lang, [s])[0] for s in specs + back]
    again = [s for s in specs if s[0] != "opinion"]
    rng.shuffle(again)
    return [realise(lang, [s])[0] for s in specs] + [realise(retell, [s])[0] for s in again]


def write_corpus(path: Path, rng: random.Random, world: World, lang: Language, documents: int,
                 pivot: Language | None = None, bilingual: float = 0.0, code_switch: float = 0.0,
                 partners: tuple[Language, ...] = (), switch_rng: random.Random | None = None) -> dict:
    """Write ``documents`` documents to ``path``; returns {documents, lines, words, bilingual}.

    A share ``bilingual`` of them is told in ``lang`` and re-told in ``pivot`` or the reverse (half
    each way); ``pivot`` is needed when ``bilingual > 0``. With ``code_switch`` > 0 every other
    document switches words (probability ``code_switch`` each) to the words of one of
    ``partners`` (drawn per document, with ``switch_rng``, so the scenes do not depend on it).
    """
    if bilingual and pivot is None:
        raise ValueError("write_corpus: bilingual documents need a pivot language")
    if code_switch and (not partners or switch_rng is None):
        raise ValueError("write_corpus: code switching needs partner languages and switch_rng")
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = words = both = 0
    with open(path, "w", encoding="utf-8") as f:
        for d in range(documents):
            if d:
                f.write("\n")
            first, second = lang, None
            if bilingual and rng.random() < bilingual:
                first, second = (lang, pivot) if rng.random() < 0.5 else (pivot, lang)
                both += 1
            elif code_switch and switch_rng.random() < 0.5:
                first = CodeSwitched(lang, switch_rng.choice(partners), code_switch, switch_rng)
            for s in document(rng, world, first, second):
                f.write(s + "\n")
                lines += 1
                words += len(s.split())
    return {"documents": documents, "lines": lines, "words": words, "bilingual": both}
