"""Readers for the distributed file formats of the paper's tasks.

* GLUE TSVs as the GLUE download script writes them (one layout per task, see ``GLUE_COLUMNS``),
* SQuAD 1.1 / 2.0 JSON and MLQA JSON (the same layout; MLQA has no titles in its hub features),
* XNLI TSVs: the XNLI 1.0 multi-language files (``xnli.dev.tsv``, ``xnli.test.tsv``: columns
  ``language gold_label ... sentence1 sentence2 ...``) and three-column premise/hypothesis/label
  files (XNLI-MT ``multinli.train.<lang>.tsv`` with a ``premise hypo label`` header, or
  headerless per-language copies such as XGLUE's).

Every reader returns ``datasets.Dataset``s with exactly ``FEATURES[task]``, converted the way the
hub's loading scripts convert the same files: label strings become the ``ClassLabel`` ids, ``idx``
is the 0-based data-row order, a GLUE test file without labels gets label -1 (a train or dev file
without them is an error). Where the
hub silently drops a malformed row, these readers stop with a :class:`TaskFormatError` naming the
file and line (TSV) or question id (JSON) and the fix.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from minilm_repro.data.features import (
    FEATURES,
    GLUE_TASKS,
    MLQA_LANGUAGES,
    QA_TASKS,
    TEXT_COLUMNS,
    XNLI_LANGUAGES,
)


class TaskFormatError(ValueError):
    """A task file that cannot be read as its format; the message names file, line or id and the fix."""


@dataclasses.dataclass(frozen=True)
class GlueColumns:
    """Which columns of a GLUE TSV hold the texts (in ``TEXT_COLUMNS`` order) and the label."""

    texts: tuple[str, ...]
    label: str


GLUE_COLUMNS: dict[str, GlueColumns] = {
    "cola": GlueColumns(("sentence",), "label"),
    "sst2": GlueColumns(("sentence",), "label"),
    "mrpc": GlueColumns(("#1 String", "#2 String"), "Quality"),
    "stsb": GlueColumns(("sentence1", "sentence2"), "score"),
    "qqp": GlueColumns(("question1", "question2"), "is_duplicate"),
    "mnli": GlueColumns(("sentence1", "sentence2"), "gold_label"),
    "qnli": GlueColumns(("question", "sentence"), "label"),
    "rte": GlueColumns(("sentence1", "sentence2"), "label"),
}
# CoLA's train/dev files have no header; its test file has the header ``index sentence``
COLA_HEADERLESS = ("source", "label", "original_label", "sentence")

# split names in distributed file names -> hub split names
_SPLIT_WORDS = {"train": "train", "dev": "validation", "validation": "validation", "test": "test"}
_MNLI_SPLITS = {
    "dev_matched": "validation_matched", "dev_mismatched": "validation_mismatched",
    "test_matched": "test_matched", "test_mismatched": "test_mismatched", "train": "train",
}
_MLQA_NAME = re.compile(r"^(dev|test)-context-([a-z]+)-question-([a-z]+)\.json$")
_XNLI_ALIASES = {"contradictory": "contradiction"}  # XNLI-MT training files spell it this way
STSB_RANGE = (0.0, 5.0)


# --------------------------------------------------------------------------- file names


def split_from_filename(task: str, path: str | Path) -> str | None:
    """The hub split a distributed file holds, from its name; None if the name says none.

    GLUE: the part before the first dot (``dev.tsv``, ``dev_matched.tsv``, ``dev.msr-untokenized.tsv``;
    ``dev_ids.tsv`` is no split). Others: the one split word among the ``-_.``-separated parts of
    the stem (``dev-v2.0.json``, ``multinli.train.de.tsv``, ``dev-context-de-question-de.json``).
    """
    name = Path(path).name.lower()
    if task in GLUE_TASKS:
        head = name.split(".")[0]
        return _MNLI_SPLITS.get(head) if task == "mnli" else _SPLIT_WORDS.get(head)
    words = {_SPLIT_WORDS[w] for w in re.split(r"[-_.]", Path(name).stem) if w in _SPLIT_WORDS}
    if len(words) > 1:
        raise TaskFormatError(
            f"{path}: the file name names several splits {sorted(words)}; "
            f"rename it or load the file itself with an explicit split"
        )
    return words.pop() if words else None


def xnli_language_from_path(path: str | Path) -> str | None:
    """The XNLI language a per-language file holds, from its stem (``multinli.train.de``) or parent dir (``de/test.tsv``)."""
    p = Path(path)
    found = {w for w in re.split(r"[-_.]", p.stem.lower()) if w in XNLI_LANGUAGES}
    if p.parent.name.lower() in XNLI_LANGUAGES:
        found.add(p.parent.name.lower())
    if len(found) > 1:
        raise TaskFormatError(f"{path}: the path names several XNLI languages {sorted(found)}; pass the language explicitly")
    return found.pop() if found else None


def mlqa_file_info(path: str | Path) -> tuple[str, str] | None:
    """``(split, config)`` of an MLQA file named ``(dev|test)-context-<c>-question-<q>.json``; None otherwise.

    ``config`` is ``<c>.<q>`` (the canonical layout's MLQA config); unknown language codes are an error.
    """
    m = _MLQA_NAME.match(Path(path).name)
    if m is None:
        return None
    split, ctx, q = m.groups()
    for lang in (ctx, q):
        check_language("mlqa", lang, where=str(path))
    return _SPLIT_WORDS[split], f"{ctx}.{q}"


def check_language(task: str, lang: str, *, where: str) -> str:
    known = XNLI_LANGUAGES if task == "xnli" else MLQA_LANGUAGES
    if lang not in known:
        raise TaskFormatError(f"{where}: unknown {task.upper()} language code {lang!r}; known codes: {', '.join(known)}")
    return lang


def mlqa_config(config: str, *, where: str) -> str:
    """Normalise an MLQA config (``de.de`` or the hub's ``mlqa.de.de``) to ``<c>.<q>``, checking both codes."""
    parts = config.removeprefix("mlqa.").split(".")
    if len(parts) != 2:
        raise TaskFormatError(f"{where}: MLQA config {config!r} must be <context_lang>.<question_lang>, e.g. 'de.de'")
    for lang in parts:
        check_language("mlqa", lang, where=where)
    return ".".join(parts)


# --------------------------------------------------------------------------- TSV plumbing


def _first_line(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise TaskFormatError(f"{path}: the file is empty; re-download or regenerate it")
    with open(path, encoding="utf-8-sig") as f:
        line = f.readline().rstrip("\r\n")
    if not line:
        raise TaskFormatError(f"{path}, line 1: empty first line; expected a header or a data row")
    return line.split("\t")


def _physical_line(path: Path, nonblank: int) -> int:
    """The 1-based file line of the ``nonblank``-th non-empty line (pyarrow counts lines without blank ones).

    Only called to word an error message, so a plain scan is fine.
    """
    seen = 0
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            if line.strip("\r\n"):
                seen += 1
                if seen == nonblank:
                    return number
    return nonblank


def read_tsv(path: str | Path, names: tuple[str, ...] | None = None) -> pa.Table:
    """All-string table of a tab-separated file without quoting (GLUE/XNLI texts contain bare quotes).

    ``names`` given: the file has no header and these are its columns; else line 1 is the header.
    Blank lines are skipped (as the hub's ``csv`` readers do); a row with the wrong number of
    fields is an error naming its line.
    """
    path = Path(path)
    header = _first_line(path)
    columns = list(names) if names is not None else header
    if len(set(columns)) != len(columns):
        raise TaskFormatError(f"{path}, line 1: duplicate column names in header {header}")
    bad: list[tuple[int, int, str]] = []

    def on_bad_row(row) -> str:
        bad.append((row.number, row.actual_columns, row.text))
        return "error"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, column_names=list(names) if names else None),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False,
                                             double_quote=False, invalid_row_handler=on_bad_row),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in columns},
                                                 strings_can_be_null=False, null_values=[]),
        )
    except pa.ArrowInvalid as exc:
        if bad:
            number, found, text = bad[0]
            raise TaskFormatError(
                f"{path}, line {_physical_line(path, number)}: expected {len(columns)} tab-separated fields "
                f"({', '.join(columns)}), found {found}: {text[:120]!r}; fix or remove that line"
            ) from None
        raise TaskFormatError(f"{path}: not a readable UTF-8 TSV: {exc}") from exc
    if table.num_rows == 0:
        raise TaskFormatError(f"{path}: no data rows after the header; the file is truncated")
    return table


