"""`minilm-repro distill` end to end: a local teacher and corpus give a loadable student; a
kill -9 mid-run followed by the same command resumes and ends with the same weights."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import job_argv, save_tiny_teacher

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def teacher_and_corpus(tmp_path_factory, wordpiece_dir, toy_corpus):
    root = tmp_path_factory.mktemp("distill")
    save_tiny_teacher(root, wordpiece_dir, toy_corpus)
    return root


def _cmd(root: Path, name: str, steps: int = 120, save_steps: int = 20) -> list[str]:
    cfg = {"shape": {"layers": 2, "hidden": 32},
           "optim": {"steps": steps, "batch_size": 8, "lr": 5e-4, "warmup_steps": 5, "save_steps": save_steps,
                     "logging_steps": 10, "seed": 7}}
    paths = {"teacher": str(root / "teacher"), "teacher_name": "teacher", "corpus": str(root / "corpus"),
             "out": str(root / name / "model"), "workdir": str(root / name / "work"),
             "metrics": str(root / name / "metrics.json")}
    return job_argv("distill", cfg, paths, tags={"model": name}, run_name=name)


def _weights(path: Path):
    from safetensors.torch import load_file

    return load_file(path / "model.safetensors")


def test_distill_cli_then_kill_and_resume_matches_uninterrupted(teacher_and_corpus):
    from transformers import AutoModel, AutoTokenizer

    root = teacher_and_corpus
    ref = subprocess.run(_cmd(root, "ref"), capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]
    student = AutoModel.from_pretrained(root / "ref" / "model")
    AutoTokenizer.from_pretrained(root / "ref" / "model")
    assert student.config.num_hidden_layers == 2 and student.config.hidden_size == 32
    card = json.loads((root / "ref" / "model" / "minilm_repro.json").read_text())
    assert card["method"] == "minilm" and card["steps"] == 120

    proc = subprocess.Popen(_cmd(root, "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ckpt = root / "killed" / "work" / "checkpoint-40"
    deadline = time.time() + 300
    while not (ckpt / "trainer_state.json").is_file():
        assert proc.poll() is None, "run ended before it could be killed: " + proc.stderr.read()[-2000:]
        assert time.time() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (root / "killed" / "model").exists()
    resumed = subprocess.run(_cmd(root, "killed"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metrics = json.loads((root / "killed" / "metrics.json").read_text())
    assert metrics["resumed"] is True and metrics["steps"] == 120
    a, b = _weights(root / "ref" / "model"), _weights(root / "killed" / "model")
    assert a.keys() == b.keys()
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert diff < 1e-6, diff
