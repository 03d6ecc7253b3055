"""Corpus preparation: text files -> tokenised blocks of at most ``max_seq_len`` tokens.

Input: plain-text files, one sentence per line, a blank line between documents (the BERT
pretraining convention); the file stem is the language code (``l0.txt``, ``en.txt``).
Output: a ``datasets`` directory (``save_to_disk``, sharded) with columns ``input_ids``
(list[int32], ``[CLS] s1 s2 ... [SEP]``, never spanning two documents) and ``lang``, plus
``stats.json``. Documents stream through Arrow files on disk (``Dataset.from_generator``), so
a corpus larger than RAM works; tokenisation is the fast tokenizer, batched and multi-process.
Multilingual corpora are re-sampled with exponent ``alpha`` over language sizes, as XLM-R:
q_i = p_i^alpha / sum_j p_j^alpha.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from minilm_repro.config import ConfigError


@dataclasses.dataclass
class CorpusConfig:
    max_seq_len: int = 512
    alpha: float | None = None  # None: keep natural language proportions
    seed: int = 0
    num_proc: int = 1
    batch_size: int = 1000
    num_shards: int = 1

    def __post_init__(self):
        if self.max_seq_len < 8:
            raise ConfigError(f"corpus.max_seq_len must be >= 8, got {self.max_seq_len}")
        if self.alpha is not None and not 0 < self.alpha <= 1:
            raise ConfigError(f"corpus.alpha must be in (0, 1], got {self.alpha}")


def read_documents(path: str, lang: str):
    """Yield ``{"sentences": [...], "lang": lang}`` per document of a text file (streaming)."""
    sentences: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                sentences.append(line)
            elif sentences:
                yield {"sentences": sentences, "lang": lang}
                sentences = []
    if sentences:
        yield {"sentences": sentences, "lang": lang}


def _tokenize_batch(batch, tokenizer):
    flat = [s for doc in batch["sentences"] for s in doc]
    ids = tokenizer(flat, add_special_tokens=False, return_attention_mask=False)["input_ids"]
    out, i = [], 0
    for doc in batch["sentences"]:
        out.append(ids[i : i + len(doc)])
        i += len(doc)
    return {"sentence_ids": out}


def _pack_batch(batch, cls_id: int, sep_id: int, budget: int):
    """Greedy packing of whole sentences into blocks of <= budget tokens, per document."""
    blocks, langs = [], []
    for doc, lang in zip(batch["sentence_ids"], batch["lang"]):
        cur: list[int] = []
        for sent in doc:
            while len(sent) > budget:  # a sentence longer than a block is split
                if cur:
                    blocks.append(cur)
                    langs.append(lang)
                    cur = []
                blocks.append(sent[:budget])
                langs.append(lang)
                sent = sent[budget:]
            if len(cur) + len(sent) > budget and cur:
                blocks.append(cur)
                langs.append(lang)
                cur = []
            cur = cur + sent
        if cur:
            blocks.append(cur)
            langs.append(lang)
    return {"input_ids": [[cls_id] + b + [sep_id] for b in blocks], "lang": langs}


def sampling_counts(sizes: dict[str, int], alpha: float | None) -> dict[str, int]:
    """Blocks to draw per language so that shares follow p_i^alpha (total unchanged)."""
    total = sum(sizes.values())
    if alpha is None or total == 0:
        return dict(sizes)
    p = np.array([sizes[k] / total for k in sizes])
    q = p**alpha / np.sum(p**alpha)
    return {k: int(round(qi * total)) for k, qi in zip(sizes, q)}


def _tokenize_file(path: Path, tokenizer, cfg: CorpusConfig, cache_dir: Path):
    import datasets

    lang = path.stem
    with open(path, encoding="utf-8") as fh:
        if not any(line.strip() for line in fh):
            raise ValueError(f"corpus file {path} holds no text")
    docs = datasets.Dataset.from_generator(
        read_documents, gen_kwargs={"path": str(path), "lang": lang}, cache_dir=str(cache_dir)
    )
    num_proc = cfg.num_proc if cfg.num_proc > 1 else None
    tok = docs.map(
        _tokenize_batch, batched=True, batch_size=cfg.batch_size, num_proc=num_proc,
        fn_kwargs={"tokenizer": tokenizer}, remove_columns=["sentences"], desc=f"tokenise {lang}",
    )
    return tok.map(
        _pack_batch, batched=True, batch_size=cfg.batch_size, num_proc=num_proc,
        fn_kwargs={"cls_id": tokenizer.cls_token_id, "sep_id": tokenizer.sep_token_id, "budget": cfg.max_seq_len - 2},
        remove_columns=["sentence_ids"], desc=f"pack {lang}",
    )


def prepare_corpus(text_files: list[str | Path], tokenizer, cfg: CorpusConfig, out_dir: str | Path) -> dict:
    """Tokenise, pack and (multilingual) re-sample ``text_files``; save to ``out_dir``; return stats."""
    import datasets

    files = [Path(f) for f in text_files]
    if not files:
        raise ConfigError("prepare_corpus: no text files given")
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"corpus file {f} does not exist")
    langs = [f.stem for f in files]
    if len(set(langs)) != len(langs):
        raise ConfigError(f"corpus files must have distinct stems (language codes), got {langs}")
    out_dir = Path(out_dir)
    cache_dir = out_dir.parent / f".{out_dir.name}.cache"
    per_lang = {f.stem: _tokenize_file(f, tokenizer, cfg, cache_dir) for f in files}
    sizes = {k: len(v) for k, v in per_lang.items()}
    want = sampling_counts(sizes, cfg.alpha)
    rng = np.random.default_rng(cfg.seed)
    parts = []
    for lang, ds in per_lang.items():
        n, k = len(ds), want[lang]
        idx = np.concatenate([rng.permutation(n) for _ in range(-(-k // n))])[:k] if n else np.array([], int)
        parts.append(ds.select(np.sort(idx)))
    corpus = datasets.concatenate_datasets(parts).shuffle(seed=cfg.seed).flatten_indices()
    corpus = corpus.cast_column("input_ids", datasets.List(datasets.Value("int32")))
    corpus.save_to_disk(str(out_dir), num_shards=min(cfg.num_shards, max(1, len(corpus))))
    stats = corpus_stats(out_dir)
    stats["blocks_before_sampling"] = sizes
    stats["max_seq_len"] = cfg.max_seq_len
    stats["alpha"] = cfg.alpha
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    import shutil

    shutil.rmtree(cache_dir, ignore_errors=True)
    return stats


def load_corpus(path: str | Path):
    import datasets

    path = Path(path)
    if not (path / "dataset_info.json").is_file():
        raise FileNotFoundError(f"{path} is not a prepared corpus (run `minilm-repro prepare-corpus` first)")
    return datasets.load_from_disk(str(path))


def corpus_stats(path: str | Path) -> dict:
    """Blocks, tokens and per-language token shares of a prepared corpus."""
    import pyarrow.compute as pc

    table = load_corpus(path).data  # Arrow, memory-mapped: no Python lists
    lengths = pc.list_value_length(table.column("input_ids")).to_numpy(zero_copy_only=False).astype(np.int64)
    langs = table.column("lang").to_numpy(zero_copy_only=False)
    tokens = int(lengths.sum())
    by_lang = {str(l): int(lengths[langs == l].sum()) for l in np.unique(langs)}
    return {
        "blocks": int(len(lengths)), "tokens": tokens,
        "mean_block_tokens": float(lengths.mean()) if len(lengths) else 0.0,
        "token_share": {l: n / tokens for l, n in by_lang.items()} if tokens else {},
        "tokens_by_lang": by_lang,
    }
