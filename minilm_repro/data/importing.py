"""Local task files -> the canonical layout, with an optional split by document of a dev-only source.

``minilm-repro tasks import <task> --source <file|folder> --out <root>`` reads a task's files in
their distributed formats (GLUE TSV folders in the ``glue_data/<Task>/`` layout, SQuAD 1.1 / 2.0
and MLQA JSON, XNLI TSV: :mod:`minilm_repro.data.readers`) and writes

    <root>/<task>/<config>/<split>.parquet     exactly FEATURES[task] (:func:`layout.write_split`)
    <root>/<task>/<config>/SOURCE.json         where the rows came from and how they were split

Several files for one split (the SQuAD 2.0 dev slices, which overlap) are merged, QA tasks only:
files are read in file-name order; an article whose title an earlier file already gave is skipped
whole (its questions counted as ``dropped``), and then a question id already taken is skipped.
Articles without a title (MLQA) are compared by their paragraphs' contexts instead.

**Split by document** (``split_dev``, the fraction that goes to validation): where only a dev set
exists (QNLI, RTE, MRPC, STS-B; the SQuAD 2.0 dev slices), its rows are grouped into documents
and every group goes wholly to ``validation`` or to ``train``:

* SQuAD / MLQA: one group per article title (untitled articles: per context paragraph);
* GLUE and XNLI: the connected components of rows that share a text: two rows are in one group
  when they have an equal text in any of their text columns (so no premise / question /
  sentence1, nor any second sentence, straddles the split); the group's key is its smallest
  first-column text (Python string order);
* a group goes to validation when ``int.from_bytes(sha256(key as UTF-8)[:8], "big") / 2**64``
  is below ``split_dev``. The hash is stable across runs and machines (not Python's salted
  ``hash``), and a group's side depends on its key only, not on the other rows.

The fraction is one of groups, not of rows: the row counts written (and the groups) are in
SOURCE.json. A derived split is marked ``"derived": {...}`` there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

import datasets

from minilm_repro.data import layout, readers, tasks
from minilm_repro.data.corpus import file_sha256
from minilm_repro.data.features import (
    FEATURES,
    GLUE_TASKS,
    QA_TASKS,
    SPLITS,
    TEXT_COLUMNS,
)

SOURCE_FILE = "SOURCE.json"
HASH_RULE = "validation iff int.from_bytes(sha256(group key as UTF-8).digest()[:8], 'big') / 2**64 < validation_fraction"
_FILE_SUFFIX = {**{t: ".tsv" for t in GLUE_TASKS}, "xnli": ".tsv", "squad": ".json", "squad_v2": ".json", "mlqa": ".json"}
_GLUE_FILES = "train.tsv, dev.tsv, test.tsv (MNLI: train.tsv, dev_matched.tsv, dev_mismatched.tsv, ...)"


class TaskImportError(ValueError):
    """A source that cannot be imported as asked (one line naming the fix)."""


def unit_hash(key: str) -> float:
    """A stable number in [0, 1) for ``key``: the first 8 bytes of its sha256, big-endian, / 2**64."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64


# --------------------------------------------------------------------------- finding the files


def _source_files(task: str, source: Path, config: str | None = None) -> list[tuple[Path, str]]:
    """(file, split) pairs of ``source``, a file (split ``validation``; MNLI matched) or a folder
    (its files whose name gives a split; with ``config``, not those whose name gives another config)."""
    if not source.exists():
        raise FileNotFoundError(f"source {source} does not exist; give the task's file or folder "
                                f"(e.g. glue_data/QNLI/, dev-v2.0.json)")
    suffix = _FILE_SUFFIX[task]
    if source.is_file():
        if source.suffix.lower() != suffix:
            raise TaskImportError(f"{source} is a {source.suffix or 'suffix-less'} file; task {tasks.cli_task_name(task)} "
                               f"reads {suffix} files (its distributed format)")
        split = readers.split_from_filename(task, source) if task != "mlqa" else (readers.mlqa_file_info(source) or (None,))[0]
        return [(source, split or tasks.default_file_split(task))]
    found = []
    for path in tasks._candidate_files(task, source):
        split, file_config = tasks._file_split_and_config(task, path)
        if split is not None and (config is None or file_config is None or file_config == config):
            found.append((path, split))
    if not found:
        if task in GLUE_TASKS:
            looked = _GLUE_FILES
        else:
            looked = tasks._EXPECTED_NAMES[task]
        which = f" for config {config!r}" if config else ""
        raise TaskImportError(f"folder {source} has no {tasks.cli_task_name(task)} files{which}: looked for {looked}; "
                           f"point --source at the task's own folder (e.g. glue_data/QNLI)")
    return found


