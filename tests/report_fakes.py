"""A fake profile in the paper's shapes, logged as the stages log it (one MLflow run per job,
``JobRun.log_result``, the record written as the metrics file; fine-tuning jobs also write their
per-example predictions through ``finetune.run.write_predictions``).

* ``mono``: the BERT-base teacher (hub), a Table 2 student ``L6xH768`` and ``scratch`` (BERT_SMALL),
  the assistant ``L12xH384``, ``L6xH384`` via the assistant (Table 3 w/ TA), and, directly from the
  teacher, ``L6xH384-noTA`` (Table 3 MiniLM), ``-attn`` (Table 5), ``-layerwise`` (Table 7) and
  ``-vmse`` (Table 6); MNLI (2 grid points x 2 seeds), SQuAD 2.0 (2 seeds), MRPC (three models).
* ``multi``: XLM-R-base teacher, ``L12xH384`` (direct), ``L6xH384`` (via the assistant) and a
  ``scratch`` of the L12xH384 shape; XNLI and MLQA on en and fr / es.

Error counts are exact, so the cells the tests expect follow from the construction.
"""

from __future__ import annotations

import numpy as np

from minilm_repro.finetune.run import write_predictions
from minilm_repro.jobs import tracking
from minilm_repro.jobs.atomic import write_json
from minilm_repro.metrics import classification_scores

PROFILE = "protocol"
MINILM = {"method": "minilm", "teacher_layer": -1, "student_layer": -1, "relations": None, "layer_map": None}
MONO_STUDENTS = {  # name: (teacher, layers, hidden, distill config, skill on MNLI)
    "L6xH768": ("teacher", 6, 768, MINILM, 0.80),
    "L12xH384": ("teacher", 12, 384, MINILM, 0.78),
    "L6xH384": ("L12xH384", 6, 384, MINILM, 0.76),
    "L6xH384-noTA": ("teacher", 6, 384, MINILM, 0.75),
    "L6xH384-attn": ("teacher", 6, 384, {**MINILM, "relations": ["attention"]}, 0.60),
    "L6xH384-layerwise": ("teacher", 6, 384, {**MINILM, "layer_map": [[1, 0], [3, 1], [5, 2], [7, 3], [9, 4],
                                                                        [11, 5]]}, 0.74),
    # a value-MSE loss is not a distill method of this repository yet: the report only reads the label
    "L6xH384-vmse": ("teacher", 6, 384, {**MINILM, "relations": ["attention", "value_mse"]}, 0.745),
}
REFERENCES = {
    "mono": {"teacher": "released-mono|BERT-base", "L6xH768": "paper-table2-L6xH768|MiniLM",
             "scratch": "paper-table2-L6xH768|BERT_SMALL", "L6xH384": "paper-table3-sizes|MiniLM+TA",
             "L6xH384-noTA": "paper-table3-sizes|MiniLM", "L6xH384-attn": "paper-ablation-vr|MiniLM w/o VR",
             "L6xH384-layerwise": "paper-table7-layerwise|MiniLM+layer-to-layer",
             "L6xH384-vmse": "paper-table6-value-mse|Value-MSE"},
    "multi": {"teacher": ["paper-table11-xnli|XLM-R-base", "paper-table13-mlqa|XLM-R-base"],
              "L12xH384": ["paper-table11-xnli|mMiniLM-L12xH384", "paper-table13-mlqa|mMiniLM-L12xH384"],
              "L6xH384": ["paper-table11-xnli|mMiniLM-L6xH384+TA", "paper-table13-mlqa|mMiniLM-L6xH384+TA"]},
}
# MRPC (100 dev pairs, 50 positive): lr2e-05 says "equivalent" to everything (accuracy 50, F1 66.7);
# lr3e-05 finds 10 / 12 of the positives and nothing else (accuracy 60 / 62, F1 33.3 / 38.7)
MRPC_LABELS = np.array([1] * 50 + [0] * 50)
# XNLI (100 dev and 100 test examples per language): test errors and dev errors of each run
XNLI_RUNS = {("lr5e-05_ep5", 1): (20, 25), ("lr5e-05_ep5", 2): (40, 35),  # dev 80 / 60: the best single run
             ("lr3e-05_ep5", 1): (28, 30), ("lr3e-05_ep5", 2): (30, 30)}  # dev 72 / 70: the best mean


