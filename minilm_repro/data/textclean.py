"""Raw text files as a corpus source: the cleaning their distributors' formats need, evaluation text
excluded, in the corpus format (one sentence per line, a blank line between documents).

Kinds (``kind``), each rule counted in ``<out>.clean.json`` (lines and words it removed, per file):

* ``gutenberg``: a Project Gutenberg eBook. Everything up to and including the ``*** START OF``
  line and from the ``*** END OF`` line on is Gutenberg's header and licence, not book text
  (``outside_markers``; a file without both markers is an error). Paragraphs are the blocks
  between blank lines, their hard-wrapped lines joined; a paragraph of fewer than
  ``min_paragraph_words`` words, or whose every line is that short, is a heading, a list of
  contents or an ornament (``headings_and_lists``).
* ``wikitext``: WikiText's tokenised form. A `` = Title = `` line starts a new article (one
  document; the line itself is dropped, ``headings``), `` = = Section = = `` lines and deeper are
  dropped too; the `` @-@ ``, `` @,@ `` and `` @.@ `` tokens are undone (``-``, ``,``, ``.``:
  ``joined_tokens``, words counted as removed: the two separators around each); ``<unk>`` tokens
  are removed (``unk``: the tokenizer would split them into pieces of no word); the tokenised
  spacing of punctuation is undone (``word , word`` -> ``word, word``, ``( x )`` -> ``(x)``,
  ``do n't`` -> ``don't``: ``punctuation_spacing``, the words it merges), so that evaluation
  texts in their usual spelling are found.
* ``plain``: already the corpus format; only blank-line documents and whitespace are normalised.

Sentences: each paragraph cut at ``. ! ?`` followed by a space and a capital, digit or quote
(:func:`minilm_repro.data.realcorpus.sentences_of`). Documents: a WikiText article, or for books
consecutive paragraphs of one file up to ``group_words`` words, so blocks fill up.

**Evaluation text** (with ``tasks_root``): every non-train text of every imported task is searched
for and the sentences it overlaps are removed, exactly as for the tasks' own corpus
(:func:`minilm_repro.data.realcorpus.exclude_evaluation_text`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

from minilm_repro.config import ConfigError

KINDS = ("gutenberg", "wikitext", "plain")
_WIKI_JOINS = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."))
_SPACE_BEFORE = re.compile(r" (?=[,.;:!?)\]]|'s\b|'re\b|'ve\b|'ll\b|'d\b|'m\b|n't\b)")
_SPACE_AFTER = re.compile(r"(?<=[(\[]) ")


@dataclasses.dataclass
class CleanConfig:
    """``kind``: the files' format (``KINDS``); ``group_words``: words per book document;
    ``min_paragraph_words``: book paragraphs shorter than this, or of lines all shorter, are dropped."""

    kind: str
    group_words: int = 256
    min_paragraph_words: int = 4

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"corpus source clean: kind must be one of {KINDS}, got {self.kind!r}")
        if self.group_words < 1 or self.min_paragraph_words < 0:
            raise ConfigError("corpus source clean: group_words must be >= 1 and min_paragraph_words >= 0")


class _Counter:
    """Lines and words removed per rule, and what was read and kept, for one file."""

    def __init__(self):
        self.removed: dict[str, dict[str, int]] = {}
        self.lines_in = self.words_in = 0

    def drop(self, rule: str, lines: int, words: int) -> None:
        r = self.removed.setdefault(rule, {"lines": 0, "words": 0})
        r["lines"] += lines
        r["words"] += words


def _words(text: str) -> int:
    return len(text.split())


def _read_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text at byte {exc.start}; convert it (iconv -t UTF-8)") from None
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _paragraphs(lines: list[str]) -> list[list[str]]:
    """Blocks of non-blank lines."""
    out, cur = [], []
    for line in lines:
        if line.strip():
            cur.append(line)
        elif cur:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def gutenberg_documents(path: Path, cfg: CleanConfig, count: _Counter) -> list[list[str]]:
    """The book text of a Gutenberg file as documents (lists of sentences)."""
    from minilm_repro.data.realcorpus import sentences_of

    lines = _read_lines(path)
    count.lines_in, count.words_in = len(lines), sum(map(_words, lines))
    start = next((i for i, line in enumerate(lines) if line.startswith("*** START OF")), None)
    end = next((i for i, line in enumerate(lines) if line.startswith("*** END OF")), None)
    if start is None or end is None or end <= start:
        raise ConfigError(f"{path}: no '*** START OF' ... '*** END OF' markers: not a Project Gutenberg eBook "
                          "(clean it with kind: plain, or give the file as Gutenberg distributes it)")
    outside = lines[: start + 1] + lines[end:]
    count.drop("outside_markers", sum(1 for x in outside if x.strip()), sum(map(_words, outside)))
    docs, current, words = [], [], 0
    for para in _paragraphs(lines[start + 1: end]):
        text = " ".join(x.strip() for x in para)
        n = _words(text)
        if n < cfg.min_paragraph_words or all(_words(x) < cfg.min_paragraph_words for x in para):
            count.drop("headings_and_lists", len(para), n)
            continue
        current += sentences_of(text)
        words += n
        if words >= cfg.group_words:
            docs.append(current)
            current, words = [], 0
    if current:
        docs.append(current)
    return docs


def _heading_level(line: str) -> int:
    """1 for a WikiText title `` = Title = ``, 2 for `` = = Section = = ``, ...; 0 for a text line."""
    tokens = line.split()
    if len(tokens) < 3 or tokens[0] != "=" or tokens[-1] != "=":
        return 0
    level = 0
    while level < len(tokens) and tokens[level] == "=":
        level += 1
    return level


def wikitext_documents(path: Path, cfg: CleanConfig, count: _Counter) -> list[list[str]]:
    """The articles of a WikiText file (tokenised form) as documents (lists of sentences)."""
    from minilm_repro.data.realcorpus import sentences_of

    lines = _read_lines(path)
    count.lines_in, count.words_in = len(lines), sum(map(_words, lines))
    docs: list[list[str]] = []
    for line in lines:
        if not line.strip():
            continue
        level = _heading_level(line)
        if level:
            count.drop("headings", 1, _words(line))
            if level == 1:  # " = Title = ": a new article
                docs.append([])
            continue
        text = f" {line.strip()} "
        for token, joined in _WIKI_JOINS:
            n = text.count(token)
            if n:
                count.drop("joined_tokens", 0, 2 * n)
                text = text.replace(token, joined)
        unk = text.split().count("<unk>")
        if unk:
            count.drop("unk", 0, unk)
        text = " ".join(w for w in text.split() if w != "<unk>")
        spaced = _words(text)
        text = _SPACE_AFTER.sub("", _SPACE_BEFORE.sub("", text))
        count.drop("punctuation_spacing", 0, spaced - _words(text))
        if not docs:  # text before the first title: an article of its own
            docs.append([])
        docs[-1] += sentences_of(text)
    return [d for d in docs if d]


def plain_documents(path: Path, cfg: CleanConfig, count: _Counter) -> list[list[str]]:
    lines = _read_lines(path)
    count.lines_in, count.words_in = len(lines), sum(map(_words, lines))
    return [[" ".join(x.split()) for x in para] for para in _paragraphs(lines)]


READERS = {"gutenberg": gutenberg_documents, "wikitext": wikitext_documents, "plain": plain_documents}


def clean_text(files: list[str | Path], cfg: CleanConfig, out_file: str | Path, tasks_root: str | Path | None = None,
               source: str = "text") -> dict:
    """Write the cleaned documents of ``files`` to ``out_file`` and ``<out_file stem>.clean.json`` beside it; return the record."""
    from minilm_repro.data.realcorpus import (
        Doc,
        evaluation_texts,
        exclude_evaluation_text,
    )
    from minilm_repro.jobs.atomic import write_json, write_text

    if not files:
        raise ConfigError(f"corpus source {source!r}: no files to clean")
    docs: list[Doc] = []
    per_file = {}
    for f in map(Path, files):
        if not f.is_file():
            raise ConfigError(f"corpus source {source!r}: {f} does not exist")
        count = _Counter()
        got = READERS[cfg.kind](f, cfg, count)
        kept_words = sum(_words(s) for d in got for s in d)
        per_file[str(f)] = {"lines_in": count.lines_in, "words_in": count.words_in, "removed": count.removed,
                            "documents": len(got), "words_kept": kept_words,
                            "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
        docs += [Doc(source, d) for d in got]
    exclusion = None
    if tasks_root is not None and Path(tasks_root).is_dir():
        docs, exclusion = exclude_evaluation_text(docs, evaluation_texts(tasks_root))
    text = "\n\n".join("\n".join(d.sentences) for d in docs) + "\n"
    write_text(out_file, text)
    removed: dict[str, dict[str, int]] = {}
    for rec in per_file.values():
        for rule, r in rec["removed"].items():
            tot = removed.setdefault(rule, {"lines": 0, "words": 0})
            tot["lines"] += r["lines"]
            tot["words"] += r["words"]
    record = {"source": source, "kind": cfg.kind, "settings": dataclasses.asdict(cfg), "files": per_file,
              "lines_in": sum(r["lines_in"] for r in per_file.values()),
              "words_in": sum(r["words_in"] for r in per_file.values()), "removed": removed,
              "evaluation_text": exclusion, "documents": len(docs), "words": sum(d.words for d in docs),
              "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    write_json(Path(out_file).with_suffix(".clean.json"), record)
    return record
