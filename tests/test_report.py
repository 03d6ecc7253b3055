"""Tables and figures from job records: identical from the metrics files and from MLflow alone.

A small fake profile is logged through ``minilm_repro.jobs.tracking`` exactly as the stages do (one
run per job, ``JobRun.log_result``, its return value written as the metrics file): a mono track
(teacher pretrained here, assistant, student via the assistant, an attention-only ablation
student, an external checkpoint; MNLI with two grid points and two seeds, SQuAD 2.0) and a
multi track (XNLI and MLQA on two generated languages), plus speed jobs.
"""

import json
import os

import pandas as pd
import pytest

from minilm_repro.jobs import tracking
from minilm_repro.jobs.atomic import write_json
from minilm_repro.report.build import Frames, build_tables, write_report
from minilm_repro.report.collect import records_from_files, records_from_mlflow

PROFILE = "reptest"
REFERENCES = {"mono": {"teacher": "released-mono|BERT-base", "student": "paper-table3-sizes|MiniLM+TA|L3xH384"},
              "multi": {"teacher": ["released-multi-xnli|XLM-R-base", "released-multi-mlqa|XLM-R-base"]}}
DISTILL = {"method": "minilm", "teacher_layer": -1, "student_layer": -1, "relation_heads": None, "relations": None,
           "layer_map": None, "init": "random", "shape": {"layers": 2, "hidden": 8}, "optim": {"steps": 4}}


def _log(root, path, stage, tags, config, result, run_name=None):
    """One job: its MLflow run and its metrics file (the record log_result returns)."""
    with tracking.job_run(PROFILE, run_name or path, {**tags, "stage": stage}, config) as job:
        record = job.log_result(result)
    write_json(root / path, record)
    return root / path


def _classification(task, evals, score, seed_shift):
    out = {}
    for name, split, lang in evals:
        out[name] = {"scores": {"accuracy": score + seed_shift + (1.0 if lang == "l1" else 0.0)},
                     "majority": {"accuracy": 35.0}, "language": lang, "split": split, "config": lang or "default"}
    return out