def wrong(label: np.ndarray, n_wrong: int, rng, classes: int) -> np.ndarray:
    """``label`` with exactly ``n_wrong`` examples (chosen at random) given another class."""
    pred = label.copy()
    idx = rng.choice(len(label), n_wrong, replace=False)
    pred[idx] = (label[idx] + rng.integers(1, classes, n_wrong)) % classes
    return pred


def classification_eval(task, pred, label, split, language=None, config="default"):
    majority = np.full_like(label, np.bincount(label).argmax())
    return {"scores": classification_scores(task, pred, label), "majority": classification_scores(task, majority, label),
            "language": language, "split": split, "config": config,
            "predictions": {"kind": "classification", "ids": [str(i) for i in range(len(label))],
                            "pred": pred.tolist(), "label": label.tolist()}}


def qa_eval(f1, exact, split, em_key, language=None, config="default", best=False):
    """A QA eval; ``best`` (SQuAD 2.0): also the scores at the best null threshold (here: the same answers)."""
    out = {"scores": {"f1": float(np.mean(f1)), em_key: float(np.mean(exact))}, "language": language,
           "split": split, "config": config,
           "predictions": {"kind": "qa", "ids": [f"q{i:03d}" for i in range(len(f1))], "f1": list(map(float, f1)),
                           "exact": list(map(float, exact))}}
    if best:
        out["scores"].update(best_f1=out["scores"]["f1"], best_exact=out["scores"][em_key])
        out["predictions"].update(best_f1=out["predictions"]["f1"], best_exact=out["predictions"]["exact"])
    return out


def _qa_scores(skill, n, rng):
    right = rng.random(n) < skill
    f1 = np.where(right, 100.0, np.where(rng.random(n) < 0.5, 50.0, 0.0))
    return f1, np.where(f1 == 100.0, 100.0, 0.0)


class Logger:
    def __init__(self, root):
        self.root, self.finetune, self.models, self.speed = root, [], [], []

    def model(self, track, name, stage, tags, config, result):
        path = self.root / track / "models" / f"{name}.metrics.json"
        with tracking.job_run(PROFILE, f"{track}/{name}", {"track": track, "model": name, "stage": stage, **tags},
                              config) as job:
            record = job.log_result(result)
        write_json(path, record)
        self.models.append(path)

    def job(self, track, model, task, gp, seed, evals, primary):
        rel = f"{track}/finetune/{model}/{task}/{gp}/seed{seed}.json"
        tags = {"track": track, "model": model, "task": task, "grid_point": gp, "seed": seed, "stage": "finetune"}
        result = {"task": task, "primary_metric": primary, "evals": evals, "steps": 10}
        select = [e["scores"][primary] for e in evals.values() if e["split"] in ("validation", "validation_matched")]
        result["select_score"] = float(select[0] if task != "xnli" else np.mean(select))
        with tracking.job_run(PROFILE, rel, tags, {"task": task, "seed": seed}) as job:
            write_predictions(str(self.root / rel), result)
            record = job.log_result(result)
        write_json(self.root / rel, record)
        self.finetune.append(self.root / rel)


