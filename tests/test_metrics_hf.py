"""The shipped ``evaluate`` modules load offline by path and give the same numbers as the functions."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# runs in a fresh interpreter so the offline flags and an empty HF cache hold from the first import
SCRIPT = r"""
import json
import numpy as np
from minilm_repro.metrics import classification_scores, load_metric, mlqa_scores, squad_v2_scores

out = {}
m = load_metric("glue", "mrpc")
out["mrpc"] = [m.compute(predictions=[1, 1, 0, 0, 1, 0], references=[1, 0, 0, 1, 1, 1]),
               classification_scores("mrpc", np.array([1, 1, 0, 0, 1, 0]), np.array([1, 0, 0, 1, 1, 1]))]
m = load_metric("glue", "stsb")
out["stsb"] = [m.compute(predictions=[1.0, 2.0, 3.0, 4.0], references=[0.0, 2.0, 2.5, 5.0]),
               classification_scores("stsb", np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 2.0, 2.5, 5.0]))]
m = load_metric("xnli")
out["xnli"] = [m.compute(predictions=[2, 1, 0, 0], references=[2, 1, 1, 0]),
               classification_scores("xnli", np.array([2, 1, 0, 0]), np.array([2, 1, 1, 0]))]
refs = [{"id": "a", "answers": {"text": ["red apple"], "answer_start": [0]}},
        {"id": "b", "answers": {"text": [], "answer_start": []}}]
preds = [{"id": "a", "prediction_text": "apple", "no_answer_probability": 0.25},
         {"id": "b", "prediction_text": "pear", "no_answer_probability": 0.75}]
m = load_metric("squad_v2")
out["squad_v2"] = [m.compute(predictions=preds, references=refs, na_prob_thresh=0.5),
                   squad_v2_scores(refs, {"a": "apple", "b": "pear"}, {"a": 0.25, "b": 0.75}, 0.5)]
mrefs = [{"id": "z", "answers": {"text": ["北京"], "answer_start": [0]}}]
mpreds = [{"id": "z", "prediction_text": "北京市"}]
out["mlqa"] = [load_metric("mlqa", "zh").compute(predictions=mpreds, references=mrefs),
               load_metric("mlqa").compute(predictions=mpreds, references=mrefs, lang="zh"),
               mlqa_scores(mrefs, {"z": "北京市"}, "zh")]
try:
    load_metric("glue", "wnli")
    out["bad_config"] = None
except KeyError as exc:
    out["bad_config"] = str(exc)
print(json.dumps(out))
"""


def test_local_modules_offline(tmp_path):
    env = {**os.environ, "HF_EVALUATE_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in ("mrpc", "stsb", "xnli", "squad_v2"):
        assert out[name][0] == out[name][1], name
    assert out["mrpc"][0] == {"accuracy": 50.0, "f1": pytest.approx(100 * 4 / 7)}
    # a: "apple" vs "red apple": F1 2/3, na 0.25 kept; b: na 0.75 > 0.5 -> no answer, correct
    assert out["squad_v2"][0]["f1"] == pytest.approx(100 * (2 / 3 + 1) / 2)
    assert out["squad_v2"][0]["best_f1_thresh"] == 0.25
    assert out["mlqa"][0] == out["mlqa"][1] == out["mlqa"][2]
    assert out["mlqa"][0] == {"exact_match": 0.0, "f1": pytest.approx(80.0)}
    assert "GLUE task" in out["bad_config"]