def _require_columns(path: Path, table: pa.Table, needed: tuple[str, ...], what: str) -> None:
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        raise TaskFormatError(
            f"{path}, line 1: the header lacks column(s) {missing} needed for {what}; "
            f"header is {table.column_names}. Use the file as distributed (GLUE/XNLI layout)."
        )


def _class_ids(path: Path, table: pa.Table, column: str, names: list[str], header_lines: int,
               aliases: dict[str, str] | None = None) -> pa.Array:
    """Label strings (class names, or their ids as digits) -> int64 ClassLabel ids; unknown ones name their line."""
    lookup = {n: i for i, n in enumerate(names)} | {str(i): i for i in range(len(names))}
    for alias, name in (aliases or {}).items():
        lookup[alias] = names.index(name)
    values = table.column(column)
    pos = pc.index_in(values, value_set=pa.array(list(lookup)))
    if pos.null_count:
        row = pc.index(pc.is_null(pos), True).as_py()
        line = _physical_line(path, header_lines + row + 1)
        raise TaskFormatError(
            f"{path}, line {line}: label {values[row].as_py()!r} in column {column!r} is not one of "
            f"{names} (or their ids 0..{len(names) - 1}); fix that row"
        )
    return pc.take(pa.array(list(lookup.values()), pa.int64()), pos).combine_chunks()


