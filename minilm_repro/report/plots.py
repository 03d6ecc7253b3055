"""Figures (PNG and PDF): score vs parameters and vs measured latency (Pareto view), per-language
XNLI / MLQA scores per model, and the distillation / pretraining loss curves."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from minilm_repro.report.collect import finetune_frame, speed_frame
from minilm_repro.report.tables import select_best


def _save(fig, out_dir: Path, name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, bbox_inches="tight", dpi=120)
    return paths


def _model_scores(df: pd.DataFrame) -> pd.DataFrame:
    """Mean primary score per (track, model) over every selected dev/test eval of every task."""
    prim = df[(df.metric == df.primary_metric) & (df.model != "majority-class")]
    return prim.groupby(["track", "model"])["value"].mean().rename("score").reset_index()


def pareto(scores: pd.DataFrame, models: pd.DataFrame, speed: pd.DataFrame, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    merged = scores.merge(models, on=["track", "model"], how="left")
    if not speed.empty:
        merged = merged.merge(speed[["track", "model", "seconds_per_batch"]], on=["track", "model"], how="left")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for track, sub in merged.groupby("track"):
        axes[0].scatter(sub["params"] / 1e6, sub["score"], label=track)
        for _, r in sub.iterrows():
            axes[0].annotate(r.model, (r.params / 1e6, r.score), fontsize=7)
        if "seconds_per_batch" in sub:
            axes[1].scatter(sub["seconds_per_batch"] * 1e3, sub["score"], label=track)
            for _, r in sub.iterrows():
                axes[1].annotate(r.model, (r.seconds_per_batch * 1e3, r.score), fontsize=7)
    axes[0].set_xlabel("parameters (M)")
    axes[1].set_xlabel("latency per batch (ms, measured)")
    for ax in axes:
        ax.set_ylabel("mean task score")
        ax.legend()
    fig.suptitle("Score against size and latency")
    paths = _save(fig, out_dir, "pareto")
    plt.close(fig)
    return paths


def per_language(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for task, metric in (("xnli", "accuracy"), ("mlqa", "f1")):
        sub = df[(df.task == task) & (df.split == "test") & (df.metric == metric) & (df.model != "majority-class")]
        if sub.empty:
            continue
        wide = sub.groupby(["language", "model"])["value"].mean().unstack("model")
        fig, ax = plt.subplots(figsize=(max(5, len(wide) * 0.8), 3.5))
        wide.plot.bar(ax=ax)
        ax.set_ylabel(f"{task.upper()} test {metric}")
        ax.set_title(f"{task.upper()} per language")
        paths += _save(fig, out_dir, f"{task}_per_language")
        plt.close(fig)
    return paths


def loss_curves(model_metric_paths, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = 0
    for path in model_metric_paths:
        m = json.loads(Path(path).read_text())
        hist = m.get("history") or []
        if not hist:
            continue
        tags = m.get("tags", {})
        ax.plot([h["step"] for h in hist], [h["loss"] for h in hist], label=f"{tags.get('track')}/{tags.get('model')}")
        drawn += 1
    if not drawn:
        plt.close(fig)
        return []
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (distillation: attention + value KL; MLM for pretraining)")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    paths = _save(fig, out_dir, "loss_curves")
    plt.close(fig)
    return paths


def build_figures(finetune_paths, model_paths, speed_paths, out_dir: str | Path) -> list[Path]:
    from minilm_repro.report.collect import model_frame

    out_dir = Path(out_dir)
    df = select_best(finetune_frame(finetune_paths))
    paths = pareto(_model_scores(df), model_frame(model_paths), speed_frame(speed_paths), out_dir)
    paths += per_language(df, out_dir)
    paths += loss_curves(model_paths, out_dir)
    return paths


def _run(args) -> int:
    for p in build_figures(args.finetune, args.models, args.speed, args.out):
        print(p)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("figures", help="plots: Pareto view, per-language scores, loss curves")
    p.add_argument("--finetune", nargs="+", required=True)
    p.add_argument("--models", nargs="*", default=[])
    p.add_argument("--speed", nargs="*", default=[])
    p.add_argument("--out", required=True)
    p.set_defaults(func=_run)
