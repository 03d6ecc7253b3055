"""Tokenizer training and corpus preparation (packing, document boundaries, alpha sampling)."""

import json

import numpy as np
import pytest

from conftest import write_toy_corpus
from minilm_repro.config import ConfigError
from minilm_repro.data.corpus import CorpusConfig, _pack_batch, corpus_stats, prepare_corpus, sampling_counts
from minilm_repro.data.tokenizer import TokenizerConfig, train_tokenizer


def test_wordpiece_tokenizer_roundtrip(wordpiece_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    enc = tok("anna lives in paris .", "bob works as a pilot .")
    toks = tok.convert_ids_to_tokens(enc["input_ids"])
    assert toks[0] == "[CLS]" and toks.count("[SEP]") == 2 and "[UNK]" not in toks
    assert enc["token_type_ids"][-1] == 1 and enc["token_type_ids"][0] == 0
    assert tok.mask_token == "[MASK]" and tok.pad_token_id == 0


def test_sentencepiece_tokenizer_has_xlmr_layout(tmp_path, toy_corpus):
    from transformers import AutoTokenizer

    out = tmp_path / "spm"
    train_tokenizer([str(toy_corpus)], TokenizerConfig(kind="sentencepiece", vocab_size=80), out)
    tok = AutoTokenizer.from_pretrained(out)
    assert [tok.convert_ids_to_tokens(i) for i in range(4)] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert tok.mask_token_id == len(tok) - 1 and 20 < len(tok) <= 80
    enc = tok("anna lives in paris .", "bob")
    assert "token_type_ids" not in enc or set(enc["token_type_ids"]) == {0}
    assert tok.decode(tok("anna lives in oslo .")["input_ids"], skip_special_tokens=True) == "anna lives in oslo ."
    assert (out / "sentencepiece.bpe.model").is_file()


def test_tokenizer_rejects_missing_corpus(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing or empty"):
        train_tokenizer([str(tmp_path / "nope.txt")], TokenizerConfig(kind="wordpiece", vocab_size=100), tmp_path / "t")
    with pytest.raises(ConfigError, match="wordpiece"):
        TokenizerConfig(kind="bpe", vocab_size=100)


def test_packing_never_crosses_documents():
    batch = {"sentence_ids": [[[5, 6], [7, 8, 9], [10]], [[20, 21, 22, 23, 24, 25, 26]]], "lang": ["a", "b"]}
    out = _pack_batch(batch, cls_id=1, sep_id=2, budget=4)
    assert out["input_ids"] == [[1, 5, 6, 2], [1, 7, 8, 9, 10, 2], [1, 20, 21, 22, 23, 2], [1, 24, 25, 26, 2]]
    assert out["lang"] == ["a", "a", "b", "b"]


def test_alpha_sampling_flattens_language_shares():
    counts = sampling_counts({"big": 900, "small": 100}, alpha=0.3)
    q_small = 0.1**0.3 / (0.1**0.3 + 0.9**0.3)
    assert counts["small"] == round(q_small * 1000) and counts["big"] == round((1 - q_small) * 1000)
    assert sampling_counts({"big": 900, "small": 100}, alpha=None) == {"big": 900, "small": 100}


def test_prepare_corpus_blocks_and_determinism(tmp_path, wordpiece_dir, toy_corpus):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    cfg = CorpusConfig(max_seq_len=32, seed=3)
    stats = prepare_corpus([toy_corpus], tok, cfg, tmp_path / "a")
    prepare_corpus([toy_corpus], tok, cfg, tmp_path / "b")
    import datasets

    a, b = datasets.load_from_disk(str(tmp_path / "a")), datasets.load_from_disk(str(tmp_path / "b"))
    assert a["input_ids"] == b["input_ids"]
    lengths = [len(x) for x in a["input_ids"]]
    assert max(lengths) <= 32 and all(x[0] == tok.cls_token_id and x[-1] == tok.sep_token_id for x in a["input_ids"])
    n_sentences = sum(1 for line in toy_corpus.read_text().splitlines() if line.strip())
    sent_tokens = sum(len(tok(line, add_special_tokens=False)["input_ids"])
                      for line in toy_corpus.read_text().splitlines() if line.strip())
    assert stats["tokens"] == sent_tokens + 2 * stats["blocks"]  # nothing lost, nothing added
    assert stats["blocks"] < n_sentences
    assert json.loads((tmp_path / "a" / "stats.json").read_text())["tokens"] == corpus_stats(tmp_path / "a")["tokens"]


def test_multilingual_sampling_changes_shares(tmp_path, wordpiece_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    big = write_toy_corpus(tmp_path / "x" / "big.txt", docs=200, seed=1)
    small = write_toy_corpus(tmp_path / "x" / "small.txt", docs=20, seed=2)
    natural = prepare_corpus([big, small], tok, CorpusConfig(max_seq_len=32), tmp_path / "n")
    flat = prepare_corpus([big, small], tok, CorpusConfig(max_seq_len=32, alpha=0.3), tmp_path / "f")
    assert flat["token_share"]["small"] > 1.5 * natural["token_share"]["small"]
    assert np.isclose(sum(flat["token_share"].values()), 1.0)


def test_prepare_corpus_errors(tmp_path, wordpiece_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        prepare_corpus([tmp_path / "missing.txt"], tok, CorpusConfig(max_seq_len=32), tmp_path / "o")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match="holds no text"):
        prepare_corpus([empty], tok, CorpusConfig(max_seq_len=32), tmp_path / "o2")
    with pytest.raises(ConfigError, match="alpha"):
        CorpusConfig(alpha=2.0)
