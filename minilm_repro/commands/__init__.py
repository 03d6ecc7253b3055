"""One module per ``minilm-repro`` command, named after it (``finetune`` -> ``commands/finetune.py``,
``train-tokenizer`` -> ``commands/train_tokenizer.py``); each has a docstring (its help line) and
``main(argv) -> int``. A run imports only its command's module: every pipeline job starts a process.

A job stage runs as ``minilm-repro <stage> --spec JSON`` (what the Snakemake rules pass: the
planner's spec of the job) or ``minilm-repro <stage> --configfile X --job ID`` (standalone: the
planner builds the same spec from the config). :func:`job_main` parses either (HfArgumentParser),
sets the CPU threads and calls the stage's ``run(spec)``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from typing import Callable

from minilm_repro.jobs import phases
from minilm_repro.jobs.stage import JobSpec


def from_register(register, command: str):
    """``main(argv)`` of a command whose parser a module's ``register(subparsers)`` builds."""

    def main(argv: list[str]) -> int:
        phases.stage_started(command)
        try:
            parser = argparse.ArgumentParser(prog="minilm-repro")
            register(parser.add_subparsers(dest="command", required=True))
            args = parser.parse_args([command, *argv])
            return int(args.func(args) or 0)
        finally:
            phases.write_if_asked()

    return main


@dataclasses.dataclass
class JobArgs:
    """Command-line arguments of every job stage (parsed by ``transformers.HfArgumentParser``)."""

    spec: str | None = dataclasses.field(default=None, metadata={"help": "the job's spec as JSON (what the rules pass)"})
    configfile: list[str] | None = dataclasses.field(
        default=None, metadata={"help": "workflow config file(s): plan them and run the job given by --job"})
    job: str | None = dataclasses.field(default=None, metadata={"help": "job id (`minilm-repro plan` lists them)"})
    threads: int | None = dataclasses.field(
        default=None, metadata={"help": "torch CPU threads, overriding the spec's (the rules pass Snakemake's grant)"})


def spec_of(args: JobArgs, stage: str) -> JobSpec:
    """The spec given by ``--spec``, or planned from ``--configfile`` for ``--job``."""
    if (args.spec is None) == (args.job is None):
        raise SystemExit(f"{stage}: give either --spec JSON or --configfile FILE... --job ID "
                         "(`minilm-repro plan --configfile FILE` lists the job ids)")
    if args.spec is not None:
        spec = JobSpec.from_dict(json.loads(args.spec))
    else:
        from minilm_repro.plan.planner import Plan, default_configfile, load_config

        plan = Plan(load_config(args.configfile or [default_configfile()]))
        if args.job not in plan.jobs:
            raise SystemExit(f"{stage}: no job {args.job!r} in this config (`minilm-repro plan` lists them)")
        spec = JobSpec.from_dict(plan.jobs[args.job].spec(plan.profile, plan.threads))
    if spec.stage != stage:
        raise SystemExit(f"job {spec.id} is a {spec.stage!r} job: run it with `minilm-repro {spec.stage}`")
    return spec


def job_main(stage: str, run: Callable[[JobSpec], int | None]) -> Callable[[list[str]], int]:
    """The ``main(argv)`` of a job stage's command: parse the spec, set threads, ``run(spec)``."""

    def main(argv: list[str]) -> int:
        phases.stage_started(stage)
        try:
            from transformers import HfArgumentParser

            parser = HfArgumentParser(JobArgs, prog=f"minilm-repro {stage}")
            (args,) = parser.parse_args_into_dataclasses(argv)
            spec = spec_of(args, stage)
            set_threads(spec.run.threads if args.threads is None else args.threads)
            return int(run(spec) or 0)
        finally:
            phases.write_if_asked()

    main.job_stage = stage  # runs one job from its spec alone (benchmarks/bench_job_phases.py)
    return main


def set_threads(threads: int) -> None:
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
