"""Analogues of the paper's tasks, as rows with the real hub datasets' columns.

Every generator takes ``(rng, world, languages, n)`` and returns ``{config: [row, ...]}`` with the
configs of the canonical layout (``default`` for GLUE and SQuAD, the language for XNLI,
``<context>.<question>`` for MLQA). What makes each task learnable but not a bag of words:

* SST-2: negation flips an adjective's polarity and in ``X but Y`` the second clause decides;
* CoLA: agreement errors, swapped neighbours and dropped function words (same words, or almost);
* MRPC / QQP: paraphrases vs near misses that share almost every word;
* STS-B: graded overlap of the facts two sentences state (0-5);
* MNLI / RTE / XNLI: a hypothesis about a person and attribute the premise states (entailment),
  states otherwise (contradiction) or does not state (neutral); matched vs mismatched genres;
  XNLI's pairs are simpler (one person or coordinated clauses, no negation);
* QNLI: does the sentence state the asked attribute of the asked person;
* SQuAD 2.0 / SQuAD / MLQA: find a person's value in a context about several people; about half
  the SQuAD 2.0 questions ask what the context does not say (unanswerable, but plausible).
"""

from __future__ import annotations

import hashlib
import random

from minilm_repro.data.synthetic import grammar
from minilm_repro.data.synthetic.grammar import Fact
from minilm_repro.data.synthetic.lexicon import ATTRIBUTES, Language
from minilm_repro.data.synthetic.scenes import (
    World,
    opinion_polarity,
    random_opinion,
    realise,
    sample_scene,
    tell_scene,
    text,
    tokens,
)

ENTAILMENT, NEUTRAL, CONTRADICTION = 0, 1, 2


def example_id(*parts) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:24]


# ----------------------------------------------------------------------------- single sentences


def sst2(rng: random.Random, world: World, langs: list[Language], n: int) -> dict:
    lang, rows = langs[0], []
    for i in range(n):
        first = random_opinion(rng)
        if rng.random() < 0.4:  # contrast: the clause after "but" has the other polarity and decides
            second = random_opinion(rng)
            while opinion_polarity(second) == opinion_polarity(first):
                second = random_opinion(rng)
            spec, label = ("but", first, second), opinion_polarity(second)
        else:
            spec, label = first, opinion_polarity(first)
        rows.append({"sentence": text(lang, [spec]), "label": label, "idx": i})
    return {"default": rows}


def _corrupt(rng: random.Random, lang: Language, spec) -> list[grammar.Token] | None:
    """An ungrammatical variant of ``spec`` (None when the chosen corruption does not apply)."""
    kind = rng.choice(("agreement", "swap", "drop"))
    if kind == "agreement":
        if spec[0] != "fact":
            return None
        return grammar.clause(lang, spec[1], agree_plural=len(spec[1].subjects) == 1)
    toks = [t for t in tokens(lang, spec) if t[0]]
    if kind == "swap":
        i = rng.randrange(len(toks) - 1)
        if toks[i][0] == toks[i + 1][0]:
            return None
        toks[i], toks[i + 1] = toks[i + 1], toks[i]
        return toks
    droppable = [i for i, (s, _) in enumerate(toks) if s in {lang.word(c) for c in ("in", "as", "a", "the", "was", "does", "do")}]
    if not droppable:
        return None
    del toks[rng.choice(droppable)]
    return toks


def cola(rng: random.Random, world: World, langs: list[Language], n: int) -> dict:
    lang, rows = langs[0], []
    while len(rows) < n:
        r = rng.random()
        if r < 0.6:
            scene = sample_scene(rng, world, 2, (1, 2))
            spec = rng.choice(tell_scene(rng, scene, coordinate=0.3, plural=0.0))
            if spec[0] == "fact" and rng.random() < 0.4:  # plural subjects and negation exercise agreement
                f = spec[1]
                spec = ("fact", Fact(tuple(scene)[:rng.choice((1, 2))], f.attr, f.value, rng.random() < 0.4))
        elif r < 0.85:
            spec = random_opinion(rng)
        else:
            spec = ("question", rng.choice(world.people), rng.choice(ATTRIBUTES), rng.randrange(2))
        end = "?" if spec[0] == "question" else "."
        if rng.random() < 0.7:
            toks, label = tokens(lang, spec), 1
        else:
            toks, label = _corrupt(rng, lang, spec), 0
            if toks is None:
                continue
        rows.append({"sentence": grammar.render([toks], [end])[0], "label": label, "idx": len(rows)})
    return {"default": rows}


# ----------------------------------------------------------------------------- sentence pairs


def _forms(f1: Fact, f2: Fact) -> list[list]:
    """Ways to tell the same two facts about one person."""
    return [[("coord", f1, f2)], [("coord", f2, f1)], [("fact", f1), ("fact", f2)], [("fact", f2), ("fact", f1)]]


