"""The word cache of corpus preparation gives exactly the ids of whole-sentence tokenisation.

Real text (SQuAD contexts, German MLQA contexts and XNLI pairs from ../shared/realdata) plus
adversarial strings, with a WordPiece and a sentencepiece tokenizer trained by the project's
own ``train_tokenizer`` (and the variants the cache accepts: cased BERT, Metaspace without the
prefix); every code point next to a space; prepare_corpus with the cache on and off.
"""

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED

from minilm_repro.config import ConfigError
from minilm_repro.data import packing
from minilm_repro.data.corpus import CorpusConfig, load_corpus, prepare_corpus
from minilm_repro.data.tokenizer import TokenizerConfig, train_tokenizer

REALDATA = SHARED / "realdata"

ADVERSARIAL = [
    "double  spaces  here", " leading space", "trailing space ", "   ", "", "a", " ", "tab\tinside word\tx",
    "nb\xa0sp and\xa0 mixed \xa0 x", "ideographic\u3000space \u3000 x", "ctl\x1cchar x\x1d y \x1e z\x1f w",
    "\x1c leading control", "x \x1c y", "line\u2028sep \u2029 x", "nel\x85x \x85 y", "zero\u200bwidth \u200b x",
    "cafe\u0301 nai\u0308ve \u0301alone", "e\u0301\u0302\u0303 x", "Ελληνικά ΟΔΟΣ ΟΔΟΣ. Σ ΣΣ aΣ", "İstanbul ı I ß ẞ ﬁ ﬃ ǅ",
    "東京は日本の首都です。 中文 句子 没有 空格", "日本語 テキスト ｶﾞ ｷﾞ ﾊﾟ", "한국어 문장 입니다",
    "مرحبا بالعالم، هذه جملة عربية.", "\u0600 \u0601x \u06dd y", "यह एक हिंदी वाक्य है। नमस्ते दुनिया",
    "ภาษาไทย ไม่มี ช่องว่าง", "x \u0e33\u0301 \u0301\u0e33", "a \u200d\u0301 \u200c\u0301 b",
    "emoji 👍 👍🏽 👨‍👩‍👧 🇩🇪🇫🇷 x", "a \U0001f3fd b", "tag \U000e0067\U000e0062 x", "ﾊ ﾞ x", "pua \ue000 x",
    "unassigned \U000e0080 \u0378 x", "punct!!! ... ,,, x--y (a) [b] {c}", "[MASK] [CLS] <mask> <s> </s>",
    "a [MASK]b c<mask> d", "very" + "long" * 40 + " word", "ＦＵＬＬ ｗｉｄｔｈ １２３", "™ ℃ ① ½ x²",
    "mixed\r\nline", "a\u00ad b \u00adc", "\u200e x \u200e", "ﷺ ﷽ x",
]


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def _realdata_lines() -> list[str]:
    lines: list[str] = []
    squad = json.loads((REALDATA / "squad2" / "cs224n-dev-v2.0.json").read_text(encoding="utf-8"))["data"]
    for article in squad[:4]:
        for p in article["paragraphs"]:
            lines += _sentences(p["context"])
    mlqa = json.loads((REALDATA / "mlqa" / "dev-context-de-question-de.json").read_text(encoding="utf-8"))["data"]
    for article in mlqa:
        for p in article["paragraphs"][:150]:
            lines += _sentences(p["context"])
            lines += [qa["question"] for qa in p["qas"]]
    with open(REALDATA / "xnli" / "de" / "test.tsv", encoding="utf-8") as fh:
        for i, row in zip(range(1500), fh):
            lines += row.rstrip("\n").split("\t")[:2]
    return lines


@pytest.fixture(scope="module")
def texts(tmp_path_factory) -> dict:
    if not (REALDATA / "MANIFEST.md").is_file():
        pytest.skip(f"{REALDATA} (the shared real-data sample) is not here")
    real = _realdata_lines()
    out = tmp_path_factory.mktemp("wc_text")
    train = out / "train.txt"
    train.write_text("\n".join(real + ADVERSARIAL * 3) + "\n", encoding="utf-8")
    return {"real": real, "train": train, "dir": out}


