"""Inference speed of encoders, measured on the executing device (the tables' speed-up column).

The paper's protocol: mean time of 100 batches of the QNLI training set, relative to the
teacher (BERT-base). Here: ``batches`` batches of a tokenised task's training features,
padded to the longest sequence of the batch, forward pass of the encoder only, after
``warmup`` untimed batches. Every model of a track is timed in one process, batch by batch in
turn (the order rotating each batch), so drift of the machine during the job hits every model
alike and the speed-up ratios compare models measured side by side; the job runs alone.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from minilm_repro.config import ConfigError, parse_stage_config
from minilm_repro.jobs.atomic import write_json


@dataclasses.dataclass
class SpeedConfig:
    batches: int = 100
    batch_size: int = 32
    warmup: int = 5
    bf16: str = "auto"


def _batches(model_dir: str, features_dir: str, cfg: SpeedConfig, device) -> list[dict]:
    """``warmup + batches`` padded batches of the features' train split, on ``device``."""
    import datasets
    from transformers import DataCollatorWithPadding

    from minilm_repro.jobs.model_io import load_tokenizer

    feats = datasets.load_from_disk(str(Path(features_dir) / "train"))
    keep = [c for c in feats.column_names if c in ("input_ids", "attention_mask", "token_type_ids")]
    feats = feats.select_columns(keep)
    idx = np.arange((cfg.batches + cfg.warmup) * cfg.batch_size) % len(feats)
    collate = DataCollatorWithPadding(load_tokenizer(model_dir), return_tensors="pt")
    return [{k: v.to(device) for k, v in collate([dict(r) for r in feats.select(idx[i:i + cfg.batch_size])]).items()}
            for i in range(0, len(idx), cfg.batch_size)]


def measure(model_dirs: list[str], features_dirs: list[str], cfg: SpeedConfig) -> list[dict]:
    """Time every model on its own features, interleaved; one result per model, in order.

    Result keys: seconds_per_batch (mean over ``batches``), seconds_per_batch_std,
    tokens_per_second (non-padding tokens), batches, batch_size, device, params, precision.
    """
    import torch
    from transformers import AutoModel

    from minilm_repro.jobs.model_io import load_pretrained
    from minilm_repro.jobs.tracking import device_name
    from minilm_repro.jobs.trainer_setup import precision
    from minilm_repro.models.build import count_parameters

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    models = [load_pretrained(m, AutoModel).to(device).eval() for m in model_dirs]
    batches = [_batches(m, f, cfg, device) for m, f in zip(model_dirs, features_dirs)]
    chosen = precision(cfg.bf16)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(chosen)
    n = len(models)
    times = [[] for _ in range(n)]
    tokens = [0] * n
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        for b in range(cfg.batches + cfg.warmup):
            for i in np.roll(np.arange(n), b):
                batch = batches[i][b]
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                models[i](**batch)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if b >= cfg.warmup:
                    times[i].append(time.perf_counter() - start)
                    tokens[i] += int(batch["attention_mask"].sum())
    return [{"seconds_per_batch": float(np.mean(t)), "seconds_per_batch_std": float(np.std(t)),
             "tokens_per_second": k / float(np.sum(t)), "batches": cfg.batches, "batch_size": cfg.batch_size,
             "device": device_name(), "params": count_parameters(m), "precision": chosen}
            for t, k, m in zip(times, tokens, models)]


def run_job(spec) -> int:
    """The ``speed`` stage of one job: time ``paths.models`` side by side; one MLflow run per model
    (tags ``spec.run.tags[name]``), the records of all in ``paths.out``."""
    from minilm_repro.jobs.stage import open_run

    p, tags = spec.paths, spec.run.tags
    if not len(p["models"]) == len(p["features"]) == len(p["names"]):
        raise ConfigError(f"speed: give one features dir and one name per model (got {len(p['models'])} models, "
                          f"{len(p['features'])} feature dirs, {len(p['names'])} names)")
    missing = [n for n in p["names"] if n not in tags]
    if missing:
        raise ConfigError(f"speed: the job's tags have no entry for model(s) {missing}; give {{name: {{tag: value}}}}")
    cfg = parse_stage_config(SpeedConfig, spec.settings, "speed config")
    results = measure(p["models"], p["features"], cfg)
    records = []
    for name, result in zip(p["names"], results):  # one MLflow run per model, as one job per model had
        with open_run(spec.run, "speed", dataclasses.asdict(cfg), f"{p['run_prefix']}{name}/speed",
                      tags=tags[name]) as job:
            records.append(job.log_result(result))
    write_json(p["out"], {"records": records})
    return 0
