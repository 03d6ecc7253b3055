"""Load any task of the paper from any source through one code path.

A source is one of

* a directory in the canonical parquet layout (``<root>/<task>/<config>/<split>.parquet``: the
  generated benchmark's ``tasks/`` folder, or what :func:`download_task` wrote),
* a local file in the distributed format (becomes split ``split``, default ``validation``;
  MNLI ``validation_matched``),
* a directory of distributed files (splits and languages from the file names, see
  :mod:`minilm_repro.data.readers`),
* a hub id with a pinned revision (``nyu-mll/glue``, ``rajpurkar/squad_v2``, ``rajpurkar/squad``,
  ``facebook/xnli``, ``facebook/mlqa``); a string that is no existing path is taken as a hub id.

Every result is ``{config: DatasetDict}`` (or one ``DatasetDict``) whose datasets have exactly
``FEATURES[task]``, with configs named as in the canonical layout: ``default`` for GLUE and SQuAD,
the language for XNLI, ``<context_lang>.<question_lang>`` for MLQA.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

import datasets
import pyarrow.compute as pc
from datasets.exceptions import DatasetNotFoundError

from minilm_repro.data import layout, readers
from minilm_repro.data.features import (
    FEATURES,
    GLUE_TASKS,
    MLQA_LANGUAGES,
    SPLITS,
    TASKS,
    XNLI_LANGUAGES,
)

GLUE_PREFIX = "glue/"
HUB_IDS = {**{t: "nyu-mll/glue" for t in GLUE_TASKS}, "squad_v2": "rajpurkar/squad_v2",
           "squad": "rajpurkar/squad", "xnli": "facebook/xnli", "mlqa": "facebook/mlqa"}
# facebook/mlqa is a loading-script dataset (refused by datasets>=4); its parquet conversion is a
# separate ref holding <hub config>/<split>/*.parquet
MLQA_PARQUET_REVISION = "refs/convert/parquet"
DEFAULT_TASKS_ROOT = "resources/tasks"  # tasks_root of the paper-* workflow configs
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class TaskSourceError(ValueError):
    """A source that cannot serve the request (nothing found, ambiguous, wrong config or split)."""


class HubUnavailableError(RuntimeError):
    """A hub dataset that is neither reachable nor cached; the message gives the download command."""


# --------------------------------------------------------------------------- names


def resolve_task(name: str) -> str:
    """``glue/<config>`` (or the bare GLUE config), ``squad_v2``, ``squad``, ``xnli``, ``mlqa`` -> task key of FEATURES."""
    task = name.removeprefix(GLUE_PREFIX) if name.startswith(GLUE_PREFIX) else name
    if task not in FEATURES or (name.startswith(GLUE_PREFIX) and task not in GLUE_TASKS):
        known = [cli_task_name(t) for t in TASKS]
        raise TaskSourceError(f"unknown task {name!r}; tasks: {', '.join(known)}")
    return task


def cli_task_name(task: str) -> str:
    return f"{GLUE_PREFIX}{task}" if task in GLUE_TASKS else task


def hub_configs(task: str) -> list[str]:
    """Every canonical config the hub has for ``task`` (MLQA: all 49 context/question pairs)."""
    if task == "xnli":
        return list(XNLI_LANGUAGES)
    if task == "mlqa":
        return [f"{c}.{q}" for c, q in itertools.product(MLQA_LANGUAGES, repeat=2)]
    return [layout.DEFAULT_CONFIG]


def default_file_split(task: str) -> str:
    """The split a single local file becomes unless told: ``validation`` (MNLI: ``validation_matched``)."""
    return "validation" if "validation" in SPLITS[task] else "validation_matched"


def _check_split(task: str, split: str | None) -> None:
    if split is not None and split not in SPLITS[task]:
        raise TaskSourceError(
            f"split {split!r} is not a split of task {cli_task_name(task)!r}; "
            f"splits: {', '.join(SPLITS[task])}"
        )


def _ordered(task: str, splits) -> list[str]:
    known = [s for s in SPLITS[task] if s in splits]
    return known + sorted(set(splits) - set(known))


def source_kind(task: str, source: str | Path) -> str:
    """``layout`` | ``file`` | ``dir`` | ``hub`` for ``source`` (an existing path wins over a hub id).

    A directory is a layout root when it holds ``<task>/<config>/*.parquet``, else a folder of distributed files.
    """
    path = Path(source)
    if path.is_file():
        return "file"
    if path.is_dir():
        return "layout" if any((path / task).glob("*/*.parquet")) else "dir"
    if _HUB_ID.match(str(source)):
        return "hub"
    raise FileNotFoundError(f"source {str(source)!r}: no such file or directory, and not a hub id (owner/name)")


