"""The on-disk layout of a task directory: one parquet file per (task, config, split).

    <root>/<task>/<config>/<split>.parquet

``config`` is ``default`` for GLUE tasks and SQuAD, the language code for XNLI and
``<context_lang>.<question_lang>`` for MLQA, mirroring the hub configs. Every file holds
exactly ``FEATURES[task]`` (see :mod:`minilm_repro.data.features`). The generated benchmark
and the download rules both write this layout; fine-tuning reads only this layout.
"""

from __future__ import annotations

from pathlib import Path

import datasets

from minilm_repro.data.features import FEATURES, check_task

DEFAULT_CONFIG = "default"


def split_path(root: str | Path, task: str, config: str, split: str) -> Path:
    return Path(root) / task / config / f"{split}.parquet"


def write_split(ds: datasets.Dataset, root: str | Path, task: str, config: str, split: str) -> Path:
    """Cast ``ds`` to the task's hub features and write it; returns the parquet path."""
    check_task(task)
    ds = ds.cast(FEATURES[task])
    path = split_path(root, task, config, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(path))
    return path


def configs(root: str | Path, task: str) -> list[str]:
    """The configs present for ``task`` under ``root`` (sorted)."""
    base = Path(root) / task
    if not base.is_dir():
        raise FileNotFoundError(f"no task directory {base}: generate or download task {task!r} first")
    return sorted(p.name for p in base.iterdir() if p.is_dir())


def load_split(root: str | Path, task: str, config: str, split: str) -> datasets.Dataset:
    """Load one split with the task's hub features; a missing or unreadable file is a one-line error."""
    check_task(task)
    path = split_path(root, task, config, split)
    if not path.is_file():
        have = sorted(p.stem for p in path.parent.glob("*.parquet")) if path.parent.is_dir() else []
        raise FileNotFoundError(
            f"{path} does not exist (task {task!r}, config {config!r}, split {split!r}); "
            f"splits present: {have or 'none'}"
        )
    import pyarrow.parquet as pq

    from minilm_repro.data.readers import TaskFormatError

    try:
        pq.ParquetFile(str(path)).close()  # reads the footer only
    except Exception as exc:  # pyarrow raises ArrowInvalid or OSError for truncated / overwritten files
        raise TaskFormatError(f"{path} is not a readable parquet file ({' '.join(str(exc).split())}): it is truncated "
                              f"or corrupt; delete it and regenerate or re-download task {task!r}") from None
    ds = datasets.Dataset.from_parquet(str(path), features=FEATURES[task])
    return ds
