"""Where a pipeline job's wall time goes, per stage: start-up, load, train, evaluate, tracking, write,
other; each as a share of the job's total, for a fresh interpreter per job (``cold``:
``MINILM_REPRO_WARM=0``) and for a job forked from a warm process (``warm``, the default since
:mod:`minilm_repro.jobs.warm`), run one after the other in this script.

It needs a finished run of the config in ``--run-dir`` (its ``results/`` and ``work/`` hold the jobs'
inputs). For one job of each stage (the first the plan lists, or ``--jobs``), the job's spec comes from
the plan; its outputs (``out``, ``metrics``, ``predictions``, ``workdir``) are redirected into a scratch
folder, so the run's own outputs stay untouched and nothing resumes; MLflow logs into a scratch store.
The job runs as ``minilm-repro <stage> --spec ...`` in the run directory, timed from just before the
process starts to its exit; the stage writes its phases (:mod:`minilm_repro.jobs.phases`). Start-up:
everything before the stage began (interpreter, imports, the hand-off to the warm process); other:
what no phase names (argument parsing, Trainer set-up, ...).

    python benchmarks/bench_job_phases.py --run-dir runs/smoke --out phases.json --page docs/results/job-phases.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUTPUT_KEYS = ("out", "metrics", "predictions", "workdir")
PHASES = ("start-up", "load", "train", "evaluate", "tracking", "write", "other")


def _spec(job, plan, scratch: Path) -> dict:
    spec = job.spec(plan.profile, plan.threads)
    spec["paths"] = {k: (str(scratch / k / Path(v).name) if k in OUTPUT_KEYS and isinstance(v, str) else v)
                     for k, v in spec["paths"].items()}
    return spec


def _run(spec: dict, run_dir: Path, scratch: Path, env: dict) -> dict:
    for k in OUTPUT_KEYS:
        shutil.rmtree(scratch / k, ignore_errors=True)
        (scratch / k).mkdir(parents=True)
    record = scratch / "phases.json"
    record.unlink(missing_ok=True)
    start = time.time()
    res = subprocess.run(["minilm-repro", spec["stage"], "--spec", json.dumps(spec)], cwd=run_dir,
                         env={**env, "MINILM_REPRO_PHASES": str(record)}, capture_output=True, text=True, check=False)
    total = time.time() - start
    if res.returncode != 0:
        raise SystemExit(f"{spec['id']} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    rec = json.loads(record.read_text())
    seconds = {"start-up": rec["started"] - start, **rec["phases"]}
    seconds["other"] = total - sum(seconds.values())
    return {"job": spec["id"], "stage": spec["stage"], "total": total, "seconds": seconds}


def _runs_from_spec(stage: str) -> bool:
    """Whether ``minilm-repro <stage> --spec`` runs one job alone (a command built by ``job_main``)."""
    import importlib

    from minilm_repro.cli import command_names

    if stage not in command_names():
        return False
    module = importlib.import_module(f"minilm_repro.commands.{stage.replace('-', '_')}")
    return getattr(module.main, "job_stage", None) == stage


def _hardware() -> dict:
    import torch

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _table(rows: list[dict]) -> str:
    import pandas as pd

    out = []
    for r in rows:
        row = {"job": r["job"], "mode": r["mode"], "total s": round(r["total"], 2)}
        row.update({p: f"{r['seconds'].get(p, 0.0) / r['total']:.0%}" for p in PHASES})
        out.append(row)
    return pd.DataFrame(out).to_markdown(index=False)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", required=True, help="the directory of a finished run (its results/ and work/)")
    p.add_argument("--configfile", nargs="+", default=None, help="the run's config file(s) (default: smoke)")
    p.add_argument("--jobs", nargs="+", help="job ids (default: the first job of each stage)")
    p.add_argument("--out", help="JSON record: hardware, every job's phases in both modes")
    p.add_argument("--page", help="a Markdown page with the tables (dated, with the hardware and commit)")
    args = p.parse_args(argv)

    from minilm_repro.jobs.tracking import git_commit
    from minilm_repro.plan.planner import Plan, default_configfile, load_config

    run_dir = Path(args.run_dir).resolve()
    plan = Plan(load_config([str(Path(f).resolve()) for f in args.configfile or [default_configfile()]]))
    if args.jobs:
        jobs = [plan.jobs[j] for j in args.jobs]
    else:
        first: dict = {}
        for job in plan.jobs.values():
            if job.stage not in first and _runs_from_spec(job.stage):
                first[job.stage] = job
        jobs = list(first.values())
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-phases-") as tmp:
        scratch = Path(tmp)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}",
               "MINILM_REPRO_WARM_DIR": str(scratch / "warm")}
        subprocess.run(["minilm-repro", "track", "init", "--profile", plan.profile, "--out", str(scratch / "t.json")],
                       env={**env, "MINILM_REPRO_WARM": "0"}, check=True, capture_output=True)
        # the warm server is started (and its imports paid) once, before the first timed job
        subprocess.run(["minilm-repro", "plan", "--job", "track_init"], cwd=run_dir, env=env, check=True,
                       capture_output=True)
        for job in jobs:
            spec = _spec(job, plan, scratch / "outputs")
            for mode, extra in (("cold", {"MINILM_REPRO_WARM": "0"}), ("warm", {})):
                row = {**_run(spec, run_dir, scratch / "outputs", {**env, **extra}), "mode": mode}
                rows.append(row)
                shares = ", ".join(f"{k} {v / row['total']:.0%}" for k, v in row["seconds"].items() if v > 0.005)
                print(f"{row['job']:<40} {mode:<5} {row['total']:7.2f} s  {shares}", flush=True)
    totals = {m: sum(r["total"] for r in rows if r["mode"] == m) for m in ("cold", "warm")}
    print(f"all jobs: cold {totals['cold']:.1f} s, warm {totals['warm']:.1f} s, cold / warm = "
          f"{totals['cold'] / totals['warm']:.2f}x")
    record = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "commit": git_commit(), "hardware": _hardware(), "profile": plan.profile, "rows": rows,
              "totals": totals, "ratio_cold_over_warm": totals["cold"] / totals["warm"]}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=1))
    if args.page:
        hw = record["hardware"]
        Path(args.page).parent.mkdir(parents=True, exist_ok=True)
        Path(args.page).write_text("\n".join([
            f"# Where a job's time goes ({plan.profile} profile)", "",
            f"Generated by `python benchmarks/bench_job_phases.py` on {record['date']}, commit {record['commit']}, "
            f"{hw['cpu']} x{hw['cores']} ({hw['platform']}), torch {hw['torch']}.", "",
            "One job of each stage, run alone: `cold` in a fresh interpreter (`MINILM_REPRO_WARM=0`), `warm` forked "
            "from a process with the libraries imported (the default). Each phase as a share of the job's wall "
            "time; start-up is everything before the stage began.", "",
            _table(rows), "",
            f"All jobs: cold {totals['cold']:.1f} s, warm {totals['warm']:.1f} s (cold / warm = "
            f"{record['ratio_cold_over_warm']:.2f}x).", ""]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
