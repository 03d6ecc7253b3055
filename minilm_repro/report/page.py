"""A results page (Markdown) of one results directory, e.g. ``docs/results/<profile>.md``.

It holds, from ``<results>/`` alone: the command that made it; the runs (per track, stage and
model: how many jobs, the devices, the git commits and the dates of the runs, from the records'
tags, a date from the metrics file's time where the tags have none); ``checks.json`` in words;
every table the ``report`` command wrote (``<results>/tables/<name>.md``, with its notes); given
other runs' results directories, the distillation-vs-scratch margin against the pretraining budget;
given the tasks root, where each imported task's data came from (its ``SOURCE.json``: files,
sha256, rows per split, and whether train/validation is a split by document of a dev set).
Records are found where the workflow writes them: ``<track>/finetune/**/seed<N>.json``,
``<track>/models/<model>.metrics.json`` and ``<track>/speed.json``.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pandas as pd

from minilm_repro.report.predictions import SUFFIX

DATE_TAGS = ("date", "started", "start_time")  # a run's date, if its tags carry one


def _date(tags: dict, path: Path) -> tuple[str, bool]:
    """(the run's date, whether it came from the tags rather than the file's time); UTC."""
    for key in DATE_TAGS:
        if tags.get(key):
            return str(tags[key])[:10], True
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%d"), False


def run_records(results: Path) -> pd.DataFrame:
    """track, stage, model, device, git_commit, date, date_from_tags: one row per job record under ``results``."""
    found = [(p, "finetune") for p in results.glob("*/finetune/**/seed*.json") if not p.name.endswith(SUFFIX)]
    found += [(p, "model") for p in results.glob("*/models/*.metrics.json")]
    rows = []
    for path, kind in sorted(found) + [(p, "speed") for p in sorted(results.glob("*/speed.json"))]:
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable record ({exc}); rerun its job or remove it") from exc
        for rec in data["records"] if kind == "speed" else [data]:
            tags = rec.get("tags", {})
            date, from_tags = _date(tags, path)
            rows.append({"track": tags.get("track", path.relative_to(results).parts[0]),
                         "stage": tags.get("stage", kind), "model": tags.get("model", "?"),
                         "device": tags.get("device", rec.get("device", "not recorded")),
                         "git_commit": tags.get("git_commit", "not recorded"), "date": date,
                         "date_from_tags": from_tags})
    return pd.DataFrame(rows, columns=["track", "stage", "model", "device", "git_commit", "date", "date_from_tags"])


def _join(values) -> str:
    return ", ".join(sorted({str(v) for v in values}))


def runs_section(runs: pd.DataFrame) -> list[str]:
    if runs.empty:
        return ["No job records under the results directory."]
    table = runs.groupby(["track", "stage", "model"]).agg(
        jobs=("date", "size"), devices=("device", _join), commits=("git_commit", _join),
        first=("date", "min"), last=("date", "max")).reset_index()
    commits = runs["git_commit"].value_counts()
    lines = [table.to_markdown(index=False), "",
             "Git commits of the runs: " + ", ".join(f"`{c}` ({n} jobs)" for c, n in commits.items()) + "."]
    if not runs["date_from_tags"].all():
        lines.append("Dates: from the records' tags where they carry one, else the metrics file's modification "
                     "time (UTC).")
    return lines


def checks_section(checks: dict) -> list[str]:
    hardware = checks.get("hardware")
    lines = [(f"- all task-level checks pass (`all_ok`): **{checks.get('all_ok')}**; every evaluation above the "
              f"majority class (`per_eval_ok`): **{checks.get('per_eval_ok')}**"),
             f"- hardware: {_join(hardware) if isinstance(hardware, list) else hardware}"]
    failed = [k for k, ok in checks.get("beats_majority_task", {}).items() if not ok]
    if failed:
        lines.append(f"- not above the majority-class baseline: {', '.join(f'`{k}`' for k in failed)}")
    for track, v in sorted(checks.get("teacher_beats_scratch", {}).items()):
        over = ", ".join(v.get("columns", ["Avg"]))
        lines.append(f"- {track}: teacher {v['teacher']:.1f} vs scratch {v['scratch']:.1f} "
                     f"(percent, the mean of {over}): {'ok' if v['ok'] else 'FAILS'}")
    boot = checks.get("intervals", {})
    if boot:
        lines.append(f"- Δ intervals between our models: {boot.get('resamples')} bootstrap resamples, seed {boot.get('seed')}")
    for name, why in sorted(checks.get("not_written", {}).items()):
        lines.append(f"- not written: `{name}`: {why}")
    return lines


def task_data_section(tasks_root: Path) -> list[str]:
    """One row per imported task (``<tasks_root>/<task>/<config>/SOURCE.json``, written by ``tasks import``)."""
    rows = []
    for path in sorted(Path(tasks_root).glob("*/*/SOURCE.json")):
        meta = json.loads(path.read_text())
        derived = meta.get("derived")
        files = ", ".join(f"`{Path(s['path']).name}` (sha256 {s['sha256'][:12]}…)" for s in meta.get("sources", []))
        rows.append({"task": meta.get("task", path.parent.parent.name), "config": meta.get("config", path.parent.name),
                     "rows per split": ", ".join(f"{k} {v:,}" for k, v in meta.get("splits", {}).items()),
                     "train / validation": (f"split by document of the {derived['from_split']} set "
                                            f"({derived['validation_fraction']:g} of the documents to validation)"
                                            if derived else "as distributed"),
                     "source files": files})
    if not rows:
        return [f"No imported task under `{tasks_root}` (hub or generated tasks carry their source in the configs)."]
    return [pd.DataFrame(rows).to_markdown(index=False), "",
            ("A split by document puts every group of rows sharing a text (SQuAD: an article) on one side, by a hash "
             "of the group's key; the rule and the groups per side are in each task's `SOURCE.json`. Scores on such a "
             "validation side are not comparable with the official dev set's.")]


GENERATED = (
    "This run is on the **generated benchmark** (`results/benchmark/`: the suite's own synthetic languages, "
    "lexicons and tasks shaped like GLUE, SQuAD 2.0, XNLI and MLQA) with tiny models trained for minutes. It "
    "exercises every code path of the pipeline; its scores and orderings are **no evidence** about MiniLM or any "
    "other method. Measured results on real data: `docs/results/real-cpu.md` (2-core CPU); no GPU page yet "
    "(`docs/results/`).")


def generated_caveat(tables_dir: Path) -> list[str]:
    """The default page's first section: what it is, and each student − scratch line with its interval."""
    import pandas as pd

    lines = [GENERATED, ""]
    for csv in sorted(p for p in Path(tables_dir).glob("*_*.csv") if not p.stem.endswith("_models")):
        table = pd.read_csv(csv, index_col=0)
        column = "Avg" if "Avg" in table.columns else None
        for row in [r for r in table.index if str(r).startswith("Δ ") and str(r).endswith(" − scratch")]:
            if column and isinstance(table.loc[row, column], str):
                lines.append(f"- `{csv.stem}`: {row[2:]} on the average, {table.loc[row, column]} (95% paired-bootstrap "
                             "interval; * excludes 0): on this generated benchmark, no evidence either way.")
    return lines


