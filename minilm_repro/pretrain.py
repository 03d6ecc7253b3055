"""Masked-language-model pretraining: the smoke profile's tiny teachers and the from-scratch baseline.

The from-scratch student (the paper's "trained from scratch" row) has the distilled student's
shape and sees the same corpus blocks for the same number of steps and global batch.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from minilm_repro.stage import tracked_job
from minilm_repro.config import ConfigError, parse_stage_config
from minilm_repro.models.build import ArchConfig, count_parameters, student_config, teacher_config
from minilm_repro.model_io import load_tokenizer, save_model_dir
from minilm_repro.trainer_setup import OptimConfig, mean_reduced_loss, training_arguments
from minilm_repro.workdir import job_key, last_checkpoint


@dataclasses.dataclass
class PretrainConfig:
    optim: dict
    arch: dict | None = None  # full ArchConfig for a new teacher
    shape: dict | None = None  # {"layers": L, "hidden": H} derived from --like (scratch student)
    mlm_probability: float = 0.15
    eval_blocks: int = 200

    def __post_init__(self):
        if (self.arch is None) == (self.shape is None):
            raise ConfigError("pretrain: give exactly one of 'arch' (new teacher) or 'shape' (with --like)")


def pretrain(cfg: PretrainConfig, tokenizer_dir: str, corpus_dir: str, out_dir: str, workdir: str,
             like: str | None = None, job=None, name: str = "model") -> dict:
    from transformers import AutoConfig, AutoModelForMaskedLM, DataCollatorForLanguageModeling, Trainer, set_seed

    from minilm_repro.data.corpus import load_corpus
    from minilm_repro.tracking import trainer_callback

    optim = parse_stage_config(OptimConfig, cfg.optim, "pretrain.optim")
    tokenizer = load_tokenizer(tokenizer_dir)
    if cfg.arch is not None:
        model_cfg = teacher_config(parse_stage_config(ArchConfig, cfg.arch, "pretrain.arch"), tokenizer)
    else:
        if like is None:
            raise ConfigError("pretrain: 'shape' needs --like <model dir> to derive the architecture from")
        model_cfg = student_config(AutoConfig.from_pretrained(like), **cfg.shape)
    corpus = load_corpus(corpus_dir).remove_columns(["lang"])
    n_eval = min(cfg.eval_blocks, len(corpus) // 10)
    split = corpus.train_test_split(test_size=n_eval, seed=optim.seed, shuffle=True) if n_eval else None
    train_ds = split["train"] if split else corpus
    set_seed(optim.seed)  # random initialisation from the job's seed
    model = mean_reduced_loss(AutoModelForMaskedLM.from_config(model_cfg))
    args = training_arguments(optim, workdir, per_device_eval_batch_size=64)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=cfg.mlm_probability, seed=optim.seed)
    trainer = Trainer(
        model=model, args=args, train_dataset=train_ds, eval_dataset=split["test"] if split else None,
        data_collator=collator, callbacks=[trainer_callback(job)] if job else [],
    )
    start = time.time()
    resume = last_checkpoint(workdir, job_key(cfg, tokenizer_dir, corpus_dir, like))
    result = trainer.train(resume_from_checkpoint=resume)
    elapsed = time.time() - start
    metrics = {"train_loss": result.training_loss, "steps": trainer.state.global_step,
               "train_seconds": elapsed, "resumed_from_step": int(Path(resume).name.split("-")[-1]) if resume else 0,
               "params": count_parameters(model.base_model), "layers": model_cfg.num_hidden_layers,
               "hidden": model_cfg.hidden_size}
    metrics["history"] = [{"step": h["step"], "loss": h["loss"]} for h in trainer.state.log_history if "loss" in h]
    if split:
        metrics["eval_mlm_loss"] = trainer.evaluate()["eval_loss"]
    if trainer.is_world_process_zero():
        card = {"name": name, "stage": "pretrain (masked LM)", "architecture": model_cfg.model_type,
                "layers": model_cfg.num_hidden_layers, "hidden": model_cfg.hidden_size,
                "heads": model_cfg.num_attention_heads, "steps": trainer.state.global_step,
                "global_batch": optim.batch_size, "corpus": str(corpus_dir), "init": "random"}
        save_model_dir(trainer.model, tokenizer, out_dir, card)
    return metrics


def run_job(spec) -> int:
    """The ``pretrain`` stage of one job (see :mod:`minilm_repro.stage`)."""
    cfg = parse_stage_config(PretrainConfig, spec.settings, "pretrain config")
    p, name = spec.paths, spec.run.tags.get("model", "model")
    return tracked_job(spec, cfg, lambda job: pretrain(cfg, p["tokenizer"], p["corpus"], p["out"], p["workdir"],
                                                       p.get("like"), job, name))
