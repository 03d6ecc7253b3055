"""The checkpoint leaderboard of ``minilm-repro compare``: one row per checkpoint, ranked.

Cells (percent): each task's paper metric (CoLA MCC, STS-B Pearson, SQuAD 2.0 F1 at the best-F1 null
threshold, accuracy or F1 elsewhere) at the grid point with the best mean dev score
(:func:`minilm_repro.report.selection.select_best`), mean ± std over its seeds; GLUE and SQuAD 2.0 on
their dev sets, XNLI and MLQA one column per language on the test set (the dev set where a local
source has none). ``Mean``: over tasks, a multilingual task counted once (the mean of its languages).
Then parameters, the measured time per batch and the speed-up against the slowest checkpoint, and,
with a baseline, ``Δ`` per column against it: the difference of the seed means with the 95%
paired-bootstrap interval the tables compute (:mod:`minilm_repro.report.intervals`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from minilm_repro.report.collect import MAJORITY
from minilm_repro.report.selection import cell_stats

TRACK = "cmp"
NAMES = {"cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "stsb": "STS-B", "qqp": "QQP", "mnli": "MNLI-m",
         "qnli": "QNLI", "rte": "RTE", "squad_v2": "SQuAD2", "xnli": "XNLI", "mlqa": "MLQA"}
METRIC = {"cola": "matthews_correlation", "stsb": "pearson", "squad_v2": "best_f1", "mlqa": "f1"}  # else accuracy
DEV = {"mnli": "validation_matched"}


def _multi(task: str) -> bool:
    return task in ("xnli", "mlqa")


def column_of_row(splits: dict[str, str]):
    """Maps a fine-tuning row to its leaderboard column (None: not one); ``splits``: task -> split used."""
    def column(r) -> str | None:
        if r.metric != METRIC.get(r.task, "accuracy") or r.split != splits.get(r.task):
            return None
        if _multi(r.task):
            return f"{NAMES[r.task]} {r.language}"
        return NAMES[r.task]
    return column


def _splits(df: pd.DataFrame) -> dict[str, str]:
    """The split each task is scored on: the test set for XNLI/MLQA where there is one, else the dev set."""
    out = {}
    for task in df.task.unique():
        have = set(df.loc[df.task == task, "split"])
        out[task] = "test" if _multi(task) and "test" in have else DEV.get(task, "validation")
    return out


def leaderboard(ctx, baseline: str | None = None, tasks: list[str] | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(formatted table, numbers, facts) of the track ``ctx`` (a :class:`~minilm_repro.report.assemble.TrackContext`);
    columns in the order of ``tasks`` (default: the tables' task order)."""
    from minilm_repro.report.intervals import pair_intervals

    df = ctx.df[ctx.df.model != MAJORITY]
    splits = _splits(df)
    column = column_of_row(splits)
    stats = cell_stats(df, column)
    if stats.empty:
        raise ValueError("no fine-tuning results to rank: did the compare run finish?")
    order = [t for t in (tasks or NAMES) if t in NAMES]
    cols = [c for task in order for c in sorted(set(stats.column)) if c == NAMES[task] or c.startswith(f"{NAMES[task]} ")]
    mean = stats.pivot_table(index="model", columns="column", values="mean")[cols]
    std = stats.pivot_table(index="model", columns="column", values="std", dropna=False).reindex(
        index=mean.index, columns=cols)  # one seed: no std
    seeds = stats.pivot_table(index="model", columns="column", values="n").reindex(index=mean.index, columns=cols)
    task_of = {c: next(t for t in NAMES if c == NAMES[t] or c.startswith(f"{NAMES[t]} ")) for c in cols}
    per_task = pd.DataFrame({t: mean[[c for c in cols if task_of[c] == t]].mean(axis=1)
                             for t in dict.fromkeys(task_of.values())})
    numbers = mean.copy()
    numbers["Mean"] = per_task.mean(axis=1, skipna=False)
    params = ctx.models["params"] if "params" in ctx.models else pd.Series(dtype=float)
    numbers["#Params (M)"] = [params.get(m) / 1e6 if pd.notna(params.get(m)) else np.nan for m in numbers.index]
    speed = ctx.speed
    numbers["ms / batch"] = [speed["seconds_per_batch"].get(m, np.nan) * 1000 for m in numbers.index]
    numbers["Speed-up"] = [speed["speedup"].get(m, np.nan) for m in numbers.index]
    numbers = numbers.sort_values("Mean", ascending=False, na_position="last")
    text = pd.DataFrame(index=numbers.index)
    text.index.name = "checkpoint"
    text.insert(0, "Rank", range(1, len(text) + 1))
    for c in cols:
        text[c] = [("" if pd.isna(mean.loc[m, c]) else f"{mean.loc[m, c]:.1f}" +
                    (f"±{std.loc[m, c]:.1f}" if pd.notna(std.loc[m, c]) else "")) for m in numbers.index]
    text["Mean"] = [f"{v:.1f}" if pd.notna(v) else "" for v in numbers["Mean"]]
    text["#Params (M)"] = [f"{v:.1f}" if pd.notna(v) else "" for v in numbers["#Params (M)"]]
    text["ms / batch"] = [f"{v:.1f}" if pd.notna(v) else "" for v in numbers["ms / batch"]]
    text["Speed-up"] = [f"{v:.1f}x" if pd.notna(v) else "" for v in numbers["Speed-up"]]
    deltas = {}
    if baseline is not None:
        if baseline not in mean.index:
            raise ValueError(f"baseline {baseline!r} has no results; one of {sorted(mean.index)}")
        for m in numbers.index:
            if m == baseline:
                continue
            found = pair_intervals(ctx.bootstrap, df, column, m, baseline, cols, [])
            deltas[m] = {c: (found[c].format() if c in found else
                             f"{mean.loc[m, c] - mean.loc[baseline, c]:+.1f}" if pd.notna(mean.loc[m, c]) else "")
                         for c in cols}
        text[f"Δ vs {baseline}"] = ["" if m == baseline else "; ".join(f"{c} {v}" for c, v in deltas[m].items() if v)
                                    for m in numbers.index]
    facts = {"columns": cols, "splits": splits, "seeds": {m: int(seeds.loc[m].min()) for m in seeds.index},
             "deltas": deltas}
    return text, numbers, facts


