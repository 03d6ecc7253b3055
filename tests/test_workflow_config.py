"""The shipped configs validate and dry-run offline; a bad key fails early, naming key and file."""

import json
import subprocess

import pytest
import yaml
from conftest import REPO

from minilm_repro.config import ConfigError, validate_workflow_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CONFIGS = sorted((REPO / "workflow" / "config").glob("*.yaml"))


def _snakemake(*args, cwd=REPO):
    return subprocess.run(["snakemake", "-n", "--cores", "1", *args], check=False, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_config_is_valid(path):
    validate_workflow_config(yaml.safe_load(path.read_text()), SCHEMA, [path])


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_dry_run_lists_the_whole_dag(path, tmp_path):
    # paths in a config are relative to the working directory: ../shared is the data beside the checkout
    (tmp_path / "shared").symlink_to(REPO.parent / "shared")
    res = _snakemake("-s", str(REPO / "Snakefile"), "--configfile", str(path), "--directory", str(tmp_path / "wd"))
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    cfg = yaml.safe_load(path.read_text())
    trains = any("teacher" in t for t in cfg["tracks"].values())
    rules = ("tokenizer", "prepare_corpus", "distill") if trains else ("fetch_external", "describe_external")
    for rule in (*rules, "tokenize_task", "finetune", "tables", "track_init"):
        assert f"rule {rule}:" in out or f"{rule} " in out, f"{rule} missing from the {path.stem} DAG"
    teachers = [t["teacher"] for t in cfg["tracks"].values() if "teacher" in t]
    for kind, rule in (("pretrain", "pretrain_teacher"), ("hub", "fetch_teacher"), ("path", "import_teacher")):
        assert (rule in out) == any(kind in t for t in teachers), (path.stem, rule)


def test_misspelt_key_names_key_and_file(tmp_path):
    cfg = yaml.safe_load((REPO / "workflow" / "config" / "smoke.yaml").read_text())
    cfg["finetune"]["tasks"]["mnli"]["lerning_rate"] = [1e-3]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    res = _snakemake("-s", str(REPO / "Snakefile"), "--configfile", str(bad), "--directory", str(tmp_path))
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert "finetune.tasks.mnli.lerning_rate" in err and str(bad) in err


def test_mistyped_value_is_an_error(tmp_path):
    cfg = yaml.safe_load((REPO / "workflow" / "config" / "smoke.yaml").read_text())
    cfg["tracks"]["mono"]["students"]["ta"]["optim"]["steps"] = "many"
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"tracks\.mono\.students\.ta\.optim\.steps.*'many' is not of type 'integer'"):
        validate_workflow_config(cfg, SCHEMA, [path])


def test_unknown_student_teacher_is_an_error(tmp_path):
    cfg = yaml.safe_load((REPO / "workflow" / "config" / "smoke.yaml").read_text())
    cfg["tracks"]["mono"]["students"]["student"]["teacher"] = "nobody"
    path = tmp_path / "chain.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = _snakemake("-s", str(REPO / "Snakefile"), "--configfile", str(path), "--directory", str(tmp_path))
    assert res.returncode != 0 and "'nobody': not a model of this track" in res.stdout + res.stderr


def test_unknown_paper_reference_is_an_early_error(tmp_path):
    cfg = yaml.safe_load((REPO / "workflow" / "config" / "paper-mono.yaml").read_text())
    cfg["tracks"]["mono"]["reference"]["L4xH384"] = "paper-table3-sizes|MiniLM+TA|L5xH384"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = _snakemake("-s", str(REPO / "Snakefile"), "--configfile", str(path), "--directory", str(tmp_path))
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "tracks.mono.reference.L4xH384" in out and "no reference figures" in out, out[-2000:]


def _reversed(node):
    if isinstance(node, dict):
        return {k: _reversed(node[k]) for k in reversed(list(node))}
    return [_reversed(v) for v in node] if isinstance(node, list) else node