# --------------------------------------------------------------------------- merging several files


def _article_key(row: dict) -> str:
    return row["title"] if row.get("title") else "context:" + row["context"]


def _merge_qa(task: str, files: list[Path], read: dict[Path, datasets.Dataset]) -> tuple[datasets.Dataset, dict]:
    """Merge QA files of one split: earlier files (name order) win whole articles, then question ids."""
    taken_articles: dict[str, Path] = {}
    taken_ids: set[str] = set()
    keep_rows: list[dict] = []
    report = []
    for path in files:
        rows = read[path].to_list()
        own = {_article_key(r) for r in rows}
        skip_articles = sorted(a for a in own if a in taken_articles)
        kept = dropped_article = dropped_id = 0
        for r in rows:
            if _article_key(r) in skip_articles:
                dropped_article += 1
            elif r["id"] in taken_ids:
                dropped_id += 1
            else:
                keep_rows.append(r)
                taken_ids.add(r["id"])
                kept += 1
        for a in own:
            taken_articles.setdefault(a, path)
        report.append({"path": str(path), "questions": len(rows), "kept": kept,
                       "dropped_article_already_read": dropped_article, "dropped_duplicate_id": dropped_id,
                       "articles_skipped": [a if not a.startswith("context:") else a[:60] + "..." for a in skip_articles]})
    merged = datasets.Dataset.from_list(keep_rows, features=FEATURES[task])
    rule = ("files read in file-name order; an article (title; untitled: context) already read from an earlier file "
            "is skipped whole; then a question id already kept is skipped")
    return merged, {"rule": rule, "files": report}


# --------------------------------------------------------------------------- split by document


