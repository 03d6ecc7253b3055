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
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(out))


def pack_documents(backend, documents: list[list[str]], cls_id: int, sep_id: int, budget: int) -> pa.ListArray:
    """Tokenise ``documents`` (lists of sentences) in one batch with a ``tokenizers.Tokenizer`` and pack them.

    Ids are those of ``tokenizer(sentence, add_special_tokens=False)``; each block is
    ``[CLS] ... [SEP]`` with at most ``budget`` tokens between the two.
    """
    sentences = [s for doc in documents for s in doc]
    ids = [e.ids for e in backend.encode_batch_fast(sentences, add_special_tokens=False)]
    lengths = [len(x) for x in ids]
    flat = np.fromiter(itertools.chain.from_iterable(ids), np.int32, count=sum(lengths))
    per_doc, i = [], 0
    for doc in documents:
        per_doc.append(lengths[i:i + len(doc)])
        i += len(doc)
    starts, ends = block_spans(per_doc, budget)
    return assemble_blocks(flat, starts, ends, cls_id, sep_id)


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


def init_worker(tokenizer_json: str, cls_id: int, sep_id: int, budget: int) -> None:
    """Per-process state of a tokenising worker."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # parallel across processes, not threads in each
    _WORKER.update(backend=load_backend(tokenizer_json), cls_id=cls_id, sep_id=sep_id, budget=budget)


def tokenize_part(path: Path, documents: list[list[str]]) -> tuple[int, int]:
    """Pack ``documents`` with the worker's tokenizer into the part file ``path``; returns (blocks, tokens)."""
    w = _WORKER
    return write_part(path, pack_documents(w["backend"], documents, w["cls_id"], w["sep_id"], w["budget"]))
