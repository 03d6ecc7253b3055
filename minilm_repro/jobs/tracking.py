"""MLflow conventions, in one place.

* Store: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///results/mlflow.db`` (relative to the
  working directory, i.e. the workflow root).
* One experiment per profile, created once before jobs start (``minilm-repro track init``):
  concurrent ``set_experiment`` calls race on SQLite.
* One run per job (an interrupted job's rerun continues its unfinished run), tagged with stage,
  model, teacher, task, language, seed, grid point, profile, config hash, git commit, host and device; params = the resolved stage config;
  metrics = training curves and final scores.
* A job's result (the dict its metrics file holds) is logged whole by :meth:`JobRun.log_result`
  (encoded by :mod:`minilm_repro.jobs.records`); :func:`job_records` turns the runs back into the same
  dicts, so the tables can be rebuilt from MLflow alone (the latest finished run of each job counts).
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

from minilm_repro.jobs.records import (
    HISTORY_PREFIX,
    RESULT_PREFIX,
    decode_result,
    encode_result,
    flatten_params,
    unflatten_params,
)

DEFAULT_STORE = "results/mlflow.db"
SCHEMA_TAG = "result_schema"  # present (value "1") on every run that logged its result
TAG_KEYS = (
    "stage", "model", "teacher", "task", "language", "seed", "grid_point", "profile",
    "config_hash", "git_commit", "host", "device", "track",
)


class TrackingStoreError(RuntimeError):
    """The MLflow store cannot be opened or written; the message names its URI and the fix."""


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    path = Path(DEFAULT_STORE).resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrackingStoreError(f"MLflow store sqlite:///{path}: cannot create {path.parent} ({exc.strerror}); make it "
                                 "writable, or set MLFLOW_TRACKING_URI to a writable store") from None
    return f"sqlite:///{path}"


def _store_error(uri: str, exc: BaseException) -> TrackingStoreError:
    """One line for a store that failed: what is wrong with it (unwritable, corrupt, other) and the fix."""
    text = " ".join(str(exc).split("\n")[0].split())
    text = text.split(") ", 1)[1] if text.startswith("(sqlite3.") else text  # SQLAlchemy's "(sqlite3.Error) " prefix
    db = uri[len("sqlite:///"):] if uri.startswith("sqlite:///") else None
    low = text.lower()
    if db and ("unable to open" in low or "readonly" in low or "read-only" in low):
        return TrackingStoreError(f"MLflow store {uri} is not writable ({text}): make {db} and {Path(db).parent} "
                                  "writable, or set MLFLOW_TRACKING_URI to a writable store")
    if db and ("not a database" in low or "malformed" in low or "corrupt" in low):
        return TrackingStoreError(f"MLflow store {uri} is corrupt ({text}): move {db} aside (or restore it from a "
                                  "backup) to start a new store, or set MLFLOW_TRACKING_URI to another store")
    return TrackingStoreError(f"MLflow store {uri} failed ({type(exc).__name__}: {text}); check the store, or set "
                              "MLFLOW_TRACKING_URI to another store")


@contextlib.contextmanager
def _store(uri: str):
    """Turn the store's own failures (SQLAlchemy, sqlite3, MLflow) inside the block into one-line errors."""
    import sqlite3

    from mlflow.exceptions import MlflowException

    try:
        if uri.startswith("sqlite:///"):
            # open it as MLflow will, once: MLflow retries an engine that cannot connect for ~100 s
            _retry(_read_sqlite, uri[len("sqlite:///"):])
        yield
    except TrackingStoreError:
        raise
    except (sqlite3.Error, OSError) as exc:
        raise _store_error(uri, exc) from None
    except Exception as exc:
        store_side = type(exc).__module__.split(".")[0] in ("sqlalchemy", "alembic") or (
            isinstance(exc, MlflowException) and any(w in str(exc).lower() for w in _STORE_WORDS))
        if not store_side:
            raise
        raise _store_error(uri, exc) from None


def _read_sqlite(path: str) -> None:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()


