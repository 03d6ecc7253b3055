"""Figures (PNG and PDF) from job records: score against parameters and against measured
latency (the Pareto view), XNLI / MLQA per language for each model, and training-loss curves.

* ``pareto``: one row of two panels per track; score = the row's ``Avg`` of the track's
  ``<track>_models`` table (mean over its task columns, percent); the line joins the models no
  other model beats with fewer parameters (resp. lower latency).
* ``<track>_xnli_per_language`` / ``<track>_mlqa_per_language``: test accuracy / F1 per
  language (the dev set where a local source has no test set), one bar per model, error bars = std
  over seeds.
* ``loss_curves``: per track, the MLM loss of pretrained models and the distillation loss
  (total solid, its relation parts dashed) of distilled ones, against the training step.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from minilm_repro.report.assemble import TrackContext
from minilm_repro.report.build import Frames
from minilm_repro.report.collect import MAJORITY, Records, history_frame
from minilm_repro.report.layouts import models_table
from minilm_repro.report.selection import cell_stats


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_dir: Path, name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, bbox_inches="tight", dpi=120)
    _pyplot().close(fig)
    return paths


def _context(frames: Frames, track: str) -> TrackContext:
    return frames.context(track)  # no references, no intervals: figures show our models' scores


def model_scores(frames: Frames) -> pd.DataFrame:
    """track, model, score (the models table's Avg), params, ms_per_batch (measured), one row per model."""
    rows = []
    for track in sorted(frames.finetune.track.unique()):
        table = models_table(_context(frames, track))
        if table is None:
            continue
        for model, score in table.means["Avg"].items():
            rows.append({"track": track, "model": model, "score": score})
    df = pd.DataFrame(rows, columns=["track", "model", "score"])
    df = df.merge(frames.models[["track", "model", "params"]], on=["track", "model"], how="left")
    df = df.merge(frames.speed[["track", "model", "seconds_per_batch"]], on=["track", "model"], how="left")
    return df.assign(ms_per_batch=df.pop("seconds_per_batch") * 1e3)


def _frontier(sub: pd.DataFrame, x: str) -> pd.DataFrame:
    """The models no other model beats at a lower ``x``, by increasing ``x``."""
    best, keep = float("-inf"), []
    for _, r in sub.sort_values([x, "score"], ascending=[True, False]).iterrows():
        if r.score > best:
            keep.append(r)
            best = r.score
    return pd.DataFrame(keep)


def pareto(scores: pd.DataFrame, out_dir: Path) -> list[Path]:
    plt = _pyplot()
    tracks = sorted(scores.track.unique())
    fig, axes = plt.subplots(len(tracks), 2, figsize=(10, 3.6 * len(tracks)), squeeze=False)
    for row, track in zip(axes, tracks):
        sub = scores[(scores.track == track) & scores.score.notna()]
        for ax, x, label in ((row[0], "params", "parameters (M)"), (row[1], "ms_per_batch", "latency per batch (ms, measured)")):
            pts = sub[sub[x].notna()].astype({x: "float64"})
            if x == "params":
                pts = pts.assign(params=pts.params / 1e6)
            if pts.empty:
                ax.text(0.5, 0.5, f"no {label} recorded", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.scatter(pts[x], pts.score)
                for _, r in pts.iterrows():
                    ax.annotate(r.model, (r[x], r.score), fontsize=7, xytext=(3, 3), textcoords="offset points")
                front = _frontier(pts, x)
                ax.plot(front[x], front.score, drawstyle="steps-post", alpha=0.5)
            ax.set_xlabel(label)
            ax.set_ylabel("mean task score (%)")
            ax.set_title(track)
    fig.suptitle("Score against size and measured latency")
    fig.tight_layout()
    return _save(fig, out_dir, "pareto")


def per_language(frames: Frames, track: str, task: str, out_dir: Path) -> list[Path]:
    metric = "accuracy" if task == "xnli" else "f1"
    df = frames.finetune
    ours = df[(df.track == track) & (df.task == task) & (df.metric == metric) & (df.model != MAJORITY)]
    # the test set; the dev set where a source has none (a local dev set split into train and validation)
    split = "test" if (ours.split == "test").any() else "validation"
    sub = ours[ours.split == split]
    if sub.empty:
        return []
    stats = cell_stats(sub, lambda r: r.language)
    ctx = _context(frames, track)
    models = ctx.order(stats.model.unique())
    means = stats.pivot(index="column", columns="model", values="mean")[models]
    stds = stats.pivot(index="column", columns="model", values="std")[models].fillna(0.0)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(means) * len(models)), 3.5))
    means.plot.bar(ax=ax, yerr=stds, capsize=2, rot=0)
    ax.set_xlabel("language")
    ax.set_ylabel(f"{task.upper()} {split} {metric} (%)")
    ax.set_title(f"{track}: {task.upper()} per language")
    ax.legend(fontsize=7)
    return _save(fig, out_dir, f"{track}_{task}_per_language")