def test_key_order_of_the_config_does_not_change_any_job(tmp_path):
    """A re-saved config (other key order) gives the same shell commands, so no params trigger fires."""
    cfg = yaml.safe_load((REPO / "workflow" / "config" / "smoke.yaml").read_text())
    commands = []
    for name, data in (("as-is", cfg), ("reversed", _reversed(cfg))):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        res = _snakemake("-s", str(REPO / "Snakefile"), "--configfile", str(path), "--directory", str(tmp_path / name),
                         "-p", "--forceall")
        assert res.returncode == 0, res.stderr[-2000:]
        out = res.stdout + res.stderr
        lines = [ln.split("Shell command:", 1)[1].strip() for ln in out.splitlines() if "Shell command:" in ln]
        # as token multisets: aggregate rules list their inputs in config order, which is no rerun trigger
        commands.append(sorted(" ".join(sorted(ln.replace(str(tmp_path / name), "<wd>").split())) for ln in lines))
    assert len(commands[0]) > 50 and commands[0] == commands[1]


def test_every_command_is_a_module_with_a_help_line_and_a_main():
    import importlib

    from minilm_repro.cli import command_names, main

    names = command_names()
    assert {"pretrain", "distill", "finetune", "tokenize-task", "plan", "launch", "report", "tasks"} <= set(names)
    for name in names:
        module = importlib.import_module(f"minilm_repro.commands.{name.replace('-', '_')}")
        assert callable(module.main) and (module.__doc__ or "").strip(), name
    assert main(["--help"]) == 0
    assert main(["no-such-command"]) == 2


def test_a_job_stage_takes_a_spec_or_a_config_and_job_id(capsys):
    from minilm_repro.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["finetune", "--help"])
    assert exit_.value.code == 0 and "--spec" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="give either --spec JSON or --configfile FILE... --job ID"):
        main(["finetune"])
    with pytest.raises(SystemExit, match="is a 'distill' job: run it with `minilm-repro distill`"):
        main(["finetune", "--configfile", str(REPO / "workflow" / "config" / "smoke.yaml"), "--job", "distill/mono/ta"])


def test_checkpoint_comparison_hub_form_downloads_finetunes_times_and_tables(tmp_path):
    """compare-multilingual.yaml (hub ids at pinned revisions): no corpus, tokenizer, teacher or
    distillation job, only downloads, task preparation, fine-tuning, speed and reports."""
    res = _snakemake("-s", str(REPO / "Snakefile"), "--configfile",
                     str(REPO / "workflow" / "config" / "compare-multilingual.yaml"),
                     "--directory", str(tmp_path / "wd"), "--quiet", "rules")
    assert res.returncode == 0, res.stderr[-3000:]
    counts = {}
    for line in (res.stdout + res.stderr).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    allowed = {"fetch_external", "describe_external", "download_xnli", "download_squad", "fetch_mlqa_release",
               "import_mlqa", "track_init", "tokenize_task", "finetune", "speed", "figures", "tables",
               "results_page", "all"}
    assert set(counts) <= allowed, sorted(set(counts) - allowed)
    assert counts["fetch_external"] == 2 and counts["finetune"] > 0 and counts["speed"] >= 1


OVERLAYS = sorted((REPO / "workflow" / "config" / "budget").glob("*.yaml"))


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.stem)
def test_budget_overlay_changes_only_the_pretraining_budget(overlay, tmp_path, monkeypatch):
    """A budget overlay (named ``<profile>-...``) plans on top of its profile: a subset of its jobs (it may drop
    models), every distilled student and the scratch model at one budget, the overlay's; the rest as the profile's."""
    from minilm_repro.plan.planner import Plan, load_config

    (tmp_path / "shared").symlink_to(REPO.parent / "shared")  # the profiles' data paths: ../shared
    (tmp_path / "wd").mkdir()
    monkeypatch.chdir(tmp_path / "wd")
    profile = REPO / "workflow" / "config" / f"{overlay.stem.split('-steps')[0]}.yaml"
    base, swept = Plan(load_config([str(profile)])), Plan(load_config([str(profile), str(overlay)]))
    assert swept.jobs.keys() <= base.jobs.keys()
    changed = {j for j in swept.jobs if base.jobs[j].settings != swept.jobs[j].settings}
    pretrained = {j for j in swept.jobs if j.startswith(("distill/", "pretrain_scratch/"))}
    assert changed == pretrained and pretrained
    budgets = {json.dumps(swept.jobs[j].settings["optim"], sort_keys=True) for j in pretrained}
    assert len(budgets) == 1 and json.loads(budgets.pop())["steps"] < base.jobs[min(pretrained)].settings["optim"]["steps"]
