"""Atomic writes: a file or directory appears under its final name only once it is complete.

A killed job then never leaves a half-written output that a rerun (or Snakemake) would take
for done: the content goes to a temporary sibling first, which is renamed in one step.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path


def _json_default(value):
    """numpy scalars and other numbers as floats; anything else (paths, ...) as its string."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through ``<path>.tmp``; parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_json(path: str | Path, obj) -> Path:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def partial_dir(out_dir: str | Path) -> Path:
    """The empty temporary sibling ``<out_dir>.partial`` a directory output is built in."""
    tmp = Path(out_dir).with_name(Path(out_dir).name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    return tmp


def replace_dir(tmp: str | Path, out_dir: str | Path) -> Path:
    """Move the complete directory ``tmp`` to ``out_dir``, replacing what was there."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir
