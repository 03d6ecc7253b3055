"""Which GPUs a local job may use: ``launch`` claims device ids, one ``flock``-ed file per device.

Why Snakemake's resources alone do not do it: with ``snakemake --resources gpu=N`` and a rule's
``resources: gpu=k``, Snakemake only keeps the sum of k over the running jobs <= N. It never tells
a job *which* k devices are its own (no per-job ``CUDA_VISIBLE_DEVICES`` for local jobs:
snakemake/snakemake#281), so every job sees every GPU and starts on device 0.

How: device ``d`` is free when no process holds the exclusive ``flock`` of ``gpu-<d>.lock`` in the
lock directory (``MINILM_GPU_LOCK_DIR``, default ``.snakemake/gpu-slots`` of the working
directory, i.e. one per workflow; point several workflows sharing a machine at one directory). A
job takes the first ``k`` free devices, sets ``CUDA_VISIBLE_DEVICES`` to them and keeps the lock
files open for the life of its process, across the ``exec`` into torchrun too. The kernel drops
a flock when its last descriptor closes, i.e. when the holding process ends, whichever way
(exit, crash, SIGKILL): a dead job holds no device, and there is nothing to clean up.

Claims never wait: when fewer devices are free than asked for, the launch fails naming the
holders' pids. Under Snakemake with ``--resources gpu=N`` <= the machine's GPUs that cannot
happen between the workflow's own jobs (a job's locks go when its process ends, before
Snakemake sees the job finish); it means another workflow or a hand-started job holds them.

Not managed: SLURM jobs (the scheduler assigns their devices: ``SLURM_JOB_ID`` is set), jobs of
0 GPUs (their environment is left as it is), machines without GPUs (CPU ranks).

Limit: torchrun starts its ranks in sessions of their own, so a ``kill -9`` of torchrun alone
leaves its ranks running on devices that show as free; stop a job with SIGTERM or Ctrl-C (torchrun
then stops its ranks) or kill the ranks too.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LOCK_DIR = ".snakemake/gpu-slots"


class GpuSlotError(RuntimeError):
    """Devices that cannot be claimed as asked; the message names the fix."""


def parse_nvidia_smi(text: str) -> list[str]:
    """Device ids from ``nvidia-smi -L`` output: GPU indices, or UUIDs when any GPU is split by MIG
    (then each MIG instance is a device, and CUDA_VISIBLE_DEVICES must name devices by UUID)."""
    gpus: list[tuple[str, str, list[str]]] = []  # (index, GPU uuid, MIG uuids)
    for line in text.splitlines():
        m = re.match(r"\s*GPU (\d+):.*\(UUID: (\S+)\)", line)
        if m:
            gpus.append((m.group(1), m.group(2), []))
            continue
        m = re.match(r"\s*MIG .*\(UUID: (\S+)\)", line)
        if m and gpus:
            gpus[-1][2].append(m.group(1))
    if not any(migs for _, _, migs in gpus):
        return [index for index, _, _ in gpus]
    return [u for _, uuid, migs in gpus for u in (migs or [uuid])]


def _visible(value: str) -> list[str]:
    """Entries of a CUDA_VISIBLE_DEVICES value; CUDA ignores everything from the first invalid one."""
    ids = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry or entry.startswith("-"):
            break
        ids.append(entry)
    return ids


def device_ids(env) -> tuple[list[str], str]:
    """(the GPU ids jobs of this machine may claim, where they came from).

    In order: ``MINILM_GPU_IDS`` (e.g. ``0,1,2,3``; also fakes devices on a CPU machine for tests),
    ``CUDA_VISIBLE_DEVICES`` (a restriction of the whole workflow to some GPUs), ``nvidia-smi -L``,
    torch's device count where an NVIDIA driver is loaded but nvidia-smi is missing (asked in a
    subprocess: in this process, CUDA would fix its device set before CUDA_VISIBLE_DEVICES is set),
    else none.
    """
    for name in ("MINILM_GPU_IDS", "CUDA_VISIBLE_DEVICES"):
        if name in env:
            return _visible(env[name]), name
    smi = shutil.which("nvidia-smi")
    if smi:
        res = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=60)
        if res.returncode == 0:
            return parse_nvidia_smi(res.stdout), "nvidia-smi -L"
    if os.path.exists("/dev/nvidiactl"):
        res = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.device_count())"],
                             capture_output=True, text=True, timeout=300)
        if res.returncode == 0 and res.stdout.strip().isdigit():
            return [str(i) for i in range(int(res.stdout))], "torch.cuda.device_count()"
    return [], "no NVIDIA driver"


def lock_dir(env) -> Path:
    return Path(env.get("MINILM_GPU_LOCK_DIR") or DEFAULT_LOCK_DIR)


@dataclass
class Claim:
    """Devices held by this process: ``ids`` (CUDA_VISIBLE_DEVICES entries) and their open locks."""

    ids: tuple[str, ...]
    fds: tuple[int, ...]

    def keep_across_exec(self) -> None:
        """Let the locks survive ``exec`` (Python opens descriptors close-on-exec)."""
        for fd in self.fds:
            os.set_inheritable(fd, True)

    def release(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = ()


def _lock_file(directory: Path, device: str) -> Path:
    return directory / f"gpu-{re.sub(r'[^A-Za-z0-9._-]', '_', device)}.lock"


def _holder(fd: int) -> str:
    return os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"


def claim(count: int, ids: list[str], directory: Path, source: str = "") -> Claim:
    """Lock the first ``count`` free devices of ``ids`` under ``directory``, without waiting."""
    if count > len(ids):
        raise GpuSlotError(f"{count} GPU(s) asked for, but this machine has {len(ids)} "
                           f"({','.join(ids) or 'none'}{f' from {source}' if source else ''}): "
                           f"ask for at most {len(ids)} (MINILM_PRETRAIN_GPUS, launch --nproc)")
    directory.mkdir(parents=True, exist_ok=True)
    held: list[tuple[str, int]] = []
    busy: list[str] = []
    for device in ids:
        fd = os.open(_lock_file(directory, device), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            busy.append(f"{device} (pid {_holder(fd)})")
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        held.append((device, fd))
        if len(held) == count:
            return Claim(tuple(d for d, _ in held), tuple(f for _, f in held))
    for _, fd in held:
        os.close(fd)
    raise GpuSlotError(f"{count} GPU(s) asked for, {len(held)} of {len(ids)} free in {directory} (held: "
                       f"{', '.join(busy)}): another workflow or job holds them; wait for it, or give "
                       f"Snakemake --resources gpu=<GPUs not in use>")


def claim_for_launch(count: int, env) -> Claim | None:
    """``launch``'s allocation: claim ``count`` devices and point ``CUDA_VISIBLE_DEVICES`` of ``env``
    (this process's ``os.environ``, inherited by the stage) at them. None, with ``env``
    untouched, under SLURM, for ``count`` < 1 and on a machine without GPUs."""
    if env.get("SLURM_JOB_ID") or count < 1:
        return None
    ids, source = device_ids(env)
    if not ids:
        return None
    got = claim(count, ids, lock_dir(env), source)
    if source == "nvidia-smi -L":
        env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # nvidia-smi's numbering, not CUDA's fastest-first
    env["CUDA_VISIBLE_DEVICES"] = ",".join(got.ids)
    print(f"launch: GPU(s) {','.join(got.ids)} of {','.join(ids)} for this job", file=sys.stderr, flush=True)
    return got


# ---- `minilm-repro gpu-probe`: what a launched process sees ---------------------------------


def _probe(args) -> int:
    """One JSON line per process: its pid, rank and CUDA_VISIBLE_DEVICES, start and end (Unix s)."""
    record = {"pid": os.getpid(), "rank": int(os.environ.get("RANK", "0")),
              "local_rank": int(os.environ.get("LOCAL_RANK", "0")), "world_size": int(os.environ.get("WORLD_SIZE", "1")),
              "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": time.time()}

    def emit(rec: dict) -> None:
        line = json.dumps(rec) + "\n"
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            with open(args.out, "a") as f:  # O_APPEND: ranks write whole lines to one file
                f.write(line)
        else:
            sys.stdout.write(line)
            sys.stdout.flush()

    emit({**record, "event": "start"})
    time.sleep(args.hold)
    emit({**record, "event": "end", "end": time.time()})
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gpu-probe", help="print the GPUs this process may use (check a launch's allocation: "
                                         "minilm-repro launch --nproc 2 -- gpu-probe)")
    p.add_argument("--out", default=None, help="append the records to this file (default: stdout)")
    p.add_argument("--hold", type=float, default=0.0, help="seconds to stay alive between the two records")
    p.set_defaults(func=_probe)