# --------------------------------------------------------------------------- loading


def load_task_configs(task: str, source: str | Path, *, config: str | None = None, split: str | None = None,
                      revision: str | None = None) -> dict[str, datasets.DatasetDict]:
    """``{config: DatasetDict}`` of ``task`` from ``source``; ``config`` / ``split`` None = all the source has.

    ``revision`` pins a hub source (a tag, branch or commit; required for hub ids, ignored
    otherwise). A local file becomes ``split`` (default :func:`default_file_split`).
    """
    task = resolve_task(task)
    _check_split(task, split)
    kind = source_kind(task, source)
    if kind == "layout":
        return _load_layout(task, Path(source), config, split)
    if kind == "file":
        split = split or default_file_split(task)
        read = readers.read_file(task, source, config=config, split=split)
        return {c: datasets.DatasetDict({split: ds}) for c, ds in read.items()}
    if kind == "dir":
        return _load_directory(task, Path(source), config, split)
    asked = [_hub_config_name(task, config)] if config is not None else None
    return {c: _hub_load(task, str(source), c, revision, split, asked) for c in asked or hub_configs(task)}


def load_task(task: str, source: str | Path, *, config: str | None = None, split: str | None = None,
              revision: str | None = None) -> datasets.DatasetDict:
    """The splits of one config of ``task`` (see :func:`load_task_configs`); several configs need ``config``."""
    found = load_task_configs(task, source, config=config, split=split, revision=revision)
    if len(found) != 1:
        raise TaskSourceError(f"{source}: task {task!r} has several configs here ({', '.join(found)}); pass config=<one of them>")
    return next(iter(found.values()))


def _load_layout(task: str, root: Path, config: str | None, split: str | None) -> dict[str, datasets.DatasetDict]:
    present = layout.configs(root, task)
    if config is not None:
        config = config.removeprefix("mlqa.") if task == "mlqa" else config
        if config not in present:
            raise TaskSourceError(f"{root / task}: no config {config!r}; configs present: {', '.join(present) or 'none'}")
    out = {}
    for c in [config] if config is not None else present:
        names = [split] if split else [p.stem for p in layout.split_path(root, task, c, "_").parent.glob("*.parquet")]
        if not names:
            raise TaskSourceError(f"{root / task / c}: no <split>.parquet files; regenerate or re-download task {task!r}")
        out[c] = datasets.DatasetDict({s: layout.load_split(root, task, c, s) for s in _ordered(task, names)})
    return out


def _candidate_files(task: str, directory: Path) -> list[Path]:
    if task in GLUE_TASKS:
        return sorted(directory.glob("*.tsv"))
    if task in ("squad", "squad_v2"):
        return sorted(directory.glob("*.json"))
    return sorted(directory.rglob("*.tsv" if task == "xnli" else "*.json"))


def _file_split_and_config(task: str, path: Path) -> tuple[str | None, str | None]:
    """(split, config) a file's name promises; config None if the file itself must tell (XNLI 1.0 files)."""
    if task == "mlqa":
        info = readers.mlqa_file_info(path)
        return info if info else (None, None)
    split = readers.split_from_filename(task, path)
    if task == "xnli":
        return split, readers.xnli_language_from_path(path)
    return split, layout.DEFAULT_CONFIG


