"""Corpus preparation: text files -> tokenised blocks of at most ``max_seq_len`` tokens.

Input: plain-text UTF-8 files, one sentence per line, a blank line between documents (the BERT
pretraining convention); the file stem is the language code (``l0.txt``, ``en.txt``).

Output directory (``load_corpus`` opens it as one memory-mapped ``datasets.Dataset``)::

    data-00000-of-0000N.arrow   Arrow IPC streams, columns input_ids (list<int32>,
                                [CLS] s1 s2 ... [SEP], never spanning two documents) and lang
    stats.json                  blocks, tokens, per-language token shares, sizes before sampling

Three steps, each streaming, so memory stays flat as the corpus grows (benchmarks/bench_corpus.py):

1. *Tokenise*: each file streams through in parts of ``batch_size`` documents; the fast tokenizer
   encodes a part in one batch, in ``num_proc`` worker processes, and the part's packed blocks go
   to their own Arrow file in the work directory (:mod:`minilm_repro.data.packing`). With the word
   cache (``word_cache``; by default on for tokenizers known to decompose at spaces: BERT's
   WordPiece, XLM-R's sentencepiece) a worker tokenises each distinct ' '-separated chunk once and
   assembles sentences from the cached ids: the same ids as whole sentences, checked on a sample
   of every file's first part; stats.json records the mode.
2. *Sample* (multilingual): blocks per language follow q_i = p_i^alpha / sum_j p_j^alpha over the
   languages' block shares p_i, total unchanged (XLM-R); a language drawn more often than it has
   blocks repeats them, one fresh permutation per pass.
3. *Write*: the selected blocks stream from the parts into ``num_shards`` shards, languages
   interleaved in a seeded random order (training samples blocks at random anyway).

Deterministic: the output bytes depend on the texts, the tokenizer, the config and the seed, not
on ``num_proc``. Resumable: the work directory (default ``.<out name>.work`` beside the output)
keeps finished parts under a key of the text's sha256, the tokenizer and the packing settings;
a rerun after a kill tokenises only the missing parts. A part file and the output directory
appear only complete (written aside, then renamed); the work directory goes after success.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import multiprocessing
import shutil
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from minilm_repro.config import ConfigError
from minilm_repro.data import packing
from minilm_repro.jobs.atomic import replace_dir, write_json, write_text

# bump when the part files' content or layout changes: old work directories are then rebuilt
PART_FORMAT = 1
CHUNK_ROWS = 1024  # blocks per write when assembling the output (bigger chunks grow the allocator)
READ_BLOCK = 1 << 22  # bytes of text decoded at a time
VERIFY_SENTENCES = 256  # sentences of each file's first part checked against whole-sentence ids (word cache)


@dataclasses.dataclass
class CorpusConfig:
    """``max_seq_len``: tokens per block including [CLS]/[SEP]; ``alpha``: sampling exponent (None:
    natural proportions); ``batch_size``: documents per part (one tokeniser batch, the unit of
    resumption); ``num_proc``: tokenising processes (started with ``spawn``: a calling script needs the
    ``if __name__ == "__main__"`` guard); ``num_shards``: output files; ``word_cache``: tokenise each
    distinct space-separated chunk once per worker (:class:`~minilm_repro.data.packing.WordCache`;
    same ids, less work on repetitive text): None chooses it for the tokenizers known to decompose at
    spaces, true requires it (an error for any other tokenizer), false never uses it."""

    max_seq_len: int = 512
    alpha: float | None = None
    seed: int = 0
    num_proc: int = 1
    batch_size: int = 1000
    num_shards: int = 1
    word_cache: bool | None = None

    def __post_init__(self):
        if self.max_seq_len < 8:
            raise ConfigError(f"corpus.max_seq_len must be >= 8, got {self.max_seq_len}")
        if self.alpha is not None and not 0 < self.alpha <= 1:
            raise ConfigError(f"corpus.alpha must be in (0, 1], got {self.alpha}")
        for name in ("num_proc", "batch_size", "num_shards"):
            if getattr(self, name) < 1:
                raise ConfigError(f"corpus.{name} must be >= 1, got {getattr(self, name)}")
        if self.word_cache not in (None, True, False):
            raise ConfigError(f"corpus.word_cache must be true, false or null (auto), got {self.word_cache!r}")


def corpus_features():
    import datasets

    return datasets.Features({"input_ids": datasets.List(datasets.Value("int32")), "lang": datasets.Value("string")})


# --------------------------------------------------------------------------- reading text


def not_utf8(path: str | Path, offset: int, line: int, reason: str) -> ValueError:
    """The error for a text file that is not UTF-8: file, byte offset (0-based) and line (1-based)."""
    return ValueError(f"{path}, line {line}: not UTF-8 text at byte {offset} ({reason}); "
                      "re-encode the file as UTF-8, e.g. iconv -f <its encoding> -t utf-8")


def read_documents(path: str | Path):
    """Yield each document of a text file as its list of sentences (stripped, non-empty lines), streaming.

    Lines end at b"\\n" only (not at the other characters ``str.splitlines`` knows); they are decoded
    a few MiB at a time. Bytes that are not UTF-8 are an error naming the file and their offset."""
    sentences: list[str] = []
    number = 0  # lines before the block
    offset = 0  # bytes before the block
    with open(path, "rb") as fh:
        while block := fh.readlines(READ_BLOCK):
            try:
                lines = b"".join(block).decode("utf-8").split("\n")
            except UnicodeDecodeError:
                for k, raw in enumerate(block, number + 1):
                    try:
                        raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise not_utf8(path, offset + exc.start, k, exc.reason) from None
                    offset += len(raw)
                raise
            if block[-1].endswith(b"\n"):
                lines.pop()  # the empty string after the block's last newline
            number += len(block)
            offset += sum(map(len, block))
            for line in lines:
                line = line.strip()
                if line:
                    sentences.append(line)
                elif sentences:
                    yield sentences
                    sentences = []
    if sentences:
        yield sentences


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes (hex), read 1 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- step 1: tokenise into parts


class _PartTokenizer:
    """Tokenises parts in this process (``num_proc`` 1) or in worker processes, at most two per worker queued.

    With ``num_proc`` > 1 the workers start with the second part: a corpus of one part is tokenised
    in this process, without the cost of starting them (a few tenths of a second)."""

    def __init__(self, tokenizer_json: str, cls_id: int, sep_id: int, budget: int, num_proc: int, word_cache: bool,
                 work: Path):
        self.args = (tokenizer_json, cls_id, sep_id, budget, word_cache)
        self.num_proc = num_proc
        self.work = work
        self.pending: set = set()
        self.pool = None
        self.held = None  # the first part, until a second one shows that workers are worth starting
        self.backend = None
        self.cache = None

    def __enter__(self):
        return self

    def _start_pool(self) -> None:
        # workers read the tokenizer from a file: as an argument it would make each spawn wait on a pipe
        # until that worker's interpreter has started (the main process could read text meanwhile)
        self.work.mkdir(parents=True, exist_ok=True)
        tok_file = self.work / "tokenizer.json"
        write_text(tok_file, self.args[0])
        self.pool = ProcessPoolExecutor(self.num_proc, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=packing.init_worker, initargs=(str(tok_file), *self.args[1:]))

    def _here(self, path: Path, documents: list[list[str]], verify: int) -> None:
        if self.backend is None:
            self.backend = packing.load_backend(self.args[0])
            self.cache = packing.WordCache(self.backend) if self.args[4] else None
        _, cls_id, sep_id, budget, _ = self.args
        packing.write_part(path, packing.pack_documents(self.backend, documents, cls_id, sep_id, budget,
                                                        cache=self.cache, verify=verify))

    def _submit(self, path: Path, documents: list[list[str]], verify: int) -> None:
        if len(self.pending) >= 2 * self.num_proc:
            done, self.pending = wait(self.pending, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
        self.pending.add(self.pool.submit(packing.tokenize_part, path, documents, verify))

    def add(self, path: Path, documents: list[list[str]], verify: int = 0) -> None:
        """Queue one part; ``verify``: sentences of it to check against whole-sentence tokenisation (word cache)."""
        if self.num_proc == 1:
            self._here(path, documents, verify)
        elif self.pool is None and self.held is None:
            self.held = (path, documents, verify)
        else:
            if self.pool is None:
                self._start_pool()
                self._submit(*self.held)
                self.held = None
            self._submit(path, documents, verify)

    def finish(self) -> None:
        if self.held is not None:
            self._here(*self.held)
            self.held = None
        for future in self.pending:
            future.result()
        self.pending = set()

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=exc[0] is not None)


def _tokenize_language(path: Path, lang_dir: Path, key: dict, batch_size: int, parts: _PartTokenizer) -> None:
    """Queue the parts of ``path`` that ``lang_dir`` lacks; a directory made under another key starts over."""
    key_file = lang_dir / "key.json"
    if key_file.is_file() and json.loads(key_file.read_text()) != key:
        shutil.rmtree(lang_dir)
    lang_dir.mkdir(parents=True, exist_ok=True)
    write_json(key_file, key)
    if (lang_dir / "done.json").is_file():
        return
    for stale in lang_dir.glob("*.tmp"):  # a part being written when the last run died
        stale.unlink()
    count = 0
    docs = read_documents(path)
    for i, documents in enumerate(iter(lambda: list(itertools.islice(docs, batch_size)), [])):
        count += 1
        part = lang_dir / f"part-{i:06d}.arrow"
        if not part.is_file():
            parts.add(part, documents, verify=VERIFY_SENTENCES if i == 0 else 0)
    if count == 0:
        raise ValueError(f"corpus file {path} holds no text (it is empty or only blank lines); remove it or fill it")
    write_json(lang_dir / "parts.json", {"parts": count})


def _finish_language(lang_dir: Path) -> list[Path]:
    count = json.loads((lang_dir / "parts.json").read_text())["parts"]
    files = [lang_dir / f"part-{i:06d}.arrow" for i in range(count)]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise RuntimeError(f"{lang_dir}: parts {missing[:5]} were not written; rerun to resume")
    write_json(lang_dir / "done.json", {"parts": count})
    return files


# --------------------------------------------------------------------------- step 2: sample


def sampling_counts(sizes: dict[str, int], alpha: float | None) -> dict[str, int]:
    """Blocks to draw per language so that shares follow p_i^alpha (total unchanged)."""
    total = sum(sizes.values())
    if alpha is None or total == 0:
        return dict(sizes)
    p = np.array([sizes[k] / total for k in sizes])
    q = p**alpha / np.sum(p**alpha)
    return {k: int(round(qi * total)) for k, qi in zip(sizes, q)}


def select_blocks(sizes: dict[str, int], want: dict[str, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Sorted block indices to keep per language (with repeats when ``want`` exceeds the size)."""
    out = {}
    for lang, n in sizes.items():
        k = want[lang]
        index = np.int32 if n < 2**31 else np.int64  # 4 bytes a block: the bookkeeping that grows with the corpus
        passes = []
        for _ in range(-(-k // n) if n else 0):
            passes.append(np.arange(n, dtype=index))
            rng.shuffle(passes[-1])
        out[lang] = np.sort(np.concatenate(passes)[:k]) if passes else np.empty(0, index)
    return out


# --------------------------------------------------------------------------- step 3: write


class _SelectedBlocks:
    """One language's selected blocks in index order, read part by part (a part at a time in memory)."""

    def __init__(self, part_files: list[Path], indices: np.ndarray):
        self._tables = self._read(part_files, indices)
        self._buffer: list[pa.Table] = []
        self._rows = 0

    @staticmethod
    def _read(part_files, indices):
        offset = 0
        for path in part_files:
            table = packing.read_part(path)
            lo, hi = np.searchsorted(indices, [offset, offset + table.num_rows])
            if hi > lo:
                yield table.take(pa.array(indices[lo:hi] - offset))
            offset += table.num_rows

    def take(self, n: int) -> pa.Table:
        while self._rows < n:
            table = next(self._tables)
            self._buffer.append(table)
            self._rows += table.num_rows
        table = pa.concat_tables(self._buffer) if self._buffer else packing.BLOCKS.empty_table()
        self._buffer = [table.slice(n)]
        self._rows -= n
        return table.slice(0, n)


def _write_shards(out: Path, part_files: dict[str, list[Path]], selected: dict[str, np.ndarray],
                  rng: np.random.Generator, num_shards: int) -> dict:
    """Write the selected blocks into ``num_shards`` shards under ``out``; returns their :func:`corpus_stats`."""
    langs = list(selected)
    labels = rng.permutation(np.repeat(np.arange(len(langs), dtype=np.int16), [len(selected[l]) for l in langs]))
    total = len(labels)
    num_shards = max(1, min(num_shards, total))
    bounds = np.cumsum([0] + [len(a) for a in np.array_split(np.arange(total), num_shards)])
    schema = corpus_features().arrow_schema
    names = pa.array(langs, pa.string())
    streams = [_SelectedBlocks(part_files[l], selected[l]) for l in langs]
    tokens = np.zeros(len(langs), np.int64)
    out.mkdir(parents=True)
    for shard in range(num_shards):
        path = out / f"data-{shard:05d}-of-{num_shards:05d}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            for start in range(bounds[shard], bounds[shard + 1], CHUNK_ROWS):
                chunk = labels[start:min(start + CHUNK_ROWS, bounds[shard + 1])]
                grouped = pa.concat_tables([s.take(int(n)) for s, n in zip(streams, np.bincount(chunk, minlength=len(langs)))])
                # grouped holds the chunk's rows language by language; put them in the chunk's order
                order = np.argsort(chunk, kind="stable")
                inverse = np.empty_like(order)
                inverse[order] = np.arange(len(order))
                ids = grouped.column("input_ids").take(pa.array(inverse))
                writer.write_table(pa.Table.from_arrays([ids, names.take(pa.array(chunk))], schema=schema))
                lengths = pc.list_value_length(ids).to_numpy(zero_copy_only=False)
                tokens += np.bincount(chunk, weights=lengths, minlength=len(langs)).astype(np.int64)
    blocks = np.bincount(labels, minlength=len(langs))
    present = [i for i, b in enumerate(blocks) if b]
    return _stats({langs[i]: int(blocks[i]) for i in present}, {langs[i]: int(tokens[i]) for i in present})


# --------------------------------------------------------------------------- entry points


def _tokenizer_json(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ConfigError(f"corpus preparation needs a fast tokenizer (tokenizers backend); got {type(tokenizer).__name__}")
    if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
        raise ConfigError(f"tokenizer {type(tokenizer).__name__} has no CLS/SEP tokens to frame blocks with")
    return backend.to_str()


def word_cache_mode(tok_json: str, word_cache: bool | None) -> bool:
    """Whether to tokenise through the word cache: ``word_cache`` (true, false, None = auto) against
    what :func:`~minilm_repro.data.packing.word_cache_support` knows of the tokenizer."""
    reason = packing.word_cache_support(tok_json)
    if word_cache and reason is not None:
        raise ConfigError(f"corpus.word_cache: true, but this tokenizer is not known to decompose at spaces ({reason}); "
                          f"set word_cache to null (auto) or false")
    return reason is None if word_cache is None else word_cache


def prepare_corpus(text_files: list[str | Path], tokenizer, cfg: CorpusConfig, out_dir: str | Path,
                   work_dir: str | Path | None = None, keep_work: bool = False,
                   sources: list[str] | None = None) -> dict:
    """Tokenise, pack and (multilingual) re-sample ``text_files`` into ``out_dir``; return its stats.

    ``work_dir`` holds the tokenised parts (default ``.<out name>.work`` beside ``out_dir``); it is
    reused by a rerun after a kill and removed after success unless ``keep_work``. ``sources``
    names the source of each file (several sources may give text in one language, e.g. Wikipedia
    and BookCorpus in English): a language's blocks are then the union of its sources', and the
    stats state each source's blocks and share of its language.
    """
    files = [Path(f) for f in text_files]
    if not files:
        raise ConfigError("prepare_corpus: no text files given")
    if sources is not None and len(sources) != len(files):
        raise ConfigError(f"prepare_corpus: {len(sources)} source names for {len(files)} text files")
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"corpus file {f} does not exist")
    units = [f.stem if sources is None else f"{src}/{f.stem}" for f, src in zip(files, sources or files)]
    if len(set(units)) != len(units):
        raise ConfigError(f"corpus files must have distinct stems (language codes) within a source, got {units}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not (out_dir / "stats.json").is_file() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} exists and is not a prepared corpus; remove it or choose another output")
    work = Path(work_dir) if work_dir is not None else out_dir.parent / f".{out_dir.name}.work"
    from minilm_repro.jobs.workdir import check_writable

    check_writable(out_dir, "corpus directory")
    check_writable(work, "corpus work directory")
    tok_json = _tokenizer_json(tokenizer)
    packing_key = {"format": PART_FORMAT, "max_seq_len": cfg.max_seq_len, "batch_size": cfg.batch_size,
                   "tokenizer_sha256": hashlib.sha256(tok_json.encode()).hexdigest(),
                   "cls_id": tokenizer.cls_token_id, "sep_id": tokenizer.sep_token_id}
    use_cache = word_cache_mode(tok_json, cfg.word_cache)
    with _PartTokenizer(tok_json, tokenizer.cls_token_id, tokenizer.sep_token_id, cfg.max_seq_len - 2,
                        cfg.num_proc, use_cache, work) as parts:
        for f, unit in zip(files, units):
            key = {**packing_key, "text_sha256": file_sha256(f)}
            _tokenize_language(f, work / unit, key, cfg.batch_size, parts)
        parts.finish()
    unit_parts = {unit: _finish_language(work / unit) for unit in units}
    part_files: dict[str, list[Path]] = {}
    for f, unit in zip(files, units):  # a language's blocks: its sources' parts, in config order
        part_files.setdefault(f.stem, []).extend(unit_parts[unit])
    sizes = {lang: sum(packing.part_rows(p) for p in paths) for lang, paths in part_files.items()}
    rng = np.random.default_rng(cfg.seed)
    selected = select_blocks(sizes, sampling_counts(sizes, cfg.alpha), rng)
    tmp_out = out_dir.parent / f".{out_dir.name}.tmp"
    shutil.rmtree(tmp_out, ignore_errors=True)
    stats = _write_shards(tmp_out, part_files, selected, rng, cfg.num_shards)
    stats.update(blocks_before_sampling=sizes, max_seq_len=cfg.max_seq_len, alpha=cfg.alpha, seed=cfg.seed,
                 word_cache=use_cache)
    if sources is not None:
        stats["sources"] = {}
        for f, unit, src in zip(files, units, sources):
            n = sum(packing.part_rows(p) for p in unit_parts[unit])
            stats["sources"][unit] = {"source": src, "language": f.stem, "blocks_before_sampling": n,
                                      "share_of_language": n / sizes[f.stem] if sizes[f.stem] else 0.0}
            cleaned = f.with_suffix(".clean.json")  # a source cleaned by the clean-text stage: what it removed
            if cleaned.is_file():
                rec = json.loads(cleaned.read_text())
                stats["sources"][unit]["cleaning"] = {k: rec[k] for k in ("kind", "lines_in", "words_in", "removed",
                                                                           "evaluation_text", "documents", "words")}
    write_json(tmp_out / "stats.json", stats)
    replace_dir(tmp_out, out_dir)
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return stats


def _shard_files(path: Path) -> list[Path]:
    if not (path / "stats.json").is_file():
        raise FileNotFoundError(f"{path} is not a prepared corpus (run `minilm-repro prepare-corpus` first)")
    shards = sorted(path.glob("data-*-of-*.arrow"))
    if not shards:
        raise FileNotFoundError(f"{path} holds no data-*.arrow shards; rerun `minilm-repro prepare-corpus`")
    return shards


def load_corpus(path: str | Path):
    """The prepared corpus as one ``datasets.Dataset`` (memory-mapped shards): columns input_ids, lang.

    Opening it writes nothing into ``path``; an unreadable shard (truncated, overwritten) is a
    one-line error naming it."""
    import datasets

    path = Path(path)
    parts = []
    for shard in _shard_files(path):
        try:
            parts.append(datasets.Dataset.from_file(str(shard)))
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"corpus shard {shard} is unreadable ({' '.join(str(exc).split())}): the prepared "
                             f"corpus is incomplete or corrupt; delete {path} and rerun `minilm-repro prepare-corpus`") from None
    return datasets.concatenate_datasets(parts)


def corpus_max_seq_len(path: str | Path) -> int:
    """The ``max_seq_len`` a prepared corpus was made with (tokens per block at most, [CLS]/[SEP] included)."""
    _shard_files(Path(path))
    return int(json.loads((Path(path) / "stats.json").read_text())["max_seq_len"])


def corpus_stats(path: str | Path) -> dict:
    """Blocks, tokens (incl. [CLS]/[SEP]) and per-language token shares of a prepared corpus.

    Reads only the list offsets and the language column (memory-mapped), not the token ids.
    """
    blocks: dict[str, int] = {}
    tokens: dict[str, int] = {}
    for shard in _shard_files(Path(path)):
        with pa.memory_map(str(shard)) as source:
            for batch in pa.ipc.open_stream(source):
                lengths = pc.list_value_length(batch.column("input_ids"))
                counts = pa.table({"lang": batch.column("lang"), "n": lengths}).group_by("lang").aggregate(
                    [("n", "sum"), ("n", "count")])
                for lang, n_tokens, n_blocks in zip(*(counts.column(c).to_pylist() for c in ("lang", "n_sum", "n_count"))):
                    tokens[lang] = tokens.get(lang, 0) + n_tokens
                    blocks[lang] = blocks.get(lang, 0) + n_blocks
    return _stats(blocks, tokens)


def _stats(blocks: dict[str, int], tokens: dict[str, int]) -> dict:
    total_blocks, total_tokens = sum(blocks.values()), sum(tokens.values())
    return {
        "blocks": total_blocks, "tokens": total_tokens,
        "mean_block_tokens": total_tokens / total_blocks if total_blocks else 0.0,
        "token_share": {l: tokens[l] / total_tokens for l in sorted(tokens)} if total_tokens else {},
        "tokens_by_lang": {l: tokens[l] for l in sorted(tokens)},
        "blocks_by_lang": {l: blocks[l] for l in sorted(blocks)},
    }
