"""Distillation stage: teacher (or teacher assistant) -> student, on prepared corpus blocks.

The loop is the HF Trainer's (bf16, accumulation, DDP, exact checkpoint resume); only the loss
is ours (:class:`minilm_repro.distill.DistillationLoss`). The student is a randomly initialised
encoder of the teacher's family (the paper's setting); ``init: teacher_layers`` copies a
uniform subset of teacher layers instead (not the paper's, offered for comparison).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from minilm_repro.config import ConfigError, parse_stage_config
from minilm_repro.models.build import count_parameters, student_config
from minilm_repro.atomic import write_json
from minilm_repro.stage import add_common_args, open_run, set_threads
from minilm_repro.distributed import is_main_process
from minilm_repro.model_io import load_pretrained, load_tokenizer, save_model_dir, tokenizer_matches
from minilm_repro.trainer_setup import OptimConfig, training_arguments
from minilm_repro.workdir import job_key, last_checkpoint

METHODS = ("minilm", "minilmv2")
INITS = ("random", "teacher_layers")


@dataclasses.dataclass
class DistillConfig:
    optim: dict
    shape: dict  # {"layers": M, "hidden": H[, "heads": A]}
    method: str = "minilm"
    teacher_layer: int = -1
    student_layer: int = -1
    relation_heads: int | None = None
    relations: list | None = None  # ablation: ["attention"] or ["value"] (minilm only)
    layer_map: list | None = None  # ablation: [[teacher_layer, student_layer], ...] layer-wise
    init: str = "random"
    # "auto": the Trainer's precision (bf16 on a CUDA GPU); "bf16": the teacher's forward under bf16
    # autocast on any device (CPUs with bf16 units: ~2x faster teacher, relations stay float32)
    teacher_precision: str = "auto"

    def __post_init__(self):
        if self.method not in METHODS:
            raise ConfigError(f"distill.method must be one of {METHODS}, got {self.method!r}")
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


def init_from_teacher_layers(student, teacher) -> None:
    """Copy embeddings and a uniform stride of teacher layers (needs equal hidden sizes)."""
    s_cfg, t_cfg = student.config, teacher.config
    if s_cfg.hidden_size != t_cfg.hidden_size:
        raise ConfigError("init: teacher_layers needs the student's hidden size to equal the teacher's")
    student.embeddings.load_state_dict(teacher.embeddings.state_dict())
    stride = t_cfg.num_hidden_layers / s_cfg.num_hidden_layers
    for i, layer in enumerate(student.encoder.layer):
        layer.load_state_dict(teacher.encoder.layer[int(round((i + 1) * stride)) - 1].state_dict())


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
    data position; see :mod:`minilm_repro.workdir` for which checkpoints are resumed)."""
    from minilm_repro.workdir import check_writable, complete_checkpoints

    check_writable(out_dir, "model directory")  # before any work, not after it
    check_writable(workdir, "work directory")
    import torch
    from transformers import AutoModel, DataCollatorWithPadding

    from minilm_repro.data.corpus import corpus_max_seq_len, load_corpus
    from minilm_repro.distill import DistillationLoss
    from minilm_repro.model_io import check_sequence_length
    from minilm_repro.tracking import trainer_callback

    optim = parse_stage_config(OptimConfig, cfg.optim, "distill.optim")
    tokenizer = load_tokenizer(teacher_dir)
    teacher = load_pretrained(teacher_dir, AutoModel)
    tokenizer_matches(teacher.config, tokenizer, f"teacher {teacher_dir}")
    check_sequence_length(teacher.config, corpus_max_seq_len(corpus_dir), f"corpus {corpus_dir} has blocks of up to",
                          f"teacher {teacher_dir}", "prepare the corpus with max_seq_len <= that")
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    torch.manual_seed(optim.seed)
    student = AutoModel.from_config(student_config(teacher.config, **cfg.shape))
    if cfg.init == "teacher_layers":
        init_from_teacher_layers(student, teacher)
    loss_module = DistillationLoss(teacher, student, **cfg.loss_kwargs())
    corpus = load_corpus(corpus_dir).remove_columns(["lang"])
    # the student's layers above the captured projections get no gradient (as in the paper)
    args = training_arguments(optim, workdir, ddp_find_unused_parameters=True)
    trainer = _trainer_class()(
        model=loss_module, args=args, train_dataset=corpus, data_collator=DataCollatorWithPadding(tokenizer),
        callbacks=[complete_checkpoints(), *([trainer_callback(job)] if job else [])],
    )
    teacher.to(trainer.args.device)
    start = time.time()
    resume = last_checkpoint(workdir, job_key(cfg, teacher_dir, corpus_dir))
    result = trainer.train(resume_from_checkpoint=resume)
    elapsed = time.time() - start
    steps = trainer.state.global_step
    done = steps - (int(Path(resume).name.split("-")[-1]) if resume else 0)
    tokens = done * optim.batch_size * float(sum(len(x) for x in corpus[:256]["input_ids"])) / min(256, len(corpus))
    metrics = {"train_loss": result.training_loss, "steps": steps, "train_seconds": elapsed,
               "tokens_per_second": tokens / elapsed if elapsed > 0 else 0.0,
               "params": count_parameters(student), "layers": student.config.num_hidden_layers,
               "hidden": student.config.hidden_size, "resumed": bool(resume)}
    history = [h for h in trainer.state.log_history if "loss" in h]
    metrics["history"] = [{k: v for k, v in h.items() if k == "step" or k.startswith("loss")} for h in history]
    if history:
        metrics["final_logged_loss"] = history[-1]["loss"]
        for k in history[-1]:
            if k.startswith("loss_"):
                metrics[f"final_{k}"] = history[-1][k]
    if trainer.is_world_process_zero():
        card = {"name": name, "teacher": teacher_name, "teacher_dir": str(teacher_dir),
                "method": cfg.method, "teacher_layer": cfg.teacher_layer, "student_layer": cfg.student_layer,
                "relation_heads": cfg.relation_heads, "relations": cfg.relations, "layer_map": cfg.layer_map,
                "init": cfg.init + ("" if cfg.init == "random" else " (not the paper's setting)"),
                "steps": steps, "global_batch": optim.batch_size, "lr": optim.lr, "corpus": str(corpus_dir),
                "layers": student.config.num_hidden_layers, "hidden": student.config.hidden_size,
                "heads": student.config.num_attention_heads}
        save_model_dir(loss_module.student, tokenizer, out_dir, card)
    return metrics


def _run(args) -> int:
    set_threads(args.threads)
    cfg = parse_stage_config(DistillConfig, args.config, "distill config")
    with open_run(args, "distill", dataclasses.asdict(cfg), args.name) as job:
        metrics = distill(cfg, args.teacher, args.corpus, args.out, args.workdir, job, args.name, args.teacher_name)
        job.log_metrics({f"final/{k}": v for k, v in metrics.items() if not isinstance(v, bool)})
        record = job.log_result(metrics)  # the whole result in MLflow; the same record in the metrics file
    if is_main_process():
        write_json(args.metrics, record)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill", help="distil a teacher (or assistant) into a student with MiniLM relations")
    p.add_argument("--teacher", required=True, help="teacher model directory (with its tokenizer)")
    p.add_argument("--corpus", required=True, help="prepared corpus directory (teacher's tokenizer)")
    p.add_argument("--out", required=True, help="final student model directory")
    p.add_argument("--workdir", required=True, help="checkpoint directory (resume from here)")
    p.add_argument("--metrics", required=True, help="metrics JSON to write")
    p.add_argument("--name", default="student")
    p.add_argument("--teacher-name", default="teacher")
    add_common_args(p)
    p.set_defaults(func=_run)
