"""The report compares like with like and reports as the paper reports (tests/report_fakes.py).

Δ rows against the paper row of the same teacher path, shape and variant (Tables 2, 3, 5, 6, 7, 11,
13); released rows labelled, never a Δ target; MRPC in accuracy (also for selection); XNLI / MLQA as
the best single model on the joint dev set; bootstrap intervals on Δ between our models; the same
tables from MLflow alone; the results page.
"""

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import report_fakes as F

from minilm_repro.jobs import tracking
from minilm_repro.report.assemble import RELEASED_SOURCE
from minilm_repro.report.bootstrap import Part, paired_bootstrap
from minilm_repro.report.build import Frames, build_tables, write_report
from minilm_repro.report.collect import Records, records_from_files, records_from_mlflow
from minilm_repro.report.reference import format_reference, resolve

INTERVAL = re.compile(r"^[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\]\*?$")


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    saved, cwd = os.environ.get("MLFLOW_TRACKING_URI"), os.getcwd()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    try:
        os.chdir(root)  # the experiment's artifact root (./mlruns) is fixed here, under the temporary directory
        tracking.init_experiment(F.PROFILE)
        os.chdir(cwd)  # the runs' git_commit tag: this checkout's
        log = F.log_profile(root)
    finally:
        os.chdir(cwd)
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI")
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    return root, log


@pytest.fixture(scope="module")
def records(profile):
    _, log = profile
    return records_from_files(log.finetune, log.models, log.speed)


@pytest.fixture(scope="module")
def tables(records):
    built, _ = build_tables(Frames.from_records(records), F.PROFILE, F.REFERENCES)
    return built


def _paper(key, task, metric=None):
    return resolve(key).value(task, metric)


def test_predictions_files_beside_metrics_files_and_not_in_the_record(profile):
    _, log = profile
    path = log.finetune[0]
    record = json.loads(path.read_text())
    preds = json.loads(Path(str(path).removesuffix(".json") + ".predictions.json").read_text())
    assert all("predictions" not in ev for ev in record["evals"].values())
    assert set(preds) == set(record["evals"])
    ev = next(iter(preds.values()))
    assert ev["kind"] == "classification" and ev["ids"][:3] == ["0", "1", "2"] and len(ev["pred"]) == len(ev["label"])


def test_delta_rows_against_the_paper_row_each_model_reproduces(tables):
    glue, sizes, ablation = (tables[f"mono_{k}"] for k in ("glue_squad", "sizes", "ablation"))
    cases = [(glue, "L6xH768", "paper-table2-L6xH768|MiniLM", "paper: MiniLM L6xH768 (paper-table2-L6xH768)"),
             (sizes, "L6xH384", "paper-table3-sizes|MiniLM+TA|L6xH384", "paper: MiniLM+TA L6xH384 (paper-table3-sizes)"),
             (sizes, "L6xH384-noTA", "paper-table3-sizes|MiniLM|L6xH384", "paper: MiniLM L6xH384 (paper-table3-sizes)"),
             (ablation, "L6xH384-attn", "paper-ablation-vr|MiniLM w/o VR|L6xH384",
              "paper: MiniLM w/o VR L6xH384 (paper-ablation-vr)"),
             (ablation, "L6xH384-layerwise", "paper-table7-layerwise|MiniLM+layer-to-layer|L6xH384",
              "paper: MiniLM+layer-to-layer L6xH384 (paper-table7-layerwise)"),
             (ablation, "L6xH384-vmse", "paper-table6-value-mse|Value-MSE|L6xH384",
              "paper: Value-MSE L6xH384 (paper-table6-value-mse)")]
    for table, model, key, label in cases:
        for col, task in (("MNLI-m", "mnli-m"), ("SQuAD2", "squad2")):
            want = table.means.loc[model, col] - _paper(key, task)
            assert table.text.loc[f"Δ {model} − {label}", col] == f"{want:+.1f}", (model, col)
            assert table.text.loc[label, col] == format_reference(_paper(key, task), False)
    # only the rows a model reproduces get a Δ: the L6xH384 student of the assistant is not compared with the
    # direct Table 3 row, nor the direct one with the w/ TA row
    assert "Δ L6xH384 − paper: MiniLM L6xH384 (paper-table3-sizes)" not in sizes.text.index
    assert "Δ L6xH384-noTA − paper: MiniLM+TA L6xH384 (paper-table3-sizes)" not in sizes.text.index
    assert sizes.text.loc["L6xH384", "Teacher"] == "L12xH384 (assistant)"
    assert sizes.text.loc["paper: MiniLM+TA L6xH384 (paper-table3-sizes)", "Teacher"] == "BERT-base (assistant)"
    # recalled figures keep their dagger in paper and Δ rows alike
    assert glue.text.loc["paper: BERT_SMALL L6xH768 (paper-table2-L6xH768)", "MNLI-m"].endswith("†")
    assert "Δ scratch − paper: BERT_SMALL L6xH768 (paper-table2-L6xH768)" in glue.text.index
    assert ablation.text.loc["L6xH384-attn", "Relations"] == "attention"
    assert ablation.text.loc["L6xH384-layerwise", "Transfer"] == "layer-wise (6 pairs)"
    assert "L6xH384" not in ablation.text.index  # via the assistant: not in the direct students' ablation


