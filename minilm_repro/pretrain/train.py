"""Masked-language-model pretraining: the smoke profile's tiny teachers and the from-scratch baseline.

The from-scratch student (the paper's "trained from scratch" row) has the distilled student's
shape and sees the same corpus blocks for the same number of steps and global batch.
"""

from __future__ import annotations

import dataclasses

from minilm_repro.config import ConfigError, parse_stage_config
from minilm_repro.jobs.model_io import load_tokenizer
from minilm_repro.jobs.phases import phase
from minilm_repro.jobs.stage import tracked_job
from minilm_repro.jobs.trainer_setup import (
    OptimConfig,
    mean_reduced_loss,
    training_arguments,
)
from minilm_repro.models.build import (
    ArchConfig,
    count_parameters,
    student_config,
    teacher_config,
)


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
    """Pretrain ``cfg``'s model on the corpus blocks; write it to ``out_dir``; return the job's metrics.

    Masks come from (seed, epoch, row) (:mod:`minilm_repro.pretrain.masking`), so a run resumed from a
    checkpoint in ``workdir`` ends with the weights of an uninterrupted one. The eval split and
    its masks are fixed by the seed. Nothing is written into the inputs (no dataset caches).
    """
    from minilm_repro.jobs.training_run import (
        callbacks,
        check_outputs,
        save_final,
        train_resuming,
    )

    check_outputs(workdir, out_dir)  # before any work, not after it
    import numpy as np
    from transformers import AutoConfig, AutoModelForMaskedLM, set_seed

    from minilm_repro.data.corpus import corpus_max_seq_len, load_corpus
    from minilm_repro.jobs.model_io import check_sequence_length
    from minilm_repro.models.masked_lm import masked_positions_only
    from minilm_repro.pretrain.masking import MaskedLMTrainer, RowIndexed, SeededMasking

    optim = parse_stage_config(OptimConfig, cfg.optim, "pretrain.optim")
    tokenizer = load_tokenizer(tokenizer_dir)
    if cfg.arch is not None:
        model_cfg = teacher_config(parse_stage_config(ArchConfig, cfg.arch, "pretrain.arch"), tokenizer)
        fix = "set corpus.max_seq_len <= that, or raise arch.max_position"
    else:
        if like is None:
            raise ConfigError("pretrain: 'shape' needs --like <model dir> to derive the architecture from")
        model_cfg = student_config(AutoConfig.from_pretrained(like), **cfg.shape)
        fix = f"set corpus.max_seq_len <= that (the positions of {like})"
    check_sequence_length(model_cfg, corpus_max_seq_len(corpus_dir), f"corpus {corpus_dir} has blocks of up to",
                          f"the {name} model", fix)
    with phase("load"):
        corpus = load_corpus(corpus_dir).remove_columns(["lang"])
    n_eval = min(cfg.eval_blocks, len(corpus) // 10)
    # datasets' train_test_split, with its indices kept in memory: it would write them as cache-*.arrow
    # files into the corpus directory (and refuses keep_in_memory for a dataset loaded from files)
    order = np.random.default_rng(optim.seed).permutation(len(corpus))
    split = {"test": corpus.select(order[:n_eval], keep_in_memory=True),
             "train": corpus.select(order[n_eval:], keep_in_memory=True)} if n_eval else None
    train_ds = split["train"] if split else corpus
    set_seed(optim.seed)  # random initialisation from the job's seed
    # the output layer at the masked positions only: same loss, ~1/3 of the step at a 30k vocabulary
    model = mean_reduced_loss(masked_positions_only(AutoModelForMaskedLM.from_config(model_cfg)))
    args = training_arguments(optim, workdir, per_device_eval_batch_size=64)
    masking = SeededMasking(tokenizer, cfg.mlm_probability, optim.seed)
    trainer = MaskedLMTrainer(
        model=model, args=args, train_dataset=RowIndexed(train_ds),
        eval_dataset=RowIndexed(split["test"]) if split else None, data_collator=masking,
        callbacks=callbacks(job, masking),
    )
    run = train_resuming(trainer, workdir, cfg, tokenizer_dir, corpus_dir, like)
    # train_loss: the mean over the steps this call trained (since the checkpoint, when resumed)
    metrics = {"train_loss": run.result.training_loss, "steps": run.steps, "train_seconds": run.seconds,
               "resumed_from_step": run.resumed_from_step, "precision": run.precision,
               "params": count_parameters(model.base_model), "layers": model_cfg.num_hidden_layers,
               "hidden": model_cfg.hidden_size}
    metrics["history"] = [{"step": h["step"], "loss": h["loss"]} for h in run.history]
    if split:
        with phase("evaluate"):
            metrics["eval_mlm_loss"] = trainer.evaluate()["eval_loss"]
    card = {"name": name, "stage": "pretrain (masked LM)", "architecture": model_cfg.model_type,
            "layers": model_cfg.num_hidden_layers, "hidden": model_cfg.hidden_size,
            "heads": model_cfg.num_attention_heads, "steps": run.steps, "global_batch": optim.batch_size,
            "corpus": str(corpus_dir), "init": "random", "precision": run.precision}
    save_final(trainer, trainer.model, tokenizer, out_dir, card)
    return metrics


def run_job(spec) -> int:
    """The ``pretrain`` stage of one job (see :mod:`minilm_repro.jobs.stage`)."""
    cfg = parse_stage_config(PretrainConfig, spec.settings, "pretrain config")
    p, name = spec.paths, spec.run.tags.get("model", "model")
    return tracked_job(spec, cfg, lambda job: pretrain(cfg, p["tokenizer"], p["corpus"], p["out"], p["workdir"],
                                                       p.get("like"), job, name))
