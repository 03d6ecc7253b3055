"""Tokenizer training and corpus preparation (packing, document boundaries, alpha sampling)."""

import json

import numpy as np
import pytest
from conftest import job_spec, write_toy_corpus

from minilm_repro.config import ConfigError
from minilm_repro.data.corpus import (
    CorpusConfig,
    corpus_stats,
    load_corpus,
    prepare_corpus,
    sampling_counts,
)
from minilm_repro.data.packing import (
    assemble_blocks,
    block_spans,
    load_backend,
    pack_documents,
)
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
    # two documents: sentences [5 6] [7 8 9] [10] and one 7-token sentence, laid out flat
    flat = np.array([5, 6, 7, 8, 9, 10, 20, 21, 22, 23, 24, 25, 26], np.int32)
    starts, ends = block_spans([[2, 3, 1], [7]], budget=4)
    assert list(zip(starts, ends)) == [(0, 2), (2, 6), (6, 10), (10, 13)]
    blocks = assemble_blocks(flat, starts, ends, cls_id=1, sep_id=2).to_pylist()
    assert blocks == [[1, 5, 6, 2], [1, 7, 8, 9, 10, 2], [1, 20, 21, 22, 23, 2], [1, 24, 25, 26, 2]]
    # a long sentence after a started block closes it; its remainder takes the next sentence
    assert list(zip(*block_spans([[1, 9, 2]], budget=4))) == [(0, 1), (1, 5), (5, 9), (9, 12)]
    assert block_spans([[0], []], budget=4)[0].size == 0


def naive_blocks(tok, documents, budget):
    """The reference: one tokenizer call per sentence, greedy packing with Python lists."""
    out = []
    for doc in documents:
        cur = []
        for sentence in doc:
            ids = tok(sentence, add_special_tokens=False)["input_ids"]
            if cur and len(cur) + len(ids) > budget:
                out.append(cur)
                cur = []
            while len(cur) + len(ids) > budget:
                out.append(ids[:budget])
                ids = ids[budget:]
            cur = cur + ids
        if cur:
            out.append(cur)
    return [[tok.cls_token_id] + b + [tok.sep_token_id] for b in out]


@pytest.mark.parametrize("kind", ["wordpiece", "sentencepiece"])
def test_batched_packing_matches_per_sentence_tokenizer(tmp_path, toy_corpus, kind):
    from transformers import AutoTokenizer

    from minilm_repro.data.corpus import read_documents

    train_tokenizer([str(toy_corpus)], TokenizerConfig(kind=kind, vocab_size=90), tmp_path / "tok")
    tok = AutoTokenizer.from_pretrained(tmp_path / "tok")
    docs = list(read_documents(toy_corpus))[:30] + [["émile vit à zürich , n'est-ce pas ?", "x" * 40]]
    packed = pack_documents(load_backend(tok.backend_tokenizer.to_str()), docs, tok.cls_token_id, tok.sep_token_id, 14)
    assert packed.type.value_type == "int32"
    assert packed.to_pylist() == naive_blocks(tok, docs, 14)


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
    a, b = load_corpus(tmp_path / "a"), load_corpus(tmp_path / "b")
    assert a["input_ids"] == b["input_ids"]
    assert a.features["input_ids"].feature.dtype == "int32" and set(a["lang"]) == {"l0"}
    assert not (tmp_path / ".a.work").exists() and not (tmp_path / ".a.tmp").exists()
    lengths = [len(x) for x in a["input_ids"]]
    assert max(lengths) <= 32 and all(x[0] == tok.cls_token_id and x[-1] == tok.sep_token_id for x in a["input_ids"])
    n_sentences = sum(1 for line in toy_corpus.read_text().splitlines() if line.strip())
    sent_tokens = sum(len(tok(line, add_special_tokens=False)["input_ids"])
                      for line in toy_corpus.read_text().splitlines() if line.strip())
    assert stats["tokens"] == sent_tokens + 2 * stats["blocks"]  # nothing lost, nothing added
    assert stats["blocks"] < n_sentences
    from_files = corpus_stats(tmp_path / "a")
    assert {k: stats[k] for k in from_files} == from_files
    assert json.loads((tmp_path / "a" / "stats.json").read_text()) == stats


