"""Sample meaning: small casts of people with attributes, and how their facts are told.

A *scene* is a few people, each with a value for some attributes (the world's rule: one value
per person and attribute). A *telling* is a list of sentence specs realised in any language by
:func:`realise`; tasks and the corpus sample scenes and tellings, then realise them once per
language (parallel data for XNLI and MLQA evaluation, as the real datasets are translations).
"""

from __future__ import annotations

import dataclasses
import random

from minilm_repro.data.synthetic import grammar
from minilm_repro.data.synthetic.grammar import Fact
from minilm_repro.data.synthetic.lexicon import (
    ATTRIBUTE_VALUES,
    ATTRIBUTES,
    ITEMS,
    NEGATIVE,
    POSITIVE,
    Language,
    cities,
    names,
)


@dataclasses.dataclass(frozen=True)
class World:
    """What every language talks about: people, cities and the attribute values."""

    people: tuple[str, ...]
    cities: tuple[str, ...]

    @classmethod
    def build(cls, seed: int) -> "World":
        return cls(tuple(names(seed)), tuple(cities(seed)))

    def values(self, attr: str) -> tuple[str, ...]:
        return self.cities if attr == "city" else ATTRIBUTE_VALUES[attr]

    def other_value(self, rng: random.Random, attr: str, value: str) -> str:
        return rng.choice([v for v in self.values(attr) if v != value])


Scene = dict  # {person: {attr: value}}


def sample_scene(rng: random.Random, world: World, people: int, attrs: tuple[int, int]) -> Scene:
    """``people`` distinct people, each with between ``attrs[0]`` and ``attrs[1]`` attributes."""
    cast = rng.sample(world.people, people)
    return {p: {a: rng.choice(world.values(a)) for a in rng.sample(ATTRIBUTES, rng.randint(*attrs))} for p in cast}


# sentence specs: ("fact", Fact) | ("coord", Fact, Fact) | ("opinion", item, adj, negated, attributive)
#                 | ("question", subject, attr, variant)
Spec = tuple


def tell_scene(rng: random.Random, scene: Scene, coordinate: float = 0.4, plural: float = 0.0) -> list[Spec]:
    """Sentence specs stating every fact of ``scene`` once, in shuffled order.

    Two facts of one person are told in one coordinated sentence with probability ``coordinate``;
    people sharing a value are told together ("Ana and Ben live in X") with probability ``plural``.
    """
    facts = [(p, a, v) for p, av in scene.items() for a, v in av.items()]
    rng.shuffle(facts)
    specs: list[Spec] = []
    told: set = set()
    for p, a, v in facts:
        if (p, a) in told:
            continue
        sharers = [q for q in scene if q != p and scene[q].get(a) == v and (q, a) not in told]
        if sharers and rng.random() < plural:
            q = sharers[0]
            specs.append(("fact", Fact((p, q), a, v)))
            told |= {(p, a), (q, a)}
            continue
        rest = [(b, w) for b, w in scene[p].items() if (p, b) not in told and b != a]
        told.add((p, a))
        if rest and rng.random() < coordinate:
            b, w = rest[0]
            told.add((p, b))
            specs.append(("coord", Fact((p,), a, v), Fact((p,), b, w)))
        else:
            specs.append(("fact", Fact((p,), a, v)))
    return specs


def random_opinion(rng: random.Random, negated: float = 0.3, attributive: float = 0.3) -> Spec:
    pool = POSITIVE if rng.random() < 0.5 else NEGATIVE
    return ("opinion", rng.choice(ITEMS), rng.choice(pool), rng.random() < negated, rng.random() < attributive)


def opinion_polarity(spec: Spec) -> int:
    """1 positive, 0 negative: the adjective's polarity, flipped by negation."""
    _, _, adj, negated, _ = spec
    return int((adj in POSITIVE) != negated)


def tokens(lang: Language, spec: Spec) -> list[grammar.Token]:
    kind = spec[0]
    if kind == "fact":
        return grammar.clause(lang, spec[1])
    if kind == "coord":
        return grammar.coordinated(lang, spec[1], spec[2])
    if kind == "opinion":
        return grammar.opinion(lang, *spec[1:])
    if kind == "question":
        return grammar.question(lang, *spec[1:])
    if kind == "but":  # ("but", opinion spec, opinion spec): one sentence, two clauses
        return tokens(lang, spec[1]) + grammar.word(lang, "but") + tokens(lang, spec[2])
    raise ValueError(f"unknown sentence spec {kind!r}")


def realise(lang: Language, specs: list[Spec]) -> tuple[str, dict]:
    """Text of ``specs`` in ``lang`` and the character offsets of tagged words (see grammar.render)."""
    ends = ["?" if s[0] == "question" else "." for s in specs]
    return grammar.render([tokens(lang, s) for s in specs], ends)


def text(lang: Language, specs: list[Spec]) -> str:
    return realise(lang, specs)[0]