def _table_order(name: str) -> tuple:
    """Per track, the tables in the order the layouts define them (GLUE first, speed last)."""
    from minilm_repro.report.layouts import TABLE_BUILDERS

    kinds = list(TABLE_BUILDERS)
    kind = next((k for k in kinds if name.endswith(f"_{k}")), None)
    return (name[: -len(kind) - 1], kinds.index(kind)) if kind else (name, len(kinds))


def write_page(results, out, tables_dir=None, command: str = "", tasks_root=None, budget=()) -> Path:
    """Write the page of ``results`` (tables from ``tables_dir``, default ``results/tables``) to ``out``;
    with ``tasks_root``, a section on the imported tasks' data; with ``budget`` (results directories of
    runs at other budgets), the MiniLM-vs-scratch margin against the pretraining budget over them and
    ``results`` (:mod:`minilm_repro.report.budget`)."""
    results, out = Path(results), Path(out)
    tables_dir = Path(tables_dir) if tables_dir else results / "tables"
    checks_path = tables_dir / "checks.json"
    if not checks_path.is_file():
        raise FileNotFoundError(f"{checks_path} does not exist: build the tables first "
                                f"(snakemake ... {checks_path} or `minilm-repro report --out {tables_dir}`)")
    checks = json.loads(checks_path.read_text())
    generated = tasks_root is not None and (Path(tasks_root).parent / "benchmark.json").is_file()
    lines = [f"# Results: profile `{checks['profile']}`", "", f"Made by `{command}` from `{results}`.", ""]
    if generated:
        lines += ["## What this page shows", "", *generated_caveat(tables_dir), ""]
    lines += ["## Runs", "", *runs_section(run_records(results)), "", "## Checks", "", *checks_section(checks), ""]
    if tasks_root is not None:
        lines += ["## Task data", "", *task_data_section(Path(tasks_root)), ""]
    if budget:
        from minilm_repro.report.budget import budget_section

        lines += ["## Budget: distilled student − same-shape scratch model, against the pretraining budget", "",
                  *budget_section([results, *budget]), ""]
    lines += ["## Tables", ""]
    if generated:
        lines += [("The paper's rows below show the tables' layout; they are not comparable with the toy rows of "
                   "this generated benchmark."), ""]
    for name in sorted(checks["tables"], key=_table_order):
        path = tables_dir / f"{name}.md"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: listed in {checks_path} but missing: rebuild the tables")
        body = path.read_text().rstrip("\n").split("\n")
        if body and body[0].startswith("# "):
            body[0] = "### " + body[0][2:]
        lines += [*body, ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines).rstrip("\n") + "\n")
    return out
