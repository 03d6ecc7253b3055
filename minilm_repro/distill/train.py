"""Distillation stage: teacher (or teacher assistant) -> student, on prepared corpus blocks.

The loop is the HF Trainer's (bf16, accumulation, DDP, exact checkpoint resume); only the loss
is ours (:class:`minilm_repro.distill.DistillationLoss`, or a baseline of
:mod:`minilm_repro.distill.methods`). The student is a randomly initialised
encoder of the teacher's family (the paper's setting); ``init: teacher_layers`` copies a
uniform subset of teacher layers instead (not the paper's, offered for comparison).
"""

from __future__ import annotations

import dataclasses

from minilm_repro.config import ConfigError, parse_stage_config
from minilm_repro.distill.methods import METHODS, check_options  # noqa: F401 (METHODS: this module's API)
from minilm_repro.jobs.model_io import hub_id_of, load_tokenizer
from minilm_repro.jobs.phases import phase
from minilm_repro.jobs.stage import tracked_job
from minilm_repro.jobs.trainer_setup import OptimConfig, training_arguments
from minilm_repro.models.build import count_parameters

INITS = ("random", "teacher_layers")


@dataclasses.dataclass
class DistillConfig:
    optim: dict
    shape: dict  # {"layers": M, "hidden": H[, "heads": A]}
    method: str = "minilm"  # one of METHODS; which keys below each reads: distill.methods.OPTIONS
    # layers: list indices (-1 = last), or a config's references "K of N" / "last" (models/layers.py)
    teacher_layer: int | str = -1
    student_layer: int | str = -1
    relation_heads: int | None = None
    relations: list | None = None  # ablation: ["attention"] or ["value"] (minilm only)
    layer_map: list | None = None  # ablation: [[teacher layer, student layer], ...] layer to layer
    init: str = "random"
    # "auto": the Trainer's precision (bf16 on a CUDA GPU); "bf16": the teacher's forward under bf16
    # autocast on any device (CPUs with bf16 units: ~2x faster teacher, relations stay float32)
    teacher_precision: str = "auto"
    temperature: float | None = None  # mlm_kd: softmax temperature T (None: 1)
    mlm_probability: float | None = None  # mlm_kd: masking rate of the MLM collator (None: 0.15)

    def __post_init__(self):
        check_options(self)
        if self.init not in INITS:
            raise ConfigError(f"distill.init must be one of {INITS}, got {self.init!r}")
        if self.teacher_precision not in ("auto", "bf16"):
            raise ConfigError(f"distill.teacher_precision must be 'auto' or 'bf16', got {self.teacher_precision!r}")
        unknown = set(self.shape) - {"layers", "hidden", "heads"}
        if unknown:
            raise ConfigError(f"distill.shape: unknown key(s) {sorted(unknown)}; allowed: layers, hidden, heads")

    def loss_kwargs(self) -> dict:
        kw = dict(method=self.method, teacher_layer=self.teacher_layer, student_layer=self.student_layer,
                  relation_heads=self.relation_heads)
        if self.relations is not None:
            kw["relations"] = tuple(self.relations)
        if self.layer_map is not None:
            kw["layer_map"] = [tuple(p) for p in self.layer_map]
        if self.teacher_precision == "bf16":
            import torch

            kw["teacher_autocast"] = torch.bfloat16
        return kw