def _stsb_scores(path: Path, table: pa.Table, column: str) -> pa.Array:
    values = table.column(column).to_pylist()
    out = []
    for row, v in enumerate(values):
        try:
            score = float(v)
        except ValueError:
            score = float("nan")
        if not STSB_RANGE[0] <= score <= STSB_RANGE[1]:
            raise TaskFormatError(
                f"{path}, line {_physical_line(path, row + 2)}: STS-B score {v!r} in column {column!r} "
                f"is not a number in [{STSB_RANGE[0]}, {STSB_RANGE[1]}]; fix that row"
            )
        out.append(score)
    return pa.array(out, pa.float32())


def _dataset(task: str, columns) -> datasets.Dataset:
    """A Dataset with exactly ``FEATURES[task]`` from a pyarrow table or a mapping of column arrays / lists."""
    feats = FEATURES[task]
    table = pa.table({name: columns[name] for name in feats}).cast(feats.arrow_schema)
    return datasets.Dataset(datasets.table.InMemoryTable(table), info=datasets.DatasetInfo(features=feats))


# --------------------------------------------------------------------------- GLUE


def _names_test_split(path: Path) -> bool:
    """Whether a file name says it holds a test split (``test.tsv``, ``test_matched.tsv``, ``sts_test.tsv``)."""
    return any(w.startswith("test") for w in re.split(r"[-_.]", path.name.lower()))


def read_glue_tsv(task: str, path: str | Path, split: str | None = None) -> datasets.Dataset:
    """One GLUE split from its distributed TSV -> Dataset with ``FEATURES[task]``.

    Texts are kept verbatim; labels map to the hub's ids; ``idx`` = data-row order (0-based), as
    the hub's GLUE script numbers rows. Only a test split (``split``, or else the file name: see
    :func:`_names_test_split`) may lack the label column, and gets label -1; a train or dev file
    without it is an error, not an unlabelled split.
    """
    if task not in GLUE_COLUMNS:
        raise ValueError(f"{task!r} is not a GLUE task; GLUE tasks: {', '.join(GLUE_TASKS)}")
    path = Path(path)
    cols = GLUE_COLUMNS[task]
    header = _first_line(path)
    headerless = task == "cola" and header[:2] != ["index", "sentence"]
    table = read_tsv(path, COLA_HEADERLESS if headerless else None)
    _require_columns(path, table, cols.texts, f"GLUE {task}")
    n = table.num_rows
    label_feature = FEATURES[task]["label"]
    if cols.label not in table.column_names:
        if not (split.startswith("test") if split is not None else _names_test_split(path)):
            raise TaskFormatError(
                f"{path}, line 1: no label column {cols.label!r} (header: {', '.join(table.column_names)}); only "
                f"test files may lack labels: use the {split or 'train/dev'} file as distributed, or name it test.tsv "
                f"if it is a test split")
        label = pa.array([-1] * n, pa.float32() if task == "stsb" else pa.int64())
    elif task == "stsb":
        label = _stsb_scores(path, table, cols.label)
    else:
        label = _class_ids(path, table, cols.label, label_feature.names, header_lines=0 if headerless else 1)
    out = {name: table.column(src) for name, src in zip(TEXT_COLUMNS[task], cols.texts)}
    out["label"] = label
    out["idx"] = pa.array(range(n), pa.int32())
    return _dataset(task, out)


