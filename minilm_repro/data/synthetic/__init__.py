"""The embedded benchmark: a seeded synthetic multilingual world, its corpora and task analogues.

``generate_benchmark(out, SyntheticConfig(...))`` writes::

    <out>/corpus/mono/l0.txt               pretraining text, language 0 only
    <out>/corpus/multi/<lang>.txt          every language, geometrically fewer documents each
    <out>/tasks/<task>/<config>/<split>.parquet   canonical layout, real hub features
    <out>/benchmark.json                   config, language profiles, counts per split and corpus

The same seed gives byte-identical files. See :mod:`.tasks` for what makes each task learnable
and not a bag of words, :mod:`.lexicon` for the languages.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

from minilm_repro.data.synthetic.corpus import write_corpus
from minilm_repro.data.synthetic.lexicon import make_languages
from minilm_repro.data.synthetic.scenes import World
from minilm_repro.data.synthetic.tasks import GENERATORS, MISMATCHED_GENRES, mnli

# examples per split at scale 1 (GLUE test splits are unlabelled, as on the hub)
DEFAULT_SIZES: dict[str, dict[str, int]] = {
    "cola": {"train": 2000, "validation": 400, "test": 200},
    "sst2": {"train": 2000, "validation": 400, "test": 200},
    "mrpc": {"train": 1500, "validation": 400, "test": 200},
    "stsb": {"train": 1500, "validation": 400, "test": 200},
    "qqp": {"train": 2000, "validation": 400, "test": 200},
    "mnli": {"train": 3000, "validation_matched": 400, "validation_mismatched": 400,
             "test_matched": 200, "test_mismatched": 200},
    "qnli": {"train": 2000, "validation": 400, "test": 200},
    "rte": {"train": 1000, "validation": 300, "test": 200},
    "squad_v2": {"train": 2000, "validation": 400},
    "squad": {"train": 2000, "validation": 400},
    "xnli": {"train": 3000, "validation": 300, "test": 300},
    "mlqa": {"validation": 150, "test": 300},
}
HIDDEN_LABEL_SPLITS = {"test", "test_matched", "test_mismatched"}  # GLUE only


@dataclasses.dataclass
class SyntheticConfig:
    """What to generate. ``scale`` multiplies every task size; ``sizes`` overrides single splits
    (``{"mnli": {"train": 5000}}``); ``multi_decay``: each further language gets that fraction of
    the previous one's documents; ``bilingual``: the share of the documents of each language but
    language 0 that are told in it and re-told in language 0, or the reverse (see :mod:`.corpus`);
    ``code_switch``: in half of the other multilingual documents each word (but the particles only
    some languages have) is said in a partner language (language 0 for the others, any other
    language for language 0) with this probability."""

    seed: int = 13
    languages: int = 4
    mono_documents: int = 8000
    multi_documents: int = 8000
    multi_decay: float = 0.5
    bilingual: float = 0.5
    code_switch: float = 0.5
    scale: float = 1.0
    sizes: dict = dataclasses.field(default_factory=dict)
    tasks: list = dataclasses.field(default_factory=lambda: list(GENERATORS))

    @classmethod
    def from_dict(cls, d: dict) -> "SyntheticConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"benchmark config: unknown key(s) {unknown}; known keys: {sorted(known)}")
        cfg = cls(**d)
        bad = sorted(set(cfg.tasks) - set(GENERATORS))
        if bad:
            raise ValueError(f"benchmark config: unknown task(s) {bad} in 'tasks'; known: {sorted(GENERATORS)}")
        for task, splits in cfg.sizes.items():
            if task not in DEFAULT_SIZES or not set(splits) <= set(DEFAULT_SIZES[task]):
                raise ValueError(f"benchmark config: sizes.{task} {sorted(splits)}: known tasks and splits are "
                                 f"{ {t: sorted(s) for t, s in DEFAULT_SIZES.items()} }")
        if cfg.languages < 2 or not 0 < cfg.multi_decay <= 1 or cfg.scale <= 0 or not 0 <= cfg.bilingual <= 1 \
                or not 0 <= cfg.code_switch <= 1:
            raise ValueError("benchmark config: need languages >= 2, 0 < multi_decay <= 1, scale > 0 and "
                             "0 <= bilingual <= 1 and 0 <= code_switch <= 1")
        return cfg

    def size(self, task: str, split: str) -> int:
        n = self.sizes.get(task, {}).get(split, round(DEFAULT_SIZES[task][split] * self.scale))
        return max(int(n), 1)


def _rows_for(task: str, split: str, cfg: SyntheticConfig, world: World, langs) -> dict:
    rng = random.Random(f"{cfg.seed}/{task}/{split}")
    n = cfg.size(task, split)
    if task == "xnli" and split == "train":
        return GENERATORS[task](rng, world, langs[:1], n)  # zero-shot: language 0 only
    if task == "mnli" and split.endswith("mismatched"):
        return mnli(rng, world, langs, n, genres=MISMATCHED_GENRES)
    return GENERATORS[task](rng, world, langs, n)


def _hide_labels(rows: list[dict]) -> list[dict]:
    return [{**r, "label": -1.0 if isinstance(r["label"], float) else -1} for r in rows]


def generate_benchmark(out_dir: str | Path, cfg: SyntheticConfig) -> dict:
    """Write corpora, task splits and ``benchmark.json`` under ``out_dir``; returns the manifest."""
    import datasets

    from minilm_repro.data.features import GLUE_TASKS
    from minilm_repro.data.layout import write_split

    out = Path(out_dir)
    world = World.build(cfg.seed)
    langs = make_languages(cfg.languages, cfg.seed)
    manifest = {"seed": cfg.seed, "config": dataclasses.asdict(cfg), "languages": [l.code for l in langs],
                "profiles": {l.code: l.profile() for l in langs}, "corpus": {"mono": {}, "multi": {}}, "counts": {}}
    rng = random.Random(f"{cfg.seed}/corpus/mono")
    manifest["corpus"]["mono"]["l0"] = write_corpus(out / "corpus/mono/l0.txt", rng, world, langs[0], cfg.mono_documents)
    for i, lang in enumerate(langs):
        docs = max(int(cfg.multi_documents * cfg.multi_decay ** i), 1)
        rng = random.Random(f"{cfg.seed}/corpus/multi/{lang.code}")
        partners = tuple(langs[1:]) if i == 0 else (langs[0],)
        manifest["corpus"]["multi"][lang.code] = write_corpus(
            out / f"corpus/multi/{lang.code}.txt", rng, world, lang, docs, pivot=langs[0],
            bilingual=cfg.bilingual if i else 0.0, code_switch=cfg.code_switch, partners=partners,
            switch_rng=random.Random(f"{cfg.seed}/corpus/switch/{lang.code}"))
    datasets.disable_progress_bars()
    for task in cfg.tasks:
        counts = manifest["counts"].setdefault(task, {})
        for split in DEFAULT_SIZES[task]:
            for config, rows in _rows_for(task, split, cfg, world, langs).items():
                if task in GLUE_TASKS and split in HIDDEN_LABEL_SPLITS:
                    rows = _hide_labels(rows)
                write_split(datasets.Dataset.from_list(rows), out / "tasks", task, config, split)
                counts.setdefault(config, {})[split] = len(rows)
    (out / "benchmark.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest

