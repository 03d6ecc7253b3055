"""``checks.json``'s learning checks: does every model beat the majority class; does the teacher
beat the from-scratch student."""

from __future__ import annotations

import pandas as pd

from minilm_repro.report.collect import MAJORITY


def learning_checks(frames, tables: dict) -> dict:
    """Checks on ``frames.finetune`` (the selected fine-tuning rows) and the built tables (name -> Table).

    ``teacher_beats_scratch`` compares the two models' means over the ``<track>_models`` columns both
    have (a teacher-only task such as SQuAD 2.0 in the real-cpu profile leaves the scratch Avg empty).

    ``beats_majority_task`` compares each task's reported score (per split, the mean over its
    configs: XNLI's languages, as the paper's "Avg" column); ``beats_majority`` compares every
    evaluation (one language of one split), a stricter reading that ``per_eval_ok`` sums up.
    Scores: percent, the mean over the selected grid point's seeds."""
    df: pd.DataFrame = frames.finetune
    checks: dict = {"beats_majority": {}, "beats_majority_task": {}, "teacher_beats_scratch": {}}
    keys = ["track", "task", "split", "eval", "metric"]
    maj = df[(df.model == MAJORITY) & (df.metric == df.primary_metric)].groupby(keys)["value"].first()
    ours = df[df.model != MAJORITY].groupby(keys + ["model"])["value"].mean()  # mean over grid points and seeds
    both = ours.reset_index().merge(maj.rename("majority").reset_index(), on=keys)
    for r in both.itertuples():
        checks["beats_majority"][f"{r.track}/{r.model}/{r.task}/{r.eval}"] = bool(r.value > r.majority)
    per_task = both.groupby(["track", "model", "task", "split"])[["value", "majority"]].mean()
    for (track, model, task, split), r in per_task.iterrows():
        checks["beats_majority_task"][f"{track}/{model}/{task}/{split}"] = bool(r.value > r.majority)
    for name, table in tables.items():
        track = name.removesuffix("_models")
        if name.endswith("_models") and {"teacher", "scratch"} <= set(table.means.index):
            pair = table.means.loc[["teacher", "scratch"]].drop(columns="Avg", errors="ignore").dropna(axis=1)
            if pair.columns.empty:
                continue
            t, s = pair.mean(axis=1)
            checks["teacher_beats_scratch"][track] = {"teacher": float(t), "scratch": float(s), "ok": bool(t > s),
                                                      "columns": list(pair.columns)}
    checks["all_ok"] = all(checks["beats_majority_task"].values()) and all(
        v["ok"] for v in checks["teacher_beats_scratch"].values())
    checks["per_eval_ok"] = all(checks["beats_majority"].values())
    return checks
