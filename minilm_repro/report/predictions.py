"""Per-example predictions of a fine-tuning job: the file beside its metrics file, and loading it.

The finetune stage writes, beside ``<...>/seed<N>.json``, ``<...>/seed<N>.predictions.json``::

    {"<eval dir>": {"kind": "classification" | "regression", "ids": [row index as string, ...],
                    "pred": [...], "label": [...]},
     "<eval dir>": {"kind": "qa", "ids": [question id, ...], "f1": [...], "exact": [...]}}

QA ``f1`` / ``exact`` are the official per-question scores in percent (the numbers the aggregate
F1 / EM average). The same dict is logged as the MLflow artifact ``predictions.json`` of the job's
run. The report loads these on demand (a profile's files are large) through a
:class:`PredictionStore`; a job without them simply has no per-example data.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

SUFFIX = ".predictions.json"
ARTIFACT = "predictions.json"
KINDS = ("classification", "regression", "qa")


def predictions_path(metrics_path: str | Path) -> Path:
    """``<...>/seed<N>.json`` -> ``<...>/seed<N>.predictions.json``."""
    text = str(metrics_path)
    if not text.endswith(".json") or text.endswith(SUFFIX):
        raise ValueError(f"{metrics_path}: not a fine-tuning metrics file path (<...>/seed<N>.json)")
    return Path(text[: -len(".json")] + SUFFIX)


@dataclasses.dataclass(frozen=True)
class EvalPredictions:
    """One eval set of one job. classification: ``pred``/``label`` class ids; regression: floats;
    qa: ``f1``/``exact`` per question, percent (SQuAD 2.0 also ``best_f1``/``best_exact``: at the best-F1
    / best-EM null threshold)."""

    kind: str
    ids: np.ndarray
    pred: np.ndarray | None = None
    label: np.ndarray | None = None
    f1: np.ndarray | None = None
    exact: np.ndarray | None = None
    best_f1: np.ndarray | None = None
    best_exact: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)


def parse_predictions(data: dict, source: str) -> dict[str, EvalPredictions]:
    """Validate a predictions dict (the file's content) and turn its lists into arrays."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: predictions must be a JSON object {{eval dir: {{kind, ids, ...}}}}")
    out = {}
    for name, ev in data.items():
        kind = ev.get("kind") if isinstance(ev, dict) else None
        if kind not in KINDS:
            raise ValueError(f"{source}: eval {name!r} has kind {kind!r}, expected one of {KINDS}")
        fields = ("f1", "exact") if kind == "qa" else ("pred", "label")
        missing = [f for f in ("ids", *fields) if f not in ev]
        if missing:
            raise ValueError(f"{source}: eval {name!r} ({kind}) lacks {missing}: rewrite it with the finetune stage")
        ids = np.asarray([str(i) for i in ev["ids"]])
        dtype = np.int64 if kind == "classification" else np.float64
        optional = ("best_f1", "best_exact") if kind == "qa" else ()
        arrays = {f: np.asarray(ev[f], dtype=dtype) for f in (*fields, *(o for o in optional if o in ev))}
        bad = [f for f, a in arrays.items() if a.shape != ids.shape]
        if bad:
            raise ValueError(f"{source}: eval {name!r}: {bad} do not have one value per id ({len(ids)} ids)")
        if len(set(ids.tolist())) != len(ids):
            raise ValueError(f"{source}: eval {name!r} has duplicate ids")
        out[name] = EvalPredictions(kind, ids, **arrays)
    return out


def _from_file(path: Path) -> Callable[[], dict | None]:
    def load():
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc}); rerun its finetune job") from exc
    return load


class PredictionStore:
    """Job key (track, model, task, grid point, seed) -> per-eval predictions, loaded when first asked."""

    def __init__(self, sources: dict[tuple, tuple[str, Callable[[], dict | None]]] | None = None):
        self._sources = dict(sources or {})  # key -> (description, loader)
        self._cache: dict[tuple, dict[str, EvalPredictions] | None] = {}

    @classmethod
    def from_metrics_files(cls, keys_and_paths) -> PredictionStore:
        """From (job key, metrics file path) pairs: each job's predictions file beside its metrics file."""
        sources = {}
        for key, path in keys_and_paths:
            pred = predictions_path(path)
            sources[key] = (str(pred), _from_file(pred))
        return cls(sources)

    def source(self, key: tuple) -> str:
        return self._sources[key][0] if key in self._sources else f"job {key}"

    def get(self, key: tuple) -> dict[str, EvalPredictions] | None:
        """The job's predictions by eval dir, or None when it has none."""
        if key not in self._cache:
            desc, load = self._sources.get(key, ("", lambda: None))
            data = load()
            self._cache[key] = None if data is None else parse_predictions(data, desc)
        return self._cache[key]


def job_key(tags: dict) -> tuple:
    """The key of a fine-tuning job from its record's tags."""
    return (tags["track"], tags["model"], tags["task"], tags["grid_point"], int(tags["seed"]))


def mlflow_store(profile: str) -> PredictionStore:
    """The ``predictions.json`` artifacts of the profile's fine-tuning jobs (the latest finished run of
    each job, as :func:`minilm_repro.jobs.tracking.job_records` picks it); absent artifacts give None."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from minilm_repro.jobs.tracking import JOB_KEYS, experiment_name, tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    client = MlflowClient(tracking_uri())
    exp = client.get_experiment_by_name(experiment_name(profile))
    if exp is None:
        return PredictionStore()
    latest: dict[tuple, object] = {}
    token = None
    while True:
        page = client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED' and tags.stage = 'finetune'",
                                  max_results=1000, page_token=token)
        for run in page:
            job = tuple(run.data.tags.get(k) for k in JOB_KEYS)
            best = latest.get(job)
            if best is None or (run.info.start_time, run.info.run_id) > (best.info.start_time, best.info.run_id):
                latest[job] = run
        token = page.token
        if not token:
            break

    def loader(run):
        def load():
            if ARTIFACT not in {f.path for f in client.list_artifacts(run.info.run_id)}:
                return None
            return mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/{ARTIFACT}")
        return load

    return PredictionStore({job_key(run.data.tags): (f"MLflow run {run.info.run_id} artifact {ARTIFACT}", loader(run))
                            for run in latest.values()})
