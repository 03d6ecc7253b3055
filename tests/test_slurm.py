"""The workflow through a real SLURM (tests/slurm_cluster.py: two slurmd on loopback) with the
project's profile.

- A small config of the smoke DAG (mono track, its corpus from a text file written here) runs
  with ``--profile workflow/profiles/slurm`` plus what this CPU cluster needs: its partition and
  no GPUs (the profile's environment variables), ``--slurm-status-command squeue`` (no
  accounting) and a short first status check. The distillation job is cancelled with
  ``scancel`` once its first checkpoint exists, so the run fails (Snakemake reports it, then is
  stopped with SIGINT rather than left to wait for its next status poll); running the same
  command again resumes the job from its checkpoint and submits nothing else.
- A training job with the profile's GPU settings, which this GPU-less cluster rejects at
  submission: its sbatch calls (attempt 1, then the retries with more wall time). Likewise the
  multi-node resources that docs/cluster.md gives.
- ``launch --nodes 2`` in a 2-node job: srun + one torchrun per node, one world of 2 ranks.

The SLURM tests are marked ``slurm`` and skip, saying why, where the cluster cannot run (not
Linux, not root, no apt-get, a real SLURM configured); the cluster fixture fails if a process of
the cluster outlives it. Wall time is mostly the plugin's status polling: it checks 2 s after a
submission, then waits 10 s longer each time no job has finished (2, 14, 36, 68 s...), so the
jobs here are kept short enough to be seen finished at the 14 s or 36 s check.

Fast tests need no cluster: the profile read by Snakemake's own parser under different
environments, bad settings rejected by name, the multi-node launch command and its refusals.
"""

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, job_spec, write_toy_corpus
from slurm_cluster import LocalSlurm, SlurmUnavailable, unavailable_reason

from minilm_repro.jobs.launch import Allocation, LaunchError, command, multinode_command

PROFILE = REPO / "workflow" / "profiles" / "slurm"
TARGET = "results/mono/models/ta.metrics.json"
# short jobs (see the module docstring): the resumed distillation (60 steps) and the teacher
# (30 steps) end before the 36 s status check even on a busy machine; checkpoint 40 leaves the
# test 60 steps (seconds) to cancel the first attempt before it finishes
DISTILL_STEPS, SAVE_STEPS = 100, 40
TEACHER_STEPS = 30
# SLURM jobs the target needs; track_init is a local rule and must never reach SLURM
COMPUTE_RULES = {"tokenizer", "prepare_corpus", "pretrain_teacher", "distill"}


def slurm_config(root: Path) -> dict:
    cfg = yaml.safe_load((REPO / "workflow" / "config" / "smoke.yaml").read_text())
    cfg["profile"] = "slurmtest"
    del cfg["benchmark"], cfg["tracks"]["multi"]
    cfg["tasks_root"] = str(root / "tasks")
    cfg["languages"] = ["l0"]
    track = cfg["tracks"]["mono"]
    track["corpus"]["text"] = {"files": [str(write_toy_corpus(root / "text" / "l0.txt", docs=400))]}
    track["teacher"]["pretrain"]["optim"].update(steps=TEACHER_STEPS, save_steps=TEACHER_STEPS, warmup_steps=3,
                                                    logging_steps=10)
    for student in track["students"].values():
        student["optim"].update(steps=DISTILL_STEPS, save_steps=SAVE_STEPS, logging_steps=50)
    track["scratch"]["optim"].update(steps=30, save_steps=10)
    track["finetune"]["tasks"] = []  # the test's target ends at the distillation: no task data needed
    del track["speed"]
    cfg["finetune"]["tasks"] = {"mnli": cfg["finetune"]["tasks"]["mnli"]}
    return cfg


@pytest.fixture(scope="module")
def cluster():
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no local SLURM: {reason}")
    try:
        with LocalSlurm(nodes=2) as c:
            yield c
    except SlurmUnavailable as exc:
        pytest.skip(f"no local SLURM: {exc}")
    assert not c.leftovers, f"processes of the test cluster outlived its daemons (killed): {c.leftovers}"


def snakemake_cmd(work: Path, *extra: str) -> list[str]:
    return ["snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work), "--configfile",
            str(work / "config.yaml"), "--profile", str(PROFILE),
            "--slurm-status-command", "squeue",  # no accounting database on the test cluster
            "--slurm-init-seconds-before-status-checks", "2", *extra, TARGET]


