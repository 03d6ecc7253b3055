"""The stage skeleton: how a job reaches its stage, and the lifecycle every stage shares.

A job stage runs as ``minilm-repro <stage> --spec JSON`` (what the Snakemake rules pass: the
planner's spec of the job) or ``minilm-repro <stage> --configfile X --job ID`` (standalone: the
planner builds the same spec from the config). :func:`job_main` parses either (HfArgumentParser),
sets the CPU threads and calls the stage's ``run(spec)``. :func:`tracked_job` is the lifecycle of
a tracked job: its MLflow run, its result logged whole, the metrics file written by rank 0.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable

from minilm_repro.config import ConfigError, config_hash


@dataclasses.dataclass
class JobArgs:
    """Command-line arguments of every job stage (parsed by ``transformers.HfArgumentParser``)."""

    spec: str | None = dataclasses.field(default=None, metadata={"help": "the job's spec as JSON (what the rules pass)"})
    configfile: list[str] | None = dataclasses.field(
        default=None, metadata={"help": "workflow config file(s): plan them and run the job given by --job"})
    job: str | None = dataclasses.field(default=None, metadata={"help": "job id (`minilm-repro plan` lists them)"})
    threads: int | None = dataclasses.field(
        default=None, metadata={"help": "torch CPU threads, overriding the spec's (the rules pass Snakemake's grant)"})


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


def spec_of(args: JobArgs, stage: str) -> JobSpec:
    """The spec given by ``--spec``, or planned from ``--configfile`` for ``--job``."""
    if (args.spec is None) == (args.job is None):
        raise SystemExit(f"{stage}: give either --spec JSON or --configfile FILE... --job ID "
                         "(`minilm-repro plan --configfile FILE` lists the job ids)")
    if args.spec is not None:
        spec = JobSpec.from_dict(json.loads(args.spec))
    else:
        from minilm_repro.planner import Plan, load_config

        plan = Plan(load_config(args.configfile or [default_configfile()]))
        if args.job not in plan.jobs:
            raise SystemExit(f"{stage}: no job {args.job!r} in this config (`minilm-repro plan` lists them)")
        spec = JobSpec.from_dict(plan.jobs[args.job].spec(plan.profile, plan.threads))
    if spec.stage != stage:
        raise SystemExit(f"job {spec.id} is a {spec.stage!r} job: run it with `minilm-repro {spec.stage}`")
    return spec


def default_configfile() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[1] / "workflow" / "config" / "smoke.yaml")


def job_main(stage: str, run: Callable[[JobSpec], int | None]) -> Callable[[list[str]], int]:
    """The ``main(argv)`` of a job stage's command: parse the spec, set threads, ``run(spec)``."""

    def main(argv: list[str]) -> int:
        from transformers import HfArgumentParser

        parser = HfArgumentParser(JobArgs, prog=f"minilm-repro {stage}")
        (args,) = parser.parse_args_into_dataclasses(argv)
        spec = spec_of(args, stage)
        set_threads(spec.run.threads if args.threads is None else args.threads)
        return int(run(spec) or 0)

    return main


def set_threads(threads: int) -> None:
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def open_run(run: RunInfo, stage: str, cfg: dict, run_name: str | None = None, tags: dict | None = None):
    """The job's MLflow run: the run's tags (or ``tags``) plus stage and the config hash."""
    from minilm_repro import tracking

    tags = dict(run.tags if tags is None else tags)
    tags.update(stage=stage, config_hash=config_hash(cfg))
    return tracking.job_run(run.profile, run_name or run.run_name, tags, cfg)


def tracked_job(spec: JobSpec, cfg, work: Callable, final_metrics: Callable[[dict], dict] | None = None) -> int:
    """The lifecycle of a tracked job: open its MLflow run, ``metrics = work(job)``, log the final
    metrics (``final_metrics(metrics)``: the flat numbers to log; default every number as
    ``final/<key>``) and the whole result, then write the metrics file ``paths["metrics"]`` on rank 0."""
    from minilm_repro.atomic import write_json
    from minilm_repro.distributed import is_main_process
    from minilm_repro.workdir import check_writable

    check_writable(spec.paths["metrics"], "metrics file")  # before any work, not after it
    with open_run(spec.run, spec.stage, dataclasses.asdict(cfg)) as job:
        metrics = work(job)
        flat = final_metrics(metrics) if final_metrics else {
            f"final/{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        job.log_metrics(flat)
        record = job.log_result(metrics)  # the whole result in MLflow; the same record in the metrics file
    if is_main_process():
        write_json(spec.paths["metrics"], record)
    return 0
