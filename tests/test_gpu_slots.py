"""`minilm-repro launch` claims GPUs of its own on one machine (minilm_repro.jobs.gpu_slots).

Four GPUs are faked on a CPU machine with ``MINILM_GPU_IDS=0,1,2,3``: the claims, the lock files
and ``CUDA_VISIBLE_DEVICES`` are the real ones, only no CUDA program runs. ``gpu-probe`` records
what each launched process sees (pid, rank, CUDA_VISIBLE_DEVICES, start and end times).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minilm_repro.jobs.gpu_slots import (
    GpuSlotError,
    claim,
    claim_for_launch,
    device_ids,
    parse_nvidia_smi,
)

REPO = Path(__file__).resolve().parents[1]
IDS = ["0", "1", "2", "3"]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_") and k != "CUDA_VISIBLE_DEVICES"}
    env.update(MINILM_GPU_IDS=",".join(IDS), OMP_NUM_THREADS="1", **extra)
    return env


def _launch(nproc: int, out: Path, hold: float, env: dict, cwd: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "minilm_repro", "launch", "--nproc", str(nproc), "--",
           "gpu-probe", "--out", str(out), "--hold", str(hold)]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait_for_starts(path: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> list[dict]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        starts = [r for r in _records(path) if r["event"] == "start"]
        if len(starts) >= n:
            return starts
        if proc.poll() is not None:
            pytest.fail(f"launch ended ({proc.returncode}) before its {n} process(es) started:\n{proc.stderr.read()}")
        time.sleep(0.2)
    pytest.fail(f"{n} process(es) did not start within {timeout} s")


# ---- device list and claims ------------------------------------------------------------------

NVIDIA_SMI = """\
GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaaa)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-bbbb)
"""
NVIDIA_SMI_MIG = """\
GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-aaaa)
  MIG 3g.20gb     Device  0: (UUID: MIG-1111)
  MIG 3g.20gb     Device  1: (UUID: MIG-2222)
GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-bbbb)
"""


def test_device_list_sources():
    assert parse_nvidia_smi(NVIDIA_SMI) == ["0", "1"]
    # a MIG instance is a device of its own, named by UUID (then the whole GPU by its UUID too)
    assert parse_nvidia_smi(NVIDIA_SMI_MIG) == ["MIG-1111", "MIG-2222", "GPU-bbbb"]
    assert device_ids({"MINILM_GPU_IDS": "2,3", "CUDA_VISIBLE_DEVICES": "0"}) == (["2", "3"], "MINILM_GPU_IDS")
    assert device_ids({"CUDA_VISIBLE_DEVICES": "1,-1,2"}) == (["1"], "CUDA_VISIBLE_DEVICES")  # as CUDA reads it
    assert device_ids({"CUDA_VISIBLE_DEVICES": ""}) == ([], "CUDA_VISIBLE_DEVICES")


def test_claims_are_disjoint_and_die_with_their_holder(tmp_path):
    first = claim(2, IDS, tmp_path)
    second = claim(1, IDS, tmp_path)
    assert first.ids == ("0", "1") and second.ids == ("2",)
    with pytest.raises(GpuSlotError) as err:
        claim(2, IDS, tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "2 GPU(s) asked for, 1 of 4 free" in msg and f"pid {os.getpid()}" in msg
    first.release()
    assert claim(3, IDS, tmp_path).ids == ("0", "1", "3")  # the failed claim kept nothing


def test_more_gpus_than_the_machine_has_is_a_one_line_error(tmp_path):
    res = subprocess.run([sys.executable, "-m", "minilm_repro", "launch", "--nproc", "5", "--", "gpu-probe"],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode != 0
    assert res.stderr.strip().splitlines()[-1] == (
        "launch: 5 GPU(s) asked for, but this machine has 4 (0,1,2,3 from MINILM_GPU_IDS): "
        "ask for at most 4 (MINILM_PRETRAIN_GPUS, launch --nproc)")


def test_slurm_jobs_and_cpu_jobs_are_left_alone(tmp_path):
    for env in ({"SLURM_JOB_ID": "7", "MINILM_GPU_IDS": "0,1", "MINILM_GPU_LOCK_DIR": str(tmp_path)},
                {"MINILM_GPU_IDS": "0,1", "MINILM_GPU_LOCK_DIR": str(tmp_path)}):
        before = dict(env)
        assert claim_for_launch(1 if "SLURM_JOB_ID" in env else 0, env) is None
        assert env == before
    assert not list(tmp_path.iterdir())  # no lock file taken


# ---- launch: held across the exec into torchrun, released by SIGKILL --------------------------


@pytest.mark.parametrize("nproc", [1, 2])
def test_a_killed_job_frees_its_gpus(nproc, tmp_path):
    """nproc 1: the stage runs in launch's process; 2: launch execs torchrun, which must hold the locks."""
    env = _env(MINILM_GPU_LOCK_DIR=str(tmp_path / "locks"))
    out = tmp_path / "held.jsonl"
    proc = _launch(nproc, out, 120, env, tmp_path)
    try:
        starts = _wait_for_starts(out, nproc, proc)
        seen = {r["cuda_visible_devices"] for r in starts}
        assert len(seen) == 1 and None not in seen, f"ranks of one job saw {seen} (None: every GPU)"
        held = seen.pop().split(",")
        assert len(set(held)) == nproc
        # while the job runs, its devices are taken: only the others can be claimed
        with pytest.raises(GpuSlotError):
            claim(4, IDS, tmp_path / "locks")
        rest = claim(4 - nproc, IDS, tmp_path / "locks")
        assert set(rest.ids) == set(IDS) - set(held)
        rest.release()
        os.kill(proc.pid, signal.SIGKILL)  # launch, or torchrun after the exec: the same pid
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        for r in _records(out):  # torchrun's ranks run in sessions of their own: end them too
            if r["pid"] != proc.pid:
                try:
                    os.kill(r["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
    # the rerun finds every device free
    again = tmp_path / "again.jsonl"
    rerun = _launch(1, again, 0, dict(env, MINILM_GPU_IDS=",".join(IDS)), tmp_path)
    assert rerun.wait(timeout=120) == 0, rerun.stderr.read()
    claimed = claim(4, IDS, tmp_path / "locks")
    assert claimed.ids == tuple(IDS)
    assert _records(again)[0]["cuda_visible_devices"] == "0"


# ---- the gpu-node profile -------------------------------------------------------------------


def _parse_profile(monkeypatch, **env: str) -> dict:
    """workflow/profiles/gpu-node as Snakemake reads it (YTE template, then CLI-style items)."""
    from snakemake.profiles import ProfileConfigFileParser

    for name in [k for k in os.environ if k.startswith("MINILM_") or k == "CUDA_VISIBLE_DEVICES"]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with (REPO / "workflow/profiles/gpu-node/config.yaml").open() as fh:
        return ProfileConfigFileParser().parse(fh)


def test_profile_gives_jobs_their_gpu_counts(monkeypatch):
    plain = _parse_profile(monkeypatch, MINILM_GPU_IDS="0,1,2,3")
    assert plain["resources"] == ["gpu=4"]
    assert {"distill:gpu=4", "pretrain_teacher:gpu=4", "pretrain_scratch:gpu=4", "finetune:gpu=1",
            "speed:gpu=4"} <= set(plain["set-resources"])
    subset = _parse_profile(monkeypatch, CUDA_VISIBLE_DEVICES="2,5", MINILM_PRETRAIN_GPUS="1", MINILM_FINETUNE_GPUS="2")
    assert subset["resources"] == ["gpu=2"] and {"distill:gpu=1", "finetune:gpu=2"} <= set(subset["set-resources"])


@pytest.mark.parametrize("env,match", [
    ({"MINILM_GPU_IDS": "0,1", "MINILM_PRETRAIN_GPUS": "8"}, "MINILM_PRETRAIN_GPUS=8, but this machine has 2 GPU"),
    ({"MINILM_GPU_IDS": "0,1", "MINILM_FINETUNE_GPUS": "0"}, "MINILM_FINETUNE_GPUS='0': expected a whole number >= 1"),
    ({"MINILM_GPU_IDS": ""}, "no GPU found"),
])
def test_profile_refuses_gpu_counts_it_cannot_give(monkeypatch, env, match):
    with pytest.raises(Exception, match=match):
        _parse_profile(monkeypatch, **env)


# ---- a Snakemake DAG through the gpu-node profile --------------------------------------------

# The 2-GPU job claims first (the 1-GPU jobs wait for `ready`), then eight 1-GPU jobs stream through
# the two GPUs left while it runs: had it lost its claim (e.g. at the exec into torchrun), they
# would take its devices, the lowest ids, while its ranks run.
SNAKEFILE = """
rule all:
    input:
        "probe/distill0.jsonl",
        expand("probe/finetune{i}.jsonl", i=range(8)),

rule ready:
    output: "ready"
    shell: "sleep 2 && touch {output}"

# named like the workflow's rules, with their resources: the gpu-node profile sets the GPU counts
rule distill:
    output: "probe/distill{i}.jsonl"
    resources: gpu=0, nodes=1
    shell: "minilm-repro launch --nproc {resources.gpu} --nodes {resources.nodes} -- gpu-probe --out {output} --hold 4"

rule finetune:
    input: "ready"
    output: "probe/finetune{i}.jsonl"
    resources: gpu=0, nodes=1
    shell: "minilm-repro launch --nproc {resources.gpu} --nodes {resources.nodes} -- gpu-probe --out {output} --hold 1.5"
"""


def test_snakemake_jobs_side_by_side_never_share_a_gpu(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    # lock directory: the profile's default, .snakemake/gpu-slots of the workflow's directory
    env = _env(MINILM_PRETRAIN_GPUS="2")
    env.pop("MINILM_GPU_LOCK_DIR", None)
    res = subprocess.run(["snakemake", "-s", "Snakefile", "--profile", str(REPO / "workflow/profiles/gpu-node"),
                          "--cores", "4"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]

    jobs, problems = {}, []
    for path in sorted((tmp_path / "probe").glob("*.jsonl")):
        recs = _records(path)
        wanted = 2 if path.name.startswith("distill") else 1
        devices = {r["cuda_visible_devices"] for r in recs}
        if len(recs) != 2 * wanted or len(devices) != 1 or None in devices:  # None: every GPU visible
            problems.append(f"{path.name}: {wanted} rank(s) wanted, one device list for all; records {recs}")
            continue
        ids = devices.pop().split(",")
        if len(set(ids)) != wanted or not set(ids) <= set(IDS) or {r["world_size"] for r in recs} != {wanted}:
            problems.append(f"{path.name}: {wanted} rank(s) wanted, saw devices {ids}, records {recs}")
        jobs[path.name] = (set(ids), min(r["start"] for r in recs), max(r.get("end", 0) for r in recs))
    assert len(jobs) == 9 and not problems, "\n".join(problems)

    side_by_side = 0
    names = sorted(jobs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            (da, sa, ea), (db, sb, eb) = jobs[a], jobs[b]
            if sa < eb and sb < ea:
                side_by_side += 1
                if da & db:
                    problems.append(f"{a} and {b} ran at the same time on GPU(s) {sorted(da & db)}")
    assert not problems, "\n".join(problems)
    # which jobs overlap is Snakemake's scheduling (and the machine's load): at least one pair must,
    # or the disjointness above shows nothing
    assert side_by_side, f"no two jobs ran at the same time, nothing was shown: {jobs}"
    assert sorted(p.name for p in (tmp_path / ".snakemake/gpu-slots").iterdir()) == [f"gpu-{d}.lock" for d in IDS]