def log_fake_profile(root):
    """Log every job of the fake profile; returns (finetune, models, speed) metrics-file paths."""
    ft, models, speed = [], [], []
    history = [{"step": s, "loss": 4.0 / s} for s in (1, 2, 3)]
    parts = [{"step": s, "loss": 1.0 / s, "loss_attention": 0.4 / s, "loss_value": 0.6 / s} for s in (1, 2, 3)]
    shapes = {"teacher": (12, 768, 5000), "ta": (12, 384, 3000), "student": (3, 384, 2000), "attn": (3, 384, 2000)}
    models.append(_log(root, "mono/models/teacher.metrics.json", "pretrain", {"track": "mono", "model": "teacher"},
                       {"arch": {"layers": 12}}, {"params": 5000, "layers": 12, "hidden": 768, "history": history}))
    for name, teacher, relations in (("ta", "teacher", None), ("student", "ta", None), ("attn", "ta", ["attention"])):
        layers, hidden, params = shapes[name]
        models.append(_log(root, f"mono/models/{name}.metrics.json", "distill",
                           {"track": "mono", "model": name, "teacher": teacher}, {**DISTILL, "relations": relations},
                           {"params": params, "layers": layers, "hidden": hidden, "history": parts, "resumed": False}))
    models.append(_log(root, "mono/models/ext.metrics.json", "describe", {"track": "mono", "model": "ext"}, {},
                       {"params": 4000, "layers": 3, "hidden": 12, "source": "/checkpoints/ext"}))
    mnli_evals = [("default__validation_matched", "validation_matched", None),
                  ("default__validation_mismatched", "validation_mismatched", None)]
    base = {"teacher": 80.0, "ta": 70.0, "student": 65.0, "attn": 60.0, "ext": 75.0}
    for model, score in base.items():
        grid = ["lr1e-05_ep3", "lr3e-05_ep3"] if model == "teacher" else ["lr3e-05_ep3"]
        for gp in grid:
            for seed in (1, 2):
                s = score - (10.0 if gp == "lr1e-05_ep3" else 0.0)
                evals = _classification("mnli", mnli_evals, s, seed - 1.5)
                tags = {"track": "mono", "model": model, "task": "mnli", "grid_point": gp, "seed": seed}
                ft.append(_log(root, f"mono/finetune/{model}/mnli/{gp}/seed{seed}.json", "finetune", tags,
                               {"task": "mnli", "lr": 3e-5, "seed": seed},
                               {"task": "mnli", "primary_metric": "accuracy", "steps": 10, "train_loss": 0.5,
                                "select_score": evals["default__validation_matched"]["scores"]["accuracy"],
                                "evals": evals, "train_samples_per_second": None}))
        sq = {"default__validation": {"scores": {"f1": score - 20, "exact": score - 25, "HasAns_f1": score - 30,
                                                 "HasAns_total": 40, "best_f1": score - 18, "best_exact": score - 23},
                                      "majority": {"f1": 52.0, "exact": 52.0, "HasAns_f1": 0.0, "best_f1": 52.0},
                                      "language": None, "split": "validation", "config": "default"}}
        tags = {"track": "mono", "model": model, "task": "squad_v2", "grid_point": "lr4e-05_ep4", "seed": 1}
        ft.append(_log(root, f"mono/finetune/{model}/squad_v2/lr4e-05_ep4/seed1.json", "finetune", tags,
                       {"task": "squad_v2"}, {"task": "squad_v2", "primary_metric": "best_f1",
                                              "select_score": score - 18, "evals": sq}))
    models.append(_log(root, "multi/models/teacher.metrics.json", "pretrain", {"track": "multi", "model": "teacher"},
                       {}, {"params": 6000, "layers": 12, "hidden": 768, "history": history}))
    models.append(_log(root, "multi/models/student.metrics.json", "distill",
                       {"track": "multi", "model": "student", "teacher": "teacher"}, DISTILL,
                       {"params": 2500, "layers": 2, "hidden": 8, "history": parts}))
    for model, score in (("teacher", 50.0), ("student", 45.0)):
        xnli = [(f"{lang}__{split}", split, lang) for split in ("validation", "test") for lang in ("l0", "l1")]
        evals = _classification("xnli", xnli, score, 0.0)
        tags = {"track": "multi", "model": model, "task": "xnli", "grid_point": "lr5e-05_ep5", "seed": 1}
        ft.append(_log(root, f"multi/finetune/{model}/xnli/lr5e-05_ep5/seed1.json", "finetune", tags, {},
                       {"task": "xnli", "primary_metric": "accuracy", "select_score": score, "evals": evals}))
        mlqa = {f"{lang}.{lang}__{split}": {"scores": {"f1": score + i, "exact_match": score - 5 + i}, "language": lang,
                                            "split": split, "config": f"{lang}.{lang}"}
                for i, lang in enumerate(("l0", "l1")) for split in ("validation", "test")}
        tags = {"track": "multi", "model": model, "task": "mlqa", "grid_point": "lr3e-05_ep2", "seed": 1}
        ft.append(_log(root, f"multi/finetune/{model}/mlqa/lr3e-05_ep2/seed1.json", "finetune", tags, {},
                       {"task": "mlqa", "primary_metric": "f1", "select_score": score, "evals": mlqa}))
    timed = []  # one speed job for the track: a run per model, one file with their records
    for model, seconds in (("teacher", 0.02), ("student", 0.005)):
        with tracking.job_run(PROFILE, f"mono/{model}/speed", {"track": "mono", "model": model, "stage": "speed"},
                              {"batches": 3}) as job:
            timed.append(job.log_result({"seconds_per_batch": seconds, "seconds_per_batch_std": 0.0,
                                         "device": "cpu:timer x2", "params": 1, "batches": 3, "bf16": False}))
    write_json(root / "mono" / "speed.json", {"records": timed})
    speed.append(root / "mono" / "speed.json")
    return ft, models, speed


