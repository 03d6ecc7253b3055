"""``minilm-repro launch --nproc N [--nodes M] -- <stage> ...``: run a stage on N processes.

Snakemake rules call every training stage through this, with N = the job's GPUs
(``resources.gpu``). Global batch sizes in the config stay global: each stage derives its
per-device batch and gradient accumulation from the world size (minilm_repro.jobs.trainer_setup).

- N <= 1: the stage runs in this process.
- N > 1, one node: exec ``torchrun --standalone --nproc_per_node=N -m minilm_repro <stage> ...``.
- M > 1 nodes (inside a SLURM job of M nodes, e.g. ``sbatch --nodes=M --ntasks=M``): exec
  ``srun`` with one task per node, each a ``torchrun`` of N/M processes, joined by a c10d
  rendezvous on the first node of the job (docs/cluster.md).

On one machine outside SLURM, N >= 1 first claims N GPUs of its own (minilm_repro.jobs.gpu_slots:
Snakemake's ``--resources gpu=...`` caps how many GPUs the running jobs use, never which) and
sets ``CUDA_VISIBLE_DEVICES`` to them; the claim lasts until the stage's process (or torchrun)
ends. N = 0 leaves the environment as it is.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

from minilm_repro.jobs.gpu_slots import GpuSlotError, claim_for_launch


class LaunchError(RuntimeError):
    """A launch that cannot work as asked; the message names the fix."""


def _torchrun() -> list[str]:
    exe = shutil.which("torchrun")
    return [exe] if exe else [sys.executable, "-m", "torch.distributed.run"]


def torchrun_command(nproc: int, stage_args: list[str]) -> list[str]:
    """One node: torchrun spawns ``nproc`` ranks of the stage."""
    return [*_torchrun(), "--standalone", f"--nproc_per_node={nproc}", "-m", "minilm_repro", *stage_args]


@dataclass(frozen=True)
class Allocation:
    """The nodes of a running SLURM job, as its controller reports them."""

    job_id: str
    nodes: tuple[str, ...]
    head_addr: str  # the first node's NodeAddr: where the rendezvous store listens


def _field(text: str, key: str) -> str | None:
    """Value of ``key=value`` in a ``scontrol --oneliner`` record (values end at whitespace)."""
    m = re.search(rf"(?<!\S){re.escape(key)}=(\S+)", text)
    return m.group(1) if m else None


def _scontrol(*args: str) -> str:
    exe = shutil.which("scontrol")
    if exe is None:
        raise LaunchError("launch --nodes > 1 needs SLURM's scontrol on this node to find the job's nodes")
    res = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise LaunchError(f"`scontrol {' '.join(args)}` failed ({res.returncode}): {res.stderr.strip()}")
    return res.stdout


def slurm_allocation(job_id: str) -> Allocation:
    """Nodes of SLURM job ``job_id`` and the address of its first node.

    Asked of the controller rather than read from ``SLURM_JOB_NODELIST``: the Snakemake SLURM
    executor removes every ``SLURM_*`` variable but the job id before it runs a rule.
    """
    job = _scontrol("show", "job", "--oneliner", job_id)
    nodelist = _field(job, "NodeList")
    if not nodelist or nodelist == "(null)":
        raise LaunchError(f"SLURM job {job_id} has no nodes yet (scontrol: {job.strip()[:300]})")
    nodes = tuple(_scontrol("show", "hostnames", nodelist).split())
    addr = _field(_scontrol("show", "node", "--oneliner", nodes[0]), "NodeAddr") or nodes[0]
    return Allocation(job_id, nodes, addr)


def rendezvous_port(job_id: str) -> int:
    """A port per job (20000-29999, below Linux's ephemeral range): jobs sharing a head node differ."""
    return 20000 + int(job_id) % 10000


def multinode_command(nproc: int, alloc: Allocation, stage_args: list[str], port: int) -> list[str]:
    """srun with one task per node of ``alloc``, each a torchrun of nproc / nodes ranks.

    The srun step takes all the job's CPUs and GPUs on each node (SLURM's default for a step),
    and ``--kill-on-bad-exit`` ends every node's torchrun when one fails.
    """
    n = len(alloc.nodes)
    if nproc % n:
        raise LaunchError(f"--nproc {nproc} is not a multiple of the job's {n} nodes: give every node the same "
                          "number of GPUs (e.g. gpu = nodes x GPUs per node)")
    return ["srun", f"--nodes={n}", f"--ntasks={n}", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
            *_torchrun(), f"--nnodes={n}", f"--nproc_per_node={nproc // n}", "--rdzv_backend=c10d",
            f"--rdzv_endpoint={alloc.head_addr}:{port}", f"--rdzv_id={alloc.job_id}",
            "-m", "minilm_repro", *stage_args]


def command(nproc: int, nodes: int, stage_args: list[str], env: dict[str, str], port: int | None = None) -> list[str]:
    """The command ``launch --nproc nproc --nodes nodes -- stage_args`` execs (``env``: this process's
    environment; the in-process case, one process on one node, is not a command)."""
    if nodes <= 1:
        return torchrun_command(nproc, stage_args)
    job_id = env.get("SLURM_JOB_ID")
    if not job_id:
        raise LaunchError(f"--nodes {nodes} runs one torchrun per node with srun: run it inside a SLURM job of "
                          f"{nodes} nodes (sbatch --nodes={nodes} --ntasks={nodes})")
    if env.get("SLURM_STEP_ID") not in (None, "", "batch", "4294967294"):
        raise LaunchError(
            f"--nodes {nodes} is running inside job step {env['SLURM_STEP_ID']}, which holds the first node: "
            "start it from the batch script (Snakemake SLURM executor: give the rule the resource mpi='srun' "
            "and tasks=<nodes>, docs/cluster.md)")
    alloc = slurm_allocation(job_id)
    if len(alloc.nodes) != nodes:
        raise LaunchError(f"--nodes {nodes}, but SLURM job {job_id} has {len(alloc.nodes)} node(s) "
                          f"({','.join(alloc.nodes)}): submit it with --nodes={nodes}")
    return multinode_command(nproc, alloc, stage_args, port or rendezvous_port(job_id))


def _run(args) -> int:
    stage_args = args.stage_args[1:] if args.stage_args[:1] == ["--"] else args.stage_args
    if not stage_args:
        raise SystemExit("launch: give the stage to run after --, e.g. launch --nproc 2 -- distill ...")
    if args.nodes < 1:
        raise SystemExit(f"launch: --nodes must be >= 1, got {args.nodes}")
    in_process = args.nproc <= 1 and args.nodes == 1
    if not in_process and args.nproc < args.nodes:
        raise SystemExit(f"launch: --nproc {args.nproc} gives some of the {args.nodes} nodes no process")
    try:
        cmd = None if in_process else command(args.nproc, args.nodes, stage_args, dict(os.environ), args.rdzv_port)
        gpus = claim_for_launch(args.nproc, os.environ) if args.nodes == 1 else None
    except (LaunchError, GpuSlotError) as exc:
        raise SystemExit(f"launch: {exc}") from None
    if in_process:
        from minilm_repro.cli import main

        # the claimed GPUs stay locked until this process ends; a launch from the command line runs its
        # stage in a warm process (minilm_repro.jobs.warm) as the stage's own command would
        return main(stage_args, warm_start=sys.argv[1:2] == ["launch"])
    if gpus:
        gpus.keep_across_exec()  # torchrun, this same process after exec, holds them to its end
    sys.stdout.flush()
    os.execvp(cmd[0], cmd)
    return 0  # not reached


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("launch", help="run a stage on N processes (torchrun when N > 1; srun + torchrun on M nodes)")
    p.add_argument("--nproc", type=int, default=1,
                   help="processes in all (the job's GPUs); <= 1 on one node runs in-process")
    p.add_argument("--nodes", type=int, default=1,
                   help="nodes of the SLURM job; > 1 starts one torchrun of nproc/nodes per node with srun")
    p.add_argument("--rdzv-port", type=int, default=None,
                   help="TCP port of the c10d rendezvous on the first node (default 20000 + job id %% 10000)")
    p.add_argument("stage_args", nargs=argparse.REMAINDER, help="-- <stage> [stage arguments]")
    p.set_defaults(func=_run)