def rule_of(job: dict) -> str:
    """The rule of a job submitted by the plugin, from its comment ``rule_<rule>[_wildcards_...]``."""
    comment = job["comment"]
    assert comment.startswith("rule_"), job
    name = comment[len("rule_"):].split("_wildcards_")[0]
    return name


def wait_for(ok, timeout: float, what: str, proc: subprocess.Popen, log: Path, poll: float = 0.2):
    """Poll ``ok()`` until it returns something truthy; fail early if snakemake ``proc`` exits."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = ok()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"snakemake exited ({proc.returncode}) while waiting for {what}:\n{log.read_text()[-5000:]}")
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}:\n{log.read_text()[-3000:]}")


def running_job(cluster: LocalSlurm, rule: str) -> dict | None:
    jobs = [j for j in cluster.jobs() if rule_of(j) == rule and j["state"] == "RUNNING"]
    return jobs[0] if jobs else None


def distill_process_env(work: Path) -> dict[str, str] | None:
    """Environment of the running `minilm-repro launch ... -- distill` process of the workflow in ``work``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"distill" not in argv or os.readlink(proc / "cwd") != str(work):
                continue
            raw = (proc / "environ").read_bytes()
        except OSError:  # the process ended meanwhile
            continue
        return dict(kv.split("=", 1) for kv in raw.decode(errors="replace").split("\0") if "=" in kv)
    return None