# --------------------------------------------------------------------------- XNLI


def read_xnli_tsv(path: str | Path, language: str | None = None) -> dict[str, datasets.Dataset]:
    """XNLI rows per language -> ``{language: Dataset}`` with ``FEATURES["xnli"]``.

    Multi-language XNLI 1.0 files yield every language present (or only ``language``); a
    three-column file holds one language, ``language`` or the one its path names.
    """
    path = Path(path)
    if language is not None:
        check_language("xnli", language, where=str(path))
    header = _first_line(path)
    names = FEATURES["xnli"]["label"].names
    if "language" in header and "gold_label" in header:
        table = read_tsv(path)
        _require_columns(path, table, ("sentence1", "sentence2"), "XNLI 1.0 multi-language layout")
        langs = table.column("language")
        present = pc.unique(langs).to_pylist()
        for lang in present:
            if lang not in XNLI_LANGUAGES:
                row = pc.index(langs, lang).as_py()
                check_language("xnli", lang, where=f"{path}, line {_physical_line(path, row + 2)}")
        if language is not None and language not in present:
            raise TaskFormatError(f"{path}: no rows for language {language!r}; languages present: {sorted(present)}")
        labels = _class_ids(path, table, "gold_label", names, header_lines=1)
        full = pa.table({"premise": table.column("sentence1"), "hypothesis": table.column("sentence2"), "label": labels})
        wanted = [language] if language is not None else [l for l in XNLI_LANGUAGES if l in present]
        return {l: _dataset("xnli", full.filter(pc.equal(langs, l))) for l in wanted}
    if len(header) != 3:
        raise TaskFormatError(
            f"{path}, line 1: not an XNLI layout: expected the XNLI 1.0 header (language, gold_label, ..., "
            f"sentence1, sentence2, ...) or three columns premise/hypothesis/label, found {len(header)} fields"
        )
    from_path = xnli_language_from_path(path)
    if language is None and from_path is None:
        raise TaskFormatError(
            f"{path}: cannot tell which XNLI language this file holds; "
            f"pass the language as config (e.g. --config de)"
        )
    if language is not None and from_path is not None and language != from_path:
        raise TaskFormatError(f"{path}: the path says language {from_path!r} but {language!r} was asked for")
    language = language or from_path
    has_header = header[0] == "premise" and header[2] == "label"
    table = read_tsv(path, None if has_header else ("premise", "hypothesis", "label"))
    if has_header:
        table = table.rename_columns(["premise", "hypothesis", "label"])
    labels = _class_ids(path, table, "label", names, header_lines=int(has_header), aliases=_XNLI_ALIASES)
    return {language: _dataset("xnli", {"premise": table.column("premise"), "hypothesis": table.column("hypothesis"),
                                        "label": labels})}


# --------------------------------------------------------------------------- SQuAD / MLQA JSON


def _field(obj, key: str, kind: type, where: str):
    if not isinstance(obj, dict) or key not in obj:
        raise TaskFormatError(f"{where}: missing key {key!r}; expected the SQuAD JSON layout")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TaskFormatError(f"{where}: {key!r} should be {kind.__name__}, found {type(value).__name__}")
    return value