def test_released_rows_are_labelled_and_never_a_delta_target(tables):
    glue = tables["mono_glue_squad"].text
    released = [i for i in glue.index if i.startswith("released: ")]
    assert [i for i in released if i.endswith("(released-mono)")] == [
        "released: MiniLM-L12xH384 L12xH384 (released-mono)", "released: MiniLM-L6xH384 L6xH384 (released-mono)"]
    assert "released: MiniLMv2-L6xH768 L6xH768 (released-minilmv2)" in released  # MiniLMv2's, shown beside
    assert all(glue.loc[i, "Source"] == RELEASED_SOURCE for i in released)
    for table in tables.values():
        assert not [i for i in table.text.index if i.startswith("Δ") and "− released: " in i], table.name
    # the README's BERT-base row is the teacher itself, fine-tuned by the authors: a Δ target of our teacher
    assert "Δ teacher − paper: BERT-base L12xH768 (released-mono)" in glue.index
    assert any("released: the authors' released checkpoints" in n for n in _notes(tables["mono_glue_squad"]))


def _notes(table):
    from minilm_repro.report.writers import notes_of

    return notes_of(table, F.PROFILE)


@pytest.mark.parametrize("model, key, message", [
    ("L6xH384", "released-mono|MiniLM-L6xH384", "released model"),
    ("L6xH384", "paper-table3-sizes|MiniLM", "directly from the teacher .* through a teacher assistant"),
    ("L6xH384-noTA", "paper-table3-sizes|MiniLM+TA", "through the assistant .* directly from the teacher"),
    ("L6xH768", "paper-table3-sizes|MiniLM|L6xH384", "is L6xH384 but 'L6xH768' is L6xH768"),
    ("L6xH384-noTA", "paper-ablation-vr|MiniLM w/o VR", "needs relations 'attention' but 'L6xH384-noTA' has"),
    ("scratch", "paper-table2-L6xH768|MiniLM", "is a distilled model but 'scratch' is not distilled"),
    ("L6xH384-typo", "paper-table3-sizes|MiniLM", "no model 'L6xH384-typo'"),
])
def test_mismatched_references_fail_before_any_table(records, model, key, message):
    with pytest.raises(ValueError, match=message):
        build_tables(Frames.from_records(records), F.PROFILE, {"mono": {model: key}})


def test_config_references_are_checked_from_the_config_alone():
    from minilm_repro.report.comparable import check_track_references

    track = {"teacher": {"hub": {"id": "bert-base-uncased"}},
             "students": {"L12xH384": {"teacher": "teacher", "shape": {"layers": 12, "hidden": 384}},
                          "L6xH384": {"teacher": "L12xH384", "shape": {"layers": 6, "hidden": 384}},
                          "L6xH384-attn": {"teacher": "teacher", "shape": {"layers": 6, "hidden": 384},
                                           "relations": ["attention"]}},
             "scratch": {"like": "L12xH384"},
             "reference": {"teacher": "released-mono|BERT-base", "L6xH384": "paper-table3-sizes|MiniLM+TA",
                           "L6xH384-attn": "paper-ablation-vr|MiniLM w/o VR"}}
    check_track_references("mono", track)
    with pytest.raises(ValueError, match=r"tracks.mono.reference.L12xH384: .*released model"):
        check_track_references("mono", {**track, "reference": {"L12xH384": "released-mono|MiniLM-L12xH384"}})
    with pytest.raises(ValueError, match=r"tracks.mono.reference.scratch: .*L6xH768 but 'scratch' is L12xH384"):
        check_track_references("mono", {**track, "reference": {"scratch": "paper-table2-L6xH768|BERT_SMALL"}})


