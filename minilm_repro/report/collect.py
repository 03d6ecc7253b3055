"""Metrics files -> tidy pandas frames (one row per job and eval set and metric)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def finetune_frame(paths: list[str | Path]) -> pd.DataFrame:
    """Long frame: track, model, task, grid_point, seed, eval, language, split, metric, value, select_score."""
    rows = []
    for path in paths:
        m = json.loads(Path(path).read_text())
        tags = m.get("tags", {})
        missing = [k for k in ("track", "model", "task", "grid_point", "seed") if k not in tags]
        if missing:
            raise ValueError(f"{path}: metrics file lacks tags {missing} (not written by `minilm-repro finetune`?)")
        for eval_name, res in m["evals"].items():
            for kind in ("scores", "majority"):
                for metric, value in res.get(kind, {}).items():
                    if not isinstance(value, (int, float)):
                        continue
                    rows.append({
                        "track": tags["track"], "model": tags["model"] if kind == "scores" else "majority-class",
                        "task": m["task"], "grid_point": tags["grid_point"], "seed": int(tags["seed"]),
                        "eval": eval_name, "language": res.get("language"), "split": res["split"],
                        "metric": metric, "value": float(value), "select_score": m["select_score"],
                        "primary_metric": m["primary_metric"],
                    })
    return pd.DataFrame(rows)


def model_frame(paths: list[str | Path]) -> pd.DataFrame:
    """One row per model (pretrain/distill metrics files): track, model, params, layers, hidden."""
    rows = []
    for path in paths:
        m = json.loads(Path(path).read_text())
        tags = m.get("tags", {})
        rows.append({"track": tags.get("track"), "model": tags.get("model"), "teacher": tags.get("teacher"),
                     "params": m.get("params"), "layers": m.get("layers"), "hidden": m.get("hidden")})
    return pd.DataFrame(rows)


def speed_frame(paths: list[str | Path]) -> pd.DataFrame:
    """One row per model timing: track, model, seconds_per_batch, device, speedup vs its track's teacher."""
    rows = []
    for path in paths:
        m = json.loads(Path(path).read_text())
        tags = m.get("tags", {})
        rows.append({"track": tags.get("track"), "model": tags.get("model"), "seconds_per_batch": m["seconds_per_batch"],
                     "device": m["device"]})
    df = pd.DataFrame(rows, columns=["track", "model", "seconds_per_batch", "device"])
    teacher = df[df.model == "teacher"].set_index("track")["seconds_per_batch"]
    df["speedup"] = [teacher.get(t, float("nan")) / s for t, s in zip(df.track, df.seconds_per_batch)]
    return df
