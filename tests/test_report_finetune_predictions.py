"""The finetune stage's per-example predictions: what its evaluation functions return and what
``write_predictions`` writes (a file beside the metrics file, an MLflow artifact, nothing in the record).

The Trainer is replaced by an object whose ``predict`` returns fixed logits, and QA span decoding by
fixed answers, so the per-example numbers can be checked against the official aggregate scores."""

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

from minilm_repro.finetune import run
from minilm_repro.metrics import classification_scores
from minilm_repro.report.predictions import parse_predictions, predictions_path


def _trainer(predictions):
    return SimpleNamespace(predict=lambda feats: SimpleNamespace(predictions=predictions))


def test_classification_and_regression_predictions():
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    out = run._classification_eval(_trainer(logits), "mrpc", {"labels": [1, 1, 0, 0]}, [1, 1, 0], classification_scores)
    assert out["predictions"] == {"kind": "classification", "ids": ["0", "1", "2", "3"], "pred": [1, 0, 1, 0],
                                  "label": [1, 1, 0, 0]}
    assert out["scores"]["accuracy"] == 50.0 and out["majority"]["accuracy"] == 50.0
    reg = run._classification_eval(_trainer((np.array([[1.5], [3.0], [4.5]]),)), "stsb", {"labels": [1.0, 3.2, 4.0]},
                                   None, classification_scores)
    assert reg["predictions"]["kind"] == "regression" and reg["predictions"]["pred"] == [1.5, 3.0, 4.5]
    assert "majority" not in reg
    parse_predictions({"dev": reg["predictions"]}, "test")  # the report reads what the stage writes


class _Features:
    def remove_columns(self, columns):
        assert columns == ["example_id", "offset_mapping"]
        return self


ROWS = [{"id": "a", "context": "the cat sat on the mat", "question": "who?",
         "answers": {"text": ["the cat", "cat"], "answer_start": [0, 4]}},
        {"id": "b", "context": "dogs bark", "question": "what?", "answers": {"text": ["dogs bark"], "answer_start": [0]}},
        {"id": "c", "context": "nothing here", "question": "why?", "answers": {"text": [], "answer_start": []}},
        {"id": "d", "context": "red blue green", "question": "which?", "answers": {"text": ["blue"], "answer_start": [4]}}]
PREDS = {"a": "a cat", "b": "dogs", "c": "", "d": "green"}
SPANS = {**PREDS, "c": "nothing"}  # the best span of each question, whatever its null score


@pytest.mark.parametrize("task, em_key", [("squad_v2", "exact"), ("squad", "exact_match"), ("mlqa", "exact_match")])
def test_qa_per_question_scores_average_to_the_official_ones(monkeypatch, task, em_key):
    import minilm_repro.finetune.qa_processing as qa

    rows = ROWS if task == "squad_v2" else [r for r in ROWS if r["answers"]["text"]]  # v1 / MLQA: answerable only
    na = {"a": 0.1, "b": 0.2, "c": 0.9, "d": 0.3}
    monkeypatch.setattr(qa, "postprocess_qa_predictions", lambda *a, **k: ({r["id"]: PREDS[r["id"]] for r in rows},
                                                                           {r["id"]: na[r["id"]] for r in rows},
                                                                           {r["id"]: SPANS[r["id"]] for r in rows}))
    cfg = run.FinetuneConfig(task=task, lr=1e-5, epochs=1)
    out = run._qa_eval(_trainer((np.zeros((4, 8)), np.zeros((4, 8)))), cfg, _Features(), rows, "en")
    preds = out["predictions"]
    assert preds["kind"] == "qa" and preds["ids"] == [r["id"] for r in rows]
    assert np.mean(preds["f1"]) == pytest.approx(out["scores"]["f1"], abs=1e-9)
    assert np.mean(preds["exact"]) == pytest.approx(out["scores"][em_key], abs=1e-9)
    assert preds["exact"][0] == 100.0 and preds["f1"][-1] == 0.0  # "a cat" = "cat" after normalisation; "green"
    assert 0 < preds["f1"][1] < 100  # "dogs" against "dogs bark"
    if task == "squad_v2":  # the constant baseline: "no answer" everywhere, right on the one unanswerable question
        assert out["majority"]["f1"] == 25.0 and out["majority"]["HasAns_f1"] == 0.0
        assert out["majority"]["NoAns_f1"] == 100.0 and out["majority"]["best_f1"] == 25.0
        # at the best-F1 null threshold (over the spans' no-answer scores): "c" (na 0.9) and "d" (na 0.3, a wrong
        # answer) answer nothing, "a" and "b" their spans; per question, the same mean
        assert np.mean(preds["best_f1"]) == pytest.approx(out["scores"]["best_f1"], abs=1e-9)
        assert np.mean(preds["best_exact"]) == pytest.approx(out["scores"]["best_exact"], abs=1e-9)
        assert out["scores"]["best_f1_thresh"] == 0.2 and preds["best_f1"][2:] == [100.0, 0.0]
    else:
        assert "majority" not in out


def test_write_predictions_moves_them_out_of_the_record(tmp_path, monkeypatch):
    import mlflow

    metrics = {"task": "mrpc", "evals": {"default__validation": {"scores": {"accuracy": 50.0}, "predictions": {
        "kind": "classification", "ids": ["0", "1"], "pred": [1, 0], "label": [1, 1]}}}}
    path = tmp_path / "seed1.json"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    monkeypatch.chdir(tmp_path)  # the default artifact root ./mlruns
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    with mlflow.start_run() as active:
        moved = run.write_predictions(str(path), metrics)
    assert "predictions" not in metrics["evals"]["default__validation"]
    assert json.loads(predictions_path(path).read_text()) == moved
    assert predictions_path(path).name == "seed1.predictions.json"
    logged = mlflow.artifacts.load_dict(f"{active.info.artifact_uri}/predictions.json")
    assert logged == moved
    # no active run (a job without tracking): the file only
    again = {"evals": {"x": {"predictions": moved["default__validation"]}}}
    run.write_predictions(str(tmp_path / "seed2.json"), again)
    assert (tmp_path / "seed2.predictions.json").is_file()
    with pytest.raises(ValueError, match="not a fine-tuning metrics file path"):
        predictions_path(tmp_path / "seed1.predictions.json")