def test_mrpc_and_qqp_columns_in_accuracy_selected_on_accuracy(tables):
    from minilm_repro.finetune.plan import PRIMARY_METRIC

    assert PRIMARY_METRIC["mrpc"] == PRIMARY_METRIC["qqp"] == "accuracy"
    glue = tables["mono_glue_squad"]
    cols = list(glue.text.columns)
    assert cols[cols.index("Avg") - 3:cols.index("Avg") + 3] == ["SQuAD2", "MNLI-m", "MRPC", "Avg", "MNLI-mm", "MRPC-F1"]
    # lr3e-05 (accuracy 60 / 62) is selected over lr2e-05 (accuracy 50, the better F1 66.7)
    assert glue.text.loc["L6xH768", "MRPC"] == "61.0±1.4"
    assert glue.text.loc["L6xH768", "MRPC-F1"] == f"{np.mean([100 / 3, 2400 / 62]):.1f}±{np.std([100 / 3, 2400 / 62], ddof=1):.1f}"
    paper = "paper: MiniLM L6xH768 (paper-table2-L6xH768)"
    assert glue.text.loc[paper, "MRPC"] == format_reference(_paper("paper-table2-L6xH768|MiniLM", "mrpc", "accuracy"), False)
    assert glue.text.loc[paper, "MRPC-F1"] == ""  # the paper has no F1 column
    means = glue.means.loc["L6xH768"]
    assert means["Avg"] == pytest.approx(np.mean([means["SQuAD2"], means["MNLI-m"], means["MRPC"]]))  # F1: outside
    assert any("mean ± std over the seeds of the grid point with the best mean dev score" in n for n in glue.notes)


def test_xnli_and_mlqa_report_the_best_single_model_on_the_joint_dev_set(tables):
    xnli = tables["multi_xnli"]
    # the best single run (lr5e-05 seed 1: dev 80 / 76) beats the best mean grid point (lr3e-05, dev 70 / 68)
    assert xnli.text.loc["L12xH384", "en"] == f"75.0 (70.0±{np.std([75, 65], ddof=1):.1f})"
    assert xnli.text.loc["L12xH384", "fr"] == f"71.0 (66.0±{np.std([71, 61], ddof=1):.1f})"
    assert xnli.means.loc["L12xH384", "Avg"] == 73.0
    key, label = "paper-table11-xnli|mMiniLM-L12xH384", "paper: mMiniLM-L12xH384 L12xH384 (paper-table11-xnli)"
    assert xnli.text.loc[f"Δ L12xH384 − {label}", "en"] == f"{75.0 - _paper(key, 'xnli-en'):+.1f}"
    assert xnli.text.loc[f"Δ L12xH384 − {label}", "Avg"] == ""  # the paper averages 15 languages, ours 2
    assert "Δ L6xH384 − paper: mMiniLM-L6xH384+TA L6xH384 (paper-table11-xnli)" in xnli.text.index
    assert any("best single model (grid point and seed) on the joint dev set" in n for n in xnli.notes)
    mlqa = tables["multi_mlqa"]
    f1, em = mlqa.text.loc["L12xH384", "en"].split(" / ")
    assert re.fullmatch(r"\d+\.\d \(\d+\.\d±\d+\.\d\)", f1) and re.fullmatch(r"\d+\.\d \(\d+\.\d±\d+\.\d\)", em)
    row = "Δ L12xH384 − paper: mMiniLM-L12xH384 L12xH384 (paper-table13-mlqa)"
    df1, dem = mlqa.text.loc[row, "en"].split(" / ")
    key = "paper-table13-mlqa|mMiniLM-L12xH384"
    assert df1 == f"{mlqa.means.loc['L12xH384', 'en'] - _paper(key, 'mlqa-en', 'f1'):+.1f}"  # means: F1
    assert float(dem) == pytest.approx(float(em.split()[0]) - _paper(key, "mlqa-en", "em"), abs=0.11)  # rounded EM
    assert tables["multi_models"].text.loc["L12xH384", "XNLI"] == "73.0 (68.0±7.1)"
    # Δ between our models compares the seed means (the brackets), over the test examples of each language
    for lang, mean_a, mean_b in (("en", 70.0, 60.0), ("fr", 66.0, 56.0)):
        cell = xnli.text.loc["Δ L12xH384 − scratch", lang]
        assert INTERVAL.match(cell) and cell.startswith(f"{mean_a - mean_b:+.1f} [")
    assert INTERVAL.match(xnli.text.loc["Δ L12xH384 − scratch", "Avg"])
    assert all(INTERVAL.match(part) for part in mlqa.text.loc["Δ L12xH384 − scratch", "en"].split(" / "))


