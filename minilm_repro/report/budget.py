"""The MiniLM-vs-scratch margin against the pretraining budget, over several results directories.

Each results directory is one run of a profile at one budget (the profile itself, its reduced CI
form, the profile with ``optim.steps`` changed...). Per directory and track, every distilled
student of the scratch model's shape is paired with ``scratch``; per task, the reported grid point
of each (``selection.select_best``: the best mean dev score over seeds), the seed means and std of
the primary metric on the validation side, and the per-seed paired difference over the seeds both
have. The budget comes from the records themselves: the student's and the scratch model's
``optim`` (steps, batch) and the corpus's ``stats.json`` (block length, mean tokens per block), so a
point cannot be mislabelled by hand.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from minilm_repro.report.collect import MAJORITY, finetune_frame, load_record
from minilm_repro.report.predictions import SUFFIX
from minilm_repro.report.selection import select_best

KEY = ["track", "student", "task", "steps", "batch", "block", "lr", "corpus_tokens_M", "ft_examples", "ft_grid"]
COLUMNS = [*KEY, "tokens_M", "passes", "results", "runs", "student_mean", "student_std", "scratch_mean", "scratch_std",
           "delta", "delta_std", "delta_min", "delta_max"]
PRETRAIN_STAGES = ("distill", "pretrain")


def _pretrained(track_dir: Path) -> dict[str, dict]:
    """model -> its distill/pretrain record (config.optim, layers, hidden, tags.stage)."""
    out = {}
    for path in sorted(track_dir.glob("models/*.metrics.json")):
        rec = load_record(path)
        if rec.get("tags", {}).get("stage") in PRETRAIN_STAGES and "optim" in rec.get("config", {}):
            out[path.name.removesuffix(".metrics.json")] = rec
    return out


def _budget(rec: dict, corpus: dict) -> dict:
    optim = rec["config"]["optim"]
    seen = optim["steps"] * optim["batch_size"]
    return {"steps": optim["steps"], "batch": optim["batch_size"], "block": corpus["max_seq_len"],
            "tokens_M": seen * corpus["mean_block_tokens"] / 1e6, "passes": seen / corpus["blocks"], "lr": optim["lr"],
            "corpus_tokens_M": corpus["tokens"] / 1e6}


def _dev_scores(track_dir: Path) -> tuple[pd.DataFrame, dict[str, tuple[int, str]]]:
    """(model, task, seed, value: the reported grid point's primary metric on each validation eval;
    task -> (its training examples (features) in fine-tuning, the largest any record states; the grid
    points run, joined))."""
    records = [load_record(p) for p in sorted(track_dir.glob("finetune/**/seed*.json")) if not p.name.endswith(SUFFIX)]
    examples: dict[str, int] = {}
    grids: dict[str, set] = {}
    for rec in records:
        examples[rec["task"]] = max(examples.get(rec["task"], 0), int(rec.get("train_features", 0)))
        grids.setdefault(rec["task"], set()).add(rec["tags"]["grid_point"])
    df = select_best(finetune_frame(records))
    df = df[(df.model != MAJORITY) & (df.split == "validation") & (df.metric == df.primary_metric)]
    settings = {task: (examples[task], ", ".join(sorted(grids[task]))) for task in examples}
    return df.groupby(["model", "task", "seed"])["value"].mean().reset_index(), settings


def paired_runs(results_dirs) -> pd.DataFrame:
    """One row per (results dir, track, distilled student of scratch's shape, task, fine-tuning seed):
    the budget (``_budget``), ``student`` and ``scratch`` (percent) and ``results``."""
    rows = []
    for results in map(Path, results_dirs):
        if not results.is_dir():
            raise FileNotFoundError(f"{results}: not a results directory (give the results/ of a finished run)")
        for track_dir in sorted(p for p in results.iterdir() if (p / "models").is_dir()):
            models = _pretrained(track_dir)
            if "scratch" not in models or not (track_dir / "corpus/stats.json").is_file():
                continue
            corpus, scratch = load_record(track_dir / "corpus/stats.json"), models["scratch"]
            scores, examples = _dev_scores(track_dir)
            scores = scores.set_index(["model", "task", "seed"])["value"]
            scratch_budget, shape = _budget(scratch, corpus), (scratch["layers"], scratch["hidden"])
            for name, rec in models.items():
                if rec["tags"]["stage"] != "distill" or (rec["layers"], rec["hidden"]) != shape:
                    continue
                budget = _budget(rec, corpus)
                if budget != scratch_budget:
                    raise ValueError(f"{track_dir}: {name} and scratch pretrained on different budgets "
                                     f"({budget} vs {scratch_budget}): not a same-budget pair")
                if name not in scores.index or "scratch" not in scores.index:
                    continue
                pair = pd.concat({"student_score": scores.loc[name], "scratch_score": scores.loc["scratch"]},
                                 axis=1, join="inner")
                for (task, seed), row in pair.iterrows():
                    rows.append({"results": str(results), "track": track_dir.name, "student": name, "task": task,
                                 "seed": seed, **budget, "ft_examples": examples[task][0], "ft_grid": examples[task][1],
                                 **row.to_dict()})
    return pd.DataFrame(rows)


def budget_points(results_dirs) -> pd.DataFrame:
    """One row per budget point: (track, student, task, steps, batch, block, lr, corpus size) over every
    results directory given, so runs of one budget with different seeds pool. ``COLUMNS``; scores in
    percent; tokens_M: tokens seen in pretraining (millions); passes: blocks seen / corpus blocks;
    runs: the paired (results dir, seed) runs; delta*: student - scratch over them."""
    runs = paired_runs(results_dirs)
    if runs.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for key, g in runs.groupby(KEY, sort=True):
        diff = g.student_score - g.scratch_score
        rows.append({**dict(zip(KEY, key)), "tokens_M": g.tokens_M.iloc[0], "passes": g.passes.iloc[0],
                     "results": ", ".join(sorted(set(g.results))), "runs": len(g),
                     "student_mean": g.student_score.mean(), "student_std": g.student_score.std(),
                     "scratch_mean": g.scratch_score.mean(), "scratch_std": g.scratch_score.std(),
                     "delta": diff.mean(), "delta_std": diff.std(), "delta_min": diff.min(), "delta_max": diff.max()})
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.sort_values(["task", "student", "tokens_M", "corpus_tokens_M"], ignore_index=True)


def _pm(mean: float, std: float, sign: str = "") -> str:
    return f"{mean:{sign}.1f}" if pd.isna(std) else f"{mean:{sign}.1f}±{std:.1f}"


def budget_section(results_dirs) -> list[str]:
    """The page's budget section: the margin table (one row per budget point), by task and tokens seen."""
    df = budget_points(results_dirs)
    if df.empty:
        return [("No results directory given holds a distilled student and a scratch model of the same shape "
                 "with fine-tuning scores on a common task.")]
    table = pd.DataFrame({
        "task": df.task, "model": df.student, "results": df.results,
        "steps x batch x block": [f"{s} x {b} x {k}" for s, b, k in zip(df.steps, df.batch, df.block)],
        "corpus tokens (M)": df.corpus_tokens_M.round(2), "tokens seen (M)": df.tokens_M.round(2),
        "corpus passes": df.passes.round(1), "peak lr": df.lr,
        "fine-tuning": [f"{n} examples; {g}" for n, g in zip(df.ft_examples, df.ft_grid)],
        "runs": df.runs,
        "model score": [_pm(m, s) for m, s in zip(df.student_mean, df.student_std)],
        "scratch": [_pm(m, s) for m, s in zip(df.scratch_mean, df.scratch_std)],
        "Δ model − scratch": [_pm(d, s, "+") for d, s in zip(df.delta, df.delta_std)],
        "Δ min, max": [f"{lo:+.1f}, {hi:+.1f}" for lo, hi in zip(df.delta_min, df.delta_max)],
    })
    return [table.to_markdown(index=False), "",
            ("Each row: a budget point, a distilled student and the same-shape scratch MLM model pretrained on the "
            "same corpus with the same steps, batch, block length and peak lr (checked from their records), pooled "
            "over the results directories given; runs: the (results directory, fine-tuning seed) pairs both have. "
            "Scores: the primary metric on the validation side at the selected grid point, mean ± std over the "
            "runs; Δ: the paired difference, mean ± std and its smallest and largest value. Tokens seen: steps × "
            "batch × the corpus's mean tokens per block. Fine-tuning: the task's training examples and the grid "
            "points run (points with other fine-tuning settings are other rows).")]
