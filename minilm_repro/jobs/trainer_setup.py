"""The optimisation config and the HF ``TrainingArguments`` every training stage shares.

Training loops are the HF Trainer's (bf16, gradient accumulation, DDP under torchrun,
checkpoint/resume of model, optimiser, scheduler, RNG and data position). ``batch_size`` in a
config is always the global batch: per-device batch and accumulation follow from the world size.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from minilm_repro.config import ConfigError
from minilm_repro.jobs.distributed import world_size


@dataclasses.dataclass
class OptimConfig:
    """Optimisation of one training job. ``batch_size`` is the GLOBAL batch (all devices, all
    accumulation steps): per-device batch and accumulation are derived from the world size."""

    steps: int
    batch_size: int
    lr: float
    warmup_steps: int = 0
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-6
    max_grad_norm: float = 1.0
    max_device_batch: int = 64  # largest per-device micro-batch; more -> accumulation
    save_steps: int = 1000
    logging_steps: int = 50
    seed: int = 42
    bf16: str = "auto"  # mixed precision: see :func:`precision` ("auto": bf16 or fp16 by the GPU, fp32 on a CPU)

    def __post_init__(self):
        if self.bf16 not in ("auto", "yes", "no"):
            raise ConfigError(f"bf16 must be 'auto', 'yes' or 'no', got {self.bf16!r}")
        if self.steps <= 0 or self.batch_size <= 0:
            raise ConfigError("steps and batch_size must be positive")


def device_batch_and_accumulation(global_batch: int, max_device_batch: int, world: int) -> tuple[int, int]:
    """Split a global batch over ``world`` devices: (per-device micro-batch, accumulation steps).

    The product per_device * accumulation * world equals ``global_batch`` exactly, or an error
    says which global batch sizes would work.
    """
    if global_batch % world:
        raise ConfigError(f"global batch {global_batch} is not divisible by the {world} processes")
    per_rank = global_batch // world
    accum = 1
    while per_rank // accum > max_device_batch or per_rank % accum:
        accum += 1
        if accum > per_rank:
            break
    per_device = per_rank // accum
    if per_device * accum * world != global_batch:
        raise ConfigError(f"cannot split global batch {global_batch} over {world} processes "
                          f"with micro-batches <= {max_device_batch}")
    return per_device, accum


# native bf16 tensor cores start with Ampere (compute capability 8.0); torch.cuda.is_bf16_supported()
# also says yes on a V100 (7.0), where bf16 is emulated and slow
BF16_CAPABILITY = (8, 0)


def precision(setting: str) -> str:
    """The mixed precision a job trains in: "bf16", "fp16" (with loss scaling) or "fp32".

    ``setting`` (a config's ``bf16``): "auto" = bf16 on a GPU with native bf16 (compute capability
    >= 8.0: A100, H100, L4, ...), fp16 on older GPUs (V100, T4: the paper's "mixed precision" on
    V100), fp32 on a CPU; "yes" = bf16 (also on a CPU: torch's CPU autocast, fast on CPUs with bf16
    units, e.g. AVX512-BF16 or AMX), an error on a GPU without native bf16; "no" = fp32.
    """
    import torch

    if setting == "no":
        return "fp32"
    if not torch.cuda.is_available():
        return "bf16" if setting == "yes" else "fp32"
    major, minor = torch.cuda.get_device_capability()
    native = (major, minor) >= BF16_CAPABILITY
    if setting == "yes" and not native:
        raise ConfigError(f"bf16: 'yes', but {torch.cuda.get_device_name()} (compute capability {major}.{minor}) has "
                          "no native bf16: use 'auto' (fp16 with loss scaling there) or 'no'")
    return "bf16" if native else "fp16"


def trainer_arguments(workdir: str | Path, global_batch: int, max_device_batch: int, bf16: str, **kwargs):
    """HF TrainingArguments shared by every training stage.

    ``global_batch`` is split into per-device micro-batches and accumulation steps for the
    current world size. On a machine without CUDA, ``use_cpu`` makes accelerate form a gloo
    process group under torchrun (without it, CPU ranks would each train alone).

    One device per process, always: a process that sees several GPUs without torchrun trains on
    its first (``cuda:0``; under torchrun each rank has ``cuda:LOCAL_RANK``). Left alone, the
    Trainer would wrap the model in ``nn.DataParallel`` over every visible GPU, multiplying the
    global batch by their count and leaving the distillation teacher (held outside the module
    tree) on one device. Use all GPUs with ``launch --nproc <GPUs>`` (torchrun, DDP) instead.
    """
    import torch
    from transformers import TrainingArguments

    per_device, accum = device_batch_and_accumulation(global_batch, max_device_batch, world_size())
    chosen = precision(bf16)
    base = dict(
        output_dir=str(workdir), per_device_train_batch_size=per_device, gradient_accumulation_steps=accum,
        lr_scheduler_type="linear", save_strategy="steps", report_to=[], bf16=chosen == "bf16", fp16=chosen == "fp16",
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0, disable_tqdm=True,
        ddp_find_unused_parameters=False,
    )
    base.update(kwargs)
    args = TrainingArguments(**base)
    if args.n_gpu > 1:
        print(f"trainer: this process sees {args.n_gpu} GPUs without torchrun: it trains on {args.device} alone "
              f"(all of them: minilm-repro launch --nproc {args.n_gpu} -- <stage> ...)", file=sys.stderr)
        args._n_gpu = 1  # what the Trainer reads to choose nn.DataParallel and to scale the batch
    return args


def mean_reduced_loss(model):
    """Tell the Trainer that ``model``'s loss is a plain per-micro-batch mean.

    HF heads (``*ForMaskedLM``, ``*ForSequenceClassification``, ``*ForQuestionAnswering`` of
    BERT/XLM-R) accept ``**kwargs`` but ignore ``num_items_in_batch``; the Trainer would then
    skip dividing by the accumulation steps and multiply the loss by the world size. With this
    flag the loss is averaged over accumulation steps and ranks like the global batch it is.
    """
    model.accepts_loss_kwargs = False
    return model


def training_arguments(cfg: OptimConfig, workdir: str | Path, **overrides):
    """TrainingArguments for a step-budgeted job (pretraining, distillation) from its OptimConfig."""
    kwargs = dict(
        max_steps=cfg.steps, learning_rate=cfg.lr, warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay, adam_beta1=cfg.adam_beta1, adam_beta2=cfg.adam_beta2,
        adam_epsilon=cfg.adam_epsilon, max_grad_norm=cfg.max_grad_norm, save_steps=cfg.save_steps,
        save_total_limit=2, logging_steps=cfg.logging_steps, seed=cfg.seed, data_seed=cfg.seed,
        remove_unused_columns=False,
    )
    kwargs.update(overrides)
    return trainer_arguments(workdir, cfg.batch_size, cfg.max_device_batch, cfg.bf16, **kwargs)
