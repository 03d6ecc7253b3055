"""Documents -> packed token blocks: batched fast tokenisation and greedy packing, as Arrow arrays.

A *part* is the packed blocks of ``batch_size`` consecutive documents of one language file,
written to its own Arrow IPC file (``part-000012.arrow``). Parts are independent, so worker
processes tokenise them in parallel and a killed run keeps the parts it finished: a part file
appears (``os.replace``) only once it is complete.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pyarrow as pa

BLOCKS = pa.schema([pa.field("input_ids", pa.list_(pa.int32()))])


def block_spans(sentence_lengths: list[list[int]], budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy packing of whole sentences, per document, into blocks of at most ``budget`` tokens.

    ``sentence_lengths[d][s]``: tokens of sentence ``s`` of document ``d``. The tokens of all
    documents laid end to end form one flat sequence; every block is a span ``[start, end)`` of
    it that never crosses a document boundary. A sentence that does not fit the current block
    starts the next one; a sentence longer than ``budget`` is cut into ``budget``-token pieces
    (its remainder starts a block that later sentences may join).
    Returns ``(starts, ends)``, int64 arrays of one entry per block, in order.
    """
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for lengths in sentence_lengths:
        start = pos
        for n in lengths:
            end = pos + n
            if end - start > budget and pos > start:
                starts.append(start)
                ends.append(pos)
                start = pos
            while end - start > budget:
                starts.append(start)
                ends.append(start + budget)
                start += budget
            pos = end
        if pos > start:
            starts.append(start)
            ends.append(pos)
    return np.asarray(starts, np.int64), np.asarray(ends, np.int64)


def assemble_blocks(flat_ids: np.ndarray, starts: np.ndarray, ends: np.ndarray, cls_id: int, sep_id: int) -> pa.ListArray:
    """``[CLS] flat_ids[start:end] [SEP]`` for every span, as one Arrow ``list<int32>`` array (no Python loop)."""
    lengths = ends - starts
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths + 2, out=offsets[1:])
    out = np.empty(offsets[-1], np.int32)
    out[offsets[:-1]] = cls_id
    out[offsets[1:] - 1] = sep_id
    inner = np.ones(offsets[-1], bool)
    inner[offsets[:-1]] = False
    inner[offsets[1:] - 1] = False
    # flat position of every inner token: its block's start plus its rank inside the block
    rank = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[inner] = flat_ids[np.repeat(starts, lengths) + rank]
    return pa.ListArray.from_arrays(_int32_array(offsets.astype(np.int32)), _int32_array(out))


def _int32_array(values: np.ndarray) -> pa.Array:
    """An Arrow int32 array over a numpy one, zero-copy (``pa.array`` would import pandas: 0.2 s a worker)."""
    values = np.ascontiguousarray(values, np.int32)
    return pa.Array.from_buffers(pa.int32(), len(values), [None, pa.py_buffer(values)])


def pack_documents(backend, documents: list[list[str]], cls_id: int, sep_id: int, budget: int,
                   cache: WordCache | None = None, verify: int = 0) -> pa.ListArray:
    """Tokenise ``documents`` (lists of sentences) in one batch with a ``tokenizers.Tokenizer`` and pack them.

    Ids are those of ``tokenizer(sentence, add_special_tokens=False)``; each block is
    ``[CLS] ... [SEP]`` with at most ``budget`` tokens between the two. With a :class:`WordCache`
    (built for ``backend``) the ids come from it; ``verify`` > 0 then also checks that many
    sentences against whole-sentence tokenisation (:meth:`WordCache.verify`).
    """
    sentences = [s for doc in documents for s in doc]
    if cache is None:
        flat, lengths = encode_sentences(backend, sentences)
    else:
        flat, lengths = cache.encode(sentences)
        if verify:
            cache.verify(sentences, flat, lengths, verify)
    lengths = lengths.tolist()
    per_doc, i = [], 0
    for doc in documents:
        per_doc.append(lengths[i:i + len(doc)])
        i += len(doc)
    starts, ends = block_spans(per_doc, budget)
    return assemble_blocks(flat, starts, ends, cls_id, sep_id)


