"""MLflow conventions: the experiment is created once; concurrent jobs lose no run."""

import json
import subprocess
import sys

import pytest

from minilm_repro import tracking

JOB = r"""
import json, sys
from minilm_repro import tracking
i = int(sys.argv[1])
tags = {"model": f"m{i}", "task": "mnli", "track": "mono", "seed": i}
with tracking.job_run("conc", f"job{i}", tags, {"lr": 1e-3 * i, "nested": {"epochs": 2}}) as job:
    for step in range(5):
        job.log_metrics({"loss": 1.0 / (step + 1 + i)}, step=step)
    job.log_metrics({"final/accuracy": 50.0 + i})
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


def test_failed_job_is_marked_failed():
    import mlflow

    tracking.init_experiment("fail")
    with pytest.raises(RuntimeError):
        with tracking.job_run("fail", "boom", {"model": "x"}, {"a": 1}):
            raise RuntimeError("training diverged")
    mlflow.set_tracking_uri(tracking.tracking_uri())
    runs = mlflow.search_runs(experiment_names=[tracking.experiment_name("fail")])
    assert list(runs["status"]) == ["FAILED"]