def test_multilingual_sampling_changes_shares(tmp_path, wordpiece_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    big = write_toy_corpus(tmp_path / "x" / "big.txt", docs=200, seed=1)
    small = write_toy_corpus(tmp_path / "x" / "small.txt", docs=20, seed=2)
    natural = prepare_corpus([big, small], tok, CorpusConfig(max_seq_len=32), tmp_path / "n")
    flat = prepare_corpus([big, small], tok, CorpusConfig(max_seq_len=32, alpha=0.3), tmp_path / "f")
    assert flat["token_share"]["small"] > 1.5 * natural["token_share"]["small"]
    assert corpus_stats(tmp_path / "f")["token_share"] == flat["token_share"]
    assert np.isclose(sum(flat["token_share"].values()), 1.0)


def test_prepare_corpus_errors(tmp_path, wordpiece_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        prepare_corpus([tmp_path / "missing.txt"], tok, CorpusConfig(max_seq_len=32), tmp_path / "o")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match=r"corpus file .*empty\.txt holds no text"):
        prepare_corpus([empty], tok, CorpusConfig(max_seq_len=32), tmp_path / "o2")
    latin1 = tmp_path / "de.txt"
    latin1.write_bytes("gut .\n\nschön .\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"de\.txt, line 3: not UTF-8 text"):
        prepare_corpus([latin1], tok, CorpusConfig(max_seq_len=32), tmp_path / "o3")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"taken exists and is not a prepared corpus"):
        prepare_corpus([write_toy_corpus(tmp_path / "l0.txt", docs=3)], tok,
                       CorpusConfig(max_seq_len=32), tmp_path / "taken")
    with pytest.raises(FileNotFoundError, match=r"is not a prepared corpus \(run `minilm-repro prepare-corpus`"):
        load_corpus(tmp_path / "taken")
    with pytest.raises(ConfigError, match="alpha"):
        CorpusConfig(alpha=2.0)
    with pytest.raises(ConfigError, match="num_proc"):
        CorpusConfig(num_proc=0)


def test_corpus_stats_cli(tmp_path, wordpiece_dir, capsys):
    from minilm_repro.cli import main

    big = write_toy_corpus(tmp_path / "x" / "en.txt", docs=40, seed=1)
    small = write_toy_corpus(tmp_path / "x" / "de.txt", docs=10, seed=2)
    spec = job_spec("prepare-corpus", {"max_seq_len": 32, "alpha": 0.5, "num_shards": 2},
                    {"text": [str(big), str(small)], "tokenizer": str(wordpiece_dir), "out": str(tmp_path / "c")})
    assert main(["prepare-corpus", "--spec", spec]) == 0
    capsys.readouterr()
    assert main(["corpus", "stats", str(tmp_path / "c")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(shown["token_share"]) == {"en", "de"} and np.isclose(sum(shown["token_share"].values()), 1.0)
    assert shown["blocks"] == sum(shown["blocks_by_lang"].values()) == len(load_corpus(tmp_path / "c"))
    assert shown["tokens"] == sum(len(x) for x in load_corpus(tmp_path / "c")["input_ids"])


def test_tokenizer_training_gives_the_same_files_in_every_process(tmp_path):
    """The tokenizers trainer numbers ``##`` pieces in hash-map order (random per process);
    sentencepiece records its (temporary) output path in the model file."""
    import subprocess
    import sys

    from minilm_repro.data.synthetic import SyntheticConfig, generate_benchmark

    generate_benchmark(tmp_path / "bench", SyntheticConfig(seed=5, tasks=["sst2"], scale=0.01, mono_documents=300,
                                                           multi_documents=10))
    corpus = tmp_path / "bench" / "corpus" / "mono" / "l0.txt"
    code = ("import sys; from minilm_repro.data.tokenizer import TokenizerConfig, train_tokenizer; "
            "train_tokenizer([sys.argv[1]], TokenizerConfig(kind='wordpiece', vocab_size=300, max_position=64), sys.argv[2])")
    outs = [tmp_path / f"tok{i}" for i in range(3)]
    for out in outs:
        subprocess.run([sys.executable, "-c", code, str(corpus), str(out)], check=True)
    files = {(out / "tokenizer.json").read_bytes() for out in outs}
    assert len(files) == 1
    spm = [tmp_path / f"spm{i}" for i in range(2)]
    for out in spm:
        subprocess.run([sys.executable, "-c", code.replace("'wordpiece'", "'sentencepiece'"), str(corpus), str(out)],
                       check=True)
    assert len({(out / "sentencepiece.bpe.model").read_bytes() for out in spm}) == 1
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(outs[0])
    vocab = tok.get_vocab()
    assert len(vocab) == 300 and all(vocab[s] == i for i, s in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    assert {t.content for t in tok.added_tokens_decoder.values()} == {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    words = corpus.read_text(encoding="utf-8").split()[:200]
    assert "[UNK]" not in tok.tokenize(" ".join(words))


def test_one_language_from_several_sources_states_their_shares(tmp_path, wordpiece_dir):
    """Wikipedia + BookCorpus, say: both English; the language's blocks are the union of the two,
    and the stats give each source's blocks and share (paper-mono's two corpora)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    wiki = write_toy_corpus(tmp_path / "wiki" / "en.txt", docs=60, seed=1)
    books = write_toy_corpus(tmp_path / "books" / "en.txt", docs=20, seed=2)
    alone = {name: prepare_corpus([f], tok, CorpusConfig(max_seq_len=32), tmp_path / f"only-{name}")["blocks"]
             for name, f in (("wiki", wiki), ("books", books))}
    stats = prepare_corpus([wiki, books], tok, CorpusConfig(max_seq_len=32), tmp_path / "both",
                           sources=["wiki", "books"])
    assert stats["blocks_by_lang"] == {"en": alone["wiki"] + alone["books"]}
    shares = {k: v["share_of_language"] for k, v in stats["sources"].items()}
    assert shares == pytest.approx({"wiki/en": alone["wiki"] / stats["blocks"], "books/en": alone["books"] / stats["blocks"]})
    with pytest.raises(ConfigError, match="distinct stems"):
        prepare_corpus([wiki, wiki], tok, CorpusConfig(max_seq_len=32), tmp_path / "dup", sources=["wiki", "wiki"])
