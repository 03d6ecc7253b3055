"""What every stage CLI shares: common arguments, thread setting, the job's MLflow run."""

from __future__ import annotations

import argparse
import json
import os

from minilm_repro import tracking
from minilm_repro.config import config_hash


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="the stage's resolved config, as JSON")
    p.add_argument("--profile", default="adhoc", help="profile name (MLflow experiment, tags)")
    p.add_argument("--tags", default="{}", help="extra MLflow tags, as JSON (model, task, ...)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")


def set_threads(threads: int) -> None:
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def open_run(args, stage: str, cfg: dict, run_name: str, tags: dict | None = None):
    """The job's MLflow run: tags from ``--tags`` (or ``tags``) plus stage and the config hash."""
    tags = dict(json.loads(args.tags) if tags is None else tags)
    tags.update(stage=stage, config_hash=config_hash(cfg))
    return tracking.job_run(args.profile, run_name, tags, cfg)

