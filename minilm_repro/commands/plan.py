"""Print every job of a config with its resolved settings and paths (``--json``), or its cost (``--cost``).

``--cost``: tokens, FLOPs and projected GPU-hours per stage, and a total (minilm_repro/plan/cost.py, docs/cost.md)."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str]) -> int:
    from minilm_repro.config import ConfigError
    from minilm_repro.plan.planner import Plan, default_configfile, load_config
    from minilm_repro.plan.view import plan_records, summary

    p = argparse.ArgumentParser(prog="minilm-repro plan", description=__doc__)
    p.add_argument("--configfile", nargs="+", default=None, help="workflow config file(s) (default: smoke)")
    p.add_argument("--json", action="store_true", help="every job as JSON: id, rule, stage, settings, paths, tags")
    p.add_argument("--job", help="only this job (its id, as listed)")
    cost = p.add_argument_group("--cost: projected compute per stage (minilm_repro/plan/cost.py, docs/cost.md)")
    cost.add_argument("--cost", action="store_true", help="tokens, FLOPs and GPU-hours per stage, and a total")
    cost.add_argument("--device", help="GPU to project for, e.g. h100, a100, v100 (minilm_repro.plan.flops.PEAK_TFLOPS); "
                                       "with --throughput: the record's device (default)")
    cost.add_argument("--gpus", type=int, default=1, help="devices for the wall hours (default 1)")
    rate = cost.add_mutually_exclusive_group()
    rate.add_argument("--mfu", type=float, help="model FLOPs utilisation of the dense bf16 peak (default 0.4)")
    rate.add_argument("--throughput", metavar="RECORDS_JSON",
                      help="tokens/s measured by benchmarks/bench_distill_step.py --out (instead of --mfu)")
    cost.add_argument("--stage", help="only this stage: a row name or its prefix (distill, finetune/mono, ...)")
    cost.add_argument("--finetune-mean-length", metavar="TOKENS|TASK=TOKENS,...",
                      help="fine-tuning at a stated mean sequence length, for every task or the tasks named "
                           "(default: each task's max_length, an upper bound)")
    args = p.parse_args(argv)
    try:
        plan = Plan(load_config(args.configfile or [default_configfile()]))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.cost:
        return _cost(plan, args)
    if args.job and args.job not in plan.jobs:
        print(f"error: no job {args.job!r} in this config", file=sys.stderr)
        return 2
    if args.json or args.job:
        records = [r for r in plan_records(plan) if not args.job or r["id"] == args.job]
        print(json.dumps(records if not args.job else records[0], indent=1, sort_keys=True))
    else:
        print(summary(plan))
    return 0


def _cost(plan, args) -> int:
    from minilm_repro.config import ConfigError
    from minilm_repro.plan.cost import (
        CostError,
        mfu_rate,
        parse_mean_lengths,
        report,
        throughput_rate,
    )

    try:
        if args.gpus < 1:
            raise CostError(f"--gpus must be at least 1, got {args.gpus}")
        if args.throughput:
            rate = throughput_rate(args.throughput, args.device)
        elif not args.device:
            raise CostError("--cost needs --device (e.g. h100) for its peak FLOP/s, or --throughput records")
        else:
            rate = mfu_rate(args.device, 0.4 if args.mfu is None else args.mfu)
        print(report(plan, rate, args.gpus, args.stage, parse_mean_lengths(args.finetune_mean_length)))
    except (CostError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