def _alter(rng: random.Random, world: World, f: Fact) -> Fact:
    r = rng.random()
    if r < 0.5:
        return Fact(f.subjects, f.attr, world.other_value(rng, f.attr, f.value), f.negated)
    if r < 0.75:
        return Fact(f.subjects, f.attr, f.value, not f.negated)
    return Fact((rng.choice([p for p in world.people if p not in f.subjects]),), f.attr, f.value, f.negated)


def mrpc(rng: random.Random, world: World, langs: list[Language], n: int) -> dict:
    lang, rows = langs[0], []
    for i in range(n):
        p = rng.choice(world.people)
        a, b = rng.sample(ATTRIBUTES, 2)
        f1, f2 = Fact((p,), a, rng.choice(world.values(a))), Fact((p,), b, rng.choice(world.values(b)))
        forms = _forms(f1, f2)
        j, k = rng.sample(range(4), 2)
        label = int(rng.random() < 0.65)
        if not label:
            g1, g2 = (_alter(rng, world, f1), f2) if rng.random() < 0.5 else (f1, _alter(rng, world, f2))
            second = _forms(g1, g2)[k] if g1.subjects == g2.subjects else [("fact", g1), ("fact", g2)]
        else:
            second = forms[k]
        rows.append({"sentence1": text(lang, forms[j]), "sentence2": text(lang, second), "label": label, "idx": i})
    return {"default": rows}


def _tell_facts(rng: random.Random, facts: list[Fact]) -> list:
    facts = facts[:]
    rng.shuffle(facts)
    if len(facts) >= 2 and rng.random() < 0.6:
        return [("coord", facts[0], facts[1])] + [("fact", f) for f in facts[2:]]
    return [("fact", f) for f in facts]


def stsb(rng: random.Random, world: World, langs: list[Language], n: int) -> dict:
    lang, rows = langs[0], []
    for i in range(n):
        p = rng.choice(world.people)
        pool = {a: rng.choice(world.values(a)) for a in ATTRIBUTES}
        first = {a: pool[a] for a in rng.sample(ATTRIBUTES, rng.randint(1, 3))}
        if rng.random() < 0.1:  # about someone else entirely
            q = rng.choice([x for x in world.people if x != p])
            second, who = {a: rng.choice(world.values(a)) for a in rng.sample(ATTRIBUTES, rng.randint(1, 3))}, q
        else:
            second, who = {}, p
            for a in rng.sample(ATTRIBUTES, rng.randint(1, 3)):
                keep = a in first and rng.random() < 0.8
                second[a] = pool[a] if keep or a not in first else world.other_value(rng, a, pool[a])
        same = sum(1 for a, v in second.items() if who == p and first.get(a) == v)
        union = len(set(first.items()) | set(second.items())) if who == p else len(first) + len(second)
        rows.append({"sentence1": text(lang, _tell_facts(rng, [Fact((p,), a, v) for a, v in first.items()])),
                     "sentence2": text(lang, _tell_facts(rng, [Fact((who,), a, v) for a, v in second.items()])),
                     "label": round(5.0 * same / union, 3), "idx": i})
    return {"default": rows}


def qqp(rng: random.Random, world: World, langs: list[Language], n: int) -> dict:
    lang, rows = langs[0], []
    for i in range(n):
        p, a, variant = rng.choice(world.people), rng.choice(ATTRIBUTES), rng.randrange(2)
        if rng.random() < 0.4:
            other, label = ("question", p, a, 1 - variant), 1
        elif rng.random() < 0.5:
            other, label = ("question", rng.choice([q for q in world.people if q != p]), a, rng.randrange(2)), 0
        else:
            other, label = ("question", p, rng.choice([b for b in ATTRIBUTES if b != a]), rng.randrange(2)), 0
        rows.append({"question1": text(lang, [("question", p, a, variant)]), "question2": text(lang, [other]),
                     "label": label, "idx": i})
    return {"default": rows}


def qnli(rng: random.Random, world: World, langs: list[Language], n: int) -> dict:
    lang, rows = langs[0], []
    for i in range(n):
        scene = sample_scene(rng, world, 2, (2, 3))
        p, q = tuple(scene)
        a = rng.choice(sorted(scene[p]))
        entailed = rng.random() < 0.5
        if entailed:
            rest = [b for b in scene[p] if b != a]
            f = Fact((p,), a, scene[p][a])
            spec = ("coord", f, Fact((p,), rest[0], scene[p][rest[0]])) if rest and rng.random() < 0.4 else ("fact", f)
        elif rng.random() < 0.5:
            b = rng.choice([b for b in scene[p] if b != a])
            spec = ("fact", Fact((p,), b, scene[p][b]))
        else:
            spec = ("fact", Fact((q,), a, scene[q].get(a, scene[p][a])))
        rows.append({"question": text(lang, [("question", p, a, rng.randrange(2))]), "sentence": text(lang, [spec]),
                     "label": 0 if entailed else 1, "idx": i})
    return {"default": rows}


