"""The English pretraining corpus built from the imported real tasks: no evaluation text in it,
deterministic, the counts it reports are the file's, and ``prepare_corpus`` packs it."""

import argparse
import re
from pathlib import Path

import datasets
import pytest

from minilm_repro.data import layout
from minilm_repro.data.cli import register
from minilm_repro.data.importing import import_task
from minilm_repro.data.realcorpus import (
    build_real_corpus,
    evaluation_texts,
    read_corpus_documents,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = next((p / "shared" for p in REPO.parents if (p / "shared" / "realdata").is_dir()), REPO.parent / "shared")
REALDATA = SHARED / "realdata"
TEACHER = SHARED / "models" / "all-MiniLM-L6-v2"
pytestmark = pytest.mark.skipif(not REALDATA.is_dir(), reason=f"shared real-data samples not found at {REALDATA}")
datasets.disable_progress_bars()


@pytest.fixture(scope="module")
def tasks_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tasks")
    for task, src in (("glue/qnli", "glue/QNLI"), ("glue/rte", "glue/RTE"), ("glue/mrpc", "glue/MRPC"),
                      ("glue/stsb", "glue/STS-B"), ("squad_v2", "squad2")):
        import_task(task, REALDATA / src, root, split_dev=0.3)
    import_task("glue/sst2", REALDATA / "glue/SST-2", root)
    return root


@pytest.fixture(scope="module")
def corpus(tasks_root, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("corpus")
    return out, build_real_corpus(tasks_root, out)


def _plain(text: str) -> str:
    return " ".join(text.split()).lower()


def test_no_evaluation_text_in_the_corpus(tasks_root, corpus):
    out, record = corpus
    # every validation text of >= 3 words, gathered here without the module's helpers
    wanted = set()
    for task, cols in (("qnli", ("question", "sentence")), ("rte", ("sentence1", "sentence2")),
                       ("mrpc", ("sentence1", "sentence2")), ("stsb", ("sentence1", "sentence2")),
                       ("sst2", ("sentence",)), ("squad_v2", ("context", "question"))):
        ds = layout.load_split(tasks_root, task, "default", "validation")
        wanted.update(t for c in cols for t in map(_plain, ds[c]) if len(t.split()) >= 3)
    assert wanted <= set(evaluation_texts(tasks_root))
    docs = ["\n".join(_plain(s) for s in d).replace("\n", " ") for d in read_corpus_documents(out / "en.txt")]
    whole = "\n".join(docs)
    found = [t for t in wanted if t in whole]
    assert not found, f"{len(found)} validation texts in the corpus, e.g. {found[0][:100]!r}"
    # ... and the check has teeth: without the exclusion, hundreds of them would be there
    # (QNLI dev sentences come from the SQuAD dev paragraphs the corpus draws on)
    assert record["exclusion"]["texts_found_in_corpus"] > 100
    assert record["words_before_exclusion"] > record["words"]


def test_train_text_is_in_the_corpus(tasks_root, corpus):
    out, record = corpus
    whole = _plain((out / "en.txt").read_text())
    train = layout.load_split(tasks_root, "squad_v2", "default", "train")
    contexts = list(dict.fromkeys(train["context"]))
    first_sentences = [re.split(r"(?<=[.!?])\s", c)[0] for c in contexts]
    present = sum(_plain(s) in whole for s in first_sentences)
    assert present / len(first_sentences) > 0.6
    assert set(record["by_source"]) == {"squad_v2", "qnli", "sst2", "rte", "mrpc", "stsb"}


def test_reported_counts_are_the_files(corpus):
    out, record = corpus
    docs = read_corpus_documents(out / "en.txt")
    assert record["documents"] == len(docs)
    assert record["words"] == sum(len(s.split()) for d in docs for s in d)
    assert record["words"] == sum(v["words"] for v in record["by_source"].values())
    assert record["words"] > 200_000


def test_deterministic(tasks_root, corpus, tmp_path):
    out, record = corpus
    again = build_real_corpus(tasks_root, tmp_path / "again")
    assert (tmp_path / "again" / "en.txt").read_bytes() == (out / "en.txt").read_bytes()
    assert again["sha256"] == record["sha256"]


def test_word_budget(tasks_root, corpus, tmp_path):
    out, _ = corpus
    small = build_real_corpus(tasks_root, tmp_path / "small", max_words=50_000)
    assert 50_000 <= small["words"] < 50_000 + 2_000
    # the budget keeps a prefix of the same stable order
    assert (out / "en.txt").read_text().startswith((tmp_path / "small" / "en.txt").read_text().rstrip("\n"))


@pytest.mark.skipif(not TEACHER.is_dir(), reason="teacher model not found")
def test_prepare_corpus_packs_it(corpus, tmp_path):
    from minilm_repro.data.corpus import CorpusConfig, corpus_stats, prepare_corpus
    from minilm_repro.jobs.model_io import load_tokenizer

    out, record = corpus
    stats = prepare_corpus([out / "en.txt"], load_tokenizer(TEACHER), CorpusConfig(max_seq_len=128), tmp_path / "blocks")
    assert stats == {**stats, **corpus_stats(tmp_path / "blocks")}
    # ~1.3 WordPiece tokens a word; blocks mostly full because short texts are gathered into documents
    assert 1.1 < stats["tokens"] / record["words"] < 1.6
    assert stats["mean_block_tokens"] > 90


def test_cli_build_corpus_prints_words_and_sources(tasks_root, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="minilm-repro")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tasks", "build-corpus", "--tasks-root", str(tasks_root), "--out", str(tmp_path),
                              "--max-words", "20000"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    words = int(re.search(r"en\.txt: (\d+) words", out).group(1))
    assert words == sum(len(line.split()) for line in (tmp_path / "en.txt").read_text().splitlines())
    assert "  squad_v2: " in out and "excluded: " in out
    args = parser.parse_args(["tasks", "build-corpus", "--tasks-root", str(tmp_path / "none"), "--out", str(tmp_path)])
    assert args.func(args) == 2
    assert "does not exist; import the tasks first" in capsys.readouterr().err