@pytest.fixture(scope="module")
def profile_logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        tracking.init_experiment(PROFILE)
        paths = log_fake_profile(root)
        # a failed attempt and a rerun of one job: the latest finished run is what its metrics file holds
        tags = {"stage": "finetune", "track": "mono", "model": "ext", "task": "squad_v2", "grid_point": "lr4e-05_ep4",
                "seed": 1}
        with pytest.raises(RuntimeError), tracking.job_run(PROFILE, "killed", tags, {}):
            raise RuntimeError("node lost")
        rerun = json.loads((root / "mono/finetune/ext/squad_v2/lr4e-05_ep4/seed1.json").read_text())
        rerun["evals"]["default__validation"]["scores"]["f1"] = 57.25
        tags = {k: rerun["tags"][k] for k in ("track", "model", "task", "grid_point", "seed")}
        _log(root, "mono/finetune/ext/squad_v2/lr4e-05_ep4/seed1.json", "finetune", tags, {},
             {k: v for k, v in rerun.items() if k not in ("tags", "config")})
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI")
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    return uri, paths


@pytest.fixture()
def sources(profile_logs, monkeypatch):
    uri, (ft, models, speed) = profile_logs
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return records_from_files(ft, models, speed), records_from_mlflow(PROFILE, with_history=True)


@pytest.fixture()
def tables(sources):
    return build_tables(Frames.from_records(sources[0]), PROFILE, REFERENCES)


def test_tables_identical_from_metrics_files_and_from_mlflow(sources):
    from_files, from_mlflow = (Frames.from_records(r) for r in sources)
    for name in ("finetune", "models", "speed"):
        pd.testing.assert_frame_equal(getattr(from_files, name), getattr(from_mlflow, name), obj=name)
    assert len(from_files.finetune) and len(from_files.models) == 7 and len(from_files.speed) == 2
    files_tables, files_missing = build_tables(from_files, PROFILE, REFERENCES)
    mlflow_tables, mlflow_missing = build_tables(from_mlflow, PROFILE, REFERENCES)
    assert files_missing == mlflow_missing and sorted(files_tables) == sorted(mlflow_tables)
    for name, table in files_tables.items():
        pd.testing.assert_frame_equal(table.text, mlflow_tables[name].text, obj=name)
        pd.testing.assert_frame_equal(table.means, mlflow_tables[name].means, obj=name)
    from minilm_repro.report.collect import history_frame

    pd.testing.assert_frame_equal(history_frame(sources[0].models), history_frame(sources[1].models))
    # the rerun's value, not the first run's, is in both
    ext = from_mlflow.finetune.query("model == 'ext' and task == 'squad_v2' and metric == 'f1'")
    assert list(ext.value) == [57.25]


