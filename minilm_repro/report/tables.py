"""Results tables in the paper's layout: one row per model, one column per task (and language).

Protocol: for each (model, task), the grid point with the best mean dev score over seeds is
selected; the table reports that grid point's mean (and std) over seeds. Classification tasks
also get a majority-class row (the constant predictor of the training set's majority label).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from minilm_repro.report.collect import finetune_frame, model_frame, speed_frame

# column label per (task, eval split kind): the paper's headings
GLUE_COLUMNS = {
    ("mnli", "validation_matched"): "MNLI-m", ("mnli", "validation_mismatched"): "MNLI-mm",
    ("sst2", "validation"): "SST-2", ("qnli", "validation"): "QNLI", ("cola", "validation"): "CoLA",
    ("rte", "validation"): "RTE", ("mrpc", "validation"): "MRPC", ("qqp", "validation"): "QQP",
    ("stsb", "validation"): "STS-B", ("squad_v2", "validation"): "SQuAD2",
}


def select_best(df: pd.DataFrame) -> pd.DataFrame:
    """Keep, per (track, model, task), the grid point whose mean dev select_score is best."""
    if df.empty:
        return df
    keys = ["track", "model", "task"]
    scores = df[df.model != "majority-class"].groupby(keys + ["grid_point"])["select_score"].mean().reset_index()
    best = scores.loc[scores.groupby(keys)["select_score"].idxmax(), keys + ["grid_point"]]
    chosen = df.merge(best, on=keys + ["grid_point"], how="inner")
    majority = df[df.model == "majority-class"].drop_duplicates(["track", "task", "eval", "metric"])
    return pd.concat([chosen, majority], ignore_index=True)


def _fmt(mean: float, std: float, n: int) -> str:
    return f"{mean:.1f}" if n <= 1 or pd.isna(std) else f"{mean:.1f}±{std:.1f}"


def _summarise(df: pd.DataFrame, column_of) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(numeric means, formatted mean±std) wide frames, rows = model, columns = column_of(row)."""
    df = df.assign(column=df.apply(column_of, axis=1)).dropna(subset=["column"])
    agg = df.groupby(["model", "column"])["value"].agg(["mean", "std", "count"]).reset_index()
    means = agg.pivot(index="model", columns="column", values="mean")
    text = agg.assign(t=[_fmt(m, s, n) for m, s, n in zip(agg["mean"], agg["std"], agg["count"])]) \
        .pivot(index="model", columns="column", values="t")
    return means, text


