"""Which fine-tuning runs a cell reports, and the cell's statistics (percent), as the paper reports.

* GLUE, SQuAD 2.0: per (track, model, task), the grid point with the best mean dev score over
  seeds (``select_score``: the mean primary metric on the selection dev set); the cell is the mean
  ± std of that grid point's seeds.
* XNLI, MLQA: the best single model, i.e. the (grid point, seed) with the best score on the joint
  dev set (the mean primary metric over every language's dev set); the cell is that run's score,
  with the mean ± std over the seeds of its grid point beside it.

A cell that gathers several evaluations (a language average) averages them within each seed first.
"""

from __future__ import annotations

import pandas as pd

from minilm_repro.report.collect import MAJORITY

MULTI_TASKS = ("xnli", "mlqa")  # reported as the best single model on the joint dev set
KEYS = ["track", "model", "task"]
STATS_COLUMNS = ["model", "column", "mean", "std", "n", "best"]


def joint_dev(df: pd.DataFrame) -> pd.DataFrame:
    """Per run (KEYS + grid_point, seed): ``score``, the mean primary metric over its validation
    evals (every language's dev set), or its ``select_score`` where it has no validation eval."""
    runs = df[KEYS + ["grid_point", "seed", "select_score"]].drop_duplicates(KEYS + ["grid_point", "seed"])
    dev = df[(df.split == "validation") & (df.metric == df.primary_metric)]
    mean = dev.groupby(KEYS + ["grid_point", "seed"])["value"].mean().rename("dev").reset_index()
    runs = runs.merge(mean, on=KEYS + ["grid_point", "seed"], how="left")
    return runs.assign(score=runs["dev"].fillna(runs["select_score"])).drop(columns=["dev", "select_score"])


def select_best(df: pd.DataFrame) -> pd.DataFrame:
    """The rows the tables report: per (track, model, task), every seed of the selected grid point,
    ``single`` = True on the rows of the best single run (XNLI, MLQA). Majority-class rows: one per eval."""
    if df.empty:
        return df.assign(single=pd.Series(dtype=bool))
    ours = df[df.model != MAJORITY]
    multi = ours[ours.task.isin(MULTI_TASKS)]
    mono = ours[~ours.task.isin(MULTI_TASKS)]
    scores = mono.groupby(KEYS + ["grid_point"])["select_score"].mean().reset_index()
    best = scores.loc[scores.groupby(KEYS)["select_score"].idxmax(), KEYS + ["grid_point"]]
    chosen = [mono.merge(best, on=KEYS + ["grid_point"], how="inner").assign(single=False)]
    if not multi.empty:
        runs = joint_dev(multi)
        top = runs.loc[runs.groupby(KEYS)["score"].idxmax(), KEYS + ["grid_point", "seed"]]
        rows = multi.merge(top[KEYS + ["grid_point"]], on=KEYS + ["grid_point"], how="inner")
        flag = rows.merge(top.assign(single=True), on=KEYS + ["grid_point", "seed"], how="left")["single"]
        chosen.append(rows.assign(single=flag.fillna(False).astype(bool).to_numpy()))
    majority = df[df.model == MAJORITY].drop_duplicates(["track", "task", "eval", "metric"]).assign(single=False)
    return pd.concat([*chosen, majority], ignore_index=True)


def cell_stats(df: pd.DataFrame, column_of) -> pd.DataFrame:
    """model, column, mean, std, n (seeds), best (the best single run's value; NaN for GLUE/SQuAD
    cells): per seed the mean of the rows a column gathers, then over seeds. Percent."""
    if df.empty:
        return pd.DataFrame(columns=STATS_COLUMNS)
    df = df.assign(column=[column_of(r) for r in df.itertuples(index=False)]).dropna(subset=["column"])
    if df.empty:
        return pd.DataFrame(columns=STATS_COLUMNS)
    single = df["single"] if "single" in df else pd.Series(False, index=df.index)
    per_seed = df.assign(single=single).groupby(["model", "column", "seed"]).agg(
        value=("value", "mean"), single=("single", "any")).reset_index()
    agg = per_seed.groupby(["model", "column"])["value"].agg(["mean", "std", "count"]).reset_index()
    best = per_seed[per_seed.single].groupby(["model", "column"])["value"].first().rename("best").reset_index()
    out = agg.rename(columns={"count": "n"}).merge(best, on=["model", "column"], how="left")
    return out[STATS_COLUMNS]


def reported(stats: pd.DataFrame) -> pd.Series:
    """The figure a cell reports: the best single run where there is one, else the seeds' mean."""
    return stats["best"].where(stats["best"].notna(), stats["mean"]).astype("float64")


def format_cell(mean: float, std: float, n: int, best: float = float("nan")) -> str:
    """``80.0±0.7`` (mean ± std of n seeds); ``81.2 (80.0±0.7)`` for a best single run; '' if empty."""
    if pd.isna(mean):
        return ""
    spread = f"{mean:.1f}" if n <= 1 or pd.isna(std) else f"{mean:.1f}±{std:.1f}"
    if pd.isna(best):
        return spread
    return f"{best:.1f}" if n <= 1 else f"{best:.1f} ({spread})"