def _seed_predictions(root, model, gp, eval_name="default__validation_matched"):
    preds = [json.loads((root / f"mono/finetune/{model}/mnli/{gp}/seed{s}.predictions.json").read_text())[eval_name]
             for s in (1, 2)]
    return np.array([p["pred"] for p in preds]), np.array(preds[0]["label"])


def test_bootstrap_intervals_on_deltas_between_our_models(profile, tables):
    root, _ = profile
    ablation, sizes, glue = (tables[f"mono_{k}"].text for k in ("ablation", "sizes", "glue_squad"))
    cell = ablation.loc["Δ L6xH384-attn − L6xH384-noTA", "MNLI-m"]
    assert INTERVAL.match(cell) and cell.endswith("*")  # 60% against 75%: a real difference
    a, label = _seed_predictions(root, "L6xH384-attn", "lr3e-05_ep3")
    b, _ = _seed_predictions(root, "L6xH384-noTA", "lr3e-05_ep3")
    assert cell == paired_bootstrap([Part("accuracy", a, b, label)]).format()
    for row, col in (("Δ L6xH384 − L6xH384-noTA", "MNLI-m"), ("Δ L6xH384 − L6xH384-noTA", "SQuAD2"),
                     ("Δ L6xH384-layerwise − L6xH384-noTA", "Avg"), ("Δ L6xH768 − scratch", "MRPC"),
                     ("Δ L6xH768 − scratch", "Avg"), ("Δ L6xH768 − scratch", "MNLI-mm")):
        table = sizes if row.startswith("Δ L6xH384 −") else ablation if "layerwise" in row else glue
        assert INTERVAL.match(table.loc[row, col]), (row, col, table.loc[row, col])
    notes = " ".join(tables["mono_ablation"].notes)
    assert "95% paired-bootstrap interval" in notes and "1000 resamples" in notes and "No per-example" not in notes


def test_tables_from_mlflow_alone_are_identical(profile, records, tables, monkeypatch):
    root, _ = profile
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    from_mlflow, _ = build_tables(Frames.from_records(records_from_mlflow(F.PROFILE)), F.PROFILE, F.REFERENCES)
    assert sorted(from_mlflow) == sorted(tables)
    for name, table in tables.items():
        pd.testing.assert_frame_equal(table.text, from_mlflow[name].text, obj=name)
        assert table.notes == from_mlflow[name].notes


def test_without_predictions_deltas_have_no_interval_and_the_notes_say_so(records):
    bare = Records(records.finetune, records.models, records.speed)
    built, _ = build_tables(Frames.from_records(bare), F.PROFILE, F.REFERENCES)
    ablation = built["mono_ablation"]
    assert ablation.text.loc["Δ L6xH384-attn − L6xH384-noTA", "MNLI-m"] == \
        f"{ablation.means.loc['L6xH384-attn', 'MNLI-m'] - ablation.means.loc['L6xH384-noTA', 'MNLI-m']:+.1f}"
    assert any("No per-example predictions" in n for n in ablation.notes)
    no_intervals, _ = build_tables(Frames.from_records(records), F.PROFILE, F.REFERENCES, resamples=0)
    assert not INTERVAL.match(no_intervals["mono_ablation"].text.loc["Δ L6xH384-attn − L6xH384-noTA", "MNLI-m"])