@pytest.mark.slurm
@pytest.mark.slow
def test_profile_jobs_go_through_slurm_and_a_cancelled_distillation_resumes(cluster, tmp_path):
    work = tmp_path / "wf"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(slurm_config(work)))
    env = cluster.env(MINILM_SLURM_PARTITION=cluster.partition, MINILM_PRETRAIN_GPUS="0",
                      MINILM_FINETUNE_GPUS="0", TOKENIZERS_PARALLELISM="false")
    ckpt_dir = work / "work" / "mono" / "distill" / "ta"
    first_ckpt = ckpt_dir / f"checkpoint-{SAVE_STEPS}" / "trainer_state.json"
    log = tmp_path / "run1.log"

    # ---- run 1: no retry; the distillation is cancelled after its first checkpoint ------------
    t0 = time.time()
    with log.open("w") as fh:
        run1 = subprocess.Popen(snakemake_cmd(work, "--retries", "0"), env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        attempt1 = wait_for(lambda: running_job(cluster, "distill"), 300, "the distill job to run", run1, log)
        wait_for(first_ckpt.is_file, 240, f"{first_ckpt}", run1, log, poll=0.05)
        job_env = distill_process_env(work)
        cluster.scancel(attempt1["id"])
        failed = f"SLURM-job '{attempt1['id']}' failed, SLURM status is: 'CANCELLED'"
        wait_for(lambda: failed in log.read_text(), 240, "snakemake to see the cancelled job", run1, log)
        # nothing is left to run, but the plugin sleeps until its next status poll (30 s and more
        # by now) before Snakemake can exit: stop it as Ctrl-C would
        run1.send_signal(signal.SIGINT)
        rc1 = run1.wait(timeout=120)
    finally:
        if run1.poll() is None:
            run1.terminate()
            run1.wait(timeout=60)
    out1 = log.read_text()
    t1 = time.time()
    assert rc1 != 0, f"run 1 should fail (its distillation was cancelled):\n{out1[-3000:]}"

    # the training process ran inside its SLURM job, offline, with the shared HF cache set
    assert job_env is not None, "no running distill process found while its job was RUNNING"
    assert job_env.get("SLURM_JOB_ID") == attempt1["id"], job_env.get("SLURM_JOB_ID")
    assert job_env.get("HF_HUB_OFFLINE") == "1" and job_env.get("HF_DATASETS_OFFLINE") == "1"
    assert job_env.get("HF_HOME"), "the profile's precommand should set HF_HOME for compute jobs"

    jobs1 = {j["id"]: j for j in cluster.jobs()}
    assert {rule_of(j) for j in jobs1.values()} == COMPUTE_RULES, jobs1
    done1 = {rule_of(j) for j in jobs1.values() if j["state"] == "COMPLETED"}
    assert done1 == COMPUTE_RULES - {"distill"}, jobs1
    assert jobs1[attempt1["id"]]["state"] == "CANCELLED"
    assert jobs1[attempt1["id"]]["time_limit"] == "1-00:00:00"  # the profile's min(2880, 1440 * attempt) minutes
    assert (first_ckpt.parent / "model.safetensors").is_file()
    assert not (work / "results" / "mono" / "models" / "ta").exists(), "a failed job must not leave its output"

    # ---- run 2: the same command resumes the distillation and redoes nothing else -------------
    run2 = subprocess.run(snakemake_cmd(work), env=env, capture_output=True, text=True, timeout=420)
    t2 = time.time()
    assert run2.returncode == 0, (run2.stdout + run2.stderr)[-5000:]
    new = [j for j in cluster.jobs() if j["id"] not in jobs1]
    assert [(rule_of(j), j["state"]) for j in new] == [("distill", "COMPLETED")], new
    metrics = json.loads((work / TARGET).read_text())
    assert metrics["resumed"] is True and metrics["steps"] == DISTILL_STEPS, metrics
    from transformers import AutoModel

    student = AutoModel.from_pretrained(work / "results" / "mono" / "models" / "ta")
    assert student.config.hidden_size == 64

    # SLURM's own records: the controller knows every job; every job kept its log
    # (.snakemake/slurm_logs/rule_<rule>/<wildcards>/<job id>.log)
    ctld = cluster.controller_log()
    for job_id in [*jobs1, *(j["id"] for j in new)]:
        assert f"JobId={job_id}" in ctld, f"job {job_id} not in slurmctld.log"
    slurm_logs = {p.stem: p for p in (work / ".snakemake" / "slurm_logs").rglob("*.log")}
    for job in [*jobs1.values(), *new]:
        assert job["id"] in slurm_logs, (job, sorted(slurm_logs))
        assert slurm_logs[job["id"]].parent.relative_to(work / ".snakemake" / "slurm_logs").parts[0] == \
            f"rule_{rule_of(job)}"
    print(f"run 1 (4 rules, distillation cancelled): {t1 - t0:.0f} s; run 2 (resume): {t2 - t1:.0f} s")


@pytest.mark.slurm
def test_gpu_training_job_is_one_task_with_its_gpus_and_retries_with_more_time(cluster, tmp_path):
    """The profile's GPU branch as sbatch receives it, for attempt 1 and its retry (this node has
    no GPUs: SLURM rejects both at submission, so nothing waits on a status check)."""
    (tmp_path / "Snakefile").write_text(
        'rule distill:\n    output: "ta.json"\n    threads: 8\n    resources: gpu=0\n'
        '    shell: "minilm-repro launch --nproc {resources.gpu} -- distill > {output}"\n')
    env = cluster.env(MINILM_SLURM_ACCOUNT="proj1", MINILM_SLURM_PARTITION="cpuq", MINILM_SLURM_GPU_PARTITION="debug",
                      MINILM_GPU_MODEL="a100", MINILM_PRETRAIN_GPUS="8", MINILM_SLURM_MAX_RUNTIME="2000")
    res = subprocess.run(["snakemake", "--profile", str(PROFILE), "--slurm-status-command", "squeue", "--retries", "2",
                          "--slurm-init-seconds-before-status-checks", "2", "--verbose"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    calls = [line.split("sbatch call:", 1)[1].strip() for line in out.splitlines() if "sbatch call: sbatch" in line]
    assert len(calls) == 3, out[-3000:]
    runtimes = []
    for call in calls:
        args = call.split(" --wrap=")[0].split()
        for expected in (["-A", "proj1"], ["-p", "debug"], ["--mem", "256000"]):
            i = args.index(expected[0])
            assert args[i:i + 2] == expected, (expected, args)
        assert "--gpus=a100:8" in args and "--cpus-per-gpu=8" in args, args
        # one task: `minilm-repro launch` starts torchrun, which spawns the 8 ranks
        assert not [a for a in args if a.startswith(("--ntasks", "-n"))], args
        runtimes.append(args[args.index("-t") + 1])
    # min(MINILM_SLURM_MAX_RUNTIME, 1440 * attempt) minutes
    assert runtimes == ["1440", "2000", "2000"], runtimes
    assert "Invalid generic resource" in out and res.returncode != 0, out[-2000:]


def docs_multinode_resources() -> dict:
    """The ``set-resources`` example of docs/cluster.md's multi-node section, as YAML."""
    text = (REPO / "docs" / "cluster.md").read_text()
    section = text[text.index("## Several nodes per training job"):]
    block = section[section.index("```yaml") + len("```yaml"):]
    return yaml.safe_load(block[:block.index("```")])["set-resources"]


@pytest.mark.slurm
def test_documented_multinode_resources_give_one_task_per_node(cluster, tmp_path):
    """docs/cluster.md's 2-node ``distill`` resources, as sbatch receives them (no GPUs here:
    SLURM rejects the job at submission)."""
    (tmp_path / "Snakefile").write_text(
        'rule distill:\n    output: "ta.json"\n    threads: 8\n    resources: gpu=0\n'
        '    shell: "minilm-repro launch --nproc {resources.gpu} -- distill > {output}"\n')
    resources = [f"distill:{k}={v}" for k, v in docs_multinode_resources()["distill"].items()]
    res = subprocess.run(["snakemake", "--profile", str(PROFILE), "--slurm-status-command", "squeue", "--retries", "0",
                          "--slurm-init-seconds-before-status-checks", "2", "--set-resources", *resources, "--verbose"],
                         cwd=tmp_path, env=cluster.env(), capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    calls = [line.split("sbatch call:", 1)[1].strip() for line in out.splitlines() if "sbatch call: sbatch" in line]
    assert len(calls) == 1, out[-3000:]
    args = calls[0].split(" --wrap=")[0].split()
    assert {"--nodes=2", "--ntasks=2", "--gpus=16", "--cpus-per-gpu=8", "--exclusive"} <= set(args), args
    assert args[args.index("--mem") + 1] == "256000" and args[args.index("-t") + 1] == "1440", args
    assert not [a for a in args if a.startswith("--ntasks-per")], args
    assert "Invalid generic resource" in out and res.returncode != 0, out[-2000:]


def tiny_distill_args(root: Path, wordpiece_dir: Path, toy_corpus: Path, steps: int) -> list[str]:
    """A distillation stage of ``steps`` steps from a 2-layer teacher built here (global batch 8)."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from minilm_repro.data.corpus import CorpusConfig, prepare_corpus

    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, pad_token_id=tok.pad_token_id)
    BertForMaskedLM(cfg).save_pretrained(root / "teacher")
    tok.save_pretrained(root / "teacher")
    prepare_corpus([toy_corpus], tok, CorpusConfig(max_seq_len=32), root / "corpus")
    optim = {"steps": steps, "batch_size": 8, "lr": 5e-4, "warmup_steps": 1, "save_steps": 1000, "logging_steps": 1}
    paths = {"teacher": str(root / "teacher"), "teacher_name": "teacher", "corpus": str(root / "corpus"),
             "out": str(root / "student"), "workdir": str(root / "work"), "metrics": str(root / "student.metrics.json")}
    return ["distill", "--spec", job_spec("distill", {"shape": {"layers": 1, "hidden": 16}, "optim": optim}, paths,
                                          tags={"model": "student"}, run_name="student", profile="slurmtest")]


@pytest.mark.slurm
@pytest.mark.slow
def test_launch_on_two_nodes_runs_one_torchrun_per_node(cluster, tmp_path, wordpiece_dir, toy_corpus):
    """``launch --nodes 2`` in a 2-node job: srun starts a torchrun on each node, they meet at the
    c10d rendezvous on the first node and train as one world of 2 ranks (gloo on CPU)."""
    from minilm_repro.jobs.tracking import init_experiment

    init_experiment("slurmtest")  # `track init`: the store and experiment exist before any rank opens a run
    stage = tiny_distill_args(tmp_path, wordpiece_dir, toy_corpus, steps=4)
    wrap = " ".join(["minilm-repro", "launch", "--nproc", "2", "--nodes", "2", "--", *map(shlex.quote, stage)])
    out = tmp_path / "job.out"
    res = subprocess.run(["sbatch", "--parsable", "--nodes=2", "--ntasks=2", "-o", str(out), "-D", str(tmp_path),
                          "--wrap", wrap], env=cluster.env(OMP_NUM_THREADS="1", LOGLEVEL="INFO"),  # torchrun's own log
                         capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    job_id = res.stdout.strip()

    def finished():
        state = {j["id"]: j["state"] for j in cluster.jobs()}.get(job_id)
        return state if state not in (None, "PENDING", "CONFIGURING", "RUNNING", "COMPLETING") else None

    deadline = time.time() + 240
    while not (state := finished()) and time.time() < deadline:
        time.sleep(0.5)
    log = out.read_text() if out.exists() else "(no job output)"
    assert state == "COMPLETED", f"job {job_id}: {state}\n{log[-4000:]}"
    # torchrun's rendezvous result, once per node: node ranks 0 and 1, one worker each, a world of 2
    assert sorted(re.findall(r"group_rank=(\d+)", log)) == ["0", "1"], log[-4000:]
    assert sorted(re.findall(r"global_ranks=\[(\d+)\]", log)) == ["0", "1"], log[-4000:]
    assert log.count("global_world_sizes=[2]") == 2, log[-4000:]
    # the Trainer logs on each node's first rank a loss averaged over the world: equal on both
    # nodes only if their ranks formed one process group (alone, each would log its own data's)
    losses = re.findall(r"\{'loss': '([^']+)'", log)
    assert len(losses) == 8 and all(losses.count(v) % 2 == 0 for v in losses), losses
    # each node's slurmd launched a task of the job's first step (the srun)
    for node in cluster.nodes:
        assert f"StepId={job_id}.0" in cluster.slurmd_log(node), node
    metrics = json.loads((tmp_path / "student.metrics.json").read_text())
    assert metrics["steps"] == 4, metrics


def test_multinode_launch_command():
    alloc = Allocation("4242", ("gpu01", "gpu02"), "10.0.0.1")
    cmd = multinode_command(16, alloc, ["distill", "--x", "1"], 24242)
    srun, torchrun = cmd[:cmd.index("--kill-on-bad-exit=1") + 1], cmd[cmd.index("--kill-on-bad-exit=1") + 1:]
    assert srun == ["srun", "--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    assert {"--nnodes=2", "--nproc_per_node=8", "--rdzv_backend=c10d", "--rdzv_endpoint=10.0.0.1:24242",
            "--rdzv_id=4242"} <= set(torchrun), torchrun
    assert torchrun[-5:] == ["-m", "minilm_repro", "distill", "--x", "1"]
    assert "--standalone" not in cmd
    with pytest.raises(LaunchError, match="not a multiple"):
        multinode_command(12, Allocation("1", ("a", "b", "c", "d", "e"), "a"), ["distill"], 20001)


@pytest.mark.parametrize("env,match", [({}, "inside a SLURM job of 2 nodes"),
                                       ({"SLURM_JOB_ID": "7", "SLURM_STEP_ID": "0"}, "mpi='srun'")])
def test_multinode_launch_refuses_where_it_cannot_work(env, match):
    with pytest.raises(LaunchError, match=match):
        command(4, 2, ["distill"], env)
    assert "--standalone" in command(4, 1, ["distill"], env)  # one node never asks SLURM


def parse_profile(monkeypatch, **env: str) -> dict:
    """The profile as Snakemake reads it (its own parser: YTE template, then CLI-style items)."""
    from snakemake.profiles import ProfileConfigFileParser

    for name in [k for k in os.environ if k.startswith("MINILM_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with (PROFILE / "config.yaml").open() as fh:
        return ProfileConfigFileParser().parse(fh)


def test_profile_reads_cluster_settings_from_the_environment(monkeypatch):
    plain = parse_profile(monkeypatch)
    assert plain["executor"] == "slurm" and plain["rerun-triggers"] == "mtime"
    assert "distill:gpu=8" in plain["set-resources"] and "distill:tasks_per_gpu=0" in plain["set-resources"]
    assert "distill:runtime=min(2880, 1440 * attempt)" in plain["set-resources"]
    assert not [r for r in plain["set-resources"] + plain["default-resources"] if "slurm_" in r and "extra" not in r]

    site = parse_profile(monkeypatch, MINILM_SLURM_ACCOUNT="proj", MINILM_SLURM_PARTITION="cpu",
                         MINILM_GPU_MODEL="h100", MINILM_PRETRAIN_GPUS="4", MINILM_SLURM_MAX_RUNTIME="1440")
    assert {"slurm_account=proj", "slurm_partition=cpu"} <= set(site["default-resources"])
    assert {"distill:gpu=4", "distill:gpu_model=h100", "distill:slurm_partition=cpu", "distill:mem_mb=128000",
            "distill:runtime=min(1440, 1440 * attempt)", "finetune:gpu=1"} <= set(site["set-resources"])

    cpu = parse_profile(monkeypatch, MINILM_PRETRAIN_GPUS="0", MINILM_FINETUNE_GPUS="0", MINILM_GPU_MODEL="h100")
    assert {"distill:gpu=0", "finetune:gpu=0", "speed:gpu=0"} <= set(cpu["set-resources"])
    assert not [r for r in cpu["set-resources"] if "gpu_model" in r]


@pytest.mark.parametrize("name,value", [("MINILM_PRETRAIN_GPUS", "eight"), ("MINILM_SLURM_PARTITION", "gpu a100"),
                                        ("MINILM_SLURM_MAX_RUNTIME", "0")])
def test_profile_rejects_a_bad_setting_by_name(monkeypatch, name, value):
    with pytest.raises(Exception, match=name):
        parse_profile(monkeypatch, **{name: value})