def glue_table(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    def col(r):
        name = GLUE_COLUMNS.get((r.task, r.split))
        return name if name and r.metric == r.primary_metric else None

    return _summarise(df, col)


def per_language_table(df: pd.DataFrame, task: str, metrics: tuple[str, ...], split: str = "test"):
    sub = df[(df.task == task) & (df.split == split)]

    def col(r):
        return f"{r.language}" if len(metrics) == 1 else f"{r.language} {r.metric}" if r.metric in metrics else None

    sub = sub[sub.metric.isin(metrics)]
    return _summarise(sub, col)


def _with_average(means: pd.DataFrame, text: pd.DataFrame, model_info: pd.DataFrame, speed: pd.DataFrame = None):
    means = means.copy()
    text = text.copy()
    avg = means.mean(axis=1, skipna=False)
    means["Avg"], text["Avg"] = avg, avg.map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    if not model_info.empty:
        params = model_info.drop_duplicates("model").set_index("model")["params"]
        text.insert(0, "#Params (M)", [f"{params[m] / 1e6:.2f}" if m in params and pd.notna(params[m]) else ""
                                       for m in text.index])
        text.insert(1, "Shape", [f"L{int(model_info.set_index('model').loc[m, 'layers'])}xH"
                                 f"{int(model_info.set_index('model').loc[m, 'hidden'])}"
                                 if m in params.index else "" for m in text.index])
    if speed is not None and not speed.empty:
        up = speed.drop_duplicates("model").set_index("model")["speedup"]
        text.insert(2, "Speed-up", [f"{up[m]:.1f}x" if m in up.index and pd.notna(up[m]) else "" for m in text.index])
    return means, text


GLUE_REFERENCE_TASK = {"MNLI-m": "mnli-m", "MNLI-mm": "mnli-mm", "SST-2": "sst2", "QNLI": "qnli", "CoLA": "cola",
                       "RTE": "rte", "MRPC": "mrpc", "QQP": "qqp", "STS-B": "stsb", "SQuAD2": "squad2"}


def add_reference_rows(means: pd.DataFrame, text: pd.DataFrame, mapping: dict, ref_task_of, metric: str | None = None):
    """For each ``our model -> "table|paper model"``: a row with the paper's figures and a delta row.

    ``ref_task_of(column)`` names the reference task of a table column (None: no reference).
    Recalled (unverified) figures carry a dagger.
    """
    from minilm_repro.report.reference import format_reference, load_reference, reference_row

    if not mapping:
        return text
    ref = load_reference()
    rows = []
    for ours, keys in mapping.items():
        for key in [keys] if isinstance(keys, str) else keys:
            table, paper_model = key.split("|", 1)
            sub = reference_row(ref, table, paper_model)
            if metric is not None and (sub["metric"] == metric).any():
                sub = sub[sub["metric"] == metric]
            by_task = {t: (v, r) for t, v, r in zip(sub["task"], sub["value"], sub["recalled"])}
            paper, delta = {}, {}
            for col in text.columns:
                task = ref_task_of(col)
                if task in by_task:
                    value, recalled = by_task[task]
                    paper[col] = format_reference(value, recalled)
                    if ours in means.index and col in means.columns and pd.notna(means.loc[ours, col]):
                        delta[col] = f"{means.loc[ours, col] - value:+.1f}"
            if paper:
                rows.append(pd.Series(paper, name=f"paper: {paper_model} ({table})"))
                rows.append(pd.Series(delta, name=f"Δ {ours} − paper"))
    if not rows:
        return text
    return pd.concat([text, pd.DataFrame(rows)]).fillna("")


def write_table(text: pd.DataFrame, out_dir: Path, name: str, title: str) -> None:
    """Markdown, CSV and LaTeX (booktabs) versions of one table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text.to_csv(out_dir / f"{name}.csv")
    note = "\n\n† recalled from the paper, not verified against the authors' release" \
        if text.astype(str).apply(lambda c: c.str.contains("†")).any().any() else ""
    (out_dir / f"{name}.md").write_text(f"# {title}\n\n" + text.to_markdown() + note + "\n")
    latex = text.to_latex(escape=True, caption=title, label=f"tab:{name}", position="t")
    latex = latex.replace("\\toprule", "\\toprule").replace("\\begin{tabular}", "% needs \\usepackage{booktabs}\n\\begin{tabular}", 1)
    (out_dir / f"{name}.tex").write_text(latex)


def build_tables(finetune_paths, model_paths, out_dir: str | Path, profile: str, hardware: str,
                 speed_paths=(), references: dict | None = None) -> dict:
    """Write results/tables/*.md|csv; return the learning checks (majority beaten, teacher > scratch)."""
    out_dir = Path(out_dir)
    df = select_best(finetune_frame(finetune_paths))
    models = model_frame(model_paths)
    speed = speed_frame(speed_paths)
    if not speed.empty:
        hardware = f"{hardware}; speed-up measured on {', '.join(sorted(speed.device.unique()))}"
    checks: dict = {"profile": profile, "hardware": hardware, "beats_majority": {}, "teacher_beats_scratch": {}}
    note = f"profile `{profile}`, {hardware}; mean (±std) over seeds at the best dev grid point"
    refs = references or {}
    for track in sorted(df.track.unique()):
        tdf = df[df.track == track]
        tinfo = models[models.track == track] if not models.empty else models
        tspeed = speed[speed.track == track]
        blocks = []
        if tdf.task.isin([t for t, _ in GLUE_COLUMNS]).any():
            means, text = _with_average(*glue_table(tdf), tinfo, tspeed)
            text = add_reference_rows(means, text, refs.get(track, {}), GLUE_REFERENCE_TASK.get)
            write_table(text, out_dir, f"{track}_glue_squad", f"{track}: GLUE dev and SQuAD 2.0 ({note})")
            blocks.append(means)
        if (tdf.task == "xnli").any():
            means, text = _with_average(*per_language_table(tdf, "xnli", ("accuracy",)), tinfo, tspeed)
            text = add_reference_rows(means, text, refs.get(track, {}),
                                      lambda c: "xnli-avg" if c == "Avg" else f"xnli-{c}")
            write_table(text, out_dir, f"{track}_xnli", f"{track}: XNLI zero-shot test accuracy ({note})")
            blocks.append(means[["Avg"]].rename(columns={"Avg": "XNLI"}))
        if (tdf.task == "mlqa").any():
            f1, f1_text = per_language_table(tdf, "mlqa", ("f1",))
            em, em_text = per_language_table(tdf, "mlqa", ("exact_match",))
            text = f1_text.astype(str) + " / " + em_text.astype(str)
            means, text = _with_average(f1, text, tinfo, tspeed)
            text = add_reference_rows(means, text, refs.get(track, {}),
                                      lambda c: "mlqa-avg" if c == "Avg" else f"mlqa-{c}", metric="f1")
            write_table(text, out_dir, f"{track}_mlqa", f"{track}: MLQA test F1 / EM ({note})")
            blocks.append(means[["Avg"]].rename(columns={"Avg": "MLQA"}))
        # learning checks
        maj = tdf[(tdf.model == "majority-class") & (tdf.metric == tdf.primary_metric)]
        for _, m in maj.iterrows():
            ours = tdf[(tdf.model != "majority-class") & (tdf.task == m.task) & (tdf["eval"] == m["eval"])
                       & (tdf.metric == m.metric)].groupby("model")["value"].mean()
            for model, v in ours.items():
                checks["beats_majority"][f"{track}/{model}/{m.task}/{m['eval']}"] = bool(v > m.value)
        summary = pd.concat(blocks, axis=1) if blocks else pd.DataFrame()
        if {"teacher", "scratch"} <= set(summary.index):
            t, s = summary.loc["teacher"].mean(), summary.loc["scratch"].mean()
            checks["teacher_beats_scratch"][track] = {"teacher": t, "scratch": s, "ok": bool(t > s)}
    checks["all_ok"] = all(checks["beats_majority"].values()) and all(
        v["ok"] for v in checks["teacher_beats_scratch"].values())
    (out_dir / "checks.json").write_text(json.dumps(checks, indent=2, sort_keys=True) + "\n")
    return checks


def _run(args) -> int:
    from minilm_repro.tracking import device_name

    checks = build_tables(args.finetune, args.models, args.out, args.profile, args.hardware or device_name(),
                          args.speed, json.loads(args.references))
    print(json.dumps({k: v for k, v in checks.items() if k != "beats_majority"}, indent=2, default=str))
    failed = [k for k, ok in checks["beats_majority"].items() if not ok]
    if failed:
        print(f"models not above the majority-class baseline: {failed}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="build the results tables from metrics files")
    p.add_argument("--finetune", nargs="+", required=True, help="fine-tuning metrics JSON files")
    p.add_argument("--models", nargs="*", default=[], help="pretrain/distill metrics JSON files")
    p.add_argument("--out", required=True, help="tables directory")
    p.add_argument("--profile", required=True)
    p.add_argument("--speed", nargs="*", default=[], help="inference timing JSON files (minilm-repro speed)")
    p.add_argument("--references", default="{}", help='JSON {track: {our model: "table|paper model"}}')
    p.add_argument("--hardware", default=None, help="hardware statement (default: this machine's device)")
    p.set_defaults(func=_run)