def test_glue_table_layout_selection_and_paper_rows(tables):
    t = tables[0]["mono_glue_squad"].text
    cols = list(t.columns)
    assert cols[:4] == ["Source", "Shape", "#Params (M)", "Speed-up"]
    assert cols[4:] == ["SQuAD2", "MNLI-m", "Avg", "MNLI-mm", "SQuAD2-F1@0", "SQuAD2-HasAns-F1"]
    # the teacher's better grid point (lr3e-05) is selected; mean ± std over its two seeds
    assert t.loc["teacher", "MNLI-m"] == "80.0±0.7"
    # SQuAD2: F1 at the best null threshold (62.0), as the authors score it; F1 at threshold 0 beside it
    assert t.loc["teacher", "SQuAD2"] == "62.0" and t.loc["teacher", "SQuAD2-F1@0"] == "60.0"
    assert t.loc["teacher", "Avg"] == "71.0"  # mean of SQuAD2 62.0 and MNLI-m 80.0
    assert t.loc["teacher", "Speed-up"] == "1.0x" and t.loc["student", "Speed-up"] == "4.0x"
    assert t.loc["teacher", "Source"].startswith(f"{PROFILE} · cpu:")
    assert "speed-up on cpu:timer x2" in t.loc["teacher", "Source"]
    assert t.loc["majority-class", "MNLI-m"] == "35.0"
    # SQuAD 2.0's constant baseline (no answer anywhere) in the same row; HasAns F1 outside the average
    assert t.loc["majority-class", "SQuAD2"] == "52.0" and t.loc["majority-class", "SQuAD2-HasAns-F1"] == "0.0"
    assert t.loc["teacher", "SQuAD2-HasAns-F1"] == "50.0"
    # configured reference: paper row and Δ row (BERT-base MNLI-m 84.5, SQuAD2 76.8: verified, no dagger)
    paper = "paper: BERT-base L12xH768 (released-mono)"
    assert t.loc[paper, "MNLI-m"] == "84.5" and t.loc[paper, "SQuAD2"] == "76.8"
    assert t.loc[f"Δ teacher − {paper}", "MNLI-m"] == "-4.5"
    assert t.loc[f"Δ teacher − {paper}", "Avg"] == f"{71.0 - (84.5 + 76.8) / 2:+.1f}"
    # the paper's own table is shown for context, recalled figures with a dagger
    assert t.loc["paper: BERT_SMALL L6xH768 (paper-table2-L6xH768)", "MNLI-m"] == "81.8†"
    assert t.loc["paper: DistilBERT L6xH768 (paper-table2-L6xH768)", "MNLI-m"] == "79.0"
    assert list(t.index[:5]) == ["teacher", "ta", "attn", "student", "ext"]  # distilled: larger, then by name


def test_sizes_ablation_and_models_tables(tables):
    built, missing = tables
    sizes = built["mono_sizes"].text
    assert sizes.loc["ta", "Teacher"] == "teacher" and sizes.loc["student", "Teacher"] == "ta (assistant)"
    assert list(sizes.index[:3]) == ["ta", "attn", "student"]  # by shape, larger first
    assert "paper: MiniLM+TA L3xH384 (paper-table3-sizes)" in sizes.index
    assert sizes.loc["Δ student − paper: MiniLM+TA L3xH384 (paper-table3-sizes)", "MNLI-m"] == f"{65.0 - 79.1:+.1f}"
    ablation = built["mono_ablation"].text
    assert ablation.loc["attn", "Relations"] == "attention" and ablation.loc["student", "Relations"] == "attention+value"
    assert ablation.loc["student", "Transfer"] == "last layer"
    assert "ta" not in ablation.index  # its shape has one variant only
    assert "multi_ablation" in missing and "multi_glue_squad" in missing and "mono_xnli" in missing
    models = built["mono_models"].text
    assert models.loc["ext", "Origin"] == "external: /checkpoints/ext"
    assert models.loc["student", "Origin"] == "distilled from ta"


def test_multilingual_tables(tables):
    built, _ = tables
    xnli = built["multi_xnli"].text
    assert [c for c in xnli.columns if c.startswith("l")] == ["l0", "l1"]
    assert xnli.loc["teacher", "l1"] == "51.0" and xnli.loc["teacher", "Avg"] == "50.5"
    # the paper's average covers 15 other languages: shown, not compared
    assert xnli.loc["paper: XLM-R-base L12xH768 (released-multi-xnli)", "Avg"] == "74.5"
    assert not any(i.startswith("Δ") for i in xnli.index)
    mlqa = built["multi_mlqa"].text
    assert mlqa.loc["student", "l1"] == "46.0 / 41.0"
    assert mlqa.loc["released: mMiniLM-L12xH384 L12xH384 (released-multi-mlqa)", "Avg"] == "63.2 / –"
    assert mlqa.loc["paper: mMiniLM-L12xH384 L12xH384 (paper-table13-mlqa)", "Avg"] == "63.2 / 44.7"


