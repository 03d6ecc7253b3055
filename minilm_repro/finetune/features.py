"""Tokenise a task once per (tokenizer, task, max length): shared by every model, grid point and seed.

Output directory::

    <out>/manifest.json                 {"task", "max_length", "doc_stride", "train", "evals": [...]}
    <out>/train/                        datasets.save_to_disk, unpadded (dynamic padding later)
    <out>/eval/<config>__<split>/       eval features (QA: with example_id and offset_mapping)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from minilm_repro.config import parse_stage_config
from minilm_repro.data.task_names import TEXT_COLUMNS, is_qa
from minilm_repro.finetune.plan import DataRef, task_plan
from minilm_repro.jobs.atomic import write_json


@dataclasses.dataclass
class FeaturesConfig:
    task: str
    languages: list
    train_language: str
    max_length: int = 128
    doc_stride: int = 64  # must stay below max_length (window overlap, in tokens)
    cross_language: bool = False
    num_proc: int = 1
    # a smaller training set: this many examples, drawn with a fixed seed (the real-data CPU profile;
    # None = every training example, the paper's protocol); stated in the manifest
    max_train_examples: int | None = None
    # MLQA: "mlqa" trains on MLQA's own train split of the train language (a local dev set split by
    # document) instead of SQuAD 1.1 (None, the paper's protocol)
    train_task: str | None = None


def eval_dir_name(ref: DataRef) -> str:
    return f"{ref.config}__{ref.split}"


def _classification(ds, tokenizer, task: str, max_length: int, num_proc):
    cols = TEXT_COLUMNS[task]

    def encode(batch):
        texts = [batch[c] for c in cols]
        enc = tokenizer(*texts, truncation=True, max_length=max_length)
        enc["labels"] = batch["label"]
        return enc

    return ds.map(encode, batched=True, remove_columns=ds.column_names, num_proc=num_proc)


def tokenize_task(cfg: FeaturesConfig, tokenizer, tasks_root: str | Path, out_dir: str | Path) -> dict:
    from minilm_repro.data.layout import load_split, split_path
    from minilm_repro.finetune import qa_processing as qa

    plan = task_plan(cfg.task, cfg.languages, cfg.train_language, cfg.cross_language, cfg.train_task)
    out_dir = Path(out_dir)
    num_proc = cfg.num_proc if cfg.num_proc > 1 else None
    manifest = {"task": cfg.task, "max_length": cfg.max_length, "doc_stride": cfg.doc_stride,
                "tokenizer": tokenizer.name_or_path, "train": dataclasses.asdict(plan.train), "evals": [],
                "select_on": [eval_dir_name(r) for r in plan.select_on]}
    train_raw = load_split(tasks_root, plan.train.task, plan.train.config, plan.train.split)
    if cfg.max_train_examples is not None and cfg.max_train_examples < len(train_raw):
        train_raw = train_raw.shuffle(seed=0, keep_in_memory=True).select(range(cfg.max_train_examples),
                                                                           keep_in_memory=True)
        manifest["train_subset"] = {"examples": cfg.max_train_examples, "rule": "datasets shuffle(seed=0), first N"}
    if is_qa(cfg.task):
        train = train_raw.map(qa.prepare_train_features, batched=True, remove_columns=train_raw.column_names,
                              fn_kwargs=dict(tokenizer=tokenizer, max_length=cfg.max_length, doc_stride=cfg.doc_stride),
                              num_proc=num_proc)
    else:
        train = _classification(train_raw, tokenizer, cfg.task, cfg.max_length, num_proc)
    train.save_to_disk(str(out_dir / "train"))
    manifest["train_examples"], manifest["train_features"] = len(train_raw), len(train)
    for ref in plan.evals:
        if ref.split == "test" and not split_path(tasks_root, ref.task, ref.config, ref.split).is_file():
            # a local source without a test set (its dev set split into train and validation): stated, not scored
            manifest.setdefault("missing_evals", []).append(eval_dir_name(ref))
            continue
        raw = load_split(tasks_root, ref.task, ref.config, ref.split)
        if is_qa(cfg.task):
            feats = raw.map(qa.prepare_eval_features, batched=True, remove_columns=raw.column_names,
                            fn_kwargs=dict(tokenizer=tokenizer, max_length=cfg.max_length, doc_stride=cfg.doc_stride),
                            num_proc=num_proc)
        else:
            feats = _classification(raw, tokenizer, cfg.task if cfg.task != "mlqa" else "squad", cfg.max_length, num_proc)
        feats.save_to_disk(str(out_dir / "eval" / eval_dir_name(ref)))
        manifest["evals"].append({**dataclasses.asdict(ref), "dir": eval_dir_name(ref),
                                  "examples": len(raw), "features": len(feats)})
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def load_manifest(features_dir: str | Path) -> dict:
    path = Path(features_dir) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: run `minilm-repro tokenize-task` first")
    return json.loads(path.read_text())


def run_job(spec) -> int:
    """The ``tokenize-task`` stage of one job."""
    from minilm_repro.jobs.model_io import load_tokenizer

    cfg = parse_stage_config(FeaturesConfig, spec.settings, "tokenize-task config")
    tokenize_task(cfg, load_tokenizer(spec.paths["tokenizer"]), spec.paths["tasks_root"], spec.paths["out"])
    return 0
