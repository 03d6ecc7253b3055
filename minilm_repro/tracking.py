"""MLflow conventions, in one place.

* Store: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///results/mlflow.db`` (relative to the
  working directory, i.e. the workflow root).
* One experiment per profile, created once before jobs start (``minilm-repro track init``):
  concurrent ``set_experiment`` calls race on SQLite.
* One run per job, tagged with stage, model, teacher, task, language, seed, grid point,
  profile, config hash, git commit, host and device; params = the resolved stage config;
  metrics = training curves and final scores.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

DEFAULT_STORE = "results/mlflow.db"
TAG_KEYS = (
    "stage", "model", "teacher", "task", "language", "seed", "grid_point", "profile",
    "config_hash", "git_commit", "host", "device", "track",
)


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    path = Path(DEFAULT_STORE).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def experiment_name(profile: str) -> str:
    return f"minilm-repro/{profile}"


def git_commit() -> str:
    """The commit of the workflow checkout, with ``-dirty`` when files differ; ``unknown`` outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    return f"cpu:{platform.processor() or platform.machine()} x{os.cpu_count()}"


def _retry(fn, *args, attempts: int = 8, **kwargs):
    """SQLite stores answer 'database is locked' under concurrent writers: retry with backoff."""
    delay = 0.2
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # mlflow wraps sqlalchemy errors in MlflowException
            if "locked" not in str(exc).lower() and "busy" not in str(exc).lower() or attempt == attempts - 1:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def init_experiment(profile: str) -> str:
    """Create the profile's experiment if it does not exist; returns its id. Run before jobs start."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    name = experiment_name(profile)
    exp = _retry(mlflow.get_experiment_by_name, name)
    if exp is not None:
        return exp.experiment_id
    try:
        return _retry(mlflow.create_experiment, name)
    except Exception:
        exp = mlflow.get_experiment_by_name(name)  # another process created it meanwhile
        if exp is None:
            raise
        return exp.experiment_id


def _flatten(d: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = json.dumps(v) if isinstance(v, (list, tuple)) else str(v)
    return out


class JobRun:
    """Handle of the active job run: log metrics and a final score dict."""

    def __init__(self, run_id: str):
        self.run_id = run_id

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        import mlflow

        clean = {k.replace("@", "_"): float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        if clean:
            _retry(mlflow.log_metrics, clean, step=step)


class _SilentRun(JobRun):
    """The run handle of a non-zero torchrun rank: logs nothing."""

    def __init__(self):
        super().__init__(run_id="")

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        pass


@contextlib.contextmanager
def job_run(profile: str, run_name: str, tags: dict, params: dict) -> Iterator[JobRun]:
    """Open one MLflow run for one Snakemake job (the experiment must exist: see init_experiment)."""
    import mlflow

    from minilm_repro.training import is_main_process

    if not is_main_process():  # a torchrun job is one run: rank 0 logs it
        yield _SilentRun()
        return
    mlflow.set_tracking_uri(tracking_uri())
    exp = _retry(mlflow.get_experiment_by_name, experiment_name(profile))
    if exp is None:
        exp_id = init_experiment(profile)
    else:
        exp_id = exp.experiment_id
    all_tags = {"git_commit": git_commit(), "host": socket.gethostname(), "device": device_name(), "profile": profile}
    all_tags.update({k: str(v) for k, v in tags.items() if v is not None})
    run = _retry(mlflow.start_run, experiment_id=exp_id, run_name=run_name, tags=all_tags)
    status = "FAILED"
    try:
        flat = _flatten(params)
        items = list(flat.items())
        for i in range(0, len(items), 90):  # log_params has a per-call limit of 100
            _retry(mlflow.log_params, dict(items[i : i + 90]))
        yield JobRun(run.info.run_id)
        status = "FINISHED"
    finally:
        _retry(mlflow.end_run, status=status)


def trainer_callback(job: JobRun):
    """A transformers TrainerCallback that mirrors the Trainer's logs into the job's run."""
    from transformers import TrainerCallback

    class _MlflowMirror(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                job.log_metrics(logs, step=state.global_step)

    return _MlflowMirror()
