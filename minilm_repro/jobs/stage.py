"""The stage skeleton: a job as its stage receives it (:class:`JobSpec`) and the lifecycle every
tracked stage shares (:func:`tracked_job`: its MLflow run, its result logged whole, the metrics
file written by rank 0). How a command line becomes a :class:`JobSpec`: :mod:`minilm_repro.commands`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from minilm_repro.config import ConfigError, config_hash
from minilm_repro.jobs.phases import phase, timed


@dataclasses.dataclass
class RunInfo:
    """Facts of a job's run, not of its science: the MLflow experiment (profile), tags and run name."""

    profile: str | None = "adhoc"  # None: no MLflow run
    tags: dict = dataclasses.field(default_factory=dict)
    run_name: str = "job"
    threads: int = 0  # torch CPU threads (0 = torch's default)


@dataclasses.dataclass
class JobSpec:
    """One job as its stage receives it: ``settings`` (the stage's config), ``paths``, ``run``."""

    id: str
    stage: str
    settings: dict
    paths: dict
    run: RunInfo

    @classmethod
    def from_dict(cls, d: dict) -> "JobSpec":
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"job spec: unknown key(s) {unknown}")
        return cls(d["id"], d["stage"], d["settings"], d["paths"], RunInfo(**d.get("run", {})))


def open_run(run: RunInfo, stage: str, cfg: dict, run_name: str | None = None, tags: dict | None = None):
    """The job's MLflow run: the run's tags (or ``tags``) plus stage and the config hash."""
    from minilm_repro.jobs import tracking

    tags = dict(run.tags if tags is None else tags)
    tags.update(stage=stage, config_hash=config_hash(cfg))
    return tracking.job_run(run.profile, run_name or run.run_name, tags, cfg)


def tracked_job(spec: JobSpec, cfg, work: Callable, final_metrics: Callable[[dict], dict] | None = None) -> int:
    """The lifecycle of a tracked job: open its MLflow run, ``metrics = work(job)``, log the final
    metrics (``final_metrics(metrics)``: the flat numbers to log; default every number as
    ``final/<key>``) and the whole result, then write the metrics file ``paths["metrics"]`` on rank 0."""
    from minilm_repro.jobs.atomic import write_json
    from minilm_repro.jobs.distributed import is_main_process
    from minilm_repro.jobs.workdir import check_writable

    check_writable(spec.paths["metrics"], "metrics file")  # before any work, not after it
    with timed(open_run(spec.run, spec.stage, dataclasses.asdict(cfg)), "tracking") as job:
        metrics = work(job)
        flat = final_metrics(metrics) if final_metrics else {
            f"final/{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        with phase("tracking"):
            job.log_metrics(flat)
            record = job.log_result(metrics)  # the whole result in MLflow; the same record in the metrics file
    if is_main_process():
        with phase("write"):
            write_json(spec.paths["metrics"], record)
    return 0
