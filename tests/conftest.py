import json
import os
import random
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# tests never touch the hub, and keep the machine's 2 cores for pytest itself
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def job_spec(stage: str, settings: dict, paths: dict, *, tags: dict | None = None, run_name: str = "job",
             profile: str | None = "adhoc", threads: int = 1) -> str:
    """The ``--spec`` JSON of one ``stage`` job, as the planner writes it for a rule."""
    return json.dumps({"id": f"test/{stage}", "stage": stage, "settings": settings, "paths": paths,
                       "run": {"profile": profile, "tags": tags or {}, "run_name": run_name, "threads": threads}})


def job_argv(stage: str, settings: dict, paths: dict, **run) -> list[str]:
    """``python -m minilm_repro <stage> --spec ...``: one job run as a rule runs it (see :func:`job_spec`)."""
    return [sys.executable, "-m", "minilm_repro", stage, "--spec", job_spec(stage, settings, paths, **run)]


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path, monkeypatch):
    """Every test logs to its own SQLite store, never to results/mlflow.db."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")


@pytest.fixture(scope="session")
def torch_threads():
    import torch

    torch.set_num_threads(1)


def write_toy_corpus(path: Path, docs: int = 120, seed: int = 0) -> Path:
    """A small English-like corpus: one sentence per line, blank line between documents."""
    rng = random.Random(seed)
    names = ["anna", "bob", "carl", "dina", "emil", "fay", "gus", "hana"]
    cities = ["paris", "rome", "oslo", "lima", "kyiv"]
    jobs = ["doctor", "baker", "pilot", "farmer"]
    lines = []
    for _ in range(docs):
        for _ in range(rng.randint(2, 5)):
            lines.append(f"{rng.choice(names)} lives in {rng.choice(cities)} and works as a {rng.choice(jobs)} .")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def toy_corpus(tmp_path_factory) -> Path:
    return write_toy_corpus(tmp_path_factory.mktemp("corpus") / "l0.txt")


@pytest.fixture(scope="session")
def wordpiece_dir(tmp_path_factory, toy_corpus) -> Path:
    from minilm_repro.data.tokenizer import TokenizerConfig, train_tokenizer

    out = tmp_path_factory.mktemp("tok") / "wordpiece"
    train_tokenizer([str(toy_corpus)], TokenizerConfig(kind="wordpiece", vocab_size=120, max_position=64), out)
    return out


def save_tiny_teacher(root: Path, wordpiece_dir: Path, corpus_text: Path, max_seq_len: int = 32, name: str = "teacher"):
    """A 3-layer, 64-wide masked-LM BERT teacher (seeded) with its tokenizer in ``root/<name>``, and
    ``corpus_text`` prepared with it in ``root/corpus``; returns the tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from minilm_repro.data.corpus import CorpusConfig, prepare_corpus

    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                     intermediate_size=128, max_position_embeddings=64)
    torch.manual_seed(0)
    BertForMaskedLM(cfg).save_pretrained(root / name)
    tok.save_pretrained(root / name)
    prepare_corpus([corpus_text], tok, CorpusConfig(max_seq_len=max_seq_len), root / "corpus")
    return tok


def write_city_task(tasks: Path, sizes: dict[str, int], seed: int, names=None, cities=None) -> Path:
    """An SST-2-shaped task in the canonical layout: "<name> lives in <city> .", label = the city is
    one of the first two. ``sizes``: {split: rows}."""
    import datasets

    from minilm_repro.data.layout import write_split

    rng = random.Random(seed)
    names = names or ["anna", "bob", "carl", "dina", "emil"]
    cities = cities or ["paris", "rome", "oslo", "lima", "kyiv"]
    for split, n in sizes.items():
        rows = {"sentence": [], "label": [], "idx": []}
        for i in range(n):
            city = rng.choice(cities)
            rows["sentence"].append(f"{rng.choice(names)} lives in {city} .")
            rows["label"].append(int(city in cities[:2]))
            rows["idx"].append(i)
        write_split(datasets.Dataset.from_dict(rows), tasks, "sst2", "default", split)
    return tasks
