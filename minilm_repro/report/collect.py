"""Job records -> tidy pandas frames.

A *record* is what a job's metrics file holds: the stage's result dict plus ``tags`` (track,
model, task, grid point, seed, teacher, and, for jobs that log through
:meth:`minilm_repro.jobs.tracking.JobRun.log_result`, stage, profile, device, host, git commit) and
``config`` (the resolved stage config). Records come from the metrics files or, identically,
from MLflow (:func:`records_from_mlflow`); every frame below is built from records only, with
rows sorted, so both sources give equal frames. Per-example predictions of fine-tuning jobs
(:mod:`minilm_repro.report.predictions`) come beside the records, loaded only when asked for.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from minilm_repro.report.predictions import PredictionStore, job_key, mlflow_store

FINETUNE_COLUMNS = ["track", "model", "task", "grid_point", "seed", "eval", "language", "split", "metric", "value",
                    "select_score", "primary_metric", "device", "profile"]
MODEL_COLUMNS = ["track", "model", "origin", "teacher", "params", "layers", "hidden", "relations", "transfer",
                 "device", "profile"]
SPEED_COLUMNS = ["track", "model", "seconds_per_batch", "device", "speedup"]
HISTORY_COLUMNS = ["track", "model", "step", "key", "value"]
MODEL_STAGES = ("pretrain", "distill", "fetch", "describe")
MAJORITY = "majority-class"
FINETUNE_TAGS = ("track", "model", "task", "grid_point", "seed")


@dataclasses.dataclass
class Records:
    """Job records by kind: fine-tuning jobs, model jobs (pretrain/distill/fetch/describe), speed jobs,
    and the fine-tuning jobs' per-example predictions (empty store: none)."""

    finetune: list[dict]
    models: list[dict]
    speed: list[dict]
    predictions: PredictionStore = dataclasses.field(default_factory=PredictionStore)


def load_record(path: str | Path) -> dict:
    """A metrics file's record; ValueError naming the file if it is not readable JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable metrics JSON ({exc})") from exc


def records_from_files(finetune=(), models=(), speed=()) -> Records:
    """Records from metrics files. A model record without ``config`` (written before stages logged
    their result through ``JobRun.log_result``) gets its distillation settings from the model card
    ``<model>/minilm_repro.json`` that the same job wrote beside ``<model>.metrics.json``. Each
    fine-tuning job's predictions are looked for beside its metrics file (``seed<N>.predictions.json``)."""
    model_records = []
    for path in models:
        rec = load_record(path)
        card = Path(str(path).removesuffix(".metrics.json")) / "minilm_repro.json"
        if "config" not in rec and card.is_file():
            rec["config"] = json.loads(card.read_text())
        model_records.append(rec)
    speed_records = [rec for p in speed for rec in load_record(p)["records"]]  # a track's speed job: every model it timed
    ft_records = [load_record(p) for p in finetune]
    store = PredictionStore.from_metrics_files(
        (job_key(_require_tags(r, FINETUNE_TAGS, "fine-tuning")), p) for r, p in zip(ft_records, finetune))
    return Records(ft_records, model_records, speed_records, store)


def records_from_mlflow(profile: str, with_history: bool = False) -> Records:
    """Records of the profile's jobs from MLflow alone (see :func:`minilm_repro.jobs.tracking.job_records`);
    predictions from the runs' ``predictions.json`` artifacts."""
    from minilm_repro.jobs.tracking import job_records

    out = Records([], [], [], mlflow_store(profile))
    for rec in job_records(profile, with_history=with_history):
        stage = rec["tags"].get("stage")
        if stage == "finetune":
            out.finetune.append(rec)
        elif stage == "speed":
            out.speed.append(rec)
        elif stage in MODEL_STAGES:
            out.models.append(rec)
        else:
            raise ValueError(f"MLflow run of job {rec['tags']} has an unknown stage {stage!r}")
    return out


def _require_tags(rec: dict, keys: tuple[str, ...], what: str) -> dict:
    tags = rec.get("tags", {})
    missing = [k for k in keys if k not in tags]
    if missing:
        raise ValueError(f"{what} record lacks tags {missing} (tags: {tags}); not written by a minilm-repro stage?")
    return tags