def log_profile(root):
    """Log every job of the fake profile under ``root``; returns the Logger (metrics-file paths)."""
    log = Logger(root)
    rng = np.random.default_rng(2002)
    log.model("mono", "teacher", "fetch", {}, {}, {"hub_id": "bert-base-uncased", "revision": "main",
                                                    "params": 109_000_000, "layers": 12, "hidden": 768})
    log.model("mono", "scratch", "pretrain", {}, {}, {"params": 66_000_000, "layers": 6, "hidden": 768})
    for name, (teacher, layers, hidden, cfg, _) in MONO_STUDENTS.items():
        log.model("mono", name, "distill", {"teacher": teacher}, cfg,
                  {"params": layers * hidden * 1000, "layers": layers, "hidden": hidden})
    skills = {"teacher": 0.85, "scratch": 0.70, **{m: v[-1] for m, v in MONO_STUDENTS.items()}}
    mnli_dev = {s: rng.integers(0, 3, 400) for s in ("validation_matched", "validation_mismatched")}
    squad_n = 300
    for model, skill in skills.items():
        for gp, shift in (("lr2e-05_ep3", -0.05), ("lr3e-05_ep3", 0.0)):
            for seed in (1, 2):
                evals = {f"default__{s}": classification_eval(
                    "mnli", wrong(y, round((1 - skill - shift) * len(y)) + seed, rng, 3), y, s)
                    for s, y in mnli_dev.items()}
                log.job("mono", model, "mnli", gp, seed, evals, "accuracy")
        for seed in (1, 2):
            f1, exact = _qa_scores(skill - 0.1, squad_n, rng)
            log.job("mono", model, "squad_v2", "lr4e-05_ep4", seed,
                    {"default__validation": qa_eval(f1, exact, "validation", "exact", best=True)}, "best_f1")
    for model in ("teacher", "L6xH768", "scratch"):
        for gp in ("lr2e-05_ep3", "lr3e-05_ep3"):
            for seed in (1, 2):
                if model == "L6xH768":
                    pred = np.ones(100, int) if gp == "lr2e-05_ep3" else \
                        np.r_[np.ones(8 + 2 * seed, int), np.zeros(92 - 2 * seed, int)]
                else:
                    pred = wrong(MRPC_LABELS, 20 + seed, rng, 2)
                log.job("mono", model, "mrpc", gp, seed,
                        {"default__validation": classification_eval("mrpc", pred, MRPC_LABELS, "validation")}, "accuracy")
    _log_multi(log, rng)
    timed = []
    for model, seconds in (("teacher", 0.04), ("L6xH768", 0.02), ("L6xH384", 0.0075)):
        with tracking.job_run(PROFILE, f"mono/{model}/speed", {"track": "mono", "model": model, "stage": "speed"},
                              {"batches": 3}) as job:
            timed.append(job.log_result({"seconds_per_batch": seconds, "device": "cpu:timer x2", "batches": 3}))
    write_json(root / "mono" / "speed.json", {"records": timed})
    log.speed.append(root / "mono" / "speed.json")
    return log


def _log_multi(log, rng):
    log.model("multi", "teacher", "fetch", {}, {}, {"hub_id": "xlm-roberta-base", "revision": "main",
                                                     "params": 270_000_000, "layers": 12, "hidden": 768})
    for name, teacher, layers in (("L12xH384", "teacher", 12), ("L6xH384", "L12xH384", 6)):
        log.model("multi", name, "distill", {"teacher": teacher}, MINILM,
                  {"params": layers * 10_000_000, "layers": layers, "hidden": 384})
    log.model("multi", "scratch", "pretrain", {}, {}, {"params": 120_000_000, "layers": 12, "hidden": 384})
    langs = ("en", "fr")
    labels = {(lang, split): rng.integers(0, 3, 100) for lang in langs for split in ("validation", "test")}
    # extra errors on dev and on test (scratch: a smaller gap on test than on dev)
    for model, (extra, test_extra) in (("teacher", (-10, -10)), ("L12xH384", (0, 0)), ("L6xH384", (5, 5)),
                                       ("scratch", (15, 10))):
        for (gp, seed), (dev_errors, test_errors) in XNLI_RUNS.items():
            evals = {}
            for (lang, split), y in labels.items():
                errors = (dev_errors + extra if split == "validation" else test_errors + test_extra) + (lang == "fr") * 4
                evals[f"{lang}__{split}"] = classification_eval("xnli", wrong(y, errors, rng, 3), y, split, lang, lang)
            log.job("multi", model, "xnli", gp, seed, evals, "accuracy")
        for seed in (1, 2):
            evals = {f"{lang}.{lang}__{split}": qa_eval(*_qa_scores(0.6 - extra / 100, 80, rng), split, "exact_match",
                                                        lang, f"{lang}.{lang}")
                     for lang in ("en", "es") for split in ("validation", "test")}
            log.job("multi", model, "mlqa", "lr3e-05_ep3", seed, evals, "f1")