# ----------------------------------------------------------------------------- inference


def sample_nli(rng: random.Random, world: World, genre: str, two_class: bool = False,
               negation: bool = True) -> tuple[list, list, int]:
    """(premise specs, hypothesis specs, label) for one of the genres "single" (one person),
    "simple" (two), "coord" (one or two, clauses coordinated), "plural" (two sharing a value).

    Labels are drawn uniformly; ``two_class`` (RTE) draws entailment half the time, so that
    entailment and not-entailment are balanced as in the real RTE. ``negation=False``: no negated
    fact in premise or hypothesis (entailment and contradiction are then a same/other value)."""
    if genre == "plural":
        scene = sample_scene(rng, world, 2, (1, 2))
        p, q = tuple(scene)
        a = rng.choice(sorted(scene[p]))
        scene[q][a] = scene[p][a]
        premise = tell_scene(rng, scene, coordinate=0.0, plural=1.0)
    else:
        people = {"single": 1, "simple": 2}.get(genre) or rng.choice((1, 2))
        scene = sample_scene(rng, world, people, (1, 3) if genre == "coord" else (1, 2))
        premise = tell_scene(rng, scene, coordinate=0.8 if genre == "coord" else 0.0)
    known = [(p, a, v) for p, av in scene.items() for a, v in av.items()]
    denied: list = []
    if negation and rng.random() < 0.3:  # a negated fact in the premise
        p = rng.choice(tuple(scene))
        free = [a for a in ATTRIBUTES if a not in scene[p]]
        if free:
            a = rng.choice(free)
            denied.append((p, a, rng.choice(world.values(a))))
            premise.insert(rng.randrange(len(premise) + 1), ("fact", Fact((p,), a, denied[0][2], True)))
    if two_class:
        label = ENTAILMENT if rng.random() < 0.5 else rng.choice((NEUTRAL, CONTRADICTION))
    else:
        label = rng.choice((ENTAILMENT, NEUTRAL, CONTRADICTION))
    if label != NEUTRAL:
        use_denied = denied and rng.random() < 0.3
        p, a, v = rng.choice(denied if use_denied else known)
        flip = negation and rng.random() < 0.3
        if use_denied:  # premise: p does not have v
            hyp = Fact((p,), a, v, negated=True) if label == ENTAILMENT else Fact((p,), a, v)
        elif label == ENTAILMENT:
            hyp = Fact((p,), a, world.other_value(rng, a, v), True) if flip else Fact((p,), a, v)
        else:
            hyp = Fact((p,), a, v, True) if flip else Fact((p,), a, world.other_value(rng, a, v))
    else:
        stated = {(p, a) for p, a, _ in known + denied}
        present = [(p, a) for p in scene for a in ATTRIBUTES if (p, a) not in stated]
        if present and rng.random() < 0.6:
            p, a = rng.choice(present)
        else:
            p = rng.choice([x for x in world.people if x not in scene])
            a = rng.choice(ATTRIBUTES)
        seen = [v for _, b, v in known if b == a]  # reuse a premise value: overlap does not decide
        v = rng.choice(seen) if seen and rng.random() < 0.6 else rng.choice(world.values(a))
        hyp = Fact((p,), a, v, negation and rng.random() < 0.2)
    return premise, [("fact", hyp)], label


def _nli_rows(rng, world, lang, n, genres, columns=("premise", "hypothesis"), two_class=False, idx=True):
    rows = []
    for i in range(n):
        premise, hyp, label = sample_nli(rng, world, rng.choice(genres), two_class)
        if two_class:
            label = 0 if label == ENTAILMENT else 1
        row = {columns[0]: text(lang, premise), columns[1]: text(lang, hyp), "label": label}
        if idx:
            row["idx"] = i
        rows.append(row)
    return rows


MATCHED_GENRES, MISMATCHED_GENRES = ("simple", "coord"), ("plural",)


def mnli(rng, world, langs, n, genres=MATCHED_GENRES) -> dict:
    return {"default": _nli_rows(rng, world, langs[0], n, genres)}


def rte(rng, world, langs, n) -> dict:
    return {"default": _nli_rows(rng, world, langs[0], n, MATCHED_GENRES + MISMATCHED_GENRES,
                                 ("sentence1", "sentence2"), two_class=True)}


XNLI_GENRES = ("single", "coord")