def test_predictions_that_do_not_reproduce_their_record_are_an_error(records):
    from minilm_repro.report.predictions import PredictionStore

    key = ("mono", "L6xH384-attn", "mnli", "lr3e-05_ep3", 1)
    tampered = {name: {**ev, "pred": np.roll(ev["pred"], 1).tolist()} for name, ev in _raw(records, key).items()}
    keys = [(track, model, task, gp, seed) for track, model, task, gp, seed in
            [("mono", m, "mnli", "lr3e-05_ep3", s) for m in ("L6xH384-attn", "L6xH384-noTA") for s in (1, 2)]]
    store = PredictionStore({k: (f"file of {k}", (lambda k=k: tampered if k == key else _raw(records, k)))
                             for k in keys})
    with pytest.raises(ValueError, match="gives accuracy .* its record says .* rerun that finetune job"):
        build_tables(Frames.from_records(Records(records.finetune, records.models, records.speed, store)),
                     F.PROFILE, F.REFERENCES)


def _raw(records, key):
    return {name: {"kind": ev.kind, "ids": ev.ids.tolist(), "pred": ev.pred.tolist(), "label": ev.label.tolist()}
            for name, ev in records.predictions.get(key).items()}


def _results_tree(profile, tmp_path) -> Path:
    """A copy of the fake profile's results directory with its tables built."""
    import shutil

    root, _ = profile
    results = tmp_path / "results"
    shutil.copytree(root, results, ignore=shutil.ignore_patterns("mlruns", "*.db"))
    write_report(records_from_files(sorted(results.glob("*/finetune/**/seed?.json")),
                                    sorted(results.glob("*/models/*.metrics.json")), sorted(results.glob("*/speed.json"))),
                 results / "tables", F.PROFILE, F.REFERENCES)
    return results


def test_results_page_from_a_results_tree(profile, records, tmp_path):
    from minilm_repro.cli import main

    results = _results_tree(profile, tmp_path)
    out = tmp_path / "docs" / "results" / f"{F.PROFILE}.md"
    assert main(["results-page", "--results", str(results), "--out", str(out)]) == 0
    page = out.read_text()
    assert page.startswith(f"# Results: profile `{F.PROFILE}`")
    assert f"Made by `minilm-repro results-page --results {results} --out {out}`" in page
    commit = json.loads(next(results.glob("mono/finetune/**/seed1.json")).read_text())["tags"]["git_commit"]
    assert f"`{commit}`" in page and tracking.device_name() in page and "cpu:timer x2" in page
    assert commit != "unknown" and "unknown" not in page
    headings = [line for line in page.splitlines() if line.startswith("### ")]
    assert headings[:3] == ["### mono: the paper's findings, measured", "### mono: GLUE dev and SQuAD 2.0 dev",
                            "### mono: student sizes, with and without teacher assistant"]
    assert "### multi: XNLI zero-shot test accuracy" in headings
    assert "Δ L6xH384-attn − L6xH384-noTA" in page and "95% paired-bootstrap interval" in page
    assert "not written: `multi_glue_squad`" in page and "metrics file's modification time" in page
    with pytest.raises(FileNotFoundError, match="build the tables first"):
        main(["results-page", "--results", str(tmp_path / "empty"), "--out", str(tmp_path / "x.md")])