def encode_sentences(backend, sentences: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Whole-sentence tokenisation: (every sentence's ids laid end to end as int32, int64 length per sentence)."""
    ids = [e.ids for e in backend.encode_batch_fast(sentences, add_special_tokens=False)]
    lengths = np.fromiter(map(len, ids), np.int64, count=len(ids))
    return np.fromiter(itertools.chain.from_iterable(ids), np.int32, count=int(lengths.sum())), lengths


# --------------------------------------------------------------------------- word cache
#
# The tokenizers below are decomposable at ASCII spaces: the ids of a sentence are the ids of its
# ' '-separated chunks, tokenised one by one, laid end to end. Normalisation and pre-tokenisation
# never look across a space (BertNormalizer maps character by character and BertPreTokenizer
# splits at every whitespace; Precompiled works within grapheme clusters, and WhitespaceSplit
# drops the space before Metaspace prefixes each word with its own "\u2581"), and the models
# (WordPiece, Unigram) tokenise each pre-token on its own. Checked on every code point next to a
# space and on real multilingual text (tests/test_corpus_word_cache.py). Only str.split(" "):
# str.split() also cuts at \x1c-\x1f, which BertNormalizer deletes, joining their neighbours.
#
# One exception: a grapheme cluster can span a space ("\u0301" or "\u200d" right after one, a
# "prepend" character such as "\u0600" right before one), and Precompiled looks clusters up whole,
# so " \u0301\u0e33" and "\u0301\u0e33" can normalise differently. Sentences with a space next to
# such a character (any mark, format, modifier or unassigned code point: a superset) are
# tokenised whole.

WORD_CACHE_MODELS = ("WordPiece", "Unigram")


def _metaspace_words(pre: dict) -> bool:
    """``Sequence[WhitespaceSplit, Metaspace]`` with every word prefixed (or none): XLM-R's layout."""
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else []
    return ([s.get("type") for s in steps] == ["WhitespaceSplit", "Metaspace"]
            and steps[1].get("prepend_scheme") in ("always", "never"))


def word_cache_support(tokenizer_json: str) -> str | None:
    """None when the tokenizer (``backend_tokenizer.to_str()``) is one whose pipeline is known to
    decompose at ASCII spaces, else the reason it is not (for error messages and stats)."""
    import json

    spec = json.loads(tokenizer_json)
    model = (spec.get("model") or {}).get("type")
    norm = spec.get("normalizer") or {}
    pre = spec.get("pre_tokenizer") or {}
    described = describe_tokenizer(tokenizer_json)
    if model not in WORD_CACHE_MODELS:
        return f"{described}: model not in {WORD_CACHE_MODELS}"
    bert = norm.get("type") == "BertNormalizer" and pre.get("type") == "BertPreTokenizer"
    metaspace = norm.get("type") in (None, "Precompiled") and _metaspace_words(pre)
    if not (bert or metaspace):
        return (f"{described}: only BertNormalizer + BertPreTokenizer, or Precompiled/no normalizer + "
                f"Sequence[WhitespaceSplit, Metaspace(prepend_scheme always|never)] are known to decompose at spaces")
    spaced = [t.get("content") for t in spec.get("added_tokens", []) if " " in t.get("content", "")]
    if spaced:
        return f"{described}: added tokens contain spaces {spaced[:3]}"
    return None


def describe_tokenizer(tokenizer_json: str) -> str:
    """"model X, normalizer Y, pre_tokenizer Z" of a tokenizer JSON, for messages."""
    import json

    spec = json.loads(tokenizer_json)
    pre = spec.get("pre_tokenizer") or {}
    steps = f"[{', '.join(s.get('type', '?') for s in pre.get('pretokenizers', []))}]" if pre.get("type") == "Sequence" else ""
    return (f"model {(spec.get('model') or {}).get('type')}, normalizer {(spec.get('normalizer') or {}).get('type')}, "
            f"pre_tokenizer {pre.get('type')}{steps}")


# UAX #29 Prepend (GB9b: joins the next character), Unicode 15.1
_PREPEND = {*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x0D4E, 0x110BD, 0x110CD, 0x111C2, 0x111C3,
            0x1193F, 0x11941, 0x11A3A, *range(0x11A84, 0x11A8A), 0x11D46, 0x11F02}
_JOINS = np.full(0x110000, -1, np.int8)  # per code point, filled on first sight: bit 1 joins after a space, bit 2 before
_JOINS[:0x80] = 0  # ASCII never shares a cluster with a space


def space_joins(codes: np.ndarray) -> np.ndarray:
    """Per code point of ``codes``: bit 1 set when, right after a space, it may share the space's grapheme
    cluster (a superset of UAX #29's Extend, ZWJ and SpacingMark: every mark, format character, modifier
    symbol or unassigned code point, and U+FF9E/U+FF9F); bit 2 when it may right before one (Prepend, or
    unassigned: a newer Unicode may make it Prepend). An int8 array."""
    import unicodedata

    flags = _JOINS[codes]
    unknown = flags < 0
    if unknown.any():
        for c in np.unique(codes[unknown]).tolist():
            k = unicodedata.category(chr(c))
            _JOINS[c] = ((k in ("Mn", "Mc", "Me", "Cf", "Cn", "Sk") or c in (0xFF9E, 0xFF9F))
                         | (k == "Cn" or c in _PREPEND) << 1)
        flags = _JOINS[codes]
    return flags


class WordCache:
    """Token ids by ' '-separated chunk, for a tokenizer that :func:`word_cache_support` accepts.

    Chunk -> integer slot in a dict; the slots' ids live in flat numpy arrays (CSR: ``offsets``,
    ``ids``). A batch encodes only its chunks not yet cached (one ``encode_batch_fast``) and builds
    each sentence's ids with numpy gathers. At most ``capacity`` chunks of at most ``max_chars``
    characters are kept, so memory stays bounded (about 100 MB a worker when full; later new chunks are
    encoded for their batch and dropped); the state never changes an id, only how many are computed.
    """

    def __init__(self, backend, capacity: int = 1_000_000, max_chars: int = 32):
        self.backend = backend
        self.capacity = capacity
        self.max_chars = max_chars
        self.slots: dict[str, int] = {}
        self.offsets = np.zeros(1024, np.int64)
        self.ids = np.zeros(4096, np.int32)
        self.size = 0  # slots in use (those of the current batch past ``capacity`` included)
        self.encoded_chunks = 0  # chunks given to the tokenizer (stats of the work saved)
        self.seen_chunks = 0
        self.whole_sentences = 0  # sentences tokenised whole (a space in a grapheme cluster)

    def _append(self, encodings) -> None:
        """Give the encodings the next slots (CSR arrays grown by doubling)."""
        ids = [e.ids for e in encodings]
        lengths = np.fromiter(map(len, ids), np.int64, count=len(ids))
        n, used = self.size, int(self.offsets[self.size])
        need_slots, need_ids = n + len(ids) + 1, used + int(lengths.sum())
        if need_slots > len(self.offsets):
            self.offsets = np.resize(self.offsets, max(need_slots, 2 * len(self.offsets)))
        if need_ids > len(self.ids):
            self.ids = np.resize(self.ids, max(need_ids, 2 * len(self.ids)))
        np.cumsum(lengths, out=self.offsets[n + 1:need_slots])
        self.offsets[n + 1:need_slots] += used
        self.ids[used:need_ids] = np.fromiter(itertools.chain.from_iterable(ids), np.int32, count=need_ids - used)
        self.size = need_slots - 1

    def _chunks(self, sentences: list[str]) -> tuple[list[str], np.ndarray]:
        """Every sentence's ' '-chunks laid end to end, and the number per sentence (int64).

        A sentence with a space that may share a grapheme cluster with its neighbour (:func:`space_joins`)
        is one chunk: Precompiled normalises whole clusters, so " \u0301\u0e33" and "\u0301\u0e33" may differ."""
        joined = " ".join(sentences)
        codes = np.frombuffer(joined.encode("utf-32-le"), np.uint32)
        spaces = np.flatnonzero(codes == 32)
        size = np.fromiter(map(len, sentences), np.int64, count=len(sentences)) + 1
        starts = np.cumsum(size) - size  # of each sentence in ``joined``; a joining space before each but the first
        counts = np.diff(np.searchsorted(spaces, np.append(starts, len(codes) + 1)))
        counts[-1] += 1  # every sentence but the last also counted the space that joins it to the next
        chunks = joined.split(" ")
        padded = np.concatenate(([0], codes, [0]))
        joins = spaces[((space_joins(padded[spaces + 2]) & 1) | (space_joins(padded[spaces]) & 2)) != 0]
        if joins.size:
            joins = joins[~np.isin(joins, starts[1:] - 1)]  # spaces between sentences never matter
        if joins.size:
            whole = np.unique(np.searchsorted(starts, joins, side="right") - 1)
            bounds = np.concatenate(([0], np.cumsum(counts)))
            for i in whole[::-1].tolist():  # from the back, so earlier bounds stay valid
                chunks[bounds[i]:bounds[i + 1]] = [sentences[i]]
            counts[whole] = 1
            self.whole_sentences += len(whole)
        return chunks, counts

    def encode(self, sentences: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """As :func:`encode_sentences`: (ids laid end to end as int32, int64 length per sentence)."""
        if not sentences:
            return np.zeros(0, np.int32), np.zeros(0, np.int64)
        chunks, counts = self._chunks(sentences)
        slot = np.fromiter(map(self.slots.get, chunks, itertools.repeat(-1)), np.int64, count=len(chunks))
        missing = np.flatnonzero(slot < 0)
        self.seen_chunks += len(chunks)
        kept = self.size
        if missing.size:
            missed = [chunks[i] for i in missing.tolist()]
            new = list(dict.fromkeys(missed))
            room = max(0, self.capacity - self.size)
            keep = [c for c in new if len(c) <= self.max_chars][:room]
            if len(keep) < len(new):
                kept_set = set(keep)
                new = keep + [c for c in new if c not in kept_set]
            local = dict(zip(new, range(self.size, self.size + len(new))))
            slot[missing] = np.fromiter(map(local.__getitem__, missed), np.int64, count=len(missed))
            self._append(self.backend.encode_batch_fast(new, add_special_tokens=False))
            self.encoded_chunks += len(new)
            self.slots.update(itertools.islice(local.items(), len(keep)))
            kept += len(keep)
        starts = self.offsets[slot]
        lengths = self.offsets[slot + 1] - starts
        total = int(lengths.sum())
        # position of every token: its chunk's start in ``ids`` plus its rank inside the chunk
        ends = np.cumsum(lengths)
        flat = self.ids[np.repeat(starts - (ends - lengths), lengths) + np.arange(total)]
        bounds = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=bounds[1:])
        sentence_lengths = np.diff(np.concatenate(([0], ends))[bounds])
        self.size = kept  # chunks of this batch beyond the capacity are forgotten
        return flat, sentence_lengths

    def verify(self, sentences: list[str], flat: np.ndarray, lengths: np.ndarray, count: int) -> None:
        """Raise if the cached ids of up to ``count`` evenly spread ``sentences`` differ from whole-sentence ids."""
        pick = np.unique(np.linspace(0, len(sentences) - 1, min(count, len(sentences))).astype(np.int64))
        whole = self.backend.encode_batch_fast([sentences[i] for i in pick.tolist()], add_special_tokens=False)
        offsets = np.concatenate(([0], np.cumsum(lengths)))
        for i, w in zip(pick.tolist(), whole):
            if flat[offsets[i]:offsets[i + 1]].tolist() != w.ids:
                raise RuntimeError(
                    f"word cache: the tokenizer ({describe_tokenizer(self.backend.to_str())}) does not give the "
                    f"same ids for the sentence {sentences[i][:200]!r} tokenised whole and chunk by chunk at spaces; "
                    f"set corpus.word_cache: false")


def write_part(path: Path, blocks: pa.ListArray) -> tuple[int, int]:
    """Write one part atomically (a ``.tmp`` file renamed when complete); returns (blocks, tokens).

    The block count also goes into the file's schema metadata, so :func:`part_rows` reads no data.
    """
    schema = BLOCKS.with_metadata({"blocks": str(len(blocks))})
    tmp = path.with_name(path.name + ".tmp")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        writer.write_table(pa.Table.from_arrays([blocks], schema=schema))
    os.replace(tmp, path)
    return len(blocks), len(blocks.values)


def part_rows(path: Path) -> int:
    """Blocks in a part file, from its footer."""
    with pa.OSFile(str(path), "rb") as source:
        return int(pa.ipc.open_file(source).schema.metadata[b"blocks"])


def read_part(path: Path) -> pa.Table:
    """A part read into memory (not memory-mapped: its pages are freed with the table)."""
    with pa.OSFile(str(path), "rb") as source:
        return pa.ipc.open_file(source).read_all().replace_schema_metadata(None)


# --------------------------------------------------------------------------- worker processes

_WORKER: dict = {}


def load_backend(tokenizer_json: str):
    """A ``tokenizers.Tokenizer`` from its JSON (``backend_tokenizer.to_str()``), without truncation or padding."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer_json)
    backend.no_truncation()
    backend.no_padding()
    return backend


def init_worker(tokenizer_file: str, cls_id: int, sep_id: int, budget: int, word_cache: bool = False) -> None:
    """Per-process state of a tokenising worker (its word cache persists across the parts it packs);
    ``tokenizer_file`` holds the tokenizer's JSON (``backend_tokenizer.to_str()``)."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # parallel across processes, not threads in each
    backend = load_backend(Path(tokenizer_file).read_text(encoding="utf-8"))
    _WORKER.update(backend=backend, cls_id=cls_id, sep_id=sep_id, budget=budget,
                   cache=WordCache(backend) if word_cache else None)


def tokenize_part(path: Path, documents: list[list[str]], verify: int = 0) -> tuple[int, int]:
    """Pack ``documents`` with the worker's tokenizer into the part file ``path``; returns (blocks, tokens)."""
    w = _WORKER
    return write_part(path, pack_documents(w["backend"], documents, w["cls_id"], w["sep_id"], w["budget"],
                                           cache=w["cache"], verify=verify))