@pytest.fixture(scope="module")
def tokenizers(texts) -> dict:
    """name -> transformers tokenizer: the two trained ones and accepted variants of them."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    out = {}
    for kind in ("wordpiece", "sentencepiece"):
        train_tokenizer([str(texts["train"])], TokenizerConfig(kind=kind, vocab_size=600), texts["dir"] / kind)
        out[kind] = AutoTokenizer.from_pretrained(texts["dir"] / kind)

    def variant(base: str, edit) -> PreTrainedTokenizerFast:
        spec = json.loads(out[base].backend_tokenizer.to_str())
        edit(spec)
        tok = out[base]
        return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), cls_token=tok.cls_token,
                                       sep_token=tok.sep_token, pad_token=tok.pad_token, unk_token=tok.unk_token)

    out["wordpiece-cased"] = variant("wordpiece", lambda s: s["normalizer"].update(lowercase=False, strip_accents=False))
    out["sentencepiece-never"] = variant(
        "sentencepiece", lambda s: s["pre_tokenizer"]["pretokenizers"][1].update(prepend_scheme="never"))
    out["sentencepiece-first"] = variant(  # not decomposable: only the first word gets the prefix
        "sentencepiece", lambda s: s["pre_tokenizer"]["pretokenizers"][1].update(prepend_scheme="first"))
    return out


ACCEPTED = ["wordpiece", "sentencepiece", "wordpiece-cased", "sentencepiece-never"]


def _backend(tok):
    return packing.load_backend(tok.backend_tokenizer.to_str())


def _per_chunk(backend, sentence: str) -> list[int]:
    """The naive decomposition, without the grapheme-cluster exception."""
    return [i for chunk in sentence.split(" ") for i in backend.encode(chunk, add_special_tokens=False).ids]


@pytest.mark.parametrize("name", ACCEPTED)
def test_cached_ids_equal_whole_sentence_ids(tokenizers, texts, name):
    tok = tokenizers[name]
    assert packing.word_cache_support(tok.backend_tokenizer.to_str()) is None
    backend = _backend(tok)
    sentences = texts["real"] + ADVERSARIAL
    assert any(ord(c) > 0x3000 for s in sentences for c in s)
    whole = [tok(s, add_special_tokens=False)["input_ids"] for s in sentences]  # one call per sentence
    flat0, len0 = packing.encode_sentences(backend, sentences)
    assert len0.tolist() == [len(w) for w in whole] and flat0.tolist() == [i for w in whole for i in w]
    for cache in (packing.WordCache(backend), packing.WordCache(backend, capacity=300, max_chars=6)):
        for batch in (sentences, sentences[::-1], sentences):  # cold, then warm (capacity reached)
            flat, lengths = cache.encode(batch)
            expect = packing.encode_sentences(backend, batch)
            assert lengths.dtype == np.int64 and flat.dtype == np.int32
            assert lengths.tolist() == expect[1].tolist()
            assert flat.tolist() == expect[0].tolist()
        assert cache.size <= cache.capacity and len(cache.slots) == cache.size
        assert all(len(c) <= cache.max_chars for c in cache.slots)
        cache.verify(sentences, flat, lengths, len(sentences))
    # the chunks were mostly cached: the work saved
    assert cache.encoded_chunks < cache.seen_chunks / 3
    assert cache.encode([]) [1].size == 0


@pytest.mark.parametrize("name", ["wordpiece", "sentencepiece"])
def test_every_code_point_next_to_a_space(tokenizers, name):
    backend = _backend(tokenizers[name])
    # every assigned plane (0-3), the tags and variation selectors (plane 14); 4-13 are unassigned
    points = [chr(c) for c in [*range(0x32000), *range(0xE0000, 0xE1000)] if not 0xD800 <= c <= 0xDFFF and c != 0x20]
    for pattern in ("ab {}cd", "ab{} cd", "a {}\u0301 \u0301{} b"):
        sentences = [pattern.format(c, c) for c in points]
        flat, lengths = packing.WordCache(backend).encode(sentences)
        expect = packing.encode_sentences(backend, sentences)
        bad = np.flatnonzero(lengths != expect[1])
        assert not bad.size, [sentences[i] for i in bad[:10]]
        assert np.array_equal(flat, expect[0])


def test_a_space_inside_a_grapheme_cluster_is_not_a_cut(tokenizers):
    """Precompiled normalises grapheme clusters whole: " \u0301\u0e33" is one cluster with its space, and
    cutting there changes the ids; the cache tokenises such sentences whole."""
    backend = _backend(tokenizers["sentencepiece"])
    sentence = "x \u0e33\u0301 \u0301\u0e33"
    whole = backend.encode(sentence, add_special_tokens=False).ids
    assert _per_chunk(backend, sentence) != whole  # the naive cut is wrong here
    cache = packing.WordCache(backend)
    flat, lengths = cache.encode(["plain words", sentence, "more plain words"])
    assert flat[lengths[0]:lengths[0] + lengths[1]].tolist() == whole
    assert cache.whole_sentences == 1
    # str.split() would cut at \x1c, which BertNormalizer deletes (joining "ctl" and "char")
    wp = _backend(tokenizers["wordpiece"])
    s = "ctl\x1cchar"
    assert [i for c in s.split() for i in wp.encode(c, add_special_tokens=False).ids] != wp.encode(s).ids[1:-1]
    assert packing.WordCache(wp).encode([s])[0].tolist() == wp.encode(s, add_special_tokens=False).ids


def test_prepend_first_is_not_decomposable_and_is_refused(tokenizers, tmp_path):
    tok = tokenizers["sentencepiece-first"]
    backend = _backend(tok)
    assert _per_chunk(backend, "hello world") != backend.encode("hello world", add_special_tokens=False).ids
    reason = packing.word_cache_support(tok.backend_tokenizer.to_str())
    assert reason is not None and "Metaspace" in reason
    text = tmp_path / "en.txt"
    text.write_text("hello world .\nanother line here\n\nsecond document\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="word_cache: true.*not known to decompose"):
        prepare_corpus([text], tok, CorpusConfig(max_seq_len=16, word_cache=True), tmp_path / "forced")
    assert not (tmp_path / "forced").exists() and not (tmp_path / ".forced.work").exists()
    stats = prepare_corpus([text], tok, CorpusConfig(max_seq_len=16), tmp_path / "auto")
    assert stats["word_cache"] is False
    assert json.loads((tmp_path / "auto" / "stats.json").read_text())["word_cache"] is False
    with pytest.raises(ConfigError, match="word_cache"):
        CorpusConfig(word_cache="yes")


def test_runtime_check_catches_a_tokenizer_that_does_not_decompose(tokenizers, tmp_path, monkeypatch):
    """Were the type check wrong, the sample check of each file's first part stops the run."""
    tok = tokenizers["sentencepiece-first"]
    monkeypatch.setattr(packing, "word_cache_support", lambda tokenizer_json: None)
    text = tmp_path / "en.txt"
    text.write_text("hello world .\nanother line here\n\nsecond document\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"tokenizer \(model Unigram, .*Metaspace.*word_cache: false"):
        prepare_corpus([text], tok, CorpusConfig(max_seq_len=16, word_cache=True), tmp_path / "out")


def _digests(out: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("data-*.arrow"))}


@pytest.mark.parametrize("name", ["wordpiece", "sentencepiece"])
def test_prepare_corpus_same_bytes_with_and_without_the_cache(tokenizers, texts, tmp_path, name):
    tok = tokenizers[name]
    real = texts["real"]
    files = []
    for lang, lines in (("en", real[: len(real) // 2] + ADVERSARIAL), ("de", real[len(real) // 2:] + ADVERSARIAL[::-1])):
        docs = ["\n".join(lines[i:i + 7]) for i in range(0, len(lines), 7)]
        path = tmp_path / "text" / f"{lang}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
        files.append(path)
    base = dict(max_seq_len=48, batch_size=40, alpha=0.7, seed=3, num_shards=2)
    runs = {}
    for label, extra in (("off", dict(word_cache=False)), ("on", dict(word_cache=True)), ("auto", {}),
                         ("on2", dict(word_cache=True, num_proc=2)),
                         ("one_part", dict(word_cache=True, num_proc=2, batch_size=10**6))):  # in this process
        stats = prepare_corpus(files, tok, CorpusConfig(**{**base, **extra}), tmp_path / label)
        runs[label] = (_digests(tmp_path / label), stats)
    assert runs["off"][1]["word_cache"] is False
    assert runs["on"][1]["word_cache"] is True and runs["auto"][1]["word_cache"] is True
    for label in ("on", "auto", "on2", "one_part"):
        assert runs[label][0] == runs["off"][0]
        assert {k: v for k, v in runs[label][1].items() if k != "word_cache"} == \
               {k: v for k, v in runs["off"][1].items() if k != "word_cache"}
    assert runs["off"][1]["blocks"] > 20
    # and the blocks are those of one tokenizer call per sentence
    ids = load_corpus(tmp_path / "on")["input_ids"]
    assert all(b[0] == tok.cls_token_id and b[-1] == tok.sep_token_id for b in ids)


def _read_documents_per_line(path):
    """The reference reader: one line at a time."""
    docs, sentences = [], []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw.decode("utf-8").strip()
            if line:
                sentences.append(line)
            elif sentences:
                docs.append(sentences)
                sentences = []
    return docs + ([sentences] if sentences else [])


@pytest.mark.parametrize("block", [1, 7, 100, 1 << 22])
def test_block_reader_matches_the_per_line_reader(tmp_path, monkeypatch, block):
    from minilm_repro.data import corpus

    monkeypatch.setattr(corpus, "READ_BLOCK", block)
    text = tmp_path / "x.txt"
    lines = ["\ufeffbom line", "crlf line\r", "", "  ", "x\x1cy \x85 z\u2028w", "é à 東京", "", "", "\t\x1f", "last"]
    text.write_bytes("\n".join(lines).encode("utf-8"))  # no final newline
    assert list(corpus.read_documents(text)) == _read_documents_per_line(text)
    text.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    assert list(corpus.read_documents(text)) == _read_documents_per_line(text)
    text.write_bytes("\n".join(lines).encode("utf-8") + b"\nok\n\xff bad\n")
    with pytest.raises(ValueError, match=r"x\.txt, line 12: not UTF-8 text"):
        list(corpus.read_documents(text))