def _load_directory(task: str, directory: Path, config: str | None, split: str | None) -> dict[str, datasets.DatasetDict]:
    if task == "xnli" and config is not None:
        readers.check_language("xnli", config, where=str(directory))
    if task == "mlqa" and config is not None:
        config = readers.mlqa_config(config, where=str(directory))
    found: dict[tuple[str, str], tuple[Path, datasets.Dataset]] = {}
    for path in _candidate_files(task, directory):
        file_split, file_config = _file_split_and_config(task, path)
        if file_split is None or (split and file_split != split):
            continue
        if config is not None and file_config is not None and file_config != config:
            continue
        for c, ds in readers.read_file(task, path, config=config, split=file_split).items():
            if (c, file_split) in found:
                raise TaskSourceError(
                    f"{directory}: both {found[c, file_split][0]} and {path} hold {cli_task_name(task)} "
                    f"config {c!r} split {file_split!r}; load one of the files itself"
                )
            found[c, file_split] = (path, ds)
    if not found:
        raise TaskSourceError(
            f"{directory}: no {cli_task_name(task)} files{f' for config {config!r}' if config else ''}"
            f"{f' and split {split!r}' if split else ''}. It is neither a canonical layout root (no {directory / task}/) "
            f"nor a folder of distributed files ({_EXPECTED_NAMES[task if task in _EXPECTED_NAMES else 'glue']})"
        )
    out = {}
    for c in sorted({c for c, _ in found}):
        splits = _ordered(task, [s for cc, s in found if cc == c])
        out[c] = datasets.DatasetDict({s: found[c, s][1] for s in splits})
    return out


_EXPECTED_NAMES = {
    "glue": "train.tsv, dev.tsv, test.tsv; MNLI dev_matched.tsv, dev_mismatched.tsv, ...",
    "squad": "train-v1.1.json, dev-v1.1.json",
    "squad_v2": "train-v2.0.json, dev-v2.0.json",
    "xnli": "xnli.dev.tsv, xnli.test.tsv, multinli.train.<lang>.tsv or <lang>/test.tsv, searched recursively",
    "mlqa": "(dev|test)-context-<c>-question-<q>.json, searched recursively",
}


# --------------------------------------------------------------------------- hub


def _hub_config_name(task: str, config: str) -> str:
    """Check a requested config for a hub source and return its canonical name."""
    if task == "xnli":
        return readers.check_language("xnli", config, where="--config")
    if task == "mlqa":
        return readers.mlqa_config(config, where="--config")
    if config != layout.DEFAULT_CONFIG:
        raise TaskSourceError(f"task {task!r} has only the config {layout.DEFAULT_CONFIG!r}, not {config!r}")
    return config


def download_command(task: str, hub_id: str, revision: str, configs: list[str] | None = None,
                     out: str = DEFAULT_TASKS_ROOT) -> str:
    """The ``minilm-repro tasks download`` command line that fetches ``configs`` (None = all) into ``out``."""
    cmd = f"minilm-repro tasks download {cli_task_name(task)} --hub-id {hub_id} --revision {revision} --out {out}"
    return cmd + "".join(f" --config {c}" for c in configs or [])


