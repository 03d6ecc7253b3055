"""Work directories: where a training job's checkpoints live, and which job they belong to.

Checkpoints are not Snakemake outputs (Snakemake deletes a failed job's outputs), so a killed
job resumes from its work directory. ``job_key.json`` records the job's resolved config and
input fingerprints: a work directory only resumes the job that made it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from minilm_repro.atomic import write_json
from minilm_repro.distributed import is_main_process


def input_fingerprint(*paths: str | Path | None) -> dict:
    """{path: sha256 of (relative name, size, mtime) of every file under it}: changes when a job's
    input is rewritten (a retrained teacher, a re-prepared corpus), without reading the data."""
    import hashlib

    out = {}
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        digest = hashlib.sha256()
        for f in files:
            st = f.stat()
            digest.update(f"{f.relative_to(path) if path.is_dir() else f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        out[str(path)] = digest.hexdigest()
    return out


def job_key(cfg, *inputs: str | Path | None) -> dict:
    """What a work directory's checkpoints belong to: the stage's resolved config (a dataclass)
    and :func:`input_fingerprint` of its input directories (see :func:`last_checkpoint`)."""
    return {"config": dataclasses.asdict(cfg), "inputs": input_fingerprint(*inputs)}


def last_checkpoint(workdir: str | Path, key: dict | None = None) -> str | None:
    """The newest complete Trainer checkpoint in ``workdir`` (None when starting fresh).

    ``key`` (the job's resolved config and :func:`input_fingerprint` of its inputs) is kept in
    ``workdir/job_key.json``: checkpoints made under another key belong to another job (a
    changed hyper-parameter keeps the work path of its grid point), so they are removed, with a
    message, and the job starts afresh instead of resuming them.
    """
    from transformers.trainer_utils import get_last_checkpoint

    workdir = Path(workdir)
    if key is not None and not _claim_workdir(workdir, key):
        return None
    return get_last_checkpoint(str(workdir)) if workdir.is_dir() else None


def _claim_workdir(workdir: Path, key: dict) -> bool:
    """True when ``workdir`` was made under ``key``. Otherwise rank 0 removes its checkpoints (saying
    so) and records ``key``; False: the job starts afresh."""
    import sys

    key_file = workdir / "job_key.json"
    key = json.loads(json.dumps(key, sort_keys=True, default=str))
    stored = json.loads(key_file.read_text()) if key_file.is_file() else None
    if stored == key:
        return True
    old = sorted(workdir.glob("checkpoint-*")) if workdir.is_dir() else []
    if old:
        made_for = "an unknown job (no job_key.json)" if stored is None else \
            f"another {' and '.join(sorted(k for k in set(key) | set(stored) if stored.get(k) != key.get(k)))} (job_key.json)"
        print(f"{workdir}: its checkpoints were made for {made_for}; starting afresh", file=sys.stderr, flush=True)
    if is_main_process():  # the other ranks of a torchrun job only read
        for ckpt in old:
            shutil.rmtree(ckpt)
        write_json(key_file, key)
    return False