def test_written_formats_and_missing_list(sources, tmp_path):
    out = tmp_path / "tables"
    out.mkdir()
    (out / "stale_table.md").write_text("from an older config")
    checks = write_report(sources[0], out, PROFILE, REFERENCES)
    assert not (out / "stale_table.md").exists()
    for name in checks["tables"]:
        for suffix in (".md", ".csv", ".tex"):
            assert (out / f"{name}{suffix}").is_file(), name + suffix
        assert (out / "html" / f"{name}.html").is_file()
    tex = (out / "mono_glue_squad.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "±" not in tex and "$\\pm$" in tex and "$^\\dagger$" in tex
    assert "mono_ablation" not in checks["not_written"] and "multi_ablation" in checks["not_written"]
    assert "multi_ablation" in (out / "not_written.md").read_text()
    csv = pd.read_csv(out / "mono_glue_squad.csv", index_col=0)
    assert {"teacher", "majority-class"} <= set(csv.index)
    assert checks["teacher_beats_scratch"] == {}  # no scratch model in this profile
    assert checks["beats_majority"]["mono/teacher/mnli/default__validation_matched"] is True


def test_profile_mismatch_and_ambiguous_reference_fail_early(sources):
    frames = Frames.from_records(sources[0])
    with pytest.raises(ValueError, match="one report per profile"):
        build_tables(frames, "another-profile")
    with pytest.raises(KeyError, match="ambiguous"):
        build_tables(frames, PROFILE, {"mono": {"ta": "paper-table3-sizes|MiniLM"}})


def test_figures_from_mlflow_records(sources, tmp_path):
    from minilm_repro.report.plots import build_figures

    paths = build_figures(sources[1], tmp_path / "figures")
    names = {p.name for p in paths}
    assert {"pareto.png", "pareto.pdf", "loss_curves.png", "multi_xnli_per_language.pdf",
            "multi_mlqa_per_language.png"} <= names
    assert all(p.stat().st_size > 1000 for p in paths)


def test_report_cli_from_mlflow(profile_logs, monkeypatch, tmp_path, capsys):
    from minilm_repro.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", profile_logs[0])
    assert main(["report", "--mlflow", "--profile", PROFILE, "--out", str(tmp_path / "t"),
                 "--references", json.dumps(REFERENCES)]) == 0
    assert (tmp_path / "t" / "mono_glue_squad.md").is_file()
    with pytest.raises(SystemExit, match="either --finetune"):
        main(["report", "--profile", PROFILE, "--out", str(tmp_path / "u")])


def test_runs_without_logged_result_are_refused():
    tracking.init_experiment("legacy")
    with tracking.job_run("legacy", "old", {"stage": "finetune", "track": "t", "model": "m"}, {}) as job:
        job.log_metrics({"accuracy": 50.0})
    with pytest.raises(ValueError, match="without a logged result"):
        tracking.job_records("legacy")


def test_majority_checks_per_task_average_and_per_language():
    """XNLI: a model below the majority class in one language but above it on the languages' mean
    passes the task check (the paper's Avg column) and fails the per-evaluation check."""
    from types import SimpleNamespace

    from minilm_repro.report.checks import learning_checks
    from minilm_repro.report.collect import finetune_frame

    def record(model, scores):
        evals = {f"{lang}__test": {"scores": {"accuracy": acc}, "majority": {"accuracy": 34.0}, "language": lang,
                                   "split": "test", "config": lang} for lang, acc in scores.items()}
        tags = {"track": "multi", "model": model, "task": "xnli", "grid_point": "lr1e-3_ep3", "seed": 1}
        return {"tags": tags, "task": "xnli", "primary_metric": "accuracy", "select_score": 0.0, "evals": evals}

    frames = SimpleNamespace(finetune=finetune_frame([record("student", {"l0": 45.0, "l1": 33.0}),
                                                      record("scratch", {"l0": 35.0, "l1": 32.0})]))
    checks = learning_checks(frames, {})
    assert checks["beats_majority"] == {"multi/scratch/xnli/l0__test": True, "multi/scratch/xnli/l1__test": False,
                                        "multi/student/xnli/l0__test": True, "multi/student/xnli/l1__test": False}
    assert checks["beats_majority_task"] == {"multi/scratch/xnli/test": False, "multi/student/xnli/test": True}
    assert checks["all_ok"] is False and checks["per_eval_ok"] is False
