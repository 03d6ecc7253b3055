"""`minilm-repro learnability` (the generated benchmark's learnability check) runs end to end:
baselines and the tiny model on one classification and one QA task, every row's numbers in range."""

import json
import subprocess
import sys


def _rows(out_dir, tasks, *args) -> dict:
    bench = {"tasks": ["sst2", "squad_v2"], "scale": 0.1, "mono_documents": 200, "multi_documents": 50}
    out = subprocess.run([sys.executable, "-m", "minilm_repro", "learnability", "--out", str(out_dir),
                          "--tasks", *tasks, "--teacher-steps", "0", "--epochs", "1", "--benchmark-config", json.dumps(bench), *args],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return {r["task"]: r for r in map(json.loads, (l for l in out.stdout.splitlines() if l.startswith('{"task"')))}


def test_learnability_rows(tmp_path):
    rows = _rows(tmp_path, ["sst2", "squad_v2"], "--models", "tiny")
    assert set(rows) == {"sst2", "squad_v2"}
    sst2, squad = rows["sst2"], rows["squad_v2"]
    assert sst2["metric"] == "accuracy" and 30 < sst2["majority"] < 70 and 0 <= sst2["bow"] <= 100
    assert sst2["tiny_scores"]["accuracy"] == round(sst2["tiny"], 1)
    assert squad["metric"] == "best_f1" and 30 < squad["majority"] < 70  # about half the questions unanswerable
    assert {"HasAns_f1", "NoAns_f1"} <= set(squad["tiny_scores"])
    # --models without tiny (and no teacher steps): the baselines alone, on the same benchmark
    baselines = _rows(tmp_path, ["sst2"], "--models", "teacher")["sst2"]
    assert "tiny" not in baselines and baselines["bow"] == sst2["bow"]