def data_fingerprints(tasks_root: str | Path, tasks: list[str]) -> dict[str, list[str]]:
    """task -> 'file sha256[:12]' of every source file its SOURCE.json names (imports and downloads)."""
    out = {}
    for task in tasks:
        found = []
        for source in sorted((Path(tasks_root) / task).glob("*/SOURCE.json")):
            meta = json.loads(source.read_text())
            for s in meta.get("sources", []):
                found.append(f"{Path(s['path']).name} {s['sha256'][:12]}")
            if "hub_id" in meta:
                found.append(f"{meta['hub_id']}@{meta.get('revision')}")
        out[task] = sorted(set(found))
    return out


def write_leaderboard(text: pd.DataFrame, numbers: pd.DataFrame, facts: dict, caption: list[str],
                      out_dir: str | Path) -> dict[str, Path]:
    """``leaderboard.md`` (table + caption), ``.csv`` (the numbers) and ``.json`` (numbers and facts)."""
    from minilm_repro.jobs.atomic import write_json, write_text

    out_dir = Path(out_dir)
    paths = {ext: out_dir / f"leaderboard.{ext}" for ext in ("md", "csv", "json")}
    write_text(paths["md"], "\n".join([text.to_markdown(disable_numparse=True), "", *caption]) + "\n")
    write_text(paths["csv"], numbers.to_csv())
    write_json(paths["json"], {"rows": json.loads(numbers.to_json(orient="index")), **facts, "caption": caption})
    return paths