def _sorted(df: pd.DataFrame, columns: list[str], keys: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(df, columns=columns)
    return df.sort_values(keys, kind="stable").reset_index(drop=True) if not df.empty else df


def select_score(rec: dict) -> float:
    """The record's grid-point selection score (percent) under the current ``PRIMARY_METRIC``.

    A record written while the task selected on another metric (MRPC selected on F1 before it
    followed the paper's accuracy) is re-scored on the task's selection dev set (GLUE, SQuAD: the
    first dev split, as ``finetune.plan.task_plan`` selects); anything else is an error."""
    from minilm_repro.finetune.plan import DEV_SPLITS, PRIMARY_METRIC

    task, primary = rec["task"], PRIMARY_METRIC[rec["task"]]
    if rec["primary_metric"] == primary:
        return float(rec["select_score"])
    split = DEV_SPLITS.get(task, ("validation",))[0]
    dev = [res["scores"][primary] for res in rec["evals"].values()
           if res["split"] == split and primary in res.get("scores", {})]
    if task in ("xnli", "mlqa") or len(dev) != 1:
        raise ValueError(f"fine-tuning record {rec.get('tags')} selected on {rec['primary_metric']!r}, the protocol "
                         f"now selects {task} on {primary!r}: rerun its finetune jobs")
    return float(dev[0])


def finetune_frame(records: list[dict]) -> pd.DataFrame:
    """Long frame, one row per job x eval set x metric (``FINETUNE_COLUMNS``); majority-class
    baselines of classification tasks appear as model ``majority-class``. value, select_score:
    percent; primary_metric: the task's current ``PRIMARY_METRIC``."""
    from minilm_repro.finetune.plan import PRIMARY_METRIC

    rows = []
    for rec in records:
        tags = _require_tags(rec, FINETUNE_TAGS, "fine-tuning")
        score = select_score(rec)
        for eval_name, res in rec["evals"].items():
            for kind in ("scores", "majority"):
                for metric, value in res.get(kind, {}).items():
                    if not isinstance(value, (int, float)) or isinstance(value, bool):
                        continue
                    rows.append({
                        "track": tags["track"], "model": tags["model"] if kind == "scores" else MAJORITY,
                        "task": rec["task"], "grid_point": tags["grid_point"], "seed": int(tags["seed"]),
                        "eval": eval_name, "language": res.get("language"), "split": res["split"],
                        "metric": metric, "value": float(value), "select_score": score,
                        "primary_metric": PRIMARY_METRIC[rec["task"]], "device": tags.get("device"),
                        "profile": tags.get("profile"),
                    })
    df = _sorted(rows, FINETUNE_COLUMNS, ["track", "model", "task", "grid_point", "seed", "eval", "metric"])
    return df.astype({"seed": "int64", "value": "float64", "select_score": "float64"})


def _config_value(value):
    """A config value as logged: typed in metrics files, a string in MLflow params ("None", JSON lists)."""
    if not isinstance(value, str):
        return value
    if value == "None":
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def distill_variant(config: dict) -> tuple[str | None, str | None]:
    """(relations, transfer) labels of a distillation config, e.g. ("attention+value", "last layer")."""
    method = _config_value(config.get("method"))
    if method is None:
        return None, None
    relations = _config_value(config.get("relations"))
    default = ("attention", "value") if method == "minilm" else ("query", "key", "value")
    label = "+".join(relations or default)
    if method != "minilm":
        label = f"{method}: {label}"
    layer_map = _config_value(config.get("layer_map"))
    t_layer, s_layer = _config_value(config.get("teacher_layer", -1)), _config_value(config.get("student_layer", -1))
    if layer_map:
        transfer = f"layer-wise ({len(layer_map)} pairs)"
    elif (t_layer, s_layer) == (-1, -1):
        transfer = "last layer"
    else:
        transfer = f"teacher layer {t_layer} -> student layer {s_layer}"
    return label, transfer


def _origin(rec: dict) -> str:
    tags = rec.get("tags", {})
    if "hub_id" in rec:
        return f"hub {rec['hub_id']}@{rec.get('revision')}"
    if "source" in rec:
        return f"external: {rec['source']}"
    if tags.get("stage") == "distill" or "teacher" in tags:
        return f"distilled from {tags.get('teacher')}"
    return "pretrained here (MLM)"


def _int_or_na(value):
    return pd.NA if value is None else int(value)


def model_frame(records: list[dict]) -> pd.DataFrame:
    """One row per model (``MODEL_COLUMNS``): where it came from, size, distillation variant."""
    rows = []
    for rec in records:
        tags = _require_tags(rec, ("track", "model"), "model")
        relations, transfer = distill_variant(rec.get("config") or {}) if "teacher" in tags else (None, None)
        rows.append({"track": tags["track"], "model": tags["model"], "origin": _origin(rec),
                     "teacher": tags.get("teacher"), "params": _int_or_na(rec.get("params")),
                     "layers": _int_or_na(rec.get("layers")), "hidden": _int_or_na(rec.get("hidden")),
                     "relations": relations, "transfer": transfer, "device": tags.get("device"),
                     "profile": tags.get("profile")})
    df = _sorted(rows, MODEL_COLUMNS, ["track", "model"])
    return df.astype({"params": "Int64", "layers": "Int64", "hidden": "Int64"})


def speed_frame(records: list[dict]) -> pd.DataFrame:
    """One row per timed model (``SPEED_COLUMNS``); speedup = the track teacher's seconds / the model's
    (a checkpoint-only track, without a teacher: the slowest model's seconds / the model's)."""
    rows = []
    for rec in records:
        tags = _require_tags(rec, ("track", "model"), "speed")
        rows.append({"track": tags["track"], "model": tags["model"],
                     "seconds_per_batch": float(rec["seconds_per_batch"]), "device": rec["device"]})
    df = _sorted(rows, SPEED_COLUMNS, ["track", "model"]).astype({"seconds_per_batch": "float64"})
    teacher = df[df.model == "teacher"].set_index("track")["seconds_per_batch"]
    slowest = df.groupby("track")["seconds_per_batch"].max()
    df["speedup"] = [teacher.get(t, slowest.get(t)) / s for t, s in zip(df.track, df.seconds_per_batch)]
    return df.astype({"speedup": "float64"})


def history_frame(records: list[dict]) -> pd.DataFrame:
    """Training-loss histories of model jobs (``HISTORY_COLUMNS``): key = loss, loss_attention, ..."""
    rows = []
    for rec in records:
        tags = _require_tags(rec, ("track", "model"), "model")
        for point in rec.get("history") or []:
            rows += [{"track": tags["track"], "model": tags["model"], "step": int(point["step"]), "key": k,
                      "value": float(v)} for k, v in point.items() if k != "step"]
    return _sorted(rows, HISTORY_COLUMNS, ["track", "model", "key", "step"])
