"""Work directories: where a training job's checkpoints live, and which job they belong to.

Checkpoints are not Snakemake outputs (Snakemake deletes a failed job's outputs), so a killed
job resumes from its work directory. ``job_key.json`` records the job's resolved config and
input fingerprints: a work directory only resumes the job that made it.

What :func:`last_checkpoint` resumes, and what it does not:

* *complete* checkpoints only. The Trainer writes ``checkpoint-N`` in place, so a job killed
  while saving leaves a directory that looks like a checkpoint. :func:`complete_checkpoints`
  (a TrainerCallback) writes ``checkpoint-N/complete.json`` last, with the size and sha256 of
  every file; a checkpoint without it, or whose files no longer match it (a truncated or
  overwritten file), is removed with a one-line message and the previous complete one resumes.
* *unfinished* runs only. A checkpoint at the job's last step means the job trained to its end
  before (its output was then deleted, or ``snakemake -R``/``-f`` asked for it again): the job
  trains again from step 0 instead, and gives the same result as its first run. Resuming it
  would train one step past the budget (step-budgeted jobs) or none at all (epoch-budgeted ones).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from minilm_repro.jobs.atomic import write_json
from minilm_repro.jobs.distributed import is_main_process

MARKER = "complete.json"  # written into a checkpoint after everything else: the checkpoint is complete
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def input_fingerprint(*paths: str | Path | None) -> dict:
    """{path: sha256 of (relative name, size, mtime) of every file under it}: changes when a job's
    input is rewritten (a retrained teacher, a re-prepared corpus), without reading the data."""
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


def check_writable(target: str | Path, what: str) -> None:
    """Fail before any work when ``target`` (a file or directory a stage will write) cannot be written.

    Probes, by creating and removing a temporary file, the nearest existing ancestor (where
    ``target`` or its atomic sibling is created) and ``target`` itself when it is an existing
    directory (a work directory written into, an output replaced): permission bits do not tell
    (root, ACLs, read-only mounts). Nothing is left behind either way.
    """
    target = Path(target).absolute()
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    for place in [parent] + ([target] if target.is_dir() else []):
        try:
            fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=place)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise PermissionError(f"cannot write the {what} {target}: {place} is not writable ({exc.strerror}); "
                                  f"make it writable or choose another path") from None


# --------------------------------------------------------------------------- checkpoint completeness


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mark_complete(checkpoint: str | Path) -> Path:
    """Write ``checkpoint/complete.json``: {relative file name: [bytes, sha256]} of every file in it."""
    checkpoint = Path(checkpoint)
    files = {str(p.relative_to(checkpoint)): [p.stat().st_size, _sha256(p)]
             for p in sorted(checkpoint.rglob("*")) if p.is_file() and p.name != MARKER}
    return write_json(checkpoint / MARKER, {"files": files})


def checkpoint_problem(checkpoint: str | Path) -> str | None:
    """Why ``checkpoint`` cannot be resumed (None: it is complete and its files are as saved)."""
    checkpoint = Path(checkpoint)
    try:
        files = [(name, int(size), str(digest))
                 for name, (size, digest) in json.loads((checkpoint / MARKER).read_text())["files"].items()]
    except FileNotFoundError:
        return f"no {MARKER}: the job was stopped while saving it"
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"{MARKER} is unreadable"
    for name, size, _ in files:
        path = checkpoint / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, {size} when saved"
    for name, _, digest in files:  # sizes first: a truncated file is found without reading the others
        if _sha256(checkpoint / name) != digest:
            return f"{name} differs from the file saved (sha256)"
    return None


def complete_checkpoints():
    """A TrainerCallback that marks each checkpoint complete (:func:`mark_complete`) once the Trainer
    has written all of it: ``on_save`` follows the Trainer's save of model, optimiser, scheduler,
    RNG states and trainer state (and its rotation of old checkpoints)."""
    from transformers import TrainerCallback

    class _MarkComplete(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            _barrier()  # every rank has written its RNG state into the checkpoint
            if state.is_world_process_zero:
                mark_complete(Path(args.output_dir) / f"checkpoint-{state.global_step}")
            _barrier()

    return _MarkComplete()


# --------------------------------------------------------------------------- resuming


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _barrier() -> None:
    if _distributed():
        import torch.distributed as dist

        dist.barrier()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _step(checkpoint: Path) -> int:
    return int(_CHECKPOINT.match(checkpoint.name).group(1))


def checkpoints(workdir: str | Path) -> list[Path]:
    """The ``checkpoint-N`` directories of ``workdir``, newest (highest N) first."""
    workdir = Path(workdir)
    if not workdir.is_dir():
        return []
    found = [p for p in workdir.iterdir() if _CHECKPOINT.match(p.name) and p.is_dir()]
    return sorted(found, key=_step, reverse=True)


def last_checkpoint(workdir: str | Path, key: dict | None = None) -> str | None:
    """The checkpoint in ``workdir`` to resume: the newest complete one of an unfinished run (None:
    start from step 0). See the module docstring for what is skipped, removed and said.

    ``key`` (the job's resolved config and :func:`input_fingerprint` of its inputs) is kept in
    ``workdir/job_key.json``: checkpoints made under another key belong to another job (a
    changed hyper-parameter keeps the work path of its grid point), so they are removed, with a
    message, and the job starts afresh instead of resuming them.

    Under torchrun, rank 0 decides (and removes what it does not resume); every rank resumes
    what rank 0 found, so that no rank sees the directory halfway through a removal.
    """
    if not _distributed():
        return _resolve(Path(workdir), key)
    import torch.distributed as dist

    found = [_resolve(Path(workdir), key) if is_main_process() else None]
    dist.broadcast_object_list(found, src=0)
    return found[0]


def _resolve(workdir: Path, key: dict | None) -> str | None:
    if key is not None and not _claim_workdir(workdir, key):
        return None
    found = checkpoints(workdir)
    bad = []
    resume = None
    for ckpt in found:
        problem = checkpoint_problem(ckpt)
        if problem is None:
            resume = ckpt
            break
        bad.append((ckpt, problem))
    for ckpt, problem in bad:
        _say(f"{ckpt}: incomplete or corrupt checkpoint ({problem}); removed it, "
             + (f"resuming from {resume.name}" if resume else "no complete checkpoint is left: training from step 0"))
        shutil.rmtree(ckpt)
    if resume is None:
        return None
    state = json.loads((resume / "trainer_state.json").read_text())
    if state.get("max_steps") and state["global_step"] >= state["max_steps"]:
        _say(f"{workdir}: {resume.name} ends a finished run (step {state['global_step']} of {state['max_steps']}); "
             "training again from step 0, as the first run did")
        for ckpt in checkpoints(workdir):
            shutil.rmtree(ckpt)
        return None
    return str(resume)


def _claim_workdir(workdir: Path, key: dict) -> bool:
    """True when ``workdir`` was made under ``key``. Otherwise its checkpoints are removed (saying
    so) and ``key`` recorded; False: the job starts afresh."""
    key_file = workdir / "job_key.json"
    key = json.loads(json.dumps(key, sort_keys=True, default=str))
    stored = json.loads(key_file.read_text()) if key_file.is_file() else None
    if stored == key:
        return True
    old = checkpoints(workdir)
    if old:
        made_for = "an unknown job (no job_key.json)" if stored is None else \
            f"another {' and '.join(sorted(k for k in set(key) | set(stored) if stored.get(k) != key.get(k)))} (job_key.json)"
        _say(f"{workdir}: its checkpoints were made for {made_for}; starting afresh")
    for ckpt in old:
        shutil.rmtree(ckpt)
    write_json(key_file, key)
    return False