def _hub_load(task: str, hub_id: str, config: str, revision: str | None, split: str | None,
              asked_configs: list[str] | None) -> datasets.DatasetDict:
    """One config of a hub dataset, pinned to ``revision``, as a DatasetDict with ``FEATURES[task]``.

    ``asked_configs``: the configs the caller asked for (None = all), repeated in the download
    command that the error for an unreachable hub gives.
    """
    if not revision:
        raise TaskSourceError(
            f"hub source {hub_id!r} needs a pinned revision (a commit sha, tag or branch, e.g. --revision main)"
            + (f"; MLQA loads the parquet conversion, --revision {MLQA_PARQUET_REVISION}" if task == "mlqa" else "")
        )
    if task == "mlqa" and revision != MLQA_PARQUET_REVISION and not _COMMIT.match(revision):
        raise TaskSourceError(
            f"MLQA on the hub is a loading-script dataset that datasets>=4 refuses; load its parquet conversion "
            f"with --revision {MLQA_PARQUET_REVISION} (or a commit of that ref), not {revision!r}"
        )
    try:
        if task == "mlqa":
            splits = [split] if split else list(SPLITS["mlqa"])
            files = {s: f"mlqa.{config}/{s}/*.parquet" for s in splits}
            loaded = datasets.load_dataset(hub_id, revision=revision, data_files=files)
        else:
            name = task if task in GLUE_TASKS else (config if task == "xnli" else None)
            loaded = datasets.load_dataset(hub_id, name, revision=revision, split=split)
    except (ConnectionError, DatasetNotFoundError, FileNotFoundError) as exc:
        raise HubUnavailableError(
            f"hub dataset {hub_id!r} (config {config!r}, revision {revision!r}) for task {cli_task_name(task)!r} "
            f"is not reachable from here (HF_HUB_OFFLINE set or no network) and not in the local cache "
            f"({hub_id!r} is no existing path, so it was taken as a hub id): {exc}\n"
            f"On a machine with internet run:\n  {download_command(task, hub_id, revision, asked_configs)}\n"
            f"then copy {DEFAULT_TASKS_ROOT}/ here if needed and load it with --source {DEFAULT_TASKS_ROOT}"
        ) from exc
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({split: loaded})
    feats = FEATURES[task]
    out = datasets.DatasetDict()
    for name, ds in loaded.items():
        missing = [c for c in feats if c not in ds.column_names]
        if missing:
            raise TaskSourceError(
                f"hub dataset {hub_id!r} split {name!r} lacks column(s) {missing} of task {task!r}; "
                f"is it the right hub id?"
            )
        out[name] = ds.select_columns(list(feats)).cast(feats)
    return out


def download_task(task: str, hub_id: str, revision: str, out_root: str | Path,
                  configs: list[str] | None = None) -> list[Path]:
    """Hub dataset (pinned ``revision``) -> canonical parquet layout under ``out_root``; returns the files written.

    ``configs`` None = every config the hub has (:func:`hub_configs`).
    """
    task = resolve_task(task)
    asked = [_hub_config_name(task, c) for c in configs] if configs else None
    written = []
    for config in asked or hub_configs(task):
        for split, ds in _hub_load(task, hub_id, config, revision, None, asked).items():
            if split not in SPLITS[task]:
                raise TaskSourceError(
                    f"hub dataset {hub_id!r} has split {split!r}"
                    f", not one of task {task!r}: {', '.join(SPLITS[task])}"
                )
            written.append(layout.write_split(ds, out_root, task, config, split))
    return written


# --------------------------------------------------------------------------- summary


def _answerable(ds: datasets.Dataset) -> int:
    answers = ds.with_format("arrow")["answers"]
    return int(pc.sum(pc.greater(pc.list_value_length(pc.struct_field(answers, "text")), 0)).as_py() or 0)


def summarize(task: str, source: str | Path, data: dict[str, datasets.DatasetDict]) -> dict:
    """Counts for ``tasks show``: rows per split (summed over configs), features, rows per language
    (XNLI: language; MLQA: ``<c>.<q>``), and for SQuAD 2.0 answerable / unanswerable questions."""
    task = resolve_task(task)
    splits: Counter = Counter()
    for dd in data.values():
        for name, ds in dd.items():
            splits[name] += len(ds)
    summary = {"task": cli_task_name(task), "source": str(source),
               "splits": {s: splits[s] for s in _ordered(task, splits)},
               "features": FEATURES[task].to_dict()}
    mismatched = [f"{c}/{s}" for c, dd in data.items() for s, ds in dd.items() if ds.features != FEATURES[task]]
    if mismatched:
        raise TaskSourceError(f"{source}: {', '.join(mismatched)} do not have the features of task {task!r}")
    if task in ("xnli", "mlqa"):
        summary["languages"] = {c: sum(len(ds) for ds in dd.values()) for c, dd in data.items()}
    if task == "squad_v2":
        answerable = sum(_answerable(ds) for dd in data.values() for ds in dd.values())
        summary["answerable"] = answerable
        summary["unanswerable"] = sum(splits.values()) - answerable
    return summary
