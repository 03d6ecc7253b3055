"""The embedded benchmark: deterministic, in the hub's features, correct by construction."""

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from minilm_repro.data import layout
from minilm_repro.data.features import FEATURES, GLUE_TASKS, SPLITS
from minilm_repro.data.synthetic import (
    DEFAULT_SIZES,
    SyntheticConfig,
    generate_benchmark,
    grammar,
)
from minilm_repro.data.synthetic.grammar import Fact
from minilm_repro.data.synthetic.lexicon import make_languages

SMALL = dict(seed=5, languages=4, mono_documents=300, multi_documents=400, scale=0.08)


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    generate_benchmark(out, SyntheticConfig.from_dict(SMALL))
    return out


def _digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_data(bench, tmp_path):
    generate_benchmark(tmp_path / "again", SyntheticConfig.from_dict(SMALL))
    assert _digest(tmp_path / "again") == _digest(bench)
    generate_benchmark(tmp_path / "other", SyntheticConfig.from_dict({**SMALL, "seed": 6, "tasks": ["sst2"]}))
    assert (tmp_path / "other/corpus/mono/l0.txt").read_text() != (bench / "corpus/mono/l0.txt").read_text()


def test_every_split_has_the_hub_features_and_layout(bench):
    manifest = json.loads((bench / "benchmark.json").read_text())
    assert set(manifest["counts"]) == set(DEFAULT_SIZES)
    for task, configs in manifest["counts"].items():
        for config, splits in configs.items():
            assert set(splits) <= set(SPLITS[task])
            for split, n in splits.items():
                ds = layout.load_split(bench / "tasks", task, config, split)
                assert ds.features == FEATURES[task] and len(ds) == n > 0
    # zero-shot protocol: XNLI trains in language 0 only; MLQA has every context/question pair
    assert manifest["counts"]["xnli"]["l0"].keys() == {"train", "validation", "test"}
    assert all("train" not in manifest["counts"]["xnli"][l] for l in ("l1", "l2", "l3"))
    assert len(manifest["counts"]["mlqa"]) == 16


def test_glue_test_labels_are_hidden_as_on_the_hub(bench):
    for task in GLUE_TASKS:
        split = "test_matched" if task == "mnli" else "test"
        labels = set(layout.load_split(bench / "tasks", task, "default", split)["label"])
        assert labels == {-1}, task


def test_every_answer_is_its_span_of_the_context(bench):
    checked = unanswerable = 0
    for task, config, split in [("squad_v2", "default", "train"), ("squad_v2", "default", "validation"),
                                ("squad", "default", "train"),
                                *[("mlqa", f"l{c}.l{q}", "test") for c in range(4) for q in range(4)]]:
        ds = layout.load_split(bench / "tasks", task, config, split)
        assert len(set(ds["id"])) == len(ds)
        for row in ds:
            a = row["answers"]
            if not a["text"]:
                unanswerable += 1
                assert task == "squad_v2"
            for text, start in zip(a["text"], a["answer_start"]):
                assert row["context"][start:start + len(text)] == text
                checked += 1
    assert checked > 500 and unanswerable > 0
    v2 = layout.load_split(bench / "tasks", "squad_v2", "default", "train")
    share = sum(not a["text"] for a in v2["answers"]) / len(v2)
    assert 0.35 < share < 0.65, f"SQuAD 2.0 analogue: {share:.0%} unanswerable"


def test_parallel_evaluation_sets_share_labels_and_ids_across_languages(bench):
    xnli = {l: layout.load_split(bench / "tasks", "xnli", l, "test") for l in ("l0", "l1", "l2", "l3")}
    assert len({tuple(d["label"]) for d in xnli.values()}) == 1
    assert len({tuple(d["premise"]) for d in xnli.values()}) == 4  # but different text
    ids = {layout.load_split(bench / "tasks", "mlqa", c, "validation")["id"].__repr__() for c in ("l0.l0", "l1.l2")}
    assert len(ids) == 1


def test_labels_are_balanced_enough_to_learn(bench):
    for task in ("sst2", "qnli", "mnli", "mrpc", "qqp", "cola", "rte"):
        labels = Counter(layout.load_split(bench / "tasks", task, "default", "train")["label"])
        assert len(labels) >= 2 and max(labels.values()) / sum(labels.values()) < 0.8, (task, labels)
    scores = layout.load_split(bench / "tasks", "stsb", "default", "train")["label"]
    assert min(scores) == 0.0 and max(scores) == 5.0 and len(set(scores)) > 4


