"""``minilm-repro launch --nproc N -- <stage> ...``: run a stage on N processes with torchrun.

Snakemake rules call every training stage through this, with N = the job's GPUs
(``resources.gpu``). N <= 1 runs the stage in this process; N > 1 execs
``torchrun --standalone --nproc_per_node=N -m minilm_repro <stage> ...`` (one node; for several
nodes see docs/cluster.md). Global batch sizes in the config stay global: each stage derives
its per-device batch and gradient accumulation from the world size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys


def torchrun_command(nproc: int, stage_args: list[str]) -> list[str]:
    exe = shutil.which("torchrun")
    base = [exe] if exe else [sys.executable, "-m", "torch.distributed.run"]
    return [*base, "--standalone", f"--nproc_per_node={nproc}", "-m", "minilm_repro", *stage_args]


def _run(args) -> int:
    stage_args = [a for a in args.stage_args if a != "--"] if args.stage_args[:1] == ["--"] else args.stage_args
    if not stage_args:
        raise SystemExit("launch: give the stage to run after --, e.g. launch --nproc 2 -- distill ...")
    if args.nproc <= 1:
        from minilm_repro.cli import main

        return main(stage_args)
    cmd = torchrun_command(args.nproc, stage_args)
    sys.stdout.flush()
    os.execvp(cmd[0], cmd)
    return 0  # not reached


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("launch", help="run a stage on N processes (torchrun when N > 1)")
    p.add_argument("--nproc", type=int, default=1, help="processes (the job's GPUs); <= 1 runs in-process")
    p.add_argument("stage_args", nargs=argparse.REMAINDER, help="-- <stage> [stage arguments]")
    p.set_defaults(func=_run)
