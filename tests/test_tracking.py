"""MLflow conventions: the experiment is created once; concurrent jobs lose no run."""

import json
import subprocess
import sys

import pytest
from conftest import REPO

from minilm_repro.jobs import records, tracking

JOB = r"""
import json, sys
from minilm_repro.jobs import records
from minilm_repro.jobs import tracking
i = int(sys.argv[1])
tags = {"model": f"m{i}", "task": "mnli", "track": "mono", "seed": i}
with tracking.job_run("conc", f"job{i}", tags, {"lr": 1e-3 * i, "nested": {"epochs": 2}}) as job:
    for step in range(5):
        job.log_metrics({"loss": 1.0 / (step + 1 + i)}, step=step)
    job.log_metrics({"final/accuracy": 50.0 + i})
    record = job.log_result({"task": "mnli", "evals": {"dev": {"scores": {"accuracy": 50.0 + i}, "language": None}},
                             "history": [{"step": s, "loss": 1.0 / (s + 1 + i)} for s in range(5)]})
print(json.dumps(record))
"""


def test_init_experiment_is_idempotent():
    a = tracking.init_experiment("smoke-test")
    b = tracking.init_experiment("smoke-test")
    assert a == b


def test_eight_concurrent_jobs_all_logged(tmp_path):
    import mlflow

    tracking.init_experiment("conc")
    script = tmp_path / "job.py"
    script.write_text(JOB)
    procs = [subprocess.Popen([sys.executable, str(script), str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(8)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _ in results), [err[-2000:] for rc, err in results if rc]
    outputs = [p.stdout.read() for p in procs]
    mlflow.set_tracking_uri(tracking.tracking_uri())
    runs = mlflow.search_runs(experiment_names=[tracking.experiment_name("conc")])
    assert len(runs) == 8
    assert set(runs["status"]) == {"FINISHED"}
    assert sorted(runs["tags.model"]) == [f"m{i}" for i in range(8)]
    assert sorted(runs["metrics.final/accuracy"]) == [50.0 + i for i in range(8)]
    for col in ("tags.git_commit", "tags.host", "tags.device", "tags.profile", "params.nested.epochs"):
        assert runs[col].notna().all(), col
    client = mlflow.tracking.MlflowClient()
    history = client.get_metric_history(runs.iloc[0]["run_id"], "loss")
    assert len(history) == 5
    # every job's whole result came through, and reads back as the record it wrote
    written = {json.loads(out.strip().splitlines()[-1])["tags"]["model"]: json.loads(out.strip().splitlines()[-1])
               for out in outputs}
    records = tracking.job_records("conc", with_history=True)
    assert sorted(r["tags"]["model"] for r in records) == [f"m{i}" for i in range(8)]
    for rec in records:
        mine = written[rec["tags"]["model"]]
        assert rec["evals"] == mine["evals"] and rec["history"] == mine["history"] and rec["tags"] == mine["tags"]


def test_result_encoding_round_trip():
    result = {"task": "xnli", "select_score": 51.5, "steps": 300, "resumed": False, "note": None,
              "evals": {"l0__test": {"scores": {"accuracy": 50.25}, "language": "l0", "split": "test"}},
              "answer_languages": ["en", "de"],
              "history": [{"step": 10, "loss": 2.5, "loss_value": 1.0}, {"step": 20, "loss": 2.0, "loss_value": 0.75}]}
    metrics, histories, tags = records.encode_result(result)
    assert metrics["result/evals/l0__test/scores/accuracy"] == 50.25
    assert histories["history/history/loss_value"] == [(10, 1.0), (20, 0.75)]
    assert tags["result/resumed"] == "false" and tags["result/evals/l0__test/language"] == '"l0"'
    assert records.decode_result(metrics, histories, tags) == {**result, "steps": 300.0}
    with pytest.raises(ValueError, match="contain no '/'"):
        records.encode_result({"evals": {"a/b": 1.0}})
    with pytest.raises(ValueError, match="must not hold 'tags'"):
        records.encode_result({"tags": {}})


def test_failed_job_is_marked_failed():
    import mlflow

    tracking.init_experiment("fail")
    with pytest.raises(RuntimeError), tracking.job_run("fail", "boom", {"model": "x"}, {"a": 1}):
        raise RuntimeError("training diverged")
    mlflow.set_tracking_uri(tracking.tracking_uri())
    runs = mlflow.search_runs(experiment_names=[tracking.experiment_name("fail")])
    assert list(runs["status"]) == ["FAILED"]


KILLED = r"""
import os
from minilm_repro.jobs import records
from minilm_repro.jobs import tracking
with tracking.job_run("resume", "distill/ta", {"stage": "distill", "model": "ta", "config_hash": "h1"}, {"a": 1}) as job:
    job.log_metrics({"loss": 3.0}, step=1)
    os._exit(9)  # killed: the run is never ended
"""


def test_an_interrupted_job_continues_its_run(tmp_path):
    """A killed (RUNNING) or failed job's rerun resumes its own run; another config starts a new one."""
    from mlflow.tracking import MlflowClient

    tracking.init_experiment("resume")
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    assert subprocess.run([sys.executable, str(script)], capture_output=True).returncode == 9
    tags = {"stage": "distill", "model": "ta", "config_hash": "h1"}
    with pytest.raises(RuntimeError), tracking.job_run("resume", "distill/ta", tags, {"a": 1}) as job:
        job.log_metrics({"loss": 2.0}, step=2)
        raise RuntimeError("node lost")
    with tracking.job_run("resume", "distill/ta", tags, {"a": 1}) as job:
        job.log_metrics({"loss": 1.0}, step=3)
    with tracking.job_run("resume", "distill/ta", {**tags, "config_hash": "h2"}, {"a": 2}):
        pass
    client = MlflowClient(tracking.tracking_uri())
    exp = client.get_experiment_by_name(tracking.experiment_name("resume"))
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    assert [(r.data.tags["config_hash"], r.info.status) for r in runs] == [("h1", "FINISHED"), ("h2", "FINISHED")]
    first = runs[0]
    assert first.data.tags["resumes"] == "2"
    assert [(m.step, m.value) for m in client.get_metric_history(first.info.run_id, "loss")] == [
        (1, 3.0), (2, 2.0), (3, 1.0)]
    # a finished job's rerun (e.g. forced by Snakemake) is a new run
    with tracking.job_run("resume", "distill/ta", tags, {"a": 1}):
        pass
    assert len(client.search_runs([exp.experiment_id])) == 3


def test_git_commit_is_the_checkouts_from_any_working_directory(tmp_path, monkeypatch):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    monkeypatch.chdir(tmp_path)  # a run directory outside the checkout, as with snakemake --directory
    assert tracking.git_commit().removesuffix("-dirty") == head.strip()
