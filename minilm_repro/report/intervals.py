"""Δ between two of our models, per table column, with a paired-bootstrap interval (percent points).

A column gathers evaluations (task, eval set, metric) of the selected runs
(:mod:`minilm_repro.report.selection`); both models are taken over the seeds both have at their
selected grid points. The per-example predictions come from the job's predictions file
(:mod:`minilm_repro.report.predictions`); where any is missing, or the column's metric has no
bootstrap kernel (STS-B Spearman), the Δ is the difference of the seed means, without an interval.
Predictions that do not reproduce their record's score are an error (they belong to other data).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from minilm_repro.report.bootstrap import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Interval,
    Part,
    interval,
    part_draws,
    weighted_metric,
)
from minilm_repro.report.predictions import EvalPredictions, PredictionStore

# record metric -> bootstrap kernel of classification / regression evals
KERNELS = {"accuracy": "accuracy", "f1": "f1", "matthews_correlation": "matthews_correlation", "pearson": "pearson"}
# record metric -> the per-question field of QA evals (their kernel: the mean)
QA_FIELDS = {"f1": "f1", "exact": "exact", "exact_match": "exact", "best_f1": "best_f1", "best_exact": "best_exact"}
TOLERANCE = 1e-4  # percent: predictions must reproduce the recorded score this closely


@dataclasses.dataclass
class Bootstrap:
    """The settings and sources of the intervals of one report."""

    store: PredictionStore
    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    missing: set = dataclasses.field(default_factory=set)  # job sources without predictions, all asked so far
    recent: set = dataclasses.field(default_factory=set)  # the same, since the last take_recent()

    def take_recent(self) -> set:
        """The sources found missing since the last call (one table's), and forget them."""
        out, self.recent = self.recent, set()
        return out

    def eval_predictions(self, key: tuple, eval_name: str) -> EvalPredictions | None:
        """One eval set's predictions of one job, or None (recorded in ``missing``)."""
        preds = self.store.get(key)
        if preds is None or eval_name not in preds:
            self.missing.add(self.store.source(key))
            self.recent.add(self.store.source(key))
            return None
        return preds[eval_name]


def _kernel(ev: EvalPredictions, metric: str) -> tuple[str, np.ndarray, np.ndarray | None] | None:
    """(kernel, per-example predictions or scores, labels) of ``metric`` on ``ev``; None: no kernel."""
    if ev.kind == "qa":
        per_question = getattr(ev, QA_FIELDS[metric]) if metric in QA_FIELDS else None
        return None if per_question is None else ("mean", per_question, None)
    return (KERNELS[metric], ev.pred, ev.label) if metric in KERNELS else None


def _part(boot: Bootstrap, a_rows: pd.DataFrame, b_rows: pd.DataFrame, metric: str) -> Part | None:
    """The bootstrap part of one (task, eval, metric) for A and B over their common seeds, or None."""
    seeds = sorted(set(a_rows.seed) & set(b_rows.seed))
    if not seeds or (metric not in KERNELS and metric not in QA_FIELDS):
        return None
    arrays, ids, labels, kernel = {}, None, None, None
    for side, rows in (("a", a_rows), ("b", b_rows)):
        preds = []
        for seed in seeds:
            r = rows[rows.seed == seed].iloc[0]
            key = (r["track"], r["model"], r["task"], r["grid_point"], int(seed))
            ev = boot.eval_predictions(key, r["eval"])
            if ev is None:
                return None
            found = _kernel(ev, metric)
            if found is None:
                return None
            kernel, pred, label = found
            if ids is None:
                ids, labels = ev.ids, label
            elif not np.array_equal(ids, ev.ids):
                if len(ids) != len(ev.ids) or set(ids.tolist()) != set(ev.ids.tolist()):
                    raise ValueError(f"{boot.store.source(key)}: eval {r['eval']!r} covers other examples than the "
                                     "run it is compared with: rerun the fine-tuning of both on one dataset")
                order = pd.Series(np.arange(len(ev.ids)), index=ev.ids)[ids].to_numpy()  # the first run's order
                pred, label = pred[order], None if label is None else label[order]
            if label is not None and not np.array_equal(labels, label):
                raise ValueError(f"{boot.store.source(key)}: eval {r['eval']!r} has other labels than the run it is "
                                 "compared with: rerun the fine-tuning of both on one dataset")
            recomputed = float(part_value(kernel, pred, label))
            if abs(recomputed - r["value"]) > TOLERANCE:
                raise ValueError(f"{boot.store.source(key)}: eval {r['eval']!r} gives {metric} {recomputed:.4f} from "
                                 f"its predictions but its record says {r['value']:.4f}: rerun that finetune job")
            preds.append(pred)
        arrays[side] = np.stack(preds)
    return Part(kernel, arrays["a"], arrays["b"], labels)


def part_value(kernel: str, pred: np.ndarray, label: np.ndarray | None) -> float:
    """The metric (percent) on all examples."""
    return float(weighted_metric(kernel, np.ones((1, len(pred))), pred, label)[0])


def column_draws(boot: Bootstrap, df: pd.DataFrame, a: str, b: str) -> tuple[float, np.ndarray] | None:
    """(A − B, per-resample A − B) for the rows ``df`` of one column (its evals averaged), or None."""
    points, draws = [], []
    for (task, eval_name, metric), rows in df.groupby(["task", "eval", "metric"], sort=True):
        part = _part(boot, rows[rows.model == a], rows[rows.model == b], metric)
        if part is None:
            return None
        point, d = part_draws(part, boot.resamples, boot.seed)
        points.append(point)
        draws.append(d)
    if not points:
        return None
    return float(np.mean(points)), np.mean(draws, axis=0)


def pair_intervals(boot: Bootstrap | None, df: pd.DataFrame, column_of, a: str, b: str,
                   columns: list[str], avg_cols: list[str]) -> dict[str, Interval]:
    """Interval of A − B per column of ``columns`` that has predictions, and for ``Avg`` (the mean of
    ``avg_cols``) when every one of them has; ``df``: the table's selected rows, ``column_of`` their columns."""
    if boot is None:
        return {}
    rows = df[df.model.isin([a, b])]
    rows = rows.assign(column=[column_of(r) for r in rows.itertuples(index=False)]).dropna(subset=["column"])
    out, draws = {}, {}
    for col in columns:
        got = column_draws(boot, rows[rows.column == col], a, b)
        if got is not None:
            out[col] = interval(*got)
            draws[col] = got
    if avg_cols and all(c in draws for c in avg_cols):
        out["Avg"] = interval(float(np.mean([draws[c][0] for c in avg_cols])),
                              np.mean([draws[c][1] for c in avg_cols], axis=0))
    return out