def test_multilingual_corpus_sizes_decay_per_language(bench):
    corpus = json.loads((bench / "benchmark.json").read_text())["corpus"]
    words = [corpus["multi"][f"l{i}"]["words"] for i in range(4)]
    assert words == sorted(words, reverse=True) and words[0] > 4 * words[3]
    text = (bench / "corpus/multi/l2.txt").read_text()
    assert "\n\n" in text  # blank line between documents
    assert corpus["mono"]["l0"]["lines"] == len([l for l in (bench / "corpus/mono/l0.txt").read_text().splitlines() if l])


def test_languages_differ_in_words_order_and_agreement():
    l0, l1, l2, l3 = make_languages(4, seed=5)
    fact = Fact(("Ana",), "city", "Dorvel")
    plural = Fact(("Ana", "Bo"), "city", "Dorvel")
    assert grammar.sentence(grammar.clause(l0, fact)) == "Ana lives in Dorvel."
    assert grammar.sentence(grammar.clause(l0, plural)) == "Ana and Bo live in Dorvel."
    assert grammar.sentence(grammar.clause(l0, Fact(("Ana",), "city", "Dorvel", True))) == "Ana does not live in Dorvel."
    orders = set()
    for lang in (l1, l2, l3):
        toks = [t for t, _ in grammar.clause(lang, fact) if t]
        verb = lang.word("live") + lang.verb_suffix[0]
        orders.add((toks.index("Ana"), toks.index(verb), toks.index("Dorvel")))
        assert lang.word("live") + lang.verb_suffix[1] in [t for t, _ in grammar.clause(lang, plural)]
    assert len(orders) == 3  # three different constituent orders
    assert len({l.word("teacher") for l in (l0, l1, l2, l3)}) == 4


def test_bad_config_names_the_key():
    with pytest.raises(ValueError, match="unknown key.*'langauges'"):
        SyntheticConfig.from_dict({"langauges": 4})
    with pytest.raises(ValueError, match="unknown task.*'glue'"):
        SyntheticConfig.from_dict({"tasks": ["glue"]})
    with pytest.raises(ValueError, match="sizes.mnli"):
        SyntheticConfig.from_dict({"sizes": {"mnli": {"validation": 10}}})


def test_qa_contexts_hold_rival_values_of_the_asked_type(bench):
    """Knowing the answer's type is not enough: every answerable context names at least two other values of it."""
    from minilm_repro.data.synthetic.lexicon import ATTRIBUTE_VALUES, cities

    types = [set(cities(SMALL["seed"])), *map(set, ATTRIBUTE_VALUES.values())]
    first_is_answer = answerable = 0
    for task in ("squad", "squad_v2"):
        for row in layout.load_split(bench / "tasks", task, "default", "train"):
            if not row["answers"]["text"]:
                continue
            answer, start = row["answers"]["text"][0], row["answers"]["answer_start"][0]
            kind = next(t for t in types if answer in t)
            words = [w.strip(".?") for w in row["context"].split()]
            same_type = [i for i, w in enumerate(words) if w in kind]
            assert len(same_type) >= 3, row
            answerable += 1
            first_is_answer += len(" ".join(words[: same_type[0]])) + (same_type[0] > 0) == start
    assert first_is_answer / answerable < 0.45


def test_corpus_documents_come_back_to_their_facts_and_stay_true():
    """The recap restates told facts, denies only other values, and answers its questions truly."""
    import random

    from minilm_repro.data.synthetic.corpus import document_specs
    from minilm_repro.data.synthetic.scenes import World

    world, rng = World.build(5), random.Random(0)
    kinds = Counter()
    for _ in range(300):
        telling, back = document_specs(rng, world)
        told = {}
        for s in telling:
            for f in (s[1:] if s[0] == "coord" else [s[1]] if s[0] == "fact" else []):
                for p in f.subjects:
                    if not f.negated:
                        told[(p, f.attr)] = f.value
        assert back
        for i, s in enumerate(back):
            facts = s[1:] if s[0] == "coord" else [s[1]] if s[0] == "fact" else []
            for f in facts:
                (p,) = f.subjects
                assert (p, f.attr) in told  # about a told fact, never a new one
                assert (told[(p, f.attr)] == f.value) != f.negated  # true: same value, or another value denied
                kinds["denial" if f.negated else "restatement"] += 1
            if s[0] == "question":
                answer = back[i + 1][1]
                assert (answer.subjects, answer.attr, answer.negated) == ((s[1],), s[2], False)
                kinds["question"] += 1
    assert min(kinds.values()) > 50, kinds