def read_squad_json(task: str, path: str | Path) -> datasets.Dataset:
    """SQuAD 1.1 / 2.0 or MLQA JSON -> Dataset with ``FEATURES[task]``: one row per question, file order.

    Unanswerable SQuAD 2.0 questions (``is_impossible``) get empty answer lists, as on the hub;
    ``plausible_answers`` are not part of the hub features. Every answer must sit at its
    ``answer_start`` in the context (character offsets); question ids must be unique.
    """
    if task not in QA_TASKS:
        raise ValueError(f"{task!r} is not a QA task; QA tasks: {', '.join(QA_TASKS)}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise TaskFormatError(f"{path}: the file is empty; re-download it")
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise TaskFormatError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
    return _dataset(task, squad_columns(doc, str(path), task))


def squad_columns(doc, path: str, task: str = "squad_v2") -> dict[str, list]:
    """The one parser of the SQuAD / MLQA JSON layout (the readers' and the metrics'): a parsed file
    -> hub-layout columns id, title, context, question, answers ({text, answer_start}), file order.
    ``path`` names the source in errors; ``task`` "squad_v2" admits unanswerable questions."""
    articles = _field(doc, "data", list, str(path))
    rows: dict[str, list] = {"id": [], "title": [], "context": [], "question": [], "answers": []}
    seen: set[str] = set()
    for a_i, article in enumerate(articles):
        where_a = f"{path}: data[{a_i}]"
        title = article.get("title", "") if isinstance(article, dict) else ""
        for p_i, para in enumerate(_field(article, "paragraphs", list, where_a)):
            where_p = f"{where_a}.paragraphs[{p_i}]"
            context = _field(para, "context", str, where_p)
            for q_i, qa in enumerate(_field(para, "qas", list, where_p)):
                qid = _field(qa, "id", str, f"{where_p}.qas[{q_i}]")
                where_q = f"{path}: question id {qid!r}"
                if qid in seen:
                    raise TaskFormatError(f"{where_q}: the id occurs twice; ids key the predictions and must be unique")
                seen.add(qid)
                texts, starts = [], []
                for ans in _field(qa, "answers", list, where_q):
                    text = _field(ans, "text", str, where_q)
                    start = _field(ans, "answer_start", int, where_q)
                    if start < 0 or context[start:start + len(text)] != text:
                        raise TaskFormatError(
                            f"{where_q}: answer {text!r} does not match the context at answer_start {start} "
                            f"(context there: {context[max(start, 0):max(start, 0) + len(text)]!r}); fix the offset"
                        )
                    texts.append(text)
                    starts.append(start)
                impossible = qa.get("is_impossible", False)
                if impossible and task != "squad_v2":
                    raise TaskFormatError(
                        f"{where_q}: marked is_impossible, which only SQuAD 2.0 has; "
                        f"load this file as task squad_v2"
                    )
                if impossible and texts:
                    raise TaskFormatError(f"{where_q}: marked is_impossible but has answers; fix 'is_impossible' or 'answers'")
                if not impossible and not texts:
                    raise TaskFormatError(f"{where_q}: no answers and not marked is_impossible; fix the question")
                rows["id"].append(qid)
                rows["title"].append(title)
                rows["context"].append(context)
                rows["question"].append(_field(qa, "question", str, where_q))
                rows["answers"].append({"text": texts, "answer_start": starts})
    if not rows["id"]:
        raise TaskFormatError(f"{path}: no questions in 'data'; the file is truncated")
    return rows


# --------------------------------------------------------------------------- dispatch


def read_file(task: str, path: str | Path, *, config: str | None = None, split: str | None = None) -> dict[str, datasets.Dataset]:
    """One distributed file of ``task`` -> ``{config: Dataset}``, configs named as in the canonical layout.

    GLUE and SQuAD: config ``default``. XNLI: one config per language in the file (``config``
    picks one). MLQA: ``<c>.<q>`` from the file name or ``config``. ``split``: the hub split the
    file holds, when the caller knows it (GLUE: whether labels may be absent; see :func:`read_glue_tsv`).
    """
    if task in GLUE_TASKS or task in ("squad", "squad_v2"):
        if config not in (None, "default"):
            raise TaskFormatError(f"{path}: task {task!r} has only the config 'default', not {config!r}")
        ds = read_glue_tsv(task, path, split) if task in GLUE_TASKS else read_squad_json(task, path)
        return {"default": ds}
    if task == "xnli":
        return read_xnli_tsv(path, config)
    if task == "mlqa":
        info = mlqa_file_info(path)
        named = info[1] if info else None
        asked = mlqa_config(config, where=str(path)) if config is not None else None
        if asked and named and asked != named:
            raise TaskFormatError(f"{path}: the file name says MLQA config {named!r} but {asked!r} was asked for")
        if not (asked or named):
            raise TaskFormatError(
                f"{path}: cannot tell the MLQA languages from the file name; "
                f"pass config <context>.<question>, e.g. de.de"
            )
        return {asked or named: read_squad_json("mlqa", path)}
    raise ValueError(f"unknown task {task!r}")