def _trainer_class():
    from transformers import Trainer

    class DistillTrainer(Trainer):
        """Trainer whose loss is the relation-distillation loss; logs each part."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._part_sums: dict[str, float] = {}
            self._part_count = 0

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # `model` is the DistillationLoss module (DDP-wrapped under torchrun): the student is
            # its only trainable submodule, so gradients sync through DDP as usual
            loss, parts = model(**inputs)
            for k, v in parts.items():
                self._part_sums[k] = self._part_sums.get(k, 0.0) + float(v.detach())
            self._part_count += 1
            return (loss, None) if return_outputs else loss

        def log(self, logs, *args, **kwargs):
            # every rank calls log() at the same steps; parts are averaged over micro-batches, then ranks
            if self._part_count:
                import torch

                names = sorted(self._part_sums)
                local = torch.tensor([self._part_sums[k] / self._part_count for k in names], device=self.args.device)
                means = self.accelerator.reduce(local, reduction="mean") if self.args.world_size > 1 else local
                logs.update({f"loss_{k}": float(v) for k, v in zip(names, means)})
                self._part_sums, self._part_count = {}, 0
            super().log(logs, *args, **kwargs)

    return DistillTrainer


def distill(cfg: DistillConfig, teacher_dir: str, corpus_dir: str, out_dir: str, workdir: str,
            job=None, name: str = "student", teacher_name: str = "teacher") -> dict:
    """Distil the teacher in ``teacher_dir`` into a new student written to ``out_dir``; return the metrics.

    Checkpoints in ``workdir`` resume exactly (the HF Trainer's model, optimiser, scheduler, RNG and
    data position; see :mod:`minilm_repro.jobs.workdir` for which checkpoints are resumed)."""
    from minilm_repro.jobs.training_run import (
        callbacks,
        check_outputs,
        save_final,
        train_resuming,
    )

    check_outputs(workdir, out_dir)  # before any work, not after it
    from minilm_repro.data.corpus import corpus_max_seq_len, load_corpus
    from minilm_repro.distill.methods import build_method
    from minilm_repro.jobs.model_io import check_sequence_length

    optim = parse_stage_config(OptimConfig, cfg.optim, "distill.optim")
    with phase("load"):
        tokenizer = load_tokenizer(teacher_dir)
        setup = build_method(cfg, teacher_dir, tokenizer, seed=optim.seed)
    teacher, student, loss_module = setup.teacher, setup.student, setup.loss
    check_sequence_length(teacher.config, corpus_max_seq_len(corpus_dir), f"corpus {corpus_dir} has blocks of up to",
                          f"teacher {teacher_dir}", "prepare the corpus with max_seq_len <= that")
    with phase("load"):
        corpus = load_corpus(corpus_dir).remove_columns(["lang"])
    # the student's layers above the captured projections get no gradient (as in the paper)
    args = training_arguments(optim, workdir, ddp_find_unused_parameters=True)
    trainer = _trainer_class()(
        model=loss_module, args=args, train_dataset=corpus, data_collator=setup.collator,
        callbacks=callbacks(job),
    )
    teacher.to(trainer.args.device)
    run = train_resuming(trainer, workdir, cfg, teacher_dir, corpus_dir)
    steps = run.steps
    tokens = (steps - run.resumed_from_step) * optim.batch_size * \
        float(sum(len(x) for x in corpus[:256]["input_ids"])) / min(256, len(corpus))
    metrics = {"train_loss": run.result.training_loss, "steps": steps, "train_seconds": run.seconds,
               "tokens_per_second": tokens / run.seconds if run.seconds > 0 else 0.0, "precision": run.precision,
               "params": count_parameters(student.base_model), "layers": student.config.num_hidden_layers,
               "hidden": student.config.hidden_size, "resumed": run.resumed_from_step > 0}
    history = run.history
    metrics["history"] = [{k: v for k, v in h.items() if k == "step" or k.startswith("loss")} for h in history]
    if history:
        metrics["final_logged_loss"] = history[-1]["loss"]
        for k in history[-1]:
            if k.startswith("loss_"):
                metrics[f"final_{k}"] = history[-1][k]
    card = {"name": name, "teacher": teacher_name, "teacher_dir": str(teacher_dir),
            "method": cfg.method, "teacher_layer": cfg.teacher_layer, "student_layer": cfg.student_layer,
            "relation_heads": cfg.relation_heads, "relations": cfg.relations, "layer_map": cfg.layer_map,
            "init": cfg.init + ("" if cfg.init == "random" else " (not the paper's setting)"),
            "steps": steps, "global_batch": optim.batch_size, "lr": optim.lr, "corpus": str(corpus_dir),
            "layers": student.config.num_hidden_layers, "hidden": student.config.hidden_size,
            "heads": student.config.num_attention_heads, "precision": run.precision, **setup.card}
    if hub_id_of(teacher_dir):
        card["base_model"] = hub_id_of(teacher_dir)
    save_final(trainer, loss_module.student, tokenizer, out_dir, card)
    return metrics


def run_job(spec) -> int:
    """The ``distill`` stage of one job (see :mod:`minilm_repro.jobs.stage`)."""
    cfg = parse_stage_config(DistillConfig, spec.settings, "distill config")
    p = spec.paths
    return tracked_job(spec, cfg, lambda job: distill(cfg, p["teacher"], p["corpus"], p["out"], p["workdir"], job,
                                                      spec.run.tags.get("model", "student"), p["teacher_name"]))
