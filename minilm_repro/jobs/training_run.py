"""The lifecycle every training stage shares around its HF Trainer: outputs checked writable before
any work, the callbacks (complete-checkpoint marks, the MLflow mirror), the exact resume from the
work directory, the run's timing and loss history, the precision it trained in, and the final
model directory written by rank 0. Each stage (pretrain, distill, finetune) supplies only its
model, data, loss and card.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from minilm_repro.jobs.phases import phase


def check_outputs(workdir: str | Path, out_dir: str | Path | None = None) -> None:
    """Fail before any work when the work directory (or the model directory) cannot be written."""
    from minilm_repro.jobs.workdir import check_writable

    if out_dir is not None:
        check_writable(out_dir, "model directory")
    check_writable(workdir, "work directory")


def callbacks(job, *extra) -> list:
    """The Trainer callbacks of a stage: its own ``extra``, the complete-checkpoint marks, the job's MLflow mirror."""
    from minilm_repro.jobs.tracking import trainer_callback
    from minilm_repro.jobs.workdir import complete_checkpoints

    return [*extra, complete_checkpoints(), *([trainer_callback(job)] if job else [])]


@dataclasses.dataclass
class TrainedRun:
    """What a ``trainer.train`` call did: its result, wall seconds, the final step, the step it
    resumed from (0: from scratch), the logged loss history and the mixed precision it ran in."""

    result: object
    seconds: float
    steps: int
    resumed_from_step: int
    history: list[dict]
    precision: str


def checkpoint_step(checkpoint: str | None) -> int:
    """The step of a Trainer checkpoint directory (``checkpoint-<step>``); 0 for None."""
    return int(Path(checkpoint).name.split("-")[-1]) if checkpoint else 0


def train_resuming(trainer, workdir: str | Path, cfg, *inputs) -> TrainedRun:
    """Train, resuming the newest complete checkpoint in ``workdir`` that this job made (the job
    key: ``cfg`` and the fingerprints of ``inputs``; see :func:`minilm_repro.jobs.workdir.last_checkpoint`)."""
    from minilm_repro.jobs.workdir import job_key, last_checkpoint

    resume = last_checkpoint(workdir, job_key(cfg, *inputs))
    start = time.time()
    with phase("train"):
        result = trainer.train(resume_from_checkpoint=resume)
    args = trainer.args
    return TrainedRun(result, time.time() - start, trainer.state.global_step, checkpoint_step(resume),
                      [h for h in trainer.state.log_history if "loss" in h],
                      "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32")


def save_final(trainer, model, tokenizer, out_dir: str | Path, card: dict) -> None:
    """Rank 0 writes the final model directory (atomically, with its card)."""
    from minilm_repro.jobs.model_io import save_model_dir

    if trainer.is_world_process_zero():
        with phase("write"):
            save_model_dir(model, tokenizer, out_dir, card)