def xnli(rng, world, langs, n) -> dict:
    """Parallel: the same premise/hypothesis pairs realised in every language of ``langs``.

    Easier than the MNLI analogue (premises about one person, or coordinated clauses; no
    negation, which every language marks differently): transfer to languages never seen in
    fine-tuning must have something to carry at smoke scale. With the MNLI genres a 4x128 teacher
    stays near chance even in language 0 (train loss 1.08 after 3 epochs of 3,000 pairs)."""
    samples = [sample_nli(rng, world, rng.choice(XNLI_GENRES), negation=False) for _ in range(n)]
    return {lang.code: [{"premise": text(lang, p), "hypothesis": text(lang, h), "label": y} for p, h, y in samples]
            for lang in langs}


# ----------------------------------------------------------------------------- extractive QA


def sample_qa(rng: random.Random, world: World, unanswerable: float) -> tuple[list, tuple, str | None]:
    """(context specs, question spec, answer tag or None when unanswerable)."""
    scene = sample_scene(rng, world, rng.choice((2, 3)), (1, 3))
    specs = tell_scene(rng, scene, coordinate=0.4, plural=0.3)
    tag_of: dict = {}
    for s in specs:
        for f in s[1:] if s[0] == "coord" else [s[1]]:
            for person in f.subjects:
                tag_of[(person, f.attr)] = f.tag()
    if rng.random() < 0.3:
        specs.insert(rng.randrange(len(specs) + 1), random_opinion(rng))
    denied: set = set()
    if rng.random() < 0.3:  # a denial: a plausible distractor for an unanswerable question
        p = rng.choice(tuple(scene))
        free = [a for a in ATTRIBUTES if a not in scene[p]]
        if free:
            a = rng.choice(free)
            denied.add((p, a))
            specs.insert(rng.randrange(len(specs) + 1), ("fact", Fact((p,), a, rng.choice(world.values(a)), True)))
    if rng.random() < unanswerable:
        missing = [(p, a) for p in scene for a in ATTRIBUTES if (p, a) not in tag_of
                   and any((q, a) in tag_of for q in scene)]
        if missing and rng.random() < 0.7:
            p, a = rng.choice(missing)
        else:
            p = rng.choice([x for x in world.people if x not in scene])
            a = rng.choice(sorted({b for _, b in tag_of}))
        return specs, ("question", p, a, rng.randrange(2)), None
    p, a = rng.choice(sorted(tag_of))
    # at least two other values of the asked type, told of other people: the answer is the first
    # of its type in about a third of the contexts, so knowing the type is not reading
    rivals = {tag_of[(q, a)] for q in scene if (q, a) in tag_of} - {tag_of[(p, a)]}  # one per value mention
    free = [q for q in scene if q != p and (q, a) not in tag_of and (q, a) not in denied]
    strangers = [q for q in world.people if q not in scene]
    for q in (free + rng.sample(strangers, 2))[: max(0, 2 - len(rivals))]:
        specs.insert(rng.randrange(len(specs) + 1), ("fact", Fact((q,), a, world.other_value(rng, a, scene[p][a]))))
    return specs, ("question", p, a, rng.randrange(2)), tag_of[(p, a)]


def _answers(context_lang: Language, specs: list, tag) -> tuple[str, dict]:
    context, spans = realise(context_lang, specs)
    if tag is None:
        return context, {"text": [], "answer_start": []}
    start, surface = spans[tag]
    assert context[start:start + len(surface)] == surface
    return context, {"text": [surface], "answer_start": [start]}


def _squad_rows(rng, world, lang, n, unanswerable, task) -> list:
    rows = []
    for i in range(n):
        specs, q, tag = sample_qa(rng, world, unanswerable)
        context, answers = _answers(lang, specs, tag)
        rows.append({"id": example_id(task, rng.random(), i), "title": f"scene {i}", "context": context,
                     "question": text(lang, [q]), "answers": answers})
    return rows


def squad_v2(rng, world, langs, n) -> dict:
    return {"default": _squad_rows(rng, world, langs[0], n, 0.5, "squad_v2")}


def squad(rng, world, langs, n) -> dict:
    return {"default": _squad_rows(rng, world, langs[0], n, 0.0, "squad")}


def mlqa(rng, world, langs, n) -> dict:
    """Every (context language, question language) pair over the same parallel examples."""
    samples = [sample_qa(rng, world, 0.0) for _ in range(n)]
    ids = [example_id("mlqa", rng.random(), i) for i in range(n)]
    out: dict = {}
    for c in langs:
        contexts = [_answers(c, specs, tag) for specs, _, tag in samples]
        for q in langs:
            out[f"{c.code}.{q.code}"] = [
                {"context": ctx, "question": text(q, [question]), "answers": ans, "id": i}
                for (ctx, ans), (_, question, _), i in zip(contexts, samples, ids)]
    return out


GENERATORS = {"cola": cola, "sst2": sst2, "mrpc": mrpc, "stsb": stsb, "qqp": qqp, "mnli": mnli, "qnli": qnli,
              "rte": rte, "squad_v2": squad_v2, "squad": squad, "xnli": xnli, "mlqa": mlqa}
