"""Pretraining text: documents about small casts of people, one sentence per line.

A document tells a scene (see :mod:`scenes`) in shuffled order, with opinions and the odd
question-answer exchange mixed in; documents are separated by a blank line (the corpus stage
never packs a block across documents). The multilingual corpus has geometrically fewer documents
per language (``decay``), so the sampling exponent ``alpha`` changes what the model sees.
"""

from __future__ import annotations

import random
from pathlib import Path

from minilm_repro.data.synthetic.grammar import Fact
from minilm_repro.data.synthetic.lexicon import ATTRIBUTES, Language
from minilm_repro.data.synthetic.scenes import World, random_opinion, realise, sample_scene, tell_scene


def document(rng: random.Random, world: World, lang: Language) -> list[str]:
    """One document: 3-8 sentences (facts, denials, opinions, questions answered)."""
    scene = sample_scene(rng, world, rng.choice((1, 2, 3)), (1, 4))
    specs = tell_scene(rng, scene, coordinate=0.35, plural=0.3)
    for _ in range(rng.choice((0, 1, 1, 2))):
        specs.insert(rng.randrange(len(specs) + 1), random_opinion(rng))
    if rng.random() < 0.3:
        p = rng.choice(tuple(scene))
        free = [a for a in ATTRIBUTES if a not in scene[p]]
        if free:
            a = rng.choice(free)
            specs.append(("fact", Fact((p,), a, rng.choice(world.values(a)), True)))
    if rng.random() < 0.25:  # a question and the sentence that answers it
        p = rng.choice(tuple(scene))
        a = rng.choice(sorted(scene[p]))
        specs += [("question", p, a, rng.randrange(2)), ("fact", Fact((p,), a, scene[p][a]))]
    return [realise(lang, [s])[0] for s in specs]


def write_corpus(path: Path, rng: random.Random, world: World, lang: Language, documents: int) -> dict:
    """Write ``documents`` documents to ``path``; returns {documents, lines, words}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = words = 0
    with open(path, "w", encoding="utf-8") as f:
        for d in range(documents):
            if d:
                f.write("\n")
            for s in document(rng, world, lang):
                f.write(s + "\n")
                lines += 1
                words += len(s.split())
    return {"documents": documents, "lines": lines, "words": words}