def loss_curves(history: pd.DataFrame, frames: Frames, out_dir: Path) -> list[Path]:
    if history.empty:
        return []
    plt = _pyplot()
    tracks = sorted(history.track.unique())
    fig, axes = plt.subplots(len(tracks), 2, figsize=(11, 3.6 * len(tracks)), squeeze=False)
    distilled = {(t, m) for t, m, o in zip(frames.models.track, frames.models.model, frames.models.origin)
                 if str(o).startswith("distilled")}
    for row, track in zip(axes, tracks):
        for col, (ax, title) in enumerate(zip(row, ("MLM pretraining loss", "distillation loss (relation KL)"))):
            sub = history[(history.track == track)]
            sub = sub[[((track, m) in distilled) == (col == 1) for m in sub.model]]
            for i, (model, curves) in enumerate(sub.groupby("model")):
                color = f"C{i}"
                for key, curve in curves.groupby("key"):
                    ax.plot(curve.step, curve.value, color=color, linestyle="-" if key == "loss" else "--",
                            linewidth=1.5 if key == "loss" else 0.8,
                            label=model if key == "loss" else f"{model}: {key.removeprefix('loss_')}")
            if sub.empty:
                ax.text(0.5, 0.5, "no model of this kind", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.set_yscale("log")
                ax.legend(fontsize=7)
            ax.set_xlabel("step")
            ax.set_ylabel("training loss")
            ax.set_title(f"{track}: {title}")
    fig.tight_layout()
    return _save(fig, out_dir, "loss_curves")


def build_figures(records: Records, out_dir: str | Path) -> list[Path]:
    """Draw every figure the records allow into ``out_dir`` (figures of a previous build are removed)."""
    out_dir = Path(out_dir)
    for old in [*out_dir.glob("*.png"), *out_dir.glob("*.pdf")]:
        old.unlink()
    frames = Frames.from_records(records)
    paths = pareto(model_scores(frames), out_dir)
    for track in sorted(frames.finetune.track.unique()):
        for task in ("xnli", "mlqa"):
            paths += per_language(frames, track, task, out_dir)
    paths += loss_curves(history_frame(records.models), frames, out_dir)
    return paths


def _run(args) -> int:
    from minilm_repro.report.collect import records_from_files, records_from_mlflow

    if args.mlflow == bool(args.finetune):
        raise SystemExit("figures: give either --finetune FILES (with --models/--speed) or --mlflow --profile P")
    if args.mlflow and not args.profile:
        raise SystemExit("figures --mlflow needs --profile (the MLflow experiment to read)")
    records = records_from_mlflow(args.profile, with_history=True) if args.mlflow else \
        records_from_files(args.finetune, args.models, args.speed)
    paths = build_figures(records, args.out)
    drawn = {p.stem for p in paths}
    missing = [n for n in args.expect if n not in drawn]
    if missing:
        raise SystemExit(f"figures: {missing} not drawn: their inputs are missing (per-language figures need XNLI/MLQA "
                         f"test results of the track; loss_curves needs a logged loss history, i.e. logging_steps "
                         f"below the training steps). Drawn: {sorted(drawn)}")
    for p in paths:
        print(p)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("figures", help="plots: Pareto view, per-language scores, loss curves")
    p.add_argument("--finetune", nargs="*", default=[])
    p.add_argument("--models", nargs="*", default=[])
    p.add_argument("--speed", nargs="*", default=[])
    p.add_argument("--mlflow", action="store_true", help="read the records from MLflow (with --profile) instead")
    p.add_argument("--profile", default=None)
    p.add_argument("--expect", nargs="*", default=[], help="figure names that must be drawn (the rule's outputs)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_run)
