"""An English pretraining corpus assembled from the imported real tasks, without their evaluation text.

Input: a canonical layout root that ``minilm-repro tasks import`` filled. Output::

    <out>/en.txt        one sentence per line, a blank line between documents (what
                        :func:`minilm_repro.data.corpus.prepare_corpus` reads; the stem is the language)
    <out>/CORPUS.json   words and documents per source, what was excluded, the text's sha256

Text comes only from the **train** split of each English task (``SOURCES``):

* SQuAD 2.0 / SQuAD 1.1 contexts (Wikipedia paragraphs), each distinct paragraph one document,
  cut into sentences at ``. ! ?`` followed by a space and a capital, digit or quote;
* QNLI questions and sentences, RTE / MRPC / STS-B sentence pairs and SST-2 sentences. SST-2's
  training set holds every phrase of its parse trees: a phrase that is a contiguous word
  sequence of a longer SST-2 text is dropped, so each review sentence comes once. A text that
  is a substring of text already taken (a QNLI sentence of a SQuAD paragraph) is dropped too.
  These short texts are gathered, in their source order, into documents of about
  ``group_words`` words, so that blocks fill up instead of holding one sentence each.

**Exclusion**: every text of every other split under the root (validation, test: of every task,
any language) of at least ``MIN_EVAL_WORDS`` (3) words is searched for, case- and
whitespace-insensitively, as a substring of every document; the sentences an occurrence
overlaps are removed and the document is cut there (its remaining pieces become separate
documents; pieces under ``min_piece_words`` words are dropped). Afterwards no evaluation text occurs in any document (checked, see :func:`leaks`).

Documents are then put in a stable pseudo-random order (sha256 of their text) so that sources
mix, and ``max_words`` (if given) keeps the first documents up to that many words. The output
depends on the input files and the arguments only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections import defaultdict
from pathlib import Path

from minilm_repro.data import layout
from minilm_repro.data.features import QA_TASKS, TEXT_COLUMNS

# the train-side texts taken, in this order
SOURCES = ("squad_v2", "squad", "qnli", "sst2", "rte", "mrpc", "stsb")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\u201c])")


def normalize(text: str) -> str:
    """Whitespace collapsed to single spaces (as in the output file's lines)."""
    return " ".join(text.split())


def match_form(text: str) -> str:
    """The form texts are compared in: whitespace-normalised and lower-cased."""
    return normalize(text).lower()


def sentences_of(paragraph: str) -> list[str]:
    """A paragraph cut into sentences (a plain rule, see the module docstring); whitespace-normalised."""
    return [s for s in (normalize(p) for p in _SENTENCE_END.split(paragraph)) if s]


class TextIndex:
    """Documents (match form) with a word index: finds every document that contains a text.

    A text of three or more words can only occur in a document holding each of its interior
    words as a whole word, so only the documents of its rarest interior word are searched;
    shorter texts are searched in every document.
    """

    def __init__(self):
        self.docs: list[str] = []
        self._by_word: dict[str, list[int]] = defaultdict(list)

    def add(self, doc: str) -> int:
        i = len(self.docs)
        self.docs.append(doc)
        for w in set(doc.split(" ")):
            self._by_word[w].append(i)
        return i

    def containing(self, text: str) -> list[int]:
        """Indices of the documents in which ``text`` (match form) occurs as a substring."""
        words = text.split(" ")
        interior = words[1:-1]
        if interior:
            rarest = min(interior, key=lambda w: len(self._by_word.get(w, ())))
            candidates = self._by_word.get(rarest, ())
        else:
            candidates = range(len(self.docs))
        return [i for i in candidates if text in self.docs[i]]


def _train_rows(root: Path, task: str):
    """The train split of ``task`` (config default) under ``root``, or None when not imported."""
    path = layout.split_path(root, task, layout.DEFAULT_CONFIG, "train")
    return layout.load_split(root, task, layout.DEFAULT_CONFIG, "train") if path.is_file() else None


MIN_EVAL_WORDS = 3  # evaluation texts of one or two words ("bad .", "...") are phrases, not documents


def evaluation_texts(root: str | Path, min_words: int = MIN_EVAL_WORDS) -> list[str]:
    """Every text (match form, distinct, sorted) of every split except ``train`` of every task under
    ``root`` that has at least ``min_words`` whitespace-separated words."""
    root = Path(root)
    texts: set[str] = set()
    for task_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        task = task_dir.name
        columns = ("context", "question") if task in QA_TASKS else TEXT_COLUMNS.get(task)
        if columns is None:
            continue
        for config_dir in sorted(p for p in task_dir.iterdir() if p.is_dir()):
            for split_file in sorted(config_dir.glob("*.parquet")):
                if split_file.stem == "train":
                    continue
                ds = layout.load_split(root, task, config_dir.name, split_file.stem)
                for column in columns:
                    texts.update(t for t in map(match_form, ds[column]) if len(t.split(" ")) >= min_words)
    return sorted(texts)


@dataclasses.dataclass
class Doc:
    source: str
    sentences: list[str]

    @property
    def words(self) -> int:
        return sum(len(s.split(" ")) for s in self.sentences)


def _short_texts(root: Path, task: str) -> list[str]:
    ds = _train_rows(root, task)
    if ds is None:
        return []
    out = []
    for row in zip(*(ds[c] for c in TEXT_COLUMNS[task])):
        out.extend(normalize(t) for t in row)
    return [t for t in out if t]


def _maximal_phrases(texts: list[str]) -> list[str]:
    """The texts (source order kept) that are no contiguous word sequence of another, longer or earlier, text."""
    order = sorted(range(len(texts)), key=lambda i: (-len(texts[i].split(" ")), i))
    index = TextIndex()
    short: set[str] = set()  # every 1- and 2-word sequence of the kept texts
    keep = set()
    for i in order:
        m = match_form(texts[i])
        words = m.split(" ")
        if len(words) <= 2:
            if m in short:
                continue
        else:
            # whole-word containment: pad with spaces so that "ice" does not match inside "nice"
            padded = f" {m} "
            if any(padded in index.docs[j] for j in index.containing(m)):
                continue
            index.add(padded)
        short.update(words)
        short.update(f"{a} {b}" for a, b in zip(words, words[1:]))
        keep.add(i)
    return [texts[i] for i in sorted(keep)]


def _group(source: str, texts: list[str], group_words: int) -> list[Doc]:
    docs, current, words = [], [], 0
    for t in texts:
        current.append(t)
        words += len(t.split(" "))
        if words >= group_words:
            docs.append(Doc(source, current))
            current, words = [], 0
    if current:
        docs.append(Doc(source, current))
    return docs


def _cut(doc: Doc, hits: set[int], min_piece_words: int) -> list[Doc]:
    pieces, current = [], []
    for k, s in enumerate(doc.sentences):
        if k in hits:
            if current:
                pieces.append(current)
            current = []
        else:
            current.append(s)
    if current:
        pieces.append(current)
    out = [Doc(doc.source, p) for p in pieces]
    return [d for d in out if d.words >= min_piece_words]


def _doc_match_form(doc: Doc) -> tuple[str, list[int]]:
    """(the document's sentences in match form joined by spaces, start offset of each sentence)."""
    starts, parts, pos = [], [], 0
    for s in doc.sentences:
        m = match_form(s)
        starts.append(pos)
        parts.append(m)
        pos += len(m) + 1
    return " ".join(parts), starts


def leaks(docs: list[list[str]], eval_texts: list[str]) -> list[tuple[str, int]]:
    """(evaluation text, document number) for every evaluation text that occurs in a document (sentence lists)."""
    index = TextIndex()
    for d in docs:
        index.add(" ".join(match_form(s) for s in d))
    return [(t, i) for t in eval_texts for i in index.containing(t)]


def read_corpus_documents(path: str | Path) -> list[list[str]]:
    """The documents (lists of sentences) of a corpus text file."""
    from minilm_repro.data.corpus import read_documents

    return list(read_documents(path))


def exclude_evaluation_text(docs: list[Doc], eval_texts: list[str], min_piece_words: int = 8
                            ) -> tuple[list[Doc], dict]:
    """(the documents with every sentence that an evaluation text overlaps removed, the document cut
    there and pieces under ``min_piece_words`` words dropped; a report of what was found and removed).
    ``eval_texts``: match forms (:func:`evaluation_texts`). Afterwards no evaluation text occurs (checked)."""
    forms = [_doc_match_form(d) for d in docs]
    doc_index = TextIndex()
    for text, _ in forms:
        doc_index.add(text)
    hits: dict[int, set[int]] = defaultdict(set)
    matched_texts = 0
    for t in eval_texts:
        found = doc_index.containing(t)
        matched_texts += bool(found)
        for i in found:
            text, starts = forms[i]
            pos = text.find(t)
            while pos >= 0:
                end = pos + len(t)
                for k, start in enumerate(starts):
                    stop = start + len(match_form(docs[i].sentences[k]))
                    if start < end and pos < stop:
                        hits[i].add(k)
                pos = text.find(t, pos + 1)
    kept: list[Doc] = []
    removed_sentences = removed_words = 0
    for i, d in enumerate(docs):
        if i in hits:
            removed_sentences += len(hits[i])
            pieces = _cut(d, hits[i], min_piece_words)
            removed_words += d.words - sum(p.words for p in pieces)
            kept.extend(pieces)
        else:
            kept.append(d)
    remaining = leaks([d.sentences for d in kept], eval_texts)
    if remaining:
        raise RuntimeError(f"text still holds evaluation text {remaining[0][0][:80]!r}: a bug in exclude_evaluation_text")
    return kept, {"evaluation_texts": len(eval_texts), "texts_found_in_corpus": matched_texts,
                  "documents_cut": len(hits), "sentences_removed": removed_sentences, "words_removed": removed_words,
                  "rule": f"every non-train text of >= {MIN_EVAL_WORDS} words of every task under the root, "
                          "case/whitespace-insensitive substring; overlapped sentences removed, document cut there"}


def build_real_corpus(tasks_root: str | Path, out_dir: str | Path, *, max_words: int | None = None,
                      group_words: int = 256, min_piece_words: int = 8) -> dict:
    """Write ``<out_dir>/en.txt`` and ``CORPUS.json`` (module docstring); returns the CORPUS.json record.

    ``max_words``: keep documents (in their stable shuffled order) up to this many whitespace
    words (None: all). ``group_words``: words per document of gathered short texts.
    ``min_piece_words``: pieces of a cut document shorter than this are dropped.
    """
    root = Path(tasks_root)
    if not root.is_dir():
        raise FileNotFoundError(f"tasks root {root} does not exist; import the tasks first (minilm-repro tasks import)")
    docs: list[Doc] = []
    taken: dict[str, dict] = {}
    index = TextIndex()  # everything taken so far, for the redundancy check of short texts
    for task in SOURCES:
        if task in QA_TASKS:
            ds = _train_rows(root, task)
            if ds is None:
                continue
            seen = set()
            new = []
            for context in ds["context"]:
                if context in seen:
                    continue
                seen.add(context)
                new.append(Doc(task, sentences_of(context)))
            for d in new:
                index.add(_doc_match_form(d)[0])
            taken[task] = {"kind": "paragraphs (one document each)", "documents": len(new)}
            docs.extend(new)
            continue
        texts = _short_texts(root, task)
        if not texts:
            continue
        rows = len(texts)
        distinct = list(dict.fromkeys(texts))
        if task == "sst2":
            distinct = _maximal_phrases(distinct)
        fresh = [t for t in distinct if not index.containing(match_form(t))]
        for t in fresh:
            index.add(match_form(t))
        new = _group(task, fresh, group_words)
        taken[task] = {"kind": f"texts gathered into documents of ~{group_words} words", "texts_in_train": rows,
                       "distinct": len(distinct), "already_in_corpus": len(distinct) - len(fresh), "kept": len(fresh),
                       "documents": len(new)}
        docs.extend(new)
    if not docs:
        raise FileNotFoundError(f"{root}: no train split of any of {', '.join(SOURCES)}; import them first "
                                f"(e.g. minilm-repro tasks import glue/qnli --source glue_data/QNLI --out {root} --split-dev 0.3)")
    words_before = sum(d.words for d in docs)
    eval_texts = evaluation_texts(root)
    kept, exclusion = exclude_evaluation_text(docs, eval_texts, min_piece_words)
    # stable pseudo-random order, then the word budget
    kept.sort(key=lambda d: hashlib.sha256("\n".join(d.sentences).encode("utf-8")).hexdigest())
    if max_words is not None:
        budget, total, chosen = max_words, 0, []
        for d in kept:
            if total >= budget:
                break
            chosen.append(d)
            total += d.words
        kept = chosen
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = "\n\n".join("\n".join(d.sentences) for d in kept) + "\n"
    tmp = out / "en.txt.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out / "en.txt")
    by_source: dict[str, dict] = {}
    for d in kept:
        s = by_source.setdefault(d.source, {"documents": 0, "words": 0})
        s["documents"] += 1
        s["words"] += d.words
    record = {
        "tasks_root": str(root.resolve()), "file": "en.txt", "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "documents": len(kept), "words": sum(d.words for d in kept), "by_source": by_source, "taken": taken,
        "words_before_exclusion": words_before, "max_words": max_words, "group_words": group_words,
        "exclusion": exclusion,
    }
    (out / "CORPUS.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record