def test_bilingual_documents_tell_a_scene_in_two_languages(tmp_path):
    """A bilingual document tells its scene in one language and re-tells it in the pivot (either way round)."""
    import random

    from minilm_repro.data.synthetic.corpus import write_corpus
    from minilm_repro.data.synthetic.scenes import World

    l0, l1 = make_languages(2, seed=5)[:2]
    vocab = {lang.code: {w for w in lang.words.values() if w} for lang in (l0, l1)}

    def language(line: str) -> str:
        words = {w.strip(".?").lower() for w in line.split()}
        hits = {code: len(words & v) for code, v in vocab.items()}
        return max(hits, key=hits.get)

    stats = write_corpus(tmp_path / "l1.txt", random.Random(1), World.build(5), l1, 200, pivot=l0, bilingual=0.5)
    docs = [d.splitlines() for d in (tmp_path / "l1.txt").read_text().split("\n\n")]
    mixed = [d for d in docs if len({language(line) for line in d}) == 2]
    assert len(docs) == 200 and 70 < stats["bilingual"] < 130 and len(mixed) == stats["bilingual"]
    firsts = Counter(language(d[0]) for d in mixed)
    assert firsts["l0"] > 20 and firsts["l1"] > 20  # both directions
    names = set(World.build(5).people)
    for d in mixed:  # the same people in both halves
        switch = next(i for i, line in enumerate(d) if language(line) != language(d[0]))
        who = [{w.strip(".?") for line in half for w in line.split()} & names for half in (d[:switch], d[switch:])]
        assert who[0] == who[1]
    with pytest.raises(ValueError, match="pivot"):
        write_corpus(tmp_path / "x.txt", random.Random(1), World.build(5), l1, 2, bilingual=0.5)


def test_code_switched_documents_keep_grammar_and_switch_words(tmp_path):
    """Code switching says words in the partner language, one for one: word order, agreement
    suffixes and the scenes stay those of the document's language (the scenes do not depend on
    the switching), and the particles one language lacks are never switched."""
    import random

    from minilm_repro.data.synthetic.corpus import write_corpus
    from minilm_repro.data.synthetic.lexicon import SWITCHABLE
    from minilm_repro.data.synthetic.scenes import World

    l0, l1 = make_languages(2, seed=5)[:2]
    world = World.build(5)
    plain = write_corpus(tmp_path / "plain.txt", random.Random(1), world, l1, 300)
    mixed = write_corpus(tmp_path / "mixed.txt", random.Random(1), world, l1, 300, code_switch=0.5, partners=(l0,),
                         switch_rng=random.Random(2))
    assert plain["documents"] == mixed["documents"] and plain["lines"] == mixed["lines"]
    assert "qpart" not in SWITCHABLE and "neg2" not in SWITCHABLE
    l0_words = {l0.word(c) for c in SWITCHABLE} | {"has", "an"}
    suffixes = ("", "a", "o") + tuple(l1.verb_suffix)  # agreement on verbs, gender on adjectives
    docs_plain = (tmp_path / "plain.txt").read_text().split("\n\n")
    docs_mixed = (tmp_path / "mixed.txt").read_text().split("\n\n")
    switched = switched_docs = 0
    for a, b in zip(docs_plain, docs_mixed):
        changed = 0
        for line_a, line_b in zip(a.splitlines(), b.splitlines()):
            wa, wb = line_a.strip(".?").split(), line_b.strip(".?").split()
            assert len(wa) == len(wb)  # one word for one word, in the same places
            for x, y in zip(wa, wb):
                if x != y:
                    stem = y.lower()
                    assert any(stem.endswith(s) and stem[:len(stem) - len(s)] in l0_words for s in suffixes), (x, y)
                    changed += 1
        switched += changed
        switched_docs += changed > 0
    assert 0.35 * len(docs_mixed) < switched_docs < 0.65 * len(docs_mixed)  # half of the documents switch
    words = sum(len(line.split()) for d in docs_mixed for line in d.splitlines())
    assert 0.1 * words < switched < 0.4 * words
    with pytest.raises(ValueError, match="partner"):
        write_corpus(tmp_path / "x.txt", random.Random(1), world, l1, 2, code_switch=0.5)
