"""The smoke DAG end to end, at reduced step counts, in a scratch directory (CI-sized).

Checks the stage contracts rather than the scores: every model directory loads with the Auto
classes, MLflow holds one finished run per training/evaluation job with its tags, the tables
exist, a second dry-run has nothing to do, and changing one fine-tuning hyper-parameter
reruns only the jobs that depend on it.
"""

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO

pytestmark = pytest.mark.slow


def reduced_smoke_config() -> dict:
    cfg = yaml.safe_load((REPO / "workflow" / "config" / "smoke.yaml").read_text())
    cfg["profile"] = "ci"
    cfg["tracks"]["mono"]["finetune"]["tasks"] = ["mnli", "squad_v2"]  # one task per family keeps CI short
    for track in cfg["tracks"].values():
        track["teacher"]["pretrain"]["optim"].update(steps=120, save_steps=60)
        for student in track["students"].values():
            student["optim"].update(steps=40, save_steps=20)
        track["scratch"]["optim"].update(steps=40, save_steps=20)
    for task in cfg["finetune"]["tasks"].values():
        task["epochs"] = [1]
    return cfg


def snakemake(workdir: Path, configfile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = ["snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile", str(configfile),
           "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1500)


def job_stats(out: str) -> dict[str, int]:
    """{rule: jobs} from the "Job stats" table of a Snakemake (dry-)run's output."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats"))
    counts = {}
    for line in lines[start + 3:]:  # after the "job count" header and its dashes
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def dry_run_of_a_change(work: Path, configfile: Path, tmp_path: Path, change) -> tuple[dict[str, int], str]:
    """({rule: jobs}, output) of a dry run after ``change(config)``, in the finished run's directory."""
    cfg = yaml.safe_load(configfile.read_text())
    change(cfg)
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    res = snakemake(work, changed, "-n", "--quiet", "rules")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-2000:]
    return job_stats(out), out


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("dag")
    configfile = work / "ci.yaml"
    configfile.write_text(yaml.safe_dump(reduced_smoke_config()))
    res = snakemake(work, configfile)
    if res.returncode != 0:
        logs = "\n".join(f"== {p}\n{p.read_text()[-1500:]}" for p in sorted((work / "results" / "logs").rglob("*.log")))
        pytest.fail(f"smoke DAG failed:\n{res.stderr[-4000:]}\n{logs[-6000:]}")
    return work, configfile


def test_models_load_with_auto_classes(smoke_run):
    from transformers import AutoModel, AutoTokenizer

    work, _ = smoke_run
    dirs = sorted(p for p in (work / "results").glob("*/models/*") if p.is_dir())
    assert {(p.parent.parent.name, p.name) for p in dirs} == {
        (t, m) for t in ("mono", "multi") for m in ("teacher", "ta", "student", "scratch")}
    for d in dirs:
        model, tok = AutoModel.from_pretrained(d), AutoTokenizer.from_pretrained(d)
        assert model.config.vocab_size >= len(tok)
        card = json.loads((d / "minilm_repro.json").read_text())
        assert card["steps"] > 0
    ta = json.loads((work / "results" / "mono" / "models" / "ta" / "minilm_repro.json").read_text())
    assert ta["teacher"] == "teacher" and ta["method"] == "minilm"
    student = AutoModel.from_pretrained(work / "results" / "mono" / "models" / "student")
    teacher = AutoModel.from_pretrained(work / "results" / "mono" / "models" / "teacher")
    assert student.config.num_hidden_layers < teacher.config.num_hidden_layers
    assert student.config.num_attention_heads == teacher.config.num_attention_heads


def test_tables_and_metrics(smoke_run):
    work, _ = smoke_run
    tables = work / "results" / "tables"
    for name in ("mono_glue_squad", "multi_xnli", "multi_mlqa"):
        assert (tables / f"{name}.md").is_file() and (tables / f"{name}.csv").is_file()
    import pandas as pd

    glue = pd.read_csv(tables / "mono_glue_squad.csv", index_col=0)
    assert {"teacher", "ta", "student", "scratch", "majority-class"} <= set(glue.index)
    assert {"MNLI-m", "MNLI-mm", "SQuAD2", "#Params (M)"} <= set(glue.columns)
    xnli = pd.read_csv(tables / "multi_xnli.csv", index_col=0)
    assert {"l0", "l1", "l2", "l3", "Avg"} <= set(xnli.columns)
    checks = json.loads((tables / "checks.json").read_text())
    assert checks["beats_majority"] and set(checks["teacher_beats_scratch"]) == {"mono", "multi"}


def test_mlflow_has_one_run_per_job(smoke_run):
    import mlflow

    work, _ = smoke_run
    mlflow.set_tracking_uri(f"sqlite:///{work / 'results' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["minilm-repro/ci"])
    # per track: teacher + 2 distillations + scratch + 4 models x 2 tasks + 4 inference timings
    assert len(runs) == 2 * (1 + 2 + 1 + 8 + 4)
    assert set(runs["status"]) == {"FINISHED"}
    assert sorted(runs["tags.stage"].value_counts().items()) == [
        ("distill", 4), ("finetune", 16), ("pretrain", 4), ("speed", 8)]
    for tag in ("model", "profile", "config_hash", "git_commit", "track"):
        assert runs[f"tags.{tag}"].notna().all(), tag
    ft = runs[runs["tags.stage"] == "finetune"]
    assert ft["tags.task"].notna().all() and ft["tags.grid_point"].notna().all()


def test_rerun_is_a_noop_and_hyperparameter_change_is_local(smoke_run, tmp_path):
    work, configfile = smoke_run
    res = snakemake(work, configfile, "-n")
    assert res.returncode == 0 and "Nothing to be done" in res.stdout + res.stderr, res.stdout[-2000:]
    counts, out = dry_run_of_a_change(work, configfile, tmp_path,
                                      lambda c: c["finetune"]["tasks"]["mnli"].update(warmup_ratio=0.2))
    assert counts.get("finetune") == 4 and counts.get("tables") == 1, out
    assert "distill" not in counts and "pretrain_teacher" not in counts and "tokenize_task" not in counts


@pytest.mark.parametrize("change,first", [
    (lambda c: c["tracks"]["mono"]["tokenizer"]["train"].update(vocab_size=1400), "tokenizer"),
    (lambda c: c["tracks"]["mono"]["tokenizer"].update(train={"kind": "sentencepiece", "vocab_size": 1500,
                                                              "max_position": 128}), "tokenizer"),
    (lambda c: c["tracks"]["mono"]["corpus"].update(seed=5), "prepare_corpus"),
], ids=["vocab_size", "kind", "corpus_seed"])
def test_a_tokenizer_or_corpus_setting_reruns_everything_built_on_it(smoke_run, tmp_path, change, first):
    """Every rule's params are its job's whole spec, so a tokenizer or corpus setting is a rerun
    trigger: the job and everything downstream of it in that track, and nothing of the other track."""
    work, configfile = smoke_run
    counts, out = dry_run_of_a_change(work, configfile, tmp_path, change)
    downstream = {"prepare_corpus": 1, "pretrain_teacher": 1, "pretrain_scratch": 1, "distill": 2, "finetune": 8,
                  "speed": 1, "tables": 1}
    if first == "tokenizer":
        downstream["tokenizer"] = 1
    assert {k: counts.get(k) for k in downstream} == downstream, out[-3000:]
