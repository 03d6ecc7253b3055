"""Corpus preparation is deterministic, independent of num_proc and shards, and resumes after a kill."""

import hashlib
import json
from pathlib import Path

import pytest
from conftest import write_toy_corpus

from minilm_repro.data import packing
from minilm_repro.data.corpus import CorpusConfig, load_corpus, prepare_corpus

CFG = CorpusConfig(max_seq_len=32, batch_size=10, seed=4, alpha=0.5)  # 10 documents per part


@pytest.fixture
def tok(wordpiece_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(wordpiece_dir)


@pytest.fixture
def texts(tmp_path) -> list[Path]:
    return [write_toy_corpus(tmp_path / "text" / "big.txt", docs=60, seed=1),
            write_toy_corpus(tmp_path / "text" / "small.txt", docs=15, seed=2)]


def _digest(out: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("data-*.arrow"))}


def _count_parts(monkeypatch) -> list[str]:
    written: list[str] = []
    real = packing.write_part

    def counting(path, blocks):
        written.append(f"{path.parent.name}/{path.name}")
        return real(path, blocks)

    monkeypatch.setattr(packing, "write_part", counting)
    return written


def test_killed_run_resumes_from_its_finished_parts(tmp_path, tok, texts, monkeypatch):
    fresh = prepare_corpus(texts, tok, CFG, tmp_path / "fresh")
    work = tmp_path / "work"
    real = packing.write_part
    calls = []

    def dies_on_third_part(path, blocks):
        calls.append(path)
        if len(calls) == 3:  # killed while writing: a half-written file is left behind
            path.with_name(path.name + ".tmp").write_bytes(b"ARROW1 half a part")
            raise KeyboardInterrupt
        return real(path, blocks)

    monkeypatch.setattr(packing, "write_part", dies_on_third_part)
    with pytest.raises(KeyboardInterrupt):
        prepare_corpus(texts, tok, CFG, tmp_path / "out", work_dir=work)
    assert sorted(p.name for p in (work / "big").iterdir()) == [
        "key.json", "part-000000.arrow", "part-000001.arrow", "part-000002.arrow.tmp"]
    assert not (tmp_path / "out").exists()

    written = _count_parts(monkeypatch)
    resumed = prepare_corpus(texts, tok, CFG, tmp_path / "out", work_dir=work)
    # big: 60 documents = 6 parts, 2 kept; small: 15 documents = 2 parts
    assert written == [f"big/part-00000{i}.arrow" for i in range(2, 6)] + ["small/part-000000.arrow", "small/part-000001.arrow"]
    assert _digest(tmp_path / "out") == _digest(tmp_path / "fresh")
    assert resumed == fresh and not work.exists()


def test_changed_text_or_settings_rebuild_the_parts(tmp_path, tok, texts, monkeypatch):
    work = tmp_path / "work"
    prepare_corpus(texts, tok, CFG, tmp_path / "a", work_dir=work, keep_work=True)
    written = _count_parts(monkeypatch)
    prepare_corpus(texts, tok, CFG, tmp_path / "a", work_dir=work, keep_work=True)
    assert written == []  # everything reused; the finished output was replaced
    write_toy_corpus(texts[1], docs=15, seed=3)  # same name, other text
    stats = prepare_corpus(texts, tok, CFG, tmp_path / "a", work_dir=work, keep_work=True)
    assert written == ["small/part-000000.arrow", "small/part-000001.arrow"]
    prepare_corpus(texts, tok, CorpusConfig(max_seq_len=24, batch_size=10, seed=4, alpha=0.5), tmp_path / "b",
                   work_dir=work)
    assert len(written) == 2 + 8
    assert json.loads((tmp_path / "a" / "stats.json").read_text()) == stats


def test_a_stale_output_in_progress_is_not_taken_as_done(tmp_path, tok, texts):
    stale = tmp_path / ".out.tmp"
    stale.mkdir()
    (stale / "data-00000-of-00001.arrow").write_bytes(b"junk")
    prepare_corpus(texts, tok, CFG, tmp_path / "out")
    assert not stale.exists()
    assert len(load_corpus(tmp_path / "out")) == json.loads((tmp_path / "out" / "stats.json").read_text())["blocks"]


def test_output_does_not_depend_on_processes_or_shards(tmp_path, tok, texts):
    one = prepare_corpus(texts, tok, CFG, tmp_path / "one")
    two = prepare_corpus(texts, tok, CorpusConfig(**{**CFG.__dict__, "num_proc": 2, "num_shards": 3}), tmp_path / "two")
    assert len(_digest(tmp_path / "two")) == 3
    a, b = load_corpus(tmp_path / "one"), load_corpus(tmp_path / "two")
    assert a["input_ids"] == b["input_ids"] and a["lang"] == b["lang"]
    assert one == two
    # languages are interleaved, not one block after another
    first = a["lang"][: len(a) // 2]
    assert 0 < first.count("small") < len(first)
    other_seed = prepare_corpus(texts, tok, CorpusConfig(**{**CFG.__dict__, "seed": 5}), tmp_path / "seed5")
    assert other_seed["blocks_by_lang"] == one["blocks_by_lang"]
    assert load_corpus(tmp_path / "seed5")["input_ids"] != a["input_ids"]