_STORE_WORDS = ("sqlite", "sqlalchemy", "database", "operationalerror", "unable to open")


def experiment_name(profile: str) -> str:
    return f"minilm-repro/{profile}"


def git_commit() -> str:
    """The commit of the checkout this package runs from (whatever the working directory: runs often
    live outside it), with ``-dirty`` when tracked files differ; ``unknown`` for an install outside git."""
    checkout = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10, cwd=checkout
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10,
            cwd=checkout,
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

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    name = experiment_name(profile)
    with _store(uri):
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


class JobRun:
    """Handle of the active job run: log metrics during the job, then its result once."""

    def __init__(self, run_id: str, tags: dict | None = None, params: dict | None = None):
        self.run_id = run_id
        self.tags = dict(tags or {})
        self.params = dict(params or {})

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        import mlflow

        clean = {k.replace("@", "_"): float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        if clean:
            _retry(mlflow.log_metrics, clean, step=step)

    def record(self, result: dict) -> dict:
        """The job's metrics-file content: ``result`` plus the run's tags and config (params)."""
        return {**result, "tags": dict(self.tags), "config": self.params}

    def log_result(self, result: dict) -> dict:
        """Log the whole ``result`` (see :func:`encode_result`); return :meth:`record` for the metrics file."""
        from mlflow.entities import Metric, RunTag
        from mlflow.tracking import MlflowClient

        metrics, histories, tags = encode_result(result)
        now = int(time.time() * 1000)
        points = [Metric(k, v, now, 0) for k, v in metrics.items()]
        points += [Metric(k, v, now, step) for k, hist in histories.items() for step, v in hist]
        run_tags = [RunTag(k, v) for k, v in tags.items()] + [RunTag(SCHEMA_TAG, "1")]
        client = MlflowClient(tracking_uri())
        for i in range(0, len(points), 1000):  # log_batch limits: 1000 metrics, 100 tags per call
            _retry(client.log_batch, self.run_id, metrics=points[i:i + 1000])
        for i in range(0, len(run_tags), 100):
            _retry(client.log_batch, self.run_id, tags=run_tags[i:i + 100])
        return self.record(result)


class _SilentRun(JobRun):
    """The run handle of a non-zero torchrun rank: logs nothing."""

    def __init__(self, tags: dict | None = None, params: dict | None = None):
        super().__init__(run_id="", tags=tags, params=params)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        pass

    def log_result(self, result: dict) -> dict:
        return self.record(result)


def _unfinished_run(experiment_id: str, run_name: str, tags: dict):
    """The newest run of the same job (run name, job tags and config hash) that did not finish: a
    killed job leaves its run RUNNING, a failed one FAILED. None when there is none."""
    from mlflow.tracking import MlflowClient

    def quoted(v: str) -> str:
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"

    terms = [f"attributes.run_name = {quoted(run_name)}", "attributes.status != 'FINISHED'"]
    terms += [f"tags.{k} = {quoted(tags[k])}" for k in (*JOB_KEYS, "config_hash") if k in tags]
    runs = _retry(MlflowClient(tracking_uri()).search_runs, [experiment_id], filter_string=" and ".join(terms),
                  order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None


@contextlib.contextmanager
def job_run(profile: str, run_name: str, tags: dict, params: dict) -> Iterator[JobRun]:
    """Open one MLflow run for one Snakemake job (the experiment must exist: see init_experiment)."""
    import mlflow

    from minilm_repro.jobs.distributed import is_main_process

    if not is_main_process():  # a torchrun job is one run: rank 0 logs it
        yield _SilentRun({k: str(v) for k, v in tags.items() if v is not None}, params)
        return
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    all_tags = {"git_commit": git_commit(), "host": socket.gethostname(), "device": device_name(), "profile": profile}
    all_tags.update({k: str(v) for k, v in tags.items() if v is not None})
    with _store(uri):
        exp = _retry(mlflow.get_experiment_by_name, experiment_name(profile))
        if exp is None:
            exp_id = init_experiment(profile)
        else:
            exp_id = exp.experiment_id
        unfinished = _unfinished_run(exp_id, run_name, all_tags)
        if unfinished is None:
            run = _retry(mlflow.start_run, experiment_id=exp_id, run_name=run_name, tags=all_tags)
        else:  # the same job, interrupted: its checkpoint resumes, so does its run (curves continue)
            resumes = int(unfinished.data.tags.get("resumes", "0")) + 1
            run = _retry(mlflow.start_run, run_id=unfinished.info.run_id)
            _retry(mlflow.set_tags, {**all_tags, "resumes": str(resumes)})
    status = "FAILED"
    try:
        with _store(uri):
            flat = flatten_params(params)
            items = list(flat.items())
            for i in range(0, len(items), 90):  # log_params has a per-call limit of 100
                _retry(mlflow.log_params, dict(items[i : i + 90]))
        yield JobRun(run.info.run_id, all_tags, params)
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


# the tags that name a job: reruns of a job share them, and the latest finished run counts
JOB_KEYS = ("stage", "track", "model", "task", "grid_point", "seed", "language")


def _finished_runs(client, experiment_id: str) -> list:
    runs, token = [], None
    while True:
        page = _retry(client.search_runs, [experiment_id], filter_string="attributes.status = 'FINISHED'",
                      max_results=1000, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return runs


def job_records(profile: str, with_history: bool = False) -> list[dict]:
    """The metrics-file dicts of the profile's jobs, rebuilt from MLflow alone.

    One record per job (``JOB_KEYS`` tags): its latest FINISHED run. Each record is the logged
    result plus ``tags`` (the run's tags, MLflow's own ``mlflow.*`` left out) and ``config``
    (the params, nested again, values as the strings MLflow stores). Step histories are fetched
    only ``with_history`` (one request per history key and run). A job whose latest run did not
    log its result (a stage that predates :meth:`JobRun.log_result`) is an error.
    """
    from mlflow.tracking import MlflowClient

    uri = tracking_uri()
    client = MlflowClient(uri)
    name = experiment_name(profile)
    with _store(uri):
        exp = _retry(client.get_experiment_by_name, name)
    if exp is None:
        raise LookupError(f"no MLflow experiment {name!r} in {tracking_uri()}: wrong --profile or "
                          "MLFLOW_TRACKING_URI, or no job of this profile has run yet")
    latest: dict[tuple, object] = {}
    for run in _finished_runs(client, exp.experiment_id):
        key = tuple(run.data.tags.get(k) for k in JOB_KEYS)
        best = latest.get(key)
        if best is None or (run.info.start_time, run.info.run_id) > (best.info.start_time, best.info.run_id):
            latest[key] = run
    legacy = [r for r in latest.values() if SCHEMA_TAG not in r.data.tags]
    if legacy:
        examples = "; ".join(f"{r.info.run_id} ({r.data.tags.get('stage')} {r.info.run_name})" for r in legacy[:5])
        raise ValueError(f"{len(legacy)} job(s) of {name!r} have a latest finished run without a logged result "
                         f"(their stage does not call JobRun.log_result), e.g. {examples}. Rebuild the tables from "
                         "the metrics files instead (`minilm-repro report --finetune ...`), or rerun those jobs.")
    records = []
    for run in sorted(latest.values(), key=lambda r: (r.info.start_time, r.info.run_id)):
        histories = {}
        if with_history:
            for key in run.data.metrics:
                if key.startswith(HISTORY_PREFIX):
                    points = _retry(client.get_metric_history, run.info.run_id, key)
                    histories[key] = sorted((m.step, m.value) for m in points)
        result = decode_result(run.data.metrics, histories, run.data.tags)
        tags = {k: v for k, v in run.data.tags.items()
                if not k.startswith(("mlflow.", RESULT_PREFIX)) and k != SCHEMA_TAG}
        records.append({**result, "tags": tags, "config": unflatten_params(run.data.params)})
    return records
