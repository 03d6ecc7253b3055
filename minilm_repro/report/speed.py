"""Inference speed of an encoder, measured on the executing device (the tables' speed-up column).

The paper's protocol: mean time of 100 batches of the QNLI training set, relative to the
teacher (BERT-base). Here: ``batches`` batches of a tokenised task's training features,
padded to the longest sequence of the batch, forward pass of the encoder only, after
``warmup`` untimed batches; each model is timed in its own job on the same device.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from minilm_repro.config import parse_stage_config
from minilm_repro.stage import set_threads, write_json


@dataclasses.dataclass
class SpeedConfig:
    batches: int = 100
    batch_size: int = 32
    warmup: int = 5
    bf16: str = "auto"


def measure(model_dir: str, features_dir: str, cfg: SpeedConfig) -> dict:
    import datasets
    import torch
    from transformers import AutoModel, DataCollatorWithPadding

    from minilm_repro.models.build import count_parameters
    from minilm_repro.tracking import device_name
    from minilm_repro.training import load_pretrained, load_tokenizer, use_bf16

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load_pretrained(model_dir, AutoModel).to(device).eval()
    tokenizer = load_tokenizer(model_dir)
    feats = datasets.load_from_disk(str(Path(features_dir) / "train"))
    keep = [c for c in feats.column_names if c in ("input_ids", "attention_mask", "token_type_ids")]
    feats = feats.select_columns(keep)
    need = (cfg.batches + cfg.warmup) * cfg.batch_size
    idx = np.arange(need) % len(feats)
    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    dtype = torch.bfloat16 if use_bf16(cfg.bf16) else None
    times, tokens = [], 0
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        for b in range(cfg.batches + cfg.warmup):
            rows = feats.select(idx[b * cfg.batch_size:(b + 1) * cfg.batch_size])
            batch = {k: v.to(device) for k, v in collate([dict(r) for r in rows]).items()}
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(**batch)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if b >= cfg.warmup:
                times.append(time.perf_counter() - start)
                tokens += int(batch["attention_mask"].sum())
    return {"seconds_per_batch": float(np.mean(times)), "seconds_per_batch_std": float(np.std(times)),
            "tokens_per_second": tokens / float(np.sum(times)), "batches": cfg.batches,
            "batch_size": cfg.batch_size, "device": device_name(), "params": count_parameters(model),
            "bf16": dtype is not None}


def _run(args) -> int:
    from minilm_repro.stage import open_run

    set_threads(args.threads)
    cfg = parse_stage_config(SpeedConfig, args.config, "speed config")
    with open_run(args, "speed", dataclasses.asdict(cfg), args.run_name or args.out) as job:
        record = job.log_result(measure(args.model, args.features, cfg))
    write_json(args.out, record)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("speed", help="time encoder inference on a task's batches (speed-up column)")
    p.add_argument("--model", required=True)
    p.add_argument("--features", required=True, help="tokenize-task output (its train split is timed)")
    p.add_argument("--out", required=True, help="timing JSON (the job's record: result, tags, config)")
    p.add_argument("--config", default="{}")
    p.add_argument("--profile", default="adhoc", help="profile name (MLflow experiment, tags)")
    p.add_argument("--tags", default="{}", help="MLflow tags, as JSON (track, model, ...)")
    p.add_argument("--run-name", default=None)
    p.add_argument("--threads", type=int, default=0)
    p.set_defaults(func=_run)
