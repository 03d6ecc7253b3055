"""Print every job of a config with its resolved settings and paths (``--json`` for all of it)."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str]) -> int:
    from minilm_repro.config import ConfigError
    from minilm_repro.plan_view import plan_records, summary
    from minilm_repro.planner import Plan, load_config
    from minilm_repro.stage import default_configfile

    p = argparse.ArgumentParser(prog="minilm-repro plan", description=__doc__)
    p.add_argument("--configfile", nargs="+", default=None, help="workflow config file(s) (default: smoke)")
    p.add_argument("--json", action="store_true", help="every job as JSON: id, rule, stage, settings, paths, tags")
    p.add_argument("--job", help="only this job (its id, as listed)")
    args = p.parse_args(argv)
    try:
        plan = Plan(load_config(args.configfile or [default_configfile()]))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.job and args.job not in plan.jobs:
        print(f"error: no job {args.job!r} in this config", file=sys.stderr)
        return 2
    if args.json or args.job:
        records = [r for r in plan_records(plan) if not args.job or r["id"] == args.job]
        print(json.dumps(records if not args.job else records[0], indent=1, sort_keys=True))
    else:
        print(summary(plan))
    return 0