def _components(ds: datasets.Dataset, columns: tuple[str, ...]) -> list[int]:
    """Group id per row: connected components of rows linked by an equal text in any text column."""
    parent = list(range(len(ds)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_row: dict[str, int] = {}
    for column in columns:
        for i, text in enumerate(ds[column]):
            if text in first_row:
                a, b = find(i), find(first_row[text])
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first_row[text] = i
    return [find(i) for i in range(len(ds))]


def group_keys(task: str, ds: datasets.Dataset) -> list[str]:
    """The document key of every row (see the module docstring): equal keys = one group."""
    if task in QA_TASKS:
        titles = ds["title"] if "title" in ds.column_names else [""] * len(ds)
        return [t if t else "context:" + c for t, c in zip(titles, ds["context"])]
    columns = TEXT_COLUMNS[task]
    comp = _components(ds, columns)
    first = ds[columns[0]]
    key: dict[int, str] = {}
    for c, text in zip(comp, first):
        key[c] = min(key.get(c, text), text)
    return [key[c] for c in comp]


def split_by_document(task: str, ds: datasets.Dataset, validation_fraction: float,
                      where: str) -> tuple[datasets.Dataset, datasets.Dataset, dict]:
    """(train, validation, description) of ``ds`` split by group key hash (module docstring)."""
    if not 0.0 < validation_fraction < 1.0:
        raise TaskImportError(f"--split-dev {validation_fraction}: the validation fraction must be strictly between 0 and 1")
    keys = group_keys(task, ds)
    side = {k: unit_hash(k) < validation_fraction for k in set(keys)}
    val_rows = [i for i, k in enumerate(keys) if side[k]]
    train_rows = [i for i, k in enumerate(keys) if not side[k]]
    n_val_groups = sum(side.values())
    for name, rows in (("train", train_rows), ("validation", val_rows)):
        if not rows:
            raise TaskImportError(
                f"{where}: splitting {len(side)} documents at validation fraction {validation_fraction} leaves {name} "
                f"empty; choose a {'smaller' if name == 'train' else 'larger'} --split-dev or add more data")
    grouping = ("article title (untitled: context paragraph)" if task in QA_TASKS else
                f"connected components of rows sharing an equal text in any of {list(TEXT_COLUMNS[task])}; "
                f"key = the group's smallest {TEXT_COLUMNS[task][0]!r}")
    info = {"from_split": "validation", "group_by": grouping, "hash": HASH_RULE,
            "validation_fraction": validation_fraction,
            "groups": {"train": len(side) - n_val_groups, "validation": n_val_groups},
            "rows": {"train": len(train_rows), "validation": len(val_rows)},
            "order": "rows keep their source order within each split"}
    return ds.select(train_rows), ds.select(val_rows), info


# --------------------------------------------------------------------------- the import


@dataclasses.dataclass
class ImportResult:
    task: str
    config_dirs: list[Path]
    splits: dict[str, dict[str, int]]  # config -> split -> rows
    source_json: list[Path]


def _read(task: str, path: Path, config: str | None) -> dict[str, datasets.Dataset]:
    return readers.read_file(task, path, config=config)


def import_task(task: str, source: str | Path, out_root: str | Path, *, config: str | None = None,
                split_dev: float | None = None) -> ImportResult:
    """Import ``task`` from local ``source`` into ``out_root``; see the module docstring.

    ``config``: only this config (XNLI language, MLQA ``<c>.<q>``); ``split_dev``: derive
    train/validation from the dev set, this fraction of documents (groups) to validation.
    Each written config directory is replaced whole (no stale split from an earlier import).
    """
    task = tasks.resolve_task(task)
    source = Path(source)
    if config is not None and task == "mlqa":
        config = readers.mlqa_config(config, where="--config")
    files = _source_files(task, source, config)
    by_split: dict[tuple[str, str], list[tuple[Path, datasets.Dataset]]] = {}
    for path, split in files:
        for cfg_name, ds in _read(task, path, config).items():
            by_split.setdefault((cfg_name, split), []).append((path, ds))
    if not by_split:
        raise TaskImportError(f"{source}: no {tasks.cli_task_name(task)} rows for config {config!r}")
    out = ImportResult(task, [], {}, [])
    for cfg_name in sorted({c for c, _ in by_split}):
        splits: dict[str, datasets.Dataset] = {}
        meta: dict = {"task": tasks.cli_task_name(task), "config": cfg_name, "tool": "minilm-repro tasks import",
                      "sources": [], "derived": None}
        for (c, split), items in sorted(by_split.items(), key=lambda kv: SPLITS[task].index(kv[0][1])
                                        if kv[0][1] in SPLITS[task] else 99):
            if c != cfg_name:
                continue
            paths = [p for p, _ in items]
            for p, ds in items:
                meta["sources"].append({"path": str(p.resolve()), "sha256": file_sha256(p), "bytes": p.stat().st_size,
                                        "split": split, "rows": len(ds)})
            if len(items) == 1:
                splits[split] = items[0][1]
            elif task in QA_TASKS:
                merged, dedup = _merge_qa(task, sorted(paths, key=lambda p: p.name), dict(items))
                splits[split] = merged
                meta.setdefault("dedup", {})[split] = dedup
            else:
                raise TaskImportError(f"{source}: both {paths[0].name} and {paths[1].name} hold {tasks.cli_task_name(task)} "
                                   f"split {split!r}; import one of the files itself (--source <file>)")
        if split_dev is not None:
            if "train" in splits:
                raise TaskImportError(f"{source}: already has a train split ({len(splits['train'])} rows); --split-dev only "
                                   f"derives train from dev where no train file exists: drop --split-dev")
            if "validation" not in splits:
                raise TaskImportError(f"{source}: no validation (dev) split to divide for --split-dev; "
                                   f"splits found: {', '.join(splits) or 'none'}")
            train, val, info = split_by_document(task, splits["validation"], split_dev, str(source))
            splits = {"train": train, "validation": val, **{k: v for k, v in splits.items() if k != "validation"}}
            meta["derived"] = info
        meta["splits"] = {s: len(ds) for s, ds in splits.items()}
        if task == "squad_v2":
            meta["answerable"] = {s: tasks._answerable(ds) for s, ds in splits.items()}
        final = layout.split_path(out_root, task, cfg_name, "_").parent
        # written aside (a root of its own inside out_root, so the rename stays on one file system)
        tmp_root = Path(out_root) / f".import-{task}-{cfg_name}.tmp"
        shutil.rmtree(tmp_root, ignore_errors=True)
        for split, ds in splits.items():
            layout.write_split(ds, tmp_root, task, cfg_name, split)
        staged = layout.split_path(tmp_root, task, cfg_name, "_").parent
        (staged / SOURCE_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        if final.exists():
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
        shutil.rmtree(tmp_root, ignore_errors=True)
        out.config_dirs.append(final)
        out.splits[cfg_name] = meta["splits"]
        out.source_json.append(final / SOURCE_FILE)
    return out


def read_source_json(root: str | Path, task: str, config: str = layout.DEFAULT_CONFIG) -> dict:
    """The SOURCE.json an import wrote for (task, config) under ``root``."""
    path = layout.split_path(root, tasks.resolve_task(task), config, "_").parent / SOURCE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: import the task with `minilm-repro tasks import` first")
    return json.loads(path.read_text())