def test_results_page_says_where_imported_task_data_came_from(profile, records, tmp_path):
    """With --tasks-root, the page has one row per imported task: files, rows, and whether its
    train/validation is a split by document of a dev set (real RTE and SST-2 files)."""
    from conftest import SHARED

    from minilm_repro.cli import main
    from minilm_repro.data.importing import import_task

    results = _results_tree(profile, tmp_path)
    tasks = tmp_path / "tasks"
    import_task("glue/rte", SHARED / "realdata" / "glue" / "RTE", tasks, split_dev=0.3)
    import_task("glue/sst2", SHARED / "realdata" / "glue" / "SST-2", tasks)
    out = tmp_path / "page.md"
    assert main(["results-page", "--results", str(results), "--tasks-root", str(tasks), "--out", str(out)]) == 0
    page = out.read_text()
    section = page[page.index("## Task data"):page.index("## Tables")]
    rte = next(line for line in section.splitlines() if line.startswith("| glue/rte"))
    sst2 = next(line for line in section.splitlines() if line.startswith("| glue/sst2"))
    assert "split by document of the validation set (0.3 of the documents to validation)" in rte
    assert "train 196, validation 81" in rte and "`dev.tsv`" in rte
    assert "as distributed" in sst2 and "train 67,349, validation 872" in sst2
    assert f"--tasks-root {tasks}" in page
    empty = tmp_path / "no-tasks"
    empty.mkdir()
    assert main(["results-page", "--results", str(results), "--tasks-root", str(empty), "--out", str(out)]) == 0
    assert "No imported task under" in out.read_text()


def test_records_of_an_older_selection_metric_are_rescored_on_the_current_one():
    from minilm_repro.report.collect import select_score

    rec = {"task": "mrpc", "primary_metric": "f1", "select_score": 66.7, "tags": {},
           "evals": {"default__validation": {"split": "validation", "scores": {"accuracy": 50.0, "f1": 66.7}}}}
    assert select_score(rec) == 50.0
    assert select_score({**rec, "primary_metric": "accuracy", "select_score": 50.0}) == 50.0
    with pytest.raises(ValueError, match="rerun its finetune jobs"):
        select_score({**rec, "task": "xnli", "primary_metric": "f1"})


def test_speed_table_beside_the_papers_table_4(tables):
    speed = tables["mono_speed"]
    assert speed.text.loc["teacher", "s / 100 batches"] == "4.00" and speed.text.loc["L6xH384", "Speed-up"] == "5.3x"
    entry = resolve("paper-table4-speed|L6xH384")
    row = speed.text.loc["paper: L6xH384 L6xH384 (paper-table4-speed)"]
    assert row["s / 100 batches"] == format_reference(entry.value("qnli-100-batches-p100"), False)
    assert row["Speed-up"] == f"{entry.speedup:.1f}x" and row["#Params (M)"] == f"{entry.params_millions:g}"
    assert not [i for i in speed.text.index if i.startswith("Δ")]  # other hardware: shown, not compared
    assert "compare the speed-ups, not the seconds" in speed.notes[0]


def test_findings_table_one_row_per_claim_with_paper_delta_interval_and_verdict(tables):
    f = tables["mono_findings"].text
    # the ablation claims pair the plain MiniLM student of their shape with its variant
    row = f.loc["attention + value relation > attention only"]
    assert row["Ours: A − B"] == "L6xH384-noTA − L6xH384-attn" and row["Paper (rows)"] == "Table 5, L6xH384"
    assert row["Paper Δ"].startswith("SQuAD2 +1.4, MNLI-m +1.3, SST-2 +1.1")  # 72.4-71.0, 82.2-80.9, 91.0-89.9
    assert row["Mean over tasks"].endswith("*") and row["Verdict"] == "agrees"  # skill 0.75 vs 0.60
    assert f.loc["MiniLM > same-shape scratch MLM", "Ours: A − B"] == "L6xH768 − scratch"
    assert f.loc["MiniLM > same-shape scratch MLM", "Paper (rows)"].endswith("†")  # BERT_SMALL: recalled
    # claims without a pair say why, MLM-KD included (no teacher MLM head in the runs that lack it)
    assert f.loc["MiniLM > MLM-KD", "Verdict"].startswith("not run: MLM-KD needs the teacher's masked-LM head")
    assert f.loc["MiniLM > TinyBERT-style layer-to-layer", "Verdict"].startswith("no TinyBERT-style student")
    # verdicts are one of the four words, computed from the interval of the mean
    for claim in ("value relation > Value-MSE", "last layer > layer to layer", "w/ TA > direct, smallest student"):
        assert f.loc[claim, "Verdict"] in ("agrees", "opposite", "not distinguishable")
        assert "[" in f.loc[claim, "Mean over tasks"]
